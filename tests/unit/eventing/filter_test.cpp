#include "eventing/filter.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "eventing/cloud_event.hpp"

using fnd::eventing::CloudEvent;
using fnd::eventing::FilterKind;
using fnd::eventing::FilterList;
using fnd::eventing::FilterVerdict;

namespace {

// Deeper than Boost.JSON's default of 32 levels, so that the filters' own depth limit is what
// refuses a deep document.
boost::json::value parse_json(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = 256;
  return boost::json::parse(text, {}, options);
}

CloudEvent order_event(std::optional<std::string> data = std::nullopt) {
  CloudEvent event;
  event.set_attribute("specversion", std::string("1.0"));
  event.set_attribute("id", std::string("order-1"));
  event.set_attribute("source", std::string("/shop/eu"));
  event.set_attribute("type", std::string("com.shop.order.created"));
  event.data = std::move(data);
  return event;
}

FilterList filters(std::string_view json_text) {
  auto parsed = fnd::eventing::parse_filters(parse_json(json_text));
  INFO(json_text << ": " << (parsed ? std::string("parsed") : parsed.error().message));
  REQUIRE(parsed.ok());
  return parsed.value();
}

FilterVerdict check(std::string_view json_text, const CloudEvent& event) {
  return fnd::eventing::evaluate(filters(json_text), event);
}

// The error a filter list must be refused with.
fnd::Error refusal(std::string_view json_text) {
  auto parsed = fnd::eventing::parse_filters(parse_json(json_text));
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == "invalid_filter");
  CHECK(parsed.error().http_status == 422);
  CHECK(fnd::eventing::is_invalid_filter(parsed.error()));
  return parsed.error();
}

}  // namespace

TEST_CASE("no filters match every event", "[unit][dispatch]") {
  const auto verdict = check("[]", order_event());
  CHECK(verdict.matches);
  CHECK(verdict.reason == "no filters: every event matches");
}

TEST_CASE("exact compares every listed attribute and says which differs", "[unit][dispatch]") {
  const CloudEvent event = order_event();
  CHECK(check(R"([{"exact": {"type": "com.shop.order.created"}}])", event).matches);
  CHECK(check(R"([{"exact": {"type": "com.shop.order.created", "source": "/shop/eu"}}])", event).matches);

  const auto wrong = check(R"([{"exact": {"type": "com.shop.order.created", "source": "/shop/us"}}])", event);
  CHECK_FALSE(wrong.matches);
  CHECK(wrong.reason == "filters[0].exact: attribute 'source' is '/shop/eu', the filter wants exactly '/shop/us'");

  CloudEvent other = event;
  other.set_attribute("type", std::string("a.b"));
  CHECK(check(R"([{"exact": {"type": "com.shop.order.created"}}])", other).reason ==
        "filters[0].exact: attribute 'type' is 'a.b', the filter wants exactly 'com.shop.order.created'");

  const auto missing = check(R"([{"exact": {"subject": "x"}}])", event);
  CHECK_FALSE(missing.matches);
  CHECK(missing.reason == "filters[0].exact: the event has no attribute 'subject', the filter wants exactly 'x'");
}

TEST_CASE("exact compares the canonical string of Integer and Boolean attributes", "[unit][dispatch]") {
  CloudEvent event = order_event();
  event.set_attribute("priority", int64_t{3});
  event.set_attribute("urgent", true);
  CHECK(check(R"([{"exact": {"priority": "3", "urgent": "true"}}])", event).matches);
  CHECK_FALSE(check(R"([{"exact": {"priority": "03"}}])", event).matches);
}

TEST_CASE("prefix and suffix", "[unit][dispatch]") {
  const CloudEvent event = order_event();
  CHECK(check(R"([{"prefix": {"type": "com.shop."}}])", event).matches);
  CHECK(check(R"([{"suffix": {"type": ".created"}}])", event).matches);
  const auto prefix = check(R"([{"prefix": {"type": "org."}}])", event);
  CHECK_FALSE(prefix.matches);
  CHECK(
      prefix.reason ==
      "filters[0].prefix: attribute 'type' is 'com.shop.order.created', the filter wants a value starting with 'org.'");
  const auto suffix = check(R"([{"suffix": {"type": ".deleted"}}])", event);
  CHECK_FALSE(suffix.matches);
  CHECK(suffix.reason ==
        "filters[0].suffix: attribute 'type' is 'com.shop.order.created', the filter wants a value ending with "
        "'.deleted'");
}

TEST_CASE("every filter of the list must match, the first failure gives the reason", "[unit][dispatch]") {
  const CloudEvent event = order_event();
  const auto both = check(R"([{"prefix": {"type": "com."}}, {"suffix": {"source": "/eu"}}])", event);
  CHECK(both.matches);
  CHECK(both.reason == "matched prefix {type}, suffix {source}");
  const auto second = check(R"([{"prefix": {"type": "com."}}, {"suffix": {"source": "/us"}}])", event);
  CHECK_FALSE(second.matches);
  CHECK(second.reason ==
        "filters[1].suffix: attribute 'source' is '/shop/eu', the filter wants a value ending with '/us'");
}

TEST_CASE("all, any and not nest", "[unit][dispatch]") {
  const CloudEvent event = order_event();
  CHECK(check(R"([{"all": []}])", event).matches);
  CHECK(check(R"([{"all": [{"prefix": {"type": "com."}}, {"exact": {"source": "/shop/eu"}}]}])", event).matches);
  const auto all = check(R"([{"all": [{"prefix": {"type": "com."}}, {"exact": {"source": "/x"}}]}])", event);
  CHECK_FALSE(all.matches);
  CHECK(all.reason == "filters[0].all[1].exact: attribute 'source' is '/shop/eu', the filter wants exactly '/x'");

  const auto any = check(R"([{"any": [{"exact": {"type": "x"}}, {"suffix": {"type": ".created"}}]}])", event);
  CHECK(any.matches);
  CHECK(any.reason == "matched any (its filter 1 matched: suffix {type})");
  const auto none = check(R"([{"any": [{"exact": {"type": "x"}}, {"exact": {"type": "y"}}]}])", event);
  CHECK_FALSE(none.matches);
  CHECK(none.reason ==
        "filters[0].any: none of its 2 filters matched (the first: any[0].exact: attribute 'type' is "
        "'com.shop.order.created', "
        "the filter wants exactly 'x')");

  const auto negated = check(R"([{"not": {"exact": {"type": "com.shop.order.created"}}}])", event);
  CHECK_FALSE(negated.matches);
  CHECK(negated.reason == "filters[0].not: the filter it negates matched (exact {type})");
  CHECK(check(R"([{"not": {"exact": {"type": "x"}}}])", event).matches);

  // not(any(not(...), all(...))): three levels deep.
  const std::string_view deep =
      R"([{"not": {"any": [{"not": {"prefix": {"type": "com."}}}, {"all": [{"exact": {"id": "nope"}}]}]}}])";
  CHECK(check(deep, event).matches);

  // A failure deep down is named by its path, as parse errors name a bad part.
  const auto nested = check(R"([{"exact": {"type": "com.shop.order.created"}},
                                {"all": [{"prefix": {"type": "com."}}, {"not": {"any": [{"exact": {"id": "order-1"}}]}}]}])",
                            event);
  CHECK_FALSE(nested.matches);
  CHECK(nested.reason ==
        "filters[1].all[1].not: the filter it negates matched (any (its filter 0 matched: exact {id}))");
}

TEST_CASE("cesql filters are compiled once and an evaluation error is no match", "[unit][dispatch]") {
  const CloudEvent event = order_event();
  CHECK(check(R"([{"cesql": "type LIKE 'com.shop.%' AND source = '/shop/eu'"}])", event).matches);
  const auto is_false = check(R"([{"cesql": "type = 'x'"}])", event);
  CHECK_FALSE(is_false.matches);
  CHECK(is_false.reason == "filters[0].cesql: `type = 'x'` is false");
  const auto missing = check(R"([{"cesql": "total > 100"}])", event);
  CHECK_FALSE(missing.matches);
  CHECK(missing.reason.starts_with("filters[0].cesql: `total > 100` failed (missingAttribute): "));
  CHECK(missing.reason.find("'total'") != std::string::npos);
  const auto not_boolean = check(R"([{"cesql": "'abc'"}])", event);
  CHECK_FALSE(not_boolean.matches);
  CHECK(not_boolean.reason == "filters[0].cesql: `'abc'` is not a Boolean");
}

TEST_CASE("filters see the top-level members of JSON data", "[unit][dispatch]") {
  const CloudEvent rich = order_event(R"({"total": 900, "status": "paid", "express": true, "ratio": 0.5,
                                         "big": 12345678901, "nested": {"total": 1}, "Upper": "x",
                                         "type": "shadowed", "id": "shadowed"})");
  CHECK(check(R"([{"cesql": "total > 100"}])", rich).matches);
  CHECK(check(R"([{"cesql": "express AND status = 'paid'"}])", rich).matches);
  CHECK(check(R"([{"exact": {"status": "paid", "total": "900"}}])", rich).matches);
  // Numbers that are not 32-bit integers are strings.
  CHECK(check(R"([{"exact": {"ratio": "0.5", "big": "12345678901"}}])", rich).matches);
  CHECK(check(R"([{"cesql": "big = '12345678901'"}])", rich).matches);
  // Context attributes win over data members of the same name.
  CHECK(check(R"([{"exact": {"type": "com.shop.order.created", "id": "order-1"}}])", rich).matches);
  // Objects, and names that are not attribute names, stay invisible.
  CHECK_FALSE(check(R"([{"cesql": "EXISTS nested"}])", rich).matches);
  CHECK_FALSE(check(R"([{"cesql": "EXISTS upper"}])", rich).matches);

  const CloudEvent small = order_event(R"({"total": 50})");
  const auto too_small = check(R"([{"cesql": "total > 100"}])", small);
  CHECK_FALSE(too_small.matches);
  CHECK(too_small.reason == "filters[0].cesql: `total > 100` is false");

  // Only JSON data: another content type, an array or a non-JSON payload hides nothing.
  CloudEvent text = order_event(R"({"total": 900})");
  text.set_attribute("datacontenttype", std::string("text/plain"));
  CHECK_FALSE(check(R"([{"cesql": "total > 100"}])", text).matches);
  CloudEvent typed_json = order_event(R"({"total": 900})");
  typed_json.set_attribute("datacontenttype", std::string("application/vnd.shop+json; charset=utf-8"));
  CHECK(check(R"([{"cesql": "total > 100"}])", typed_json).matches);
  CHECK_FALSE(check(R"([{"cesql": "EXISTS total"}])", order_event(R"([{"total": 900}])")).matches);
  CHECK_FALSE(check(R"([{"cesql": "EXISTS total"}])", order_event("not json")).matches);
}

TEST_CASE("invalid filters are refused naming the bad part", "[unit][dispatch]") {
  CHECK(refusal(R"({"exact": {}})").message == "filters: expected a list of filters, got an object");
  CHECK(refusal(R"([{"exact": {"type": 1}}])").message == "filters[0].exact.type: expected a string, got a number");
  CHECK(refusal(R"([{"exact": {"type": "a"}}, {"regex": "x"}])").message ==
        "filters[1]: unknown filter kind 'regex'; known kinds are: exact, prefix, suffix, all, any, not, cesql");
  CHECK(refusal(R"([{"exact": {"type": "a"}, "prefix": {"type": "b"}}])").message ==
        "filters[0]: one filter object names 2 kinds (exact, prefix): give exactly one per object");
  CHECK(refusal(R"([{}])").message.starts_with("filters[0]: an empty filter"));
  CHECK(refusal(R"(["type"])").message.starts_with("filters[0]: expected an object with one of"));
  CHECK(refusal(R"([{"exact": {}}])").message == "filters[0].exact: name at least one attribute");
  CHECK(refusal(R"([{"exact": {"Type": "a"}}])")
            .message.starts_with("filters[0].exact: 'Type' is not a valid attribute name"));
  CHECK(refusal(R"([{"prefix": {"type": ""}}])").message.starts_with("filters[0].prefix.type: an empty prefix"));
  CHECK(refusal(R"([{"any": []}])").message.starts_with("filters[0].any: an empty any matches no event"));
  CHECK(refusal(R"([{"all": [{"not": {"suffix": {"type": 7}}}]}])").message ==
        "filters[0].all[0].not.suffix.type: expected a string, got a number");
  CHECK(refusal(R"([{"not": []}])").message.starts_with("filters[0].not: expected an object"));
  CHECK(refusal(R"([{"cesql": 3}])").message ==
        "filters[0].cesql: expected a CESQL expression as a string, got a number");
  const auto bad_sql = refusal(R"([{"cesql": "type = "}])");
  CHECK(bad_sql.message.starts_with("filters[0].cesql: "));
  CHECK(bad_sql.message.find("position") != std::string::npos);

  std::string deep = R"({"exact": {"type": "a"}})";
  for (int i = 0; i < 40; ++i) deep = R"({"not": )" + deep + "}";
  CHECK(refusal("[" + deep + "]").message.find("deeper than 32 levels") != std::string::npos);
}

TEST_CASE("filters serialize back to what parses to the same filters", "[unit][dispatch]") {
  const std::string_view text =
      R"([{"exact":{"source":"/shop/eu","type":"com.shop.order.created"}},{"any":[{"prefix":{"type":"com."}},)"
      R"({"not":{"suffix":{"type":".x"}}}]},{"all":[]},{"cesql":"total > 100"}])";
  const FilterList parsed = filters(text);
  REQUIRE(parsed.size() == 4);
  CHECK(parsed[1].kind == FilterKind::any);
  CHECK(parsed[1].filters[1].kind == FilterKind::negation);
  const std::string serialized = boost::json::serialize(fnd::eventing::filters_to_json(parsed));
  CHECK(serialized == text);
  CHECK(boost::json::serialize(fnd::eventing::filters_to_json(filters(serialized))) == serialized);
  CHECK(fnd::eventing::to_string(FilterKind::negation) == "not");
}

TEST_CASE("one filter evaluates alone", "[unit][dispatch]") {
  auto filter = fnd::eventing::parse_filter(boost::json::parse(R"({"prefix": {"type": "com."}})"));
  REQUIRE(filter.ok());
  const auto verdict = fnd::eventing::evaluate(*filter, order_event());
  CHECK(verdict.matches);
  CHECK(verdict.reason == "matched prefix {type}");
  auto other = fnd::eventing::parse_filter(boost::json::parse(R"({"all": [{"suffix": {"source": "/us"}}]})"));
  REQUIRE(other.ok());
  const auto refused = fnd::eventing::evaluate(*other, order_event());
  CHECK_FALSE(refused.matches);
  CHECK(refused.reason ==
        "all[0].suffix: attribute 'source' is '/shop/eu', the filter wants a value ending with '/us'");
  auto bad = fnd::eventing::parse_filter(boost::json::parse(R"({"not": 1})"), "trigger.filter");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.starts_with("trigger.filter.not: "));
}

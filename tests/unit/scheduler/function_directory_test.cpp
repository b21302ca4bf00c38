// The routing table: calls drawn by a function's traffic split, revisions named by tag, r<N> or
// N, and what happens when a selector names nothing the function serves.
#include "scheduler/function_directory.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "scheduler/traffic_split.hpp"

namespace fnd::scheduler {
namespace {

store::Revision revision(uint32_t number) {
  store::Revision r;
  r.function = "pricing";
  r.number = number;
  r.spec.name = "pricing";
  return r;
}

// pricing at revision 4, with `spec` as its traffic over revisions 1..4.
FunctionDirectory directory_with(TrafficSpec spec) {
  FunctionDirectory directory;
  directory.publish(revision(4));
  const std::vector<uint32_t> numbers{1, 2, 3, 4};
  auto split = TrafficSplit::create("pricing", std::move(spec), numbers);
  REQUIRE(split.ok());
  std::vector<std::shared_ptr<const store::Revision>> named;
  for (uint32_t n : split->named_revisions()) named.push_back(std::make_shared<const store::Revision>(revision(n)));
  directory.set_traffic("pricing", std::move(*split), std::move(named));
  return directory;
}

uint32_t routed(const FunctionDirectory& directory, std::string_view selector) {
  std::mt19937_64 random(1);
  auto r = directory.route("pricing", selector, random);
  INFO("selector '" << std::string(selector) << "': " << (r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return (*r)->number;
}

}  // namespace

TEST_CASE("with no traffic every call goes to the latest revision, which r<N> and N name too", "[unit]") {
  FunctionDirectory directory;
  directory.publish(revision(1));
  directory.publish(revision(2));
  CHECK(routed(directory, "") == 2);
  CHECK(routed(directory, "r2") == 2);
  CHECK(routed(directory, "2") == 2);
  CHECK(directory.served_revisions("pricing") == std::vector<uint32_t>{2});
  std::mt19937_64 random(1);
  auto old = directory.route("pricing", "r1", random);
  REQUIRE_FALSE(old.ok());
  CHECK(old.error().code == kRevisionNotFound);
  CHECK(old.error().http_status == 404);
  CHECK_THAT(old.error().message, Catch::Contains("serves no revision 'r1'") && Catch::Contains("it serves r2") &&
                                      Catch::Contains("fnctl traffic tag pricing"));
}

TEST_CASE("a 90/10 split routes within 3 percent over 1,000 calls and tags reach their revision", "[unit]") {
  FunctionDirectory directory = directory_with({{{3, 90}, {4, 10}}, {{"canary", 4}, {"stable", 3}}});
  std::mt19937_64 random(2026);
  std::map<uint32_t, int> counts;
  for (int i = 0; i < 1000; ++i) {
    auto r = directory.route("pricing", "", random);
    REQUIRE(r.ok());
    ++counts[(*r)->number];
  }
  CHECK(counts.size() == 2);
  CHECK(counts[4] >= 70);
  CHECK(counts[4] <= 130);
  CHECK(routed(directory, "canary") == 4);
  CHECK(routed(directory, "stable") == 3);
  CHECK(routed(directory, "r3") == 3);
  CHECK(routed(directory, "3") == 3);
  CHECK(directory.served_revisions("pricing") == std::vector<uint32_t>{3, 4});
  std::mt19937_64 unused(1);
  auto unknown = directory.route("pricing", "beta", unused);
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(unknown.error().message, Catch::Contains("canary (r4)") && Catch::Contains("stable (r3)"));
}

TEST_CASE("a rollback split sends every call to the old revision while the latest stays reachable by name", "[unit]") {
  FunctionDirectory directory = directory_with({{{2, 100}}, {}});
  for (int i = 0; i < 50; ++i) CHECK(routed(directory, "") == 2);
  CHECK(routed(directory, "r4") == 4);
  CHECK(directory.served_revisions("pricing") == std::vector<uint32_t>{2, 4});
  // A deploy after the rollback: the split still holds, the new revision answers by name.
  directory.publish(revision(5));
  CHECK(routed(directory, "") == 2);
  CHECK(routed(directory, "r5") == 5);
  CHECK(directory.served_revisions("pricing") == std::vector<uint32_t>{2, 5});
}

TEST_CASE("tags without weights keep every call on the latest revision", "[unit]") {
  FunctionDirectory directory = directory_with({{}, {{"old", 1}}});
  CHECK(routed(directory, "") == 4);
  CHECK(routed(directory, "old") == 1);
  directory.publish(revision(5));
  CHECK(routed(directory, "") == 5);
  CHECK(routed(directory, "old") == 1);
}

TEST_CASE("an unknown function is not found with a suggestion, whatever the selector", "[unit]") {
  FunctionDirectory directory = directory_with({{{3, 100}}, {}});
  std::mt19937_64 random(1);
  auto missing = directory.route("pricng", "canary", random);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "function_not_found");
  CHECK_THAT(missing.error().message, Catch::Contains("did you mean 'pricing'"));
  directory.remove("pricing");
  CHECK(directory.traffic("pricing") == nullptr);
  CHECK(directory.served_revisions("pricing").empty());
}

TEST_CASE("traffic reads from and writes to its JSON form", "[unit]") {
  auto parsed =
      traffic_from_json(boost::json::parse(R"({"split": {"3": 90, "r4": 10}, "tags": {"canary": "r4", "blue": 3}})"));
  REQUIRE(parsed.ok());
  CHECK(parsed->weights == std::vector<TrafficWeight>{{3, 90}, {4, 10}});
  REQUIRE(parsed->tags.size() == 2);
  auto again = traffic_from_json(traffic_to_json(*parsed));
  REQUIRE(again.ok());
  CHECK(*again == *parsed);
  auto latest = traffic_from_json(boost::json::parse(R"({"split": null})"));
  REQUIRE(latest.ok());
  CHECK(latest->weights.empty());
  for (const char* wrong : {R"([1])", R"({"split": {"x3": 100}})", R"({"split": {"3": "ninety"}})",
                            R"({"tags": {"canary": "four"}})", R"({"splits": {}})"}) {
    auto bad = traffic_from_json(boost::json::parse(wrong));
    INFO(wrong);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == kInvalidTraffic);
  }
}

}  // namespace fnd::scheduler

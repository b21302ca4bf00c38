#include "state_api.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>

#include "store/state_store.hpp"

using fnd::mesh::internal::delete_precondition;
using fnd::mesh::internal::put_options;
using namespace std::chrono_literals;

namespace {
const std::map<std::string, std::string> kNoQuery;
}  // namespace

TEST_CASE("a PUT with no preconditions and no ttl demands nothing", "[unit]") {
  auto options = put_options("", "", kNoQuery);
  REQUIRE(options);
  CHECK_FALSE(options->condition.if_match);
  CHECK_FALSE(options->condition.if_none_match_any);
  CHECK_FALSE(options->ttl);
}

TEST_CASE("If-Match and If-None-Match: * become the store's preconditions", "[unit]") {
  auto matching = put_options(" \"12-345\" ", "", kNoQuery);
  REQUIRE(matching);
  REQUIRE(matching->condition.if_match);
  CHECK(*matching->condition.if_match == "\"12-345\"");

  auto any = put_options("*", "", kNoQuery);
  REQUIRE(any);
  CHECK(*any->condition.if_match == "*");

  auto create_only = put_options("", "*", kNoQuery);
  REQUIRE(create_only);
  CHECK(create_only->condition.if_none_match_any);
  CHECK_FALSE(create_only->condition.if_match);
}

TEST_CASE("If-None-Match with an ETag is refused on PUT, naming what works", "[unit]") {
  auto refused = put_options("", "\"1-2\"", kNoQuery);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == fnd::store::kInvalidStateRequest);
  CHECK(refused.error().http_status == 400);
  CHECK(refused.error().message.find("If-None-Match: *") != std::string::npos);
}

TEST_CASE("?ttl= takes a positive duration", "[unit]") {
  auto thirty = put_options("", "", {{"ttl", "30s"}});
  REQUIRE(thirty);
  REQUIRE(thirty->ttl);
  CHECK(*thirty->ttl == 30s);
  auto bare = put_options("", "", {{"ttl", "5"}});
  REQUIRE(bare);
  CHECK(*bare->ttl == 5s);
  for (const char* bad : {"0", "0s", "soon", "", "-5s"}) {
    INFO(bad);
    auto refused = put_options("", "", {{"ttl", bad}});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == fnd::store::kInvalidStateRequest);
  }
}

TEST_CASE("a DELETE takes If-Match only", "[unit]") {
  auto plain = delete_precondition("", "");
  REQUIRE(plain);
  CHECK_FALSE(plain->if_match);
  auto matching = delete_precondition("\"7-1\"", "");
  REQUIRE(matching);
  CHECK(*matching->if_match == "\"7-1\"");
  auto refused = delete_precondition("", "*");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().http_status == 400);
}

TEST_CASE("a transaction body becomes the store's ops, conditions and ttl included", "[unit]") {
  auto ops = fnd::mesh::internal::transaction_ops(boost::json::parse(
      R"({"ops": [{"op": "put", "key": "a", "value": "1", "ifNoneMatch": "*", "ttl": "30s"},
                  {"op": "put", "key": "b", "valueBase64": "AAE=", "ifMatch": "\"3-4\""},
                  {"op": "delete", "key": "c", "ifMatch": "*"}]})"));
  REQUIRE(ops.ok());
  REQUIRE(ops->size() == 3);
  CHECK((*ops)[0].kind == fnd::store::StateOp::Kind::put);
  CHECK((*ops)[0].value == "1");
  CHECK((*ops)[0].options.condition.if_none_match_any);
  CHECK((*ops)[0].options.ttl == std::chrono::milliseconds(30s));
  CHECK((*ops)[1].value == std::string("\0\1", 2));
  CHECK((*ops)[1].options.condition.if_match == "\"3-4\"");
  CHECK((*ops)[2].kind == fnd::store::StateOp::Kind::del);
  CHECK((*ops)[2].options.condition.if_match == "*");
}

TEST_CASE("a transaction body that cannot be read says which op is wrong", "[unit]") {
  for (const char* wrong : {R"({"get": ["a"]})", R"({"ops": [{"op": "put", "key": "a"}]})",
                            R"({"ops": [{"op": "rename", "key": "a"}]})", R"({"ops": [{"op": "put", "key": "a",
                            "value": "1", "ttl": "soon"}]})",
                            R"({"ops": [{"key": "a"}]})"}) {
    auto ops = fnd::mesh::internal::transaction_ops(boost::json::parse(wrong));
    INFO(wrong);
    REQUIRE_FALSE(ops.ok());
    CHECK(ops.error().http_status == 400);
  }
}

#include "store/resource_repository.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "store/database.hpp"
#include "unit/store/test_support.hpp"

using fnd::store::Database;
using fnd::store::ResourceRepository;
using fnd::store::test::TempDir;

TEST_CASE("resources are kept per kind and name, replaced in place, listed by name and survive a reopen", "[unit]") {
  TempDir dir;
  const std::string path = dir.file("fnd.db");
  {
    auto db = Database::open(path);
    REQUIRE(db.ok());
    ResourceRepository resources(**db);
    auto created = resources.put("trigger", "b", R"({"n":1})");
    REQUIRE(created.ok());
    CHECK(*created);
    REQUIRE(resources.put("trigger", "a", R"({"n":2})").ok());
    REQUIRE(resources.put("broker", "a", R"({})").ok());
    auto replaced = resources.put("trigger", "b", R"({"n":3})");
    REQUIRE(replaced.ok());
    CHECK_FALSE(*replaced);
  }
  auto db = Database::open(path);
  REQUIRE(db.ok());
  ResourceRepository resources(**db);
  auto triggers = resources.list("trigger");
  REQUIRE(triggers.ok());
  REQUIRE(triggers->size() == 2);
  CHECK((*triggers)[0].name == "a");
  CHECK((*triggers)[1].spec == R"({"n":3})");
  CHECK((*triggers)[1].updated_at >= (*triggers)[1].created_at);
  auto broker = resources.get("broker", "a");
  REQUIRE(broker.ok());
  REQUIRE(broker->has_value());
  CHECK((*broker)->spec == "{}");
  auto missing = resources.get("broker", "b");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
  auto removed = resources.remove("trigger", "a");
  REQUIRE(removed.ok());
  CHECK(*removed);
  auto again = resources.remove("trigger", "a");
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  CHECK(resources.list("trigger")->size() == 1);
  auto none = resources.remove_updated_before("trigger", std::chrono::system_clock::now() - std::chrono::hours(1));
  REQUIRE(none.ok());
  CHECK(*none == 0);
  auto all = resources.remove_updated_before("trigger", std::chrono::system_clock::now() + std::chrono::hours(1));
  REQUIRE(all.ok());
  CHECK(*all == 1);
  CHECK(resources.list("trigger")->empty());
  CHECK(resources.list("broker")->size() == 1);
}

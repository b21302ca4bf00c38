#include "store/audit_log.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "unit/store/test_support.hpp"

using namespace std::chrono_literals;
using fnd::SystemTime;
using fnd::store::AuditEntry;
using fnd::store::AuditLog;
using fnd::store::AuditQuery;
using fnd::store::Database;
using fnd::store::test::TempDir;
using fnd::store::test::test_epoch;

namespace {

struct Fixture {
  TempDir dir;
  std::unique_ptr<Database> db;
  std::unique_ptr<AuditLog> log;

  Fixture() {
    auto opened = Database::open(dir.file("fnd.db"));
    REQUIRE(opened.ok());
    db = std::move(*opened);
    log = std::make_unique<AuditLog>(*db);
  }

  void append(SystemTime time, std::string actor, std::string action, std::string target, std::string result = "ok") {
    REQUIRE(log->append({time, std::move(actor), std::move(action), std::move(target), std::move(result), ""}).ok());
  }

  std::vector<std::string> targets(const AuditQuery& query) {
    auto entries = log->query(query);
    REQUIRE(entries.ok());
    std::vector<std::string> out;
    for (const auto& e : *entries) out.push_back(e.target);
    return out;
  }
};

using Targets = std::vector<std::string>;

}  // namespace

TEST_CASE("audit entries round-trip with every field", "[unit]") {
  Fixture f;
  AuditEntry entry{test_epoch() + 1234ms, "ci",
                   "function.deploy",     "shop-cart",
                   "revision_mismatch",   "If-Match: 3, latest is 4; caf\xc3\xa9"};
  REQUIRE(f.log->append(entry).ok());
  auto entries = f.log->query({});
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 1);
  CHECK(entries->front() == entry);
}

TEST_CASE("audit entries come back newest first, ties in reverse order of appending", "[unit]") {
  Fixture f;
  // Appended out of time order: the order is by time, not by arrival.
  f.append(test_epoch() + 2s, "ci", "function.deploy", "b");
  f.append(test_epoch() + 1s, "ci", "function.deploy", "a");
  f.append(test_epoch() + 3s, "ci", "function.delete", "c1");
  f.append(test_epoch() + 3s, "ci", "function.delete", "c2");
  CHECK(f.targets({}) == Targets{"c2", "c1", "b", "a"});
  AuditQuery two;
  two.limit = 2;
  CHECK(f.targets(two) == Targets{"c2", "c1"});
  AuditQuery none;
  none.limit = 0;
  CHECK(f.targets(none).empty());
}

TEST_CASE("audit queries filter by time range, actor and action", "[unit]") {
  Fixture f;
  f.append(test_epoch() + 1s, "ci", "function.deploy", "t1");
  f.append(test_epoch() + 2s, "uid:0", "secret.put", "t2");
  f.append(test_epoch() + 3s, "ci", "secret.put", "t3", "invalid_secret_key");
  f.append(test_epoch() + 4s, "alice", "function.deploy", "t4");
  f.append(test_epoch() + 5s, "ci", "function.deploy", "t5");

  AuditQuery range;
  range.since = test_epoch() + 2s;  // inclusive
  range.until = test_epoch() + 4s;  // exclusive
  CHECK(f.targets(range) == Targets{"t3", "t2"});

  AuditQuery since;
  since.since = test_epoch() + 4s;
  CHECK(f.targets(since) == Targets{"t5", "t4"});

  AuditQuery until;
  until.until = test_epoch() + 2s;
  CHECK(f.targets(until) == Targets{"t1"});

  AuditQuery actor;
  actor.actor = "ci";
  CHECK(f.targets(actor) == Targets{"t5", "t3", "t1"});

  AuditQuery action;
  action.action = "secret.put";
  CHECK(f.targets(action) == Targets{"t3", "t2"});

  AuditQuery both;
  both.actor = "ci";
  both.action = "function.deploy";
  both.limit = 1;
  CHECK(f.targets(both) == Targets{"t5"});

  AuditQuery nothing;
  nothing.actor = "mallory";
  CHECK(f.targets(nothing).empty());
  // A filter value is data, never SQL.
  nothing.actor = "ci' OR '1'='1";
  CHECK(f.targets(nothing).empty());
}

TEST_CASE("pruning removes the entries older than the cut and counts them", "[unit]") {
  Fixture f;
  for (int day = 0; day < 10; ++day) {
    f.append(test_epoch() + std::chrono::hours(24 * day), "ci", "function.deploy", "day" + std::to_string(day));
  }
  auto pruned = f.log->prune(test_epoch() + 24h * 7);
  REQUIRE(pruned.ok());
  CHECK(*pruned == 7);
  CHECK(f.targets({}) == Targets{"day9", "day8", "day7"});
  auto again = f.log->prune(test_epoch() + 24h * 7);
  REQUIRE(again.ok());
  CHECK(*again == 0);
}

TEST_CASE("oversized audit fields are cut at a character boundary", "[unit]") {
  Fixture f;
  // 'é' is two bytes; the cut at kMaxAuditFieldBytes would fall inside one.
  std::string detail = "x";
  while (detail.size() < fnd::store::kMaxAuditFieldBytes + 100) detail += "\xc3\xa9";
  REQUIRE(f.log->append({test_epoch(), "ci", "function.deploy", "t", "ok", detail}).ok());
  auto entries = f.log->query({});
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 1);
  const std::string& stored = entries->front().detail;
  CHECK(stored.size() == fnd::store::kMaxAuditFieldBytes - 1);
  CHECK(detail.starts_with(stored));
  CHECK(static_cast<unsigned char>(stored.back()) == 0xa9);
}

TEST_CASE("two thousand audit appends all arrive, newest first", "[unit]") {
  Fixture f;
  constexpr int kEntries = 2000;
  for (int i = 0; i < kEntries; ++i) {
    REQUIRE(f.log
                ->append(
                    {test_epoch() + std::chrono::milliseconds(i), "ci", "function.invoke", std::to_string(i), "ok", ""})
                .ok());
  }
  AuditQuery all;
  all.limit = fnd::store::kMaxAuditQueryLimit;
  auto entries = f.log->query(all);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == kEntries);
  CHECK(entries->front().target == std::to_string(kEntries - 1));
  CHECK(entries->back().target == "0");
}

#include "store/state_store.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "store/event_log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using fnd::store::BulkEntry;
using fnd::store::KeyPage;
using fnd::store::OpOutcome;
using fnd::store::Precondition;
using fnd::store::PutOptions;
using fnd::store::PutOutcome;
using fnd::store::StateOp;
using fnd::store::StateStore;
using fnd::store::StateStoreOptions;
using fnd::store::test::TempDir;

namespace {

// Time moves only when a test says so. Read from the writer thread too, hence atomic.
class AtomicFakeClock final : public fnd::Clock {
 public:
  fnd::SteadyTime now() const override { return fnd::SteadyTime(std::chrono::nanoseconds(nanos_.load())); }
  void advance(std::chrono::nanoseconds d) { nanos_ += d.count(); }

 private:
  std::atomic<int64_t> nanos_{1'000'000'000};
};

const fnd::SystemTime kWallStart = fnd::store::test::test_epoch();

std::unique_ptr<StateStore> open_store(const std::string& path, const fnd::Clock& clock,
                                       StateStoreOptions options = {}) {
  auto store = StateStore::open(path, options, clock, kWallStart);
  if (!store) FAIL(store.error().message);
  return std::move(*store);
}

PutOptions if_match(std::string etag) {
  PutOptions o;
  o.condition.if_match = std::move(etag);
  return o;
}

PutOptions if_none_match_any() {
  PutOptions o;
  o.condition.if_none_match_any = true;
  return o;
}

PutOptions with_ttl(std::chrono::milliseconds ttl) {
  PutOptions o;
  o.ttl = ttl;
  return o;
}

std::vector<std::string> keys_of(const KeyPage& page) {
  std::vector<std::string> keys;
  for (const auto& k : page.keys) keys.push_back(k.key);
  return keys;
}

// Holds the writer thread inside a completion callback until release(): whatever is submitted
// meanwhile queues up, and goes in one batch once released.
class WriterGate {
 public:
  explicit WriterGate(StateStore& store) {
    auto released = released_.get_future().share();
    auto st = store.put_async("fn:gate", "gate", "", {}, [this, released](auto) {
      entered_.set_value();
      released.wait();
    });
    REQUIRE(st.ok());
    entered_.get_future().wait();
  }
  ~WriterGate() { release(); }
  void release() {
    if (!released_done_) released_.set_value();
    released_done_ = true;
  }

 private:
  std::promise<void> entered_;
  std::promise<void> released_;
  bool released_done_ = false;
};

}  // namespace

TEST_CASE("state: a put gives a new ETag every time and get returns value and ETag", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  auto store = open_store(dir.file("state.db"), clock);

  auto first = store->put("fn:cart", "cart-3", "one");
  REQUIRE(first.ok());
  CHECK(first->created);
  CHECK(first->etag.size() > 2);
  CHECK(first->etag.front() == '"');
  CHECK(first->etag.back() == '"');

  auto got = store->get("fn:cart", "cart-3");
  REQUIRE(got.ok());
  CHECK(got->value == "one");
  CHECK(got->etag == first->etag);
  CHECK_FALSE(got->expires_at.has_value());

  std::set<std::string> etags{first->etag};
  for (int i = 0; i < 5; ++i) {
    auto again = store->put("fn:cart", "cart-3", "one");  // same bytes: still a new ETag
    REQUIRE(again.ok());
    CHECK_FALSE(again->created);
    CHECK(etags.insert(again->etag).second);
  }
  // Another key's ETag differs too, and so does a deleted and re-created key's.
  auto other = store->put("fn:cart", "cart-4", "x");
  REQUIRE(other.ok());
  CHECK(etags.insert(other->etag).second);
  REQUIRE(*store->del("fn:cart", "cart-3"));
  auto recreated = store->put("fn:cart", "cart-3", "one");
  REQUIRE(recreated.ok());
  CHECK(recreated->created);
  CHECK(etags.insert(recreated->etag).second);

  // Binary values round-trip, the empty value included.
  const std::string binary("\0\x01\xff\n", 4);
  REQUIRE(store->put("fn:cart", "bin", binary).ok());
  CHECK(store->get("fn:cart", "bin")->value == binary);
  REQUIRE(store->put("fn:cart", "empty", "").ok());
  CHECK(store->get("fn:cart", "empty")->value.empty());

  auto missing = store->get("fn:cart", "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == fnd::store::kStateKeyNotFound);
  CHECK(missing.error().http_status == 404);
  CHECK(fnd::store::is_state_key_not_found(missing.error()));
  // A function store never written has no keys; it is not an error of the store.
  CHECK(store->get("fn:never", "k").error().code == fnd::store::kStateKeyNotFound);

  CHECK(*store->del("fn:cart", "cart-4"));
  CHECK_FALSE(*store->del("fn:cart", "cart-4"));
  CHECK_FALSE(*store->del("fn:never", "k"));
}

TEST_CASE("state: If-Match with a stale or missing ETag fails with 412 naming the key", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  auto store = open_store(dir.file("state.db"), clock);
  auto v1 = store->put("fn:cart", "total", "1");
  REQUIRE(v1.ok());
  auto v2 = store->put("fn:cart", "total", "2", if_match(v1->etag));
  REQUIRE(v2.ok());

  auto stale = store->put("fn:cart", "total", "3", if_match(v1->etag));
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().code == fnd::store::kStatePreconditionFailed);
  CHECK(stale.error().http_status == 412);
  CHECK(fnd::store::is_state_precondition_failed(stale.error()));
  CHECK(stale.error().message.find("'total'") != std::string::npos);
  CHECK(store->get("fn:cart", "total")->value == "2");

  // Unquoted or weak forms are other strings: strong comparison only.
  std::string bare = v2->etag.substr(1, v2->etag.size() - 2);
  CHECK(store->put("fn:cart", "total", "3", if_match(bare)).error().code == fnd::store::kStatePreconditionFailed);
  CHECK(store->put("fn:cart", "total", "3", if_match("W/" + v2->etag)).error().code ==
        fnd::store::kStatePreconditionFailed);

  // If-Match on a missing key fails, "*" included; "*" on an existing key holds.
  CHECK(store->put("fn:cart", "absent", "x", if_match(v2->etag)).error().code == fnd::store::kStatePreconditionFailed);
  CHECK(store->put("fn:cart", "absent", "x", if_match("*")).error().code == fnd::store::kStatePreconditionFailed);
  CHECK_FALSE(store->get("fn:cart", "absent").ok());
  auto v3 = store->put("fn:cart", "total", "3", if_match("*"));
  REQUIRE(v3.ok());

  // Delete with a stale ETag fails and keeps the key; with the current one it removes it.
  Precondition stale_condition;
  stale_condition.if_match = v2->etag;
  CHECK(store->del("fn:cart", "total", stale_condition).error().code == fnd::store::kStatePreconditionFailed);
  CHECK(store->get("fn:cart", "total")->value == "3");
  Precondition current;
  current.if_match = v3->etag;
  CHECK(*store->del("fn:cart", "total", current));
  CHECK(store->del("fn:cart", "total", current).error().code == fnd::store::kStatePreconditionFailed);
  CHECK(store->stats().precondition_failures == 7);
}

TEST_CASE("state: If-None-Match * creates only", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  auto store = open_store(dir.file("state.db"), clock);
  auto created = store->put("fn:locks", "leader", "node-a", if_none_match_any());
  REQUIRE(created.ok());
  CHECK(created->created);
  auto second = store->put("fn:locks", "leader", "node-b", if_none_match_any());
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == fnd::store::kStatePreconditionFailed);
  CHECK(second.error().message.find("'leader'") != std::string::npos);
  CHECK(store->get("fn:locks", "leader")->value == "node-a");
  REQUIRE(*store->del("fn:locks", "leader"));
  CHECK(store->put("fn:locks", "leader", "node-b", if_none_match_any()).ok());
  CHECK(store->get("fn:locks", "leader")->value == "node-b");
}

TEST_CASE("state: concurrent read-modify-write with If-Match loses no update", "[unit][state]") {
  TempDir dir;
  fnd::SteadyClock clock;
  auto store = open_store(dir.file("state.db"), clock);
  REQUIRE(store->put("fn:counter", "n", "0").ok());
  constexpr int kThreads = 8;
  constexpr int kAttempts = 150;
  std::atomic<int> succeeded{0};
  std::atomic<int> conflicts{0};
  std::atomic<int> other_failures{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kAttempts; ++i) {
          auto current = store->get("fn:counter", "n");
          if (!current) {
            ++other_failures;
            continue;
          }
          const int next = std::stoi(current->value) + 1;
          auto put = store->put("fn:counter", "n", std::to_string(next), if_match(current->etag));
          if (put) {
            ++succeeded;
          } else if (put.error().code == fnd::store::kStatePreconditionFailed) {
            ++conflicts;
          } else {
            ++other_failures;
          }
        }
      });
    }
  }
  CHECK(other_failures == 0);
  CHECK(succeeded + conflicts == kThreads * kAttempts);
  CHECK(succeeded > 0);
  INFO("successes " << succeeded << ", conflicts " << conflicts);
  CHECK(std::stoi(store->get("fn:counter", "n")->value) == succeeded.load());
  CHECK(store->stats().precondition_failures == static_cast<uint64_t>(conflicts.load()));
}

TEST_CASE("state: a transaction applies all of its operations or none", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  StateStoreOptions options;
  options.max_store_bytes = 200;
  auto store = open_store(dir.file("state.db"), clock, options);
  auto a = store->put("fn:shop", "a", "1");
  REQUIRE(a.ok());

  SECTION("all succeed, in order, each seeing the ones before it") {
    std::vector<StateOp> ops;
    ops.push_back(StateOp::put("a", "2", if_match(a->etag)));
    ops.push_back(StateOp::put("b", "new", if_none_match_any()));
    ops.push_back(StateOp::del("a"));
    ops.push_back(StateOp::put("c", "3"));
    PutOptions exists;
    exists.condition.if_match = "*";
    ops.push_back(StateOp::put("b", "again", exists));  // b exists thanks to op 2
    auto done = store->transact("fn:shop", std::move(ops));
    REQUIRE(done.ok());
    REQUIRE(done->size() == 5);
    CHECK((*done)[0].existed);
    CHECK_FALSE((*done)[1].existed);
    CHECK((*done)[2].existed);
    CHECK((*done)[2].etag.empty());
    CHECK_FALSE((*done)[3].existed);
    CHECK((*done)[4].existed);
    CHECK((*done)[1].etag != (*done)[4].etag);
    CHECK_FALSE(store->get("fn:shop", "a").ok());
    CHECK(store->get("fn:shop", "b")->value == "again");
    CHECK(store->get("fn:shop", "b")->etag == (*done)[4].etag);
    CHECK(store->get("fn:shop", "c")->value == "3");
    CHECK(store->stats().writes == 1 + 5);
  }

  SECTION("a failed precondition fails everything and names its key") {
    std::vector<StateOp> ops;
    ops.push_back(StateOp::put("x", "1"));
    ops.push_back(StateOp::del("a"));
    ops.push_back(StateOp::put("y", "2", if_none_match_any()));
    ops.push_back(StateOp::put("a", "3", if_none_match_any()));  // a was deleted by op 2: holds
    ops.push_back(StateOp::put("x", "4", if_none_match_any()));  // x was created by op 1: fails
    auto failed = store->transact("fn:shop", std::move(ops));
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().code == fnd::store::kStatePreconditionFailed);
    CHECK(failed.error().message.find("'x'") != std::string::npos);
    CHECK(failed.error().message.find("operation 5 of 5") != std::string::npos);
    CHECK_FALSE(store->get("fn:shop", "x").ok());
    CHECK_FALSE(store->get("fn:shop", "y").ok());
    CHECK(store->get("fn:shop", "a")->value == "1");
    CHECK(store->get("fn:shop", "a")->etag == a->etag);
    CHECK(store->usage("fn:shop")->keys == 1);
  }

  SECTION("the quota fails everything too") {
    std::vector<StateOp> ops;
    ops.push_back(StateOp::put("small", "1"));
    ops.push_back(StateOp::put("big", std::string(300, 'b')));
    auto failed = store->transact("fn:shop", std::move(ops));
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().code == fnd::store::kStateQuotaExceeded);
    CHECK_FALSE(store->get("fn:shop", "small").ok());
    CHECK(store->usage("fn:shop")->bytes == 2);
  }

  SECTION("one failing transaction in a batch leaves the others alone") {
    std::latch done(3);
    std::vector<bool> ok(3);
    {
      WriterGate gate(*store);
      for (int i = 0; i < 3; ++i) {
        std::vector<StateOp> ops;
        ops.push_back(StateOp::put("k" + std::to_string(i), "v"));
        if (i == 1) ops.push_back(StateOp::put("a", "stale", if_match("\"0-0\"")));
        REQUIRE(store
                    ->transact_async("fn:shop", std::move(ops),
                                     [&, i](auto r) {
                                       ok[i] = r.ok();
                                       done.count_down();
                                     })
                    .ok());
      }
    }
    done.wait();
    CHECK(ok == std::vector<bool>{true, false, true});
    CHECK(store->get("fn:shop", "k0").ok());
    CHECK_FALSE(store->get("fn:shop", "k1").ok());
    CHECK(store->get("fn:shop", "k2").ok());
  }

  SECTION("an empty transaction answers at once; a too long one is refused") {
    bool called = false;
    REQUIRE(store->transact_async("fn:shop", {}, [&](auto r) { called = r.ok() && r->empty(); }).ok());
    CHECK(called);
    std::vector<StateOp> ops;
    for (size_t i = 0; i <= options.max_keys_per_request; ++i) ops.push_back(StateOp::del("k" + std::to_string(i)));
    auto refused = store->transact("fn:shop", std::move(ops));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == fnd::store::kStateRequestTooLarge);
    CHECK(refused.error().http_status == 413);
  }
}

TEST_CASE("state: an expired key is gone at once and purged later", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  auto store = open_store(dir.file("state.db"), clock);
  auto session = store->put("fn:web", "session/1", "alice", with_ttl(10s));
  REQUIRE(session.ok());
  REQUIRE(store->put("fn:web", "session/2", "bob", with_ttl(60s)).ok());
  REQUIRE(store->put("fn:web", "config", "permanent").ok());

  auto got = store->get("fn:web", "session/1");
  REQUIRE(got.ok());
  REQUIRE(got->expires_at.has_value());
  CHECK(*got->expires_at == kWallStart + 10s);

  clock.advance(9999ms);
  CHECK(store->get("fn:web", "session/1").ok());
  clock.advance(1ms);
  auto expired = store->get("fn:web", "session/1");
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.error().code == fnd::store::kStateKeyNotFound);
  CHECK(keys_of(*store->list("fn:web", "", "", 0)) == std::vector<std::string>{"config", "session/2"});
  auto many = store->get_many("fn:web", {"session/1", "session/2"});
  REQUIRE(many.ok());
  CHECK_FALSE((*many)[0].entry.has_value());
  CHECK((*many)[1].entry.has_value());
  // Preconditions see it gone too.
  CHECK(store->put("fn:web", "session/1", "x", if_match(session->etag)).error().code ==
        fnd::store::kStatePreconditionFailed);
  // Still counted until purged.
  CHECK(store->usage("fn:web")->keys == 3);

  auto report = store->purge_expired(kWallStart + 10s);
  REQUIRE(report.ok());
  CHECK(report->expired_removed == 1);
  CHECK(store->usage("fn:web")->keys == 2);
  CHECK(store->usage("fn:web")->bytes == std::string("session/2bob").size() + std::string("configpermanent").size());
  CHECK(store->stats().expired_removed == 1);

  // A key re-created over an expired one is new; a put without TTL makes a key permanent.
  clock.advance(60s);
  auto recreated = store->put("fn:web", "session/2", "carol", if_none_match_any());
  REQUIRE(recreated.ok());
  CHECK(recreated->created);
  CHECK_FALSE(store->get("fn:web", "session/2")->expires_at.has_value());
  clock.advance(std::chrono::hours(24 * 365));
  CHECK(store->get("fn:web", "session/2")->value == "carol");

  // Nothing expired is left for the next purge; the TTL must be positive.
  CHECK(store->purge_expired(kWallStart + std::chrono::hours(24 * 400))->expired_removed == 0);
  auto bad = store->put("fn:web", "k", "v", with_ttl(0ms));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == fnd::store::kInvalidStateRequest);
}

TEST_CASE("state: purge removes expired keys in chunks", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  StateStoreOptions options;
  options.purge_chunk = 7;
  auto store = open_store(dir.file("state.db"), clock, options);
  for (int s = 0; s < 3; ++s) {
    std::vector<StateOp> ops;
    for (int i = 0; i < 20; ++i) ops.push_back(StateOp::put("k" + std::to_string(i), "v", with_ttl(i < 15 ? 1s : 1h)));
    REQUIRE(store->transact("fn:f" + std::to_string(s), std::move(ops)).ok());
  }
  // 15 per store, more than a chunk: each store takes several steps.
  auto report = store->purge_expired(kWallStart + 1s);
  REQUIRE(report.ok());
  CHECK(report->expired_removed == 45);
  CHECK(store->stats().expired_removed == 45);
  for (int s = 0; s < 3; ++s) CHECK(store->usage("fn:f" + std::to_string(s))->keys == 5);
}

TEST_CASE("state: list pages through keys by prefix", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  StateStoreOptions options;
  options.max_list_limit = 10;
  auto store = open_store(dir.file("state.db"), clock, options);
  std::vector<StateOp> ops;
  for (int i = 0; i < 25; ++i) ops.push_back(StateOp::put(fmt::format("cart/{:02}", i), std::string(i, 'x')));
  ops.push_back(StateOp::put("cart", "the prefix itself"));
  ops.push_back(StateOp::put("cart0", "sorts after cart/"));
  ops.push_back(StateOp::put("car", "before"));
  ops.push_back(StateOp::put("user/1", "u"));
  REQUIRE(store->transact("fn:shop", std::move(ops)).ok());

  std::vector<std::string> seen;
  std::string after;
  int pages = 0;
  while (true) {
    auto page = store->list("fn:shop", "cart/", after, 4);
    REQUIRE(page.ok());
    ++pages;
    for (const auto& k : page->keys) {
      seen.push_back(k.key);
      CHECK(k.value_bytes == static_cast<uint64_t>(std::stoi(k.key.substr(5))));
      CHECK(k.etag == store->get("fn:shop", k.key)->etag);
    }
    if (!page->next_after) break;
    CHECK(*page->next_after == page->keys.back().key);
    after = *page->next_after;
  }
  CHECK(pages == 7);
  REQUIRE(seen.size() == 25);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(seen.front() == "cart/00");
  CHECK(seen.back() == "cart/24");

  // A limit of 0 (or above the maximum) gives the maximum; no prefix lists everything.
  auto all = store->list("fn:shop", "", "", 0);
  REQUIRE(all.ok());
  CHECK(all->keys.size() == 10);
  CHECK(all->keys.front().key == "car");
  CHECK(all->keys[1].key == "cart");
  CHECK(store->list("fn:shop", "", "", 1000)->keys.size() == 10);
  CHECK(keys_of(*store->list("fn:shop", "cart", "cart/24", 0)) == std::vector<std::string>{"cart0"});
  CHECK(keys_of(*store->list("fn:shop", "", "cart0", 0)) == std::vector<std::string>{"user/1"});
  auto last = store->list("fn:shop", "user/", "", 0);
  CHECK(keys_of(*last) == std::vector<std::string>{"user/1"});
  CHECK_FALSE(last->next_after.has_value());
  CHECK(store->list("fn:shop", "zzz", "", 0)->keys.empty());
  CHECK(store->list("fn:empty", "", "", 0)->keys.empty());
  CHECK(store->list("fn:shop", "a b", "", 0).error().code == fnd::store::kInvalidStateRequest);
}

TEST_CASE("state: get_many reads many keys and reports the missing ones", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  StateStoreOptions options;
  options.max_keys_per_request = 5;
  auto store = open_store(dir.file("state.db"), clock, options);
  auto a = store->put("fn:f", "a", "1");
  REQUIRE(store->put("fn:f", "c", "3").ok());
  auto many = store->get_many("fn:f", {"c", "b", "a"});
  REQUIRE(many.ok());
  REQUIRE(many->size() == 3);
  CHECK((*many)[0].key == "c");
  CHECK((*many)[0].entry->value == "3");
  CHECK((*many)[1].key == "b");
  CHECK_FALSE((*many)[1].entry.has_value());
  CHECK((*many)[2].entry->etag == a->etag);
  CHECK(store->get_many("fn:f", {"a", "b", "c", "d", "e", "f"}).error().code == fnd::store::kStateRequestTooLarge);
  CHECK(store->get_many("fn:f", {"a", ""}).error().code == fnd::store::kInvalidStateKey);
  auto none = store->get_many("fn:nobody", {"a"});
  REQUIRE(none.ok());
  CHECK_FALSE((*none)[0].entry.has_value());
  CHECK(store->get_many("shared:nope", {"a"}).error().code == fnd::store::kStateStoreNotFound);
}

TEST_CASE("state: keys, values and quotas are checked", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  StateStoreOptions options;
  options.max_value_bytes = 100;
  options.max_store_bytes = 1000;
  auto store = open_store(dir.file("state.db"), clock, options);

  for (std::string bad : {std::string(), std::string(513, 'k'), std::string("a b"), std::string("tab\t"),
                          std::string("caf\xc3\xa9"), std::string("nul\0", 4), std::string("del\x7f")}) {
    auto r = store->put("fn:f", bad, "v");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == fnd::store::kInvalidStateKey);
    CHECK(r.error().http_status == 400);
    CHECK(store->get("fn:f", bad).error().code == fnd::store::kInvalidStateKey);
  }
  CHECK(store->put("fn:f", std::string(512, 'k'), "v").ok());
  CHECK(store->put("fn:f", "!~/:{}\"'", "v").ok());
  REQUIRE(*store->del("fn:f", std::string(512, 'k')));
  REQUIRE(*store->del("fn:f", "!~/:{}\"'"));

  for (std::string bad : {"cart", "fn:", "fn:Cart", "shared:", "shared:a b", "other:x"}) {
    auto r = store->put(bad, "k", "v");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == fnd::store::kInvalidStateStore);
  }

  auto too_big = store->put("fn:f", "k", std::string(101, 'v'));
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.error().code == fnd::store::kStateValueTooLarge);
  CHECK(too_big.error().http_status == 413);
  CHECK(store->put("fn:f", "k", std::string(100, 'v')).ok());

  // 9 keys of 1 + 100 bytes: 909 of 1000. One more does not fit; replacing one by a smaller
  // value, or deleting one, does.
  for (int i = 1; i < 9; ++i) REQUIRE(store->put("fn:f", std::to_string(i), std::string(100, 'v')).ok());
  CHECK(store->usage("fn:f")->bytes == 909);
  auto full = store->put("fn:f", "x", std::string(100, 'v'));
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().code == fnd::store::kStateQuotaExceeded);
  CHECK(full.error().http_status == 507);
  CHECK(full.error().message.find("909 B in 9 keys") != std::string::npos);
  CHECK(full.error().message.find("1000 B quota") != std::string::npos);
  CHECK(store->stats().quota_rejections == 1);
  CHECK(store->put("fn:f", "1", std::string(50, 'v')).ok());
  CHECK(store->put("fn:f", "x", std::string(40, 'v')).ok());
  CHECK(store->usage("fn:f")->bytes == 909 - 50 + 41);
  // Another store has a quota of its own.
  CHECK(store->put("fn:g", "x", std::string(100, 'v')).ok());

  // Expired keys make room when a write needs it.
  REQUIRE(store->put("fn:h", "old", std::string(99, 'v'), with_ttl(1s)).ok());
  for (int i = 0; i < 8; ++i) REQUIRE(store->put("fn:h", std::to_string(i), std::string(100, 'v')).ok());
  CHECK_FALSE(store->put("fn:h", "new", std::string(97, 'v')).ok());
  clock.advance(1s);
  CHECK(store->put("fn:h", "new", std::string(97, 'v')).ok());
  CHECK(store->usage("fn:h")->keys == 9);
  CHECK(store->stats().expired_removed == 1);
}

TEST_CASE("state: shared stores exist when created and grant functions access", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  auto store = open_store(dir.file("state.db"), clock);
  const std::string carts = fnd::store::shared_store("carts");
  CHECK(carts == "shared:carts");
  CHECK(fnd::store::function_store("web") == "fn:web");

  auto missing = store->put(carts, "k", "v");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == fnd::store::kStateStoreNotFound);
  CHECK(missing.error().http_status == 404);
  CHECK(store->get(carts, "k").error().code == fnd::store::kStateStoreNotFound);
  CHECK(store->list(carts, "", "", 0).error().code == fnd::store::kStateStoreNotFound);
  CHECK(store->usage(carts).error().code == fnd::store::kStateStoreNotFound);
  CHECK(store->grant(carts, "web").error().code == fnd::store::kStateStoreNotFound);
  CHECK_FALSE(*store->may_access("web", carts));

  REQUIRE(store->create_shared_store("carts").ok());
  auto again = store->create_shared_store("carts");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == fnd::store::kStateStoreExists);
  CHECK(again.error().http_status == 409);
  CHECK(store->create_shared_store("Bad Name").error().code == fnd::store::kInvalidStateStore);

  CHECK(*store->grant(carts, "web"));
  CHECK_FALSE(*store->grant(carts, "web"));
  CHECK(*store->grant(carts, "checkout"));
  CHECK(store->grant(carts, "Not A Function").error().code == fnd::store::kInvalidStateRequest);
  CHECK(store->grant("fn:web", "checkout").error().code == fnd::store::kInvalidStateStore);
  CHECK(*store->may_access("web", carts));
  CHECK(*store->may_access("checkout", carts));
  CHECK_FALSE(*store->may_access("billing", carts));
  // A function's own store: its own only.
  CHECK(*store->may_access("web", "fn:web"));
  CHECK_FALSE(*store->may_access("web", "fn:checkout"));

  REQUIRE(store->put(carts, "cart-3", "3 items").ok());
  REQUIRE(store->put("fn:web", "hits", "1").ok());
  auto stores = store->list_stores();
  REQUIRE(stores.ok());
  REQUIRE(stores->size() == 2);
  CHECK((*stores)[0].name == "fn:web");
  CHECK((*stores)[0].granted.empty());
  CHECK((*stores)[0].usage.keys == 1);
  CHECK((*stores)[1].name == "shared:carts");
  CHECK((*stores)[1].granted == std::vector<std::string>{"checkout", "web"});
  CHECK((*stores)[1].usage.keys == 1);
  CHECK((*stores)[1].usage.bytes == std::string("cart-33 items").size());
  CHECK((*stores)[1].usage.quota_bytes == StateStoreOptions{}.max_store_bytes);

  CHECK(*store->revoke(carts, "checkout"));
  CHECK_FALSE(*store->revoke(carts, "checkout"));
  CHECK_FALSE(*store->may_access("checkout", carts));

  // Removing a function drops its store and its grants: a new function of that name has neither.
  CHECK(*store->remove_function("web") == 1);
  CHECK_FALSE(*store->may_access("web", carts));
  CHECK_FALSE(store->get("fn:web", "hits").ok());
  CHECK(store->get(carts, "cart-3")->value == "3 items");
  CHECK(*store->remove_function("never-existed") == 0);

  CHECK(*store->delete_store(carts));
  CHECK_FALSE(*store->delete_store(carts));
  CHECK(store->get(carts, "cart-3").error().code == fnd::store::kStateStoreNotFound);
  CHECK(store->list_stores()->empty());
}

TEST_CASE("state: a deleted store's keys vanish at once, purge reclaims them, and a new store starts afresh",
          "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  StateStoreOptions options;
  options.purge_chunk = 10;
  const std::string path = dir.file("state.db");
  std::string old_etag;
  {
    auto store = open_store(path, clock, options);
    std::vector<StateOp> ops;
    for (int i = 0; i < 25; ++i) ops.push_back(StateOp::put("k" + std::to_string(i), "v"));
    auto put = store->transact("fn:gone", std::move(ops));
    REQUIRE(put.ok());
    old_etag = (*put)[0].etag;
    REQUIRE(store->put("fn:kept", "k0", "v").ok());

    CHECK(*store->delete_store("fn:gone"));
    CHECK_FALSE(store->get("fn:gone", "k0").ok());
    CHECK(store->usage("fn:gone")->keys == 0);

    // Re-created under the same name: empty, and no old ETag matches.
    CHECK(store->put("fn:gone", "k0", "new", if_match(old_etag)).error().code == fnd::store::kStatePreconditionFailed);
    auto fresh = store->put("fn:gone", "k0", "new", if_none_match_any());
    REQUIRE(fresh.ok());
    CHECK(fresh->etag != old_etag);
    CHECK(store->list("fn:gone", "", "", 0)->keys.size() == 1);
  }
  // The purge survives a restart in between.
  auto store = open_store(path, clock, options);
  auto report = store->purge_expired(kWallStart);
  REQUIRE(report.ok());
  CHECK(report->deleted_store_keys_removed == 25);
  CHECK(store->get("fn:gone", "k0")->value == "new");
  CHECK(store->get("fn:kept", "k0").ok());
  CHECK(store->purge_expired(kWallStart)->deleted_store_keys_removed == 0);
}

TEST_CASE("state: concurrent puts share commits", "[unit][state]") {
  TempDir dir;
  fnd::SteadyClock clock;
  auto store = open_store(dir.file("state.db"), clock);
  constexpr int kThreads = 8;
  constexpr int kPuts = 200;
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPuts; ++i) {
          if (!store->put("fn:load", fmt::format("t{}-{}", t, i), "value")) ++failures;
        }
      });
    }
  }
  REQUIRE(failures == 0);
  const auto stats = store->stats();
  INFO("commits: " << stats.commits);
  CHECK(stats.writes == kThreads * kPuts);
  CHECK(stats.commits < stats.writes / 2);
  CHECK(store->usage("fn:load")->keys == kThreads * kPuts);
}

TEST_CASE("state: what queues while the writer is busy commits once, in order, and callbacks run on the writer",
          "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  auto store = open_store(dir.file("state.db"), clock);
  constexpr int kPuts = 50;
  std::vector<std::string> etags(kPuts);
  std::vector<std::thread::id> threads(kPuts);
  std::latch done(kPuts);
  {
    WriterGate gate(*store);
    REQUIRE(store->stats().commits == 1);
    for (int i = 0; i < kPuts; ++i) {
      // Every put targets one key: each sees the one before it.
      PutOptions options;
      if (i == 0) options.condition.if_none_match_any = true;
      REQUIRE(store
                  ->put_async("fn:q", "k", std::to_string(i), options,
                              [&, i](fnd::Result<PutOutcome> r) {
                                etags[i] = r ? r->etag : "";
                                threads[i] = std::this_thread::get_id();
                                done.count_down();
                              })
                  .ok());
    }
    CHECK(store->stats().queued == kPuts);
    CHECK(store->stats().queued_bytes == 50 + 10 + 80);  // "k" 50 times and the values "0".."49"
  }
  done.wait();
  CHECK(store->stats().commits == 2);
  CHECK(store->stats().queued == 0);
  CHECK(store->stats().queued_bytes == 0);
  CHECK(std::set<std::string>(etags.begin(), etags.end()).size() == kPuts);
  CHECK(std::count(etags.begin(), etags.end(), "") == 0);
  CHECK(store->get("fn:q", "k")->value == "49");
  CHECK(store->get("fn:q", "k")->etag == etags.back());
  CHECK(threads[0] != std::this_thread::get_id());
  CHECK(std::set<std::thread::id>(threads.begin(), threads.end()).size() == 1);
}

TEST_CASE("state: a full write queue fails fast with a retryable 429", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  StateStoreOptions options;
  options.max_queued_writes = 10;
  options.max_keys_per_request = 10;
  options.max_value_bytes = 1000;
  options.max_queued_bytes = 2000;
  auto store = open_store(dir.file("state.db"), clock, options);
  std::latch done(3);
  {
    WriterGate gate(*store);
    std::vector<StateOp> ops;
    for (int i = 0; i < 8; ++i) ops.push_back(StateOp::put("k" + std::to_string(i), "v"));
    REQUIRE(store->transact_async("fn:f", std::move(ops), [&](auto) { done.count_down(); }).ok());
    REQUIRE(store->put_async("fn:f", "big", std::string(1000, 'v'), {}, [&](auto) { done.count_down(); }).ok());
    // 9 operations queued: a transaction of two does not fit, one more put does.
    std::vector<StateOp> two;
    two.push_back(StateOp::del("a"));
    two.push_back(StateOp::del("b"));
    bool called = false;
    auto rejected = store->transact_async("fn:f", std::move(two), [&](auto) { called = true; });
    REQUIRE_FALSE(rejected.ok());
    CHECK(rejected.error().code == fnd::store::kStateBacklogFull);
    CHECK(rejected.error().http_status == 429);
    CHECK(rejected.error().retryable);
    CHECK(rejected.error().retry_after_seconds > 0);
    CHECK(fnd::store::is_state_backlog_full(rejected.error()));
    // Bytes bound the queue too: 1000 more bytes do not fit beside the 1000-byte value.
    auto bytes = store->put("fn:f", "big2", std::string(1000, 'v'));
    REQUIRE_FALSE(bytes.ok());
    CHECK(bytes.error().code == fnd::store::kStateBacklogFull);
    CHECK(store->stats().rejected_backlog == 2);
    CHECK_FALSE(called);
    REQUIRE(store->put_async("fn:f", "last", "v", {}, [&](auto) { done.count_down(); }).ok());
  }
  done.wait();
  CHECK(store->usage("fn:f")->keys == 10);
  CHECK(store->put("fn:f", "big2", std::string(1000, 'v')).ok());
}

TEST_CASE("state: a closed store refuses writes and still reads", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  auto store = open_store(dir.file("state.db"), clock);
  REQUIRE(store->put("fn:f", "k", "v").ok());
  store->close();
  auto refused = store->put("fn:f", "k", "w");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == fnd::store::kStateStoreClosed);
  CHECK(refused.error().retryable);
  CHECK(store->purge_expired(kWallStart).error().code == fnd::store::kStateStoreClosed);
  CHECK(store->get("fn:f", "k")->value == "v");
}

TEST_CASE("state: a damaged or foreign state.db is refused at open with recovery steps", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  const std::string path = dir.file("state.db");
  {
    std::ofstream garbage(path, std::ios::binary);
    garbage << std::string(8192, 'G');
  }
  auto store = StateStore::open(path, {}, clock, kWallStart);
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().code == fnd::store::kStateStoreDamaged);
  CHECK(store.error().message.find(path) != std::string::npos);
  CHECK(store.error().message.find(".recover") != std::string::npos);

  // Another of fnd's databases (the event log, given by mistake) is not a state store.
  const std::string events = dir.file("events.db");
  {
    auto log = fnd::store::EventLog::open(events, {}, clock, kWallStart);
    REQUIRE(log.ok());
  }
  auto foreign = StateStore::open(events, {}, clock, kWallStart);
  REQUIRE_FALSE(foreign.ok());
  CHECK(foreign.error().code == fnd::store::kStateStoreDamaged);

  const std::string other = dir.file("other.db");
  { auto first = open_store(other, clock); }
  {
    // Corrupt the middle of a valid state store: the header survives, the schema does not.
    std::fstream f(other, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f << std::string(3900, '\xAB');
  }
  std::filesystem::remove(other + "-wal");
  std::filesystem::remove(other + "-shm");
  auto corrupt = StateStore::open(other, {}, clock, kWallStart);
  REQUIRE_FALSE(corrupt.ok());
  CHECK(corrupt.error().code == fnd::store::kStateStoreDamaged);

  StateStoreOptions bad;
  bad.max_queued_bytes = bad.max_value_bytes;
  auto refused = StateStore::open(dir.file("third.db"), bad, clock, kWallStart);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == fnd::store::kInvalidStateStoreOptions);
}

TEST_CASE("state: a reopened store keeps keys, ETags, expiry, grants and versions", "[unit][state]") {
  TempDir dir;
  AtomicFakeClock clock;
  const std::string path = dir.file("state.db");
  std::string etag;
  {
    auto store = open_store(path, clock);
    etag = store->put("fn:f", "k", "v")->etag;
    REQUIRE(store->put("fn:f", "t", "v", with_ttl(1h)).ok());
    REQUIRE(store->create_shared_store("s").ok());
    REQUIRE(store->grant("shared:s", "f").ok());
  }
  auto store = open_store(path, clock);
  CHECK(store->get("fn:f", "k")->etag == etag);
  CHECK(*store->get("fn:f", "t")->expires_at == kWallStart + 1h);
  CHECK(*store->may_access("f", "shared:s"));
  auto next = store->put("fn:f", "k", "w", if_match(etag));
  REQUIRE(next.ok());
  CHECK(next->etag != etag);
}

TEST_CASE("state: a blocking write from a completion callback is a bug and aborts", "[unit][state]") {
  TempDir dir;
  const std::string path = dir.file("state.db");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(STDERR_FILENO);      // keep the test output clean
    ::signal(SIGABRT, SIG_DFL);  // Catch2's handler would report the expected abort
    AtomicFakeClock clock;
    auto store = StateStore::open(path, {}, clock, kWallStart);
    if (!store) ::_exit(2);
    std::promise<void> never;
    StateStore* raw = store->get();
    (void)raw->put_async("fn:f", "a", "1", {}, [raw](auto) { (void)raw->put("fn:f", "b", "2"); });
    never.get_future().wait();
    ::_exit(3);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("state: every acknowledged put survives SIGKILL", "[unit][state]") {
  TempDir dir;
  const std::string path = dir.file("state.db");
  struct Ack {
    uint32_t thread;
    uint32_t index;
    char etag[40];
  };
  constexpr uint32_t kThreads = 4;
  constexpr int kKillAfter = 200;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: no Catch2 here; it never returns, it is killed (by the writer thread, inside a
    // completion callback: right after a commit, with more writes queued behind it).
    ::close(fds[0]);
    fnd::SteadyClock clock;
    auto store = StateStore::open(path, {}, clock);
    if (!store) ::_exit(2);
    std::atomic<int> acks{0};
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (uint32_t i = 0;; ++i) {
          auto st = (*store)->put_async("fn:f", std::to_string(t) + "-" + std::to_string(i), std::to_string(i), {},
                                        [&, t, i](fnd::Result<PutOutcome> r) {
                                          if (!r) ::_exit(3);
                                          Ack ack{t, i, {}};
                                          std::snprintf(ack.etag, sizeof ack.etag, "%s", r->etag.c_str());
                                          if (::write(fds[1], &ack, sizeof ack) != sizeof ack) ::_exit(4);
                                          if (++acks >= kKillAfter) ::kill(::getpid(), SIGKILL);
                                        });
          if (!st && !fnd::store::is_state_backlog_full(st.error())) ::_exit(5);
          if (!st) std::this_thread::yield();
        }
      });
    }
    for (auto& t : threads) t.join();
    ::_exit(6);
  }
  ::close(fds[1]);
  std::vector<Ack> acks;
  Ack ack{};
  while (::read(fds[0], &ack, sizeof ack) == static_cast<ssize_t>(sizeof ack)) acks.push_back(ack);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  REQUIRE(acks.size() >= static_cast<size_t>(kKillAfter));

  AtomicFakeClock clock;
  auto store = open_store(path, clock);
  for (const Ack& a : acks) {
    auto got = store->get("fn:f", std::to_string(a.thread) + "-" + std::to_string(a.index));
    REQUIRE(got.ok());
    CHECK(got->value == std::to_string(a.index));
    CHECK(got->etag == a.etag);
  }
  // The counters committed with the keys: every key there is counted, acknowledged or not.
  const auto usage = store->usage("fn:f");
  REQUIRE(usage.ok());
  CHECK(usage->keys >= acks.size());
  uint64_t listed = 0;
  std::string after;
  while (true) {
    auto page = store->list("fn:f", "", after, 0);
    REQUIRE(page.ok());
    listed += page->keys.size();
    if (!page->next_after) break;
    after = *page->next_after;
  }
  CHECK(listed == usage->keys);
}

TEST_CASE("state store throughput", "[.bench][state-bench]") {
  const std::string value(200, 'v');
  std::printf("value %zu bytes; durable puts (synchronous=FULL), 3 s per row\n", value.size());
  std::printf("%8s %12s %10s %14s %12s\n", "writers", "puts/s", "commits", "puts/commit", "gets/s");
  for (int writers : {1, 8, 64}) {
    TempDir dir;
    fnd::SteadyClock clock;
    auto store = open_store(dir.file("state.db"), clock);
    std::atomic<uint64_t> puts{0};
    std::atomic<bool> stop{false};
    auto start = std::chrono::steady_clock::now();
    {
      std::vector<std::jthread> threads;
      for (int t = 0; t < writers; ++t) {
        threads.emplace_back([&, t] {
          for (uint64_t i = 0; !stop.load(); ++i) {
            if (store->put("fn:bench", fmt::format("k{}-{}", t, i % 1000), value)) ++puts;
          }
        });
      }
      std::this_thread::sleep_for(3s);
      stop = true;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto stats = store->stats();
    const double put_rate = static_cast<double>(puts.load()) / seconds;
    std::atomic<uint64_t> gets{0};
    stop = false;
    start = std::chrono::steady_clock::now();
    {
      std::vector<std::jthread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
          for (uint64_t i = 0; !stop.load(); ++i) {
            if (store->get("fn:bench", fmt::format("k{}-{}", t % writers, i % 1000))) ++gets;
          }
        });
      }
      std::this_thread::sleep_for(1s);
      stop = true;
    }
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%8d %12.0f %10llu %14.1f %12.0f\n", writers, put_rate, static_cast<unsigned long long>(stats.commits),
                static_cast<double>(stats.writes) / static_cast<double>(std::max<uint64_t>(1, stats.commits)),
                static_cast<double>(gets.load()) / seconds);
    CHECK(stats.writes >= puts.load());
  }
}

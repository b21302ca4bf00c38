#include <catch2/catch.hpp>

#include "host_ids.hpp"

using namespace fnd::runtime::internal;

namespace {

HostAccounts debian_host() {
  return {"root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
          "alice:x:1000:1000::/home/alice:/bin/bash\n",
          "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\n", "alice:100000:65536\n", "alice:100000:65536\n"};
}

}  // namespace

TEST_CASE("without config or an fnd entry in /etc/subuid, instances use the default range", "[unit]") {
  auto range = choose_host_id_range(0, 0, debian_host());
  REQUIRE(range);
  CHECK(range->base == kDefaultIdBase);
  CHECK(range->count == kDefaultIdCount);
  CHECK(range->blocks() == 4094);
  CHECK(uint64_t{range->base} + range->count <= 0x7FFE0000ULL);  // below systemd's foreign range and 2^31
}

TEST_CASE("the fnd user's /etc/subuid entry is the range when config sets none", "[unit]") {
  HostAccounts host = debian_host();
  host.subuid += "fnd:231072:655360\n";
  host.subgid += "fnd:231072:131072\n";
  auto range = choose_host_id_range(0, 0, host);
  REQUIRE(range);
  CHECK(range->base == 231072);
  CHECK(range->count == 131072);  // the smaller of the two: both files must allow every id
  CHECK(range->blocks() == 2);
  CHECK_THAT(range->source, Catch::Contains("/etc/subuid"));

  host.subgid = "fnd:300000:655360\n";
  auto mismatched = choose_host_id_range(0, 0, host);
  REQUIRE_FALSE(mismatched);
  CHECK(mismatched.error().code == kBadIdRange);
  CHECK_THAT(mismatched.error().message, Catch::Contains("/etc/subgid"));
}

TEST_CASE("a configured range wins over /etc/subuid", "[unit]") {
  HostAccounts host = debian_host();
  host.subuid += "fnd:231072:65536\n";
  host.subgid += "fnd:231072:65536\n";
  auto range = choose_host_id_range(1 << 20, 10 * kIdBlockSize, host);
  REQUIRE(range);
  CHECK(range->base == 1u << 20);
  CHECK(range->blocks() == 10);
}

TEST_CASE("a range holding a host user's or group's id, or another user's subordinate ids, is refused", "[unit]") {
  HostAccounts host = debian_host();
  host.passwd += "svc:x:2000000:100::/:/bin/false\n";
  auto user = choose_host_id_range(1900000, 4 * kIdBlockSize, host);
  REQUIRE_FALSE(user);
  CHECK_THAT(user.error().message, Catch::Contains("'svc'") && Catch::Contains("2000000"));

  host = debian_host();
  host.group += "big:x:2000001:\n";
  auto group = choose_host_id_range(1900000, 4 * kIdBlockSize, host);
  REQUIRE_FALSE(group);
  CHECK_THAT(group.error().message, Catch::Contains("'big'"));

  auto overlap = choose_host_id_range(150000, 4 * kIdBlockSize, debian_host());
  REQUIRE_FALSE(overlap);
  CHECK_THAT(overlap.error().message, Catch::Contains("'alice'") && Catch::Contains("/etc/subuid"));

  CHECK(choose_host_id_range(165536, 4 * kIdBlockSize, debian_host()));  // just past alice's range
}

TEST_CASE("a range that is too small, reaches the host's own ids or past the last valid id is refused", "[unit]") {
  CHECK_FALSE(choose_host_id_range(1 << 24, kIdBlockSize - 1, {}));
  CHECK_FALSE(choose_host_id_range(1000, kIdBlockSize, {}));  // would map ids 1000.. (host users)
  CHECK_FALSE(choose_host_id_range(4294967295u - kIdBlockSize + 1, kIdBlockSize, {}));  // includes (uid_t)-1
  CHECK(choose_host_id_range(4294967295u - kIdBlockSize, kIdBlockSize, {}));
  CHECK(choose_host_id_range(kIdBlockSize, kIdBlockSize, {}));
}

TEST_CASE("blocks go out lowest free first, each to one holder, and come back", "[unit]") {
  HostIdBlocks blocks({1 << 20, 3 * kIdBlockSize, "test"});
  CHECK(blocks.capacity() == 3);
  auto a = blocks.acquire();
  auto b = blocks.acquire();
  auto c = blocks.acquire();
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  CHECK(*a == 0);
  CHECK(*b == 1);
  CHECK(*c == 2);
  CHECK(blocks.first_id(*b) == (1u << 20) + kIdBlockSize);
  CHECK_FALSE(blocks.acquire());
  CHECK(blocks.in_use() == 3);

  blocks.release(*b);
  CHECK(blocks.in_use() == 2);
  auto again = blocks.acquire();
  REQUIRE(again);
  CHECK(*again == 1);
  blocks.release(*c);
  blocks.release(*again);
  blocks.release(*a);
  CHECK(blocks.in_use() == 0);
  auto first = blocks.acquire();
  REQUIRE(first);
  CHECK(*first == 0);
}

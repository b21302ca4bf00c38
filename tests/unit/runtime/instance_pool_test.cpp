// The pool of idle connections an instance keeps: sized by the function's concurrency, so a
// dispatcher with hundreds of deliveries in flight reuses connections instead of opening and
// closing one per request (bench/events.sh went from 10k to 27k events/s with 512 in flight).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <cstddef>

#include "runtime/instance.hpp"

namespace {

using fnd::runtime::Instance;

// Offers `offered` connections to the pool, then counts what it kept.
size_t kept_of(Instance& instance, size_t offered) {
  boost::asio::io_context io;
  for (size_t i = 0; i < offered; ++i) instance.keep_idle_connection(boost::asio::ip::tcp::socket(io));
  size_t kept = 0;
  while (instance.take_idle_connection()) ++kept;
  return kept;
}

TEST_CASE("an instance pools as many idle connections as its function's concurrency, within 64 and 1024",
          "[unit][runtime]") {
  Instance instance("fn-1-abc", "fn", 1, 128u << 20);
  instance.became_ready();
  CHECK(kept_of(instance, 2000) == 64);  // the default
  instance.pool_idle_connections_for(512);
  CHECK(kept_of(instance, 2000) == 512);
  instance.pool_idle_connections_for(100000);
  CHECK(kept_of(instance, 2000) == 1024);
  instance.pool_idle_connections_for(1);
  CHECK(kept_of(instance, 2000) == 64);
}

TEST_CASE("a stopping instance keeps no idle connection", "[unit][runtime]") {
  Instance instance("fn-1-abc", "fn", 1, 128u << 20);
  instance.became_ready();
  instance.pool_idle_connections_for(512);
  instance.stopping();
  CHECK(kept_of(instance, 10) == 0);
}

}  // namespace

#include "core/timed_socket.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <optional>

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A connected pair over loopback: `near` wrapped in a TimedSocket, `far` a plain socket.
struct Pair {
  asio::io_context io;
  std::optional<fnd::TimedSocket> near;
  tcp::socket far{io};

  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket client(io);
    client.connect(acceptor.local_endpoint());
    far = acceptor.accept();
    near.emplace(std::move(client));
  }
};

struct ReadResult {
  boost::system::error_code ec;
  size_t bytes = 0;
  Clock::duration after{};
};

// Starts one read on `near` and runs the loop until it completes, for at most `within`.
ReadResult read_for(Pair& pair, Clock::duration within, std::function<void()> meanwhile = {}) {
  ReadResult result;
  bool done = false;
  const auto start = Clock::now();
  std::array<char, 64> buffer;
  pair.near->async_read_some(asio::buffer(buffer), [&](boost::system::error_code ec, size_t n) {
    result = {ec, n, Clock::now() - start};
    done = true;
    pair.io.stop();  // the deadline may pass after the read: that is not this read's business
  });
  if (meanwhile) meanwhile();
  pair.io.run_for(within);
  pair.io.restart();
  REQUIRE(done);
  return result;
}

}  // namespace

TEST_CASE("a TimedSocket cuts a read off at its deadline and fails later operations at once", "[unit]") {
  Pair pair;
  pair.near->expires_after(50ms);
  auto first = read_for(pair, 2s);
  CHECK(first.ec);
  CHECK(pair.near->expired());
  CHECK(first.after >= 45ms);
  CHECK(first.after < 1s);
  // The socket was shut down: a later read ends at once instead of waiting for nobody.
  auto second = read_for(pair, 2s);
  CHECK(second.ec);
  CHECK(second.after < 100ms);
}

TEST_CASE("moving a TimedSocket's deadline later keeps the operation alive past the first deadline", "[unit]") {
  Pair pair;
  pair.near->expires_after(40ms);
  pair.near->expires_after(400ms);  // only stores the time: the timer re-arms itself when it fires
  asio::steady_timer writer(pair.io, 150ms);
  auto result = read_for(pair, 2s, [&] {
    writer.async_wait([&](auto) { asio::write(pair.far, asio::buffer("hello", 5)); });
  });
  CHECK_FALSE(result.ec);
  CHECK(result.bytes == 5);
  CHECK_FALSE(pair.near->expired());
  CHECK(result.after >= 140ms);
}

TEST_CASE("moving a TimedSocket's deadline earlier takes effect", "[unit]") {
  Pair pair;
  pair.near->expires_after(30s);
  pair.near->expires_after(50ms);
  auto result = read_for(pair, 5s);
  CHECK(result.ec);
  CHECK(pair.near->expired());
  CHECK(result.after < 1s);
}

TEST_CASE("a TimedSocket without a deadline never expires, and reset() takes a fresh connection", "[unit]") {
  Pair pair;
  pair.near->expires_after(30ms);
  pair.near->expires_never();
  asio::steady_timer writer(pair.io, 120ms);
  auto result = read_for(pair, 2s, [&] {
    writer.async_wait([&](auto) { asio::write(pair.far, asio::buffer("x", 1)); });
  });
  CHECK_FALSE(result.ec);
  CHECK_FALSE(pair.near->expired());

  // Expire it, then hand it a new connection: it is usable again.
  pair.near->expires_after(10ms);
  CHECK(read_for(pair, 2s).ec);
  REQUIRE(pair.near->expired());
  Pair other;
  tcp::acceptor acceptor(pair.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(pair.io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  pair.near->reset(std::move(client));
  CHECK_FALSE(pair.near->expired());
  asio::write(server, asio::buffer("y", 1));
  auto again = read_for(pair, 2s);
  CHECK_FALSE(again.ec);
  CHECK(again.bytes == 1);
}

TEST_CASE("a TimedSocket destroyed while its timer runs leaves nothing behind", "[unit]") {
  Pair pair;
  pair.near->expires_after(20ms);
  pair.near.reset();  // the timer's handler still runs, later, and must not touch the socket
  pair.io.run_for(100ms);
  SUCCEED();
}

#include "response_reader.hpp"

#include <boost/beast/http/error.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

using fnd::scheduler::ResponseHeadStorage;
using fnd::scheduler::ResponseReader;
namespace http = boost::beast::http;

namespace {

struct Parsed {
  unsigned status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
  bool done = false;
  bool keep_alive = false;
};

// Feeds `wire` in pieces of `step` bytes (as reads would deliver it) through a reader whose
// output buffer holds `out_size` bytes, collecting the body as a relay would.
Parsed parse(ResponseHeadStorage& storage, const std::string& wire, size_t step, size_t out_size) {
  ResponseReader reader(storage);
  reader.eager(true);
  reader.body_limit(boost::none);
  std::vector<char> out(out_size);
  reader.set_output(out.data(), out.size());
  Parsed parsed;
  std::string pending;
  size_t fed = 0;
  while (!reader.is_done()) {
    if (pending.empty() || fed < wire.size()) {
      REQUIRE(fed < wire.size());
      size_t n = std::min(step, wire.size() - fed);
      pending.append(wire, fed, n);
      fed += n;
    }
    while (!pending.empty() && !reader.is_done()) {
      boost::beast::error_code ec;
      size_t used = reader.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (reader.body_size() > 0 && (ec == http::error::need_buffer || reader.output_full() || reader.is_done() ||
                                     pending.empty())) {
        parsed.body.append(out.data(), reader.body_size());
        reader.set_output(out.data(), out.size());
      }
      if (ec == http::error::need_more) break;
      if (ec == http::error::need_buffer) continue;
      REQUIRE_FALSE(ec);
      if (used == 0) break;
    }
  }
  if (reader.body_size() > 0) parsed.body.append(out.data(), reader.body_size());
  parsed.status = reader.status();
  parsed.reason = std::string(reader.reason());
  for (const auto& field : reader.fields()) parsed.fields.emplace_back(field.name, field.value);
  parsed.done = reader.is_done();
  parsed.keep_alive = reader.keep_alive();
  return parsed;
}

}  // namespace

TEST_CASE("the response reader keeps end-to-end fields as sent and drops hop-by-hop ones", "[unit]") {
  const std::string wire =
      "HTTP/1.1 201 Made It\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nX-Trace: a b\r\n"
      "Keep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 5\r\n\r\nhello";
  ResponseHeadStorage storage;
  for (size_t step : {wire.size(), size_t{1}, size_t{7}}) {
    INFO("fed " << step << " bytes at a time");
    auto parsed = parse(storage, wire, step, 64);
    CHECK(parsed.done);
    CHECK(parsed.status == 201);
    CHECK(parsed.reason == "Made It");
    using Fields = std::vector<std::pair<std::string, std::string>>;
    CHECK(parsed.fields == Fields{{"Content-Type", "text/plain"}, {"X-Trace", "a b"}, {"Set-Cookie", "a=1"},
                                  {"set-cookie", "b=2"}});
    CHECK(parsed.body == "hello");
    CHECK(parsed.keep_alive);
  }
}

TEST_CASE("the response reader hands a chunked body on through a small output buffer", "[unit]") {
  std::string body;
  for (int i = 0; i < 300; ++i) body += static_cast<char>('a' + i % 26);
  std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0; at < body.size(); at += 97) {
    std::string chunk = body.substr(at, 97);
    char size[16];
    snprintf(size, sizeof size, "%zx\r\n", chunk.size());
    wire += size + chunk + "\r\n";
  }
  wire += "0\r\n\r\n";
  ResponseHeadStorage storage;
  for (size_t step : {wire.size(), size_t{1}, size_t{13}}) {
    INFO("fed " << step << " bytes at a time");
    auto parsed = parse(storage, wire, step, 16);
    CHECK(parsed.done);
    CHECK(parsed.body == body);
    CHECK(parsed.fields.empty());  // Transfer-Encoding is the relay's business
  }
}

TEST_CASE("a response reader reusing storage starts from nothing", "[unit]") {
  ResponseHeadStorage storage;
  parse(storage, "HTTP/1.1 200 OK\r\nX-One: 1\r\nX-Two: 2\r\nContent-Length: 0\r\n\r\n", 1000, 16);
  auto second = parse(storage, "HTTP/1.1 404 Not Found\r\nX-Three: 3\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                      1000, 16);
  CHECK(second.status == 404);
  CHECK(second.reason == "Not Found");
  REQUIRE(second.fields.size() == 1);
  CHECK(second.fields[0].first == "X-Three");
  CHECK_FALSE(second.keep_alive);
}

TEST_CASE("hop-by-hop field names are recognised in any case, and only they", "[unit]") {
  using fnd::scheduler::is_hop_by_hop;
  for (const char* name : {"Connection", "KEEP-ALIVE", "te", "Trailer", "transfer-encoding", "Upgrade", "Content-Length",
                           "Expect", "Proxy-Connection", "proxy-authenticate", "Proxy-Authorization"}) {
    INFO(name);
    CHECK(is_hop_by_hop(name));
  }
  for (const char* name : {"Content-Type", "Host", "X-Forwarded-For", "tee", "Connections", "Expects", "", "Trailers"}) {
    INFO(name);
    CHECK_FALSE(is_hop_by_hop(name));
  }
}

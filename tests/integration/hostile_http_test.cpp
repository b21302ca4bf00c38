// Regression tests for what a careless or hostile HTTP client found (issue 7, items 1, 2 and 6):
// Expect and interim answers, bodies around the documented limits, malformed chunks, and
// running fnd out of connections and file descriptors.
#include <catch2/catch.hpp>
#include <memory>
#include <random>
#include <thread>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

constexpr const char* kHelloSpec = R"({"runtime":"python3","handler":"main.handle"})";
constexpr const char* kHelloSource = "def handle(req):\n    return 'hello ' + req.body.decode()\n";
constexpr const char* kLengthSource = "def handle(req):\n    return str(len(req.body))\n";

// A binary function speaking raw HTTP: before each answer it sends two interim answers
// (103 Early Hints, 100 Continue); /upgrade answers 101; /trailing sends a forged extra answer
// right behind the real one.
constexpr const char* kInterimServerSource = R"(#!/usr/bin/python3
import os, socket, threading
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(os.environ["PORT"])))
listener.listen(64)

def serve(conn):
    pending = b""
    while True:
        while b"\r\n\r\n" not in pending:
            data = conn.recv(65536)
            if not data:
                return
            pending += data
        head, pending = pending.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(pending) < length:
            pending += conn.recv(65536)
        body, pending = pending[:length], pending[length:]
        path = head.split(b" ")[1]
        if path.endswith(b"/upgrade"):
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\nnot http")
            return
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        if path.endswith(b"/trailing"):
            answer += b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + answer)

while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
)";

std::string post_head(const std::string& path, size_t length, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: fnd\r\nContent-Length: " + std::to_string(length) + "\r\n" + extra +
         "\r\n";
}

std::string random_bytes(size_t size) {
  std::mt19937_64 generator(42);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(generator());
  return out;
}

}  // namespace

TEST_CASE("Expect: 100-continue is answered by the gateway and never leaks one client's answer to the next",
          "[integration]") {
  Daemon fnd;
  fnd.deploy("hello", {{"main.py", kHelloSource}}, kHelloSpec);
  REQUIRE(fnd.invoke("hello", "warm").body == "hello warm");

  // Alice waits for 100 Continue before she sends her body, as curl does.
  RawConnection alice(fnd.url());
  REQUIRE(alice.send(post_head("/function/hello", 5, "Expect: 100-continue\r\n")));
  auto interim = alice.read_answer(5s);
  REQUIRE(interim);
  CHECK(interim->status == 100);
  REQUIRE(alice.send("ALICE"));
  auto alice_answer = alice.read_answer(10s);
  REQUIRE(alice_answer);
  CHECK(alice_answer->status == 200);
  CHECK(alice_answer->body == "hello ALICE");

  // Carol sends her body at once anyway; she still gets 100 first, then her own answer.
  RawConnection carol(fnd.url());
  REQUIRE(carol.send(post_head("/function/hello", 5, "Expect: 100-continue\r\n") + "CAROL"));
  auto carol_first = carol.read_answer(10s);
  REQUIRE(carol_first);
  auto carol_answer = carol_first->status == 100 ? carol.read_answer(10s) : carol_first;
  REQUIRE(carol_answer);
  CHECK(carol_answer->body == "hello CAROL");

  // The next clients get their own answers, never an earlier one.
  for (std::string name : {"bob", "dave", "erin"}) {
    HttpAnswer answer = fnd.invoke("hello", name);
    CHECK(answer.status == 200);
    CHECK(answer.body == "hello " + name);
  }

  // Any other expectation is refused with 417 before the body is read.
  RawConnection eve(fnd.url());
  REQUIRE(eve.send(post_head("/function/hello", 3, "Expect: magic\r\n")));
  auto refused = eve.read_answer(5s);
  REQUIRE(refused);
  CHECK(refused->status == 417);
  CHECK_THAT(refused->body, Catch::Contains("expectation_failed"));
}

TEST_CASE("interim answers from a function are skipped and its connection stays at a message boundary",
          "[integration]") {
  Daemon fnd;
  fnd.deploy("interim", {{"server", kInterimServerSource}}, R"({"runtime":"binary","handler":"./server"})",
             {"server"});
  for (std::string body : {"one", "two", "three"}) {
    HttpAnswer answer = fnd.invoke("interim", body);
    INFO(answer.body << answer.transport_error << "\n" << fnd.log());
    CHECK(answer.status == 200);
    CHECK(answer.body == body);
  }

  // Bytes past the end of an answer mark the connection as out of step: it is not reused.
  HttpAnswer trailing = fnd.invoke("interim", "mine", "/trailing");
  CHECK(trailing.body == "mine");
  for (std::string body : {"four", "five"}) CHECK(fnd.invoke("interim", body).body == body);

  // 101 is not relayed: nothing asked for an upgrade.
  HttpAnswer upgraded = fnd.invoke("interim", "x", "/upgrade");
  CHECK(upgraded.status == 502);
  CHECK(upgraded.error_code() == "function_bad_answer");
  CHECK(fnd.invoke("interim", "six").body == "six");
}

TEST_CASE("bodies up to the documented limits pass with a Content-Length, and larger ones get 413 naming the limit",
          "[integration]") {
  Daemon fnd;
  fnd.deploy("length", {{"main.py", kLengthSource}}, kHelloSpec);

  // 2 MiB with a Content-Length: over the HTTP parser's own default, far under limits.max_request_body.
  HttpAnswer two_mib = fnd.invoke("length", std::string(2 << 20, 'x'));
  INFO(two_mib.body);
  CHECK(two_mib.status == 200);
  CHECK(two_mib.body == std::to_string(2 << 20));

  // Exactly the documented limit passes; one byte more is a 413 that names the limit.
  const size_t limit = 16 << 20;
  HttpAnswer at_limit = fnd.invoke("length", std::string(limit, 'y'));
  CHECK(at_limit.status == 200);
  CHECK(at_limit.body == std::to_string(limit));
  HttpAnswer over = fnd.invoke("length", std::string(limit + 1, 'z'));
  CHECK(over.status == 413);
  CHECK(over.error_code() == "request_too_large");
  CHECK_THAT(over.error_message(), Catch::Contains("16Mi") && Catch::Contains("limits.max_request_body"));

  // A 3 MiB code upload (incompressible) is far under limits.max_code_archive (64Mi).
  std::string archive = make_code_archive({{"main.py", kLengthSource}, {"blob.bin", random_bytes(3 << 20)}});
  REQUIRE(archive.size() > (2 << 20));
  HttpAnswer upload = fnd.http("PUT", "/api/v1/functions/length/code", archive, {{"Content-Type", "application/gzip"}});
  INFO(upload.body);
  CHECK(upload.status == 201);
}

TEST_CASE("a malformed chunked body is a 400 and an oversized chunked one a 413", "[integration]") {
  Daemon fnd;
  fnd.deploy("length", {{"main.py", kLengthSource}}, kHelloSpec);

  RawConnection good(fnd.url());
  REQUIRE(good.send("POST /function/length HTTP/1.1\r\nHost: fnd\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  auto good_answer = good.read_answer(10s);
  REQUIRE(good_answer);
  CHECK(good_answer->status == 200);
  CHECK(good_answer->body == "5");

  RawConnection bad(fnd.url());
  REQUIRE(bad.send("POST /function/length HTTP/1.1\r\nHost: fnd\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "zz\r\nnot a chunk\r\n"));
  auto bad_answer = bad.read_answer(5s);
  REQUIRE(bad_answer);
  CHECK(bad_answer->status == 400);
  CHECK_THAT(bad_answer->body, Catch::Contains("malformed request body"));

  RawConnection huge(fnd.url());
  REQUIRE(huge.send("POST /function/length HTTP/1.1\r\nHost: fnd\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string chunk = "100000\r\n" + std::string(0x100000, 'q') + "\r\n";
  for (int i = 0; i < 17 && huge.send(chunk); ++i) {
  }
  auto huge_answer = huge.read_answer(10s);
  REQUIRE(huge_answer);
  CHECK(huge_answer->status == 413);
}

TEST_CASE("limits.max_connections answers 503 beyond the cap and frees the slot when a connection closes",
          "[integration]") {
  Daemon fnd({.config_yaml = "limits:\n  max_connections: 4\n"});
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<RawConnection>(fnd.url()));
    REQUIRE(held.back()->send("GET /healthz HTTP/1.1\r\nHost: fnd\r\n\r\n"));
    auto answer = held.back()->read_answer(5s);
    REQUIRE(answer);
    CHECK(answer->status == 200);
  }
  RawConnection fifth(fnd.url());
  REQUIRE(fifth.send("GET /healthz HTTP/1.1\r\nHost: fnd\r\n\r\n"));
  auto refused = fifth.read_answer(5s);
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK_THAT(refused->body, Catch::Contains("too_many_connections"));

  held.pop_back();
  CHECK(wait_until([&] { return fnd.http("GET", "/healthz").status == 200; }, 5s, 50ms));
}

TEST_CASE("running out of file descriptors neither spins nor keeps fnd from serving once they free up",
          "[integration]") {
  // A limit fnd cannot raise, a connection cap above it, and a short wait for first headers.
  Daemon fnd({.config_yaml = "limits:\n  max_connections: 10000\n  header_timeout: 5s\n", .file_limit = 160});
  fnd.deploy("hello", {{"main.py", kHelloSource}}, kHelloSpec);
  REQUIRE(fnd.invoke("hello", "before").body == "hello before");

  // Idle connections that never send a request, until fnd has no descriptor left.
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 220; ++i) idle.push_back(std::make_unique<RawConnection>(fnd.url()));

  auto cpu_before = fnd.cpu_time();
  std::this_thread::sleep_for(1500ms);
  auto cpu_used = fnd.cpu_time() - cpu_before;
  INFO("fnd used " << cpu_used.count() << " ms of CPU in 1.5 s while out of descriptors");
  CHECK(cpu_used < 300ms);

  // A client arriving now is told at once (limits.header_timeout has not freed anything yet), not
  // left hanging in the backlog.
  RawConnection late(fnd.url());
  REQUIRE(late.send("GET /healthz HTTP/1.1\r\nHost: fnd\r\n\r\n"));
  auto late_answer = late.read_answer(1200ms);
  REQUIRE(late_answer);
  CHECK(late_answer->status == 503);
  CHECK_THAT(late_answer->body, Catch::Contains("out_of_file_descriptors"));

  // The idle connections are closed after limits.header_timeout; fnd then serves again.
  CHECK(wait_until([&] { return fnd.invoke("hello", "after").body == "hello after"; }, 15s, 200ms));

  // The repeats of one failure were limited, not logged thousands of times.
  std::string log = fnd.log();
  size_t accept_lines = 0;
  for (size_t at = 0; (at = log.find("accept: ", at)) != std::string::npos; ++at) ++accept_lines;
  INFO(log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
  CHECK(accept_lines < 40);
}

}  // namespace fnd::test

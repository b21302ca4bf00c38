// The state API's extras (issue 11, item 5): writers racing with If-Match (exactly one wins), a
// transaction that fails writes nothing, bulk gets, shared stores granted to some functions (403
// for the others), and the operators' /api/v1/state with fnctl state, as a user runs them.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace json = boost::json;

constexpr const char* kPythonSpec = R"({"runtime":"python3","handler":"main.handle"})";

// Makes the request its body describes ({"method", "path", "data", "headers"}) through the mesh;
// with "racers": N, makes it N times at once from N threads. Answers [{"status", "etag", "body"}].
constexpr const char* kStateClient =
    "import json, os, threading, urllib.error, urllib.request\n"
    "MESH = os.environ['FN_MESH_URL']\n"
    "def call(order):\n"
    "    data = order['data'].encode() if 'data' in order else None\n"
    "    request = urllib.request.Request(MESH + order['path'], data=data, method=order.get('method', 'GET'),\n"
    "                                     headers=order.get('headers', {}))\n"
    "    try:\n"
    "        with urllib.request.urlopen(request, timeout=30) as answer:\n"
    "            return {'status': answer.status, 'etag': answer.headers.get('ETag'), 'body': answer.read().decode()}\n"
    "    except urllib.error.HTTPError as error:\n"
    "        return {'status': error.code, 'etag': None, 'body': error.read().decode()}\n"
    "def handle(req):\n"
    "    order = json.loads(req.body)\n"
    "    results = [None] * order.get('racers', 1)\n"
    "    def run(i):\n"
    "        results[i] = call(order)\n"
    "    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(results))]\n"
    "    for t in threads: t.start()\n"
    "    for t in threads: t.join()\n"
    "    return results\n";

json::array through_mesh(const Daemon& fnd, const std::string& function, const json::object& order) {
  HttpAnswer answer = fnd.invoke(function, json::serialize(order));
  INFO("order " << json::serialize(order) << " answered " << answer.status << ": " << answer.body);
  REQUIRE(answer.status == 200);
  return answer.json().as_array();
}

json::object one(const Daemon& fnd, const std::string& function, const json::object& order) {
  json::array results = through_mesh(fnd, function, order);
  REQUIRE(results.size() == 1);
  return results[0].as_object();
}

std::string error_code_of(const json::object& result) {
  return json::value_to<std::string>(json::parse(result.at("body").as_string()).at("error").at("code"));
}

}  // namespace

TEST_CASE("writers racing on one key with If-Match: exactly one wins, the others get 412", "[integration][state]") {
  Daemon fnd;
  fnd.deploy("cart", {{"main.py", kStateClient}}, kPythonSpec);
  json::object created = one(fnd, "cart", {{"method", "PUT"}, {"path", "/v1/state/total"}, {"data", "0"}});
  REQUIRE(created.at("status").as_int64() == 201);
  const std::string etag(created.at("etag").as_string());

  for (int round = 0; round < 3; ++round) {
    json::object order{{"method", "PUT"},
                       {"path", "/v1/state/total"},
                       {"data", "round " + std::to_string(round)},
                       {"headers", json::object{{"If-Match", etag}}},
                       {"racers", 8}};
    json::array results = through_mesh(fnd, "cart", order);
    std::map<int64_t, int> statuses;
    std::string winner_etag;
    for (const auto& result : results) {
      ++statuses[result.at("status").as_int64()];
      if (result.at("status").as_int64() == 200) winner_etag = json::value_to<std::string>(result.at("etag"));
      if (result.at("status").as_int64() == 412)
        CHECK(error_code_of(result.as_object()) == "state_precondition_failed");
    }
    INFO("round " << round);
    // Round 0 races on the ETag it read; later rounds on that same, now stale, ETag: nobody wins.
    if (round == 0) {
      CHECK(statuses == std::map<int64_t, int>{{200, 1}, {412, 7}});
      json::object read = one(fnd, "cart", {{"path", "/v1/state/total"}});
      CHECK(read.at("body").as_string() == "round 0");
      CHECK(read.at("etag").as_string() == winner_etag);
    } else {
      CHECK(statuses == std::map<int64_t, int>{{412, 8}});
    }
  }
}

TEST_CASE("a transaction is all or nothing: a failed If-Match names its key and nothing is written",
          "[integration][state]") {
  Daemon fnd;
  fnd.deploy("cart", {{"main.py", kStateClient}}, kPythonSpec);
  json::object seeded = one(fnd, "cart", {{"method", "PUT"}, {"path", "/v1/state/b"}, {"data", "old b"}});
  const std::string etag_b(seeded.at("etag").as_string());

  json::object stale{
      {"ops", json::array{json::object{{"op", "put"}, {"key", "a"}, {"value", "new a"}},
                          json::object{{"op", "put"}, {"key", "b"}, {"value", "new b"}, {"ifMatch", "\"0-0\""}}}}};
  json::object failed = one(fnd, "cart", {{"method", "POST"}, {"path", "/v1/state"}, {"data", json::serialize(stale)}});
  CHECK(failed.at("status").as_int64() == 412);
  CHECK(error_code_of(failed) == "state_precondition_failed");
  CHECK(std::string(failed.at("body").as_string()).find("'b'") != std::string::npos);
  CHECK(one(fnd, "cart", {{"path", "/v1/state/a"}}).at("status").as_int64() == 404);
  CHECK(one(fnd, "cart", {{"path", "/v1/state/b"}}).at("body").as_string() == "old b");

  json::object good{
      {"ops", json::array{json::object{{"op", "put"}, {"key", "a"}, {"value", "new a"}, {"ttl", "1h"}},
                          json::object{{"op", "put"}, {"key", "b"}, {"value", "new b"}, {"ifMatch", etag_b}},
                          json::object{{"op", "delete"}, {"key", "c"}}}}};
  json::object applied = one(fnd, "cart", {{"method", "POST"}, {"path", "/v1/state"}, {"data", json::serialize(good)}});
  INFO(applied.at("body").as_string());
  CHECK(applied.at("status").as_int64() == 200);
  json::array results = json::parse(applied.at("body").as_string()).at("results").as_array();
  REQUIRE(results.size() == 3);
  CHECK(results[1].at("existed").as_bool());
  CHECK_FALSE(results[2].at("existed").as_bool());

  // A bulk get reads several keys at one instant; a missing one says so.
  json::object bulk{{"get", json::array{"a", "b", "nope"}}};
  json::object got = one(fnd, "cart", {{"method", "POST"}, {"path", "/v1/state"}, {"data", json::serialize(bulk)}});
  REQUIRE(got.at("status").as_int64() == 200);
  json::array entries = json::parse(got.at("body").as_string()).at("entries").as_array();
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].at("value").as_string() == "new a");
  CHECK(entries[0].as_object().contains("expiresAt"));
  CHECK(entries[1].at("value").as_string() == "new b");
  CHECK(entries[2].at("found").as_bool() == false);
}

TEST_CASE("a shared store serves the functions it grants and refuses the others with 403", "[integration][state]") {
  Daemon fnd;
  fnd.deploy("checkout", {{"main.py", kStateClient}}, kPythonSpec);
  fnd.deploy("pricing", {{"main.py", kStateClient}}, kPythonSpec);
  fnd.deploy("mallory", {{"main.py", kStateClient}}, kPythonSpec);

  // Not created yet: nobody may use it.
  json::object early = one(fnd, "checkout", {{"path", "/v1/stores/carts/cart-3"}});
  CHECK(early.at("status").as_int64() == 403);
  CHECK(error_code_of(early) == "state_store_forbidden");

  CommandResult granted = fnd.run_fnctl({"state", "grant", "carts", "checkout", "pricing"});
  INFO("fnctl: " << granted.out << granted.err);
  REQUIRE(granted.exit_code == 0);
  CHECK(granted.out.find("checkout, pricing") != std::string::npos);

  json::object put = one(fnd, "checkout", {{"method", "PUT"}, {"path", "/v1/stores/carts/cart-3"}, {"data", "[7]"}});
  CHECK(put.at("status").as_int64() == 201);
  CHECK(one(fnd, "pricing", {{"path", "/v1/stores/carts/cart-3"}}).at("body").as_string() == "[7]");
  json::object denied = one(fnd, "mallory", {{"path", "/v1/stores/carts/cart-3"}});
  CHECK(denied.at("status").as_int64() == 403);
  CHECK(std::string(denied.at("body").as_string()).find("function 'mallory' may not use the shared store 'carts'") !=
        std::string::npos);
  // The caller's own store is apart from the shared one.
  CHECK(one(fnd, "checkout", {{"path", "/v1/state/cart-3"}}).at("status").as_int64() == 404);

  CommandResult revoked = fnd.run_fnctl({"state", "revoke", "carts", "pricing"});
  REQUIRE(revoked.exit_code == 0);
  CHECK(one(fnd, "pricing", {{"path", "/v1/stores/carts/cart-3"}}).at("status").as_int64() == 403);

  // Operators read it too.
  CommandResult read = fnd.run_fnctl({"state", "get", "cart-3", "--store", "carts"});
  CHECK(read.exit_code == 0);
  CHECK(read.out == "[7]");
}

TEST_CASE("fnctl state get, put, ls and del work on a function's keys as the function sees them",
          "[integration][state]") {
  Daemon fnd;
  fnd.deploy("checkout", {{"main.py", kStateClient}}, kPythonSpec);
  one(fnd, "checkout", {{"method", "PUT"}, {"path", "/v1/state/cart-3"}, {"data", "[7]"}});

  CommandResult get = fnd.run_fnctl({"state", "get", "cart-3", "--function", "checkout"});
  INFO(get.out << get.err);
  CHECK(get.exit_code == 0);
  CHECK(get.out == "[7]");
  CommandResult put = fnd.run_fnctl({"state", "put", "cart-4", "[1,2]", "--function", "checkout", "--ttl", "1h"});
  INFO(put.out << put.err);
  CHECK(put.exit_code == 0);
  CHECK(put.out.find("created cart-4") != std::string::npos);
  CHECK(one(fnd, "checkout", {{"path", "/v1/state/cart-4"}}).at("body").as_string() == "[1,2]");
  CommandResult stale =
      fnd.run_fnctl({"state", "put", "cart-4", "x", "--function", "checkout", "--if-match", "\"1-1\""});
  CHECK(stale.exit_code != 0);
  CHECK(stale.err.find("cart-4") != std::string::npos);
  CommandResult ls = fnd.run_fnctl({"state", "ls", "cart-", "--function", "checkout"});
  CHECK(ls.exit_code == 0);
  CHECK(ls.out.find("cart-3") != std::string::npos);
  CHECK(ls.out.find("cart-4") != std::string::npos);
  CommandResult del = fnd.run_fnctl({"state", "del", "cart-3", "--function", "checkout"});
  CHECK(del.exit_code == 0);
  CHECK(one(fnd, "checkout", {{"path", "/v1/state/cart-3"}}).at("status").as_int64() == 404);
  CommandResult neither = fnd.run_fnctl({"state", "get", "cart-3"});
  CHECK(neither.exit_code != 0);
  CHECK(neither.err.find("--function NAME") != std::string::npos);
  // An operator API path that names nothing says what exists.
  HttpAnswer wrong = fnd.http("GET", "/api/v1/state/nothing");
  CHECK(wrong.status == 404);
}

}  // namespace fnd::test

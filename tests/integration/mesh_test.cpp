// The node-level mesh endpoint inside every instance (issue 11, item 2, with the state API of item
// 5 and event publishing): real python3 functions calling each other through FN_MESH_URL and
// HTTP_PROXY, keeping state, publishing events; the caller's identity taken from the instance,
// never from headers; the endpoint up before a function's module runs, on plain and stem-cell
// starts; no thread per instance.
#include <dirent.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace json = boost::json;

constexpr const char* kPythonSpec = R"({"runtime":"python3","handler":"main.handle"})";

// The callee: says what it was asked and who fnd says called it.
constexpr const char* kPricing =
    "def handle(req):\n"
    "    if req.path == '/teapot':\n"
    "        return (418, 'short and stout', {'X-Tea': 'earl grey'})\n"
    "    h = req.headers\n"
    "    return (200, f\"quote for sku {req.query.get('sku')} at {req.path} for {h.get('x-fnd-caller')} \"\n"
    "                 f\"host {h.get('host')} forged {h.get('fn-caller')}\", {'X-Price': '42'})\n";

// The example of the issue, as written.
constexpr const char* kCheckout =
    "import os, urllib.request\n"
    "def handle(req):\n"
    "    mesh = os.environ['FN_MESH_URL']\n"
    "    with urllib.request.urlopen(f'{mesh}/fn/pricing/quote?sku=7') as answer:\n"
    "        return (answer.status, f\"{mesh} {answer.headers['X-Price']} {answer.read().decode()}\")\n";

// Makes the request its body describes ({"method", "path" (after FN_MESH_URL) or "url", "data",
// "headers"}) with urllib, and answers {"status", "headers", "body"}; {"env": [NAMES]} answers
// those variables instead.
constexpr const char* kMeshClient =
    "import json, os, urllib.error, urllib.request\n"
    "MESH = os.environ['FN_MESH_URL']\n"
    "def handle(req):\n"
    "    order = json.loads(req.body)\n"
    "    if 'env' in order:\n"
    "        return {name: os.environ.get(name) for name in order['env']}\n"
    "    url = order.get('url') or MESH + order['path']\n"
    "    data = order['data'].encode() if 'data' in order else None\n"
    "    request = urllib.request.Request(url, data=data, method=order.get('method', 'GET'),\n"
    "                                     headers=order.get('headers', {}))\n"
    "    try:\n"
    "        with urllib.request.urlopen(request, timeout=30) as answer:\n"
    "            status, headers, body = answer.status, answer.headers, answer.read()\n"
    "    except urllib.error.HTTPError as error:\n"
    "        status, headers, body = error.code, error.headers, error.read()\n"
    "    return {'status': status, 'headers': {k.lower(): v for k, v in headers.items()}, 'body': body.decode()}\n";

// Writes a key through the mesh while its module is imported: before the function serves anything.
constexpr const char* kAtImport =
    "import os, urllib.request\n"
    "try:\n"
    "    request = urllib.request.Request(os.environ['FN_MESH_URL'] + '/v1/state/boot', data=b'at-import', "
    "method='PUT')\n"
    "    with urllib.request.urlopen(request, timeout=10) as answer:\n"
    "        AT_IMPORT = f'{answer.status} {answer.read().decode().strip()}'\n"
    "except Exception as error:\n"
    "    AT_IMPORT = f'failed: {error!r}'\n"
    "def handle(req):\n"
    "    return AT_IMPORT\n";

// Prints one line per event it receives.
constexpr const char* kRecorder =
    "def handle(req):\n"
    "    print('got', req.headers.get('ce-id'), req.headers.get('ce-source'), req.body.decode(), flush=True)\n"
    "    return ''\n";

struct MeshAnswer {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string error_code() const { return json::value_to<std::string>(json::parse(body).at("error").at("code")); }
  std::string error_message() const { return json::value_to<std::string>(json::parse(body).at("error").at("message")); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Has the mesh client function `client` make the request `order` describes from inside its instance.
MeshAnswer through_mesh(const Daemon& fnd, const std::string& client, const json::object& order) {
  HttpAnswer answer = fnd.invoke(client, json::serialize(order));
  INFO("order " << json::serialize(order) << " answered " << answer.status << ": " << answer.body
                << answer.transport_error);
  REQUIRE(answer.status == 200);
  json::object out = answer.json().as_object();
  MeshAnswer mesh;
  mesh.status = out.at("status").as_int64();
  for (const auto& field : out.at("headers").as_object()) {
    mesh.headers[std::string(field.key())] = json::value_to<std::string>(field.value());
  }
  mesh.body = json::value_to<std::string>(out.at("body"));
  return mesh;
}

// The value of a /metrics line that starts with `series`, or -1.
long metric(const Daemon& fnd, const std::string& series) {
  std::istringstream lines(fnd.http("GET", "/metrics").body);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::stol(line.substr(series.size() + 1));
  }
  return -1;
}

std::string logs(const Daemon& fnd, const std::string& name) {
  return fnd.http("GET", "/api/v1/functions/" + name + "/logs").body;
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

size_t thread_count(pid_t pid) {
  size_t count = 0;
  DIR* tasks = ::opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
  if (!tasks) return 0;
  while (dirent* entry = ::readdir(tasks)) count += entry->d_name[0] != '.' ? 1 : 0;
  ::closedir(tasks);
  return count;
}

DaemonOptions with_python_cell() {
  DaemonOptions options;
  options.warm_pools = true;
  options.config_yaml = "scheduler:\n  stem_cells:\n    python3: 1\n    shell: 0\n    node: 0\n";
  return options;
}

// Ids of this daemon's running containers whose id starts with `prefix`.
std::vector<std::string> running_containers(const Daemon& fnd, const std::string& prefix) {
  CommandResult listing = run_command({"crun", "--root", fnd.state_dir() + "/oci", "list"});
  std::vector<std::string> ids;
  std::istringstream lines(listing.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, pid, status;
    fields >> id >> pid >> status;
    if (id.starts_with(prefix) && status == "running") ids.push_back(id);
  }
  return ids;
}

// GET http://127.0.0.1:15001`path` from inside the network namespace of container `id` (as root
// on the host, with nsenter): "STATUS BODY".
std::string get_inside(const Daemon& fnd, const std::string& id, const std::string& path) {
  CommandResult state = run_command({"crun", "--root", fnd.state_dir() + "/oci", "state", id});
  INFO("crun state " << id << ": " << state.out << state.err);
  REQUIRE(state.exit_code == 0);
  const std::string pid = std::to_string(json::parse(state.out).at("pid").as_int64());
  const std::string script =
      "import sys, urllib.request, urllib.error\n"
      "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
      "try:\n"
      "    answer = opener.open('http://127.0.0.1:15001' + sys.argv[1], timeout=10)\n"
      "    print(answer.status, answer.read().decode().strip())\n"
      "except urllib.error.HTTPError as error:\n"
      "    print(error.code, error.read().decode().strip())\n";
  CommandResult run = run_command({"nsenter", "-t", pid, "-n", "python3", "-c", script, path});
  INFO("nsenter: " << run.err);
  REQUIRE(run.exit_code == 0);
  std::string out = run.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("a function calls another by name through FN_MESH_URL and gets its answer, and the callee learns who called",
          "[integration][mesh]") {
  Daemon fnd;
  fnd.deploy("pricing", {{"main.py", kPricing}}, kPythonSpec);
  fnd.deploy("checkout", {{"main.py", kCheckout}}, kPythonSpec);

  // pricing is cold: the call through the mesh starts it.
  HttpAnswer answer = fnd.invoke("checkout");
  INFO("answer: " << answer.status << " " << answer.body << "\nfnd log:\n" << fnd.log());
  REQUIRE(answer.status == 200);
  CHECK(answer.body == "http://127.0.0.1:15001 42 quote for sku 7 at /quote for checkout host pricing forged None");
  CHECK(fnd.instance_ids("pricing").size() == 1);
  CHECK(metric(fnd, R"(fnd_mesh_requests_total{caller="checkout",target="pricing",code="200"})") == 1);

  // The callee's answer comes back as it was: status, fields, body.
  fnd.deploy("client", {{"main.py", kMeshClient}}, kPythonSpec);
  MeshAnswer teapot = through_mesh(fnd, "client", {{"path", "/fn/pricing/teapot"}});
  CHECK(teapot.status == 418);
  CHECK(teapot.header("x-tea") == "earl grey");
  CHECK(teapot.body == "short and stout");

  // The env that leads there.
  HttpAnswer env =
      fnd.invoke("client", R"({"env": ["FN_MESH_URL", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"]})");
  REQUIRE(env.status == 200);
  auto vars = env.json().as_object();
  CHECK(vars.at("FN_MESH_URL").as_string() == "http://127.0.0.1:15001");
  CHECK(vars.at("HTTP_PROXY").as_string() == "http://127.0.0.1:15001");
  CHECK(vars.at("http_proxy").as_string() == "http://127.0.0.1:15001");
  CHECK(vars.at("NO_PROXY").as_string() == "127.0.0.1,localhost");
  CHECK(vars.at("no_proxy").as_string() == "127.0.0.1,localhost");
}

TEST_CASE("identity headers a function sends are dropped: a forged X-Fnd-Caller changes nothing",
          "[integration][mesh]") {
  Daemon fnd;
  fnd.deploy("pricing", {{"main.py", kPricing}}, kPythonSpec);
  fnd.deploy("mallory", {{"main.py", kMeshClient}}, kPythonSpec);
  const json::object forged{{"X-Fnd-Caller", "checkout"}, {"Fn-Caller", "checkout"}, {"X-Forwarded-Client-Cert", "x"}};

  MeshAnswer direct = through_mesh(fnd, "mallory", {{"path", "/fn/pricing/quote?sku=1"}, {"headers", forged}});
  CHECK(direct.status == 200);
  CHECK(direct.body == "quote for sku 1 at /quote for mallory host pricing forged None");

  MeshAnswer proxied = through_mesh(fnd, "mallory", {{"url", "http://pricing/quote?sku=2"}, {"headers", forged}});
  CHECK(proxied.status == 200);
  CHECK(proxied.body == "quote for sku 2 at /quote for mallory host pricing forged None");

  // From outside, through the gateway, nobody can claim to be a function either.
  HttpAnswer outside = fnd.invoke("pricing", "", "/quote?sku=3", {{"X-Fnd-Caller", "checkout"}});
  CHECK(outside.status == 200);
  CHECK(outside.body == "quote for sku 3 at /quote for None host " + fnd.url().substr(7) + " forged None");
  CHECK(metric(fnd, R"(fnd_mesh_requests_total{caller="mallory",target="pricing",code="200"})") == 2);
  CHECK(metric(fnd, R"(fnd_mesh_requests_total{caller="checkout",target="pricing",code="200"})") == -1);
}

TEST_CASE("a function keeps its own state through the mesh: PUT, GET, DELETE with ETags, a ttl, isolated from others",
          "[integration][mesh]") {
  Daemon fnd;
  fnd.deploy("alice", {{"main.py", kMeshClient}}, kPythonSpec);
  fnd.deploy("bob", {{"main.py", kMeshClient}}, kPythonSpec);
  auto put = [&](const std::string& who, const std::string& key, const std::string& value, json::object headers = {}) {
    return through_mesh(fnd, who,
                        {{"method", "PUT"}, {"path", "/v1/state/" + key}, {"data", value}, {"headers", headers}});
  };
  auto get = [&](const std::string& who, const std::string& key) {
    return through_mesh(fnd, who, {{"path", "/v1/state/" + key}});
  };
  auto del = [&](const std::string& who, const std::string& key, json::object headers = {}) {
    return through_mesh(fnd, who, {{"method", "DELETE"}, {"path", "/v1/state/" + key}, {"headers", headers}});
  };

  MeshAnswer created = put("alice", "cart-3", "[7]");
  INFO(created.body);
  REQUIRE(created.status == 201);
  const std::string first_etag = created.header("etag");
  REQUIRE_FALSE(first_etag.empty());
  CHECK(json::value_to<std::string>(json::parse(created.body).at("etag")) == first_etag);

  MeshAnswer read = get("alice", "cart-3");
  CHECK(read.status == 200);
  CHECK(read.body == "[7]");
  CHECK(read.header("etag") == first_etag);

  // Optimistic concurrency: a stale ETag loses, the current one wins and changes it.
  MeshAnswer stale = put("alice", "cart-3", "[9]", {{"If-Match", "\"0-0\""}});
  CHECK(stale.status == 412);
  CHECK(stale.error_code() == "state_precondition_failed");
  MeshAnswer updated = put("alice", "cart-3", "[7,8]", {{"If-Match", first_etag}});
  CHECK(updated.status == 200);
  const std::string second_etag = updated.header("etag");
  CHECK_FALSE(second_etag.empty());
  CHECK(second_etag != first_etag);
  CHECK(put("alice", "cart-3", "[1]", {{"If-None-Match", "*"}}).status == 412);
  CHECK(put("alice", "cart-new", "[1]", {{"If-None-Match", "*"}}).status == 201);

  // Each function has its own store.
  MeshAnswer missing = get("bob", "cart-3");
  CHECK(missing.status == 404);
  CHECK(missing.error_code() == "state_key_not_found");
  CHECK(put("bob", "cart-3", "bob's").status == 201);
  CHECK(get("alice", "cart-3").body == "[7,8]");

  // Listing by prefix.
  REQUIRE(put("alice", "cart-4", "x").status == 201);
  REQUIRE(put("alice", "other-1", "y").status == 201);
  MeshAnswer listed = through_mesh(fnd, "alice", {{"path", "/v1/state?prefix=cart-"}});
  INFO(listed.body);
  REQUIRE(listed.status == 200);
  std::vector<std::string> keys;
  const json::value page = json::parse(listed.body);
  for (const auto& item : page.at("keys").as_array()) keys.push_back(json::value_to<std::string>(item.at("key")));
  CHECK(keys == std::vector<std::string>{"cart-3", "cart-4", "cart-new"});

  // Deletes, with and without a precondition.
  CHECK(del("alice", "cart-3", {{"If-Match", first_etag}}).status == 412);
  CHECK(del("alice", "cart-3").status == 204);
  CHECK(get("alice", "cart-3").status == 404);
  CHECK(del("alice", "cart-3").status == 404);
  CHECK(get("bob", "cart-3").body == "bob's");

  // A key with a ttl is gone once it expires.
  REQUIRE(put("alice", "short?ttl=1s", "soon gone").status == 201);
  CHECK(get("alice", "short").status == 200);
  CHECK(wait_until([&] { return get("alice", "short").status == 404; }, 10s, 200ms));
  CHECK(metric(fnd, R"(fnd_mesh_requests_total{caller="bob",target="state",code="201"})") == 1);
}

TEST_CASE("an event published through the mesh reaches a trigger's subscriber", "[integration][mesh]") {
  Daemon fnd;
  fnd.deploy("recorder", {{"main.py", kRecorder}}, kPythonSpec);
  fnd.deploy("publisher", {{"main.py", kMeshClient}}, kPythonSpec);
  HttpAnswer trigger =
      fnd.http("PUT", "/api/v1/triggers/mesh-events",
               R"({"filters": [{"exact": {"type": "com.example.mesh"}}], "subscriber": "function:recorder"})",
               {{"Content-Type", "application/json"}});
  INFO(trigger.body);
  REQUIRE(trigger.status == 201);

  MeshAnswer binary = through_mesh(fnd, "publisher",
                                   {{"method", "POST"},
                                    {"path", "/v1/events/default"},
                                    {"data", R"({"n":1})"},
                                    {"headers",
                                     {{"ce-specversion", "1.0"},
                                      {"ce-id", "m-1"},
                                      {"ce-source", "/checkout"},
                                      {"ce-type", "com.example.mesh"},
                                      {"Content-Type", "application/json"}}}});
  INFO(binary.body);
  CHECK(binary.status == 202);
  CHECK(json::parse(binary.body).at("accepted").as_int64() == 1);

  MeshAnswer structured = through_mesh(
      fnd, "publisher",
      {{"method", "POST"},
       {"path", "/v1/events/default"},
       {"data", R"({"specversion":"1.0","id":"m-2","source":"/checkout","type":"com.example.mesh","data":{"n":2}})"},
       {"headers", {{"Content-Type", "application/cloudevents+json"}}}});
  INFO(structured.body);
  CHECK(structured.status == 202);

  MeshAnswer nowhere =
      through_mesh(fnd, "publisher",
                   {{"method", "POST"},
                    {"path", "/v1/events/nosuch"},
                    {"data", "{}"},
                    {"headers", {{"ce-specversion", "1.0"}, {"ce-id", "m-3"}, {"ce-source", "/x"}, {"ce-type", "t"}}}});
  CHECK(nowhere.status == 404);
  CHECK(nowhere.error_code() == "broker_not_found");

  CHECK(wait_until(
      [&] {
        std::string seen = logs(fnd, "recorder");
        return contains(seen, "got m-1 /checkout {\"n\":1}") && contains(seen, "got m-2 /checkout {\"n\":2}");
      },
      20s));
  CHECK(metric(fnd, R"(fnd_mesh_requests_total{caller="publisher",target="events:default",code="202"})") == 2);
}

TEST_CASE("unmodified HTTP clients reach functions by name through HTTP_PROXY, or by Host", "[integration][mesh]") {
  Daemon fnd;
  fnd.deploy("pricing", {{"main.py", kPricing}}, kPythonSpec);
  fnd.deploy("legacy", {{"main.py", kMeshClient}}, kPythonSpec);

  MeshAnswer proxied = through_mesh(fnd, "legacy", {{"url", "http://pricing/quote?sku=7"}});
  INFO(proxied.body);
  CHECK(proxied.status == 200);
  CHECK(proxied.body == "quote for sku 7 at /quote for legacy host pricing forged None");
  CHECK(proxied.header("x-price") == "42");

  MeshAnswer by_host = through_mesh(fnd, "legacy", {{"path", "/quote?sku=8"}, {"headers", {{"Host", "pricing"}}}});
  CHECK(by_host.status == 200);
  CHECK(by_host.body == "quote for sku 8 at /quote for legacy host pricing forged None");

  MeshAnswer unknown = through_mesh(fnd, "legacy", {{"url", "http://nosuch/quote"}});
  CHECK(unknown.status == 404);
  CHECK(unknown.error_code() == "function_not_found");
  CHECK(metric(fnd, R"(fnd_mesh_requests_total{caller="legacy",target="pricing",code="200"})") == 2);
  CHECK(metric(fnd, R"(fnd_mesh_requests_total{caller="legacy",target="-",code="404"})") == 1);
}

TEST_CASE("what the mesh does not serve is a JSON error saying what it does serve", "[integration][mesh]") {
  Daemon fnd;
  fnd.deploy("client", {{"main.py", kMeshClient}}, kPythonSpec);

  MeshAnswer service = through_mesh(fnd, "client", {{"path", "/svc/users/v1/users/3"}});
  CHECK(service.status == 404);
  CHECK(service.error_code() == "service_not_found");
  CHECK(service.header("x-fnd-error") == "1");

  MeshAnswer nothing = through_mesh(fnd, "client", {{"path", "/function/pricing"}});
  CHECK(nothing.status == 404);
  CHECK(nothing.error_code() == "not_found");
  CHECK_THAT(nothing.error_message(), Catch::Contains("/fn/NAME"));

  MeshAnswer ghost = through_mesh(fnd, "client", {{"path", "/fn/ghost/x"}});
  CHECK(ghost.status == 404);
  CHECK(ghost.error_code() == "function_not_found");

  // POST /v1/state takes bulk gets and transactions; other methods are refused.
  MeshAnswer wrong_method = through_mesh(fnd, "client", {{"method", "PATCH"}, {"path", "/v1/state"}, {"data", "x"}});
  CHECK(wrong_method.status == 405);
  MeshAnswer not_json = through_mesh(fnd, "client", {{"method", "POST"}, {"path", "/v1/state"}, {"data", "x"}});
  CHECK(not_json.status == 400);
}

TEST_CASE("the mesh answers at the first line of a function's module on a plain start", "[integration][mesh]") {
  Daemon fnd;
  fnd.deploy("early", {{"main.py", kAtImport}}, kPythonSpec);
  HttpAnswer answer = fnd.invoke("early");
  INFO(answer.body << "\nfnd log:\n" << fnd.log());
  CHECK(answer.status == 200);
  CHECK(answer.body.starts_with(R"(201 {"key":"boot","etag":)"));
  auto described = fnd.describe("early");
  CHECK(described.at("instances").as_array().at(0).at("origin").as_string() == "container");
}

TEST_CASE("a stem cell's mesh answers 503 until a function takes it, then at the first line of its module",
          "[integration][mesh]") {
  Daemon fnd(with_python_cell());
  REQUIRE(wait_until([&] { return metric(fnd, R"(fnd_stem_cells_ready{runtime="python3"})") >= 1; }, 20s, 50ms));
  std::vector<std::string> cells = running_containers(fnd, "cell-python3-");
  REQUIRE(cells.size() == 1);
  const std::string cell = cells.front();

  // Nobody to speak for yet.
  std::string before = get_inside(fnd, cell, "/v1/state/boot");
  CHECK(before.starts_with("503 "));
  CHECK(contains(before, "instance_not_assigned"));

  fnd.deploy("early", {{"main.py", kAtImport}}, kPythonSpec);
  HttpAnswer answer = fnd.invoke("early");
  INFO(answer.body << "\nfnd log:\n" << fnd.log());
  CHECK(answer.status == 200);
  CHECK(answer.body.starts_with(R"(201 {"key":"boot","etag":)"));
  auto described = fnd.describe("early");
  CHECK(described.at("instances").as_array().at(0).at("origin").as_string() == "stem cell");
  REQUIRE(fnd.instance_ids("early") == std::set<std::string>{cell});

  // The cell's listener now speaks for the function: its store, its key.
  CHECK(get_inside(fnd, cell, "/v1/state/boot") == "200 at-import");
}

TEST_CASE("a pre-created container's mesh listens before its process starts, as its function", "[integration][mesh]") {
  DaemonOptions options = with_python_cell();
  options.config_yaml = "scheduler:\n  stem_cells:\n    python3: 0\n    shell: 0\n    node: 0\n";
  Daemon fnd(options);
  // Env the interpreter reads at start keeps a function off stem cells: a container is created ahead.
  fnd.deploy("ahead", {{"main.py", kAtImport}},
             R"({"runtime":"python3","handler":"main.handle","env":{"PYTHONHASHSEED":"1"}})");
  REQUIRE(wait_until([&] { return metric(fnd, "fnd_precreated_containers") == 1; }, 20s, 50ms));
  CommandResult listing = run_command({"crun", "--root", fnd.state_dir() + "/oci", "list"});
  std::string created;
  std::istringstream lines(listing.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, pid, status;
    fields >> id >> pid >> status;
    if (id.starts_with("ahead-") && status == "created") created = id;
  }
  INFO(listing.out);
  REQUIRE_FALSE(created.empty());
  // Nothing of the function runs yet, but its mesh answers for it already.
  std::string before = get_inside(fnd, created, "/v1/state/boot");
  CHECK(before.starts_with("404 "));
  CHECK(contains(before, "state_key_not_found"));

  HttpAnswer answer = fnd.invoke("ahead");
  INFO(answer.body << "\nfnd log:\n" << fnd.log());
  CHECK(answer.status == 200);
  CHECK(answer.body.starts_with(R"(201 {"key":"boot","etag":)"));
  auto described = fnd.describe("ahead");
  CHECK(described.at("instances").as_array().at(0).at("origin").as_string() == "pre-created");
  CHECK(fnd.instance_ids("ahead") == std::set<std::string>{created});
}

TEST_CASE("the mesh costs no thread per instance: 20 instances, each using it, add no threads to fnd",
          "[integration][mesh]") {
  Daemon fnd;
  fnd.deploy(
      "worker",
      {{"main.py",
        "import os, time, urllib.request, urllib.error\n"
        "def handle(req):\n"
        "    try:\n"
        "        urllib.request.urlopen(os.environ['FN_MESH_URL'] + '/v1/state/none', timeout=10)\n"
        "        seen = 'found'\n"
        "    except urllib.error.HTTPError as error:\n"
        "        seen = str(error.code)\n"
        "    time.sleep(float(req.query.get('hold', '0')))\n"
        "    return seen\n"}},
      R"({"runtime":"python3","handler":"main.handle","scale":{"concurrency":1,"max":25},"resources":{"memory":"64Mi"}})");
  REQUIRE(fnd.invoke("worker").body == "404");
  const size_t threads_before = thread_count(fnd.pid());
  REQUIRE(threads_before > 0);

  std::vector<std::future<HttpAnswer>> calls;
  for (int i = 0; i < 20; ++i) {
    calls.push_back(std::async(std::launch::async, [&fnd] { return fnd.invoke("worker", "", "?hold=8"); }));
  }
  const bool all_up = wait_until([&] { return fnd.instance_ids("worker").size() >= 20; }, 40s, 100ms);
  const size_t threads_during = thread_count(fnd.pid());
  for (auto& call : calls) {
    HttpAnswer answer = call.get();
    CHECK(answer.status == 200);
    CHECK(answer.body == "404");
  }
  INFO("fnd log:\n" << fnd.log());
  REQUIRE(all_up);
  INFO("threads before " << threads_before << ", with 20 instances " << threads_during);
  // Slack for a namespace being made (a short-lived thread each) as the sample is taken.
  CHECK(threads_during <= threads_before + 2);
  CHECK(metric(fnd, R"(fnd_mesh_requests_total{caller="worker",target="state",code="404"})") == 21);
}

}  // namespace fnd::test

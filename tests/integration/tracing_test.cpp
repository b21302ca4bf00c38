// W3C trace context across hops (issue 11, item 8): made at the gateway when a client sends none,
// kept through every mesh call a function makes with the traceparent it got, and carried by
// events to the functions they are delivered to; each hop a span of its own and a line in the
// access log with its trace id.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <regex>
#include <string>
#include <vector>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace json = boost::json;

constexpr const char* kPythonSpec = R"({"runtime":"python3","handler":"main.handle"})";

constexpr const char* kPricing =
    "def handle(req):\n"
    "    return req.headers.get('traceparent', 'none')\n";

// Calls pricing through the mesh, passing on the traceparent it got (as instrumented code does).
constexpr const char* kCheckout =
    "import os, urllib.request\n"
    "def handle(req):\n"
    "    mine = req.headers.get('traceparent', 'none')\n"
    "    request = urllib.request.Request(os.environ['FN_MESH_URL'] + '/fn/pricing/quote',\n"
    "                                     headers={'traceparent': mine})\n"
    "    with urllib.request.urlopen(request, timeout=30) as answer:\n"
    "        return {'mine': mine, 'pricing_saw': answer.read().decode()}\n";

constexpr const char* kRecorder =
    "def handle(req):\n"
    "    print('event', req.headers.get('ce-id'), 'traceparent', req.headers.get('traceparent'), flush=True)\n"
    "    return ''\n";

struct AccessLine {
  std::string hop, target, caller, trace_id, span_id;
  int status = 0;
};

std::vector<AccessLine> access_lines(const Daemon& fnd) {
  static const std::regex line(
      R"re(access hop=(\w+) method=\w+ target="([^"]*)" function=\S+ caller=(\S+) status=(\d+) duration_ms=[0-9.]+ )re"
      R"re(trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16}))re");
  std::vector<AccessLine> out;
  const std::string log = fnd.log();
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    out.push_back({m[1].str(), m[2].str(), m[3].str(), m[5].str(), m[6].str(), std::stoi(m[4].str())});
  }
  return out;
}

// "00-TRACE-PARENT-01" -> {TRACE, PARENT}; REQUIREs the shape.
std::pair<std::string, std::string> ids_of(const std::string& traceparent) {
  static const std::regex shape(R"(00-([0-9a-f]{32})-([0-9a-f]{16})-01)");
  std::smatch m;
  INFO("traceparent '" << traceparent << "'");
  REQUIRE(std::regex_match(traceparent, m, shape));
  return {m[1].str(), m[2].str()};
}

DaemonOptions with_access_log() {
  DaemonOptions options;
  options.config_yaml = "access_log: true\n";
  return options;
}

}  // namespace

TEST_CASE("a function calling another through the mesh keeps the trace id of the gateway's access log line",
          "[integration][tracing]") {
  Daemon fnd(with_access_log());
  fnd.deploy("pricing", {{"main.py", kPricing}}, kPythonSpec);
  fnd.deploy("checkout", {{"main.py", kCheckout}}, kPythonSpec);

  HttpAnswer answer = fnd.http("GET", "/function/checkout");
  INFO(answer.status << " " << answer.body << "\n" << fnd.log());
  REQUIRE(answer.status == 200);
  json::object seen = answer.json().as_object();
  auto [checkout_trace, checkout_parent] = ids_of(std::string(seen.at("mine").as_string()));
  auto [pricing_trace, pricing_parent] = ids_of(std::string(seen.at("pricing_saw").as_string()));

  // The gateway writes its line once the answer is sent: the client may have it a moment before.
  std::vector<AccessLine> lines;
  CHECK(wait_until(
      [&] {
        lines = access_lines(fnd);
        return lines.size() >= 2;
      },
      5s));
  REQUIRE(lines.size() == 2);
  const AccessLine& mesh = lines[0];  // the inner call ends first
  const AccessLine& gateway = lines[1];
  CHECK(gateway.hop == "gateway");
  CHECK(gateway.target == "/function/checkout");
  CHECK(gateway.status == 200);
  CHECK(mesh.hop == "mesh");
  CHECK(mesh.target == "/fn/pricing/quote");
  CHECK(mesh.caller == "checkout");
  // One trace across both hops, each hop's span the parent of the next function.
  CHECK(checkout_trace == gateway.trace_id);
  CHECK(pricing_trace == gateway.trace_id);
  CHECK(mesh.trace_id == gateway.trace_id);
  CHECK(checkout_parent == gateway.span_id);
  CHECK(pricing_parent == mesh.span_id);
  CHECK(mesh.span_id != gateway.span_id);

  // A client's own trace is kept; a malformed one replaced by a new trace.
  HttpAnswer traced = fnd.http("GET", "/function/pricing", "",
                               {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  auto [kept_trace, kept_parent] = ids_of(traced.body);
  CHECK(kept_trace == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(kept_parent != "00f067aa0ba902b7");
  HttpAnswer broken = fnd.http("GET", "/function/pricing", "", {{"traceparent", "00-zz-01"}});
  auto [fresh_trace, fresh_parent] = ids_of(broken.body);
  CHECK(fresh_trace != "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(wait_until(
      [&] {
        auto now = access_lines(fnd);
        return !now.empty() && now.back().trace_id == fresh_trace;
      },
      5s));
}

TEST_CASE("an event carries its sender's trace to the function it is delivered to", "[integration][tracing]") {
  Daemon fnd(with_access_log());
  fnd.deploy("recorder", {{"main.py", kRecorder}}, kPythonSpec);
  HttpAnswer trigger =
      fnd.http("PUT", "/api/v1/triggers/traced",
               R"({"filters": [{"exact": {"type": "com.example.traced"}}], "subscriber": "function:recorder"})",
               {{"Content-Type", "application/json"}});
  REQUIRE(trigger.status == 201);
  HttpAnswer sent = fnd.http("POST", "/events/default", R"({"n":1})",
                             {{"ce-specversion", "1.0"},
                              {"ce-id", "t-1"},
                              {"ce-source", "/test"},
                              {"ce-type", "com.example.traced"},
                              {"Content-Type", "application/json"},
                              {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}});
  INFO(sent.body);
  REQUIRE(sent.status == 202);
  std::string seen;
  CHECK(wait_until(
      [&] {
        seen = fnd.http("GET", "/api/v1/functions/recorder/logs").body;
        return seen.find("event t-1 traceparent 00-0af7651916cd43dd8448eb211c80319c-") != std::string::npos;
      },
      20s));
  INFO(seen);
  CHECK(seen.find("b7ad6b7169203331") == std::string::npos);  // the delivery is a span of its own
}

TEST_CASE("without access_log: true there are no access lines, and traces still flow", "[integration][tracing]") {
  Daemon fnd;
  fnd.deploy("pricing", {{"main.py", kPricing}}, kPythonSpec);
  HttpAnswer answer = fnd.http("GET", "/function/pricing");
  REQUIRE(answer.status == 200);
  ids_of(answer.body);
  CHECK(access_lines(fnd).empty());
}

}  // namespace fnd::test

// The mesh's registry of services, call policies, workload identity and authorization (issue 11,
// items 1, 3, 6 and 7): a registered TLS service (a small server here, its certificate from a CA
// the test makes) with one endpoint that fails every request: calls are retried on the other
// endpoint, the failing one is ejected, and both show in /metrics; the service sees the calling
// function's SPIFFE ID in its client certificate; with authorization on, calls no rule allows
// are denied; identity headers a function sends change nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/daemon.hpp"
#include "integration/test_pki.hpp"

namespace fnd::test {
namespace {

namespace json = boost::json;

constexpr const char* kPythonSpec = R"({"runtime":"python3","handler":"main.handle"})";

// Makes the request its body describes ({"method", "path" (after FN_MESH_URL) or "url" (through
// HTTP_PROXY), "data", "headers"}) and answers {"status", "body"}.
constexpr const char* kMeshClient =
    "import json, os, urllib.error, urllib.request\n"
    "MESH = os.environ['FN_MESH_URL']\n"
    "def handle(req):\n"
    "    order = json.loads(req.body)\n"
    "    data = order['data'].encode() if 'data' in order else None\n"
    "    url = order.get('url') or MESH + order['path']\n"
    "    request = urllib.request.Request(url, data=data, method=order.get('method', 'GET'),\n"
    "                                     headers=order.get('headers', {}))\n"
    "    try:\n"
    "        with urllib.request.urlopen(request, timeout=30) as answer:\n"
    "            status, body = answer.status, answer.read()\n"
    "    except urllib.error.HTTPError as error:\n"
    "        status, body = error.code, error.read()\n"
    "    return {'status': status, 'body': body.decode()}\n";

constexpr const char* kPricing =
    "def handle(req):\n"
    "    return (200, f\"price of {req.path} for {req.headers.get('x-fnd-caller')}\")\n";

// Answers 503 to every other call of its instance: the first of each pair fails.
constexpr const char* kFlaky =
    "import time\n"
    "CALLS = [0]\n"
    "def handle(req):\n"
    "    if req.path == '/slow':\n"
    "        time.sleep(3)\n"
    "        return 'late'\n"
    "    CALLS[0] += 1\n"
    "    if CALLS[0] % 2 == 1:\n"
    "        return (503, 'busy, try again')\n"
    "    return (200, f'ok after {CALLS[0]} calls')\n";

struct MeshAnswer {
  long status = 0;
  std::string body;
  std::string error_code() const { return json::value_to<std::string>(json::parse(body).at("error").at("code")); }
  std::string error_message() const { return json::value_to<std::string>(json::parse(body).at("error").at("message")); }
};

MeshAnswer through_mesh(const Daemon& fnd, const std::string& client, const json::object& order) {
  HttpAnswer answer = fnd.invoke(client, json::serialize(order));
  INFO("order " << json::serialize(order) << " answered " << answer.status << ": " << answer.body
                << answer.transport_error);
  REQUIRE(answer.status == 200);
  json::object out = answer.json().as_object();
  return {out.at("status").as_int64(), json::value_to<std::string>(out.at("body"))};
}

long metric(const Daemon& fnd, const std::string& series) {
  std::istringstream lines(fnd.http("GET", "/metrics").body);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::stol(line.substr(series.size() + 1));
  }
  return -1;
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// What one request to the test service looked like.
struct SeenRequest {
  std::string path;
  std::string peer_spiffe_id;  // the client certificate's URI SAN, "" without one
  std::string head;            // request line and fields as received
};

// A TLS service on 127.0.0.1 with a certificate from `ca`, that asks for client certificates
// from the CA `client_ca_pem` (fnd's node CA) and refuses connections without one. Each listening
// port is one endpoint; a failing endpoint answers 503 to everything but /healthz. One thread per
// port, one connection at a time (fnd opens one per exchange). Stops in its destructor.
class TlsService {
 public:
  TlsService(const TestCa& ca, const std::string& client_ca_pem, std::vector<bool> failing) {
    PemPair pair = ca.issue_server(42);
    context_ = SSL_CTX_new(TLS_server_method());
    REQUIRE(context_ != nullptr);
    BIO* cert_bio = BIO_new_mem_buf(pair.certificate.data(), static_cast<int>(pair.certificate.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO_free(cert_bio);
    BIO* key_bio = BIO_new_mem_buf(pair.private_key.data(), static_cast<int>(pair.private_key.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    BIO_free(key_bio);
    REQUIRE(cert != nullptr);
    REQUIRE(key != nullptr);
    REQUIRE(SSL_CTX_use_certificate(context_, cert) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(context_, key) == 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO* ca_bio = BIO_new_mem_buf(client_ca_pem.data(), static_cast<int>(client_ca_pem.size()));
    X509* client_ca = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
    BIO_free(ca_bio);
    REQUIRE(client_ca != nullptr);
    REQUIRE(X509_STORE_add_cert(SSL_CTX_get_cert_store(context_), client_ca) == 1);
    X509_free(client_ca);
    SSL_CTX_set_verify(context_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    for (bool fails : failing) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
      REQUIRE(::listen(fd, 16) == 0);
      socklen_t length = sizeof address;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
      ports_.push_back(ntohs(address.sin_port));
      const size_t index = listeners_.size();
      listeners_.push_back(fd);
      seen_.emplace_back();
      threads_.emplace_back([this, fd, fails, index] { serve(fd, fails, index); });
    }
  }
  ~TlsService() {
    stopping_ = true;
    for (auto& thread : threads_) thread.join();
    for (int fd : listeners_) ::close(fd);
    SSL_CTX_free(context_);
  }
  TlsService(const TlsService&) = delete;
  TlsService& operator=(const TlsService&) = delete;

  std::string url(size_t endpoint) const { return "https://127.0.0.1:" + std::to_string(ports_[endpoint]); }
  // The requests endpoint `endpoint` served other than health checks.
  std::vector<SeenRequest> seen(size_t endpoint) const {
    std::lock_guard lock(mutex_);
    return seen_[endpoint];
  }
  size_t handshakes_refused() const { return refused_; }

 private:
  void serve(int listener, bool fails, size_t index) {
    // A write to a connection fnd closed must fail here, not kill the test with SIGPIPE.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    while (!stopping_) {
      pollfd ready{listener, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      timeval timeout{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      SSL* ssl = SSL_new(context_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        answer(ssl, fails, index);
      } else {
        ++refused_;
        ERR_clear_error();
      }
      SSL_shutdown(ssl);
      SSL_free(ssl);
      ::close(fd);
    }
  }

  void answer(SSL* ssl, bool fails, size_t index) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      int n = SSL_read(ssl, buffer, sizeof buffer);
      if (n <= 0) return;
      request.append(buffer, static_cast<size_t>(n));
    }
    SeenRequest seen;
    seen.head = request.substr(0, request.find("\r\n\r\n"));
    seen.path = request.substr(request.find(' ') + 1);
    seen.path = seen.path.substr(0, seen.path.find(' '));
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(peer, NID_subject_alt_name, nullptr, nullptr));
      for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
        if (name->type == GEN_URI) {
          const ASN1_STRING* uri = name->d.uniformResourceIdentifier;
          seen.peer_spiffe_id.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                                     static_cast<size_t>(ASN1_STRING_length(uri)));
        }
      }
      GENERAL_NAMES_free(names);
      X509_free(peer);
    }
    const bool health = seen.path == "/healthz";
    std::string status = "200 OK";
    std::string body = "user 3 for " + seen.peer_spiffe_id;
    if (health) {
      body = "ok";
    } else if (fails) {
      status = "503 Service Unavailable";
      body = "endpoint down";
    }
    if (!health) {
      std::lock_guard lock(mutex_);
      seen_[index].push_back(seen);
    }
    std::string out = "HTTP/1.1 " + status +
                      "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\nConnection: close\r\n\r\n" + body;
    SSL_write(ssl, out.data(), static_cast<int>(out.size()));
  }

  SSL_CTX* context_ = nullptr;
  std::vector<int> listeners_;
  std::vector<uint16_t> ports_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::vector<std::vector<SeenRequest>> seen_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> refused_{0};
};

// A TCP port nothing listens on (bound, then let go).
uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE(
    "a registered TLS service is called with the caller's SPIFFE certificate, retried past its failing endpoint "
    "and that endpoint ejected",
    "[integration][mesh]") {
  Daemon fnd;
  // The node CA exists from the first start, its key for root only.
  const std::string ca_key = fnd.state_dir() + "/mesh/ca.key";
  struct stat key_stat {};
  REQUIRE(::stat(ca_key.c_str(), &key_stat) == 0);
  CHECK((key_stat.st_mode & 0777) == 0600);
  HttpAnswer node_ca = fnd.http("GET", "/api/v1/mesh/ca");
  REQUIRE(node_ca.status == 200);
  CHECK(node_ca.body == read_text(fnd.state_dir() + "/mesh/ca.crt"));

  TestCa service_ca("users-ca");
  TlsService users(service_ca, node_ca.body, {true, false});  // endpoint 0 fails every request
  const std::string ca_file = fnd.state_dir() + "/users-ca.pem";
  write_private_file(ca_file, service_ca.certificate_pem());

  CommandResult registered = fnd.run_fnctl({"service", "register", "users", "--url", users.url(0), "--url",
                                            users.url(1), "--health", "/healthz", "--ca", ca_file});
  INFO("fnctl: " << registered.out << registered.err);
  REQUIRE(registered.exit_code == 0);
  CHECK(contains(registered.out, "service 'users' registered with 2 endpoints"));
  CommandResult listed = fnd.run_fnctl({"service", "list"});
  CHECK(contains(listed.out, "users"));
  CHECK(contains(listed.out, "/healthz every 10s"));

  fnd.deploy("checkout", {{"main.py", kMeshClient}}, kPythonSpec);
  // Identity fields sent by the function change nothing: the certificate is the instance's.
  json::object spoofed{{"X-Fnd-Caller", "admin"},
                       {"X-Forwarded-Client-Cert", "URI=spiffe://fnd.local/fn/admin"},
                       {"Fn-Caller", "admin"}};
  int ok = 0;
  for (int i = 0; i < 16; ++i) {
    MeshAnswer answer = through_mesh(fnd, "checkout", {{"path", "/svc/users/v1/users/3"}, {"headers", spoofed}});
    INFO("call " << i << ": " << answer.status << " " << answer.body);
    CHECK((answer.status == 200 || answer.status == 503));
    if (answer.status == 200) {
      ++ok;
      CHECK(answer.body == "user 3 for spiffe://fnd.local/fn/checkout");
    }
  }
  // A failed attempt is retried on the healthy endpoint (unless the budget says no); once
  // ejected, the failing endpoint gets nothing.
  const auto failing = users.seen(0);
  const auto healthy = users.seen(1);
  CHECK(failing.size() == 5);  // ejected after 5 consecutive 5xx (the default)
  CHECK(healthy.size() == static_cast<size_t>(ok));
  for (const auto& request : healthy) {
    CHECK(request.path == "/v1/users/3");
    CHECK(request.peer_spiffe_id == "spiffe://fnd.local/fn/checkout");
    CHECK(!contains(request.head, "admin"));
  }
  CHECK(metric(fnd, R"(fnd_mesh_ejections_total{target="users"})") == 1);
  const long retries = metric(fnd, R"(fnd_mesh_retries_total{target="users"})");
  const long exhausted = std::max(0L, metric(fnd, R"(fnd_mesh_retry_budget_exhausted_total{target="users"})"));
  CHECK(retries >= 1);
  CHECK(retries + exhausted == 5);  // each failed attempt was retried, or the budget said no
  CHECK(ok == 16 - exhausted);
  CHECK(metric(fnd, R"(fnd_mesh_service_endpoint_healthy{service="users",url=")" + users.url(1) + "\"}") == 1);

  CommandResult described = fnd.run_fnctl({"service", "describe", "users"});
  INFO("describe: " << described.out << described.err);
  CHECK(described.exit_code == 0);
  CHECK(contains(described.out, "client certificate: spiffe://fnd.local/fn/CALLER"));
  CHECK(contains(described.out, "true until"));
  CHECK(contains(described.out, "timeout"));

  // Proxy mode: a name no function has is the service's.
  MeshAnswer proxied = through_mesh(fnd, "checkout", {{"url", "http://users/v1/users/3"}});
  CHECK(proxied.status == 200);
  CHECK(proxied.body == "user 3 for spiffe://fnd.local/fn/checkout");

  // Registered services survive a restart; deleted ones are gone for callers.
  fnd.restart();
  CHECK(fnd.http("GET", "/api/v1/services/users").status == 200);
  REQUIRE(fnd.run_fnctl({"service", "delete", "users"}).exit_code == 0);
  MeshAnswer gone = through_mesh(fnd, "checkout", {{"path", "/svc/users/v1/users/3"}});
  CHECK(gone.status == 404);
  CHECK(gone.error_code() == "service_not_found");
  CHECK(users.handshakes_refused() == 0);
}

TEST_CASE(
    "a service registered with the wrong SPIFFE ID or CA is refused, an endpoint failing its health checks "
    "gets no calls, and bad registrations are 422",
    "[integration][mesh]") {
  Daemon fnd;
  const std::string node_ca = fnd.http("GET", "/api/v1/mesh/ca").body;
  TestCa service_ca("orders-ca");
  TestCa other_ca("impostor-ca");
  TlsService orders(service_ca, node_ca, {false});
  fnd.deploy("checkout", {{"main.py", kMeshClient}}, kPythonSpec);

  json::object wrong_ca{{"urls", json::array{json::value(orders.url(0))}},
                        {"tls", json::object{{"ca", other_ca.certificate_pem()}}}};
  REQUIRE(fnd.http("PUT", "/api/v1/services/orders", json::serialize(wrong_ca)).status == 201);
  MeshAnswer refused = through_mesh(fnd, "checkout", {{"path", "/svc/orders/x"}});
  CHECK(refused.status == 502);
  CHECK(refused.error_code() == "service_unreachable");
  CHECK(contains(refused.error_message(), "certificate"));

  json::object wrong_id{{"urls", json::array{json::value(orders.url(0))}},
                        {"tls", json::object{{"ca", service_ca.certificate_pem()}, {"spiffeId", "spiffe://x/orders"}}}};
  REQUIRE(fnd.http("PUT", "/api/v1/services/orders", json::serialize(wrong_id)).status == 200);
  MeshAnswer impostor = through_mesh(fnd, "checkout", {{"path", "/svc/orders/x"}});
  CHECK(impostor.status == 502);
  CHECK(contains(impostor.error_message(), "spiffe://x/orders"));
  CHECK(orders.seen(0).empty());

  // An endpoint that fails its active health checks gets no calls once it is unhealthy.
  const std::string dead = "https://127.0.0.1:" + std::to_string(unused_port());
  json::object mixed{{"urls", json::array{json::value(orders.url(0)), json::value(dead)}},
                     {"health", json::object{{"path", "/healthz"}, {"interval", "200ms"}, {"timeout", "100ms"}}},
                     {"tls", json::object{{"ca", service_ca.certificate_pem()}}}};
  REQUIRE(fnd.http("PUT", "/api/v1/services/mixed", json::serialize(mixed)).status == 201);
  const std::string dead_gauge = R"(fnd_mesh_service_endpoint_healthy{service="mixed",url=")" + dead + "\"}";
  CHECK(wait_until([&] { return metric(fnd, dead_gauge) == 0; }, 10s, 100ms));
  for (int i = 0; i < 5; ++i) CHECK(through_mesh(fnd, "checkout", {{"path", "/svc/mixed/x"}}).status == 200);
  CHECK(metric(fnd, R"(fnd_mesh_retries_total{target="mixed"})") == -1);  // never needed one
  CHECK(orders.seen(0).size() == 5);
  json::object described = fnd.http("GET", "/api/v1/services/mixed").json().as_object();
  CHECK(described.at("endpoints").at(1).at("healthy") == false);
  CHECK(contains(json::value_to<std::string>(described.at("endpoints").at(1).at("lastFailure")), "cannot connect"));

  HttpAnswer bad = fnd.http("PUT", "/api/v1/services/orders", R"({"urls":["ftp://x"]})");
  CHECK(bad.status == 422);
  CHECK(bad.error_code() == "invalid_service");
  CHECK(fnd.http("PUT", "/api/v1/services/orders", R"({"urls":[]})").status == 422);
}

TEST_CASE("call policies: a function's 503 is retried within its budget, and describe says where each value came from",
          "[integration][mesh]") {
  Daemon fnd;
  fnd.deploy("flaky", {{"main.py", kFlaky}}, kPythonSpec);
  fnd.deploy("checkout", {{"main.py", kMeshClient}}, kPythonSpec);

  CommandResult set =
      fnd.run_fnctl({"policy", "set", "flaky", "--timeout", "800ms", "--retries", "2", "--eject", "5xx:5"});
  INFO("policy set: " << set.out << set.err);
  REQUIRE(set.exit_code == 0);
  CHECK(contains(set.out, "timeout"));
  CHECK(contains(set.out, "800ms"));
  CommandResult got = fnd.run_fnctl({"-o", "json", "policy", "get", "flaky"});
  json::object policy = json::parse(got.out).as_object();
  CHECK(policy.at("effective").at("timeout").at("value") == "800ms");
  CHECK(policy.at("effective").at("timeout").at("source") == "set");
  CHECK(policy.at("effective").at("retries").at("source") == "set");
  CHECK(policy.at("effective").at("retryNonIdempotent").at("source") == "default");
  CHECK(policy.at("effective").at("ejectConsecutive5xx").at("value") == 5);
  CHECK(fnd.run_fnctl({"policy", "set", "flaky", "--eject", "5xx"}).exit_code != 0);

  for (int i = 0; i < 3; ++i) {
    MeshAnswer answer = through_mesh(fnd, "checkout", {{"path", "/fn/flaky/"}});
    CHECK(answer.status == 200);
    CHECK(contains(answer.body, "ok after"));
  }
  CHECK(metric(fnd, R"(fnd_mesh_retries_total{target="flaky"})") == 3);
  // POST is not idempotent: its 503 comes back as it is.
  MeshAnswer posted = through_mesh(fnd, "checkout", {{"path", "/fn/flaky/"}, {"method", "POST"}, {"data", "x"}});
  CHECK(posted.status == 503);
  CHECK(posted.body == "busy, try again");

  // The policy's timeout bounds calls through the mesh (the function's own is 30 s).
  REQUIRE(fnd.run_fnctl({"policy", "set", "flaky", "--timeout", "500ms", "--retries", "0"}).exit_code == 0);
  const auto started = std::chrono::steady_clock::now();
  MeshAnswer slow = through_mesh(fnd, "checkout", {{"path", "/fn/flaky/slow"}});
  CHECK(std::chrono::steady_clock::now() - started < 2500ms);
  CHECK(slow.status == 504);
  CHECK(slow.error_code() == "function_timeout");
  CHECK(contains(slow.error_message(), "within 500ms (the timeout of calls to it through the mesh)"));

  CommandResult described = fnd.run_fnctl({"describe", "flaky"});
  CHECK(contains(described.out, "Mesh call policy"));
  CHECK(contains(described.out, "500ms"));
  REQUIRE(fnd.run_fnctl({"policy", "reset", "flaky"}).exit_code == 0);
  json::object reset = json::parse(fnd.run_fnctl({"-o", "json", "policy", "get", "flaky"}).out).as_object();
  CHECK(reset.at("effective").at("timeout").at("source") != "set");
}

TEST_CASE("with authorization on, calls no rule allows are denied with a 403 naming caller and target, deny wins",
          "[integration][mesh]") {
  DaemonOptions options;
  options.config_yaml = "mesh:\n  authorization: on\n";
  Daemon fnd(options);
  // Internal: only functions reach it, through the mesh.
  fnd.deploy("pricing", {{"main.py", kPricing}}, R"({"runtime":"python3","handler":"main.handle","public":false})");
  HttpAnswer outside = fnd.invoke("pricing");
  CHECK(outside.status == 403);
  CHECK(outside.error_code() == "function_not_public");
  CHECK(contains(outside.error_message(), "$FN_MESH_URL/fn/pricing"));
  fnd.deploy("checkout", {{"main.py", kMeshClient}}, kPythonSpec);

  MeshAnswer none = through_mesh(fnd, "checkout", {{"path", "/fn/pricing/quote"}});
  CHECK(none.status == 403);
  CHECK(none.error_code() == "call_denied");
  CHECK(contains(none.error_message(), "checkout"));
  CHECK(contains(none.error_message(), "pricing"));

  CommandResult allowed = fnd.run_fnctl(
      {"authz", "allow", "--from", "checkout", "--to", "pricing", "--methods", "GET", "--path", "/quote"});
  INFO("authz allow: " << allowed.out << allowed.err);
  REQUIRE(allowed.exit_code == 0);
  MeshAnswer quote = through_mesh(fnd, "checkout", {{"path", "/fn/pricing/quote?sku=7"}});
  CHECK(quote.status == 200);
  CHECK(quote.body == "price of /quote for checkout");
  CHECK(through_mesh(fnd, "checkout", {{"path", "/fn/pricing/admin"}}).status == 403);
  CHECK(through_mesh(fnd, "checkout", {{"path", "/fn/pricing/quote"}, {"method", "POST"}, {"data", "x"}}).status ==
        403);
  // A caller claiming to be another gains nothing.
  json::object spoofed{{"X-Fnd-Caller", "checkout"}};
  fnd.deploy("intruder", {{"main.py", kMeshClient}}, kPythonSpec);
  MeshAnswer intruder = through_mesh(fnd, "intruder", {{"path", "/fn/pricing/quote"}, {"headers", spoofed}});
  CHECK(intruder.status == 403);
  CHECK(contains(intruder.error_message(), "intruder"));

  REQUIRE(fnd.run_fnctl(
                 {"authz", "deny", "--name", "no-secrets", "--from", "*", "--to", "pricing", "--path", "/quote/secret"})
              .exit_code == 0);
  MeshAnswer secret = through_mesh(fnd, "checkout", {{"path", "/fn/pricing/quote/secret"}});
  CHECK(secret.status == 403);
  CHECK(contains(secret.error_message(), "no-secrets"));
  CHECK(metric(fnd, R"(fnd_mesh_authz_denied_total{caller="checkout",target="pricing"})") == 4);
  CHECK(metric(fnd, R"(fnd_mesh_authz_denied_total{caller="intruder",target="pricing"})") == 1);

  CommandResult listed = fnd.run_fnctl({"authz", "list"});
  CHECK(contains(listed.out, "authorization is on"));
  CHECK(contains(listed.out, "no-secrets"));
  REQUIRE(fnd.run_fnctl({"authz", "delete", "no-secrets"}).exit_code == 0);
  CHECK(through_mesh(fnd, "checkout", {{"path", "/fn/pricing/quote/secret"}}).status == 200);
}

}  // namespace fnd::test

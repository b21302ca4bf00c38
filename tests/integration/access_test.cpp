// Who may do what: the local socket, API tokens and their roles, per-function invocation access,
// TLS on the listener, and the audit log (issue 9).
#include <curl/curl.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "integration/daemon.hpp"
#include "integration/test_pki.hpp"

namespace fnd::test {
namespace {

constexpr const char* kPythonSpec = R"({"runtime":"python3","handler":"main.handle"})";
constexpr const char* kHelloSource = "def handle(req):\n    return 'hello ' + req.body.decode()\n";
// Answers with every header the function received, one "name: value" per line.
constexpr const char* kHeadersSource =
    "def handle(req):\n"
    "    return ''.join(f'{k}: {v}\\n' for k, v in req.headers.items())\n";

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// Makes a token through the admin and returns its secret.
std::string make_token(const Daemon& fnd, const std::string& name, const std::string& role,
                       const std::vector<std::string>& functions = {}, const std::string& expires = "") {
  boost::json::object body{{"name", name}, {"role", role}};
  boost::json::array patterns;
  for (const auto& p : functions) patterns.emplace_back(p);
  body["functions"] = std::move(patterns);
  if (!expires.empty()) body["expires"] = expires;
  HttpAnswer answer = fnd.http("POST", "/api/v1/tokens", boost::json::serialize(body), {{"Content-Type", "application/json"}});
  INFO(answer.body);
  REQUIRE(answer.status == 201);
  return std::string(answer.json().at("secret").as_string());
}

std::string spec_with_code(const Daemon& fnd, const std::string& name, const std::string& extra_json = "") {
  std::string digest = fnd.upload_code(name, make_code_archive({{"main.py", kHelloSource}}));
  return R"({"runtime":"python3","handler":"main.handle","code":")" + digest + "\"" + extra_json + "}";
}

// Runs `body` in a child process with uid and gid 65534 (nobody); returns its exit code.
int as_nobody(const std::function<int()>& body) {
  pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(90);
    }
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// 0 connected, 1 refused with EACCES, 2 another failure.
int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  int error = errno;
  ::close(fd);
  return rc == 0 ? 0 : error == EACCES ? 1 : 2;
}

struct TlsAnswer {
  long status = 0;
  std::string body;
  std::string error;
  std::string serial;  // of the server's certificate
};

// One HTTPS GET with libcurl, trusting only `ca_file` (empty: the system's CAs).
TlsAnswer https_get(const std::string& url, const std::string& ca_file, const std::string& token = "") {
  TlsAnswer out;
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
  if (!ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  curl_slist* headers = nullptr;
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t, size_t n, void* sink) {
    static_cast<std::string*>(sink)->append(data, n);
    return n;
  });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
    curl_certinfo* info = nullptr;
    if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) == CURLE_OK && info && info->num_of_certs > 0) {
      for (curl_slist* entry = info->certinfo[0]; entry; entry = entry->next) {
        std::string_view line = entry->data;
        if (line.starts_with("Serial Number:")) out.serial = std::string(line.substr(14));
      }
    }
  } else {
    out.error = error[0] ? error : curl_easy_strerror(rc);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return out;
}

}  // namespace

TEST_CASE("the management API wants a token over TCP, root on the local socket needs none", "[integration][access]") {
  Daemon fnd;
  HttpAnswer anonymous = fnd.http_as("", "GET", "/api/v1/functions");
  CHECK(anonymous.status == 401);
  CHECK(anonymous.error_code() == "unauthenticated");
  CHECK(contains(anonymous.error_message(), "fnctl token create"));
  CHECK(fnd.http_as("fnd_not-a-token", "GET", "/api/v1/functions").status == 401);
  CHECK(fnd.http_as("", "GET", "/api/v1/functions", "", {{"Authorization", "Basic dXNlcjpwdw=="}}).status == 401);
  CHECK(fnd.local_http("GET", "/api/v1/functions").status == 200);
  // Health stays open; metrics want a reader.
  CHECK(fnd.http_as("", "GET", "/healthz").status == 200);
  CHECK(fnd.http_as("", "GET", "/readyz").status == 200);
  CHECK(fnd.http_as("", "GET", "/metrics").status == 401);
  std::string reader = make_token(fnd, "watcher", "reader");
  CHECK(fnd.http_as(reader, "GET", "/metrics").status == 200);
  // Invoking a public function needs nothing.
  fnd.deploy("open", {{"main.py", kHelloSource}}, kPythonSpec);
  CHECK(fnd.http_as("", "POST", "/function/open", "x").body == "hello x");
}

TEST_CASE("roles and function patterns limit what a token may do", "[integration][access]") {
  Daemon fnd;
  fnd.deploy("hello", {{"main.py", kHelloSource}}, kPythonSpec);
  std::string reader = make_token(fnd, "reader", "reader");
  std::string deployer = make_token(fnd, "ci", "deployer", {"shop-*"});

  SECTION("a reader reads but cannot deploy") {
    CHECK(fnd.http_as(reader, "GET", "/api/v1/functions/hello").status == 200);
    HttpAnswer denied = fnd.http_as(reader, "PUT", "/api/v1/functions/news", spec_with_code(fnd, "news"),
                                    {{"Content-Type", "application/json"}});
    CHECK(denied.status == 403);
    CHECK(denied.error_code() == "forbidden");
    CHECK(contains(denied.error_message(), "token 'reader' (reader"));
    CHECK(contains(denied.error_message(), "functions.deploy on function 'news'"));
    CHECK(fnd.http_as(reader, "DELETE", "/api/v1/functions/hello").status == 403);
    CHECK(fnd.http_as(reader, "GET", "/api/v1/tokens").status == 403);
  }
  SECTION("a deployer limited to shop-* deploys shop-cart and cannot touch hello") {
    std::string digest = fnd.upload_code("shop-cart", make_code_archive({{"main.py", kHelloSource}}));
    HttpAnswer code = fnd.http_as(deployer, "PUT", "/api/v1/functions/shop-cart/code",
                                  make_code_archive({{"main.py", kHelloSource}}), {{"Content-Type", "application/gzip"}});
    CHECK(code.status == 201);
    HttpAnswer deployed = fnd.http_as(deployer, "PUT", "/api/v1/functions/shop-cart",
                                      R"({"runtime":"python3","handler":"main.handle","code":")" + digest + "\"}",
                                      {{"Content-Type", "application/json"}});
    CHECK(deployed.status == 201);
    HttpAnswer other = fnd.http_as(deployer, "PUT", "/api/v1/functions/hello", spec_with_code(fnd, "hello"),
                                   {{"Content-Type", "application/json"}});
    CHECK(other.status == 403);
    CHECK(contains(other.error_message(), "functions shop-*"));
    CHECK(fnd.http_as(deployer, "DELETE", "/api/v1/functions/hello").status == 403);
    CHECK(fnd.http_as(deployer, "GET", "/api/v1/functions/hello/logs").status == 403);
    // The list shows only what the token may see.
    HttpAnswer list = fnd.http_as(deployer, "GET", "/api/v1/functions");
    REQUIRE(list.status == 200);
    CHECK(contains(list.body, "shop-cart"));
    CHECK_FALSE(contains(list.body, "\"hello\""));
    CHECK(fnd.http_as(deployer, "DELETE", "/api/v1/functions/shop-cart").status == 200);
    // Only an admin may take a function out of seccomp.
    HttpAnswer unconfined = fnd.http_as(deployer, "PUT", "/api/v1/functions/shop-x",
                                        spec_with_code(fnd, "shop-x", R"(,"security":{"seccomp":"unconfined"})"),
                                        {{"Content-Type", "application/json"}});
    CHECK(unconfined.status == 403);
    CHECK(contains(unconfined.error_message(), "security.unconfined"));
  }
}

TEST_CASE("a revoked token stops working at once, an expired one too", "[integration][access]") {
  Daemon fnd;
  std::string token = make_token(fnd, "short", "reader");
  REQUIRE(fnd.http_as(token, "GET", "/api/v1/functions").status == 200);  // now remembered by fnd
  HttpAnswer revoked = fnd.http("DELETE", "/api/v1/tokens/short");
  REQUIRE(revoked.status == 200);
  HttpAnswer after = fnd.http_as(token, "GET", "/api/v1/functions");
  CHECK(after.status == 401);
  CHECK(after.error_code() == "token_revoked");
  CHECK(fnd.http("DELETE", "/api/v1/tokens/short").status == 404);

  std::string brief = make_token(fnd, "brief", "reader", {}, "1s");
  REQUIRE(fnd.http_as(brief, "GET", "/api/v1/functions").status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  HttpAnswer expired = fnd.http_as(brief, "GET", "/api/v1/functions");
  CHECK(expired.status == 401);
  CHECK(expired.error_code() == "token_expired");
}

TEST_CASE("the local socket lets in root and the admin group only", "[integration][access]") {
  Daemon fnd;
  struct stat info{};
  REQUIRE(::stat(fnd.api_socket().c_str(), &info) == 0);
  CHECK(S_ISSOCK(info.st_mode));
  CHECK((info.st_mode & 0007) == 0);  // nothing for others
  // A host user that is neither root nor in the group cannot even connect.
  CHECK(as_nobody([&] { return connect_unix(fnd.api_socket()); }) == 1);
  // Were the socket (and the state dir holding it here) opened to everyone by mistake, fnd
  // itself still refuses the user.
  REQUIRE(::chmod(fnd.api_socket().c_str(), 0666) == 0);
  REQUIRE(::chmod(fnd.state_dir().c_str(), 0711) == 0);
  std::string socket = fnd.api_socket();
  int verdict = as_nobody([&] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return 2;
    std::string request = "GET /api/v1/functions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) return 3;
    std::string answer;
    char buffer[4096];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) answer.append(buffer, static_cast<size_t>(n));
    ::close(fd);
    bool forbidden = answer.starts_with("HTTP/1.1 403") && answer.find("uid:65534") != std::string::npos;
    return forbidden ? 0 : 4;
  });
  CHECK(verdict == 0);
}

TEST_CASE("a function with access: token answers token holders only and never sees the token",
          "[integration][access]") {
  Daemon fnd;
  fnd.deploy("private", {{"main.py", kHeadersSource}},
             R"({"runtime":"python3","handler":"main.handle","access":"token"})");
  fnd.deploy("other", {{"main.py", kHelloSource}}, kPythonSpec);
  std::string mine = make_token(fnd, "caller", "invoker", {"private"});
  std::string theirs = make_token(fnd, "stranger", "invoker", {"other"});

  HttpAnswer anonymous = fnd.http_as("", "POST", "/function/private", "x");
  CHECK(anonymous.status == 401);
  HttpAnswer wrong = fnd.http_as(theirs, "POST", "/function/private", "x");
  CHECK(wrong.status == 403);
  CHECK(contains(wrong.error_message(), "functions.invoke on function 'private'"));
  HttpAnswer allowed = fnd.http_as(mine, "POST", "/function/private", "x", {{"X-Trace", "t1"}});
  CHECK(allowed.status == 200);
  CHECK(contains(allowed.body, "t1"));
  CHECK_FALSE(contains(allowed.body, mine));
  std::string lower = allowed.body;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  CHECK_FALSE(contains(lower, "authorization"));
  // An admin may call it too.
  CHECK(fnd.http_as(fnd.admin_token(), "POST", "/function/private", "x").status == 200);
}

TEST_CASE("the listener speaks TLS with its certificate, reloaded on SIGHUP, fnctl and curl trust a given CA",
          "[integration][access]") {
  TestCa ca("fnd test CA");
  std::string dir = std::filesystem::temp_directory_path() / ("fnd-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  PemPair first = ca.issue_server(1001);
  write_private_file(dir + "/ca.pem", ca.certificate_pem());
  write_private_file(dir + "/cert.pem", first.certificate);
  write_private_file(dir + "/key.pem", first.private_key);
  DaemonOptions options;
  options.config_yaml = "tls:\n  cert: " + dir + "/cert.pem\n  key: " + dir + "/key.pem\n";
  Daemon fnd(options);
  std::string https = "https" + fnd.url().substr(4);

  TlsAnswer health = https_get(https + "/healthz", dir + "/ca.pem");
  CHECK(health.error == "");
  CHECK(health.status == 200);
  CHECK(contains(health.serial, "3e9"));  // 1001
  TlsAnswer untrusted = https_get(https + "/healthz", "");
  CHECK(untrusted.status == 0);
  CHECK_FALSE(untrusted.error.empty());
  // Plain HTTP to a TLS port gets no answer.
  CHECK(fnd.http_as("", "GET", "/healthz").status != 200);

  CommandResult listed = run_command({FNCTL_BINARY, "--url", https, "--cacert", dir + "/ca.pem", "--token",
                                      fnd.admin_token(), "-o", "json", "list"});
  CHECK(listed.exit_code == 0);
  CHECK(contains(listed.out, "\"functions\""));
  CommandResult refused = run_command({FNCTL_BINARY, "--url", https, "--token", fnd.admin_token(), "list"});
  CHECK(refused.exit_code != 0);
  CHECK(contains(refused.err, "--cacert"));

  // A renewed certificate takes effect on SIGHUP, without a restart; a broken one is refused and
  // the old one stays.
  PemPair second = ca.issue_server(2002);
  write_private_file(dir + "/cert.pem", second.certificate);
  write_private_file(dir + "/key.pem", second.private_key);
  ::kill(fnd.pid(), SIGHUP);
  CHECK(wait_until([&] { return contains(https_get(https + "/healthz", dir + "/ca.pem").serial, "7d2"); }, 5s));
  write_private_file(dir + "/key.pem", "not a key");
  ::kill(fnd.pid(), SIGHUP);
  CHECK(wait_until([&] { return contains(fnd.log(), "kept the old TLS certificate"); }, 5s));
  TlsAnswer still = https_get(https + "/healthz", dir + "/ca.pem");
  CHECK(still.status == 200);
  CHECK(contains(still.serial, "7d2"));
}

TEST_CASE("plain HTTP on a public address is refused at start unless allowed on purpose", "[integration][access]") {
  std::string dir = std::filesystem::temp_directory_path() / ("fnd-insecure-" + std::to_string(::getpid()));
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  CommandResult refused = run_command({FND_BINARY, "--state-dir", dir, "--listen", "0.0.0.0:0", "--api-socket", "",
                                       "--no-warm-pools"});
  CHECK(refused.exit_code == 1);
  CHECK(contains(refused.out + refused.err, "refusing to serve plain HTTP on 0.0.0.0:0"));
  CHECK(contains(refused.out + refused.err, "allow_insecure_http"));

  DaemonOptions options;
  options.listen = "0.0.0.0:0";
  options.config_yaml = "allow_insecure_http: true\n";
  Daemon fnd(options);
  CHECK(fnd.http_as("", "GET", "/healthz").status == 200);
}

TEST_CASE("every change is in the audit log with who made it, secrets go in and never come out",
          "[integration][access]") {
  Daemon fnd;
  std::string deployer = make_token(fnd, "ci", "deployer");
  std::string digest = fnd.upload_code("audited", make_code_archive({{"main.py", kHelloSource}}));
  REQUIRE(fnd.http_as(deployer, "PUT", "/api/v1/functions/audited",
                      R"({"runtime":"python3","handler":"main.handle","code":")" + digest + "\"}",
                      {{"Content-Type", "application/json"}}).status == 201);
  REQUIRE(fnd.http_as(deployer, "DELETE", "/api/v1/functions/audited").status == 200);
  const std::string value = "sk_live_UNIQUE_7f3a9c";
  CommandResult created = fnd.run_fnctl({"secret", "create", "stripe", "--from-literal", "key=" + value});
  INFO(created.err);
  REQUIRE(created.exit_code == 0);
  CHECK(fnd.http_as(deployer, "GET", "/api/v1/secrets").status == 403);

  HttpAnswer secrets = fnd.http("GET", "/api/v1/secrets");
  REQUIRE(secrets.status == 200);
  CHECK(contains(secrets.body, "\"stripe\""));
  CHECK(contains(secrets.body, "\"key\""));
  CHECK_FALSE(contains(secrets.body, value));
  CHECK(fnd.http("GET", "/api/v1/secrets/stripe").status == 405);  // values never come back

  CHECK(wait_until([&] {
    HttpAnswer audit = fnd.http("GET", "/api/v1/audit?limit=50");
    return contains(audit.body, "\"function.deploy\"") && contains(audit.body, "\"function.delete\"") &&
           contains(audit.body, "\"secret.put\"") && contains(audit.body, "\"token.create\"");
  }, 5s));
  HttpAnswer deploys = fnd.http("GET", "/api/v1/audit?action=function.deploy");
  CHECK(contains(deploys.body, "\"token:ci\""));
  CHECK_FALSE(contains(fnd.http("GET", "/api/v1/audit").body, value));
  CommandResult audit = fnd.run_fnctl({"audit", "--since", "1h"});
  CHECK(audit.exit_code == 0);
  CHECK(contains(audit.out, "secret.put"));
  CHECK(fnd.http_as(deployer, "GET", "/api/v1/audit").status == 403);
  // A refused change is recorded too (who tried what); a refused read is not.
  CHECK(fnd.http_as(deployer, "POST", "/api/v1/tokens", R"({"name":"x","role":"admin"})",
                    {{"Content-Type", "application/json"}}).status == 403);
  CHECK(wait_until([&] {
    HttpAnswer refused = fnd.http("GET", "/api/v1/audit?action=refused:tokens.manage");
    return contains(refused.body, "\"token:ci\"") && contains(refused.body, "\"forbidden\"");
  }, 5s));
  CHECK_FALSE(contains(fnd.http("GET", "/api/v1/audit").body, "refused:audit.read"));

  // The value is in neither the database's bytes nor the log.
  std::ifstream db(fnd.state_dir() + "/fnd.db", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(db)), std::istreambuf_iterator<char>());
  std::ifstream wal(fnd.state_dir() + "/fnd.db-wal", std::ios::binary);
  bytes.append((std::istreambuf_iterator<char>(wal)), std::istreambuf_iterator<char>());
  CHECK_FALSE(contains(bytes, value));
  CHECK_FALSE(contains(fnd.log(), value));
}

}  // namespace fnd::test

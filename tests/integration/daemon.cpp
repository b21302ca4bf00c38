#include "integration/daemon.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

extern char** environ;

namespace fnd::test {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr auto kReadyTimeout = 10s;
constexpr auto kReadyPollInterval = 5ms;
constexpr auto kStopTimeout = 30s;
constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

struct CurlEasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct ArchiveWriteDeleter {
  void operator()(archive* handle) const { archive_write_free(handle); }
};
struct ArchiveEntryDeleter {
  void operator()(archive_entry* entry) const { archive_entry_free(entry); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using ArchiveWritePtr = std::unique_ptr<archive, ArchiveWriteDeleter>;
using ArchiveEntryPtr = std::unique_ptr<archive_entry, ArchiveEntryDeleter>;

// curl_global_init is not thread-safe: done once, before any test thread sends a request.
void init_curl_once() {
  static const bool initialized = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)initialized;
}

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_whole_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  REQUIRE(out.good());
}

std::string trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

// ---------------------------------------------------------------------------- libcurl

struct Exchange {
  HttpAnswer answer;
  const std::function<bool(std::string_view)>* on_text = nullptr;
};

size_t on_header_line(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    exchange->answer.headers.clear();  // a 1xx head came first: only the final one counts
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name = lowercase(trim(line.substr(0, colon)));
    std::string value = trim(line.substr(colon + 1));
    auto [it, inserted] = exchange->answer.headers.try_emplace(name, value);
    if (!inserted) it->second += ", " + value;
  }
  return size * count;
}

size_t on_body_data(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  exchange->answer.body.append(data, size * count);
  if (exchange->on_text && (*exchange->on_text)(exchange->answer.body)) return 0;  // enough: abort
  return size * count;
}

HttpAnswer perform(const std::string& url, const std::string& method, const std::string& body,
                   const HeaderList& headers, std::chrono::milliseconds timeout,
                   const std::function<bool(std::string_view)>* on_text = nullptr, const std::string& unix_socket = {}) {
  init_curl_once();
  CurlEasyPtr curl(curl_easy_init());
  REQUIRE(curl);
  Exchange exchange;
  exchange.on_text = on_text;
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  if (!unix_socket.empty()) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, unix_socket.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header_line);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &exchange);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &exchange);
  if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (method != "GET" || !body.empty()) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!body.empty() || method == "POST" || method == "PUT") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
  }
  // Without this curl waits for "100 Continue" before sending larger bodies.
  CurlSlistPtr header_list(curl_slist_append(nullptr, "Expect:"));
  for (const auto& [name, value] : headers) {
    header_list.reset(curl_slist_append(header_list.release(), (name + ": " + value).c_str()));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());

  CURLcode result = curl_easy_perform(h);
  bool stopped_by_caller = result == CURLE_WRITE_ERROR && on_text != nullptr;
  if (result != CURLE_OK && !stopped_by_caller && !(on_text && result == CURLE_OPERATION_TIMEDOUT)) {
    exchange.answer.transport_error = curl_easy_strerror(result);
    exchange.answer.status = 0;
    return exchange.answer;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &exchange.answer.status);
  return exchange.answer;
}

// ---------------------------------------------------------------------------- libarchive

la_ssize_t append_to_string(archive*, void* client, const void* buffer, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

mode_t file_type_of(ArchiveEntry::Kind kind) {
  switch (kind) {
    case ArchiveEntry::Kind::file:
      return AE_IFREG;
    case ArchiveEntry::Kind::directory:
      return AE_IFDIR;
    case ArchiveEntry::Kind::symlink:
      return AE_IFLNK;
    case ArchiveEntry::Kind::fifo:
      return AE_IFIFO;
    case ArchiveEntry::Kind::char_device:
      return AE_IFCHR;
  }
  return AE_IFREG;
}

// ---------------------------------------------------------------------------- host state

std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.empty() &&
        std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      pids.push_back(std::stoi(name));
    }
  }
  return pids;
}

// A live (not zombie) process. Zombies are excluded: with fnd killed, nobody may reap an
// instance's exited processes, yet they hold no resources.
bool is_live_process(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("State:")) return line.find('Z') == std::string::npos;
  }
  return false;
}

bool mentions_any(const std::string& text, const std::set<std::string>& ids) {
  return std::any_of(ids.begin(), ids.end(), [&](const std::string& id) { return text.find(id) != std::string::npos; });
}

// Every "fnd" parent cgroup: the v2 root's, and one per mounted hierarchy (v1 controllers,
// name=systemd, the hybrid "unified" mount).
std::vector<fs::path> fnd_cgroup_parents() {
  std::vector<fs::path> parents{fs::path(kCgroupRoot) / "fnd"};
  std::error_code ec;
  for (const auto& hierarchy : fs::directory_iterator(kCgroupRoot, ec)) {
    if (hierarchy.is_directory(ec) && !hierarchy.is_symlink(ec)) parents.push_back(hierarchy.path() / "fnd");
  }
  return parents;
}

}  // namespace

// ---------------------------------------------------------------------------- HttpAnswer

std::string HttpAnswer::header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? std::string() : it->second;
}

json::value HttpAnswer::json() const {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec) FAIL("expected a JSON answer (HTTP " << status << "), got: " << body);
  return value;
}

std::string HttpAnswer::error_code() const {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) return {};
  const json::value* code = value.as_object().if_contains("error");
  code = code && code->is_object() ? code->as_object().if_contains("code") : nullptr;
  return code && code->is_string() ? std::string(code->as_string()) : std::string();
}

std::string HttpAnswer::error_message() const {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) return {};
  const json::value* message = value.as_object().if_contains("error");
  message = message && message->is_object() ? message->as_object().if_contains("message") : nullptr;
  return message && message->is_string() ? std::string(message->as_string()) : std::string();
}

// ---------------------------------------------------------------------------- free helpers

std::string make_tar_gz(const std::vector<ArchiveEntry>& entries) {
  std::string out;
  ArchiveWritePtr writer(archive_write_new());
  REQUIRE(writer);
  REQUIRE(archive_write_add_filter_gzip(writer.get()) == ARCHIVE_OK);
  REQUIRE(archive_write_set_format_pax_restricted(writer.get()) == ARCHIVE_OK);
  // Otherwise the output is padded with zeros to 10 KiB, which would defeat the size-limit test.
  REQUIRE(archive_write_set_bytes_in_last_block(writer.get(), 1) == ARCHIVE_OK);
  REQUIRE(archive_write_open(writer.get(), &out, nullptr, append_to_string, nullptr) == ARCHIVE_OK);
  for (const auto& item : entries) {
    ArchiveEntryPtr entry(archive_entry_new());
    archive_entry_set_pathname(entry.get(), item.path.c_str());
    archive_entry_set_filetype(entry.get(), file_type_of(item.kind));
    archive_entry_set_perm(entry.get(), item.mode);
    archive_entry_set_mtime(entry.get(), 1'700'000'000, 0);
    if (item.kind == ArchiveEntry::Kind::file)
      archive_entry_set_size(entry.get(), static_cast<la_int64_t>(item.content.size()));
    if (item.kind == ArchiveEntry::Kind::symlink) archive_entry_set_symlink(entry.get(), item.link_target.c_str());
    if (item.kind == ArchiveEntry::Kind::char_device) archive_entry_set_rdev(entry.get(), makedev(1, 3));  // /dev/null
    if (archive_write_header(writer.get(), entry.get()) != ARCHIVE_OK) {
      FAIL("cannot write archive entry " << item.path << ": " << archive_error_string(writer.get()));
    }
    if (!item.content.empty()) {
      REQUIRE(archive_write_data(writer.get(), item.content.data(), item.content.size()) ==
              static_cast<la_ssize_t>(item.content.size()));
    }
  }
  REQUIRE(archive_write_close(writer.get()) == ARCHIVE_OK);
  return out;
}

std::string make_code_archive(const std::map<std::string, std::string>& files,
                              const std::set<std::string>& executables) {
  std::vector<ArchiveEntry> entries;
  for (const auto& [path, content] : files) {
    entries.push_back({.path = path, .content = content, .mode = executables.contains(path) ? 0755u : 0644u});
  }
  return make_tar_gz(entries);
}

CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  // Output goes to files rather than pipes: no risk of a full pipe blocking the child.
  char out_template[] = "/tmp/fnd-test-out-XXXXXX";
  char err_template[] = "/tmp/fnd-test-err-XXXXXX";
  int out_fd = ::mkstemp(out_template);
  int err_fd = ::mkstemp(err_template);
  REQUIRE(out_fd >= 0);
  REQUIRE(err_fd >= 0);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> c_args;
  for (auto& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  pid_t pid = -1;
  int spawn_error = ::posix_spawnp(&pid, c_args[0], &actions, nullptr, c_args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_fd);
  ::close(err_fd);

  CommandResult result;
  if (spawn_error == 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = exit_code_of(status);
  }
  result.out = read_whole_file(out_template);
  result.err = read_whole_file(err_template);
  ::unlink(out_template);
  ::unlink(err_template);
  INFO("cannot run " << argv[0] << ": " << std::strerror(spawn_error));
  REQUIRE(spawn_error == 0);
  return result;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

std::string Leftovers::describe() const {
  std::ostringstream out;
  out << containers << " containers, " << bundles << " bundles, " << cgroups << " cgroups, " << processes
      << " processes";
  for (const auto& line : details) out << "\n  " << line;
  return out.str();
}

// ---------------------------------------------------------------------------- RawConnection

std::string RawAnswer::header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? std::string() : it->second;
}

RawConnection::RawConnection(const std::string& url) {
  std::string_view rest(url);
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  auto colon = rest.rfind(':');
  REQUIRE(colon != std::string_view::npos);
  std::string host(rest.substr(0, colon));
  int port = std::stoi(std::string(rest.substr(colon + 1)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::inet_pton(AF_INET, host.c_str(), &address.sin_addr) == 1);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd_ >= 0);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool RawConnection::fill(std::chrono::steady_clock::time_point deadline) {
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
}

std::optional<RawAnswer> RawConnection::read_answer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(deadline)) return std::nullopt;
  }
  RawAnswer answer;
  std::istringstream head(buffer_.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  std::istringstream status_line(line);
  std::string protocol;
  status_line >> protocol >> answer.status;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    answer.headers[lowercase(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  buffer_.erase(0, head_end + 4);
  if (answer.status < 200 || answer.status == 204 || answer.status == 304) return answer;
  if (lowercase(answer.header("transfer-encoding")).find("chunked") != std::string::npos) {
    while (true) {
      size_t eol;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        if (!fill(deadline)) return std::nullopt;
      }
      size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
      while (buffer_.size() < eol + 2 + size + 2) {
        if (!fill(deadline)) return std::nullopt;
      }
      answer.body += buffer_.substr(eol + 2, size);
      buffer_.erase(0, eol + 2 + size + 2);
      if (size == 0) return answer;  // trailers are not used by fnd
    }
  }
  if (std::string length = answer.header("content-length"); !length.empty()) {
    size_t size = std::stoul(length);
    while (buffer_.size() < size) {
      if (!fill(deadline)) return std::nullopt;
    }
    answer.body = buffer_.substr(0, size);
    buffer_.erase(0, size);
    return answer;
  }
  while (fill(deadline)) {
  }
  answer.body = std::exchange(buffer_, {});
  return answer;
}

bool RawConnection::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
  }
}

// ---------------------------------------------------------------------------- Daemon

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {
  if (options_.state_dir.empty()) {
    char dir_template[] = "/tmp/fnd-test-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    state_dir_ = dir_template;
  } else {
    state_dir_ = options_.state_dir;
  }
  if (!options_.config_yaml.empty()) write_whole_file(state_dir_ + "/test-config.yaml", options_.config_yaml);
  // A FAIL here throws out of the constructor, so the destructor would not run: clean up now.
  try {
    start();
  } catch (...) {
    if (running()) {
      ::kill(pid_, SIGKILL);
      wait_for_exit(kStopTimeout);
    }
    remove_state_dir();
    throw;
  }
}

Daemon::~Daemon() {
  if (running()) {
    ::kill(pid_, SIGTERM);
    if (!wait_for_exit(kStopTimeout)) {
      ::kill(pid_, SIGKILL);
      wait_for_exit(kStopTimeout);
    }
  }
  // After kill9() without restart() the containers still run: delete them so that removing
  // the state dir does not orphan them. A destructor must not throw, even from a REQUIRE.
  try {
    CommandResult listing = run_command({"crun", "--root", state_dir_ + "/oci", "list", "-q"});
    std::istringstream ids(listing.out);
    for (std::string id; std::getline(ids, id);) {
      if (!id.empty()) run_command({"crun", "--root", state_dir_ + "/oci", "delete", "--force", id});
    }
  } catch (...) {
  }
  // For debugging a failure: keep fnd.log, the database and the bundles for a look.
  if (const char* keep = std::getenv("FND_TEST_KEEP_STATE"); keep && *keep && std::string_view(keep) != "0") {
    std::fprintf(stderr, "fnd test: kept state dir %s\n", state_dir_.c_str());
    return;
  }
  remove_state_dir();
}

namespace {

// Detaches every mount at or below `dir`, deepest first: what a killed fnd left there (a stem
// cell's code and secrets mount points) would otherwise outlive the test's state dir.
void detach_mounts_under(const std::string& dir) {
  std::vector<std::string> points;
  std::istringstream mountinfo(read_whole_file("/proc/self/mountinfo"));
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    fields >> id >> parent >> device >> root >> point;
    if (point == dir || point.starts_with(dir + "/")) points.push_back(point);
  }
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& point : points) ::umount2(point.c_str(), MNT_DETACH);
}

}  // namespace

void Daemon::remove_state_dir() {
  std::error_code ec;
  detach_mounts_under(state_dir_ + "/instances");
  if (options_.state_dir.empty()) {
    fs::remove_all(state_dir_, ec);
    return;
  }
  for (const auto& entry : fs::directory_iterator(state_dir_, ec)) fs::remove_all(entry.path(), ec);
}

void Daemon::start() {
  // A daemon killed with SIGKILL leaves its address file behind; it must not pass for ready.
  std::error_code ec;
  fs::remove(state_dir_ + "/fnd.addr", ec);

  // FND_TEST_FND runs the tests against another fnd binary (e.g. an older build, to see a
  // regression test fail before its fix).
  const char* binary_override = std::getenv("FND_TEST_FND");
  const char* has_access_control = std::getenv("FND_TEST_FND_HAS_AUTH");
  std::string binary = binary_override && *binary_override ? binary_override : FND_BINARY;
  // An older fnd is taken to predate the local socket and tokens, unless said otherwise.
  const bool overridden = binary != FND_BINARY && !(has_access_control && *has_access_control == '1');
  std::vector<std::string> args{binary, "--state-dir", state_dir_, "--listen", options_.listen, "--log-level", "debug"};
  // A socket of its own (the default one is the host's), unless the test passes another.
  if (std::find(options_.extra_args.begin(), options_.extra_args.end(), "--api-socket") == options_.extra_args.end() &&
      !overridden) {
    args.insert(args.end(), {"--api-socket", api_socket()});
  }
  if (!options_.config_yaml.empty()) {
    args.push_back("--config");
    args.push_back(state_dir_ + "/test-config.yaml");
  }
  if (!options_.warm_pools) args.push_back("--no-warm-pools");
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> c_args;
  for (auto& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);

  int log_fd = ::open((state_dir_ + "/fnd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  REQUIRE(log_fd >= 0);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec. If the test binary dies (a crash, a kill),
    // fnd gets SIGTERM and cleans up instead of running on with its containers.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(126);
    if (options_.file_limit > 0) {
      rlimit limit{options_.file_limit, options_.file_limit};
      ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(c_args[0], c_args.data());
    ::_exit(127);
  }
  ::close(log_fd);
  REQUIRE(pid > 0);
  pid_ = pid;
  wait_until_ready();
  if (admin_token_.empty() && !overridden) create_admin_token();
}

std::string Daemon::api_socket() const { return state_dir_ + "/api.sock"; }

void Daemon::create_admin_token() {
  // Over the local socket as root, as an operator would bootstrap a new fnd.
  auto answer = local_http("POST", "/api/v1/tokens", R"({"name": "test-admin", "role": "admin"})",
                           {{"Content-Type", "application/json"}});
  if (answer.status != 201) FAIL("could not create the tests' admin token: " << answer.status << " " << answer.body);
  admin_token_ = std::string(answer.json().as_object().at("secret").as_string());
}

HttpAnswer Daemon::local_http(const std::string& method, const std::string& path, const std::string& body,
                              const HeaderList& headers) const {
  return perform("http://localhost" + path, method, body, headers, 60s, nullptr, api_socket());
}

HttpAnswer Daemon::http_as(const std::string& token, const std::string& method, const std::string& path,
                           const std::string& body, const HeaderList& headers, std::chrono::milliseconds timeout) const {
  HeaderList with_token = headers;
  if (!token.empty()) with_token.emplace_back("Authorization", "Bearer " + token);
  return perform(url_ + path, method, body, with_token, timeout);
}

void Daemon::wait_until_ready() {
  const fs::path addr_file = state_dir_ + "/fnd.addr";
  auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string address = read_whole_file(addr_file);
    if (address.ends_with('\n')) {  // fnd writes the line at once; the newline means it is complete
      url_ = "http://" + trim(address);
      return;
    }
    if (auto code = wait_for_exit(0ms))
      FAIL("fnd exited with status " << *code << " before it was ready; its log:\n" << log());
    std::this_thread::sleep_for(kReadyPollInterval);
  }
  FAIL("fnd did not write " << addr_file.string() << " within 10 s; its log:\n" << log());
}

std::optional<int> Daemon::wait_for_exit(std::chrono::milliseconds timeout) {
  if (!running()) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      pid_ = -1;
      return exit_code_of(status);
    }
    if (reaped < 0 && errno != EINTR) {
      pid_ = -1;
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kReadyPollInterval);
  }
}

int Daemon::stop() {
  REQUIRE(running());
  ::kill(pid_, SIGTERM);
  if (auto code = wait_for_exit(kStopTimeout)) return *code;
  ::kill(pid_, SIGKILL);
  wait_for_exit(kStopTimeout);
  FAIL("fnd did not exit within 30 s of SIGTERM; its log:\n" << log());
  return -1;
}

void Daemon::kill9() {
  REQUIRE(running());
  ::kill(pid_, SIGKILL);
  REQUIRE(wait_for_exit(kStopTimeout).has_value());
}

void Daemon::set_config(const std::string& yaml) {
  options_.config_yaml = yaml;
  write_whole_file(state_dir_ + "/test-config.yaml", yaml);
}

void Daemon::restart() {
  if (running()) stop();
  start();
}

std::chrono::milliseconds Daemon::cpu_time() const {
  // Fields 14 and 15 of /proc/PID/stat; the command (field 2) may hold spaces, so count from ')'.
  std::string stat = read_whole_file("/proc/" + std::to_string(pid_) + "/stat");
  auto close = stat.rfind(')');
  REQUIRE(close != std::string::npos);
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  unsigned long long user = 0, system = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) user = std::stoull(field);
    if (i == 15) system = std::stoull(field);
  }
  return std::chrono::milliseconds((user + system) * 1000 / static_cast<unsigned long long>(::sysconf(_SC_CLK_TCK)));
}

std::string Daemon::log() const { return read_whole_file(state_dir_ + "/fnd.log"); }

HttpAnswer Daemon::http(const std::string& method, const std::string& path, const std::string& body,
                        const HeaderList& headers, std::chrono::milliseconds timeout) const {
  // The management API and /metrics as the tests' admin, unless the test sends its own token.
  bool needs_token = path.starts_with("/api/") || path.starts_with("/metrics");
  bool has_token = std::any_of(headers.begin(), headers.end(), [](const auto& header) {
    return header.first == "Authorization" || header.first == "authorization";
  });
  if (needs_token && !has_token) return http_as(admin_token_, method, path, body, headers, timeout);
  return perform(url_ + path, method, body, headers, timeout);
}

std::string Daemon::stream_get(const std::string& path, const std::function<bool(std::string_view)>& on_text,
                               std::chrono::milliseconds timeout) const {
  HeaderList headers;
  if (path.starts_with("/api/") && !admin_token_.empty()) headers.emplace_back("Authorization", "Bearer " + admin_token_);
  return perform(url_ + path, "GET", "", headers, timeout, &on_text).body;
}

HttpAnswer Daemon::invoke(const std::string& name, const std::string& body, const std::string& suffix,
                          const HeaderList& headers) const {
  return http("POST", "/function/" + name + suffix, body, headers);
}

std::string Daemon::upload_code(const std::string& name, const std::string& archive) const {
  HttpAnswer answer =
      http("PUT", "/api/v1/functions/" + name + "/code", archive, {{"Content-Type", "application/gzip"}});
  INFO("code upload answered: " << answer.body << answer.transport_error);
  REQUIRE(answer.status == 201);
  json::value body = answer.json();
  const json::value* digest = body.is_object() ? body.as_object().if_contains("digest") : nullptr;
  REQUIRE((digest && digest->is_string()));
  return std::string(digest->as_string());
}

HttpAnswer Daemon::deploy(const std::string& name, const std::map<std::string, std::string>& files,
                          const std::string& spec_json, const std::set<std::string>& executables) const {
  std::string digest = upload_code(name, make_code_archive(files, executables));
  boost::system::error_code ec;
  json::value spec = json::parse(spec_json, ec);
  INFO("test bug: the spec is not JSON: " << spec_json);
  REQUIRE((!ec && spec.is_object()));
  spec.as_object()["code"] = digest;
  HttpAnswer answer =
      http("PUT", "/api/v1/functions/" + name, json::serialize(spec), {{"Content-Type", "application/json"}});
  INFO("spec PUT answered: " << answer.body << answer.transport_error);
  REQUIRE((answer.status == 201 || answer.status == 200));
  return answer;
}

CommandResult Daemon::run_fnctl(const std::vector<std::string>& args) const {
  const char* binary_override = std::getenv("FND_TEST_FNCTL");
  std::vector<std::string> argv{binary_override && *binary_override ? binary_override : FNCTL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, {"FNCTL_URL=" + url_, "FNCTL_TOKEN=" + admin_token_});
}

json::object Daemon::describe(const std::string& name) const {
  HttpAnswer answer = http("GET", "/api/v1/functions/" + name);
  INFO("describe " << name << " answered: " << answer.body << answer.transport_error);
  REQUIRE(answer.status == 200);
  return answer.json().as_object();
}

std::set<std::string> Daemon::instance_ids(const std::string& name) const {
  std::set<std::string> ids;
  json::object function = describe(name);
  for (const auto& instance : function.at("instances").as_array()) {
    const json::value* id = instance.as_object().if_contains("id");
    if (id && id->is_string() && !id->as_string().empty()) ids.insert(std::string(id->as_string()));
  }
  return ids;
}

Leftovers Daemon::leftovers(const std::set<std::string>& instance_ids) const {
  Leftovers found;
  CommandResult listing = run_command({"crun", "--root", state_dir_ + "/oci", "list", "-q"});
  std::istringstream containers(listing.out);
  for (std::string id; std::getline(containers, id);) {
    if (id.empty()) continue;
    ++found.containers;
    found.details.push_back("container " + id);
  }
  std::error_code ec;
  for (const auto& bundle : fs::directory_iterator(state_dir_ + "/instances", ec)) {
    ++found.bundles;
    found.details.push_back("bundle " + bundle.path().string());
  }
  for (const auto& parent : fnd_cgroup_parents()) {
    for (const auto& cgroup : fs::directory_iterator(parent, ec)) {
      // Matched anywhere in the name: fnd may prefix the instance id (e.g. with its state dir's hash).
      if (cgroup.is_directory(ec) && mentions_any(cgroup.path().filename().string(), instance_ids)) {
        ++found.cgroups;
        found.details.push_back("cgroup " + cgroup.path().string());
      }
    }
  }
  for (pid_t pid : all_pids()) {
    if (!is_live_process(pid)) continue;
    std::string cgroups = read_whole_file("/proc/" + std::to_string(pid) + "/cgroup");
    if (mentions_any(cgroups, instance_ids)) {
      ++found.processes;
      std::string command_line = read_whole_file("/proc/" + std::to_string(pid) + "/cmdline");
      std::replace(command_line.begin(), command_line.end(), '\0', ' ');
      found.details.push_back("process " + std::to_string(pid) + ": " + trim(command_line));
    }
  }
  return found;
}

}  // namespace fnd::test

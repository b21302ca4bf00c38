// Integration test fixture: runs the real fnd binary (FND_BINARY) on a private state dir and
// port 0, and talks to it over HTTP. Every Daemon stops its process in its destructor and only
// then removes the state dir, so a failing test leaves neither a daemon nor containers behind.
// FND_TEST_KEEP_STATE=1 keeps the state dirs (fnd.log, bundles) for debugging.
// FND_TEST_FND and FND_TEST_FNCTL run the tests against other binaries (an older build, to see a
// regression test fail before its fix); FND_TEST_FND_HAS_AUTH=1 says that fnd has the local
// socket and tokens already (the fixture then makes its admin token as with its own build).
//
// Not thread-safe, except for http(), stream_get() and the free functions, which may run on
// several threads at once (used to send parallel requests).
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fnd::test {

using namespace std::chrono_literals;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpAnswer {
  long status = 0;                             // 0 when the exchange itself failed
  std::map<std::string, std::string> headers;  // names lowercased; repeated fields joined with ", "
  std::string body;
  std::string transport_error;  // curl's message when status is 0

  std::string header(const std::string& lowercase_name) const;
  // The body as JSON; FAILs the test (with the body) when it is not JSON.
  boost::json::value json() const;
  // For fnd's own errors ({"error":{"code","message"}}); empty when the body is not one.
  std::string error_code() const;
  std::string error_message() const;
};

// What a run of a command left: exit code (or 128+signal) and its captured output.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// One entry of a test archive. Hostile entries (absolute paths, "..", links out of the tree,
// devices) are possible on purpose: the daemon must reject them.
struct ArchiveEntry {
  enum class Kind { file, directory, symlink, fifo, char_device };
  std::string path;
  Kind kind = Kind::file;
  std::string content;      // file only
  std::string link_target;  // symlink only
  unsigned mode = 0644;
};

// Builds a .tar.gz in memory with libarchive.
std::string make_tar_gz(const std::vector<ArchiveEntry>& entries);
// A function's folder as a .tar.gz: relative path → content; `executables` get mode 0755.
std::string make_code_archive(const std::map<std::string, std::string>& files,
                              const std::set<std::string>& executables = {});

// Runs argv[0] with stdin from /dev/null, extra environment on top of ours; blocks until it exits.
CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {});

// Polls `condition` every `interval` until it holds or `timeout` passes; returns whether it held.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = 20ms);

// What an instance can leave behind on the host when fnd does not clean up.
struct Leftovers {
  size_t containers = 0;             // known to crun under the state dir's OCI root
  size_t bundles = 0;                // entries in STATE/instances
  size_t cgroups = 0;                // cgroup dirs named after one of the instances, in any hierarchy
  size_t processes = 0;              // live processes inside one of the instances' cgroups
  std::vector<std::string> details;  // one line per leftover, for failure messages

  bool none() const { return containers == 0 && bundles == 0 && cgroups == 0 && processes == 0; }
  std::string describe() const;
};

// One HTTP answer read off a raw connection.
struct RawAnswer {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;

  std::string header(const std::string& lowercase_name) const;
};

// A plain TCP connection to fnd for exchanges libcurl would tidy up: Expect without a body,
// malformed chunks, idle connections, exact bytes. Closed when destroyed.
class RawConnection {
 public:
  // `url` is "http://HOST:PORT" (Daemon::url()). connected() says whether it worked.
  explicit RawConnection(const std::string& url);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Sends all of `bytes`; false when the peer closed or reset the connection.
  bool send(std::string_view bytes);
  // Reads one answer (1xx answers too: each is its own answer). nullopt when the connection
  // closed or `timeout` passed before a whole answer arrived.
  std::optional<RawAnswer> read_answer(std::chrono::milliseconds timeout = 10s);
  // Whether the peer closed the connection (EOF or reset) within `timeout`; unread data is dropped.
  bool closed_by_peer(std::chrono::milliseconds timeout);

 private:
  // Reads more into buffer_; false on close, error or timeout.
  bool fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buffer_;
};

struct DaemonOptions {
  std::string config_yaml;              // written to a file passed with --config when not empty
  std::string listen = "127.0.0.1:0";   // --listen
  std::vector<std::string> extra_args;  // appended to fnd's command line
  // Stem cells and pre-created containers: off by default so that tests see only their own
  // instances (those are containers too); warm_pool_test.cpp turns them on.
  bool warm_pools = false;
  // When > 0: fnd's RLIMIT_NOFILE (soft and hard), to run it out of file descriptors.
  unsigned file_limit = 0;
  // An existing empty directory to use as the state dir (e.g. a small tmpfs the test mounted);
  // empty = a new temporary one. Its contents are removed with the Daemon, the dir itself not.
  std::string state_dir;
};

class Daemon {
 public:
  // Starts fnd and waits until it is ready; FAILs the test with fnd's log when it does not start.
  explicit Daemon(DaemonOptions options = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // SIGTERM, then wait (up to 30 s) for fnd to exit; returns its exit code (128+signal when
  // killed). FAILs when it does not exit in time (it is then killed).
  int stop();
  // SIGKILL: fnd gets no chance to clean up, so its containers keep running.
  void kill9();
  // Starts fnd again on the same state dir (stops it first if it runs).
  void restart();
  // The config file the next start uses (DaemonOptions::config_yaml).
  void set_config(const std::string& yaml);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // CPU time (user + system) fnd has used so far.
  std::chrono::milliseconds cpu_time() const;
  const std::string& url() const { return url_; }
  const std::string& state_dir() const { return state_dir_; }
  std::string log() const;  // fnd's stdout and stderr so far, across restarts

  // One HTTP exchange with fnd (path starts with '/'). Never FAILs by itself. The management API
  // and /metrics are called with the tests' admin token unless `headers` carry an Authorization.
  HttpAnswer http(const std::string& method, const std::string& path, const std::string& body = "",
                  const HeaderList& headers = {}, std::chrono::milliseconds timeout = 60s) const;
  // The same with `token` as the bearer token (empty: none at all, an anonymous caller).
  HttpAnswer http_as(const std::string& token, const std::string& method, const std::string& path,
                     const std::string& body = "", const HeaderList& headers = {},
                     std::chrono::milliseconds timeout = 60s) const;
  // An exchange over fnd's local management socket (as root, the test's user: an admin there).
  HttpAnswer local_http(const std::string& method, const std::string& path, const std::string& body = "",
                        const HeaderList& headers = {}) const;
  // fnd's local management socket (STATE_DIR/api.sock) and the admin token the fixture made
  // through it at the first start (empty against an older fnd binary).
  std::string api_socket() const;
  const std::string& admin_token() const { return admin_token_; }
  // GET that streams: `on_text(all text so far)` is called per chunk and returns true to stop.
  // Returns the text received; stops at `timeout` too.
  std::string stream_get(const std::string& path, const std::function<bool(std::string_view)>& on_text,
                         std::chrono::milliseconds timeout) const;
  // POST `body` to /function/NAME (plus `suffix`, which may carry a path and a query).
  HttpAnswer invoke(const std::string& name, const std::string& body = "", const std::string& suffix = "",
                    const HeaderList& headers = {}) const;

  // PUT .../NAME/code with the archive; REQUIREs 201 and returns the digest.
  std::string upload_code(const std::string& name, const std::string& archive) const;
  // Uploads the files as the function's code, then PUTs `spec_json` plus that code's digest.
  // REQUIREs both to succeed; returns the spec answer.
  HttpAnswer deploy(const std::string& name, const std::map<std::string, std::string>& files,
                    const std::string& spec_json, const std::set<std::string>& executables = {}) const;

  // Runs fnctl (FNCTL_BINARY) against this daemon (FNCTL_URL and FNCTL_TOKEN set: the admin's).
  CommandResult run_fnctl(const std::vector<std::string>& args) const;

  // GET /api/v1/functions/NAME; REQUIREs 200.
  boost::json::object describe(const std::string& name) const;
  // Ids of the function's instances as describe lists them now.
  std::set<std::string> instance_ids(const std::string& name) const;
  // What is left on the host: every container and bundle of this state dir, and the cgroups
  // and processes of the given instances.
  Leftovers leftovers(const std::set<std::string>& instance_ids) const;

 private:
  void start();
  void wait_until_ready();
  void create_admin_token();
  void remove_state_dir();
  // Waits up to `timeout` for the process to exit; returns its exit code, or nullopt.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);

  DaemonOptions options_;
  std::string state_dir_;
  std::string url_;
  std::string admin_token_;
  pid_t pid_ = -1;
};

}  // namespace fnd::test

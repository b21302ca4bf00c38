#include "oci_runtime.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <spdlog/spdlog.h>
#include <sstream>

namespace fnd::runtime::internal {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  std::string path = ::getenv("PATH") ? ::getenv("PATH") : "";
  path += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = fmt::format("{}/{}", dir, name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string read_file_tail(const fs::path& path, size_t max_bytes) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::vector<std::string> OciRuntime::command(std::initializer_list<std::string> args) const {
  std::vector<std::string> argv{path_, "--root", root_};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

asio::awaitable<Status> OciRuntime::locate(const std::string& name) {
  path_ = find_executable(name);
  if (path_.empty()) {
    co_return make_error("runtime_unavailable", fmt::format("OCI runtime '{}' not found: install it (apt-get install crun) or "
                                                            "set runtime.oci_runtime to crun, runc or a path", name), 500);
  }
  // Built before co_await: GCC 12 cannot keep an initializer_list alive across a suspension.
  std::vector<std::string> argv{path_, "--version"};
  auto version = co_await run_to_completion(std::move(argv), children_);
  crun_ = version && version->output.starts_with("crun");
  co_return Status{};
}

asio::awaitable<Result<Completed>> OciRuntime::run(const std::string& bundle, const std::string& id) {
  auto argv = command({"run", "--bundle", bundle, id});
  co_return co_await run_to_completion(std::move(argv), children_);
}

asio::awaitable<Result<pid_t>> OciRuntime::launch(const LaunchRequest& request) {
  const std::string pid_file = request.bundle + "/pid";
  std::vector<std::string> argv = command({"--log", request.bundle + "/oci.log"});
  if (request.create_only) {
    argv.push_back("create");
  } else {
    argv.push_back("run");
    argv.push_back("--detach");
  }
  for (const std::string& arg : {std::string("--bundle"), request.bundle, std::string("--pid-file"), pid_file}) argv.push_back(arg);
  if (request.fd3 >= 0) {
    argv.push_back("--preserve-fds");
    argv.push_back("1");
  }
  argv.push_back(request.id);
  auto oci = spawn(argv, request.stdout_fd, request.stderr_fd, request.fd3);
  if (!oci) co_return oci.error();
  children_.track(oci->pid);
  ExitStatus status = co_await wait_for_exit(oci->pidfd);
  children_.untrack(oci->pid);
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  if (status.signaled || status.code != 0 || pid <= 0) {
    std::string log = read_file_tail(request.bundle + "/oci.log", 2048);
    co_return make_error(std::string(kOciFailed), fmt::format("{} could not start its container ({}): {}",
                                                              fs::path(path_).filename().string(), status.describe(),
                                                              log.empty() ? "no details" : log), 502);
  }
  co_return pid;
}

asio::awaitable<Status> OciRuntime::start(const std::string& id) {
  if (crun_) {
    // What `crun start` does, without paying ~5 ms for crun's own start: the container's init
    // blocks reading exec.fifo; one byte lets it exec the function. O_NONBLOCK: when the init
    // is gone, open fails (ENXIO) instead of waiting forever for a reader.
    std::string fifo = fmt::format("{}/{}/exec.fifo", root_, id);
    UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) co_return make_error(std::string(kOciFailed), fmt::format("cannot open {}: {}", fifo, std::strerror(errno)), 500);
    ::unlink(fifo.c_str());  // crun reports the container running once the fifo is gone
    if (::write(fd.get(), "", 1) != 1) {
      co_return make_error(std::string(kOciFailed), fmt::format("cannot signal {}: {}", fifo, std::strerror(errno)), 500);
    }
    co_return Status{};
  }
  auto argv = command({"start", id});
  auto started = co_await run_to_completion(std::move(argv), children_);
  if (!started || started->status.signaled || started->status.code != 0) {
    co_return make_error(std::string(kOciFailed), started ? started->output : started.error().message, 500);
  }
  co_return Status{};
}

asio::awaitable<void> OciRuntime::remove(const std::string& id) {
  auto argv = command({"delete", "--force", id});
  auto result = co_await run_to_completion(std::move(argv), children_);
  if (result && result->status.code != 0 && !result->output.empty() && result->output.find("not exist") == std::string::npos) {
    spdlog::warn("deleting container {}: {}", id, result->output);
  }
}

asio::awaitable<std::vector<std::string>> OciRuntime::list() {
  std::vector<std::string> ids;
  auto argv = command({"list", "-q"});
  auto listing = co_await run_to_completion(std::move(argv), children_);
  if (listing && listing->status.code == 0) {
    std::stringstream lines(listing->output);
    for (std::string id; std::getline(lines, id);) {
      if (!id.empty()) ids.push_back(id);
    }
  }
  co_return ids;
}

}  // namespace fnd::runtime::internal

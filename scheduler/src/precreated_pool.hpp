// Functions that cannot use a stem cell (binary ones, or env read at interpreter start) keep one
// container created ahead (OCI create: namespaces, cgroup and mounts ready, the process waiting
// to exec), so their cold start is an exec instead of a whole container start. One per
// function, for its latest revision, replaced in the background after each use; at most `max`
// in all: beyond that the least recently used function gives its container up.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "runtime/instance.hpp"
#include "store/function_repository.hpp"

namespace fnd::runtime {
class ContainerRuntime;
}

namespace fnd::scheduler::internal {

class PrecreatedPool {
 public:
  PrecreatedPool(boost::asio::any_io_executor executor, runtime::ContainerRuntime& runtime, size_t max);

  // The function's latest revision (deploy, startup): creates its container in the background
  // when the function is one that gets one, replacing one of an older revision.
  void prepare(std::shared_ptr<const store::Revision> revision);
  // The created container of exactly this revision, or nullptr. A replacement is created in the
  // background.
  std::shared_ptr<runtime::Instance> take(const store::Revision& revision);
  // The function is gone: its container is removed.
  void forget(const std::string& function);
  // Stops creating and removes every created container.
  boost::asio::awaitable<void> shutdown();

  size_t created() const;
  // Appends fnd_precreated_containers.
  void render_metrics(std::string& out) const;
  static bool wants(const config::FunctionSpec& spec);

 private:
  struct Entry {
    std::shared_ptr<const store::Revision> revision;
    std::shared_ptr<runtime::Instance> instance;
    bool creating = false;
    std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
  };
  void create_in_background(const std::string& function);
  void discard(std::shared_ptr<runtime::Instance> instance);
  bool make_room(const std::string& keep);

  boost::asio::any_io_executor executor_;
  runtime::ContainerRuntime& runtime_;
  size_t max_;
  std::map<std::string, Entry> entries_;
  bool stopping_ = false;
};

}  // namespace fnd::scheduler::internal

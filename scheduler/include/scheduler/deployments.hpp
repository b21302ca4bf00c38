// Deploy, update and delete of functions, in one place: the repository (one atomic revision per
// deploy), the live routing table, the scheduler's tracking of revisions, log and code cleanup,
// and the start-up load. Subscribers (the mesh's registry, eventing's triggers) hear of every
// change from here, never by polling the store.
//
// Not thread safe: use from the io_context's thread only. Store writes block briefly (SQLite);
// code garbage collection runs on the blocking executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "config/function_spec.hpp"
#include "core/error.hpp"
#include "scheduler/function_directory.hpp"
#include "scheduler/traffic_split.hpp"
#include "store/code_store.hpp"
#include "store/disk_reserve.hpp"
#include "store/function_repository.hpp"
#include "store/log_store.hpp"

namespace fnd::scheduler {

inline constexpr std::string_view kFunctionBeingDeleted = "function_being_deleted";  // 409

enum class DeploymentChange { deployed, updated, deleted };

struct DeploymentEvent {
  DeploymentChange change = DeploymentChange::deployed;
  std::string function;
  std::shared_ptr<const store::Revision> revision;  // the live revision; null when deleted
};

// What deployments need from whoever runs instances (the Scheduler; a fake in tests).
class RevisionLifecycle {
 public:
  virtual ~RevisionLifecycle() = default;
  // `revision` is its function's live revision now (warm pools may get ready for it).
  virtual void track(std::shared_ptr<const store::Revision> revision) = 0;
  // Only `served` (sorted revision numbers: the latest and those its traffic names) take requests
  // from now on: the others stop taking requests and stop when idle; a served one that was
  // retired takes requests again.
  virtual void serve_only(const std::string& function, std::span<const uint32_t> served) = 0;
  // The function is gone: requests in flight may finish within `drain`, then its instances stop.
  virtual boost::asio::awaitable<size_t> stop_function(const std::string& function, std::chrono::milliseconds drain) = 0;
};

struct DeployResult {
  std::shared_ptr<const store::Revision> revision;
  bool created = false;  // false: code and spec equal the live revision's, nothing changed
};

class Deployments {
 public:
  Deployments(boost::asio::any_io_executor executor, store::FunctionRepository& repository, store::CodeStore& code,
              store::DiskReserve& reserve, store::LogStore& logs, FunctionDirectory& directory,
              RevisionLifecycle& lifecycle, boost::asio::any_io_executor blocking_executor,
              config::SpecLimits limits);

  // Called for every change, after it is committed. Subscribe before load().
  void subscribe(std::function<void(const DeploymentEvent&)> subscriber);
  // Loads every function's live revision from the store (at start-up) and announces each as
  // deployed. Unreadable revisions mark their function broken; only an unreadable store fails.
  Status load();
  // Makes `spec` (spec.name set; an empty spec.code keeps the latest revision's code) the
  // function's live revision in one transaction. A function with weights in its traffic keeps
  // them: the new revision takes no split traffic until the split names it (it answers to
  // @rN at once); one without weights sends every call to the new revision. Errors: 422 invalid_spec (limits), 422
  // code_not_found, 422 code_required (a new function without code), 409
  // function_being_deleted, 412 revision_mismatch (precondition), store errors.
  Result<DeployResult> deploy(config::FunctionSpec spec, const store::RevisionPrecondition& precondition);
  // Splits the function's calls across its revisions and sets its tags (`spec`; no weights = all
  // calls to the latest revision), stored and in effect for the next call: the revisions it
  // names stay servable (their instances too), the others retire. Errors: 404 / 500 as
  // FunctionDirectory::unavailable, 409 function_being_deleted, 422 invalid_traffic, 422
  // revision_damaged (a named revision's stored spec cannot be read), store errors.
  Result<TrafficSplit> set_traffic(const std::string& name, TrafficSpec spec);
  // A new revision of the function with its live spec, so that its instances are replaced (after
  // a secret it uses changed). Errors: those of deploy(), 404 when the function is not live.
  Result<DeployResult> roll(const std::string& name);
  // The live functions whose spec lists secret `secret`.
  std::vector<std::string> users_of_secret(std::string_view secret) const;
  // Deletes the function: new invocations get 404 at once, requests in flight finish within the
  // function's timeout, its instances stop, its revisions, logs and unshared code go. Returns
  // how many instances were stopped. Errors: 404 function_not_found, 409 function_being_deleted.
  boost::asio::awaitable<Result<size_t>> remove(const std::string& name);
  bool being_deleted(std::string_view name) const { return deleting_.contains(name); }

  // Collects unreferenced code now (uploaded more than `grace` ago), then every `interval`.
  void start_code_collection(std::chrono::milliseconds interval, std::chrono::milliseconds grace);
  void stop();

  const FunctionDirectory& directory() const { return directory_; }

 private:
  void announce(const DeploymentEvent& event);
  // Tells the lifecycle which revisions of `name` take requests now (after the directory changed).
  void serve(const std::string& name);
  boost::asio::awaitable<void> collect_code(SystemTime stored_before, std::optional<std::set<std::string>> only);

  store::FunctionRepository& repository_;
  store::CodeStore& code_;
  store::DiskReserve& reserve_;
  store::LogStore& logs_;
  FunctionDirectory& directory_;
  RevisionLifecycle& lifecycle_;
  boost::asio::any_io_executor blocking_executor_;
  config::SpecLimits limits_;
  std::vector<std::function<void(const DeploymentEvent&)>> subscribers_;
  std::set<std::string, std::less<>> deleting_;
  boost::asio::steady_timer timer_;
};

}  // namespace fnd::scheduler

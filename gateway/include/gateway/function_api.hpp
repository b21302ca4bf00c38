// The management REST API for functions (docs/api.md): deploy specs and code, list, describe,
// delete, and read logs.
//
// Not thread safe: use from the io_context's thread only. Store writes block briefly (SQLite);
// unpacking code runs on `blocking_executor`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "gateway/function_directory.hpp"
#include "gateway/http_server.hpp"
#include "runtime/log_store.hpp"
#include "scheduler/scheduler.hpp"
#include "store/code_store.hpp"
#include "store/disk_reserve.hpp"
#include "store/function_repository.hpp"

namespace fnd::gateway {

class FunctionApi {
 public:
  FunctionApi(boost::asio::any_io_executor executor, store::FunctionRepository& repository, store::CodeStore& code,
              store::DiskReserve& reserve, FunctionDirectory& directory, scheduler::Scheduler& scheduler,
              runtime::LogStore& logs, boost::asio::any_io_executor blocking_executor, config::SpecLimits spec_limits = {})
      : repository_(repository), code_(code), reserve_(reserve), directory_(directory), scheduler_(scheduler), logs_(logs),
        blocking_executor_(std::move(blocking_executor)), spec_limits_(spec_limits), timer_(executor) {}

  // Collects unreferenced code now (uploaded more than `grace` ago), then every `interval`,
  // on the blocking executor, until stop().
  void start_code_collection(std::chrono::milliseconds interval, std::chrono::milliseconds grace);
  void stop();

  // `rest` is the path after /api/v1/functions ("", "/hello", "/hello/code", "/hello/logs").
  boost::asio::awaitable<bool> handle(Request& request, std::string_view rest, boost::beast::tcp_stream& client);

 private:
  boost::asio::awaitable<bool> put_spec(Request& request, const std::string& name, boost::beast::tcp_stream& client);
  boost::asio::awaitable<bool> put_code(Request& request, const std::string& name, boost::beast::tcp_stream& client);
  boost::asio::awaitable<bool> list(Request& request, boost::beast::tcp_stream& client);
  boost::asio::awaitable<bool> describe(Request& request, const std::string& name, boost::beast::tcp_stream& client);
  boost::asio::awaitable<bool> remove(Request& request, const std::string& name, boost::beast::tcp_stream& client);
  boost::asio::awaitable<bool> logs(Request& request, const std::string& name, std::string_view query,
                                    boost::beast::tcp_stream& client);
  // Removes code no revision names that was stored before `stored_before` (only the digests in
  // `only`, when given), then sets the disk reserve aside again.
  boost::asio::awaitable<void> collect_code(SystemTime stored_before, std::optional<std::set<std::string>> only);
  Result<store::PutRevisionResult> commit(const config::FunctionSpec& spec, const store::RevisionPrecondition& precondition);

  store::FunctionRepository& repository_;
  store::CodeStore& code_;
  store::DiskReserve& reserve_;
  FunctionDirectory& directory_;
  scheduler::Scheduler& scheduler_;
  runtime::LogStore& logs_;
  boost::asio::any_io_executor blocking_executor_;
  config::SpecLimits spec_limits_;
  std::set<std::string, std::less<>> deleting_;  // deletes draining their requests: deploys wait
  boost::asio::steady_timer timer_;               // the periodic code collection
};

}  // namespace fnd::gateway

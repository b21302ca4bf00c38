// The management REST API for functions (docs/api.md): deploy specs and code, list, describe,
// delete, and read logs.
//
// Not thread safe: use from the io_context's thread only. Store writes block briefly (SQLite);
// unpacking code runs on `blocking_executor`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <set>
#include <string>
#include <string_view>

#include "gateway/function_directory.hpp"
#include "gateway/http_server.hpp"
#include "runtime/log_store.hpp"
#include "scheduler/scheduler.hpp"
#include "store/code_store.hpp"
#include "store/function_repository.hpp"

namespace fnd::gateway {

class FunctionApi {
 public:
  FunctionApi(store::FunctionRepository& repository, store::CodeStore& code, FunctionDirectory& directory,
              scheduler::Scheduler& scheduler, runtime::LogStore& logs, boost::asio::any_io_executor blocking_executor,
              config::SpecLimits spec_limits = {})
      : repository_(repository), code_(code), directory_(directory), scheduler_(scheduler), logs_(logs),
        blocking_executor_(std::move(blocking_executor)), spec_limits_(spec_limits) {}

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
  Result<store::PutRevisionResult> commit(const config::FunctionSpec& spec, const store::RevisionPrecondition& precondition);

  store::FunctionRepository& repository_;
  store::CodeStore& code_;
  FunctionDirectory& directory_;
  scheduler::Scheduler& scheduler_;
  runtime::LogStore& logs_;
  boost::asio::any_io_executor blocking_executor_;
  config::SpecLimits spec_limits_;
  std::set<std::string, std::less<>> deleting_;  // deletes draining their requests: deploys wait
};

}  // namespace fnd::gateway

// The management REST API for functions (docs/api.md): upload code, deploy specs, list, describe,
// delete, and read logs. HTTP only: deploys and deletes are Deployments' work, instance facts
// come from FunctionStatus.
//
// Not thread safe: use from the io_context's thread only. Unpacking code runs on
// `blocking_executor`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "core/timed_socket.hpp"
#include "gateway/http_server.hpp"
#include "scheduler/deployments.hpp"
#include "scheduler/status.hpp"
#include "store/code_store.hpp"
#include "store/function_repository.hpp"
#include "store/log_store.hpp"

namespace fnd::gateway {

class FunctionApi {
 public:
  FunctionApi(scheduler::Deployments& deployments, const scheduler::FunctionStatus& status,
              store::FunctionRepository& repository, store::CodeStore& code, store::LogStore& logs,
              boost::asio::any_io_executor blocking_executor)
      : deployments_(deployments), status_(status), repository_(repository), code_(code), logs_(logs),
        blocking_executor_(std::move(blocking_executor)) {}

  // `rest` is the path after /api/v1/functions ("", "/hello", "/hello/code", "/hello/logs").
  boost::asio::awaitable<bool> handle(Request& request, std::string_view rest, TimedSocket& client);

 private:
  boost::asio::awaitable<bool> put_spec(Request& request, const std::string& name, TimedSocket& client);
  boost::asio::awaitable<bool> put_code(Request& request, const std::string& name, TimedSocket& client);
  boost::asio::awaitable<bool> list(Request& request, TimedSocket& client);
  boost::asio::awaitable<bool> describe(Request& request, const std::string& name, TimedSocket& client);
  boost::asio::awaitable<bool> remove(Request& request, const std::string& name, TimedSocket& client);
  boost::asio::awaitable<bool> logs(Request& request, const std::string& name, std::string_view query,
                                    TimedSocket& client);
  bool known(std::string_view name) const;

  scheduler::Deployments& deployments_;
  const scheduler::FunctionStatus& status_;
  store::FunctionRepository& repository_;
  store::CodeStore& code_;
  store::LogStore& logs_;
  boost::asio::any_io_executor blocking_executor_;
};

}  // namespace fnd::gateway

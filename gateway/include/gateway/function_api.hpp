// The management REST API for functions (docs/api.md): upload code, deploy specs, list, describe,
// delete, read logs, and split traffic across revisions. HTTP only: deploys and deletes are Deployments' work, instance
// facts come from FunctionStatus.
//
// Not thread safe: use from the io_context's thread only. Unpacking code runs on
// `blocking_executor`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/access_control.hpp"
#include "gateway/audit_trail.hpp"
#include "gateway/http_server.hpp"
#include "scheduler/deployments.hpp"
#include "scheduler/status.hpp"
#include "store/code_store.hpp"
#include "store/function_repository.hpp"
#include "store/log_store.hpp"
#include "store/secret_store.hpp"

namespace fnd::gateway {

class FunctionApi {
 public:
  // `secrets` (may be null) is asked whether the secrets a spec names exist.
  FunctionApi(scheduler::Deployments& deployments, const scheduler::FunctionStatus& status,
              store::FunctionRepository& repository, store::CodeStore& code, store::LogStore& logs,
              store::SecretStore* secrets, AuditTrail& audit, boost::asio::any_io_executor blocking_executor)
      : deployments_(deployments), status_(status), repository_(repository), code_(code), logs_(logs),
        secrets_(secrets), audit_(audit), blocking_executor_(std::move(blocking_executor)) {}

  // `rest` is the path after /api/v1/functions ("", "/hello", "/hello/code", "/hello/logs",
  // "/hello/traffic").
  // Each call checks the caller's permission for it first (401/403).
  boost::asio::awaitable<bool> handle(Request& request, std::string_view rest, ClientStream& client, const Caller& caller);

 private:
  boost::asio::awaitable<bool> put_spec(Request& request, const std::string& name, ClientStream& client, const Caller& caller);
  boost::asio::awaitable<bool> put_code(Request& request, const std::string& name, ClientStream& client, const Caller& caller);
  boost::asio::awaitable<bool> list(Request& request, ClientStream& client, const Principal& principal);
  boost::asio::awaitable<bool> describe(Request& request, const std::string& name, ClientStream& client);
  boost::asio::awaitable<bool> remove(Request& request, const std::string& name, ClientStream& client, const Caller& caller);
  boost::asio::awaitable<bool> logs(Request& request, const std::string& name, std::string_view query,
                                    ClientStream& client);
  // GET, PUT and DELETE /api/v1/functions/NAME/traffic.
  boost::asio::awaitable<bool> traffic(Request& request, const std::string& name, ClientStream& client,
                                       const Caller& caller);
  // The function's traffic as the API shows it (split, tags, effective weights, served revisions).
  boost::json::object traffic_json(const std::string& name) const;
  bool known(std::string_view name) const;
  // The first of `names` that is not a stored secret.
  std::optional<std::string> missing_secret(const std::vector<std::string>& names) const;

  scheduler::Deployments& deployments_;
  const scheduler::FunctionStatus& status_;
  store::FunctionRepository& repository_;
  store::CodeStore& code_;
  store::LogStore& logs_;
  store::SecretStore* secrets_;
  AuditTrail& audit_;
  boost::asio::any_io_executor blocking_executor_;
};

}  // namespace fnd::gateway

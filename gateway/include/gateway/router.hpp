// The gateway's top-level request handler: /function/{name}/... to the invocation handler,
// /api/v1/functions... to the management API, /healthz and /readyz.
#pragma once

#include <atomic>

#include "core/metrics.hpp"
#include "gateway/admin_api.hpp"
#include "gateway/function_api.hpp"
#include "gateway/http_server.hpp"
#include "gateway/invocation_handler.hpp"
#include "gateway/options.hpp"

namespace fnd::gateway {

class Router final : public RequestHandler {
 public:
  // `code_archive_limit` is the store's (limits.max_code_archive): the body limit of code uploads.
  Router(FunctionApi& api, AdminApi& admin, InvocationHandler& invocations, const MetricsRegistry& metrics,
         const GatewayOptions& options, uint64_t code_archive_limit)
      : api_(api), admin_(admin), invocations_(invocations), metrics_(metrics), options_(options),
        code_archive_limit_(code_archive_limit) {}

  uint64_t body_limit(const boost::beast::http::request_header<>& header) const override;
  Error body_too_large(const boost::beast::http::request_header<>& header, uint64_t size) const override;
  // Not a coroutine for invocations: the invocation's is the only frame on the warm path.
  boost::asio::awaitable<bool> handle(Request& request, TimedSocket& client,
                                      std::string_view client_address) override;

  void set_ready(bool ready) { ready_ = ready; }

 private:
  boost::asio::awaitable<bool> handle_other(Request& request, TimedSocket& client);

  FunctionApi& api_;
  AdminApi& admin_;
  InvocationHandler& invocations_;
  const MetricsRegistry& metrics_;
  GatewayOptions options_;
  uint64_t code_archive_limit_;
  bool ready_ = false;
};

}  // namespace fnd::gateway

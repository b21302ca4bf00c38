// The gateway's top-level request handler: /function/{name}/... to the invoke proxy,
// /api/v1/functions... to the management API, /healthz and /readyz.
#pragma once

#include <atomic>

#include "config/daemon_config.hpp"
#include "core/metrics.hpp"
#include "gateway/admin_api.hpp"
#include "gateway/function_api.hpp"
#include "gateway/http_server.hpp"
#include "gateway/invoke_proxy.hpp"

namespace fnd::gateway {

class Router final : public RequestHandler {
 public:
  Router(FunctionApi& api, AdminApi& admin, InvokeProxy& proxy, const MetricsRegistry& metrics, config::LimitSettings limits)
      : api_(api), admin_(admin), proxy_(proxy), metrics_(metrics), limits_(limits) {}

  uint64_t body_limit(const boost::beast::http::request_header<>& header) const override;
  Error body_too_large(const boost::beast::http::request_header<>& header, uint64_t size) const override;
  boost::asio::awaitable<bool> handle(Request request, boost::beast::tcp_stream& client,
                                      std::string_view client_address) override;

  void set_ready(bool ready) { ready_ = ready; }

 private:
  FunctionApi& api_;
  AdminApi& admin_;
  InvokeProxy& proxy_;
  const MetricsRegistry& metrics_;
  config::LimitSettings limits_;
  bool ready_ = false;
};

}  // namespace fnd::gateway

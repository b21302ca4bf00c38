// The HTTP side of eventing: CloudEvents ingress (POST /events/{broker}: binary, structured and
// batched modes, 202 once durable) and the management API of brokers, triggers and filters
// (/api/v1/brokers, /api/v1/triggers, /api/v1/sources, /api/v1/filters/evaluate). The work is the
// EventRouter's and the KafkaSources';
// this class reads and writes HTTP. See docs/api.md.
//
// Not thread safe: the io thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "gateway/access_control.hpp"
#include "gateway/audit_trail.hpp"
#include "gateway/http_server.hpp"

namespace fnd::eventing {
class EventRouter;
class AsyncInvocations;
class KafkaSources;
}  // namespace fnd::eventing

namespace fnd::gateway {

class ClientStream;

class EventsApi {
 public:
  // `async` may be null (no asynchronous invocation: /api/v1/invocations answers 404), and so may
  // `sources` (/api/v1/sources answers 404).
  EventsApi(eventing::EventRouter& router, eventing::AsyncInvocations* async, eventing::KafkaSources* sources,
            AuditTrail& audit)
      : router_(router), async_(async), sources_(sources), audit_(audit) {}

  // `broker` is the path after /events/ (no query).
  boost::asio::awaitable<bool> ingest(Request& request, std::string_view broker, ClientStream& client);

  // /api/v1/brokers..., /api/v1/triggers..., /api/v1/sources..., /api/v1/filters/evaluate,
  // /api/v1/invocations...
  // (query string included).
  static bool serves(std::string_view path);
  boost::asio::awaitable<bool> handle(Request& request, std::string_view path, ClientStream& client,
                                      const Caller& caller);

 private:
  boost::asio::awaitable<bool> brokers(Request& request, std::string_view rest, ClientStream& client,
                                       const Caller& caller);
  boost::asio::awaitable<bool> triggers(Request& request, std::string_view rest, ClientStream& client,
                                        const Caller& caller);
  boost::asio::awaitable<bool> sources(Request& request, std::string_view rest, ClientStream& client,
                                       const Caller& caller);
  boost::asio::awaitable<bool> evaluate(Request& request, ClientStream& client);
  boost::asio::awaitable<bool> invocations(Request& request, std::string_view rest, std::string_view query,
                                           ClientStream& client, const Caller& caller);

  eventing::EventRouter& router_;
  eventing::AsyncInvocations* async_;
  eventing::KafkaSources* sources_;
  AuditTrail& audit_;
};

}  // namespace fnd::gateway

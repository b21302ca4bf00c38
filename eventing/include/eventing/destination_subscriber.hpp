// The Subscriber the daemon gives its triggers: delivers an event in the HTTP binding's binary
// mode (ce- headers, the data as the body) to
//   function:NAME  through the scheduler's Invoker (a cold function starts; the function's own
//                  `timeout` bounds the attempt: the Invoker cannot abandon a call half-way);
//   url:http(s)://host[:port]/path  with a POST over a fresh connection (https verifies the
//                  server against the system's CAs and the host name).
//   kafka:TOPIC    through the KafkaSink (eventing.kafka.bootstrap_servers); without one such an
//                  attempt fails with kNoKafkaSink, and can_deliver_to() refuses the destination.
//
// A 2xx answer that carries a CloudEvent (ce-specversion, or a structured content type) is a
// reply. Not thread safe: one io thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string_view>

#include "eventing/dispatcher.hpp"
#include "eventing/kafka_sink.hpp"
#include "scheduler/invoker.hpp"

namespace fnd::eventing {

inline constexpr std::string_view kNoKafkaSink = "no_kafka_sink";

class DestinationSubscriber final : public Subscriber {
 public:
  // `kafka` may be null (no cluster configured); it must outlive the subscriber.
  DestinationSubscriber(scheduler::Invoker& invoker, boost::asio::any_io_executor executor,
                        KafkaSink* kafka = nullptr);
  ~DestinationSubscriber() override;

  boost::asio::awaitable<AttemptResult> deliver(const Destination& destination, const CloudEvent& event,
                                                std::chrono::milliseconds timeout) override;
  Status can_deliver_to(const Destination& destination) const override;

 private:
  struct Tls;
  boost::asio::awaitable<AttemptResult> to_function(const std::string& name, const CloudEvent& event,
                                                    std::chrono::milliseconds timeout);
  boost::asio::awaitable<AttemptResult> to_url(const std::string& url, const CloudEvent& event,
                                               std::chrono::milliseconds timeout);

  scheduler::Invoker& invoker_;
  boost::asio::any_io_executor executor_;
  std::unique_ptr<Tls> tls_;
  KafkaSink* kafka_;
};

}  // namespace fnd::eventing

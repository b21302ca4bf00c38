// What a subscriber answered, for the delivery verdict (status, Retry-After, the start of the
// body, a reply event), and the ResponseSink that collects a function's answer. Private to eventing.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "encoding.hpp"  // iequals
#include "eventing/delivery.hpp"
#include "eventing/http_binding.hpp"
#include "scheduler/invoker.hpp"

namespace fnd::eventing::internal {

// The most of a subscriber's answer read (a reply event included); the rest is dropped.
inline constexpr std::size_t kMaxAnswerBody = 4u << 20;

AttemptResult read_answer(unsigned status, const HttpHeaderFields& headers, const std::string& body);
// An attempt that got no answer: `code` is kAttemptTimeout, kConnectionFailed, ...
AttemptResult failed(std::string_view code);

// Collects a function's answer, up to kMaxAnswerBody bytes of body.
class AnswerSink final : public scheduler::ResponseSink {
 public:
  boost::asio::awaitable<bool> begin(const scheduler::ResponseHead& head, std::string_view body, bool last) override;
  boost::asio::awaitable<bool> more(std::string_view body, bool last) override;

  AttemptResult result() const { return read_answer(status_, headers_, body_); }
  unsigned status() const { return status_; }
  const HttpHeaderFields& headers() const { return headers_; }
  const std::string& body() const { return body_; }

 private:
  unsigned status_ = 0;
  HttpHeaderFields headers_;
  std::string body_;
};

}  // namespace fnd::eventing::internal

#include "answer_sink.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace fnd::eventing::internal {

AttemptResult read_answer(unsigned status, const HttpHeaderFields& headers, const std::string& body) {
  AttemptResult result;
  result.status = static_cast<int>(status);
  result.body = body.substr(0, kMaxResponseBodyKept);
  bool carries_event = false;
  for (const auto& [name, value] : headers) {
    if (iequals(name, "retry-after")) result.retry_after = parse_retry_after(value, std::chrono::system_clock::now());
    if (iequals(name, "ce-specversion")) carries_event = true;
    if (iequals(name, "content-type") && value.find("application/cloudevents") != std::string::npos)
      carries_event = true;
  }
  if (status >= 200 && status < 300 && carries_event) {
    if (auto events = from_http(headers, body); events && events->size() == 1) result.reply = std::move((*events)[0]);
  }
  return result;
}

AttemptResult failed(std::string_view code) {
  AttemptResult result;
  result.error = std::string(code);
  return result;
}

boost::asio::awaitable<bool> AnswerSink::begin(const scheduler::ResponseHead& head, std::string_view body, bool last) {
  status_ = head.status;
  for (const auto& field : head.headers) headers_.emplace_back(std::string(field.name), std::string(field.value));
  return more(body, last);
}

boost::asio::awaitable<bool> AnswerSink::more(std::string_view body, bool last) {
  const size_t room = kMaxAnswerBody - std::min(kMaxAnswerBody, body_.size());
  body_.append(body.substr(0, room));
  (void)last;
  co_return true;
}

}  // namespace fnd::eventing::internal

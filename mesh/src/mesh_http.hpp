// The endpoint's own answers (state, events, errors) as values, and writing them. Private to the
// mesh module.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/timed_socket.hpp"

namespace fnd::mesh::internal {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct Answer {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  bool fnd_error = false;  // X-Fnd-Error: 1, as the gateway marks fnd's own errors
  int retry_after_seconds = 0;
};

// {"error":{"code","message"}} with the error's status (and Retry-After when it says so).
Answer error_answer(const Error& error);
Answer json_answer(unsigned status, const boost::json::value& body);
Answer empty_answer(unsigned status);

// Writes `answer` (within 30 s); returns whether the connection may serve another request.
boost::asio::awaitable<bool> write_answer(TimedSocket& stream, Answer answer, unsigned version, bool keep_alive);

}  // namespace fnd::mesh::internal

// Writing fnd's own responses (JSON, text, errors) to a client stream.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/timed_socket.hpp"

namespace fnd::gateway {

// {"error":{...}} with error.http_status and the header X-Fnd-Error: 1. Returns keep_alive.
boost::asio::awaitable<bool> write_error(TimedSocket& client, const Error& error, unsigned version,
                                         bool keep_alive);
using HeaderFields = std::vector<std::pair<std::string, std::string>>;

boost::asio::awaitable<bool> write_json(TimedSocket& client, unsigned status, const boost::json::value& body,
                                        unsigned version, bool keep_alive, const HeaderFields& headers = {});
boost::asio::awaitable<bool> write_text(TimedSocket& client, unsigned status, std::string body,
                                        unsigned version, bool keep_alive);

}  // namespace fnd::gateway

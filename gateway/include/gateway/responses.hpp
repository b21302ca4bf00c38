// Writing fnd's own responses (JSON, text, errors) to a client stream.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace fnd::gateway {

class ClientStream;

// {"error":{...}} with error.http_status and the header X-Fnd-Error: 1. Returns keep_alive.
boost::asio::awaitable<bool> write_error(ClientStream& client, const Error& error, unsigned version,
                                         bool keep_alive);
using HeaderFields = std::vector<std::pair<std::string, std::string>>;

boost::asio::awaitable<bool> write_json(ClientStream& client, unsigned status, const boost::json::value& body,
                                        unsigned version, bool keep_alive, const HeaderFields& headers = {});
// `body` as it is, with `content_type` and `headers`.
boost::asio::awaitable<bool> write_bytes(ClientStream& client, unsigned status, std::string body,
                                         std::string_view content_type, unsigned version, bool keep_alive,
                                         const HeaderFields& headers = {});
boost::asio::awaitable<bool> write_text(ClientStream& client, unsigned status, std::string body,
                                        unsigned version, bool keep_alive);

}  // namespace fnd::gateway

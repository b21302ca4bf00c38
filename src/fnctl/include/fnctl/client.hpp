// fnctl's HTTP client for the fnd REST API (docs/api.md), over libcurl.
//
// Every call blocks until the answer is complete (or the body sink stops it). Failures to talk to
// fnd at all (refused, unresolvable, timed out) come back as an Error whose message names the URL
// and says what to do. The management calls (get/put/delete/upload/stream_get) also turn API
// answers >= 400 into an Error carrying the API's own message; send() returns every HTTP answer
// as is, for `fnctl invoke`, where the function's own status matters.
//
// Not thread-safe: use one ApiClient per thread. Create one CurlLibrary in main() first.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fnd::fnctl {

// libcurl's process-wide setup and teardown; exactly one, alive while any ApiClient is used.
class CurlLibrary {
 public:
  CurlLibrary();
  ~CurlLibrary();
  CurlLibrary(const CurlLibrary&) = delete;
  CurlLibrary& operator=(const CurlLibrary&) = delete;
};

// Response header names are lower-cased so that lookups need not care how the server spelled them.
using HttpHeaders = std::map<std::string, std::string>;

// Called with each piece of the body as it arrives; status and headers are complete by then.
// Returning false aborts the transfer (send() then fails with code "aborted").
using BodySink = std::function<bool(long status, const HttpHeaders& headers, std::string_view chunk)>;
// Called as the request body goes out: bytes sent so far and the total.
using UploadProgress = std::function<void(uint64_t sent, uint64_t total)>;
// Called with each piece of a successful streamed answer; returning false stops the stream.
using ChunkSink = std::function<bool(std::string_view chunk)>;

struct HttpRequest {
  std::string method = "GET";
  std::string path;                  // appended to the base URL; starts with '/', may carry a query
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // not owned: must outlive the call
  bool has_body = false;             // an empty body is still sent (Content-Length: 0) when true
  std::chrono::seconds timeout{0};   // whole exchange; 0 = no limit (streams, invocations)
  UploadProgress on_progress;        // optional
  BodySink on_body;                  // when empty, the body is collected into HttpResponse::body
};

struct HttpResponse {
  long status = 0;
  HttpHeaders headers;
  std::string body;  // empty when the request had an on_body sink

  // The header's value, or nullptr; `lower_name` must be lower-case.
  const std::string* header(std::string_view lower_name) const;
};

// A management API answer: its status (201 vs 200 matters to deploy) and its JSON body.
struct JsonAnswer {
  long status = 0;
  boost::json::value body;
};

// Where fnd is and how to prove who we are.
struct Endpoint {
  std::string url = "http://127.0.0.1:8080";  // "https://host:8443"; over a Unix socket only the path counts
  std::string unix_socket;                     // when set, every request goes over this local socket
  std::string token;                           // sent as Authorization: Bearer when set
  std::string cacert;                          // CA bundle (PEM) that an https fnd's certificate must chain to
  // "the local socket /run/fnd/api.sock" or the URL: for messages.
  std::string describe() const;
};

class ApiClient {
 public:
  // A trailing '/' in the URL is ignored.
  explicit ApiClient(Endpoint endpoint);

  const std::string& base_url() const { return endpoint_.url; }

  // Sends any request. Every HTTP status is a success here; errors are transport failures only.
  Result<HttpResponse> send(const HttpRequest& request) const;

  Result<JsonAnswer> get(std::string_view path) const;
  Result<JsonAnswer> put_json(std::string_view path, const boost::json::value& body) const;
  Result<JsonAnswer> post_json(std::string_view path, const boost::json::value& body) const;
  Result<JsonAnswer> del(std::string_view path) const;
  // PUTs `body` with `content_type`, reporting progress while it goes out.
  Result<JsonAnswer> upload(std::string_view path, std::string_view content_type, std::string_view body,
                            const UploadProgress& on_progress) const;
  // GETs `path` and hands the body to `on_chunk` as it arrives (no timeout: a stream may last
  // as long as the user wants). An answer >= 400 is collected and returned as its Error instead.
  Status stream_get(std::string_view path, const ChunkSink& on_chunk) const;

 private:
  Result<JsonAnswer> json_exchange(HttpRequest request) const;

  Endpoint endpoint_;
};

// "/api/v1/functions/{name}{suffix}"; `name` must be a valid function name (no escaping needed).
std::string function_api_path(std::string_view name, std::string_view suffix = "");

// The Error an API answer >= 400 stands for: the `{"error":{"code","message"}}` body when there
// is one, else a sentence naming the status and the request.
Error error_from_answer(const HttpResponse& response, std::string_view method, std::string_view path);

// Percent-encodes a query parameter value (RFC 3986 unreserved characters pass through).
std::string url_encode(std::string_view text);

}  // namespace fnd::fnctl

#include "fnctl/client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <memory>

#include "core/json.hpp"

namespace fnd::fnctl {

namespace {

struct CurlEasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

constexpr long kConnectTimeoutMs = 10'000;
// Management calls answer quickly; a minute covers a busy daemon on a slow disk.
constexpr std::chrono::seconds kManagementTimeout{60};
constexpr size_t kErrorSnippetChars = 200;

// State shared with libcurl's callbacks during one exchange.
struct Exchange {
  const HttpRequest& request;
  HttpResponse response;
  bool aborted = false;
  uint64_t last_reported_sent = UINT64_MAX;
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

size_t on_header_line(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  std::string_view line = trim(std::string_view(data, size * count));
  if (line.starts_with("HTTP/")) {
    // A new status line starts a new head (after a 1xx answer): forget the previous one.
    exchange->response.headers.clear();
    auto space = line.find(' ');
    if (space != std::string_view::npos) {
      std::string_view code = line.substr(space + 1, 3);
      std::from_chars(code.data(), code.data() + code.size(), exchange->response.status);
    }
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name = lower(trim(line.substr(0, colon)));
    std::string_view value = trim(line.substr(colon + 1));
    auto [it, inserted] = exchange->response.headers.try_emplace(name, value);
    if (!inserted) it->second.append(", ").append(value);
  }
  return size * count;
}

size_t on_body_data(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  std::string_view chunk(data, size * count);
  const BodySink& sink = exchange->request.on_body;
  if (!sink) {
    exchange->response.body.append(chunk);
    return chunk.size();
  }
  if (!sink(exchange->response.status, exchange->response.headers, chunk)) {
    exchange->aborted = true;
    return 0;  // anything but chunk.size() makes libcurl stop the transfer
  }
  return chunk.size();
}

int on_transfer_info(void* user, curl_off_t, curl_off_t, curl_off_t upload_total, curl_off_t upload_now) {
  auto* exchange = static_cast<Exchange*>(user);
  // libcurl calls this many times a second even when nothing moved; report changes only.
  if (upload_total > 0 && static_cast<uint64_t>(upload_now) != exchange->last_reported_sent) {
    exchange->last_reported_sent = static_cast<uint64_t>(upload_now);
    exchange->request.on_progress(static_cast<uint64_t>(upload_now), static_cast<uint64_t>(upload_total));
  }
  return 0;
}

bool has_header(const std::vector<std::string>& headers, std::string_view lower_name) {
  return std::any_of(headers.begin(), headers.end(), [&](const std::string& h) {
    auto colon = h.find(':');
    return colon != std::string::npos && lower(trim(std::string_view(h).substr(0, colon))) == lower_name;
  });
}

CurlSlistPtr make_header_list(const HttpRequest& request) {
  curl_slist* list = nullptr;
  auto add = [&](const std::string& line) {
    curl_slist* grown = curl_slist_append(list, line.c_str());
    assert(grown != nullptr && "out of memory building a header list");
    list = grown;
  };
  for (const auto& h : request.headers) add(h);
  // "Expect: 100-continue" would cost a round trip per upload for nothing: fnd reads bodies anyway.
  add("Expect:");
  // Without this, libcurl labels every body as form data; a missing type is more honest.
  if (request.has_body && !has_header(request.headers, "content-type")) add("Content-Type:");
  return CurlSlistPtr(list);
}

void set_method_and_body(CURL* curl, const HttpRequest& request) {
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET" || request.has_body) {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.has_body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
  }
}

Error transport_error(CURLcode code, const char* error_buffer, long os_errno, const std::string& base_url) {
  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  switch (code) {
    case CURLE_COULDNT_CONNECT: {
      std::string reason = os_errno != 0 ? std::strerror(static_cast<int>(os_errno)) : detail;
      if (os_errno == EACCES) {
        return make_error("fnd_unreachable", fmt::format("cannot reach fnd at {}: {} (the local socket is for root and "
                                                         "the fnd-admin group; or use --url with --token)", base_url, reason));
      }
      Error e = make_error("fnd_unreachable",
                           fmt::format("cannot reach fnd at {}: {} (is fnd running? start it with scripts/run.sh)",
                                       base_url, reason));
      e.retryable = true;
      return e;
    }
    case CURLE_COULDNT_RESOLVE_HOST:
      return make_error("fnd_unreachable",
                        fmt::format("cannot reach fnd at {}: {} (check --url or FNCTL_URL)", base_url, detail));
    case CURLE_OPERATION_TIMEDOUT: {
      Error e = make_error("fnd_timeout", fmt::format("fnd at {} did not answer in time: {}", base_url, detail));
      e.retryable = true;
      return e;
    }
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return make_error("tls_untrusted", fmt::format("fnd at {} presented a certificate fnctl does not trust: {} (pass its "
                                                     "CA with --cacert or FNCTL_CACERT)", base_url, detail));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return make_error("invalid_url", fmt::format("invalid fnd URL '{}': {} (expected something like "
                                                   "http://127.0.0.1:8080)",
                                                   base_url, detail));
    default:
      return make_error("transport_error", fmt::format("talking to fnd at {} failed: {}", base_url, detail));
  }
}

std::string first_line_snippet(std::string_view body) {
  std::string_view line = trim(body.substr(0, body.find('\n')));
  if (line.size() <= kErrorSnippetChars) return std::string(line);
  return fmt::format("{}...", line.substr(0, kErrorSnippetChars));
}

}  // namespace

CurlLibrary::CurlLibrary() {
  [[maybe_unused]] CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  assert(rc == CURLE_OK && "libcurl could not initialise");
}

CurlLibrary::~CurlLibrary() { curl_global_cleanup(); }

const std::string* HttpResponse::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? nullptr : &it->second;
}

std::string Endpoint::describe() const {
  return unix_socket.empty() ? url : fmt::format("the local socket {}", unix_socket);
}

ApiClient::ApiClient(Endpoint endpoint) : endpoint_(std::move(endpoint)) {
  while (endpoint_.url.ends_with('/')) endpoint_.url.pop_back();
}

Result<HttpResponse> ApiClient::send(const HttpRequest& request) const {
  CurlEasyPtr curl(curl_easy_init());
  if (!curl) return make_error("transport_error", "cannot start an HTTP request: libcurl failed to initialise");
  Exchange exchange{request, {}};
  char error_buffer[CURL_ERROR_SIZE] = {};
  std::string url = endpoint_.url + request.path;
  HttpRequest with_token = request;
  if (!endpoint_.token.empty()) with_token.headers.push_back("Authorization: Bearer " + endpoint_.token);
  CurlSlistPtr headers = make_header_list(with_token);

  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "fnctl");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  if (!endpoint_.unix_socket.empty()) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, endpoint_.unix_socket.c_str());
  if (!endpoint_.cacert.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, endpoint_.cacert.c_str());
  if (request.timeout.count() > 0) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count() * 1000));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  set_method_and_body(h, request);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header_line);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &exchange);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &exchange);
  if (request.on_progress) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_transfer_info);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &exchange);
  }

  CURLcode rc = curl_easy_perform(h);
  if (exchange.aborted) {
    return make_error("aborted", fmt::format("stopped reading the answer to {} {}", request.method, request.path));
  }
  if (rc != CURLE_OK) {
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    return transport_error(rc, error_buffer, os_errno, endpoint_.describe());
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &exchange.response.status);
  return std::move(exchange.response);
}

Result<JsonAnswer> ApiClient::json_exchange(HttpRequest request) const {
  request.headers.emplace_back("Accept: application/json");
  auto response = send(request);
  if (!response) return response.error();
  if (response->status >= 400) return error_from_answer(*response, request.method, request.path);
  if (trim(response->body).empty()) return JsonAnswer{response->status, nullptr};
  auto parsed = parse_json(response->body);
  if (!parsed) {
    return make_error("invalid_answer", fmt::format("fnd answered {} {} with something that is not JSON: {}",
                                                    request.method, request.path,
                                                    first_line_snippet(response->body)));
  }
  return JsonAnswer{response->status, std::move(*parsed)};
}

Result<JsonAnswer> ApiClient::get(std::string_view path) const {
  return json_exchange({.method = "GET", .path = std::string(path), .timeout = kManagementTimeout});
}

Result<JsonAnswer> ApiClient::post_json(std::string_view path, const boost::json::value& body) const {
  std::string text = boost::json::serialize(body);
  return json_exchange({.method = "POST",
                        .path = std::string(path),
                        .headers = {"Content-Type: application/json"},
                        .body = text,
                        .has_body = true,
                        .timeout = kManagementTimeout});
}

Result<JsonAnswer> ApiClient::put_json(std::string_view path, const boost::json::value& body) const {
  std::string text = boost::json::serialize(body);
  return json_exchange({.method = "PUT",
                        .path = std::string(path),
                        .headers = {"Content-Type: application/json"},
                        .body = text,
                        .has_body = true,
                        .timeout = kManagementTimeout});
}

Result<JsonAnswer> ApiClient::del(std::string_view path) const {
  return json_exchange({.method = "DELETE", .path = std::string(path), .timeout = kManagementTimeout});
}

Result<JsonAnswer> ApiClient::upload(std::string_view path, std::string_view content_type, std::string_view body,
                                     const UploadProgress& on_progress) const {
  // No overall timeout: a large archive over a slow link may take long, and the user sees progress.
  return json_exchange({.method = "PUT",
                        .path = std::string(path),
                        .headers = {fmt::format("Content-Type: {}", content_type)},
                        .body = body,
                        .has_body = true,
                        .on_progress = on_progress});
}

Status ApiClient::stream_get(std::string_view path, const ChunkSink& on_chunk) const {
  std::string error_body;
  HttpRequest request{.method = "GET", .path = std::string(path)};
  request.on_body = [&](long status, const HttpHeaders&, std::string_view chunk) {
    if (status >= 400) {
      error_body.append(chunk);  // an error answer is one JSON document: keep it whole
      return true;
    }
    return on_chunk(chunk);
  };
  auto response = send(request);
  if (!response) return response.error();
  if (response->status >= 400) {
    response->body = std::move(error_body);
    return error_from_answer(*response, request.method, request.path);
  }
  return {};
}

Error error_from_answer(const HttpResponse& response, std::string_view method, std::string_view path) {
  int status = static_cast<int>(response.status);
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    const auto* error = body.as_object().if_contains("error");
    const auto* message = error && error->is_object() ? error->as_object().if_contains("message") : nullptr;
    if (message && message->is_string()) {
      const auto* code = error->as_object().if_contains("code");
      std::string code_text = code && code->is_string() ? std::string(code->as_string()) : "api_error";
      return make_error(std::move(code_text), std::string(message->as_string()), status);
    }
  }
  std::string snippet = first_line_snippet(response.body);
  return make_error("api_error",
                    snippet.empty() ? fmt::format("fnd answered HTTP {} to {} {}", status, method, path)
                                    : fmt::format("fnd answered HTTP {} to {} {}: {}", status, method, path, snippet),
                    status);
}

std::string function_api_path(std::string_view name, std::string_view suffix) {
  return fmt::format("/api/v1/functions/{}{}", name, suffix);
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace fnd::fnctl

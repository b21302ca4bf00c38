#include "response_reader.hpp"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cctype>
#include <cstring>

namespace fnd::scheduler {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

uint32_t append(std::string& bytes, std::string_view text) {
  auto at = static_cast<uint32_t>(bytes.size());
  bytes.append(text);
  return at;
}

}  // namespace

bool is_hop_by_hop(std::string_view name) {
  // Lower-case names, looked up by length first: this runs for every field of every request.
  switch (name.size()) {
    case 2: return equals_ignoring_case(name, "te");
    case 6: return equals_ignoring_case(name, "expect");
    case 7: return equals_ignoring_case(name, "trailer") || equals_ignoring_case(name, "upgrade");
    case 10: return equals_ignoring_case(name, "connection") || equals_ignoring_case(name, "keep-alive");
    case 14: return equals_ignoring_case(name, "content-length");
    case 16: return equals_ignoring_case(name, "proxy-connection");
    case 17: return equals_ignoring_case(name, "transfer-encoding");
    case 18: return equals_ignoring_case(name, "proxy-authenticate");
    case 19: return equals_ignoring_case(name, "proxy-authorization");
    default: return false;
  }
}

std::span<const HeaderField> ResponseReader::fields() {
  auto& storage = storage_;
  if (storage.fields.size() * 4 != storage.offsets.size()) {
    storage.fields.clear();
    std::string_view bytes(storage.bytes);
    for (size_t i = 0; i + 3 < storage.offsets.size(); i += 4) {
      storage.fields.push_back({bytes.substr(storage.offsets[i], storage.offsets[i + 1]),
                                bytes.substr(storage.offsets[i + 2], storage.offsets[i + 3])});
    }
  }
  return storage.fields;
}

void ResponseReader::on_request_impl(http::verb, string_view, string_view, int, beast::error_code& ec) {
  ec = http::error::bad_method;  // never called: this parser reads responses
}

void ResponseReader::on_response_impl(int code, string_view reason, int, beast::error_code&) {
  status_ = static_cast<unsigned>(code);
  storage_.bytes.assign(reason.data(), reason.size());
  reason_size_ = reason.size();
}

void ResponseReader::on_field_impl(http::field, string_view name_string, string_view value_string, beast::error_code&) {
  std::string_view name(name_string.data(), name_string.size());
  std::string_view value(value_string.data(), value_string.size());
  if (is_hop_by_hop(name)) return;
  uint32_t name_at = append(storage_.bytes, name);
  uint32_t value_at = append(storage_.bytes, value);
  storage_.offsets.insert(storage_.offsets.end(), {name_at, static_cast<uint32_t>(name.size()), value_at,
                                                   static_cast<uint32_t>(value.size())});
}

size_t ResponseReader::on_body_impl(string_view body, beast::error_code& ec) {
  size_t n = std::min(body.size(), out_size_ - out_used_);
  if (n > 0) std::memcpy(out_ + out_used_, body.data(), n);
  out_used_ += n;
  if (n < body.size()) ec = http::error::need_buffer;
  return n;
}

}  // namespace fnd::scheduler

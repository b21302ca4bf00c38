// Parses a function's HTTP/1.1 answer for relaying: the head into storage that is reused across
// answers (no allocation per field, hop-by-hop fields left out as they are met), the body into
// whatever output buffer the relay provides. Private to the scheduler module.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/optional/optional.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/invoker.hpp"

namespace fnd::scheduler {

// What a ResponseReader keeps between answers: its capacity is reused.
struct ResponseHeadStorage {
  std::string bytes;                       // reason, then each field's name and value
  std::vector<uint32_t> offsets;           // per field: name start, name size, value start, value size
  std::vector<HeaderField> fields;         // views into `bytes`, built when the head is complete
  void clear() {
    bytes.clear();
    offsets.clear();
    fields.clear();
  }
};

class ResponseReader final : public boost::beast::http::basic_parser<false> {
 public:
  explicit ResponseReader(ResponseHeadStorage& storage) : storage_(storage) { storage_.clear(); }

  // Where the body's bytes go next; body_size() says how many arrived since.
  void set_output(char* data, size_t size) {
    out_ = data;
    out_size_ = size;
    out_used_ = 0;
  }
  size_t body_size() const { return out_used_; }
  bool output_full() const { return out_used_ == out_size_; }

  // Valid once the head is done, until the storage is reused.
  unsigned status() const { return status_; }
  std::string_view reason() const { return std::string_view(storage_.bytes).substr(0, reason_size_); }
  std::span<const HeaderField> fields();

 private:
  using string_view = boost::beast::string_view;  // what Beast's hooks take
  void on_request_impl(boost::beast::http::verb, string_view, string_view, int, boost::beast::error_code& ec) override;
  void on_response_impl(int code, string_view reason, int version, boost::beast::error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                     boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::beast::error_code&) override {}
  size_t on_body_impl(string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, string_view, boost::beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, string_view body, boost::beast::error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(boost::beast::error_code&) override {}

  ResponseHeadStorage& storage_;
  unsigned status_ = 0;
  size_t reason_size_ = 0;
  char* out_ = nullptr;
  size_t out_size_ = 0;
  size_t out_used_ = 0;
};

// Fields that describe one connection or the message's framing, never passed on (RFC 9110 7.6.1);
// Expect is answered by whoever read the request.
bool is_hop_by_hop(std::string_view name);

}  // namespace fnd::scheduler

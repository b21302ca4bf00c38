// The access log: one line per request at each hop fnd makes (the gateway's invocations, the
// mesh's function calls), with the W3C trace context that ties the hops of one request together:
//   access hop=gateway method=GET target=/function/checkout function=checkout caller=- status=200
//     duration_ms=1.234 trace_id=4bf9... span_id=00f0...
// (one line). Written to stderr (the journal under systemd) apart from fnd's other log lines,
// never collapsed by their repeat limit. Off unless `log.access: true`: a line costs a write.
//
// Not thread safe: the io thread only.
#pragma once

#include <chrono>
#include <cstdio>
#include <string_view>

namespace fnd {

struct AccessRecord {
  std::string_view hop;  // "gateway", "mesh"
  std::string_view method;
  std::string_view target;    // as received
  std::string_view function;  // the function called
  std::string_view caller;    // the calling function (mesh), empty from outside
  unsigned status = 0;        // the answer's, or fnd's error's; 499 when the caller left
  std::chrono::steady_clock::duration duration{};
  std::string_view trace_id;
  std::string_view span_id;  // this hop's
};

class AccessLog {
 public:
  // `out` (not owned; stderr when null) gets the lines when `enabled`.
  explicit AccessLog(bool enabled, std::FILE* out = nullptr) : enabled_(enabled), out_(out ? out : stderr) {}
  bool enabled() const { return enabled_; }
  void write(const AccessRecord& record);

 private:
  bool enabled_;
  std::FILE* out_;
};

}  // namespace fnd

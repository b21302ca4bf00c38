// What instances write to stdout/stderr, kept per function in memory up to a byte budget.
// When old lines are dropped to stay under it, readers are told how many: never a silent cut.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/notifier.hpp"
#include "core/time.hpp"

namespace fnd::store {

enum class LogStream { stdout_stream, stderr_stream, system };
std::string_view to_string(LogStream stream);  // "stdout", "stderr", "fnd"

struct LogLine {
  uint64_t sequence = 0;  // per function, increasing
  SystemTime time;
  std::string instance;
  LogStream stream = LogStream::stdout_stream;
  std::string text;
};

struct LogRead {
  uint64_t dropped = 0;        // lines the reader asked for that were dropped for the budget
  std::vector<LogLine> lines;
  uint64_t next_sequence = 0;  // pass back as `after` to continue
};

class LogStore {
 public:
  explicit LogStore(uint64_t max_bytes_per_function) : max_bytes_(max_bytes_per_function) {}

  void append(const std::string& function, const std::string& instance, LogStream stream, std::string text,
              SystemTime time = std::chrono::system_clock::now());
  // Lines with sequence >= `from` and time >= `since`.
  LogRead read(const std::string& function, uint64_t from, std::optional<SystemTime> since) const;
  // Waits until lines with sequence >= `from` exist or `deadline` passes.
  boost::asio::awaitable<void> wait_for_lines(const std::string& function, uint64_t from,
                                              std::chrono::steady_clock::time_point deadline);
  // Forgets a deleted function's lines (followers see the stream end).
  void remove(const std::string& function);
  // Shutdown: wakes every follower; closed() tells them to end their streams.
  void close();
  bool closed() const { return closed_; }
  uint64_t max_bytes() const { return max_bytes_; }

 private:
  struct FunctionLog {
    std::deque<LogLine> lines;
    uint64_t bytes = 0;
    uint64_t next_sequence = 0;
    uint64_t history_start = 0;  // sequence where the current history begins (after a delete)
    Notifier appended;
  };
  FunctionLog& log_of(const std::string& function);

  uint64_t max_bytes_;
  bool closed_ = false;
  std::map<std::string, std::unique_ptr<FunctionLog>, std::less<>> logs_;
};

}  // namespace fnd::store

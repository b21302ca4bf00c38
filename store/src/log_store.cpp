#include "store/log_store.hpp"

#include <algorithm>

namespace fnd::store {

namespace {
constexpr uint64_t kLineOverhead = 64;  // bookkeeping per line, counted against the budget
}

std::string_view to_string(LogStream stream) {
  switch (stream) {
    case LogStream::stdout_stream: return "stdout";
    case LogStream::stderr_stream: return "stderr";
    case LogStream::system: return "fnd";
  }
  return "?";
}

LogStore::FunctionLog& LogStore::log_of(const std::string& function) {
  auto it = logs_.find(function);
  if (it == logs_.end()) it = logs_.emplace(function, std::make_unique<FunctionLog>()).first;
  return *it->second;
}

void LogStore::append(const std::string& function, const std::string& instance, LogStream stream, std::string text,
                      SystemTime time) {
  FunctionLog& log = log_of(function);
  uint64_t cost = text.size() + instance.size() + kLineOverhead;
  log.lines.push_back(LogLine{log.next_sequence++, time, instance, stream, std::move(text)});
  log.bytes += cost;
  while (log.bytes > max_bytes_ && log.lines.size() > 1) {
    const LogLine& old = log.lines.front();
    log.bytes -= old.text.size() + old.instance.size() + kLineOverhead;
    log.lines.pop_front();
  }
  log.appended.notify_all();
}

LogRead LogStore::read(const std::string& function, uint64_t from, std::optional<SystemTime> since) const {
  LogRead out;
  auto it = logs_.find(function);
  if (it == logs_.end()) return out;
  const FunctionLog& log = *it->second;
  out.next_sequence = log.next_sequence;
  uint64_t first_kept = log.lines.empty() ? log.next_sequence : log.lines.front().sequence;
  // Dropped lines the reader asked for: those from `from` on, unless `since` starts after them.
  bool since_covers_dropped = !since || log.lines.empty() || *since <= log.lines.front().time;
  uint64_t begin = std::max(from, log.history_start);
  if (begin < first_kept && since_covers_dropped) out.dropped = first_kept - begin;
  for (const auto& line : log.lines) {
    if (line.sequence < from) continue;
    if (since && line.time < *since) continue;
    out.lines.push_back(line);
  }
  return out;
}

boost::asio::awaitable<void> LogStore::wait_for_lines(const std::string& function, uint64_t from,
                                                      std::chrono::steady_clock::time_point deadline) {
  FunctionLog& log = log_of(function);
  if (log.next_sequence > from || closed_) co_return;
  co_await log.appended.wait_until(deadline);
}

void LogStore::close() {
  closed_ = true;
  for (auto& [name, log] : logs_) log->appended.notify_all();
}

void LogStore::remove(const std::string& function) {
  auto it = logs_.find(function);
  if (it == logs_.end()) return;
  it->second->appended.notify_all();
  // Followers still hold a reference across their wait: keep the object, empty its lines.
  it->second->lines.clear();
  it->second->bytes = 0;
  it->second->history_start = it->second->next_sequence;
}

}  // namespace fnd::store

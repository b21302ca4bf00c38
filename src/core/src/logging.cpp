#include "core/logging.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace fnd {

namespace {

constexpr size_t kMaxShapes = 512;

// Digits vary between repeats of one message (fds, pids, counts); they do not make it new.
std::string shape_of(spdlog::string_view_t text, spdlog::level::level_enum level) {
  std::string shape;
  shape.reserve(text.size() + 2);
  shape += static_cast<char>('0' + static_cast<int>(level));
  bool in_digits = false;
  for (char c : text) {
    bool digit = std::isdigit(static_cast<unsigned char>(c)) != 0;
    if (digit && in_digits) continue;
    shape += digit ? '#' : c;
    in_digits = digit;
  }
  return shape;
}

class RepeatLimitedSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RepeatLimitedSink(std::shared_ptr<spdlog::sinks::sink> target, LogRepeatLimit limit)
      : target_(std::move(target)), limit_(limit) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    summarise_expired(msg.time, &msg);
    Shape& shape = shapes_[shape_of(msg.payload, msg.level)];
    if (shape.count == 0) {
      shape.window_start = msg.time;
      shape.level = msg.level;
      shape.logger = std::string(msg.logger_name.data(), msg.logger_name.size());
    }
    if (++shape.count <= limit_.burst) {
      target_->log(msg);
    } else {
      if (shape.suppressed == 0) shape.example = std::string(msg.payload.data(), msg.payload.size());
      ++shape.suppressed;
    }
  }
  void flush_() override {
    summarise_expired(spdlog::log_clock::now(), nullptr);
    target_->flush();
  }
  void set_pattern_(const std::string& pattern) override { target_->set_pattern(pattern); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override { target_->set_formatter(std::move(formatter)); }

 private:
  struct Shape {
    spdlog::log_clock::time_point window_start;
    uint64_t count = 0;
    uint64_t suppressed = 0;
    spdlog::level::level_enum level = spdlog::level::info;
    std::string logger;
    std::string example;
  };

  // Ends every window that is over: shapes that were cut short get one summary line.
  void summarise_expired(spdlog::log_clock::time_point now, const spdlog::details::log_msg* current) {
    for (auto it = shapes_.begin(); it != shapes_.end();) {
      Shape& shape = it->second;
      if (now - shape.window_start < limit_.window) {
        ++it;
        continue;
      }
      if (shape.suppressed > 0) {
        std::string text = fmt::format("{} more lines like this were suppressed in {} s: {}", shape.suppressed,
                                       std::chrono::duration_cast<std::chrono::seconds>(limit_.window).count(),
                                       shape.example);
        spdlog::details::log_msg summary(now, spdlog::source_loc{}, shape.logger, shape.level, text);
        if (current) summary.thread_id = current->thread_id;
        target_->log(summary);
      }
      it = shapes_.erase(it);
    }
    // A flood of distinct messages must not grow the table without bound either.
    if (shapes_.size() > kMaxShapes) shapes_.clear();
  }

  std::shared_ptr<spdlog::sinks::sink> target_;
  LogRepeatLimit limit_;
  std::map<std::string, Shape> shapes_;
};

}  // namespace

void install_log_repeat_limit(LogRepeatLimit limit) {
  auto target = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto sink = std::make_shared<RepeatLimitedSink>(std::move(target), limit);
  auto logger = std::make_shared<spdlog::logger>("", std::move(sink));
  logger->set_level(spdlog::get_level());
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace fnd

// fnd's log output: one line per event on stderr, with a limit on repeats so that a failure that
// recurs thousands of times a second (an accept loop out of descriptors, a crash-looping
// function) cannot fill the journal or burn a core.
#pragma once

#include <chrono>
#include <cstdint>

namespace fnd {

struct LogRepeatLimit {
  // Lines of one shape (same text once digits are ignored, same level) allowed per window;
  // the rest are counted and summarised in one line when the window ends.
  uint32_t burst = 10;
  std::chrono::milliseconds window = std::chrono::seconds(10);
};

// Replaces the default logger's sinks with a repeat-limited stderr sink. Call once at start-up,
// before any other thread logs.
void install_log_repeat_limit(LogRepeatLimit limit = {});

}  // namespace fnd

#include "systemd_notifier.hpp"

#include <systemd/sd-daemon.h>

#include <fmt/format.h>

namespace fnd::daemon {

SystemdNotifier::SystemdNotifier(boost::asio::any_io_executor executor) : timer_(executor) {}

void SystemdNotifier::ready(std::string_view status) {
  sd_notify(0, fmt::format("READY=1\nSTATUS={}", status).c_str());
}

void SystemdNotifier::stopping() { sd_notify(0, "STOPPING=1\nSTATUS=draining requests and stopping instances"); }

void SystemdNotifier::start_watchdog() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  // Twice per period: a late tick (a busy moment) still arrives in time.
  watchdog_interval_ = std::chrono::microseconds(usec / 2);
  keep_alive();
}

void SystemdNotifier::stop_watchdog() {
  watchdog_interval_ = std::chrono::microseconds(0);
  timer_.cancel();
}

void SystemdNotifier::keep_alive() {
  if (watchdog_interval_.count() == 0) return;
  sd_notify(0, "WATCHDOG=1");
  timer_.expires_after(watchdog_interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) keep_alive();
  });
}

}  // namespace fnd::daemon

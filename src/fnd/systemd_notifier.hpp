// Talks to systemd when fnd runs as a Type=notify service: READY=1 once the store is open, the OCI
// runtime checked and the listeners up; STOPPING=1 when a drain begins; and WATCHDOG=1 from the
// io thread at half the unit's WatchdogSec, so that an io loop that hangs gets fnd restarted.
// Outside systemd (no NOTIFY_SOCKET) every call does nothing and no timer runs.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string_view>

namespace fnd::daemon {

class SystemdNotifier {
 public:
  explicit SystemdNotifier(boost::asio::any_io_executor executor);
  void ready(std::string_view status);
  void stopping();
  // Starts the watchdog keep-alive when the unit asks for one (WATCHDOG_USEC).
  void start_watchdog();
  void stop_watchdog();

 private:
  void keep_alive();

  boost::asio::steady_timer timer_;
  std::chrono::microseconds watchdog_interval_{0};
};

}  // namespace fnd::daemon

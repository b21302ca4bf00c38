// A clock the test moves by hand, for the mesh's policies over an injected fnd::Clock.
#pragma once

#include <chrono>

#include "core/time.hpp"

namespace fnd::mesh::test {

class FakeClock final : public Clock {
 public:
  SteadyTime now() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by; }

 private:
  SteadyTime now_ = SteadyTime{} + std::chrono::hours(1);
};

}  // namespace fnd::mesh::test

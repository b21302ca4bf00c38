// A few MiB of the state dir's filesystem set aside at start. When the disk fills up, the
// operations that free space (deleting a function, collecting its code) must still write a few
// database pages: releasing the reserve lets them.
//
// Thread safety: use from one thread at a time.
#pragma once

#include <cstdint>
#include <string>

namespace fnd::store {

class DiskReserve {
 public:
  // Creates (or keeps) the reserve file at `path`; when the disk has no room for it, fnd runs
  // without one and says so in its log.
  DiskReserve(std::string path, uint64_t bytes);

  // Gives the space back to the filesystem; false when there was none set aside.
  bool release();
  // Sets the space aside again, when there is room (after something was freed).
  void restore();
  bool held() const { return held_; }

 private:
  std::string path_;
  uint64_t bytes_;
  bool held_ = false;
};

}  // namespace fnd::store

// Helpers of the store's unit tests: a temporary directory, a clock moved by hand, and the raw
// bytes of a database with its WAL.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace fnd::store::test {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fnd-store-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(std::string_view name) const { return (path / name).string(); }
};

class FakeClock final : public Clock {
 public:
  SteadyTime now() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by; }

 private:
  SteadyTime now_ = SteadyTime{} + std::chrono::hours(1);
};

// A fixed wall time for the start of a test: 2030-01-01T00:00:00Z.
inline SystemTime test_epoch() { return SystemTime(std::chrono::seconds(1893456000)); }

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Everything SQLite keeps of the database `db_path` on disk: the file, its WAL and shared memory.
inline std::string raw_database_bytes(const std::string& db_path) {
  std::string bytes;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::filesystem::path p = db_path + suffix;
    if (std::filesystem::exists(p)) bytes += read_file(p);
  }
  return bytes;
}

}  // namespace fnd::store::test

#include "gateway/audit_trail.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

#include "store/database.hpp"

using namespace std::chrono_literals;
using fnd::gateway::AuditTrail;
using fnd::gateway::Principal;
using fnd::store::AuditLog;
using fnd::store::AuditQuery;
using fnd::store::Database;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fnd-audit-trail-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

size_t count(AuditLog& log) {
  AuditQuery all;
  all.limit = 1000;
  auto entries = log.query(all);
  REQUIRE(entries.ok());
  return entries->size();
}

}  // namespace

// audit.retention was documented by the issue but nothing ever called AuditLog::prune: the log
// grew for ever.
TEST_CASE("the audit trail removes entries older than its retention and keeps the rest", "[unit]") {
  TempDir dir;
  auto db = Database::open((dir.path / "fnd.db").string());
  REQUIRE(db.ok());
  AuditLog log(**db);
  const auto now = std::chrono::system_clock::now();
  REQUIRE(log.append({now - 100 * 24h, "uid:0", "function.deploy", "old", "ok", ""}).ok());
  REQUIRE(log.append({now - 10 * 24h, "uid:0", "function.deploy", "recent", "ok", ""}).ok());
  boost::asio::io_context blocking;
  AuditTrail trail(log, blocking.get_executor(), std::chrono::hours(24 * 90));
  Principal root;
  root.name = "uid:0";
  trail.record(root, "token.create", "ci", {});
  blocking.run();
  AuditQuery all;
  auto entries = log.query(all);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 2);
  CHECK((*entries)[0].target == "ci");
  CHECK((*entries)[1].target == "recent");
  CHECK(count(log) == 2);
}

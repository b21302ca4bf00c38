// Regression tests for a damaged or replaced fnd.db (issue 7, item 12): fnd says what is wrong and
// how to recover instead of failing with a bare SQLite message or silently starting empty; and
// `fnctl admin backup` gives operators something to restore.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHelloSource = "def handle(req):\n    return 'hello ' + req.body.decode()\n";
constexpr const char* kSpec = R"({"runtime":"python3","handler":"main.handle"})";

// Runs fnd on `state_dir` expecting it to refuse to start: returns its exit code and output.
CommandResult start_expecting_refusal(const std::string& state_dir) {
  const char* override_binary = std::getenv("FND_TEST_FND");
  std::string binary = override_binary && *override_binary ? override_binary : FND_BINARY;
  // `timeout` ends an fnd that starts anyway, so that the test fails instead of hanging.
  return run_command({"timeout", "15", binary, "--state-dir", state_dir, "--listen", "127.0.0.1:0", "--no-warm-pools"});
}

void remove_database(const std::string& state_dir) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(state_dir + "/fnd.db" + suffix);
}

}  // namespace

TEST_CASE("a damaged fnd.db stops fnd with the path and the ways to recover", "[integration]") {
  Daemon fnd;
  fnd.deploy("hello", {{"main.py", kHelloSource}}, kSpec);
  fnd.stop();
  remove_database(fnd.state_dir());
  std::ofstream(fnd.state_dir() + "/fnd.db", std::ios::binary) << std::string(8192, 'X');

  CommandResult refused = start_expecting_refusal(fnd.state_dir());
  std::string said = refused.out + refused.err;
  INFO(said);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(said, Catch::Contains("is damaged") && Catch::Contains(fnd.state_dir() + "/fnd.db") &&
                       Catch::Contains(".recover") && Catch::Contains("fnctl admin backup"));
}

TEST_CASE("an empty, missing or foreign fnd.db next to stored code is refused instead of starting with no functions",
          "[integration]") {
  Daemon fnd;
  fnd.deploy("hello", {{"main.py", kHelloSource}}, kSpec);
  fnd.stop();

  remove_database(fnd.state_dir());
  std::ofstream(fnd.state_dir() + "/fnd.db");  // 0 bytes
  CommandResult empty = start_expecting_refusal(fnd.state_dir());
  INFO(empty.out << empty.err);
  CHECK(empty.exit_code == 1);
  CHECK_THAT(empty.out + empty.err, Catch::Contains("is empty") && Catch::Contains("1 code trees") &&
                                        Catch::Contains("backup"));

  remove_database(fnd.state_dir());
  CommandResult missing = start_expecting_refusal(fnd.state_dir());
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.out + missing.err, Catch::Contains("is missing"));

  remove_database(fnd.state_dir());
  CommandResult made = run_command({"sqlite3", fnd.state_dir() + "/fnd.db", "CREATE TABLE orders (id INTEGER);"});
  REQUIRE(made.exit_code == 0);
  CommandResult foreign = start_expecting_refusal(fnd.state_dir());
  CHECK(foreign.exit_code == 1);
  CHECK_THAT(foreign.out + foreign.err, Catch::Contains("not an fnd database") && Catch::Contains("orders"));
}

TEST_CASE("fnctl admin backup writes a database fnd restarts from", "[integration]") {
  Daemon fnd;
  fnd.deploy("hello", {{"main.py", kHelloSource}}, kSpec);
  std::string backup = fnd.state_dir() + "/../" + fs::path(fnd.state_dir()).filename().string() + "-backup.db";
  struct RemoveBackup {
    std::string path;
    ~RemoveBackup() { fs::remove(path); }
  } cleanup{backup};

  CommandResult made = fnd.run_fnctl({"admin", "backup", backup});
  INFO(made.out << made.err);
  REQUIRE(made.exit_code == 0);
  CHECK_THAT(made.out, Catch::Contains("written to"));
  CHECK((fs::status(backup).permissions() & fs::perms::others_read) == fs::perms::none);
  // A second backup never overwrites the first.
  CHECK(fnd.run_fnctl({"admin", "backup", backup}).exit_code == 1);

  // The disaster: the database is lost. Restoring the backup brings the function back.
  fnd.stop();
  remove_database(fnd.state_dir());
  fs::copy_file(backup, fnd.state_dir() + "/fnd.db");
  fnd.restart();
  CHECK(fnd.invoke("hello", "again").body == "hello again");
}

}  // namespace fnd::test

// What users see when things go wrong: bad names, bad specs, functions that crash, run out of
// memory, never start or hang, and archives that try to escape or are too large.
#include <catch2/catch.hpp>
#include <random>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

constexpr const char* kPythonSpec = R"({"runtime":"python3","handler":"main.handle"})";

// The answer is one of fnd's own errors with this status and code.
void check_fnd_error(const HttpAnswer& answer, long status, const std::string& code) {
  INFO("answer: HTTP " << answer.status << " " << answer.body << answer.transport_error);
  CHECK(answer.status == status);
  CHECK(answer.error_code() == code);
  CHECK(answer.header("x-fnd-error") == "1");  // tells fnd's errors from the function's own
}

HttpAnswer put_spec(const Daemon& fnd, const std::string& name, const std::string& spec_json) {
  return fnd.http("PUT", "/api/v1/functions/" + name, spec_json, {{"Content-Type", "application/json"}});
}

HttpAnswer put_code(const Daemon& fnd, const std::string& name, const std::string& archive) {
  return fnd.http("PUT", "/api/v1/functions/" + name + "/code", archive, {{"Content-Type", "application/gzip"}});
}

// Bytes gzip cannot shrink, so the archive is about as large as they are.
std::string incompressible_bytes(size_t size) {
  std::mt19937 generator(20240601);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(generator() & 0xff);
  return out;
}

}  // namespace

TEST_CASE("invoking an unknown function is a 404 naming it", "[integration]") {
  Daemon fnd;
  HttpAnswer answer = fnd.invoke("nosuch", "hi");
  check_fnd_error(answer, 404, "function_not_found");
  CHECK_THAT(answer.error_message(), Catch::Contains("nosuch"));
}

TEST_CASE("malformed specs are 422 naming the field", "[integration]") {
  Daemon fnd;
  std::string digest = fnd.upload_code("spec", make_code_archive({{"main.py", "def handle(req):\n    return 'ok'\n"}}));

  struct Case {
    std::string spec;
    std::string field;
  };
  const Case cases[] = {
      {R"({"runtime":"python3","handler":"main.handle","colour":"red"})", "'colour'"},
      {R"({"runtime":"cobol","handler":"main.handle"})", "'runtime'"},
      {R"({"runtime":"python3","handler":"main.handle","scale":{"max":"x"}})", "'scale.max'"},
  };
  for (const auto& [spec, field] : cases) {
    std::string with_code = spec.substr(0, spec.size() - 1) + R"(,"code":")" + digest + R"("})";
    HttpAnswer answer = put_spec(fnd, "spec", with_code);
    INFO("spec " << with_code);
    check_fnd_error(answer, 422, "invalid_spec");
    CHECK_THAT(answer.error_message(), Catch::Contains(field));
  }
  // None of them made a function.
  CHECK(fnd.http("GET", "/api/v1/functions/spec").status == 404);
}

TEST_CASE("a spec without code for a new function is 422 code_required", "[integration]") {
  Daemon fnd;
  check_fnd_error(put_spec(fnd, "nocode", kPythonSpec), 422, "code_required");
}

TEST_CASE("a crash is a 502 with the exit status and the next request gets a fresh instance", "[integration]") {
  Daemon fnd;
  // TOKEN differs per process, so it tells instances apart.
  fnd.deploy("fragile",
             {{"main.py",
               "import os\nTOKEN = os.urandom(8).hex()\n"
               "def handle(req):\n"
               "    if req.body == b'crash':\n        os._exit(3)\n"
               "    return TOKEN\n"}},
             kPythonSpec);

  HttpAnswer before = fnd.invoke("fragile", "ok");
  REQUIRE(before.status == 200);

  HttpAnswer crash = fnd.invoke("fragile", "crash");
  check_fnd_error(crash, 502, "function_crashed");
  CHECK_THAT(crash.error_message(), Catch::Contains("exited with status 3"));

  HttpAnswer after = fnd.invoke("fragile", "ok");
  REQUIRE(after.status == 200);
  CHECK(after.body != before.body);
}

TEST_CASE("running out of memory is a 502 naming the limit", "[integration]") {
  Daemon fnd;
  // bytearray() gets zeroed pages from mmap without touching them: write one byte per page.
  fnd.deploy("hungry",
             {{"main.py",
               "def handle(req):\n"
               "    block = bytearray(200 * 1024 * 1024)\n"
               "    for i in range(0, len(block), 4096):\n        block[i] = 1\n"
               "    return 'survived'\n"}},
             R"({"runtime":"python3","handler":"main.handle","resources":{"memory":"32Mi"}})");

  HttpAnswer answer = fnd.invoke("hungry");
  check_fnd_error(answer, 502, "function_out_of_memory");
  CHECK_THAT(answer.error_message(), Catch::Contains("32Mi"));
}

TEST_CASE("a handler that cannot load is a 502 with the start error", "[integration]") {
  Daemon fnd;
  fnd.deploy("broken", {{"main.py", "def handle(req):\n    return 'unreachable'\n"}},
             R"({"runtime":"python3","handler":"nosuchmodule.handle"})");

  HttpAnswer answer = fnd.invoke("broken");
  check_fnd_error(answer, 502, "function_start_failed");
  CHECK_THAT(answer.error_message(), Catch::Contains("No module named"));
}

TEST_CASE("a request past the timeout is a 504 and the function keeps working", "[integration]") {
  Daemon fnd;
  // TOKEN differs per process: the timed-out instance must be recycled, not reused.
  fnd.deploy("sleepy",
             {{"main.py",
               "import os, time\nTOKEN = os.urandom(8).hex()\n"
               "def handle(req):\n"
               "    if req.body == b'slow':\n        time.sleep(5)\n"
               "    return TOKEN\n"}},
             R"({"runtime":"python3","handler":"main.handle","timeout":"500ms"})");
  // Warm up first, so the timeout below measures the handler and not the cold start.
  HttpAnswer warm = fnd.invoke("sleepy", "warm");
  REQUIRE(warm.status == 200);

  auto started = std::chrono::steady_clock::now();
  HttpAnswer slow = fnd.invoke("sleepy", "slow");
  auto took = std::chrono::steady_clock::now() - started;
  check_fnd_error(slow, 504, "function_timeout");
  CHECK(took < 3s);

  HttpAnswer fast = fnd.invoke("sleepy", "quick");
  CHECK(fast.status == 200);
  CHECK(fast.body.size() == warm.body.size());
  CHECK(fast.body != warm.body);
}

TEST_CASE("archives with unsafe entries are 400 unsafe_archive", "[integration]") {
  Daemon fnd;
  const ArchiveEntry main_py{.path = "main.py", .content = "def handle(req):\n    return 'ok'\n"};
  struct Case {
    std::string what;
    ArchiveEntry entry;
  };
  const Case cases[] = {
      {"an absolute path", {.path = "/tmp/fnd-escape", .content = "x"}},
      {"a .. component", {.path = "../x", .content = "x"}},
      {"a symlink out of the tree",
       {.path = "passwd", .kind = ArchiveEntry::Kind::symlink, .link_target = "/etc/passwd"}},
      {"a fifo", {.path = "pipe", .kind = ArchiveEntry::Kind::fifo}},
      {"a device", {.path = "null", .kind = ArchiveEntry::Kind::char_device}},
  };
  for (const auto& [what, entry] : cases) {
    INFO("an archive with " << what);
    HttpAnswer answer = put_code(fnd, "hostile", make_tar_gz({main_py, entry}));
    check_fnd_error(answer, 400, "unsafe_archive");
    CHECK_THAT(answer.error_message(), Catch::Contains(entry.path));
  }
  // The same archive without the hostile entry is fine.
  CHECK(put_code(fnd, "hostile", make_tar_gz({main_py})).status == 201);
}

TEST_CASE("an archive over limits.max_code_archive is 413", "[integration]") {
  Daemon fnd({.config_yaml = "limits:\n  max_code_archive: 1Ki\n"});
  std::string archive = make_code_archive({{"noise.bin", incompressible_bytes(4096)}});
  REQUIRE(archive.size() > 1024);

  HttpAnswer answer = put_code(fnd, "huge", archive);
  INFO("answer: HTTP " << answer.status << " " << answer.body << answer.transport_error);
  CHECK(answer.status == 413);
  // docs/api.md names this code for an archive over the limit.
  CHECK(answer.error_code() == "archive_too_large");

  // Under the limit is still fine.
  CHECK(put_code(fnd, "small", make_code_archive({{"main.py", "x = 1\n"}})).status == 201);
}

}  // namespace fnd::test

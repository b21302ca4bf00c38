// fnctl admin backup FILE: downloads a consistent copy of fnd's database (SQLite's online backup)
// into FILE, the thing to restore after a disk or a database is lost.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>

#include "fnctl/client.hpp"
#include "commands.hpp"
#include <sys/stat.h>

namespace fnd::fnctl {

namespace {

namespace fs = std::filesystem;

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

constexpr std::string_view kSqliteMagic{"SQLite format 3\0", 16};

int run_backup(const std::string& target, const GlobalOptions& globals) {
  // Written beside the target and renamed once complete: an interrupted backup never leaves a
  // truncated file under the name an operator will restore from.
  std::string partial = target + ".partial";
  std::error_code exists_ec;
  if (fs::exists(target, exists_ec)) {
    return report_error(make_error("backup_exists", fmt::format("{} exists already; choose a new file name (a backup never "
                                                                "overwrites another)", target)));
  }
  FilePtr out(std::fopen(partial.c_str(), "wbx"));
  if (!out) return report_error(make_errno_error("backup_failed", fmt::format("cannot create {}", partial), errno));
  ::fchmod(::fileno(out.get()), 0600);  // the database holds functions' env
  std::string head;
  uint64_t bytes = 0;
  std::string api_error;
  HttpRequest request{.method = "GET", .path = "/api/v1/admin/backup"};
  request.on_body = [&](long status, const HttpHeaders&, std::string_view chunk) {
    if (status >= 400) {
      api_error.append(chunk);
      return true;
    }
    if (head.size() < kSqliteMagic.size()) head.append(chunk.substr(0, kSqliteMagic.size() - head.size()));
    bytes += chunk.size();
    return std::fwrite(chunk.data(), 1, chunk.size(), out.get()) == chunk.size();
  };
  auto answer = ApiClient(globals.endpoint()).send(request);
  bool written = std::fflush(out.get()) == 0 && ::fsync(::fileno(out.get())) == 0;
  out.reset();
  auto discard = [&](const Error& e) {
    ::unlink(partial.c_str());
    return report_error(e);
  };
  if (!answer) return discard(answer.error());
  if (answer->status >= 400) {
    HttpResponse failed = *answer;
    failed.body = api_error;
    return discard(error_from_answer(failed, "GET", request.path));
  }
  if (!written) return discard(make_errno_error("backup_failed", fmt::format("writing {}", partial), errno));
  if (head != kSqliteMagic) return discard(make_error("backup_failed", "fnd's answer is not an SQLite database; is fnd up to date?"));
  if (::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) {
    return discard(make_errno_error("backup_failed", fmt::format("cannot rename {} to {}", partial, target), errno));
  }
  if (globals.output == OutputFormat::json) {
    fmt::print("{{\"file\": \"{}\", \"bytes\": {}}}\n", target, bytes);
  } else {
    fmt::print("backup of fnd's database ({}) written to {}\n", format_size(bytes), target);
  }
  return kExitOk;
}

}  // namespace

Command add_admin_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("admin", "Operator tasks: backups");
  app->require_subcommand(1);
  auto target = std::make_shared<std::string>();
  CLI::App* backup = app->add_subcommand("backup", "Write a consistent copy of fnd's database to FILE (restore: stop fnd, "
                                                   "copy FILE to STATE_DIR/fnd.db, remove fnd.db-wal and fnd.db-shm)");
  backup->add_option("file", *target, "where to write the backup (must not exist yet)")->required();
  return {app, [target, &globals] { return run_backup(*target, globals); }};
}

}  // namespace fnd::fnctl

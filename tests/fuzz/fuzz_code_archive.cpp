// Code uploads (PUT /api/v1/functions/NAME/code): the code store unpacks a tar.gz (or plain tar)
// with libarchive. Each input is stored in a code store of its own, deep inside a fresh sandbox
// directory that is removed afterwards. Whatever the archive holds, nothing may appear outside the
// store's published trees: no file next to them, none in the folders above the store.
#include <stdlib.h>

#include <filesystem>
#include <fmt/format.h>
#include <string>
#include <system_error>

#include "fuzz_check.hpp"
#include "store/code_store.hpp"

namespace fs = std::filesystem;

namespace {

bool is_digest_name(const std::string& name) {
  return name.size() == 64 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Every path under `sandbox` that is neither one of the folders leading to the store, nor the
// store, nor inside a published tree of it.
void check_sandbox(const fs::path& sandbox, const fs::path& store, const std::string& input_note) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(sandbox, fs::directory_options::none, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::path& path = it->path();
    const fs::path relative = path.lexically_relative(store);
    const bool leads_to_store = store.string().starts_with(path.string() + "/") && it->is_directory();
    if (leads_to_store || path == store) continue;
    const std::string first = relative.empty() ? std::string() : relative.begin()->string();
    FND_FUZZ_CHECK(!first.empty() && first != ".." && is_digest_name(first),
                   fmt::format("the archive made {} outside the store's trees ({})", path.string(), input_note));
    if (relative == fs::path(first)) {
      // A published tree itself: a real folder, never a link to elsewhere.
      FND_FUZZ_CHECK(it->is_directory() && !it->is_symlink(), path.string());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string sandbox_template = (fs::temp_directory_path() / "fnd-fuzz-archive-XXXXXX").string();
  if (!::mkdtemp(sandbox_template.data())) std::abort();
  const fs::path sandbox(sandbox_template);
  const fs::path store_dir = sandbox / "a" / "b" / "c" / "code";
  {
    fnd::store::CodeLimits limits;
    limits.max_archive_bytes = 1 << 20;
    limits.max_unpacked_bytes = 256 << 10;
    fnd::store::CodeStore store(store_dir.string(), limits);
    auto stored = store.store_archive(fnd::fuzz::as_text(data, size));
    if (stored) {
      FND_FUZZ_CHECK(store.contains(stored->digest) && fs::is_directory(store.directory(stored->digest)), stored->digest);
      FND_FUZZ_CHECK(stored->archive_bytes == size, stored->digest);
    } else {
      const int status = stored.error().http_status;
      FND_FUZZ_CHECK(status == 400 || status == 413, fmt::format("{} {}: {}", status, stored.error().code,
                                                                 stored.error().message));
    }
    check_sandbox(sandbox, store_dir, stored ? stored->digest : stored.error().message);
  }
  std::error_code ec;
  fs::remove_all(sandbox, ec);
  return 0;
}

#include "gateway/admin_api.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <random>
#include <spdlog/spdlog.h>

#include "client_stream.hpp"
#include "gateway/responses.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

asio::awaitable<bool> AdminApi::handle(Request& request, std::string_view rest, ClientStream& client,
                                       const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (auto allowed = caller.may(Permission::backup); !allowed) {
    co_return co_await write_error(client, allowed.error(), version, keep_alive);
  }
  std::string_view path = rest.substr(0, rest.find('?'));
  if (path == "/backup") {
    if (request.method() != http::verb::get) {
      co_return co_await write_error(client, make_error("method_not_allowed", "use GET /api/v1/admin/backup", 405), version,
                                     keep_alive);
    }
    co_return co_await backup(request, client);
  }
  co_return co_await write_error(client, make_error("not_found", fmt::format("no admin endpoint {}; see docs/api.md",
                                                                             std::string_view(request.target())), 404),
                                 version, keep_alive);
}

asio::awaitable<bool> AdminApi::backup(Request& request, ClientStream& client) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  std::string file = fmt::format("{}/backup-{:016x}.db", scratch_dir_, std::random_device{}() * 0x9e3779b97f4a7c15ULL);
  // co_spawn needs a default-constructible result.
  using Outcome = std::optional<Status>;
  Outcome made = co_await asio::co_spawn(blocking_executor_, [this, &file]() -> asio::awaitable<Outcome> {
    co_return database_.backup_to(file);
  }, asio::use_awaitable);
  struct Remove {
    const std::string& file;
    ~Remove() { ::unlink(file.c_str()); }
  } remove{file};
  if (!*made) co_return co_await write_error(client, made->error(), version, keep_alive);

  beast::error_code ec;
  http::response<http::file_body> res(http::status::ok, version);
  res.body().open(file.c_str(), beast::file_mode::scan, ec);
  if (ec) {
    co_return co_await write_error(client, make_errno_error("backup_failed", fmt::format("reading {}", file), ec.value()),
                                   version, keep_alive);
  }
  res.set(http::field::server, "fnd");
  res.set(http::field::content_type, "application/vnd.sqlite3");
  res.set(http::field::content_disposition, "attachment; filename=\"fnd.db\"");
  res.keep_alive(keep_alive);
  res.prepare_payload();
  spdlog::info("database backup of {} bytes sent", res.body().size());
  client.expires_after(std::chrono::minutes(10));
  auto [wec, n] = co_await http::async_write(client, res, asio::as_tuple(asio::use_awaitable));
  client.expires_never();
  co_return !wec && keep_alive;
}

}  // namespace fnd::gateway

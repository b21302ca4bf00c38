// The operator's part of the management API: GET /api/v1/admin/backup streams a consistent copy
// of the database (SQLite's online backup), for `fnctl admin backup FILE`.
//
// Not thread safe: use from the io_context's thread only. The backup itself runs on
// `blocking_executor`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "gateway/access_control.hpp"
#include "gateway/http_server.hpp"
#include "store/database.hpp"

namespace fnd::gateway {

class AdminApi {
 public:
  AdminApi(store::Database& database, std::string scratch_dir, boost::asio::any_io_executor blocking_executor)
      : database_(database), scratch_dir_(std::move(scratch_dir)), blocking_executor_(std::move(blocking_executor)) {}

  // `rest` is the path after /api/v1/admin ("/backup").
  boost::asio::awaitable<bool> handle(Request& request, std::string_view rest, ClientStream& client, const Caller& caller);

 private:
  boost::asio::awaitable<bool> backup(Request& request, ClientStream& client);

  store::Database& database_;
  std::string scratch_dir_;  // where the backup is written before it is sent (the state dir's filesystem)
  boost::asio::any_io_executor blocking_executor_;
};

}  // namespace fnd::gateway

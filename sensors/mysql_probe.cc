#include "sensors/mysql_probe.h"

#include <mysql.h>

#include <memory>
#include <mutex>

#include "bus/event.h"

namespace ehabus::sensors {
namespace {

struct CloseMysql {
  void operator()(MYSQL* m) const { mysql_close(m); }
};
struct FreeResult {
  void operator()(MYSQL_RES* r) const { mysql_free_result(r); }
};

// "db.table", each part a plain identifier: it goes into SQL text.
bool PlainTable(const std::string& name) {
  auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == name.size())
    return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'))
      return false;
  }
  return name.find('.', dot + 1) == std::string::npos;
}

}  // namespace

ProbeResult ProbeMysql(const MysqlOptions& o, Deadline deadline) {
  static std::once_flag init;
  std::call_once(init, [] { mysql_library_init(0, nullptr, nullptr); });
  auto start = std::chrono::steady_clock::now();
  std::string label = "mysql " + o.host + ":" + std::to_string(o.port);
  ProbeResult r;

  std::unique_ptr<MYSQL, CloseMysql> db(mysql_init(nullptr));
  if (!db) return Finish(r, start, false, label + ": out of memory");
  auto left = std::chrono::ceil<std::chrono::seconds>(deadline - start).count();
  unsigned timeout = static_cast<unsigned>(std::max<std::int64_t>(left, 1));
  mysql_options(db.get(), MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(db.get(), MYSQL_OPT_READ_TIMEOUT, &timeout);
  mysql_options(db.get(), MYSQL_OPT_WRITE_TIMEOUT, &timeout);
  // TCP even for 127.0.0.1 / localhost: we check what clients use.
  unsigned protocol = MYSQL_PROTOCOL_TCP;
  mysql_options(db.get(), MYSQL_OPT_PROTOCOL, &protocol);
  if (!mysql_real_connect(db.get(), o.host.c_str(), o.user.c_str(),
                          o.password.c_str(), nullptr,
                          static_cast<unsigned>(o.port), nullptr, 0)) {
    return Finish(r, start, false,
                  label + ": connect: " + Quote(mysql_error(db.get())) + " (" +
                      std::to_string(mysql_errno(db.get())) + ")");
  }
  r.data = {{"server", mysql_get_server_info(db.get())}};
  std::string last_value_;  // first column of the first row of the last query
  auto query = [&](const std::string& sql,
                   const std::string& step) -> std::optional<std::string> {
    if (mysql_query(db.get(), sql.c_str()) != 0) {
      return label + ": " + Quote(mysql_error(db.get())) + " after " + step;
    }
    std::unique_ptr<MYSQL_RES, FreeResult> result(mysql_store_result(db.get()));
    if (!result) {
      if (mysql_field_count(db.get()) == 0)
        return std::nullopt;  // no result set
      return label + ": " + Quote(mysql_error(db.get())) + " reading " + step;
    }
    MYSQL_ROW row = mysql_fetch_row(result.get());
    last_value_ = row && row[0] ? row[0] : "";
    return std::nullopt;
  };
  if (auto failed = query("SELECT 1", "SELECT 1"))
    return Finish(r, start, false, *failed);
  if (last_value_ != "1")
    return Finish(r, start, false,
                  label + ": SELECT 1 returned " + Quote(last_value_));
  if (!o.heartbeat_table.empty()) {
    if (!PlainTable(o.heartbeat_table)) {
      return Finish(r, start, false,
                    label + ": heartbeat table " + Quote(o.heartbeat_table) +
                        " is not db.table");
    }
    std::string stamp = std::to_string(WallMicros());
    std::string node(o.node.size() * 2 + 1, '\0');
    node.resize(mysql_real_escape_string(db.get(), node.data(), o.node.c_str(),
                                         o.node.size()));
    auto db_name = o.heartbeat_table.substr(0, o.heartbeat_table.find('.'));
    for (const auto& [sql, step] :
         std::initializer_list<std::pair<std::string, std::string>>{
             {"CREATE DATABASE IF NOT EXISTS " + db_name, "CREATE DATABASE"},
             {"CREATE TABLE IF NOT EXISTS " + o.heartbeat_table +
                  " (node VARCHAR(64) PRIMARY KEY, at BIGINT NOT NULL)",
              "CREATE TABLE"},
             {"REPLACE INTO " + o.heartbeat_table + " VALUES ('" + node +
                  "', " + stamp + ")",
              "the heartbeat write"},
             {"SELECT at FROM " + o.heartbeat_table + " WHERE node = '" + node +
                  "'",
              "the heartbeat read"}}) {
      if (auto failed = query(sql, step))
        return Finish(r, start, false, *failed);
    }
    if (last_value_ != stamp) {
      return Finish(r, start, false,
                    label + ": heartbeat read back " + Quote(last_value_) +
                        ", wrote " + stamp);
    }
  }
  return Finish(r, start, true, label + " answers");
}

}  // namespace ehabus::sensors

// The MariaDB/MySQL probe, through the real client library (libmariadb):
// handshake, authentication, SELECT 1, and optionally a heartbeat row
// written and read back (proves the storage under the database takes
// writes). The library's timeouts are whole seconds; the runtime abandons a
// run that outlives its deadline anyway.
#pragma once

#include <string>

#include "sensors/probe.h"

namespace ehabus::sensors {

struct MysqlOptions {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string user = "root";
  std::string password;
  // "db.table" with columns (node VARCHAR PRIMARY KEY, at BIGINT); empty: no
  // write. The probe creates the table when it is missing.
  std::string heartbeat_table;
  std::string node = "ehabus";
};

ProbeResult ProbeMysql(const MysqlOptions& options, Deadline deadline);

}  // namespace ehabus::sensors

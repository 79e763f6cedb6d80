// InfluxQL's user statements, parsed and run by the server (they need the
// UserStore, which the query layer knows nothing of):
//
//   CREATE USER u WITH PASSWORD 'p' [WITH ALL PRIVILEGES]
//   DROP USER u
//   SET PASSWORD FOR u = 'p'
//   GRANT READ|WRITE|ALL [PRIVILEGES] ON db TO u     GRANT ALL [PRIVILEGES] TO u
//   REVOKE READ|WRITE|ALL [PRIVILEGES] ON db FROM u  REVOKE ALL [PRIVILEGES] FROM u
//   SHOW USERS
//   SHOW GRANTS FOR u
//
// A query whose first statement is one of these is parsed here as a whole;
// every statement of it must be one of these (docs/security.md says so).
#ifndef M2MDB_SERVER_USER_STATEMENTS_H_
#define M2MDB_SERVER_USER_STATEMENTS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/query/executor.h"
#include "m2mdb/status.h"
#include "server/users.h"

namespace m2mdb::server {

struct UserStatement {
  enum class Kind {
    kCreateUser,
    kDropUser,
    kSetPassword,
    kGrant,        // privilege ON database TO user
    kRevoke,       // privilege ON database FROM user
    kGrantAdmin,   // GRANT ALL PRIVILEGES TO user
    kRevokeAdmin,  // REVOKE ALL PRIVILEGES FROM user
    kShowUsers,
    kShowGrants,
  };
  Kind kind = Kind::kShowUsers;
  std::string user;
  std::string password;  // CREATE USER, SET PASSWORD
  bool admin = false;    // CREATE USER ... WITH ALL PRIVILEGES
  Privilege privilege = Privilege::kNone;
  std::string database;
};

// True if `q` starts with a user statement (after blanks and comments are
// not considered: a leading comment sends it to the InfluxQL parser).
bool IsUserQuery(std::string_view q);

// The statements of `q`, or InvalidArgument with "error parsing query: ...".
StatusOr<std::vector<UserStatement>> ParseUserStatements(std::string_view q);

// Runs `st` against `users`; the result carries influxd's answer or error.
// `db` is for GRANT's database check (through the store).
query::StatementResult RunUserStatement(const UserStatement& st, int statement_id, UserStore* users);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_USER_STATEMENTS_H_

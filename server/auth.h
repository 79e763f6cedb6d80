// Who may do what: the credential of a request (token, Basic auth, u/p),
// what a statement needs of a token's scope (Classify, as influxd's
// RequiredPrivileges), the SHOW DATABASES filter, and the rate-limited log of
// refused requests. Protected mode (no tokens on a non-loopback address) is
// decided at start in serve.cc; HttpServer::Impl::Authenticate and
// AuthorizeStatements (auth.cc) apply the rest to each request.
#ifndef M2MDB_SERVER_AUTH_H_
#define M2MDB_SERVER_AUTH_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/query/ast.h"
#include "m2mdb/query/executor.h"
#include "server/http_types.h"
#include "server/params.h"
#include "server/tokens.h"

namespace m2mdb::server {

// Statement classification for token scopes (TokenInfo in tokens.h).
enum class Need { kRead, kWrite, kDelete, kAdmin };

// "read from", "write to", ...: the verb of a 403 message.
const char* NeedText(Need n);
bool TokenMay(const TokenInfo& t, Need n);

struct StatementNeeds {
  Need need = Need::kRead;
  std::vector<std::string> dbs;  // databases named in the statement
};

// What a statement needs, as influxd decides it (influxql RequiredPrivileges)
// except that deleting data is its own permission: CREATE/DROP DATABASE and
// retention policies need admin; DELETE, DROP SERIES and DROP MEASUREMENT
// need delete (influxd lets any writer do the first two; a write-only device
// token must not be able to wipe its database).
StatementNeeds Classify(const query::Statement& st);

// SHOW DATABASES lists only the databases `token` covers (influxd lists those
// a non-admin user has a grant on). The executor lists them all; the filter is
// applied to its result here so that the query layer knows nothing of tokens.
void FilterShowDatabases(const std::vector<query::Statement>& statements, const TokenInfo& token,
                         std::vector<query::StatementResult>* results);
// The same with any test: a user sees the databases it may read (influxd).
void FilterShowDatabases(const std::vector<query::Statement>& statements,
                         const std::function<bool(const std::string&)>& shown,
                         std::vector<query::StatementResult>* results);

// User name and password: Basic auth, "Authorization: Token user:password"
// (influxd 1.8's form; a token never holds a colon) or u/p. `user` is empty
// for a bare token.
struct Credentials {
  std::string user;
  std::string password;
};
Credentials CredentialsOf(const Request& req, const Params& params);

// Log lines for refused requests (401, 403): at most one per second per
// reason, with the number suppressed since the last one, so that a client
// retrying a bad token in a loop cannot flood the log. The client address
// and the token's id are logged, never the credential. Thread-safe.
class AuthLog {
 public:
  void Refused(std::string_view reason, const Request& req, std::string_view token_id,
               std::string_view detail);

 private:
  struct Entry {
    std::chrono::steady_clock::time_point last;
    uint64_t suppressed = 0;
  };
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // guarded by mu_
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_AUTH_H_

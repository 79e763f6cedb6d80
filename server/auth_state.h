// The credentials the HTTP API and the MQTT listener share while the server
// runs: the API tokens (a snapshot replaced whole when one is created or
// revoked), the users and grants (UserStore, changed in place by CREATE USER,
// GRANT, ...), the per-address failed-login limiter and whether
// authentication is on. serve.cc makes one and hands it to both, so that a
// token revoked over HTTP or a grant revoked by a statement takes effect for
// MQTT at once, and a password guessed over MQTT counts against the same
// address over HTTP.
//
// Thread-safety: every method is safe for concurrent use.
#ifndef M2MDB_SERVER_AUTH_STATE_H_
#define M2MDB_SERVER_AUTH_STATE_H_

#include <memory>
#include <mutex>

#include "m2mdb/db.h"
#include "m2mdb/status.h"
#include "server/tokens.h"
#include "server/users.h"

namespace m2mdb::server {

class AuthState {
 public:
  // `tokens` as loaded at start; the users are read from `db`, which must
  // outlive the state. `auth_required`: on from the start (tokens or users
  // existed, or serve decided so).
  static StatusOr<std::shared_ptr<AuthState>> Create(DB* db, TokenStore tokens, bool auth_required);

  // Protected mode as influxd's: on from the start, or since the first
  // token or admin user was created at run time (it never switches off
  // while the server runs: dropping the last admin is refused).
  bool Active() const { return auth_required_ || users_->has_admin() || !Tokens()->empty(); }

  // The tokens now. A caller keeps its snapshot (and the TokenInfo
  // pointers into it) alive while it uses them.
  std::shared_ptr<const TokenStore> Tokens() const {
    std::lock_guard<std::mutex> l(tokens_mu_);
    return tokens_;
  }
  // Re-reads the tokens from the data directory after a change.
  Status ReloadTokens();

  UserStore* users() const { return users_.get(); }
  LoginLimiter& login_limiter() { return login_limiter_; }

 private:
  AuthState(DB* db, TokenStore tokens, bool auth_required, std::unique_ptr<UserStore> users)
      : db_(db),
        tokens_(std::make_shared<const TokenStore>(std::move(tokens))),
        auth_required_(auth_required),
        users_(std::move(users)) {}

  DB* db_;
  mutable std::mutex tokens_mu_;
  std::shared_ptr<const TokenStore> tokens_;  // guarded by tokens_mu_
  const bool auth_required_;
  const std::unique_ptr<UserStore> users_;
  LoginLimiter login_limiter_;
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_AUTH_STATE_H_

// AuthState (auth_state.h): tokens, users and the login limiter shared by the
// HTTP API and the MQTT listener.
#include "server/auth_state.h"

#include <utility>

namespace m2mdb::server {

StatusOr<std::shared_ptr<AuthState>> AuthState::Create(DB* db, TokenStore tokens, bool auth_required) {
  ASSIGN_OR_RETURN(std::unique_ptr<UserStore> users, UserStore::Load(db));
  return std::shared_ptr<AuthState>(new AuthState(db, std::move(tokens), auth_required, std::move(users)));
}

Status AuthState::ReloadTokens() {
  ASSIGN_OR_RETURN(TokenStore fresh, TokenStore::Load(db_));
  auto next = std::make_shared<const TokenStore>(std::move(fresh));
  std::lock_guard<std::mutex> l(tokens_mu_);
  tokens_ = std::move(next);
  return Status();
}

}  // namespace m2mdb::server

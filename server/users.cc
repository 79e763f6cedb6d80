// Users and grants (users.h): the stored record, the statements' effects with
// influxd 1.6's errors, password hashing with libsodium and the cache of
// verified credentials, and the failed-login limiter.
#include "server/users.h"

#include <algorithm>
#include <utility>

#include <sodium.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace m2mdb::server {
namespace {

// influxd 1.6's texts (services/meta/errors.go), which clients match on.
Status UserNotFound() { return absl::NotFoundError("user not found"); }

StatusOr<std::string> HashPassword(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return absl::ResourceExhaustedError("out of memory hashing a password");
  }
  return std::string(out);
}

// One hash at a time: each takes crypto_pwhash_MEMLIMIT_INTERACTIVE (64 MiB).
std::mutex hash_mu;

bool VerifyPassword(const std::string& hash, std::string_view password) {
  std::lock_guard<std::mutex> l(hash_mu);
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace

const char* PrivilegeName(Privilege p) {
  switch (p) {
    case Privilege::kNone:
      return "NO PRIVILEGES";
    case Privilege::kRead:
      return "READ";
    case Privilege::kWrite:
      return "WRITE";
    case Privilege::kAll:
      return "ALL PRIVILEGES";
  }
  return "NO PRIVILEGES";
}

Privilege UserInfo::On(std::string_view db) const {
  auto it = grants.find(std::string(db));
  return it == grants.end() ? Privilege::kNone : it->second;
}

// Format (one key=value per line; later versions may add keys):
//   v=1 / hash=<crypto_pwhash_str> / admin=0|1 / grant=<0-3>:<C-escaped db> ...
std::string EncodeUser(const UserInfo& u) {
  std::string out = absl::StrCat("v=1\nhash=", u.hash, "\nadmin=", u.admin ? 1 : 0, "\n");
  for (const auto& [db, p] : u.grants) {
    absl::StrAppend(&out, "grant=", static_cast<int>(p), ":", absl::CEscape(db), "\n");
  }
  return out;
}

StatusOr<UserInfo> DecodeUser(std::string_view name, std::string_view value) {
  UserInfo u;
  u.name = std::string(name);
  for (absl::string_view line : absl::StrSplit(ToAbsl(value), '\n', absl::SkipEmpty())) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    absl::string_view k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "hash") {
      u.hash = std::string(v);
    } else if (k == "admin") {
      u.admin = v == "1";
    } else if (k == "grant") {
      size_t colon = v.find(':');
      int p = 0;
      std::string db;
      if (colon == absl::string_view::npos || !absl::SimpleAtoi(v.substr(0, colon), &p) || p < 0 || p > 3 ||
          !absl::CUnescape(v.substr(colon + 1), &db)) {
        return absl::DataLossError(absl::StrCat("user ", ToAbsl(name), ": bad grant"));
      }
      u.grants[db] = static_cast<Privilege>(p);
    }
  }
  if (u.hash.empty()) return absl::DataLossError(absl::StrCat("user ", ToAbsl(name), ": bad record"));
  return u;
}

StatusOr<std::unique_ptr<UserStore>> UserStore::Load(DB* db) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
  std::unique_ptr<UserStore> store(new UserStore(db));
  randombytes_buf(store->key_, sizeof(store->key_));
  ASSIGN_OR_RETURN(auto kvs, db->ListAppMeta(kUserKeyPrefix));
  for (const auto& [key, value] : kvs) {
    std::string_view name = std::string_view(key).substr(kUserKeyPrefix.size());
    ASSIGN_OR_RETURN(UserInfo u, DecodeUser(name, value));
    store->users_.emplace(u.name, std::move(u));
  }
  return store;
}

bool UserStore::has_admin() const {
  std::lock_guard<std::mutex> l(mu_);
  return AdminsLocked() > 0;
}

size_t UserStore::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return users_.size();
}

size_t UserStore::AdminsLocked() const {
  return static_cast<size_t>(
      std::count_if(users_.begin(), users_.end(), [](const auto& kv) { return kv.second.admin; }));
}

Status UserStore::PutLocked(const UserInfo& u) {
  return db_->PutAppMeta(absl::StrCat(ToAbsl(kUserKeyPrefix), u.name), EncodeUser(u));
}

Status UserStore::Create(std::string_view name, std::string_view password, bool admin) {
  if (name.empty()) return absl::InvalidArgumentError("username required");
  {
    std::unique_lock<std::mutex> l(mu_);
    auto it = users_.find(name);
    if (it != users_.end()) {
      // influxd: creating the same user again (same password and admin flag)
      // succeeds; anything else is "user already exists".
      UserInfo existing = it->second;
      l.unlock();
      if (existing.admin == admin && VerifyPassword(existing.hash, password)) return Status();
      return absl::AlreadyExistsError("user already exists");
    }
    // Auth switches on with the first admin: a first user without admin
    // rights would lock nobody out but protect nothing (influxd's text).
    if (!admin && AdminsLocked() == 0) {
      return absl::FailedPreconditionError("create admin user first or disable authentication");
    }
  }
  // Hash outside mu_: it takes ~0.1 s.
  std::string hash;
  {
    std::lock_guard<std::mutex> h(hash_mu);
    ASSIGN_OR_RETURN(hash, HashPassword(password));
  }
  std::lock_guard<std::mutex> l(mu_);
  if (users_.count(name) > 0) return absl::AlreadyExistsError("user already exists");
  UserInfo u;
  u.name = std::string(name);
  u.hash = std::move(hash);
  u.admin = admin;
  RETURN_IF_ERROR(PutLocked(u));
  users_.emplace(u.name, std::move(u));
  return Status();
}

Status UserStore::Drop(std::string_view name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return UserNotFound();
  if (it->second.admin && AdminsLocked() == 1) {
    // influxd 1.6 lets this happen and the server silently falls open for
    // the remaining users' credentials; we refuse instead.
    return absl::FailedPreconditionError("cannot drop the last admin user");
  }
  RETURN_IF_ERROR(db_->DeleteAppMeta(absl::StrCat(ToAbsl(kUserKeyPrefix), it->second.name)));
  users_.erase(it);
  verified_.clear();
  return Status();
}

Status UserStore::SetPassword(std::string_view name, std::string_view password) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (users_.find(name) == users_.end()) return UserNotFound();
  }
  std::string hash;
  {
    std::lock_guard<std::mutex> h(hash_mu);
    ASSIGN_OR_RETURN(hash, HashPassword(password));
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return UserNotFound();
  UserInfo u = it->second;
  u.hash = std::move(hash);
  RETURN_IF_ERROR(PutLocked(u));
  it->second = std::move(u);
  verified_.clear();
  return Status();
}

Status UserStore::SetPrivilege(std::string_view name, std::string_view database, Privilege p) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return UserNotFound();
  bool exists = false;
  for (const auto& d : db_->ListDatabases()) exists |= d.name == database;
  if (!exists) return absl::NotFoundError(absl::StrCat("database not found: ", ToAbsl(database)));
  UserInfo u = it->second;
  u.grants[std::string(database)] = p;
  RETURN_IF_ERROR(PutLocked(u));
  it->second = std::move(u);
  return Status();
}

StatusOr<Privilege> UserStore::UserPrivilege(std::string_view name, std::string_view database) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return UserNotFound();
  return it->second.On(database);
}

Status UserStore::SetAdmin(std::string_view name, bool admin) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return UserNotFound();
  if (it->second.admin == admin) return Status();
  if (!admin && AdminsLocked() == 1)
    return absl::FailedPreconditionError("cannot demote the last admin user");
  UserInfo u = it->second;
  u.admin = admin;
  RETURN_IF_ERROR(PutLocked(u));
  it->second = std::move(u);
  return Status();
}

Status UserStore::DropDatabaseGrants(std::string_view database) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [name, info] : users_) {
    auto g = info.grants.find(std::string(database));
    if (g == info.grants.end()) continue;
    UserInfo u = info;
    u.grants.erase(std::string(database));
    RETURN_IF_ERROR(PutLocked(u));
    info = std::move(u);
  }
  return Status();
}

std::vector<UserInfo> UserStore::List() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<UserInfo> out;
  for (const auto& kv : users_) out.push_back(kv.second);
  return out;
}

StatusOr<UserInfo> UserStore::Get(std::string_view name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return UserNotFound();
  return it->second;
}

std::string UserStore::CacheKey(std::string_view name, std::string_view password) const {
  unsigned char out[32];
  crypto_generichash_state st;
  crypto_generichash_init(&st, key_, sizeof(key_), sizeof(out));
  uint64_t n = name.size();  // length prefix: ("ab","c") and ("a","bc") differ
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(&n), sizeof(n));
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(name.data()), name.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(password.data()), password.size());
  crypto_generichash_final(&st, out, sizeof(out));
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

UserStore::WriteCheck UserStore::CheckWrite(std::string_view name, std::string_view database) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return WriteCheck::kNoSuchUser;
  return it->second.MayWrite(database) ? WriteCheck::kAllowed : WriteCheck::kNotGranted;
}

std::optional<UserInfo> UserStore::Authenticate(std::string_view name, std::string_view password) {
  const auto now = std::chrono::steady_clock::now();
  std::string key = CacheKey(name, password);
  std::string hash;
  bool known = true;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = users_.find(name);
    if (it == users_.end()) {
      known = false;
    } else {
      // The map is keyed by a keyed digest: finding it reveals nothing about
      // how close a wrong password was.
      auto v = verified_.find(key);
      if (v != verified_.end()) {
        if (v->second > now) return it->second;
        verified_.erase(v);
      }
      hash = it->second.hash;
    }
  }
  if (!known) {
    // As slow as a wrong password, so that timing does not tell which user
    // names exist.
    static const std::string dummy = [] {
      auto h = HashPassword("m2mdb: no such user");
      return h.ok() ? *h : std::string();
    }();
    if (!dummy.empty()) (void)VerifyPassword(dummy, password);
    return std::nullopt;
  }
  if (!VerifyPassword(hash, password)) return std::nullopt;
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(name);
  // The hash may have changed (SET PASSWORD) while we verified the old one.
  if (it == users_.end() || it->second.hash != hash) return std::nullopt;
  if (verified_.size() > 10000) verified_.clear();  // bound memory under churn
  verified_[key] = now + std::chrono::seconds(kCacheSeconds);
  return it->second;
}

int64_t LoginLimiter::RetryAfter(const std::string& addr) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(addr);
  if (it == entries_.end()) return 0;
  if (now - it->second.start >= kWindow) {
    entries_.erase(it);
    return 0;
  }
  if (it->second.failures < kMaxFailures) return 0;
  auto left = std::chrono::duration_cast<std::chrono::seconds>(kWindow - (now - it->second.start)).count();
  return std::max<int64_t>(1, left);
}

void LoginLimiter::Failed(const std::string& addr) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> l(mu_);
  if (entries_.size() > 100000) entries_.clear();  // a flood of addresses cannot grow it without bound
  Entry& e = entries_[addr];
  if (e.failures == 0 || now - e.start >= kWindow) {
    e.start = now;
    e.failures = 0;
  }
  e.failures++;
}

}  // namespace m2mdb::server

// Users and grants, InfluxDB 1.x style (CREATE USER, GRANT, ...), changed at
// run time by admin statements and checked on every request.
//
// A user is stored in the engine's application metadata under
// "auth/user/<name>" (docs/security.md, "Users"): the password only as a
// libsodium crypto_pwhash_str string (Argon2id, salted, self-describing), the
// admin flag and one privilege per database. The clear password is never
// stored or logged.
//
// Password hashing is deliberately slow (~0.1 s, 64 MiB), so a verified
// (user, password) pair is remembered for kCacheSeconds as a BLAKE2b digest
// (never the password); SET PASSWORD, DROP USER and the admin flag changing
// forget every remembered pair. Hashes run one at a time (kHashMutex below)
// so that concurrent logins cannot take 64 MiB each.
//
// Thread-safety: every method is safe for concurrent use.
#ifndef M2MDB_SERVER_USERS_H_
#define M2MDB_SERVER_USERS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/status.h"

namespace m2mdb::server {

// influxql.Privilege: bits, so that REVOKE READ from ALL leaves WRITE.
enum class Privilege : uint8_t { kNone = 0, kRead = 1, kWrite = 2, kAll = 3 };

// "READ", "WRITE", "ALL PRIVILEGES", "NO PRIVILEGES" (SHOW GRANTS).
const char* PrivilegeName(Privilege p);

struct UserInfo {
  std::string name;
  std::string hash;  // crypto_pwhash_str output
  bool admin = false;
  std::map<std::string, Privilege> grants;  // database -> privilege

  Privilege On(std::string_view db) const;
  bool MayRead(std::string_view db) const {
    return admin || (static_cast<int>(On(db)) & static_cast<int>(Privilege::kRead)) != 0;
  }
  bool MayWrite(std::string_view db) const {
    return admin || (static_cast<int>(On(db)) & static_cast<int>(Privilege::kWrite)) != 0;
  }
  // DROP MEASUREMENT/SERIES, DELETE: admin or ALL, never plain WRITE.
  bool MayDelete(std::string_view db) const { return admin || On(db) == Privilege::kAll; }
};

inline constexpr std::string_view kUserKeyPrefix = "auth/user/";

std::string EncodeUser(const UserInfo& u);
StatusOr<UserInfo> DecodeUser(std::string_view name, std::string_view value);

class UserStore {
 public:
  static constexpr int kCacheSeconds = 60;

  // Reads every user of `db`; `db` must outlive the store.
  static StatusOr<std::unique_ptr<UserStore>> Load(DB* db);

  bool has_admin() const;
  size_t size() const;

  // The statements; errors carry influxd 1.6's messages.
  Status Create(std::string_view name, std::string_view password, bool admin);
  Status Drop(std::string_view name);
  Status SetPassword(std::string_view name, std::string_view password);
  Status SetPrivilege(std::string_view name, std::string_view database, Privilege p);
  StatusOr<Privilege> UserPrivilege(std::string_view name, std::string_view database) const;
  Status SetAdmin(std::string_view name, bool admin);
  // Every user's privilege on `database` goes (DROP DATABASE, as influxd):
  // a database created again under the name starts without grants.
  Status DropDatabaseGrants(std::string_view database);
  std::vector<UserInfo> List() const;  // by name
  StatusOr<UserInfo> Get(std::string_view name) const;

  // May user `name` write to `database` now (admin, or WRITE/ALL on it)?
  // Cheap (no copy of the user): the MQTT listener asks it per PUBLISH so
  // that DROP USER and REVOKE reach established connections.
  enum class WriteCheck { kAllowed, kNoSuchUser, kNotGranted };
  WriteCheck CheckWrite(std::string_view name, std::string_view database) const;

  // The user, if `password` is theirs (constant-time compare inside
  // libsodium, or of the cached digest).
  std::optional<UserInfo> Authenticate(std::string_view name, std::string_view password);

 private:
  explicit UserStore(DB* db) : db_(db) {}
  Status PutLocked(const UserInfo& u);
  size_t AdminsLocked() const;
  std::string CacheKey(std::string_view name, std::string_view password) const;

  DB* db_;
  mutable std::mutex mu_;
  std::map<std::string, UserInfo, std::less<>> users_;  // guarded by mu_
  // BLAKE2b(key_, name \0 password) -> expiry; guarded by mu_.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> verified_;
  unsigned char key_[32];  // random per process: digests are useless elsewhere
};

// Failed logins per client address: after kMaxFailures within kWindow, the
// address is refused (429) until the window has passed. Thread-safe.
class LoginLimiter {
 public:
  static constexpr int kMaxFailures = 5;
  static constexpr std::chrono::seconds kWindow{10};
  // Seconds to wait, or 0 when `addr` may try.
  int64_t RetryAfter(const std::string& addr);
  void Failed(const std::string& addr);

 private:
  struct Entry {
    std::chrono::steady_clock::time_point start;
    int failures = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_USERS_H_

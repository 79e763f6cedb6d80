// API tokens: created and revoked with `m2mdb token`, checked by the server.
//
// A token is "m2m_" + base64url(32 random bytes). Only its SHA-256 is stored,
// in the engine's application metadata under "auth/token/<id>", so a copy of
// the data directory does not leak usable credentials. The id is a short
// random hex string that names the token in `token list`/`token revoke` and in
// error messages; it is not secret.
//
// Thread-safety: TokenStore is immutable after Load and safe for concurrent
// Authenticate calls; Create/Revoke are for the CLI (one thread).
#ifndef M2MDB_SERVER_TOKENS_H_
#define M2MDB_SERVER_TOKENS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/status.h"

namespace m2mdb::server {

// Permissions (docs/http-api.md, "Tokens"), each on the token's databases:
//   read    SELECT and SHOW
//   write   /write, /api/v2/write and SELECT ... INTO
//   del     DELETE, DROP SERIES and DROP MEASUREMENT (destroys data)
//   admin   everything above, plus CREATE/DROP DATABASE and retention
//           policies (influxd asks for an admin user for these)
// Records written before del/admin existed have neither: such a token keeps
// exactly its read/write rights and can no longer drop or delete anything
// (older servers let any write token do that).
struct TokenInfo {
  std::string id;
  std::string hash;              // hex SHA-256 of the token
  std::vector<std::string> dbs;  // empty = every database
  bool read = false;
  bool write = false;
  bool del = false;
  bool admin = false;
  std::string description;
  int64_t created = 0;  // unix seconds

  // True if the token may act on `db` (any database when dbs is empty).
  bool CoversDatabase(std::string_view db) const;
  bool may_read() const { return read || admin; }
  bool may_write() const { return write || admin; }
  bool may_delete() const { return del || admin; }
  // "read+write", "admin", ... as `token list` shows it.
  std::string ScopeString() const;
};

// What a token may do; at least one must be set.
struct TokenScope {
  bool read = false;
  bool write = false;
  bool del = false;
  bool admin = false;
};

inline constexpr std::string_view kTokenKeyPrefix = "auth/token/";

// Hex SHA-256 of `data` (OpenSSL EVP).
std::string Sha256Hex(std::string_view data);

// Serialization of a TokenInfo as stored in app metadata (versioned text).
std::string EncodeToken(const TokenInfo& t);
StatusOr<TokenInfo> DecodeToken(std::string_view id, std::string_view value);

class TokenStore {
 public:
  // Reads every token of `db`.
  static StatusOr<TokenStore> Load(DB* db);

  // Creates a token; returns the secret (shown once) and fills *info.
  static StatusOr<std::string> Create(DB* db, std::vector<std::string> dbs, TokenScope scope,
                                      std::string description, TokenInfo* info);
  // Deletes token `id`; kNotFound if there is none.
  static Status Revoke(DB* db, std::string_view id);

  bool empty() const { return by_hash_.empty(); }
  size_t size() const { return by_hash_.size(); }
  // The token matching `secret`, or nullptr.
  const TokenInfo* Authenticate(std::string_view secret) const;
  // The token whose hex SHA-256 is `hash` (TokenInfo::hash), or nullptr: a
  // connection that authenticated earlier finds its token again this way
  // without keeping the secret (the MQTT listener, per PUBLISH).
  const TokenInfo* FindByHash(const std::string& hash) const;

 private:
  std::unordered_map<std::string, TokenInfo> by_hash_;
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_TOKENS_H_

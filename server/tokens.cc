#include "server/tokens.h"

#include <ctime>
#include <utility>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace m2mdb::server {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string Hex(const unsigned char* p, size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; i++) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

std::string Base64Url(const unsigned char* p, size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

// The description is free text; newlines would break the line format.
std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out.push_back(s[i + 1] == 'n' ? '\n' : s[i + 1]);
      i++;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

bool TokenInfo::CoversDatabase(std::string_view db) const {
  if (dbs.empty()) return true;
  for (const auto& d : dbs) {
    if (d == db) return true;
  }
  return false;
}

std::string TokenInfo::ScopeString() const {
  if (admin) return "admin";
  std::string out;
  for (auto [on, name] : {std::pair{read, "read"}, std::pair{write, "write"}, std::pair{del, "delete"}}) {
    if (!on) continue;
    if (!out.empty()) out.push_back('+');
    out += name;
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return std::string();
  return Hex(md, len);
}

// Format (one key=value per line, so later versions can add keys):
//   v=1 / hash=<hex> / dbs=<a,b or *> / read=0|1 / write=0|1 / delete=0|1 / admin=0|1 /
//   created=<unix s> / description=<escaped>
// delete and admin came later; a record without them has neither. Older
// servers ignore them (unknown keys), so a downgrade only takes rights away.
std::string EncodeToken(const TokenInfo& t) {
  return absl::StrCat("v=1\nhash=", t.hash, "\ndbs=", t.dbs.empty() ? "*" : absl::StrJoin(t.dbs, ","),
                      "\nread=", t.read ? 1 : 0, "\nwrite=", t.write ? 1 : 0, "\ndelete=", t.del ? 1 : 0,
                      "\nadmin=", t.admin ? 1 : 0, "\ncreated=", t.created,
                      "\ndescription=", Escape(t.description), "\n");
}

StatusOr<TokenInfo> DecodeToken(std::string_view id, std::string_view value) {
  TokenInfo t;
  t.id = std::string(id);
  for (absl::string_view line : absl::StrSplit(ToAbsl(value), '\n', absl::SkipEmpty())) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    absl::string_view k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "hash") {
      t.hash = std::string(v);
    } else if (k == "dbs") {
      if (v != "*") {
        for (absl::string_view d : absl::StrSplit(v, ',', absl::SkipEmpty())) t.dbs.emplace_back(d);
      }
    } else if (k == "read") {
      t.read = v == "1";
    } else if (k == "write") {
      t.write = v == "1";
    } else if (k == "delete") {
      t.del = v == "1";
    } else if (k == "admin") {
      t.admin = v == "1";
    } else if (k == "created") {
      if (!absl::SimpleAtoi(v, &t.created)) t.created = 0;
    } else if (k == "description") {
      t.description = Unescape(ToStd(v));
    }
  }
  if (t.hash.size() != 64) return absl::DataLossError(absl::StrCat("token ", ToAbsl(id), ": bad record"));
  return t;
}

StatusOr<TokenStore> TokenStore::Load(DB* db) {
  ASSIGN_OR_RETURN(auto kvs, db->ListAppMeta(kTokenKeyPrefix));
  TokenStore store;
  for (const auto& [key, value] : kvs) {
    std::string_view id = std::string_view(key).substr(kTokenKeyPrefix.size());
    ASSIGN_OR_RETURN(TokenInfo t, DecodeToken(id, value));
    store.by_hash_.emplace(t.hash, std::move(t));
  }
  return store;
}

StatusOr<std::string> TokenStore::Create(DB* db, std::vector<std::string> dbs, TokenScope scope,
                                         std::string description, TokenInfo* info) {
  if (!scope.read && !scope.write && !scope.del && !scope.admin) {
    return absl::InvalidArgumentError("a token needs at least one of --read, --write, --delete, --admin");
  }
  unsigned char secret[32], id[6];
  if (RAND_bytes(secret, sizeof(secret)) != 1 || RAND_bytes(id, sizeof(id)) != 1) {
    return absl::InternalError("no random bytes from OpenSSL");
  }
  std::string token = "m2m_" + Base64Url(secret, sizeof(secret));
  TokenInfo t;
  t.id = Hex(id, sizeof(id));
  t.hash = Sha256Hex(token);
  t.dbs = std::move(dbs);
  t.read = scope.read;
  t.write = scope.write;
  t.del = scope.del;
  t.admin = scope.admin;
  t.description = std::move(description);
  t.created = static_cast<int64_t>(std::time(nullptr));
  RETURN_IF_ERROR(db->PutAppMeta(absl::StrCat(ToAbsl(kTokenKeyPrefix), t.id), EncodeToken(t)));
  *info = std::move(t);
  return token;
}

Status TokenStore::Revoke(DB* db, std::string_view id) {
  std::string key = absl::StrCat(ToAbsl(kTokenKeyPrefix), ToAbsl(id));
  ASSIGN_OR_RETURN(auto kvs, db->ListAppMeta(key));
  bool found = false;
  for (const auto& kv : kvs) found |= kv.first == key;
  if (!found) return absl::NotFoundError(absl::StrCat("no token with id \"", ToAbsl(id), "\""));
  return db->DeleteAppMeta(key);
}

const TokenInfo* TokenStore::Authenticate(std::string_view secret) const {
  if (secret.empty()) return nullptr;
  // Looking up by hash compares hashes, not secrets, so timing reveals nothing
  // useful about a token.
  auto it = by_hash_.find(Sha256Hex(secret));
  return it == by_hash_.end() ? nullptr : &it->second;
}

const TokenInfo* TokenStore::FindByHash(const std::string& hash) const {
  auto it = by_hash_.find(hash);
  return it == by_hash_.end() ? nullptr : &it->second;
}

}  // namespace m2mdb::server

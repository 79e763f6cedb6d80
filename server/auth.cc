// Authentication and token scopes (auth.h): the credential of a request,
// Classify, the SHOW DATABASES filter, the refusal log, and the Impl's
// Authenticate (401) and AuthorizeStatements (403).
#include "server/auth.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "m2mdb/log.h"
#include "server/api_response.h"
#include "server/http_server_impl.h"

namespace m2mdb::server {
namespace {

void CollectSources(const std::vector<query::Source>& sources, StatementNeeds* needs);

void CollectSelect(const query::SelectStatement& s, StatementNeeds* needs) {
  if (s.into) {
    needs->need = std::max(needs->need, Need::kWrite);
    if (!s.into->database.empty()) needs->dbs.push_back(s.into->database);
  }
  CollectSources(s.sources, needs);
}

void CollectSources(const std::vector<query::Source>& sources, StatementNeeds* needs) {
  for (const auto& src : sources) {
    if (const auto* m = std::get_if<query::Measurement>(&src.node)) {
      if (!m->database.empty()) needs->dbs.push_back(m->database);
    } else if (const auto* sq = std::get_if<query::SubQuery>(&src.node)) {
      if (sq->statement) CollectSelect(*sq->statement, needs);
    }
  }
}

}  // namespace

const char* NeedText(Need n) {
  switch (n) {
    case Need::kRead:
      return "read from";
    case Need::kWrite:
      return "write to";
    case Need::kDelete:
      return "delete data in";
    case Need::kAdmin:
      return "administer";
  }
  return "use";
}

bool TokenMay(const TokenInfo& t, Need n) {
  switch (n) {
    case Need::kRead:
      return t.may_read();
    case Need::kWrite:
      return t.may_write();
    case Need::kDelete:
      return t.may_delete();
    case Need::kAdmin:
      return t.admin;
  }
  return false;
}

StatementNeeds Classify(const query::Statement& st) {
  StatementNeeds n;
  std::visit(
      [&](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, query::SelectStatement>) {
          CollectSelect(s, &n);
          // SELECT INTO reads and writes: an admin token's (one need per
          // statement; read and write are separate rights).
          if (s.into.has_value()) {
            n.need = Need::kAdmin;
            if (!s.into->database.empty()) n.dbs.push_back(s.into->database);
          }
        } else if constexpr (std::is_same_v<T, query::CreateContinuousQueryStatement> ||
                             std::is_same_v<T, query::DropContinuousQueryStatement>) {
          n.need = Need::kAdmin;
          n.dbs.push_back(s.database);
        } else if constexpr (std::is_same_v<T, query::ShowContinuousQueriesStatement>) {
          n.need = Need::kAdmin;  // lists every database's queries
        } else if constexpr (std::is_same_v<T, query::ExplainStatement>) {
          CollectSelect(s.select, &n);  // planning reads the schema (and runs subqueries)
        } else if constexpr (std::is_same_v<T, query::ShowDatabasesStatement>) {
          // Answered for every token that may read; the list is filtered.
        } else if constexpr (std::is_same_v<T, query::CreateDatabaseStatement> ||
                             std::is_same_v<T, query::DropDatabaseStatement>) {
          n.need = Need::kAdmin;
          n.dbs.push_back(s.name);
        } else if constexpr (std::is_same_v<T, query::DropSeriesStatement> ||
                             std::is_same_v<T, query::DeleteStatement>) {
          n.need = Need::kDelete;
          CollectSources(s.sources, &n);
        } else if constexpr (std::is_same_v<T, query::DropMeasurementStatement>) {
          n.need = Need::kDelete;
        } else if constexpr (std::is_same_v<T, query::CreateRetentionPolicyStatement> ||
                             std::is_same_v<T, query::AlterRetentionPolicyStatement> ||
                             std::is_same_v<T, query::DropRetentionPolicyStatement>) {
          n.need = Need::kAdmin;
          if (!s.database.empty()) n.dbs.push_back(s.database);
        } else {
          // SHOW ... [ON db] [FROM db.rp.m]: a database named in FROM is
          // the one answered for, so it must be covered too.
          if (!s.database.empty()) n.dbs.push_back(s.database);
          if constexpr (requires { s.sources; }) CollectSources(s.sources, &n);
        }
      },
      st.node);
  return n;
}

void FilterShowDatabases(const std::vector<query::Statement>& statements, const TokenInfo& token,
                         std::vector<query::StatementResult>* results) {
  FilterShowDatabases(
      statements, [&token](const std::string& db) { return token.CoversDatabase(db); }, results);
}

void FilterShowDatabases(const std::vector<query::Statement>& statements,
                         const std::function<bool(const std::string&)>& shown,
                         std::vector<query::StatementResult>* results) {
  for (auto& r : *results) {
    if (r.statement_id < 0 || static_cast<size_t>(r.statement_id) >= statements.size()) continue;
    if (!std::holds_alternative<query::ShowDatabasesStatement>(statements[r.statement_id].node)) continue;
    for (auto& series : r.series) {
      auto& v = series.values;
      v.erase(std::remove_if(v.begin(), v.end(),
                             [&](const std::vector<query::Value>& row) {
                               const auto* name = row.empty() ? nullptr : std::get_if<std::string>(&row[0]);
                               return name == nullptr || !shown(*name);
                             }),
              v.end());
    }
  }
}

Credentials CredentialsOf(const Request& req, const Params& params) {
  Credentials c;
  std::string auth = req.Header("Authorization");
  std::string_view a = auth;
  auto strip = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  auto split = [&c](std::string_view s) {
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) {
      c.password = std::string(s);
    } else {
      c.user = std::string(s.substr(0, colon));
      c.password = std::string(s.substr(colon + 1));
    }
  };
  if (absl::StartsWithIgnoreCase(ToAbsl(a), "Token ")) {
    split(strip(a.substr(6)));
  } else if (absl::StartsWithIgnoreCase(ToAbsl(a), "Bearer ")) {
    c.password = std::string(strip(a.substr(7)));
  } else if (absl::StartsWithIgnoreCase(ToAbsl(a), "Basic ")) {
    std::string decoded;
    if (absl::Base64Unescape(ToAbsl(strip(a.substr(6))), &decoded) &&
        decoded.find(':') != std::string::npos) {
      split(decoded);
    }
  } else {
    c.user = params.Get("u");
    c.password = params.Get("p");
  }
  return c;
}

void AuthLog::Refused(std::string_view reason, const Request& req, std::string_view token_id,
                      std::string_view detail) {
  const auto now = std::chrono::steady_clock::now();
  uint64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    Entry& e = entries_[std::string(reason)];
    if (e.last != std::chrono::steady_clock::time_point() && now - e.last < std::chrono::seconds(1)) {
      e.suppressed++;
      return;
    }
    e.last = now;
    suppressed = std::exchange(e.suppressed, 0);
  }
  LogWarning("auth: ", std::string(reason), " from ", req.remote_addr, token_id.empty() ? "" : " token \"",
             std::string(token_id), token_id.empty() ? "" : "\"", ": ", req.method, " ", req.path, ": ",
             std::string(detail),
             suppressed > 0 ? absl::StrCat(" (", suppressed, " more like it suppressed)") : std::string());
}

HttpServer::Impl::AuthResult HttpServer::Impl::Authenticate(const Request& req, const Params& params,
                                                            Response& res) {
  AuthResult r;
  if (!AuthActive()) return r;
  Credentials cred = CredentialsOf(req, params);
  if (cred.password.empty() && cred.user.empty()) {
    r.ok = false;
    auth_log_.Refused("401 no credentials", req, "", "no token given");
    SetError(res, 401, "unable to parse authentication credentials");
    res.SetHeader("WWW-Authenticate", "Basic realm=\"m2mdb\"");
    return r;
  }
  // A token first: one SHA-256, where a user's password costs a slow hash;
  // v1 clients send a token as the password with any user name.
  r.tokens = Tokens();
  r.token = r.tokens->Authenticate(cred.password);
  if (r.token == nullptr && !cred.user.empty()) {
    // Password guessing is refused per address before any hashing: a hash
    // costs ~0.1 s and 64 MiB, so unlimited guesses would also be a DoS.
    // Tokens (256 random bits, one SHA-256 to check) are not guessable and
    // not limited: a device retrying a revoked token must not lock out its
    // neighbours behind the same address.
    if (int64_t wait = login_limiter_.RetryAfter(req.remote_addr); wait > 0) {
      r.ok = false;
      auth_log_.Refused("429 too many failed logins", req, "", "refused before checking the credentials");
      res.SetHeader("Retry-After", absl::StrCat(wait));
      SetError(
          res, 429,
          absl::StrCat("too many failed authentication attempts from this address; retry in ", wait, " s"));
      return r;
    }
    r.user = users_->Authenticate(cred.user, cred.password);
  }
  if (r.token == nullptr && !r.user) {
    r.ok = false;
    if (!cred.user.empty()) {
      login_limiter_.Failed(req.remote_addr);
      auth_log_.Refused("401 unknown user or password", req, "",
                        "wrong user name or password, or unknown token (user name not logged)");
    } else {
      auth_log_.Refused("401 unknown token", req, "", "the token matches none (revoked, mistyped?)");
    }
    SetError(res, 401, "authorization failed");
    res.SetHeader("WWW-Authenticate", "Basic realm=\"m2mdb\"");
  }
  return r;
}

bool HttpServer::Impl::AuthorizeStatements(const Request& req, Response& res, const TokenInfo& token,
                                           const std::vector<query::Statement>& statements,
                                           const std::string& database) {
  for (const auto& st : statements) {
    StatementNeeds needs = Classify(st);
    if (needs.dbs.empty() && !database.empty()) needs.dbs.push_back(database);
    const char* what = NeedText(needs.need);
    if (!TokenMay(token, needs.need)) {
      Forbidden(req, res, token,
                absl::StrCat("token \"", token.id, "\" is not authorized to ", what,
                             " a database: statement '", query::String(st), "'"));
      return false;
    }
    for (const auto& d : needs.dbs) {
      if (!token.CoversDatabase(d)) {
        Forbidden(
            req, res, token,
            absl::StrCat("token \"", token.id, "\" is not authorized to ", what, " database \"", d, "\""));
        return false;
      }
    }
    if (needs.dbs.empty() && !token.dbs.empty() &&
        !std::holds_alternative<query::ShowDatabasesStatement>(st.node)) {
      Forbidden(req, res, token,
                absl::StrCat("token \"", token.id,
                             "\" is limited to some databases: name one with db= or in the statement"));
      return false;
    }
  }
  return true;
}

bool HttpServer::Impl::AuthorizeUserStatements(const Request& req, Response& res, const UserInfo& user,
                                               const std::vector<query::Statement>& statements,
                                               const std::string& database) {
  if (user.admin) return true;
  auto refuse = [&](const query::Statement& st, std::string_view requires_what) {
    std::string msg =
        absl::StrCat("error authorizing query: ", user.name, " not authorized to execute statement '",
                     query::String(st), "', requires ", ToAbsl(requires_what));
    auth_log_.Refused("403 forbidden", req, "", absl::StrCat("user not authorized: ", query::String(st)));
    SetError(res, 403, msg);
    return false;
  };
  for (const auto& st : statements) {
    StatementNeeds needs = Classify(st);
    if (needs.dbs.empty() && !database.empty()) needs.dbs.push_back(database);
    if (needs.need == Need::kAdmin) return refuse(st, "admin privilege");
    if (needs.dbs.empty()) {
      // SHOW DATABASES is filtered; anything else must name a database.
      if (std::holds_alternative<query::ShowDatabasesStatement>(st.node)) continue;
      return refuse(st, "a database (db= or in the statement)");
    }
    for (const auto& d : needs.dbs) {
      switch (needs.need) {
        case Need::kRead:
          if (!user.MayRead(d)) return refuse(st, absl::StrCat("READ on ", d));
          break;
        case Need::kWrite:
          if (!user.MayWrite(d)) return refuse(st, absl::StrCat("WRITE on ", d));
          break;
        case Need::kDelete:
          // Destroying data needs ALL, never plain WRITE.
          if (!user.MayDelete(d)) return refuse(st, absl::StrCat("ALL PRIVILEGES on ", d));
          break;
        case Need::kAdmin:
          break;
      }
    }
  }
  return true;
}

void HttpServer::Impl::Forbidden(const Request& req, Response& res, const TokenInfo& token,
                                 const std::string& message) {
  auth_log_.Refused("403 forbidden", req, token.id, message);
  SetError(res, 403, message);
}

}  // namespace m2mdb::server

// The user statements (user_statements.h): a small tokenizer and parser for
// their grammar alone, and their answers in influxd 1.6's shapes.
#include "server/user_statements.h"

#include <cctype>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "server/statement_parser.h"

namespace m2mdb::server {
namespace {

using Tok = StatementToken;

class Lexer {
 public:
  explicit Lexer(std::string_view q) : q_(q) {}

  // Every token of q, or an error for an unterminated quote.
  StatusOr<std::vector<Tok>> All() {
    std::vector<Tok> out;
    for (;;) {
      while (i_ < q_.size() && std::isspace(static_cast<unsigned char>(q_[i_]))) Advance();
      Tok t;
      t.line = line_;
      t.col = col_;
      if (i_ >= q_.size()) {
        out.push_back(t);
        return out;
      }
      char c = q_[i_];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        t.kind = Tok::kIdent;
        while (i_ < q_.size() && (std::isalnum(static_cast<unsigned char>(q_[i_])) || q_[i_] == '_')) {
          t.text.push_back(q_[i_]);
          Advance();
        }
      } else if (c == '"' || c == '\'') {
        t.kind = c == '"' ? Tok::kQuotedIdent : Tok::kString;
        Advance();
        bool closed = false;
        while (i_ < q_.size()) {
          char d = q_[i_];
          if (d == '\n' || d == '\r') {
            // influxd's scanner ends a quoted token at a line break (its
            // BADSTRING, reported one character before the quote).
            return absl::InvalidArgumentError(absl::StrCat("error parsing query: found ", t.text,
                                                           ", expected ", c == '"' ? "identifier" : "string",
                                                           " at line ", t.line, ", char ", t.col - 1));
          }
          Advance();
          if (d == '\\' && i_ < q_.size()) {
            // influxd's escapes: \n is a line break, \\ \" \' themselves;
            // any other is an error (a password must mean what it does there).
            const char e = q_[i_];
            if (e != 'n' && e != '\\' && e != '"' && e != '\'') {
              return absl::InvalidArgumentError(
                  absl::StrCat("error parsing query: found \\", std::string(1, e), ", expected ",
                               c == '"' ? "identifier" : "string", " at line ", line_, ", char ", col_));
            }
            t.text.push_back(e == 'n' ? '\n' : e);
            Advance();
          } else if (d == c) {
            closed = true;
            break;
          } else {
            t.text.push_back(d);
          }
        }
        if (!closed) {
          return absl::InvalidArgumentError(absl::StrCat("error parsing query: found unterminated ",
                                                         c == '"' ? "identifier" : "string", " at line ",
                                                         t.line, ", char ", t.col));
        }
      } else {
        t.kind = Tok::kPunct;
        t.text = std::string(1, c);
        Advance();
      }
      out.push_back(std::move(t));
    }
  }

 private:
  void Advance() {
    if (q_[i_] == '\n') {
      line_++;
      col_ = 1;
    } else {
      col_++;
    }
    i_++;
  }
  std::string_view q_;
  size_t i_ = 0;
  int line_ = 1, col_ = 1;
};

class Parser : public StatementParser<Parser, UserStatement> {
 public:
  using StatementParser::StatementParser;

 private:
  friend class StatementParser<Parser, UserStatement>;
  // READ | WRITE | ALL [PRIVILEGES]
  StatusOr<Privilege> Priv() {
    if (IsKeyword("READ")) {
      pos_++;
      return Privilege::kRead;
    }
    if (IsKeyword("WRITE")) {
      pos_++;
      return Privilege::kWrite;
    }
    if (IsKeyword("ALL")) {
      pos_++;
      if (IsKeyword("PRIVILEGES")) pos_++;
      return Privilege::kAll;
    }
    return Expected("READ, WRITE, ALL [PRIVILEGES]");
  }

  StatusOr<UserStatement> One() {
    UserStatement st;
    using K = UserStatement::Kind;
    if (IsKeyword("CREATE")) {
      pos_++;
      RETURN_IF_ERROR(Keyword("USER"));
      st.kind = K::kCreateUser;
      ASSIGN_OR_RETURN(st.user, Ident());
      RETURN_IF_ERROR(Keyword("WITH"));
      RETURN_IF_ERROR(Keyword("PASSWORD"));
      ASSIGN_OR_RETURN(st.password, String());
      if (IsKeyword("WITH")) {
        pos_++;
        RETURN_IF_ERROR(Keyword("ALL"));
        RETURN_IF_ERROR(Keyword("PRIVILEGES"));
        st.admin = true;
      }
    } else if (IsKeyword("DROP")) {
      pos_++;
      RETURN_IF_ERROR(Keyword("USER"));
      st.kind = K::kDropUser;
      ASSIGN_OR_RETURN(st.user, Ident());
    } else if (IsKeyword("SET")) {
      pos_++;
      RETURN_IF_ERROR(Keyword("PASSWORD"));
      RETURN_IF_ERROR(Keyword("FOR"));
      st.kind = K::kSetPassword;
      ASSIGN_OR_RETURN(st.user, Ident());
      if (!IsPunct("=")) return Expected("=");
      pos_++;
      ASSIGN_OR_RETURN(st.password, String());
    } else if (IsKeyword("GRANT") || IsKeyword("REVOKE")) {
      const bool grant = IsKeyword("GRANT");
      pos_++;
      ASSIGN_OR_RETURN(st.privilege, Priv());
      if (IsKeyword("ON")) {
        pos_++;
        st.kind = grant ? K::kGrant : K::kRevoke;
        ASSIGN_OR_RETURN(st.database, Ident());
      } else if (st.privilege == Privilege::kAll) {
        st.kind = grant ? K::kGrantAdmin : K::kRevokeAdmin;
      } else {
        return Expected("ON");
      }
      RETURN_IF_ERROR(Keyword(grant ? "TO" : "FROM"));
      ASSIGN_OR_RETURN(st.user, Ident());
    } else if (IsKeyword("SHOW")) {
      pos_++;
      if (IsKeyword("USERS")) {
        pos_++;
        st.kind = K::kShowUsers;
      } else if (IsKeyword("GRANTS")) {
        pos_++;
        RETURN_IF_ERROR(Keyword("FOR"));
        st.kind = K::kShowGrants;
        ASSIGN_OR_RETURN(st.user, Ident());
      } else {
        return Expected("USERS, GRANTS");
      }
    } else {
      return Expected("CREATE USER, DROP USER, SET PASSWORD, GRANT, REVOKE, SHOW USERS, SHOW GRANTS");
    }
    return st;
  }
};

}  // namespace

bool IsUserQuery(std::string_view q) {
  // The first two words decide; an unterminated quote after them is still
  // ours, and the parser reports it.
  std::vector<std::string> words;
  size_t i = 0;
  while (words.size() < 2) {
    while (i < q.size() && std::isspace(static_cast<unsigned char>(q[i]))) i++;
    size_t start = i;
    while (i < q.size() && (std::isalpha(static_cast<unsigned char>(q[i])) || q[i] == '_')) i++;
    if (start == i) break;
    words.push_back(absl::AsciiStrToUpper(ToAbsl(q.substr(start, i - start))));
  }
  if (words.empty()) return false;
  const std::string& w0 = words[0];
  const std::string w1 = words.size() > 1 ? words[1] : "";
  if (w0 == "GRANT" || w0 == "REVOKE") return true;
  if (w0 == "CREATE" || w0 == "DROP") return w1 == "USER";
  if (w0 == "SET") return w1 == "PASSWORD";
  if (w0 == "SHOW") return w1 == "USERS" || w1 == "GRANTS";
  return false;
}

StatusOr<std::vector<UserStatement>> ParseUserStatements(std::string_view q) {
  Lexer lex(q);
  ASSIGN_OR_RETURN(auto toks, lex.All());
  Parser p(std::move(toks));
  return p.All();
}

query::StatementResult RunUserStatement(const UserStatement& st, int statement_id, UserStore* users) {
  query::StatementResult r;
  r.statement_id = statement_id;
  Status s;
  using K = UserStatement::Kind;
  switch (st.kind) {
    case K::kCreateUser:
      s = users->Create(st.user, st.password, st.admin);
      break;
    case K::kDropUser:
      s = users->Drop(st.user);
      break;
    case K::kSetPassword:
      s = users->SetPassword(st.user, st.password);
      break;
    case K::kGrant: {
      // influxd: GRANT replaces the privilege on the database (no OR).
      s = users->SetPrivilege(st.user, st.database, st.privilege);
      break;
    }
    case K::kRevoke: {
      // influxd: the revoked bits are cleared (REVOKE READ from ALL leaves
      // WRITE); revoking ALL needs no lookup.
      Privilege p = Privilege::kNone;
      if (st.privilege != Privilege::kAll) {
        auto cur = users->UserPrivilege(st.user, st.database);
        if (!cur.ok()) {
          s = cur.status();
          break;
        }
        p = static_cast<Privilege>(static_cast<int>(*cur) & ~static_cast<int>(st.privilege));
      }
      s = users->SetPrivilege(st.user, st.database, p);
      break;
    }
    case K::kGrantAdmin:
      s = users->SetAdmin(st.user, true);
      break;
    case K::kRevokeAdmin:
      s = users->SetAdmin(st.user, false);
      break;
    case K::kShowUsers: {
      query::ResultSeries series;
      series.columns = {"user", "admin"};
      for (const auto& u : users->List())
        series.values.push_back({query::Value(u.name), query::Value(u.admin)});
      r.series.push_back(std::move(series));
      break;
    }
    case K::kShowGrants: {
      auto u = users->Get(st.user);
      if (!u.ok()) {
        s = u.status();
        break;
      }
      query::ResultSeries series;
      series.columns = {"database", "privilege"};
      for (const auto& [db, p] : u->grants) {
        series.values.push_back({query::Value(db), query::Value(std::string(PrivilegeName(p)))});
      }
      r.series.push_back(std::move(series));
      break;
    }
  }
  if (!s.ok()) r.error = std::string(ToStd(s.message()));
  return r;
}

}  // namespace m2mdb::server

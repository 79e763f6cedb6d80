// What the parsers of the server's own statements share (the user
// statements, server/user_statements.cc; the subscription statements,
// server/subscriptions/statements.cc): their token, and the parser's
// cursor with influxd 1.6's error wording ("error parsing query: found X,
// expected Y at line L, char C"). Each keeps its own tokenizer: their
// grammars differ in what a token may be (sizes and ages with units in
// subscription statements).
#ifndef M2MDB_SERVER_STATEMENT_PARSER_H_
#define M2MDB_SERVER_STATEMENT_PARSER_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "m2mdb/status.h"

namespace m2mdb::server {

struct StatementToken {
  enum Kind { kIdent, kQuotedIdent, kString, kNumber, kPunct, kEof } kind = kEof;
  std::string text;
  int line = 1, col = 1;
};

// `Derived` has `StatusOr<Statement> One()` (befriending this class), which
// parses one statement at the cursor; All() parses statements separated by
// ';' up to the end.
template <typename Derived, typename Statement>
class StatementParser {
 public:
  explicit StatementParser(std::vector<StatementToken> toks) : toks_(std::move(toks)) {}

  StatusOr<std::vector<Statement>> All() {
    std::vector<Statement> out;
    for (;;) {
      while (IsPunct(";")) pos_++;
      if (Peek().kind == Tok::kEof) break;
      ASSIGN_OR_RETURN(Statement st, static_cast<Derived*>(this)->One());
      out.push_back(std::move(st));
      if (Peek().kind != Tok::kEof && !IsPunct(";")) return Expected(";");
    }
    if (out.empty()) return absl::InvalidArgumentError("error parsing query: found EOF, expected statement");
    return out;
  }

 protected:
  using Tok = StatementToken;

  const Tok& Peek() const { return toks_[pos_]; }
  bool IsKeyword(std::string_view kw) const {
    return Peek().kind == Tok::kIdent && absl::EqualsIgnoreCase(Peek().text, ToAbsl(kw));
  }
  bool IsPunct(std::string_view p) const { return Peek().kind == Tok::kPunct && Peek().text == p; }
  Status Expected(std::string_view what) const {
    const Tok& t = Peek();
    std::string found = t.kind == Tok::kEof ? "EOF" : t.text;
    return absl::InvalidArgumentError(absl::StrCat("error parsing query: found ", found, ", expected ",
                                                   ToAbsl(what), " at line ", t.line, ", char ", t.col));
  }
  Status Keyword(std::string_view kw) {
    if (!IsKeyword(kw)) return Expected(kw);
    pos_++;
    return absl::OkStatus();
  }
  StatusOr<std::string> Ident() {
    if (Peek().kind != Tok::kIdent && Peek().kind != Tok::kQuotedIdent) return Expected("identifier");
    return toks_[pos_++].text;
  }
  StatusOr<std::string> String() {
    if (Peek().kind != Tok::kString) return Expected("string");
    return toks_[pos_++].text;
  }

  std::vector<Tok> toks_;
  size_t pos_ = 0;
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_STATEMENT_PARSER_H_

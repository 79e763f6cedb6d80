// The subscription statements (statements.h): a tokenizer and parser for
// their grammar alone, with influxd 1.6's error wording (checked against
// influxd 1.6.7, see statements_test.cc).
#include "server/subscriptions/statements.h"

#include <cctype>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

#include "server/statement_parser.h"

namespace m2mdb::server {
namespace {

using Tok = StatementToken;

StatusOr<std::vector<Tok>> Tokenize(std::string_view q) {
  std::vector<Tok> out;
  size_t i = 0;
  int line = 1, col = 1;
  auto advance = [&] {
    if (q[i] == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
    i++;
  };
  for (;;) {
    while (i < q.size() && std::isspace(static_cast<unsigned char>(q[i]))) advance();
    Tok t;
    t.line = line;
    t.col = col;
    if (i >= q.size()) {
      t.col++;  // influxd places EOF one past the end
      out.push_back(t);
      return out;
    }
    const char c = q[i];
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      // Identifiers, and numbers with a unit (10GiB, 7d) in one token.
      t.kind = std::isdigit(static_cast<unsigned char>(c)) ? Tok::kNumber : Tok::kIdent;
      while (i < q.size() && (std::isalnum(static_cast<unsigned char>(q[i])) || q[i] == '_')) {
        t.text.push_back(q[i]);
        advance();
      }
    } else if (c == '"' || c == '\'') {
      t.kind = c == '"' ? Tok::kQuotedIdent : Tok::kString;
      advance();
      bool closed = false;
      while (i < q.size()) {
        const char d = q[i];
        advance();
        if (d == '\\' && i < q.size()) {
          t.text.push_back(q[i]);
          advance();
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
      advance();
    }
    out.push_back(std::move(t));
  }
}

// "1073741824", "512MiB", "2GiB", "10G" (binary units; K M G T = KiB ...).
bool ParseSize(std::string_view s, uint64_t* out) {
  size_t digits = 0;
  while (digits < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[digits]))) digits++;
  uint64_t n;
  if (digits == 0 || !absl::SimpleAtoi(ToAbsl(s.substr(0, digits)), &n)) return false;
  std::string unit = absl::AsciiStrToLower(ToAbsl(s.substr(digits)));
  int shift = 0;
  if (unit.empty() || unit == "b") {
    shift = 0;
  } else if (unit == "k" || unit == "kib") {
    shift = 10;
  } else if (unit == "m" || unit == "mib") {
    shift = 20;
  } else if (unit == "g" || unit == "gib") {
    shift = 30;
  } else if (unit == "t" || unit == "tib") {
    shift = 40;
  } else {
    return false;
  }
  if (shift > 0 && n > (UINT64_MAX >> shift)) return false;
  *out = n << shift;
  return true;
}

// "90s", "30m", "12h", "7d", "2w" -> seconds.
bool ParseAge(std::string_view s, int64_t* out) {
  if (s.size() < 2) return false;
  int64_t n;
  if (!absl::SimpleAtoi(ToAbsl(s.substr(0, s.size() - 1)), &n) || n < 0) return false;
  int64_t mul;
  switch (s.back()) {
    case 's':
      mul = 1;
      break;
    case 'm':
      mul = 60;
      break;
    case 'h':
      mul = 3600;
      break;
    case 'd':
      mul = 86400;
      break;
    case 'w':
      mul = 7 * 86400;
      break;
    default:
      return false;
  }
  if (n > INT64_MAX / mul) return false;
  *out = n * mul;
  return true;
}

class Parser : public StatementParser<Parser, SubscriptionStatement> {
 public:
  using StatementParser::StatementParser;

 private:
  friend class StatementParser<Parser, SubscriptionStatement>;
  // ON db[.rp]
  Status Target(SubscriptionStatement* st) {
    RETURN_IF_ERROR(Keyword("ON"));
    ASSIGN_OR_RETURN(st->database, Ident());
    if (IsPunct(".")) {
      pos_++;
      ASSIGN_OR_RETURN(st->retention_policy, Ident());
    }
    return absl::OkStatus();
  }

  StatusOr<SubscriptionStatement> One() {
    SubscriptionStatement st;
    if (IsKeyword("SHOW")) {
      pos_++;
      RETURN_IF_ERROR(Keyword("SUBSCRIPTIONS"));
      st.kind = SubscriptionStatement::Kind::kShow;
      return st;
    }
    if (IsKeyword("DROP")) {
      pos_++;
      RETURN_IF_ERROR(Keyword("SUBSCRIPTION"));
      st.kind = SubscriptionStatement::Kind::kDrop;
      ASSIGN_OR_RETURN(st.name, Ident());
      RETURN_IF_ERROR(Target(&st));
      return st;
    }
    if (IsKeyword("VERIFY")) {
      pos_++;
      RETURN_IF_ERROR(Keyword("SUBSCRIPTION"));
      st.kind = SubscriptionStatement::Kind::kVerify;
      ASSIGN_OR_RETURN(st.name, Ident());
      RETURN_IF_ERROR(Target(&st));
      return VerifyClauses(std::move(st));
    }
    if (!IsKeyword("CREATE")) return Expected("CREATE, SHOW, DROP, VERIFY");
    pos_++;
    RETURN_IF_ERROR(Keyword("SUBSCRIPTION"));
    st.kind = SubscriptionStatement::Kind::kCreate;
    ASSIGN_OR_RETURN(st.name, Ident());
    RETURN_IF_ERROR(Target(&st));
    RETURN_IF_ERROR(Keyword("DESTINATIONS"));
    if (IsKeyword("ALL")) {
      st.any = false;
    } else if (IsKeyword("ANY")) {
      st.any = true;
    } else {
      return Expected("ALL, ANY");
    }
    pos_++;
    for (;;) {
      if (st.destinations.size() == kMaxDestinations) {
        return absl::InvalidArgumentError(absl::StrCat("error parsing query: a subscription has at most ",
                                                       kMaxDestinations, " destinations"));
      }
      ASSIGN_OR_RETURN(std::string d, String());
      st.destinations.push_back(std::move(d));
      if (!IsPunct(",")) break;
      pos_++;
    }
    if (IsKeyword("BACKLOG")) {
      pos_++;
      const Tok& t = Peek();
      if (t.kind != Tok::kNumber || !ParseSize(t.text, &st.limits.max_bytes) || st.limits.max_bytes == 0) {
        return Expected("backlog size (bytes, or with a unit: 512MiB, 2GiB)");
      }
      pos_++;
      if (Peek().kind == Tok::kNumber) {
        if (!ParseAge(Peek().text, &st.limits.max_age_seconds)) {
          return Expected("backlog age (e.g. 12h, 7d; 0s = no age bound)");
        }
        pos_++;
      }
    }
    if (IsKeyword("WHEN")) {
      pos_++;
      RETURN_IF_ERROR(Keyword("FULL"));
      if (IsKeyword("DROP")) {
        pos_++;
        RETURN_IF_ERROR(Keyword("OLDEST"));
        st.limits.refuse_writes = false;
      } else if (IsKeyword("REFUSE")) {
        pos_++;
        RETURN_IF_ERROR(Keyword("WRITES"));
        st.limits.refuse_writes = true;
      } else {
        return Expected("DROP OLDEST, REFUSE WRITES");
      }
    }
    if (IsKeyword("VERIFY")) {
      pos_++;
      RETURN_IF_ERROR(Keyword("EVERY"));
      // At least a second: a verification queries both sides, a tighter
      // loop would only load them.
      if (!Duration(&st.verify.every_seconds) || st.verify.every_seconds < 1 ||
          st.verify.every_seconds > kMaxVerifyEverySeconds) {
        return Expected("verify interval (1s to 366d, e.g. 1h)");
      }
      pos_++;
      if (IsKeyword("WINDOW")) {
        pos_++;
        // Whole hours are compared: less than one would compare nothing.
        if (!Duration(&st.verify.window_seconds) || st.verify.window_seconds < 3600 ||
            st.verify.window_seconds > kMaxVerifyWindowSeconds) {
          return Expected("verify window (1h to 3660d, e.g. 24h)");
        }
        pos_++;
      }
      if (IsKeyword("RESEND")) {
        pos_++;
        st.verify.resend = true;
      }
    }
    return st;
  }

  // The current token as a duration ("90s", "12h"); does not consume it.
  bool Duration(int64_t* seconds) const {
    return Peek().kind == Tok::kNumber && ParseAge(Peek().text, seconds);
  }

  // [DESTINATION 'url'] [START 'rfc3339'] [END 'rfc3339'] [RESEND]
  StatusOr<SubscriptionStatement> VerifyClauses(SubscriptionStatement st) {
    if (IsKeyword("DESTINATION")) {
      pos_++;
      ASSIGN_OR_RETURN(st.destination, String());
    }
    for (const char* kw : {"START", "END"}) {
      if (!IsKeyword(kw)) continue;
      pos_++;
      if (Peek().kind != Tok::kString) return Expected("RFC3339 time string");
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, Peek().text, &t, &err)) {
        return absl::InvalidArgumentError(
            absl::StrCat("error parsing query: invalid ", kw, " time '", Peek().text, "': ", err));
      }
      (std::string_view(kw) == "START" ? st.start_ns : st.end_ns) = absl::ToUnixNanos(t);
      pos_++;
    }
    if (st.start_ns != 0 && st.end_ns != 0 && st.end_ns <= st.start_ns) {
      return absl::InvalidArgumentError("error parsing query: END must be after START");
    }
    if (IsKeyword("RESEND")) {
      pos_++;
      st.resend = true;
    }
    return st;
  }
};

}  // namespace

bool IsSubscriptionQuery(std::string_view q) {
  auto toks = Tokenize(q);
  if (!toks.ok() || toks->size() < 3) return false;
  const Tok& a = (*toks)[0];
  const Tok& b = (*toks)[1];
  if (a.kind != Tok::kIdent || b.kind != Tok::kIdent) return false;
  if (absl::EqualsIgnoreCase(a.text, "SHOW")) return absl::EqualsIgnoreCase(b.text, "SUBSCRIPTIONS");
  if (absl::EqualsIgnoreCase(a.text, "CREATE") || absl::EqualsIgnoreCase(a.text, "DROP") ||
      absl::EqualsIgnoreCase(a.text, "VERIFY")) {
    return absl::EqualsIgnoreCase(b.text, "SUBSCRIPTION");
  }
  return false;
}

StatusOr<std::vector<SubscriptionStatement>> ParseSubscriptionStatements(std::string_view q) {
  ASSIGN_OR_RETURN(std::vector<Tok> toks, Tokenize(q));
  return Parser(std::move(toks)).All();
}

bool SplitDestination(std::string_view url, std::string* base, std::string* user, std::string* password) {
  std::string_view scheme;
  if (absl::StartsWith(ToAbsl(url), "http://")) {
    scheme = "http://";
  } else if (absl::StartsWith(ToAbsl(url), "https://")) {
    scheme = "https://";
  } else {
    return false;
  }
  std::string_view rest = url.substr(scheme.size());
  std::string u, p;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    size_t colon = cred.find(':');
    u = std::string(cred.substr(0, colon));
    if (colon != std::string_view::npos) p = std::string(cred.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  // Only host[:port]: a path, query or blank would be sent somewhere else
  // than the /write the destination serves.
  if (rest.empty() || rest.find_first_of("/?# \t") != std::string_view::npos) return false;
  if (rest.front() == ':') return false;
  // The host: a bracketed IPv6 literal, or a name/IPv4 address without
  // brackets ("http://[::1" passed here once and then failed every send).
  const size_t bracket = rest.rfind(']');
  if (rest.front() == '[') {
    if (bracket == std::string_view::npos || bracket < 2) return false;
    if (rest.substr(1, bracket - 1).find_first_not_of("0123456789abcdefABCDEF:.%") !=
        std::string_view::npos) {
      return false;
    }
    if (bracket + 1 < rest.size() && rest[bracket + 1] != ':') return false;
  } else if (rest.find_first_of("[]") != std::string_view::npos) {
    return false;
  }
  // A port, if any, is 1..65535 (after the last ':' outside [v6] brackets).
  const size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    std::string_view port = rest.substr(colon + 1);
    int p = 0;
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) return false;
  }
  *base = absl::StrCat(ToAbsl(scheme), ToAbsl(rest));
  *user = std::move(u);
  *password = std::move(p);
  return true;
}

std::string MaskedDestination(std::string_view url) {
  std::string base, user, password;
  if (!SplitDestination(url, &base, &user, &password) || user.empty()) return std::string(url);
  const size_t scheme_end = base.find("://") + 3;
  return absl::StrCat(base.substr(0, scheme_end), user, password.empty() ? "" : ":xxxxx", "@",
                      base.substr(scheme_end));
}

std::string FormatVerifySchedule(const VerifySchedule& v) {
  if (v.every_seconds <= 0) return "";
  // The largest unit that divides the value exactly, so it parses back.
  auto dur = [](int64_t s) {
    static constexpr std::pair<char, int64_t> kUnits[] = {
        {'w', 7 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}};
    for (const auto& [unit, n] : kUnits) {
      if (s % n == 0) return absl::StrCat(s / n, std::string(1, unit));
    }
    return absl::StrCat(s, "s");
  };
  return absl::StrCat("EVERY ", dur(v.every_seconds), " WINDOW ", dur(v.window_seconds),
                      v.resend ? " RESEND" : "");
}

}  // namespace m2mdb::server

// HTTP/1.1 request framing (http1_parse.h).
#include "server/http1_parse.h"

#include <charconv>
#include <cstring>
#include <string>

namespace m2mdb::server {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

// RFC 9110 token characters (methods and header names).
bool IsTchar(unsigned char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ListHas(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    size_t semi = item.find(';');
    if (EqualsIgnoreCase(TrimOws(item.substr(0, semi)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

int ParseRequestHead(std::string_view head, Request* req) {
  size_t eol = head.find('\n');
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return 400;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || target.empty()) return 400;
  if (version.substr(0, 5) != "HTTP/") return 400;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return 505;
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f) return 400;
  }
  req->method.assign(method);
  req->version.assign(version);
  req->target.assign(target);

  // Absolute form (a proxy's request): keep the path and query.
  if (target.substr(0, 7) == "http://" || target.substr(0, 8) == "https://") {
    size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (path.empty() || (path[0] != '/' && !(path == "*" && method == "OPTIONS"))) return 400;
  if (!PercentDecode(path, false, &req->path)) return 400;
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    size_t hash = query.find('#');
    ParseQueryString(query.substr(0, hash), &req->params);
  }

  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 1);
  while (!rest.empty()) {
    size_t e = rest.find('\n');
    std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 1);
    if (!h.empty() && h.back() == '\r') h.remove_suffix(1);
    if (h.empty()) break;                         // the blank line that ends the head
    if (h[0] == ' ' || h[0] == '\t') return 400;  // obsolete line folding
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) return 400;
    std::string_view name = h.substr(0, colon);
    if (!IsToken(name)) return 400;
    std::string_view value = TrimOws(h.substr(colon + 1));
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return 400;
    }
    req->headers.emplace(std::string(name), std::string(value));
  }
  return 0;
}

bool ParseChunkSize(std::string_view line, uint64_t* size) {
  std::string_view digits = TrimOws(line.substr(0, line.find(';')));
  if (digits.empty() || digits.size() > 15) return false;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *size, 16);
  return ec == std::errc() && end == digits.data() + digits.size();
}

}  // namespace m2mdb::server

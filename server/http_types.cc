// Request/Response helpers and URL decoding (http_types.h).
#include "server/http_types.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace m2mdb::server {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool HasCrLf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

template <typename Map>
std::string First(const Map& m, std::string_view key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; i++) {
    const unsigned char x = static_cast<unsigned char>(Lower(a[i]));
    const unsigned char y = static_cast<unsigned char>(Lower(b[i]));
    if (x != y) return x < y;
  }
  return a.size() < b.size();
}

std::string Request::Header(std::string_view name) const { return First(headers, name); }

uint64_t Request::HeaderUint(std::string_view name) const {
  auto it = headers.find(name);
  if (it == headers.end()) return 0;
  uint64_t v = 0;
  const std::string& s = it->second;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() ? v : 0;
}

std::string Request::Param(std::string_view key) const { return First(params, key); }

void Response::SetHeader(std::string_view name, std::string_view value) {
  if (HasCrLf(name) || HasCrLf(value)) return;
  headers.emplace(std::string(name), std::string(value));
}

std::string Response::Header(std::string_view name) const { return First(headers, name); }

void Response::SetContent(std::string content, std::string_view content_type) {
  body = std::move(content);
  auto [a, b] = headers.equal_range(std::string_view("Content-Type"));
  headers.erase(a, b);
  SetHeader("Content-Type", content_type);
}

void Response::SetChunkedProvider(std::string_view content_type, ChunkedProvider p) {
  SetHeader("Content-Type", content_type);
  provider = std::move(p);
}

bool PercentDecode(std::string_view s, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return false;
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

void ParseQueryString(std::string_view s, ParamMap* params) {
  std::string key, value;
  while (!s.empty()) {
    size_t amp = s.find('&');
    std::string_view pair = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view() : s.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (!PercentDecode(k, true, &key) || !PercentDecode(v, true, &value)) continue;
    params->emplace(std::move(key), std::move(value));
    key = std::string();
    value = std::string();
  }
}

}  // namespace m2mdb::server

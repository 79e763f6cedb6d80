#include "server/mqtt/rules.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include <nlohmann/json.hpp>

#include "m2mdb/line_protocol.h"

namespace m2mdb::server::mqtt {
namespace {

std::vector<std::string_view> SplitLevels(std::string_view topic) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t slash = topic.find('/', start);
    out.push_back(topic.substr(start, slash == std::string_view::npos ? topic.npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

int64_t PrecisionFactor(std::string_view p) {
  if (p == "ns") return 1;
  if (p == "us") return 1000;
  if (p == "ms") return 1000000;
  return 1000000000;  // "s"
}

// Shortest text that reads back as the same double (absl::StrCat keeps six
// digits only).
void AppendDouble(std::string* out, double d) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), d);
  out->append(buf, r.ptr);
}

using Bindings = std::vector<std::pair<std::string_view, std::string_view>>;

// Line protocol cannot escape a line break in a name: one in a value that
// becomes a measurement, tag or field name (a client id, a user name, a
// topic level, a JSON key) would start a line of the sender's choosing.
bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// The value of `v` for this message; false if it is empty (a connection
// without a user name, an empty level).
bool Resolve(const Rules::Value& v, const Bindings& b, const Identity& id, std::string* out) {
  switch (v.kind) {
    case Rules::Value::kLiteral:
      *out = v.text;
      break;
    case Rules::Value::kUsername:
      *out = std::string(id.username);
      break;
    case Rules::Value::kClientId:
      *out = std::string(id.client_id);
      break;
    case Rules::Value::kBinding:
      out->clear();
      for (const auto& [name, level] : b) {
        if (name == v.text) *out = std::string(level);
      }
      break;
  }
  return !out->empty();
}

// Appends the flattened members of a JSON object as line-protocol fields:
// nested objects by path ("a.b"), numbers as floats (a device that sends 20
// and then 20.5 must not hit a type conflict), booleans, strings; null and
// arrays are skipped. False if a key holds a line break.
bool AppendJsonFields(const nlohmann::json& obj, const std::string& prefix, std::string_view time_key,
                      std::string* fields) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    const auto& v = it.value();
    if (prefix.empty() && it.key() == time_key) continue;
    if (HasLineBreak(key)) return false;
    if (v.is_object()) {
      if (!AppendJsonFields(v, key, time_key, fields)) return false;
      continue;
    }
    if (!v.is_number() && !v.is_boolean() && !v.is_string()) continue;
    if (v.is_number() && !std::isfinite(v.get<double>())) continue;
    if (!fields->empty()) fields->push_back(',');
    AppendLineProtocolKey(fields, key);
    fields->push_back('=');
    if (v.is_boolean()) {
      *fields += v.get<bool>() ? "true" : "false";
    } else if (v.is_number()) {
      AppendDouble(fields, v.get<double>());
    } else {
      fields->push_back('"');
      AppendLineProtocolString(fields, v.get<std::string>());
      fields->push_back('"');
    }
  }
  return true;
}

}  // namespace

bool RewriteLineProtocolLine(std::string_view line, std::string_view measurement,
                             const std::vector<std::pair<std::string, std::string>>& tags, std::string* out) {
  // The series key ends at the first unescaped space.
  size_t end = 0;
  while (end < line.size() && line[end] != ' ') end += line[end] == '\\' ? 2 : 1;
  if (end >= line.size()) return false;
  const std::string_view key = line.substr(0, end);
  // Split at unescaped commas: measurement, then k=v tags.
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= key.size(); i++) {
    if (i == key.size() || key[i] == ',') {
      parts.push_back(key.substr(start, i - start));
      start = i + 1;
    } else if (key[i] == '\\') {
      i++;
    }
  }
  if (parts.empty() || parts[0].empty()) return false;
  std::vector<std::string> escaped_keys;
  for (const auto& [k, v] : tags) {
    std::string e;
    AppendLineProtocolKey(&e, k);
    escaped_keys.push_back(std::move(e));
  }
  if (measurement.empty()) {
    out->append(parts[0].data(), parts[0].size());
  } else {
    AppendLineProtocolMeasurement(out, measurement);
  }
  for (size_t p = 1; p < parts.size(); p++) {
    std::string_view tag = parts[p];
    size_t eq = 0;
    while (eq < tag.size() && tag[eq] != '=') eq += tag[eq] == '\\' ? 2 : 1;
    const std::string_view tag_key = tag.substr(0, std::min(eq, tag.size()));
    bool replaced = false;
    for (const auto& e : escaped_keys) replaced |= e == tag_key;
    if (replaced) continue;
    out->push_back(',');
    out->append(tag.data(), tag.size());
  }
  for (size_t t = 0; t < tags.size(); t++) {
    out->push_back(',');
    *out += escaped_keys[t];
    out->push_back('=');
    AppendLineProtocolKey(out, tags[t].second);
  }
  out->append(line.data() + end, line.size() - end);
  return true;
}

StatusOr<Rules> Rules::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read MQTT rules file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = Parse(ss.str());
  if (!r.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", r.status().message()));
  return r;
}

StatusOr<Rules> Rules::Parse(std::string_view text) {
  Rules rules;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = Trim(text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    line_no++;
    if (line.empty() || line.front() == '#') continue;
    auto fail = [&](std::string why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", why));
    };
    std::vector<std::string_view> tokens;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) i++;
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') j++;
      if (j > i) tokens.push_back(line.substr(i, j - i));
      i = j;
    }
    Rule r;
    r.line = line_no;
    std::vector<std::string> bound;
    for (auto level : SplitLevels(tokens[0])) r.levels.emplace_back(level);
    for (size_t i = 0; i < r.levels.size(); i++) {
      const std::string& l = r.levels[i];
      if (l == "#" && i + 1 != r.levels.size()) return fail("# must be the last level of a pattern");
      if (l != "#" && l.find('#') != std::string::npos) return fail("# must be a whole level");
      if (!l.empty() && l[0] == '+') {
        if (l.size() > 1) bound.push_back(l.substr(1));
      } else if (l.find('+') != std::string::npos) {
        return fail("+ must start a level");
      }
    }
    auto value = [&](std::string_view v, Value* out) -> Status {
      if (v.empty()) return fail("empty value");
      if (v[0] == '+') {
        out->kind = Value::kBinding;
        out->text = std::string(v.substr(1));
        for (const auto& b : bound) {
          if (b == out->text) return absl::OkStatus();
        }
        return fail(absl::StrCat("+", out->text, " is not a named wildcard of the pattern"));
      }
      if (v == "%username") {
        out->kind = Value::kUsername;
      } else if (v == "%client_id") {
        out->kind = Value::kClientId;
      } else if (v[0] == '%') {
        return fail(absl::StrCat("unknown identity ", std::string(v), " (use %username or %client_id)"));
      } else {
        out->kind = Value::kLiteral;
        out->text = std::string(v);
      }
      return absl::OkStatus();
    };
    for (size_t t = 1; t < tokens.size(); t++) {
      const size_t eq = tokens[t].find('=');
      if (eq == std::string_view::npos)
        return fail(absl::StrCat("expected key=value, got ", std::string(tokens[t])));
      const std::string_view k = tokens[t].substr(0, eq), v = tokens[t].substr(eq + 1);
      Status s;
      if (k == "db") {
        r.has_db = true;
        s = value(v, &r.db);
      } else if (k == "measurement") {
        r.has_measurement = true;
        s = value(v, &r.measurement);
      } else if (k == "format") {
        if (v == "lp") {
          r.format = Rule::kLineProtocol;
        } else if (v == "json") {
          r.format = Rule::kJson;
        } else if (v == "value") {
          r.format = Rule::kValue;
        } else {
          return fail(absl::StrCat("format must be lp, json or value, not ", std::string(v)));
        }
      } else if (k == "field" && !v.empty()) {
        r.field = std::string(v);
      } else if (k == "time_key" && !v.empty()) {
        r.time_key = std::string(v);
      } else if (k == "precision") {
        if (v != "ns" && v != "us" && v != "ms" && v != "s") return fail("precision must be ns, us, ms or s");
        r.precision = std::string(v);
      } else if (k.substr(0, 4) == "tag." && k.size() > 4) {
        Value tv;
        s = value(v, &tv);
        r.tags.emplace_back(std::string(k.substr(4)), std::move(tv));
      } else {
        return fail(absl::StrCat("unknown key ", std::string(k)));
      }
      if (!s.ok()) return s;
    }
    if (r.format != Rule::kLineProtocol && !r.has_measurement) {
      return fail("format json and value need measurement=");
    }
    rules.rules_.push_back(std::move(r));
  }
  return rules;
}

uint8_t Rules::Map(std::string_view topic, std::string_view payload, const Identity& identity,
                   MappedMessage* out, std::string* error) const {
  const std::vector<std::string_view> levels = SplitLevels(topic);
  const Rule* rule = nullptr;
  Bindings bindings;
  for (const Rule& r : rules_) {
    bindings.clear();
    size_t i = 0;
    bool ok = true;
    for (; i < r.levels.size(); i++) {
      const std::string& p = r.levels[i];
      if (p == "#") {
        i = levels.size();
        break;
      }
      if (i >= levels.size()) {
        ok = false;
        break;
      }
      if (!p.empty() && p[0] == '+') {
        if (p.size() > 1) bindings.emplace_back(std::string_view(p).substr(1), levels[i]);
      } else if (p != levels[i]) {
        ok = false;
        break;
      }
    }
    if (ok && i == levels.size()) {
      rule = &r;
      break;
    }
  }
  if (rule == nullptr) {
    out->database = std::string(levels[0]);
    out->body = std::string(payload);
    out->precision = "ns";
    if (out->database.empty()) {
      *error = "the first topic level (the database) is empty";
      return 0x90;
    }
    return 0;
  }
  if (rule->has_db) {
    if (!Resolve(rule->db, bindings, identity, &out->database)) {
      *error = "the rule's database is empty for this message";
      return 0x90;
    }
  } else {
    out->database = std::string(levels[0]);
    if (out->database.empty()) {
      *error = "the first topic level (the database) is empty";
      return 0x90;
    }
  }
  std::string measurement;
  if (rule->has_measurement && !Resolve(rule->measurement, bindings, identity, &measurement)) {
    *error = "the rule's measurement is empty for this message";
    return 0x90;
  }
  if (HasLineBreak(measurement)) {
    *error = "the rule's measurement contains a line break for this message";
    return 0x99;
  }
  std::vector<std::pair<std::string, std::string>> tags;
  for (const auto& [k, v] : rule->tags) {
    std::string value;
    if (!Resolve(v, bindings, identity, &value)) {
      // An identity tag that cannot be stamped must not let the point through
      // under the payload's own tag.
      *error = absl::StrCat("tag ", k, " of the rule is empty for this message (no user name?)");
      return 0x87;
    }
    if (HasLineBreak(value)) {
      *error = absl::StrCat("tag ", k, " of the rule contains a line break for this message");
      return 0x99;
    }
    tags.emplace_back(k, std::move(value));
  }
  out->body.clear();
  out->precision = rule->precision;
  switch (rule->format) {
    case Rule::kLineProtocol: {
      if (measurement.empty() && tags.empty()) {
        out->body = std::string(payload);
        return 0;
      }
      size_t start = 0;
      int kept = 0, dropped = 0;
      while (start <= payload.size()) {
        size_t nl = payload.find('\n', start);
        std::string_view line =
            payload.substr(start, nl == std::string_view::npos ? payload.npos : nl - start);
        start = nl == std::string_view::npos ? payload.size() + 1 : nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::string_view t = Trim(line);
        // Blank and comment lines stay as empty lines, so that line numbers
        // in errors are the payload's.
        if (t.empty() || t.front() == '#') {
          out->body.push_back('\n');
          continue;
        }
        // A line whose series key cannot be found is left out (an empty
        // line): passing it on unchanged could carry the payload's own
        // identity tags.
        if (RewriteLineProtocolLine(t, measurement, tags, &out->body)) {
          kept++;
        } else {
          dropped++;
        }
        out->body.push_back('\n');
      }
      if (kept == 0) {
        *error = absl::StrCat(dropped, " line(s) without a series key");
        return 0x99;
      }
      return 0;
    }
    case Rule::kJson: {
      nlohmann::json j = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        *error = "the payload is not a JSON object";
        return 0x99;
      }
      std::string fields;
      if (!AppendJsonFields(j, "", rule->time_key, &fields)) {
        *error = "a JSON member name contains a line break";
        return 0x99;
      }
      if (fields.empty()) {
        *error = "the JSON object has no number, boolean or string member";
        return 0x99;
      }
      AppendLineProtocolMeasurement(&out->body, measurement);
      for (const auto& [k, v] : tags) {
        out->body.push_back(',');
        AppendLineProtocolKey(&out->body, k);
        out->body.push_back('=');
        AppendLineProtocolKey(&out->body, v);
      }
      out->body.push_back(' ');
      out->body += fields;
      auto t = j.find(rule->time_key);
      if (t != j.end()) {
        const int64_t factor = PrecisionFactor(rule->precision);
        int64_t ns;
        if (t->is_number_integer()) {
          if (__builtin_mul_overflow(t->get<int64_t>(), factor, &ns)) {
            *error = "the time is out of range";
            return 0x99;
          }
        } else if (t->is_number()) {
          const double d = t->get<double>() * static_cast<double>(factor);
          if (!std::isfinite(d) || d >= 9.2e18 || d <= -9.2e18) {
            *error = "the time is out of range";
            return 0x99;
          }
          ns = static_cast<int64_t>(d);
        } else {
          *error = absl::StrCat("the time member \"", rule->time_key, "\" is not a number");
          return 0x99;
        }
        absl::StrAppend(&out->body, " ", ns);
      }
      out->body.push_back('\n');
      out->precision = "ns";  // converted above
      return 0;
    }
    case Rule::kValue: {
      const std::string_view v = Trim(payload);
      if (v.empty()) {
        *error = "the payload is empty";
        return 0x99;
      }
      AppendLineProtocolMeasurement(&out->body, measurement);
      for (const auto& [k, tv] : tags) {
        out->body.push_back(',');
        AppendLineProtocolKey(&out->body, k);
        out->body.push_back('=');
        AppendLineProtocolKey(&out->body, tv);
      }
      out->body.push_back(' ');
      AppendLineProtocolKey(&out->body, rule->field);
      out->body.push_back('=');
      double d;
      if (absl::SimpleAtod(absl::string_view(v.data(), v.size()), &d) && std::isfinite(d)) {
        AppendDouble(&out->body, d);
      } else if (v == "true" || v == "false") {
        out->body += v;
      } else {
        out->body.push_back('"');
        AppendLineProtocolString(&out->body, v);
        out->body.push_back('"');
      }
      out->body.push_back('\n');
      return 0;
    }
  }
  return 0;
}

}  // namespace m2mdb::server::mqtt

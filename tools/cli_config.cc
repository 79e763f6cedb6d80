// tools/cli_config.cc — see cli_config.h. TOML through toml++ (Debian
// libtomlplusplus-dev), which reports the line of every key; its parse
// errors are exceptions and are caught here.
#include "tools/cli_config.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string_view>
#include <vector>

#include <toml++/toml.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace m2mdb::cli {
namespace {

// The long name of a configurable option, or "" when it is not one.
std::string LongName(const CLI::Option* opt) {
  if (!opt->get_configurable() || opt->get_positional() || opt->get_lnames().empty()) return "";
  const std::string& n = opt->get_lnames().front();
  if (n == "help" || n == "help-all") return "";
  return n;
}

std::string KeyOf(const std::string& long_name) {
  std::string k = long_name;
  for (char& c : k) {
    if (c == '-') c = '_';
  }
  return k;
}

std::string EnvOf(const std::string& long_name) { return "M2MDB_" + absl::AsciiStrToUpper(KeyOf(long_name)); }

bool IsFlag(const CLI::Option* opt) { return opt->get_expected_max() == 0; }
bool IsList(const CLI::Option* opt) { return opt->get_items_expected_max() > 1; }

// Gives `opt` its values and runs its validators and callback (which stores
// the value in the variable the option is bound to). On error: `where`, then
// CLI11's message, which names the flag.
Status SetOption(CLI::Option* opt, const std::vector<std::string>& values, const std::string& where) {
  // CLI11 reads "-5" for an unsigned option as 2^64-5.
  if (absl::StartsWith(opt->get_type_name(), "UINT")) {
    for (const std::string& v : values) {
      if (absl::StrContains(v, "-"))
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", v, " is negative"));
    }
  }
  try {
    for (const std::string& v : values) opt->add_result(v);
    opt->run_callback();
  } catch (const CLI::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", e.what()));
  }
  return absl::OkStatus();
}

// A TOML value as the option's text values; "" and false when its type does
// not fit the option.
bool ValuesOf(const CLI::Option* opt, const toml::node& node, std::vector<std::string>* out,
              std::string* want) {
  auto scalar = [&](const toml::node& n, std::string* text) {
    if (const auto* s = n.as_string()) {
      *text = s->get();
      return true;
    }
    if (const auto* i = n.as_integer()) {
      *text = std::to_string(i->get());
      return true;
    }
    if (const auto* f = n.as_floating_point()) {
      *text = absl::StrCat(f->get());
      return true;
    }
    return false;
  };
  if (IsFlag(opt)) {
    *want = "true or false";
    const auto* b = node.as_boolean();
    if (b == nullptr) return false;
    out->push_back(b->get() ? "true" : "false");
    return true;
  }
  if (IsList(opt)) {
    *want = "a list of strings, e.g. [\"a\", \"b\"]";
    if (const auto* arr = node.as_array()) {
      for (const toml::node& item : *arr) {
        std::string text;
        if (!scalar(item, &text)) return false;
        out->push_back(std::move(text));
      }
      return true;
    }
  }
  const std::string type = opt->get_type_name();
  const bool number = absl::StartsWith(type, "INT") || absl::StartsWith(type, "UINT") ||
                      absl::StartsWith(type, "FLOAT") || absl::StartsWith(type, "NUMBER");
  if (!IsList(opt)) *want = number ? "a number" : "a string";
  std::string text;
  if (number && node.as_string() != nullptr) return false;
  if (!number && node.as_string() == nullptr && !IsList(opt)) return false;
  if (!scalar(node, &text)) return false;
  out->push_back(std::move(text));
  return true;
}

// A TOML basic string.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          static const char* kHex = "0123456789ABCDEF";
          out += "\\u00";
          out.push_back(kHex[(c >> 4) & 0xf]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace

Status ApplyConfig(CLI::App* cmd, const std::string& config_file) {
  std::string path = config_file;
  if (path.empty()) {
    const char* env = std::getenv("M2MDB_CONFIG");
    if (env != nullptr) path = env;
  }
  toml::table file;
  if (!path.empty()) {
    if (::access(path.c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read config file ", path, ": ", std::strerror(errno)));
    }
    try {
      file = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", e.source().begin.line, ": ", std::string(e.description())));
    }
  }

  // Which options the command line set, before anything else sets them.
  std::map<std::string, CLI::Option*> by_key;
  std::vector<std::pair<std::string, CLI::Option*>> pending;
  for (CLI::Option* opt : cmd->get_options()) {
    std::string name = LongName(opt);
    if (name.empty()) continue;
    by_key[KeyOf(name)] = opt;
    if (opt->count() == 0) pending.emplace_back(name, opt);
  }
  // A misspelt key would otherwise be ignored silently, which is worse than
  // refusing to start.
  for (const auto& [key, node] : file) {
    if (by_key.count(std::string(key.str())) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", key.source().begin.line, ": unknown key \"",
                                                     std::string(key.str()),
                                                     "\" (`m2mdb serve --print-config` lists them)"));
    }
  }

  for (const auto& [name, opt] : pending) {
    const std::string var = EnvOf(name);
    if (const char* env = std::getenv(var.c_str()); env != nullptr) {
      std::vector<std::string> values;
      if (IsList(opt)) {
        for (absl::string_view v : absl::StrSplit(env, ',', absl::SkipWhitespace())) {
          values.emplace_back(absl::StripAsciiWhitespace(v));
        }
      } else {
        values.emplace_back(env);
      }
      if (values.empty()) continue;  // M2MDB_CREATE_DB="": the default, none
      RETURN_IF_ERROR(SetOption(opt, values, absl::StrCat(var, "=", env)));
      continue;
    }
    const std::string key = KeyOf(name);
    const toml::node* node = file.get(key);
    if (node == nullptr) continue;
    std::vector<std::string> values;
    std::string want;
    const std::string where = absl::StrCat(path, ":", node->source().begin.line, ": ", key);
    if (!ValuesOf(opt, *node, &values, &want)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected ", want));
    }
    // An empty list is the default of every list option: nothing to set
    // (CLI11 would refuse zero values).
    if (values.empty()) continue;
    RETURN_IF_ERROR(SetOption(opt, values, where));
  }
  return absl::OkStatus();
}

std::string EffectiveConfig(CLI::App* cmd) {
  std::string out =
      "# m2mdb serve configuration (m2mdb serve --print-config). Every key is also a flag\n"
      "# (--data-dir for data_dir) and an environment variable (M2MDB_DATA_DIR);\n"
      "# precedence: flags > environment > this file > defaults.\n";
  for (CLI::Option* opt : cmd->get_options()) {
    std::string name = LongName(opt);
    if (name.empty()) continue;
    absl::StrAppend(&out, "\n# ", opt->get_description(), "\n", KeyOf(name), " = ");
    const std::vector<std::string>& results = opt->results();
    if (IsFlag(opt)) {
      bool on = false;
      if (!results.empty()) {
        std::string v = absl::AsciiStrToLower(results.back());
        on = v != "false" && v != "0" && v != "off" && v != "no" && v != "-1";
      }
      out += on ? "true" : "false";
    } else if (IsList(opt)) {
      out += "[";
      for (size_t i = 0; i < results.size(); i++) absl::StrAppend(&out, i > 0 ? ", " : "", Quote(results[i]));
      out += "]";
    } else {
      std::string v = results.empty() ? opt->get_default_str() : results.back();
      const std::string type = opt->get_type_name();
      const bool number = absl::StartsWith(type, "INT") || absl::StartsWith(type, "UINT") ||
                          absl::StartsWith(type, "FLOAT") || absl::StartsWith(type, "NUMBER");
      out += number && !v.empty() ? v : Quote(v);
    }
    out += "\n";
  }
  return out;
}

}  // namespace m2mdb::cli

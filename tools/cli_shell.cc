// tools/cli_shell.cc — `m2mdb shell`: an InfluxQL prompt with line editing and
// history (libedit), against a server or a data directory.
//
// Statements may span lines and end with ';' (outside quotes); the shell's
// own commands (USE, FORMAT, PRECISION, HELP, EXIT, QUIT) are one line and
// need no ';'. When stdin is not a terminal the shell reads statements from
// it without prompts, banners or timings, so it can be scripted:
//   printf 'SHOW DATABASES;\n' | m2mdb shell --data-dir ./data
// and then exits 1 if any statement failed (2 if the server stopped
// answering).
//
// Ctrl-C at the prompt abandons the line (and a statement still being typed
// over several lines); while a statement runs it is ignored, the second one
// leaves.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include <editline/readline.h>
#include <signal.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "tools/cli_common.h"

namespace m2mdb::cli {
namespace {

struct ShellArgs {
  Target target;
  std::string database;
  std::string format = "table";
  std::string precision = "rfc3339";
};

constexpr const char* kHelp =
    "Statements are InfluxQL and end with ';' (they may span several lines), e.g.\n"
    "  SHOW DATABASES;\n"
    "  SELECT mean(temp) FROM engine WHERE time > now() - 1h GROUP BY time(5m), truck;\n"
    "Shell commands (one line, no ';' needed):\n"
    "  USE <db>                        default database for the statements that follow\n"
    "  FORMAT table|csv|json           output format\n"
    "  PRECISION rfc3339|ns|u|ms|s|m|h how times are printed\n"
    "  HELP                            this text\n"
    "  EXIT, QUIT, Ctrl-D              leave (history is kept in ~/.m2mdb_history)\n"
    "Ctrl-C abandons the line being typed.\n";

// Where the statement ends: the position just past the last ';' that is
// outside quotes ('string', "identifier", both with backslash escapes), or
// npos when `text` holds no complete statement.
size_t CompleteUpTo(std::string_view text) {
  size_t end = std::string_view::npos;
  char quote = 0;
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    if (quote != 0) {
      if (c == '\\') {
        i++;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == ';') {
      end = i + 1;
    }
  }
  return end;
}

std::string Trim(std::string_view s) { return std::string(absl::StripAsciiWhitespace(ToAbsl(s))); }

// SIGINT while interactive. At the prompt it interrupts libedit's read
// (readline returns null with the flag set); while a statement runs the
// first one is noted and the second one ends the process, as a user who
// presses Ctrl-C twice wants out.
volatile sig_atomic_t g_interrupted = 0;
volatile sig_atomic_t g_running_statement = 0;

void OnSigint(int) {
  if (g_running_statement != 0) {
    if (g_interrupted != 0) ::_exit(130);
    const char msg[] = "\n(Ctrl-C: waiting for the statement to finish; press it again to leave)\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
  }
  g_interrupted = 1;
}

class Shell {
 public:
  Shell(Session* session, const ShellArgs& args, bool interactive)
      : session_(session), interactive_(interactive) {
    ro_.database = args.database;
    ro_.format = args.format;
    ro_.pretty = interactive;
    ParseEpoch(args.precision, &ro_.epoch);
  }

  // Feeds one input line. Returns false when the user asked to leave.
  bool Line(std::string_view line) {
    if (pending_.empty()) {
      std::string t = Trim(line);
      if (t.empty()) return true;
      int meta = MetaCommand(t);
      if (meta >= 0) {
        AddHistory(t);
        return meta == 1;
      }
    }
    if (!pending_.empty()) pending_.push_back('\n');
    pending_.append(line);
    size_t end = CompleteUpTo(pending_);
    if (end == std::string::npos) return true;
    std::string statement = pending_.substr(0, end);
    pending_ = Trim(std::string_view(pending_).substr(end));
    AddHistory(statement);
    Execute(statement);
    return true;
  }

  // End of input: a last statement without ';' still runs.
  void Finish() {
    std::string rest = Trim(pending_);
    pending_.clear();
    if (!rest.empty()) Execute(rest);
  }

  // Ctrl-C: forget the statement being typed.
  void Abandon() { pending_.clear(); }

  bool continuing() const { return !pending_.empty(); }
  int errors() const { return errors_; }
  // The server stopped answering (a script then ends, exit 2).
  bool unreachable() const { return unreachable_; }
  std::string Prompt() const {
    if (continuing()) return "    -> ";
    return ro_.database.empty() ? "m2mdb> " : absl::StrCat("m2mdb:", ro_.database, "> ");
  }

  // Loads ~/.m2mdb_history (interactive only).
  void LoadHistory() {
    const char* home = std::getenv("HOME");
    if (home == nullptr || *home == '\0') return;
    history_path_ = absl::StrCat(home, "/.m2mdb_history");
    using_history();
    stifle_history(2000);
    read_history(history_path_.c_str());
  }

 private:
  // -1: not a shell command; 1: handled, go on; 0: handled, leave.
  int MetaCommand(const std::string& text) {
    std::string t = text;
    while (!t.empty() && (t.back() == ';' || absl::ascii_isspace(t.back()))) t.pop_back();
    size_t sp = t.find_first_of(" \t");
    std::string word = absl::AsciiStrToUpper(t.substr(0, sp));
    std::string arg = sp == std::string::npos ? "" : Trim(std::string_view(t).substr(sp));
    if (word == "EXIT" || word == "QUIT") return arg.empty() ? 0 : -1;
    if (word == "HELP") {
      if (!arg.empty()) return -1;
      std::fputs(kHelp, stdout);
      std::fflush(stdout);
      return 1;
    }
    if (word == "USE") {
      if (arg.size() >= 2 && (arg.front() == '"' || arg.front() == '\'') && arg.back() == arg.front()) {
        arg = arg.substr(1, arg.size() - 2);
      }
      if (arg.empty()) {
        Error("USE needs a database name");
        return 1;
      }
      // As the influx CLI: a typo here would otherwise surface only as
      // "database not found" on every statement that follows.
      auto exists = session_->DatabaseExists(arg);
      if (!exists.ok()) {
        Error(absl::StrCat("USE ", arg, ": ", exists.status().message()));
      } else if (!*exists) {
        Error(absl::StrCat("Database ", arg,
                           " doesn't exist. Run SHOW DATABASES for a list of existing databases."));
      } else {
        ro_.database = arg;
        if (interactive_) std::printf("Using database %s\n", arg.c_str());
      }
      return 1;
    }
    if (word == "FORMAT") {
      std::string f = absl::AsciiStrToLower(arg);
      if (f == "table" || f == "csv" || f == "json") {
        ro_.format = f;
        if (interactive_) std::printf("Output format: %s\n", f.c_str());
      } else {
        Error(absl::StrCat("FORMAT ", arg, ": use table, csv or json"));
      }
      return 1;
    }
    if (word == "PRECISION") {
      std::string epoch;
      if (ParseEpoch(arg, &epoch)) {
        ro_.epoch = epoch;
        if (interactive_) std::printf("Precision: %s\n", epoch.empty() ? "rfc3339" : epoch.c_str());
      } else {
        Error(absl::StrCat("PRECISION ", arg, ": use rfc3339, ns, u, ms, s, m or h"));
      }
      return 1;
    }
    return -1;
  }

  void Execute(const std::string& statement) {
    auto start = std::chrono::steady_clock::now();
    g_running_statement = 1;
    QueryOutcome out = session_->Run(statement, ro_);
    g_running_statement = 0;
    g_interrupted = 0;
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    WriteAll(stdout, out.output);
    std::fflush(stdout);
    for (const std::string& e : out.errors) Error(e);
    if (out.unreachable) unreachable_ = true;
    // A row count under an error reads as if the statement had run.
    if (interactive_ && out.errors.empty()) {
      std::printf("(%llu row%s, %s ms)\n", static_cast<unsigned long long>(out.rows),
                  out.rows == 1 ? "" : "s", absl::StrFormat("%.1f", ms).c_str());
      std::fflush(stdout);
    }
  }

  void Error(const std::string& msg) {
    errors_++;
    std::fprintf(stderr, "ERR: %s\n", msg.c_str());
    std::fflush(stderr);
  }

  void AddHistory(const std::string& entry) {
    if (!interactive_ || history_path_.empty()) return;
    // One history entry per statement, on one line, so Up recalls it whole.
    std::string one;
    for (char c : entry) one.push_back(c == '\n' ? ' ' : c);
    add_history(one.c_str());
    // Written at once: Ctrl-C ends the process without a chance to save.
    write_history(history_path_.c_str());
  }

  Session* session_;
  bool interactive_;
  RenderOptions ro_;
  std::string pending_;
  std::string history_path_;
  int errors_ = 0;
  bool unreachable_ = false;
};

int RunShell(const ShellArgs& a) {
  std::string epoch;
  if (!ParseEpoch(a.precision, &epoch)) {
    std::fprintf(stderr, "m2mdb shell: --precision %s: use rfc3339, ns, u, ms, s, m or h\n",
                 a.precision.c_str());
    return kExitUsage;
  }
  std::unique_ptr<Session> session = Session::Open(a.target, "shell");
  if (session == nullptr) return kExitUsage;
  const bool interactive = IsTerminal(0);
  Shell shell(session.get(), a, interactive);

  auto script_exit = [&] {
    if (shell.unreachable()) return kExitUsage;
    return shell.errors() == 0 ? kExitOk : kExitFailed;
  };
  if (!interactive) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!shell.Line(line) || shell.unreachable()) return script_exit();
    }
    shell.Finish();
    return script_exit();
  }

  if (session->embedded()) {
    std::printf("m2mdb shell on data directory %s (embedded mode)\n", a.target.data_dir.c_str());
  } else {
    std::printf("m2mdb shell on %s\n", a.target.host.c_str());
  }
  std::printf("Type HELP for help, EXIT or Ctrl-D to leave.\n");
  std::fflush(stdout);
  rl_readline_name = const_cast<char*>("m2mdb");
  shell.LoadHistory();
  // No SA_RESTART: the signal must interrupt libedit's read().
  struct sigaction sa {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  while (true) {
    std::string prompt = shell.Prompt();
    g_interrupted = 0;
    char* raw = readline(prompt.c_str());
    if (raw == nullptr && g_interrupted != 0) {  // Ctrl-C: a new, empty line
      std::printf("^C\n");
      std::fflush(stdout);
      shell.Abandon();
      continue;
    }
    if (raw == nullptr) {  // Ctrl-D
      std::printf("\n");
      shell.Finish();
      break;
    }
    std::string line(raw);
    std::free(raw);
    if (!shell.Line(line)) break;
  }
  return 0;
}

}  // namespace

void RegisterShell(CLI::App* app, int* exit_code) {
  auto args = std::make_shared<ShellArgs>();
  CLI::App* cmd = app->add_subcommand(
      "shell",
      "Interactive InfluxQL prompt with history, against a server or a data directory (--data-dir). "
      "Reads statements from stdin without prompts when stdin is not a terminal");
  AddTargetOptions(cmd, &args->target);
  cmd->add_option("--db,-d", args->database, "Database to start in (USE db)");
  cmd->add_option("--format", args->format, "Output format")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  cmd->add_option("--precision,--epoch", args->precision, "Times as rfc3339 or integers in ns|u|ms|s|m|h")
      ->capture_default_str();
  cmd->callback([args, exit_code] { *exit_code = RunShell(*args); });
}

}  // namespace m2mdb::cli

// tools/cli_import.cc — `m2mdb import FILE|-`: streams line protocol (plain or
// gzip, detected by the magic bytes 1f 8b) into a server (POST /write) or a
// data directory (DB::WriteLineProtocol), in batches of --batch-size lines.
//
// Exit codes: 0 every line written; 1 some lines rejected (each listed, up to
// --max-errors, with its line number in the input and the reason; the other
// lines are written); 2 fatal (unreadable input, no database, server down,
// bad token): the import stops, batches already sent stay written.
//
// Batches are cut only where the server's parser would end a line: a record
// ends at a newline outside a quoted string field value and not escaped by a
// backslash (RecordScanner mirrors ScanLineEnd in engine/lineproto). So a
// string field holding a newline is never split across batches, and line
// numbers in errors (which the parser counts per physical line) map back to
// the input file by adding the batch's first line.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "m2mdb/line_protocol.h"
#include "tools/cli_common.h"

namespace m2mdb::cli {
namespace {

// A batch is also cut at this many bytes whatever its line count, well under
// the server's default --max-body-bytes (64 MiB), so long lines cannot make a
// request the server refuses.
constexpr size_t kMaxBatchBytes = 8u << 20;
constexpr size_t kReadChunk = 1u << 20;

struct ImportArgs {
  Target target;
  std::string file;
  std::string database;
  std::string precision = "ns";
  size_t batch_size = 5000;
  bool create_db = false;
  size_t max_errors = 20;
  bool quiet = false;
};

// ---- input: a file or stdin, plain or gzip ---------------------------------------
class Input {
 public:
  ~Input() {
    if (z_init_) inflateEnd(&zs_);
    if (fd_ > 0) ::close(fd_);
  }

  Status Open(const std::string& path) {
    if (path == "-") {
      fd_ = 0;
      name_ = "stdin";
    } else {
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
      name_ = path;
    }
    struct stat st;
    if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) size_ = st.st_size;
    // Peek at the first bytes for the gzip magic; what was read is handed
    // out (or inflated) first.
    while (raw_.size() < 2 && !raw_eof_) RETURN_IF_ERROR(ReadRaw());
    gzip_ =
        raw_.size() >= 2 && static_cast<uint8_t>(raw_[0]) == 0x1f && static_cast<uint8_t>(raw_[1]) == 0x8b;
    if (gzip_) {
      std::memset(&zs_, 0, sizeof(zs_));
      if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) return absl::InternalError("zlib: inflateInit2 failed");
      z_init_ = true;
    }
    return absl::OkStatus();
  }

  // Appends up to about `n` bytes of line protocol to *out; *eof once all is read.
  Status Read(std::string* out, size_t n, bool* eof) {
    *eof = false;
    if (!gzip_) {
      if (raw_pos_ == raw_.size() && !raw_eof_) RETURN_IF_ERROR(ReadRaw());
      out->append(raw_, raw_pos_, std::string::npos);
      raw_pos_ = raw_.size();
      *eof = raw_eof_ && raw_pos_ == raw_.size();
      return absl::OkStatus();
    }
    size_t old = out->size();
    out->resize(old + n);
    zs_.next_out = reinterpret_cast<Bytef*>(out->data() + old);
    zs_.avail_out = static_cast<uInt>(n);
    while (zs_.avail_out > 0 && !z_done_) {
      if (raw_pos_ == raw_.size()) {
        if (raw_eof_) {
          out->resize(old + (n - zs_.avail_out));
          truncated_ = true;
          return absl::DataLossError(
              absl::StrCat(name_, ": truncated gzip data (the file ends inside the stream)"));
        }
        RETURN_IF_ERROR(ReadRaw());
        continue;
      }
      zs_.next_in = reinterpret_cast<Bytef*>(raw_.data() + raw_pos_);
      zs_.avail_in = static_cast<uInt>(raw_.size() - raw_pos_);
      int rc = inflate(&zs_, Z_NO_FLUSH);
      raw_pos_ = raw_.size() - zs_.avail_in;
      if (rc == Z_STREAM_END) {
        // gzip files may be several members back to back (cat a.gz b.gz).
        while (raw_pos_ == raw_.size() && !raw_eof_) RETURN_IF_ERROR(ReadRaw());
        if (raw_pos_ == raw_.size() || static_cast<uint8_t>(raw_[raw_pos_]) != 0x1f) {
          z_done_ = true;
        } else {
          inflateReset(&zs_);
        }
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        out->resize(old + (n - zs_.avail_out));
        return absl::DataLossError(absl::StrCat(name_, ": corrupt gzip data (",
                                                zs_.msg != nullptr ? zs_.msg : "inflate failed", ")"));
      }
    }
    out->resize(old + (n - zs_.avail_out));
    *eof = z_done_;
    return absl::OkStatus();
  }

  uint64_t raw_bytes() const { return raw_total_; }
  // Bytes of the file consumed so far (what was read ahead and not yet
  // inflated excluded), for the position in the file.
  uint64_t consumed() const { return raw_total_ - (raw_.size() - raw_pos_); }
  // Read failed because a gzip file ended early: everything it returned
  // before is intact (unlike corrupt data, which the CRC at the end of the
  // member would have caught later).
  bool truncated() const { return truncated_; }
  int64_t size() const { return size_; }  // -1: unknown (a pipe)
  const std::string& name() const { return name_; }
  bool gzip() const { return gzip_; }

 private:
  Status ReadRaw() {
    if (raw_pos_ > 0) {
      raw_.erase(0, raw_pos_);
      raw_pos_ = 0;
    }
    size_t old = raw_.size();
    raw_.resize(old + kReadChunk);
    ssize_t r;
    do {
      r = ::read(fd_, raw_.data() + old, kReadChunk);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      raw_.resize(old);
      return absl::InternalError(absl::StrCat(name_, ": ", std::strerror(errno)));
    }
    raw_.resize(old + static_cast<size_t>(r));
    raw_total_ += static_cast<uint64_t>(r);
    if (r == 0) raw_eof_ = true;
    return absl::OkStatus();
  }

  int fd_ = -1;
  std::string name_;
  int64_t size_ = -1;
  std::string raw_;
  size_t raw_pos_ = 0;
  bool raw_eof_ = false;
  uint64_t raw_total_ = 0;
  bool gzip_ = false;
  bool z_init_ = false;
  bool z_done_ = false;
  bool truncated_ = false;
  z_stream zs_;
};

// ---- records --------------------------------------------------------------------
// Finds where the record starting at a given offset ends, as the parser
// (engine/lineproto Parser::Parse + ScanLineEnd) would: blank lines and
// comments end at their newline; a data line at the first newline that is
// outside a string field value and not escaped. Resumable: when the buffer
// ends first, call again after appending more.
class RecordScanner {
 public:
  enum Result { kNeedMore, kDone };
  struct Record {
    size_t end = 0;  // offset of the terminating '\n', or the buffer size at EOF
    bool data = false;
  };

  void Reset() { *this = RecordScanner(); }

  Result Scan(std::string_view buf, size_t start, bool eof, Record* rec) {
    const char* const b = buf.data();
    const size_t n = buf.size();
    size_t p = start + off_;
    if (mode_ == kUnknown) {
      size_t s = p;
      while (s < n && (b[s] == ' ' || b[s] == '\t' || b[s] == '\0')) ++s;
      if (s == n && !eof) return kNeedMore;  // off_ stays: re-skip next time (cheap)
      if (s == n || b[s] == '\n' || b[s] == '#' || (b[s] == '\r' && (s + 1 == n ? eof : b[s + 1] == '\n'))) {
        if (s < n && b[s] == '\r' && s + 1 == n && !eof) return kNeedMore;
        mode_ = kSkip;
      } else {
        mode_ = kData;
      }
    }
    if (mode_ == kSkip) {
      const void* nl = p < n ? std::memchr(b + p, '\n', n - p) : nullptr;
      if (nl == nullptr) {
        if (!eof) {
          off_ = n - start;
          return kNeedMore;
        }
        rec->end = n;
      } else {
        rec->end = static_cast<const char*>(nl) - b;
      }
      rec->data = false;
      Reset();
      return kDone;
    }
    // ScanLineEnd, from the start of the line (leading blanks count: a
    // blank sets `fields`, exactly as there).
    while (p < n) {
      char c = b[p];
      if (c == '\\') {
        if (p + 2 < n) {
          p += 2;
          continue;
        }
        if (!eof) break;  // whether it escapes depends on bytes not read yet
      }
      if (c == ' ') fields_ = true;
      if (fields_) {
        if (!quoted_ && c == '=') {
          ++p;
          ++equals_;
          continue;
        }
        if (!quoted_ && c == ',') {
          ++p;
          ++commas_;
          continue;
        }
        if (c == '"' && equals_ > commas_) {
          ++p;
          quoted_ = !quoted_;
          continue;
        }
      }
      if (c == '\n' && !quoted_) {
        rec->end = p;
        rec->data = true;
        Reset();
        return kDone;
      }
      ++p;
    }
    if (!eof) {
      off_ = p - start;
      return kNeedMore;
    }
    rec->end = n;
    rec->data = true;
    Reset();
    return kDone;
  }

 private:
  enum Mode { kUnknown, kSkip, kData };
  Mode mode_ = kUnknown;
  size_t off_ = 0;  // scanned so far, relative to the record start
  bool quoted_ = false;
  bool fields_ = false;
  int64_t equals_ = 0;
  int64_t commas_ = 0;
};

// ---- where batches go -------------------------------------------------------------
struct Rejected {
  int line = 0;  // in the batch body
  std::string reason;
};

class Sink {
 public:
  virtual ~Sink() = default;
  // Writes `body` (holding `lines` lines of data). A non-OK status is fatal.
  virtual Status Write(std::string_view body, uint64_t lines, uint64_t* written,
                       std::vector<Rejected>* rejected) = 0;
};

class EmbeddedSink : public Sink {
 public:
  EmbeddedSink(DB* db, const ImportArgs& a) : db_(db), database_(a.database) {
    wo_.precision = a.precision;
    wo_.create_database = a.create_db;
  }
  Status Write(std::string_view body, uint64_t lines, uint64_t* written,
               std::vector<Rejected>* rejected) override {
    auto r = db_->WriteLineProtocol(database_, body, wo_);
    if (!r.ok()) {
      if (r.status().code() == absl::StatusCode::kNotFound) {
        return absl::NotFoundError(absl::StrCat(r.status().message(), " (create it with --create-db)"));
      }
      return r.status();
    }
    // Lines, as the server sink counts them (a line is one point).
    *written = lines >= r->errors.size() ? lines - r->errors.size() : 0;
    for (auto& e : r->errors) rejected->push_back({e.line, std::move(e.reason)});
    return absl::OkStatus();
  }

 private:
  DB* db_;
  std::string database_;
  WriteOptions wo_;
};

// The server answers a batch with rejected lines by 400 and InfluxDB's
// message ("partial write: <reason> dropped=N" or the parse errors); m2mdb
// adds "line_errors" with line numbers, at most 100 per request. To count and
// number every rejected line exactly, also against InfluxDB itself, the batch
// is parsed here too when the server rejects some of it: parse errors come
// from the local parser, other rejections (type conflicts, limits) from the
// server's list and its dropped=N.
class ServerSink : public Sink {
 public:
  ServerSink(HttpClient* http, const ImportArgs& a) : http_(http) {
    query_ = {{"db", a.database}, {"precision", a.precision}};
    // An unknown precision is refused before any write; "" parses as ns.
    if (CheckLineProtocol("", a.precision).ok()) precision_ = a.precision;
  }
  Status Write(std::string_view body, uint64_t lines, uint64_t* written,
               std::vector<Rejected>* rejected) override {
    ASSIGN_OR_RETURN(HttpResponse r, http_->PostBody("/write", query_, body, "text/plain; charset=utf-8"));
    if (r.status == 204 || r.status == 200) {
      *written = lines;
      return absl::OkStatus();
    }
    std::string msg = ErrorFromBody(r);
    auto doc = ParseJson(r.body);
    const Json* error = doc.ok() ? doc->Find("error") : nullptr;
    std::string raw = error != nullptr ? error->text : "";
    if (r.status == 400 &&
        ((doc.ok() && doc->Find("line_errors") != nullptr) || absl::StartsWith(raw, "partial write") ||
         absl::StartsWith(raw, "unable to parse"))) {
      std::map<int, std::string> by_line;
      auto parse_errors = CheckLineProtocol(body, precision_);
      for (auto& e : parse_errors.ok() ? *parse_errors : std::vector<LineProtocolError>()) {
        by_line[e.line] = absl::StrCat("unable to parse '", e.text, "': ", e.reason);
      }
      uint64_t server_only = 0;
      if (const Json* le = doc.ok() ? doc->Find("line_errors") : nullptr; le != nullptr) {
        for (const Json& e : le->items) {
          const Json* line = e.Find("line");
          const Json* err = e.Find("error");
          int n = 0;
          if (line == nullptr || !absl::SimpleAtoi(line->text, &n)) continue;
          if (by_line.emplace(n, err != nullptr ? err->text : "rejected").second) server_only++;
        }
      }
      uint64_t dropped = 0;
      size_t pos = raw.rfind(" dropped=");
      if (pos != std::string::npos) (void)absl::SimpleAtoi(raw.substr(pos + 9), &dropped);
      uint64_t total = by_line.size() + (dropped > server_only ? dropped - server_only : 0);
      for (auto& [line, reason] : by_line) rejected->push_back({line, std::move(reason)});
      extra_rejected_ += total - rejected->size();
      *written = lines >= total ? lines - total : 0;
      return absl::OkStatus();
    }
    if (r.status == 404) msg += " (create it with --create-db)";
    if (r.status == 413) msg += " (lower --batch-size)";
    return absl::Status(r.status == 401 || r.status == 403 ? absl::StatusCode::kPermissionDenied
                                                           : absl::StatusCode::kUnavailable,
                        absl::StrCat("POST /write: ", msg));
  }
  // Rejected lines the server counted but did not list (beyond its 100).
  uint64_t extra_rejected() const { return extra_rejected_; }

 private:
  HttpClient* http_;
  Params query_;
  std::string precision_;  // for CheckLineProtocol; "" = ns
  uint64_t extra_rejected_ = 0;
};

// ---- progress ----------------------------------------------------------------------
// One line on stderr (a terminal only), redrawn at most every 200 ms:
//   1,234,567 lines   98.8 MB  41.2 MB/s  515,000 lines/s   52.7%  ETA 0:02
// Lines and MB count line protocol written so far (after gzip); the
// percentage is the position in the file of the last byte written, so for a
// gzip file it follows the compressed bytes that produced those lines.
class Progress {
 public:
  Progress(bool enabled, const Input* in) : enabled_(enabled), in_(in), start_(Clock::now()) {}

  // `lines` and `bytes` (uncompressed) have been written; `file_pos` is how
  // far into the file they reach.
  void Update(uint64_t lines, uint64_t bytes, uint64_t file_pos) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double mb = static_cast<double>(bytes) / 1e6;
    std::string line = absl::StrFormat(
        "\r%12s lines  %9.1f MB  %7.1f MB/s  %10s lines/s", WithCommas(lines), mb, secs > 0 ? mb / secs : 0.0,
        WithCommas(secs > 0 ? static_cast<uint64_t>(static_cast<double>(lines) / secs) : 0));
    if (in_->size() > 0) {
      double frac = static_cast<double>(file_pos) / static_cast<double>(in_->size());
      frac = std::min(frac, 1.0);
      absl::StrAppendFormat(&line, "  %5.1f%%", frac * 100);
      if (frac > 0) {
        // Capped at 999 hours: an early estimate over a huge file must not overflow.
        int64_t eta = static_cast<int64_t>(std::min(secs / frac - secs + 0.5, 999.0 * 3600));
        absl::StrAppendFormat(&line, "  ETA %d:%02d", eta / 60, eta % 60);
      }
    }
    line += "\033[K";
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    shown_ = true;
  }

  void Clear() {
    if (shown_) std::fputs("\r\033[K", stderr);
    shown_ = false;
  }

  static std::string WithCommas(uint64_t v) {
    std::string s = std::to_string(v);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
    return s;
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  const Input* in_;
  Clock::time_point start_;
  Clock::time_point last_{};
  bool shown_ = false;
};

// ---- the import loop -------------------------------------------------------------------
int RunImport(const ImportArgs& a) {
  if (a.database.empty()) {
    std::fprintf(stderr, "m2mdb import: --db is required\n");
    return 2;
  }
  if (a.batch_size == 0) {
    std::fprintf(stderr, "m2mdb import: --batch-size must be at least 1\n");
    return 2;
  }
  static const char* const kPrecisions[] = {"ns", "n", "u", "us", "ms", "s", "m", "h"};
  if (std::find(std::begin(kPrecisions), std::end(kPrecisions), a.precision) == std::end(kPrecisions)) {
    std::fprintf(stderr, "m2mdb import: --precision %s: use ns, u, ms, s, m or h\n", a.precision.c_str());
    return 2;
  }
  Input in;
  if (Status s = in.Open(a.file); !s.ok()) {
    std::fprintf(stderr, "m2mdb import: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  std::unique_ptr<DB> db;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<Sink> sink;
  ServerSink* server_sink = nullptr;
  if (a.target.embedded()) {
    db = OpenDataDir(a.target.data_dir, /*create_if_missing=*/true, "import");
    if (db == nullptr) return 2;
    sink = std::make_unique<EmbeddedSink>(db.get(), a);
  } else {
    auto h = ConnectHttp(a.target);
    if (!h.ok()) {
      std::fprintf(stderr, "m2mdb import: %s\n", std::string(h.status().message()).c_str());
      return 2;
    }
    http = std::move(*h);
    if (a.create_db) {
      auto r = http->PostForm("/query", {{"q", "CREATE DATABASE " + QuoteIdent(a.database)}});
      std::string err;
      if (!r.ok()) {
        err = std::string(r.status().message());
      } else if (r->status != 200) {
        err = ErrorFromBody(*r);
      } else if (auto doc = ParseJson(r->body); doc.ok()) {
        std::vector<query::StatementResult> results;
        std::vector<std::string> errors;
        ResultsFromJson(*doc, &results, &errors);
        if (!errors.empty()) err = errors.front();
      }
      if (!err.empty()) {
        std::fprintf(stderr, "m2mdb import: CREATE DATABASE %s: %s\n", a.database.c_str(), err.c_str());
        return 2;
      }
    }
    auto s = std::make_unique<ServerSink>(http.get(), a);
    server_sink = s.get();
    sink = std::move(s);
  }

  Progress progress(!a.quiet && IsTerminal(2), &in);
  const auto start = std::chrono::steady_clock::now();
  std::string buf;
  size_t batch_start = 0;  // offset in buf of the batch being built
  size_t pos = 0;          // offset in buf of the next record
  uint64_t batch_lines = 0;
  int64_t batch_first_line = 1;  // input line number of batch_start
  int64_t next_line = 1;         // input line number of pos
  uint64_t total_lines = 0, written = 0, rejected_count = 0;
  uint64_t bytes_read = 0;                                     // line protocol, after gzip
  uint64_t bytes_done = 0;                                     // of it, sent (written or rejected)
  std::vector<std::pair<int64_t, std::string>> rejected_list;  // first max_errors
  bool eof = false;
  RecordScanner scanner;
  Status fatal;
  Status truncated;  // the gzip file ended early: what came before it is imported

  auto flush = [&]() -> bool {
    if (pos == batch_start) return true;
    std::string_view body(buf.data() + batch_start, pos - batch_start);
    uint64_t w = 0;
    std::vector<Rejected> rej;
    if (batch_lines > 0) {
      fatal = sink->Write(body, batch_lines, &w, &rej);
      if (!fatal.ok()) return false;
    }
    written += w;
    rejected_count += rej.size();
    for (auto& r : rej) {
      if (rejected_list.size() < a.max_errors)
        rejected_list.emplace_back(batch_first_line + r.line - 1, std::move(r.reason));
    }
    bytes_done += pos - batch_start;
    batch_start = pos;
    batch_first_line = next_line;
    batch_lines = 0;
    // Where in the file the bytes sent end: for gzip, in proportion to the
    // compressed bytes that produced what was read.
    uint64_t file_pos =
        bytes_read == 0
            ? 0
            : static_cast<uint64_t>(static_cast<double>(in.consumed()) *
                                    (static_cast<double>(bytes_done) / static_cast<double>(bytes_read)));
    progress.Update(written + rejected_count, bytes_done, file_pos);
    return true;
  };

  while (true) {
    RecordScanner::Record rec;
    if (pos < buf.size() || eof) {
      if (pos == buf.size() && eof) break;
      if (scanner.Scan(buf, pos, eof, &rec) == RecordScanner::kDone) {
        // A record the truncation cut off has no newline: it is not sent.
        if (!truncated.ok() && rec.end == buf.size() && rec.data) break;
        next_line += 1 + std::count(buf.begin() + static_cast<std::ptrdiff_t>(pos),
                                    buf.begin() + static_cast<std::ptrdiff_t>(rec.end), '\n');
        pos = std::min(rec.end + 1, buf.size());
        if (rec.data) {
          batch_lines++;
          total_lines++;
        }
        if (batch_lines >= a.batch_size || pos - batch_start >= kMaxBatchBytes) {
          if (!flush()) break;
        }
        continue;
      }
    }
    // Need more input: drop what was sent, then read.
    if (batch_start > 0) {
      buf.erase(0, batch_start);
      pos -= batch_start;
      batch_start = 0;
    }
    size_t before = buf.size();
    Status s = in.Read(&buf, kReadChunk, &eof);
    bytes_read += buf.size() - before;
    if (!s.ok() && in.truncated()) {
      // Import every complete line before the end, then report it.
      truncated = s;
      eof = true;
      continue;
    }
    if (!s.ok()) {
      fatal = s;
      break;
    }
  }
  if (fatal.ok()) flush();
  if (fatal.ok() && !truncated.ok()) fatal = truncated;
  progress.Clear();
  if (server_sink != nullptr) rejected_count += server_sink->extra_rejected();
  if (db != nullptr) {
    Status s = db->Close();
    if (!s.ok() && fatal.ok()) fatal = s;
  }

  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& [line, reason] : rejected_list) {
    std::fprintf(stderr, "line %lld: %s\n", static_cast<long long>(line), reason.c_str());
  }
  if (rejected_count > rejected_list.size()) {
    std::fprintf(stderr, "... and %llu more rejected lines (--max-errors shows more)\n",
                 static_cast<unsigned long long>(rejected_count - rejected_list.size()));
  }
  std::string size = absl::StrFormat("%.1f MB", static_cast<double>(bytes_done) / 1e6);
  if (in.gzip()) absl::StrAppendFormat(&size, " from %.1f MB gzip", static_cast<double>(in.consumed()) / 1e6);
  std::printf("%s: %s line%s written, %s rejected, in %.1f s (%s, %s lines/s)\n", in.name().c_str(),
              Progress::WithCommas(written).c_str(), written == 1 ? "" : "s",
              Progress::WithCommas(rejected_count).c_str(), secs, size.c_str(),
              Progress::WithCommas(
                  secs > 0 ? static_cast<uint64_t>(static_cast<double>(written + rejected_count) / secs) : 0)
                  .c_str());
  std::fflush(stdout);
  if (!fatal.ok()) {
    std::fprintf(stderr,
                 "m2mdb import: %s\n  stopped at input line %lld (byte %llu of the line protocol); the lines "
                 "before it are written\n",
                 std::string(fatal.message()).c_str(), static_cast<long long>(batch_first_line),
                 static_cast<unsigned long long>(bytes_done));
    return kExitUsage;
  }
  return rejected_count == 0 ? kExitOk : kExitFailed;
}

}  // namespace

void RegisterImport(CLI::App* app, int* exit_code) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* cmd = app->add_subcommand(
      "import",
      "Write a line protocol file (plain or gzip; - for stdin) to a server or a data directory (--data-dir). "
      "Exit code 0: all lines written; 1: some lines rejected (listed on stderr with their line numbers); "
      "2: fatal error");
  cmd->add_option("file", args->file, "Line protocol file, .gz or plain; - reads stdin")->required();
  AddTargetOptions(cmd, &args->target);
  cmd->add_option("--db,-d", args->database, "Database to write to")->required();
  cmd->add_option("--precision", args->precision, "Timestamp unit in the file: ns|u|ms|s|m|h")
      ->capture_default_str();
  cmd->add_option("--batch-size", args->batch_size, "Lines per write request")->capture_default_str();
  cmd->add_flag("--create-db", args->create_db, "Create the database if it does not exist");
  cmd->add_option("--max-errors", args->max_errors, "Rejected lines to list")->capture_default_str();
  cmd->add_flag("--quiet,-q", args->quiet, "No progress bar");
  cmd->callback([args, exit_code] { *exit_code = RunImport(*args); });
}

}  // namespace m2mdb::cli

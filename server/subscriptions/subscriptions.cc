// Durable subscriptions: the manager (definitions, statements, metrics) and
// the lanes that send (subscriptions.h). Byte layout of what is persisted:
// docs/format/subscriptions.md.
#include "server/subscriptions/subscriptions.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include <sys/resource.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/http_client.h"
#include "nlohmann/json.hpp"

#include "m2mdb/log.h"
#include "server/gzip.h"
#include "server/subscriptions/origin.h"

namespace m2mdb::server {
namespace {

constexpr char kDefPrefix[] = "subscription/";
constexpr char kDefaultPolicy[] = "autogen";

std::string PolicyOf(const SubscriptionDef& d) {
  return d.retention_policy.empty() ? kDefaultPolicy : d.retention_policy;
}

std::string EncodeDef(const SubscriptionDef& d) {
  nlohmann::json j;
  j["name"] = d.name;
  j["database"] = d.database;
  j["retention_policy"] = d.retention_policy;
  j["mode"] = d.any ? "ANY" : "ALL";
  j["destinations"] = d.destinations;
  j["max_backlog_bytes"] = d.limits.max_bytes;
  j["max_backlog_age_seconds"] = d.limits.max_age_seconds;
  j["when_full"] = d.limits.refuse_writes ? "refuse_writes" : "drop_oldest";
  if (d.verify.every_seconds > 0) {
    j["verify_every_seconds"] = d.verify.every_seconds;
    j["verify_window_seconds"] = d.verify.window_seconds;
    j["verify_resend"] = d.verify.resend;
  }
  return j.dump();
}

StatusOr<SubscriptionDef> DecodeDef(const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("bad subscription definition");
  SubscriptionDef d;
  d.name = j.value("name", "");
  d.database = j.value("database", "");
  d.retention_policy = j.value("retention_policy", "");
  d.any = j.value("mode", "ALL") == "ANY";
  if (j.contains("destinations") && j["destinations"].is_array()) {
    for (const auto& x : j["destinations"]) {
      if (x.is_string()) d.destinations.push_back(x.get<std::string>());
    }
  }
  d.limits.max_bytes = j.value("max_backlog_bytes", d.limits.max_bytes);
  d.limits.max_age_seconds = j.value("max_backlog_age_seconds", d.limits.max_age_seconds);
  d.limits.refuse_writes = j.value("when_full", "drop_oldest") == "refuse_writes";
  // Absent in definitions stored before VERIFY EVERY existed: off.
  d.verify.every_seconds =
      std::clamp<int64_t>(j.value("verify_every_seconds", int64_t{0}), 0, kMaxVerifyEverySeconds);
  d.verify.window_seconds = std::clamp<int64_t>(j.value("verify_window_seconds", d.verify.window_seconds),
                                                3600, kMaxVerifyWindowSeconds);
  d.verify.resend = j.value("verify_resend", false);
  if (d.name.empty() || d.database.empty() || d.destinations.empty()) {
    return absl::DataLossError("incomplete subscription definition");
  }
  return d;
}

// A file name part: anything but [A-Za-z0-9_-] becomes '_'.
std::string FileSafe(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
  }
  return out;
}

// Prometheus label value escaping.
std::string Label(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

int64_t NowSeconds() { return absl::ToUnixSeconds(absl::Now()); }

// The end (past its '\n') of the line-protocol line starting at `pos`. A
// string field may hold a raw line break inside its quotes (influxd and our
// parser take it), so a piece cut at the first '\n' could split a point in
// two. Quotes count only in the field set: in the series key (up to the
// first unescaped space) a '"' is an ordinary character.
size_t LineEnd(std::string_view body, size_t pos) {
  const size_t n = body.size();
  size_t i = pos;
  // The series key, to the first unescaped space.
  for (; i < n && body[i] != ' ' && body[i] != '\n'; i++) {
    if (body[i] == '\\') i++;
  }
  // The field set: key=value pairs; only a value may be a quoted string.
  while (i < n && body[i] == ' ') {
    i++;
    for (;;) {
      for (; i < n && body[i] != '=' && body[i] != ' ' && body[i] != '\n'; i++) {
        if (body[i] == '\\') i++;
      }
      if (i >= n || body[i] != '=') break;  // not a field: the timestamp, or the end
      i++;
      if (i < n && body[i] == '"') {
        for (i++; i < n && body[i] != '"'; i++) {
          if (body[i] == '\\') i++;
        }
        i++;
      } else {
        for (; i < n && body[i] != ',' && body[i] != ' ' && body[i] != '\n'; i++) {
        }
      }
      if (i < n && body[i] == ',') {
        i++;
        continue;
      }
      break;
    }
    // A space then the timestamp; the loop head skips it.
  }
  const size_t nl = body.find('\n', std::min(i, n));
  return nl == std::string_view::npos ? n : nl + 1;
}

// UTC with a "Z", as influxd and the query answers print times.
std::string Rfc3339(int64_t ns) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

}  // namespace

// One sender: a WAL cursor and the destination(s) it delivers to (one with
// ALL; the subscription's list with ANY, failing over in order).
class Lane {
 public:
  Lane(DB* db, const SubscriptionOptions& options, SubscriptionDef def, std::vector<std::string> urls,
       std::string cursor_name)
      : db_(db),
        options_(options),
        def_(std::move(def)),
        urls_(std::move(urls)),
        cursor_name_(std::move(cursor_name)),
        rng_(std::random_device{}()) {}
  ~Lane() { Stop(); }

  void Start() {
    // The posting thread keeps the server's priority: it uses little CPU,
    // and each wake-up it waits for delays the next request.
    thread_ = std::thread([this] { Run(); });
    prep_thread_ = std::thread([this] {
      LowerPriority();
      Prepare();
    });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (prep_thread_.joinable()) prep_thread_.join();
  }
  const std::string& cursor_name() const { return cursor_name_; }
  bool full() const { return full_.load(); }
  uint64_t backlog_bytes() const { return backlog_bytes_.load(); }
  std::string destination_label() const {
    std::vector<std::string> masked;
    for (const auto& u : urls_) masked.push_back(MaskedDestination(u));
    return absl::StrJoin(masked, ",");
  }
  // Seconds since the destination last held every acknowledged write.
  int64_t lag_seconds() const {
    const int64_t t = caught_up_at_.load();
    return caught_up_.load() || t == 0 ? 0 : std::max<int64_t>(0, NowSeconds() - t);
  }

  std::atomic<uint64_t> points_sent{0};
  std::atomic<uint64_t> batches_sent{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> dropped_points{0};
  std::atomic<uint64_t> dead_letter_points{0};

 private:
  enum class Outcome { kSent, kRetry, kDeadLetter };
  enum class Delivery { kDone, kStopped, kOverBound };

  // The preparer's CPU (reading the WAL back, gzip) is what competes with
  // local ingest. Linux: a thread's nice value is its own (setpriority on
  // its tid); it is raised by sender_nice over the server's.
  void LowerPriority() {
    if (options_.sender_nice <= 0) return;
    const id_t tid = static_cast<id_t>(::gettid());
    errno = 0;
    const int now = ::getpriority(PRIO_PROCESS, tid);
    if (errno == 0 && ::setpriority(PRIO_PROCESS, tid, std::min(19, now + options_.sender_nice)) == 0) return;
    LogWarning("subscription ", def_.name, ": cannot lower the sender's priority: ", std::strerror(errno));
  }

  // Sleeps up to `ms` or until Stop; false when stopping.
  bool Wait(int64_t ms) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(ms), [this] { return stop_; });
    return !stop_;
  }
  bool stopping() {
    std::lock_guard<std::mutex> l(mu_);
    return stop_;
  }

  // Batches are read, rendered and gzipped ahead by the preparer thread
  // (Prepare) while the sender thread (Run) has the previous one in flight:
  // the destination's time and ours overlap, on the one connection. At most
  // this many wait (a lane holds ~3 batches with the one in flight); none is
  // posted before the one ahead of it was delivered and its cursor saved.
  static constexpr size_t kAheadBatches = 2;
  static constexpr uint64_t kAheadBytes = 2 << 20;

  struct Piece {
    size_t begin = 0, end = 0;  // of the piece in Batch::body
    uint64_t lines = 0;
    std::string gz;
  };
  // The writes from from_seq up to next_seq, ready to post.
  struct Batch {
    uint64_t from_seq = 0, next_seq = 0;
    uint64_t wal_bytes = 0;  // WAL payload bytes read
    uint64_t points = 0;
    // NowSeconds() minus the age of from_seq's WAL file when prepared: its
    // mtime, fixed once the file is closed; 0 if it was the active file.
    int64_t file_time = 0;
    Status error;  // reading at from_seq failed (no points then)
    std::string body;
    std::vector<Piece> pieces;  // body in pieces of at most batch_lines lines
  };

  static int64_t AgeOf(const Batch& b) { return b.file_time == 0 ? 0 : NowSeconds() - b.file_time; }

  // Points the preparer at `from_seq` (0: pause it), dropping what it had
  // prepared. The sender's thread only.
  void Restart(uint64_t from_seq) {
    WalQueueInfo info;
    if (from_seq != 0) info = db_->GetWalQueueInfo(from_seq);
    {
      std::lock_guard<std::mutex> l(mu_);
      gen_++;
      prep_from_ = from_seq;
      ready_.clear();
      ready_bytes_ = ready_wal_bytes_ = 0;
      at_end_ = 0;
      tail_bytes_ = info.backlog_bytes;
      tail_age_ = info.backlog_age_seconds;
    }
    cv_.notify_all();
  }

  // Reads one batch at `from_seq`.
  Batch ReadBatch(uint64_t from_seq, int64_t age_seconds) {
    Batch b;
    b.from_seq = from_seq;
    b.next_seq = from_seq;
    b.file_time = age_seconds > 0 ? NowSeconds() - age_seconds : 0;
    WalReadRequest req;
    req.from_seq = from_seq;
    req.database = def_.database;
    req.retention_policy = def_.retention_policy;
    req.max_bytes = options_.batch_bytes;
    req.max_points = options_.batch_lines;
    auto r = db_->ReadWalChanges(req, [&](const WalChange& c) {
      b.body += c.lines;
      b.points += c.points;
      return absl::OkStatus();
    });
    if (!r.ok()) {
      b.error = r.status();
      b.body.clear();
      b.points = 0;
      return b;
    }
    b.next_seq = r->next_seq;
    b.wal_bytes = r->bytes;
    // A single write may hold more than batch_lines points: pieces, each
    // a request of its own, the cursor moving after the last.
    size_t pos = 0;
    while (pos < b.body.size()) {
      Piece p;
      p.begin = pos;
      size_t end = pos;
      while (end < b.body.size() && p.lines < options_.batch_lines) {
        end = LineEnd(b.body, end);
        p.lines++;
      }
      p.end = end;
      Gzipper z(options_.gzip_level);
      if (!z.Add(std::string_view(b.body).substr(p.begin, p.end - p.begin), /*finish=*/true, &p.gz)) {
        b.error = absl::InternalError("gzip failed");
        b.body.clear();
        b.pieces.clear();
        b.points = 0;
        b.next_seq = from_seq;
        return b;
      }
      b.pieces.push_back(std::move(p));
      pos = end;
    }
    return b;
  }

  // The preparer thread: keeps up to kAheadBatches batches ready after the
  // last one handed to the sender, and measures the WAL after them.
  void Prepare() {
    uint64_t gen = 0, pos = 0;  // pos 0: paused
    bool idle = false;          // found nothing new last time: wait a poll
    for (;;) {
      bool room = false;
      {
        std::unique_lock<std::mutex> l(mu_);
        auto has_room = [&] { return ready_.size() < kAheadBatches && ready_bytes_ < kAheadBytes; };
        cv_.wait_for(l, std::chrono::milliseconds(options_.poll_ms),
                     [&] { return stop_ || gen != gen_ || (!idle && pos != 0 && has_room()); });
        if (stop_) return;
        if (gen != gen_) {
          gen = gen_;
          pos = prep_from_;
        }
        room = has_room();
      }
      idle = false;
      if (pos == 0) continue;
      // The reader the last read parked at pos makes this exact and cheap.
      const WalQueueInfo info = db_->GetWalQueueInfo(pos);
      {
        std::lock_guard<std::mutex> l(mu_);
        if (gen != gen_) continue;
        tail_bytes_ = info.backlog_bytes;
        tail_age_ = info.backlog_age_seconds;
      }
      // Full: the sender has work; only the backlog was re-measured (the
      // bound is checked while a batch is retried).
      if (!room) continue;
      Batch b = ReadBatch(pos, info.backlog_age_seconds);
      std::lock_guard<std::mutex> l(mu_);
      if (gen != gen_) continue;  // restarted meanwhile: thrown away
      if (!b.error.ok()) {
        ready_.push_back(std::move(b));
        pos = 0;  // until the sender restarts it
      } else if (b.next_seq == pos) {
        at_end_ = pos;
        idle = true;
        continue;
      } else {
        tail_bytes_ -= std::min(tail_bytes_, b.wal_bytes);
        pos = b.next_seq;
        if (b.points == 0 && !ready_.empty() && ready_.back().points == 0 && ready_.back().error.ok()) {
          // Only records of other databases: one cursor move for them all.
          ready_.back().next_seq = b.next_seq;
          ready_.back().wal_bytes += b.wal_bytes;
          ready_wal_bytes_ += b.wal_bytes;
        } else {
          ready_bytes_ += b.body.size();
          ready_wal_bytes_ += b.wal_bytes;
          ready_.push_back(std::move(b));
        }
      }
      cv_.notify_all();
    }
  }

  // The next prepared batch after `cursor`, waiting up to a poll for it;
  // none if there is none yet (and the lane is caught up if the preparer
  // found nothing after `cursor`).
  std::optional<Batch> Take(uint64_t cursor) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(options_.poll_ms), [this] { return stop_ || !ready_.empty(); });
    if (ready_.empty()) {
      if (at_end_ == cursor) {
        caught_up_.store(true);
        caught_up_at_.store(NowSeconds());
      }
      return std::nullopt;
    }
    Batch b = std::move(ready_.front());
    ready_.pop_front();
    ready_bytes_ -= b.body.size();
    ready_wal_bytes_ -= b.wal_bytes;
    l.unlock();
    cv_.notify_all();  // room for the preparer
    return b;
  }

  // Measures the backlog after the cursor — the batch in flight if any,
  // those prepared, and the WAL after them — and applies the bound. True if
  // the oldest writes must give way (DROP OLDEST); sets full_ otherwise.
  bool OverBound(const Batch* in_flight) {
    uint64_t bytes;
    int64_t age;
    {
      std::lock_guard<std::mutex> l(mu_);
      bytes = tail_bytes_ + ready_wal_bytes_;
      age = tail_age_;
      if (!ready_.empty()) age = std::max(age, AgeOf(ready_.front()));
    }
    if (in_flight != nullptr) {
      bytes += in_flight->wal_bytes;
      age = std::max(age, AgeOf(*in_flight));
    }
    backlog_bytes_.store(bytes);
    const bool over = bytes > def_.limits.max_bytes ||
                      (def_.limits.max_age_seconds > 0 && age > def_.limits.max_age_seconds);
    if (over && !def_.limits.refuse_writes) return true;
    full_.store(over);
    return false;
  }

  void Run() {
    uint64_t cursor = 0;
    for (const WalCursor& c : db_->ListWalCursors()) {
      if (c.name == cursor_name_) cursor = c.next_seq;
    }
    if (cursor == 0) {
      // Created before a crash that lost nothing but the cursor: start at
      // the end, as a new subscription does.
      if (Status s = db_->SetWalCursor(cursor_name_, 0); !s.ok()) LogError("subscription: ", s.ToString());
      for (const WalCursor& c : db_->ListWalCursors()) {
        if (c.name == cursor_name_) cursor = c.next_seq;
      }
    }
    caught_up_at_.store(NowSeconds());
    Restart(cursor);
    int64_t last_persist = 0;
    while (!stopping()) {
      if (OverBound(nullptr)) {
        Restart(0);
        DropOldest(&cursor);
        Restart(cursor);
        continue;
      }
      std::optional<Batch> b = Take(cursor);
      if (!b) continue;
      if (b->from_seq != cursor) {
        // Cannot happen (Restart drops what was prepared for another
        // position); resending from the cursor is always safe.
        LogError("subscription ", def_.name, ": prepared batch at ", b->from_seq, ", cursor at ", cursor);
        Restart(cursor);
        continue;
      }
      if (!b->error.ok()) {
        if (absl::IsOutOfRange(b->error)) {
          // Only if the cursor was lost (it holds its files otherwise).
          LogError("subscription ", def_.name, ": ", b->error.message(), "; resuming at the oldest record");
          cursor = db_->GetWalQueueInfo(cursor).first_seq;
        } else {
          LogError("subscription ", def_.name, ": reading the WAL: ", b->error.ToString());
          if (!Wait(1000)) return;
        }
        Restart(cursor);
        continue;
      }
      if (b->points == 0) {
        cursor = b->next_seq;
        // Records of other databases: move the cursor now and then so the
        // WAL files they fill can go.
        if (NowSeconds() - last_persist >= 1) {
          if (db_->SetWalCursor(cursor_name_, cursor).ok()) last_persist = NowSeconds();
        }
        continue;
      }
      // Behind from here on: lag counts from the last time it was caught up
      // (caught_up_at_, refreshed while idle).
      caught_up_.store(false);
      const Delivery d = Deliver(*b);
      if (d == Delivery::kStopped) return;  // the batch is resent after restart
      if (d == Delivery::kOverBound) {      // DropOldest takes it, counted
        Restart(0);
        DropOldest(&cursor);
        Restart(cursor);
        continue;
      }
      cursor = b->next_seq;
      // The cursor moves only once the batch is delivered, and is synced
      // before the next batch goes: a crash resends at most this batch and
      // those prepared behind it.
      for (;;) {
        Status s = db_->SetWalCursor(cursor_name_, cursor);
        if (s.ok()) break;
        LogError("subscription ", def_.name, ": saving the cursor: ", s.ToString());
        if (!Wait(1000)) return;
      }
      last_persist = NowSeconds();
    }
  }

  // Skips the oldest unsent writes until the backlog is within its bound,
  // counting their points.
  void DropOldest(uint64_t* cursor) {
    uint64_t dropped = 0;
    const uint64_t start = *cursor;
    for (;;) {
      WalQueueInfo info = db_->GetWalQueueInfo(*cursor);
      if (info.backlog_bytes <= def_.limits.max_bytes &&
          (def_.limits.max_age_seconds <= 0 || info.backlog_age_seconds <= def_.limits.max_age_seconds)) {
        break;
      }
      WalReadRequest req;
      req.from_seq = *cursor;
      req.database = def_.database;
      req.retention_policy = def_.retention_policy;
      req.max_bytes = 16 << 10;  // small steps: drop little more than needed
      auto r = db_->ReadWalChanges(req, [&](const WalChange& c) {
        dropped += c.points;
        return absl::OkStatus();
      });
      if (!r.ok() || r->records == 0) break;
      *cursor = r->next_seq;
    }
    if (*cursor == start) {
      Wait(options_.poll_ms);
      return;
    }
    Status s = db_->SetWalCursor(cursor_name_, *cursor);
    if (!s.ok()) LogError("subscription ", def_.name, ": saving the cursor: ", s.ToString());
    dropped_points.fetch_add(dropped);
    LogWarning("subscription ", def_.name, " (", destination_label(), "): backlog over its bound (",
               def_.limits.max_bytes, " bytes, ", def_.limits.max_age_seconds, " s): dropped the oldest ",
               dropped, " unsent points (WHEN FULL DROP OLDEST)");
  }

  // Posts the batch's pieces in order until each is delivered or
  // dead-lettered.
  Delivery Deliver(const Batch& b) {
    for (const Piece& p : b.pieces) {
      const Delivery d = DeliverPiece(b, p);
      if (d != Delivery::kDone) return d;
    }
    batches_sent.fetch_add(1);
    return Delivery::kDone;
  }

  Delivery DeliverPiece(const Batch& b, const Piece& p) {
    const std::string_view piece(b.body.data() + p.begin, p.end - p.begin);
    const uint64_t lines = p.lines;
    const std::string& gz = p.gz;
    int attempt = 0;
    size_t tried_this_round = 0;
    while (!stopping()) {
      const size_t idx = current_ % urls_.size();
      std::string why;
      int64_t retry_after_ms = 0;
      Outcome o = Post(idx, gz, &why, &retry_after_ms);
      if (o == Outcome::kSent) {
        points_sent.fetch_add(lines);
        return Delivery::kDone;
      }
      if (o == Outcome::kDeadLetter) {
        DeadLetter(idx, piece, why);
        dead_letter_points.fetch_add(lines);
        return Delivery::kDone;
      }
      retries.fetch_add(1);
      LogRetry(idx, why);
      if (OverBound(&b)) return Delivery::kOverBound;
      // ANY: the next destination at once; back off once all were tried.
      if (urls_.size() > 1) {
        current_++;
        if (++tried_this_round < urls_.size()) continue;
        tried_this_round = 0;
      }
      int64_t delay = std::min<int64_t>(options_.backoff_max_ms, static_cast<int64_t>(options_.backoff_min_ms)
                                                                     << std::min(attempt, 20));
      attempt++;
      // Full jitter over the upper half: destinations coming back are not
      // hit by every gateway at the same instant.
      delay = delay / 2 + static_cast<int64_t>(rng_() % static_cast<uint64_t>(delay / 2 + 1));
      delay = std::max(delay, retry_after_ms);
      // The backoff may be 30 s; the backlog bound is re-checked every
      // 200 ms meanwhile, so a full backlog is noticed while writes pour in.
      for (int64_t waited = 0; waited < delay; waited += 200) {
        if (!Wait(std::min<int64_t>(200, delay - waited))) return Delivery::kStopped;
        if (OverBound(&b)) return Delivery::kOverBound;
      }
    }
    return Delivery::kStopped;
  }

  Outcome Post(size_t idx, const std::string& gz, std::string* why, int64_t* retry_after_ms) {
    if (clients_.size() != urls_.size()) clients_.resize(urls_.size());
    std::string base, user, password;
    if (!SplitDestination(urls_[idx], &base, &user, &password)) {
      *why = "invalid destination URL";
      return Outcome::kDeadLetter;
    }
    if (clients_[idx] == nullptr) {
      client::HttpClientOptions co;
      co.url = base;
      co.basic_user = user;
      co.basic_password = password;
      if (!options_.origin_id.empty()) co.headers = {{kOriginHeader, options_.origin_id}};
      co.connect_timeout_seconds = 5;
      // A DROP SUBSCRIPTION or a shutdown waits for a request in flight: at
      // most this long for a destination that stopped answering.
      co.read_timeout_seconds = 30;
      co.write_timeout_seconds = 30;
      auto c = client::HttpClient::Create(co);
      if (!c.ok()) {
        *why = std::string(c.status().message());
        return Outcome::kRetry;
      }
      clients_[idx] = std::move(*c);
    }
    client::Params q = {{"db", def_.database}, {"precision", "ns"}};
    if (!def_.retention_policy.empty()) q.push_back({"rp", def_.retention_policy});
    auto res = clients_[idx]->PostEncoded("/write", q, gz, "text/plain; charset=utf-8", "gzip");
    if (!res.ok()) {
      clients_[idx].reset();  // a fresh connection next time
      *why = std::string(res.status().message());
      return Outcome::kRetry;
    }
    if (res->status >= 200 && res->status < 300) return Outcome::kSent;
    *why = absl::StrCat("HTTP ", res->status, ": ", res->body.substr(0, 300));
    while (!why->empty() && (why->back() == '\n' || why->back() == '\r')) why->pop_back();
    // 5xx and 429: the destination is unwell or busy. 404: influxd's and
    // our "database not found", which an operator may fix by creating it.
    if (res->status >= 500 || res->status == 429 || res->status == 404 || res->status == 408) {
      int64_t secs;
      if (absl::SimpleAtoi(res->retry_after, &secs) && secs > 0)
        *retry_after_ms = std::min<int64_t>(secs, 3600) * 1000;
      return Outcome::kRetry;
    }
    return Outcome::kDeadLetter;
  }

  void LogRetry(size_t idx, const std::string& why) {
    // One line per 10 s per lane: an outage of days must not fill the log.
    const int64_t now = NowSeconds();
    if (now - last_retry_log_ < 10) return;
    last_retry_log_ = now;
    LogWarning("subscription ", def_.name, " on ", def_.database, ".", PolicyOf(def_), ": ",
               MaskedDestination(urls_[idx]), " not delivered (", why, "); retrying, ", retries.load(),
               " retries so far");
  }

  void DeadLetter(size_t idx, std::string_view piece, const std::string& why) {
    const std::string path =
        absl::StrCat(options_.dead_letter_dir, "/", FileSafe(def_.database), ".", FileSafe(PolicyOf(def_)),
                     ".", FileSafe(def_.name), ".deadletter.lp");
    std::string header =
        absl::StrCat("# ", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone()),
                     " destination=", MaskedDestination(urls_[idx]), " reason=");
    for (char c : why) header.push_back(c == '\n' || c == '\r' ? ' ' : c);
    header.push_back('\n');
    // Comment lines, so the file can be fed to `m2mdb import` once the
    // cause is fixed.
    std::FILE* f = std::fopen(path.c_str(), "ab");
    if (f == nullptr) {
      LogError("subscription ", def_.name, ": cannot open the dead-letter file ", path, "; batch of ",
               std::count(piece.begin(), piece.end(), '\n'), " lines lost (", why, ")");
      return;
    }
    std::fwrite(header.data(), 1, header.size(), f);
    std::fwrite(piece.data(), 1, piece.size(), f);
    std::fflush(f);
    ::fdatasync(::fileno(f));
    std::fclose(f);
    LogWarning("subscription ", def_.name, ": ", MaskedDestination(urls_[idx]), " refused a batch (", why,
               "); its ", std::count(piece.begin(), piece.end(), '\n'), " lines went to ", path);
  }

  DB* const db_;
  const SubscriptionOptions options_;
  const SubscriptionDef def_;
  const std::vector<std::string> urls_;
  const std::string cursor_name_;
  std::thread thread_;       // Run: posts and moves the cursor
  std::thread prep_thread_;  // Prepare: reads, renders, gzips ahead
  std::mutex mu_;
  std::condition_variable cv_;  // stop_ and the prepared batches
  bool stop_ = false;           // guarded by mu_
  // The preparer's state, guarded by mu_: what it prepared after the batch
  // the sender has (ready_), where it starts after a Restart (prep_from_,
  // for generation gen_), the WAL after what it prepared (tail_*) and the
  // position where it last found nothing new (at_end_).
  std::deque<Batch> ready_;
  uint64_t ready_bytes_ = 0, ready_wal_bytes_ = 0;
  uint64_t gen_ = 0, prep_from_ = 0;
  uint64_t tail_bytes_ = 0;
  int64_t tail_age_ = 0;
  uint64_t at_end_ = 0;
  std::vector<std::unique_ptr<client::HttpClient>> clients_;  // the lane's thread only
  size_t current_ = 0;                                        // ANY: the destination in use
  std::mt19937_64 rng_;
  int64_t last_retry_log_ = 0;
  std::atomic<bool> full_{false};
  std::atomic<bool> caught_up_{true};
  std::atomic<int64_t> caught_up_at_{0};
  std::atomic<uint64_t> backlog_bytes_{0};
};

SubscriptionManager::SubscriptionManager(DB* db, SubscriptionOptions options)
    : db_(db), options_(std::move(options)) {}

SubscriptionManager::~SubscriptionManager() { Stop(); }

std::string SubscriptionManager::Key(const SubscriptionDef& def) {
  // \x1f cannot appear in what a user would name things, and sorts SHOW's
  // output by database, then policy, then name.
  return absl::StrCat(def.database, "\x1f", PolicyOf(def), "\x1f", def.name);
}

Status SubscriptionManager::Start() {
  ASSIGN_OR_RETURN(auto defs, db_->ListAppMeta(kDefPrefix));
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [key, value] : defs) {
    auto def = DecodeDef(value);
    if (!def.ok()) {
      LogError("subscriptions: ignoring ", key, ": ", def.status().message());
      continue;
    }
    // Its database or policy was dropped while no server ran (an embedded
    // `m2mdb query --data-dir`): it goes, as with DROP DATABASE here. Its
    // cursors go with the others of no subscription below.
    const std::vector<DatabaseOptions> dbs = db_->ListDatabases();
    bool exists = std::any_of(dbs.begin(), dbs.end(),
                              [&](const DatabaseOptions& d) { return d.name == def->database; });
    if (auto rps = db_->ListRetentionPolicies(def->database); exists && rps.ok()) {
      exists = std::any_of(rps->begin(), rps->end(),
                           [&](const RetentionPolicyInfo& p) { return p.name == PolicyOf(*def); });
    }
    if (!exists) {
      LogWarning("subscriptions: dropping ", def->name, " on ", def->database, ".", PolicyOf(*def),
                 ": the database or retention policy no longer exists");
      RETURN_IF_ERROR(db_->DeleteAppMeta(absl::StrCat(kDefPrefix, Key(*def))));
      continue;
    }
    RETURN_IF_ERROR(StartLanes(*def));
  }
  // Cursors of no subscription (a crash between a DROP's steps, or a
  // CREATE's) would keep WAL files for ever.
  std::set<std::string> live;
  for (const auto& [k, e] : subs_) {
    for (const auto& lane : e.lanes) live.insert(lane->cursor_name());
  }
  for (const WalCursor& c : db_->ListWalCursors()) {
    if (c.name.rfind("sub\x1f", 0) == 0 && live.count(c.name) == 0) {
      LogWarning("subscriptions: removing the WAL cursor of a subscription that no longer exists");
      RETURN_IF_ERROR(db_->DeleteWalCursor(c.name));
    }
  }
  if (!subs_.empty()) LogInfo("subscriptions: ", subs_.size(), " started");
  return absl::OkStatus();
}

Status SubscriptionManager::StartLanes(const SubscriptionDef& def) {
  Entry e;
  e.def = def;
  const std::string key = Key(def);
  if (def.any) {
    e.lanes.push_back(
        std::make_unique<Lane>(db_, options_, def, def.destinations, absl::StrCat("sub\x1f", key, "\x1f*")));
  } else {
    for (const auto& d : def.destinations) {
      e.lanes.push_back(std::make_unique<Lane>(db_, options_, def, std::vector<std::string>{d},
                                               absl::StrCat("sub\x1f", key, "\x1f", d)));
    }
  }
  for (auto& lane : e.lanes) lane->Start();
  if (def.verify.every_seconds > 0) {
    std::vector<const Lane*> lanes;
    for (const auto& lane : e.lanes) lanes.push_back(lane.get());
    e.verifier = std::make_unique<PeriodicVerifier>(
        def.verify.every_seconds,
        [this, def, lanes, record = e.verified,
         logged = std::make_shared<std::map<std::string, std::pair<std::string, int64_t>>>()](
            const std::function<bool()>& stopping) {
          // Only hours the sender has delivered: before the one the slowest
          // lane is still in, and the hour just closed from a minute past
          // its end (writes acknowledged at its last instant are in flight).
          int64_t lag = 0;
          for (const Lane* l : lanes) lag = std::max(lag, l->lag_seconds());
          int64_t end = absl::ToUnixNanos(absl::Now()) - (lag + 60) * 1000000000LL;
          end -= ((end % kVerifyHourNs) + kVerifyHourNs) % kVerifyHourNs;
          const int64_t start = end - def.verify.window_seconds * 1000000000LL;
          auto reports = VerifyDestinations(def, "", start, end, def.verify.resend, record.get(), stopping);
          if (!reports.ok()) return;
          for (const VerifyReport& r : *reports) {
            std::string line;
            if (!r.error.empty() && r.error != "cancelled") {
              line = absl::StrCat("subscription ", def.name, ": verifying ", r.destination,
                                  " failed: ", r.error);
            } else if (r.hours_differing > 0) {
              line = absl::StrCat("subscription ", def.name, ": ", r.destination, " differs in ",
                                  r.hours_differing, " of ", r.hours_checked, " series-hours (",
                                  r.points_missing, " points missing); ", r.hours_resent, " re-sent");
            }
            // A run every few seconds against a destination that stays down
            // (or keeps differing without RESEND) must not fill the log: a
            // line again only when it changes, or after 10 minutes.
            auto& [last_line, last_at] = (*logged)[r.destination];
            if (line.empty() || (line == last_line && NowSeconds() - last_at < 600)) continue;
            last_line = line;
            last_at = NowSeconds();
            LogWarning(line);
          }
        });
    e.verifier->Start();
  }
  subs_[key] = std::move(e);
  return absl::OkStatus();
}

void SubscriptionManager::Stop() {
  std::map<std::string, Entry> subs;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopped_ = true;
    subs.swap(subs_);
  }
  for (auto& [k, e] : subs) {
    if (e.verifier) e.verifier->Stop();
  }
  for (auto& [k, e] : subs) {
    for (auto& lane : e.lanes) lane->Stop();
  }
}

Status SubscriptionManager::Remove(const std::string& key, Entry e) {
  // Definition first: a crash before the cursors go leaves cursors
  // without a definition, which Start removes.
  Status s = db_->DeleteAppMeta(absl::StrCat(kDefPrefix, key));
  if (e.verifier) e.verifier->Stop();
  for (auto& lane : e.lanes) lane->Stop();
  for (auto& lane : e.lanes) {
    if (s.ok()) s = db_->DeleteWalCursor(lane->cursor_name());
  }
  return s;
}

Status SubscriptionManager::RemoveWhere(const std::function<bool(const SubscriptionDef&)>& match) {
  std::lock_guard<std::mutex> ddl(ddl_mu_);
  std::vector<std::pair<std::string, Entry>> gone;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = subs_.begin(); it != subs_.end();) {
      if (match(it->second.def)) {
        gone.emplace_back(it->first, std::move(it->second));
        it = subs_.erase(it);
      } else {
        ++it;
      }
    }
  }
  Status first;
  for (auto& [key, e] : gone) {
    LogInfo("subscriptions: dropping ", e.def.name, " on ", e.def.database, ".", PolicyOf(e.def),
            " with its database or retention policy");
    Status s = Remove(key, std::move(e));
    if (first.ok()) first = s;
  }
  return first;
}

Status SubscriptionManager::DropDatabase(std::string_view database) {
  return RemoveWhere([&](const SubscriptionDef& d) { return d.database == database; });
}

Status SubscriptionManager::DropRetentionPolicy(std::string_view database,
                                                std::string_view retention_policy) {
  return RemoveWhere(
      [&](const SubscriptionDef& d) { return d.database == database && PolicyOf(d) == retention_policy; });
}

StatusOr<std::vector<VerifyReport>> SubscriptionManager::VerifyDestinations(
    const SubscriptionDef& def, const std::string& destination, int64_t start_ns, int64_t end_ns, bool resend,
    VerifyRecord* record, const std::function<bool()>& cancelled) {
  std::vector<std::string> urls;
  for (const auto& d : def.destinations) {
    if (destination.empty() || d == destination || MaskedDestination(d) == destination) urls.push_back(d);
  }
  if (urls.empty()) {
    return absl::NotFoundError(absl::StrCat("destination ", MaskedDestination(destination),
                                            " is not one of subscription ", def.name, "'s"));
  }
  std::lock_guard<std::mutex> run(record->run_mu());
  std::unique_ptr<VerifySide> local = LocalVerifySide(db_);
  VerifyRequest req;
  req.database = def.database;
  req.retention_policy = PolicyOf(def);
  req.start_ns = start_ns;
  req.end_ns = end_ns;
  req.resend = resend;
  req.cancelled = cancelled;
  auto one = [&](const std::string& url) {
    auto remote = HttpVerifySide(url);
    if (!remote.ok()) {
      VerifyReport r;
      r.at_ns = absl::ToUnixNanos(absl::Now());
      r.start_ns = start_ns;
      r.end_ns = end_ns;
      r.error = std::string(remote.status().message());
      r.destination = MaskedDestination(url);
      return r;
    }
    VerifyReport r = Verify(local.get(), remote->get(), req);
    r.destination = MaskedDestination(url);
    return r;
  };
  std::vector<VerifyReport> out;
  if (def.any) {
    // ANY: each write reached one of them; only the one in use can be
    // compared, so the first that answers is (in the lane's order).
    std::vector<std::string> masked;
    for (const auto& d : def.destinations) masked.push_back(MaskedDestination(d));
    VerifyReport r;
    for (const auto& u : urls) {
      r = one(u);
      if (r.error.empty() || r.error == "cancelled") break;
    }
    record->Add(absl::StrJoin(masked, ","), r);
    out.push_back(std::move(r));
    return out;
  }
  for (const auto& u : urls) {
    VerifyReport r = one(u);
    record->Add(r.destination, r);
    out.push_back(std::move(r));
    if (cancelled && cancelled()) break;
  }
  return out;
}

query::StatementResult SubscriptionManager::RunVerify(const SubscriptionStatement& st, int statement_id) {
  query::StatementResult r;
  r.statement_id = statement_id;
  SubscriptionDef def;
  def.name = st.name;
  def.database = st.database;
  def.retention_policy = st.retention_policy;
  if (def.retention_policy.empty()) {
    if (auto rps = db_->ListRetentionPolicies(st.database); rps.ok()) {
      for (const auto& p : *rps) {
        if (p.is_default) def.retention_policy = p.name;
      }
    }
  }
  std::shared_ptr<VerifyRecord> record;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = subs_.find(Key(def));
    if (stopped_ || it == subs_.end()) {
      r.error = stopped_ ? "server is shutting down" : "subscription not found";
      return r;
    }
    def = it->second.def;
    record = it->second.verified;
  }
  const int64_t end = st.end_ns != 0 ? st.end_ns : absl::ToUnixNanos(absl::Now());
  const int64_t start = st.start_ns != 0 ? st.start_ns : end - 24 * kVerifyHourNs;
  if (end <= start) {
    r.error = "END must be after START";
    return r;
  }
  // A shutdown stops it between steps, as the periodic ones.
  auto reports = VerifyDestinations(def, st.destination, start, end, st.resend, record.get(), [this] {
    std::lock_guard<std::mutex> l(mu_);
    return stopped_;
  });
  if (!reports.ok()) {
    r.error = std::string(reports.status().message());
    return r;
  }
  query::ResultSeries summary;
  summary.name = "verify";
  summary.columns = {"destination",     "verified_at",    "start",        "end",  "hours_checked",
                     "hours_differing", "points_missing", "hours_resent", "error"};
  query::ResultSeries diffs;
  diffs.name = "differences";
  diffs.columns = {"destination",   "measurement",       "tags", "field", "hour",
                   "source_points", "destination_points"};
  for (const VerifyReport& v : *reports) {
    summary.values.push_back(
        {query::Value(v.destination), query::Value(Rfc3339(v.at_ns)), query::Value(Rfc3339(v.start_ns)),
         query::Value(Rfc3339(v.end_ns)), query::Value(v.hours_checked), query::Value(v.hours_differing),
         query::Value(v.points_missing), query::Value(v.hours_resent), query::Value(v.error)});
    for (const VerifyDifference& d : v.differences) {
      std::string tags;
      for (const auto& [k, val] : d.tags) absl::StrAppend(&tags, tags.empty() ? "" : ",", k, "=", val);
      diffs.values.push_back({query::Value(v.destination), query::Value(d.measurement), query::Value(tags),
                              query::Value(d.field), query::Value(Rfc3339(d.hour_ns)), query::Value(d.source),
                              query::Value(d.destination)});
    }
    // The error names the side that failed (the source, or the destination's URL).
    if (!v.error.empty() && r.error.empty()) r.error = v.error;
  }
  r.series.push_back(std::move(summary));
  if (!diffs.values.empty()) r.series.push_back(std::move(diffs));
  return r;
}

query::StatementResult SubscriptionManager::Run(const SubscriptionStatement& st, int statement_id) {
  using K = SubscriptionStatement::Kind;
  if (st.kind == K::kVerify) return RunVerify(st, statement_id);
  query::StatementResult r;
  r.statement_id = statement_id;
  // ddl_mu_ orders statements; mu_ (taken by every local write through
  // CheckWritable) is held only for the map itself, never while a lane is
  // stopped (which may wait for a request in flight).
  std::lock_guard<std::mutex> ddl(ddl_mu_);
  std::unique_lock<std::mutex> l(mu_);
  if (stopped_) {
    r.error = "server is shutting down";
    return r;
  }
  SubscriptionDef def;
  def.name = st.name;
  def.database = st.database;
  def.retention_policy = st.retention_policy;
  // `ON db` names the database's default policy as it is now; the
  // subscription keeps that name (a later change of default does not move
  // it, as data written to a named policy does not move).
  std::vector<RetentionPolicyInfo> policies;
  if (auto rps = db_->ListRetentionPolicies(st.database); rps.ok()) policies = *std::move(rps);
  if (def.retention_policy.empty()) {
    for (const auto& p : policies) {
      if (p.is_default) def.retention_policy = p.name;
    }
  }
  const std::string key = Key(def);
  auto database_exists = [&] {
    for (const auto& d : db_->ListDatabases()) {
      if (d.name == st.database) return true;
    }
    return false;
  };
  switch (st.kind) {
    case K::kCreate: {
      for (const auto& d : st.destinations) {
        std::string base, user, password;
        if (!SplitDestination(d, &base, &user, &password)) {
          r.error = absl::StrCat("invalid subscription URL: ", d);
          return r;
        }
      }
      if (!database_exists()) {
        r.error = absl::StrCat("database not found: ", st.database);
        return r;
      }
      if (std::none_of(policies.begin(), policies.end(),
                       [&](const RetentionPolicyInfo& p) { return p.name == PolicyOf(def); })) {
        r.error = absl::StrCat("retention policy not found: ", PolicyOf(def));
        return r;
      }
      if (subs_.count(key) > 0) {
        r.error = "subscription already exists";
        return r;
      }
      {
        // Each lane is two threads and a connection: a bound for the server
        // as a whole, as kMaxDestinations is one per subscription.
        size_t lanes = st.any ? 1 : st.destinations.size();
        for (const auto& [k, e] : subs_) lanes += e.lanes.size();
        if (lanes > options_.max_lanes) {
          r.error = absl::StrCat("a server sends to at most ", options_.max_lanes,
                                 " destinations (ALL counts each, ANY one); drop a subscription first");
          return r;
        }
      }
      def.any = st.any;
      def.destinations = st.destinations;
      def.limits = st.limits;
      def.verify = st.verify;
      // Cursors first (at the end of the log: the subscription forwards
      // writes from now on, as influxd's), then the definition: a crash in
      // between leaves only cursors, which the next CREATE reuses.
      std::vector<std::string> cursors;
      if (def.any) {
        cursors.push_back(absl::StrCat("sub\x1f", key, "\x1f*"));
      } else {
        for (const auto& d : def.destinations) cursors.push_back(absl::StrCat("sub\x1f", key, "\x1f", d));
      }
      Status s;
      for (const auto& c : cursors) {
        if (s.ok()) s = db_->SetWalCursor(c, 0);
      }
      if (s.ok()) s = db_->PutAppMeta(absl::StrCat(kDefPrefix, key), EncodeDef(def));
      if (s.ok()) s = StartLanes(def);
      if (!s.ok()) r.error = std::string(s.message());
      return r;
    }
    case K::kDrop: {
      auto it = subs_.find(key);
      if (it == subs_.end()) {
        r.error = "subscription not found";
        return r;
      }
      Entry e = std::move(it->second);
      subs_.erase(it);
      l.unlock();
      Status s = Remove(key, std::move(e));
      if (!s.ok()) r.error = std::string(s.message());
      return r;
    }
    case K::kVerify:
      break;  // RunVerify, without the locks
    case K::kShow: {
      // influxd's shape: one series per database, its four columns first.
      std::map<std::string, query::ResultSeries> by_db;
      for (const auto& [k, e] : subs_) {
        query::ResultSeries& series = by_db[e.def.database];
        if (series.columns.empty()) {
          series.name = e.def.database;
          series.columns = {"retention_policy", "name",          "mode",           "destinations",
                            "lag_seconds",      "backlog_bytes", "dropped_points", "dead_letter_points"};
          // The last verification (VERIFY EVERY or VERIFY SUBSCRIPTION),
          // summed over the destinations.
          for (const char* c : {"verify", "verified_at", "verify_hours_checked", "verify_hours_differing",
                                "verify_points_missing", "verify_hours_resent", "verify_error"}) {
            series.columns.push_back(c);
          }
        }
        int64_t lag = 0;
        uint64_t backlog = 0, dropped = 0, dead = 0;
        for (const auto& lane : e.lanes) {
          lag = std::max(lag, lane->lag_seconds());
          backlog = std::max(backlog, lane->backlog_bytes());
          dropped += lane->dropped_points.load();
          dead += lane->dead_letter_points.load();
        }
        std::vector<std::string> masked;
        for (const auto& d : e.def.destinations) masked.push_back(MaskedDestination(d));
        int64_t verified_at = 0;
        uint64_t checked = 0, differing = 0, missing = 0, resent = 0;
        std::string error;
        for (const auto& [label, v] : e.verified->Snapshot()) {
          verified_at = std::max(verified_at, v.last.at_ns);
          checked += v.last.hours_checked;
          differing += v.last.hours_differing;
          missing += v.last.points_missing;
          resent += v.last.hours_resent;
          // The error names the side that failed already.
          if (!v.last.error.empty() && error.empty()) error = v.last.error;
        }
        series.values.push_back(
            {query::Value(PolicyOf(e.def)), query::Value(e.def.name),
             query::Value(std::string(e.def.any ? "ANY" : "ALL")), query::Value(absl::StrJoin(masked, ",")),
             query::Value(lag), query::Value(backlog), query::Value(dropped), query::Value(dead),
             query::Value(FormatVerifySchedule(e.def.verify)),
             query::Value(verified_at == 0 ? std::string() : Rfc3339(verified_at)), query::Value(checked),
             query::Value(differing), query::Value(missing), query::Value(resent), query::Value(error)});
      }
      for (auto& [db, series] : by_db) r.series.push_back(std::move(series));
      return r;
    }
  }
  return r;
}

Status SubscriptionManager::CheckWritable(std::string_view database) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [k, e] : subs_) {
    if (!e.def.limits.refuse_writes) continue;
    if (e.def.database != database) {
      // Writes to other databases go to the same WAL, whose files the full
      // lane's cursor keeps: left alone they would grow it until the disk
      // is full. They are refused once the backlog is twice its bound.
      for (const auto& lane : e.lanes) {
        if (lane->backlog_bytes() > 2 * e.def.limits.max_bytes) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "subscription ", e.def.name, " on ", e.def.database, ".", PolicyOf(e.def), " holds ",
              lane->backlog_bytes(), " bytes of WAL for ", lane->destination_label(),
              ", twice its bound; writes to every database are refused until it drains (WHEN FULL REFUSE "
              "WRITES)"));
        }
      }
      continue;
    }
    for (const auto& lane : e.lanes) {
      if (lane->full()) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "subscription ", e.def.name, " on ", e.def.database, ".", PolicyOf(e.def), ": the backlog for ",
            lane->destination_label(), " is full (", lane->backlog_bytes(), " bytes, bound ",
            e.def.limits.max_bytes, "); writes are refused until it drains (WHEN FULL REFUSE WRITES)"));
      }
    }
  }
  return absl::OkStatus();
}

std::string SubscriptionManager::RenderMetrics() const {
  std::lock_guard<std::mutex> l(mu_);
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
  };
  static const Metric kMetrics[] = {
      {"m2mdb_subscription_points_sent_total", "counter", "Points delivered (2xx) to the destination."},
      {"m2mdb_subscription_batches_sent_total", "counter", "Batches delivered or dead-lettered."},
      {"m2mdb_subscription_retries_total", "counter", "Failed delivery attempts that will be retried."},
      {"m2mdb_subscription_dropped_points_total", "counter",
       "Unsent points dropped because the backlog passed its bound (WHEN FULL DROP OLDEST)."},
      {"m2mdb_subscription_dead_letter_points_total", "counter",
       "Points the destination refused with a 4xx, written to the dead-letter file."},
      {"m2mdb_subscription_backlog_bytes", "gauge", "WAL bytes kept for the destination."},
      {"m2mdb_subscription_lag_seconds", "gauge", "Seconds since the destination last held every write."},
      {"m2mdb_subscription_refusing_writes", "gauge", "1 while local writes are refused (full backlog)."},
  };
  std::string out;
  for (size_t m = 0; m < sizeof(kMetrics) / sizeof(kMetrics[0]); ++m) {
    absl::StrAppend(&out, "# HELP ", kMetrics[m].name, " ", kMetrics[m].help, "\n# TYPE ", kMetrics[m].name,
                    " ", kMetrics[m].type, "\n");
    for (const auto& [k, e] : subs_) {
      for (const auto& lane : e.lanes) {
        uint64_t v = 0;
        switch (m) {
          case 0:
            v = lane->points_sent.load();
            break;
          case 1:
            v = lane->batches_sent.load();
            break;
          case 2:
            v = lane->retries.load();
            break;
          case 3:
            v = lane->dropped_points.load();
            break;
          case 4:
            v = lane->dead_letter_points.load();
            break;
          case 5:
            v = lane->backlog_bytes();
            break;
          case 6:
            v = static_cast<uint64_t>(lane->lag_seconds());
            break;
          case 7:
            v = lane->full() && e.def.limits.refuse_writes ? 1 : 0;
            break;
        }
        absl::StrAppend(&out, kMetrics[m].name, "{database=\"", Label(e.def.database),
                        "\",retention_policy=\"", Label(PolicyOf(e.def)), "\",subscription=\"",
                        Label(e.def.name), "\",destination=\"", Label(lane->destination_label()), "\"} ", v,
                        "\n");
      }
    }
  }
  // Verifications (VERIFY EVERY, VERIFY SUBSCRIPTION): a destination
  // appears once it was verified.
  static const Metric kVerifyMetrics[] = {
      {"m2mdb_subscription_verify_runs_total", "counter", "Verifications of the destination run."},
      {"m2mdb_subscription_verify_failures_total", "counter", "Verifications that ended with an error."},
      {"m2mdb_subscription_verify_hours_resent_total", "counter", "Series-hours re-sent by verifications."},
      {"m2mdb_subscription_verify_last_run_timestamp_seconds", "gauge",
       "When the last verification started."},
      {"m2mdb_subscription_verify_last_success", "gauge", "1 if the last verification ended without error."},
      {"m2mdb_subscription_verify_last_hours_checked", "gauge",
       "Series-hours the last verification compared."},
      {"m2mdb_subscription_verify_last_hours_differing", "gauge",
       "Series-hours whose point counts differed in the last verification."},
      {"m2mdb_subscription_verify_last_points_missing", "gauge",
       "Points the destination lacked in the last verification."},
  };
  std::vector<std::pair<const Entry*, std::map<std::string, VerifyRecord::Entry>>> verified;
  for (const auto& [k, e] : subs_) verified.emplace_back(&e, e.verified->Snapshot());
  for (size_t m = 0; m < sizeof(kVerifyMetrics) / sizeof(kVerifyMetrics[0]); ++m) {
    absl::StrAppend(&out, "# HELP ", kVerifyMetrics[m].name, " ", kVerifyMetrics[m].help, "\n# TYPE ",
                    kVerifyMetrics[m].name, " ", kVerifyMetrics[m].type, "\n");
    for (const auto& [e, snapshot] : verified) {
      for (const auto& [label, v] : snapshot) {
        const uint64_t values[] = {v.runs,
                                   v.failures,
                                   v.hours_resent,
                                   static_cast<uint64_t>(v.last.at_ns / 1000000000),
                                   v.last.error.empty() ? 1u : 0u,
                                   v.last.hours_checked,
                                   v.last.hours_differing,
                                   v.last.points_missing};
        absl::StrAppend(&out, kVerifyMetrics[m].name, "{database=\"", Label(e->def.database),
                        "\",retention_policy=\"", Label(PolicyOf(e->def)), "\",subscription=\"",
                        Label(e->def.name), "\",destination=\"", Label(label), "\"} ", values[m], "\n");
      }
    }
  }
  return out;
}

}  // namespace m2mdb::server

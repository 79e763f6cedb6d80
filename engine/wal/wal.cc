// The write-ahead log (docs/format/wal.md).
//
// A directory of segments "%020llu.wal", each named after the seq of its first
// record. A segment is a plain sequence of records, no padding, no blocks:
//
//   +-----------+-----------+-----------+----------------+
//   | crc (4)   | len (4)   | seq (8)   | payload (len)  |
//   +-----------+-----------+-----------+----------------+
//   crc = Mask(crc32c(payload ++ fixed64 seq)), all integers little-endian.
//
// The CRC runs over the payload first and the seq last so that the expensive
// part (the payload) is checksummed before the append mutex is taken; only the
// eight seq bytes are folded in under it.
//
// Invariants kept by WalImpl:
//  - seqs increase by one per record inside a segment; the first record of a
//    segment has seq == its name; a later segment's name is > the previous
//    segment's last seq (gaps are only possible at segment boundaries, when
//    min_next_seq jumps ahead of the log).
//  - every record with seq < the active segment's name is in a closed
//    segment, and closed segments were fdatasynced when they were closed
//    (except in kNone), so Sync only ever needs to fsync the active segment.
//  - a write error or an fsync error poisons the log (error_): after a failed
//    fsync the kernel may have dropped the dirty pages and a retry can report
//    success for data that is gone (PostgreSQL's "fsyncgate"); after a failed
//    write a partial record may sit in the file and anything appended behind
//    it would be cut at the next Open. The poisoned segment is never
//    appended to again. Recovery (TryRecover, run by the next Append, Rotate
//    or health probe, at most every kRecoveryIntervalMs) cuts it back to the
//    last byte we can vouch for, fsyncs it, closes it and starts a new
//    segment; only then is error_ cleared:
//      * after a write error: to the end of the last complete record (the
//        torn record was never acknowledged; the complete ones before it are
//        intact in the page cache and the fsync makes them durable);
//      * after an fsync error: to what the last successful fsync covered.
//        The records behind it may be gone from the disk whatever the page
//        cache says; their writers were answered with the error, and their
//        seqs are remembered as abandoned so that no later Sync reports them
//        durable. The next segment starts at next_seq_, leaving a gap in the
//        seqs at a segment boundary, which Open accepts.
//    So after recovery no segment holds a torn record in front of a newer
//    segment (Open would cut the log there and drop acknowledged records).
#include "engine/wal/wal.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "engine/util/coding.h"
#include "engine/util/crc32c.h"
#include "engine/util/file.h"
#include "engine/util/logging.h"

namespace m2mdb::wal {
namespace {

constexpr char kSuffix[] = ".wal";
constexpr size_t kNameDigits = 20;

std::string SegmentName(uint64_t first_seq) { return absl::StrFormat("%020u%s", first_seq, kSuffix); }

// Parses "%020llu.wal"; false for anything else (temp files, strays).
bool ParseSegmentName(const std::string& name, uint64_t* first_seq) {
  if (name.size() != kNameDigits + sizeof(kSuffix) - 1) return false;
  if (name.compare(kNameDigits, std::string::npos, kSuffix) != 0) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < kNameDigits; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *first_seq = v;
  return true;
}

struct SegmentFile {
  uint64_t first_seq;
  std::string name;
  uint64_t size;
};

// The segments in `dir`, ordered by first seq (the fixed-width names sort
// numerically).
StatusOr<std::vector<SegmentFile>> ListSegments(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  std::vector<SegmentFile> out;
  for (std::string& name : names) {
    uint64_t first;
    if (!ParseSegmentName(name, &first)) continue;
    ASSIGN_OR_RETURN(uint64_t size, FileSize(dir + "/" + name));
    out.push_back(SegmentFile{first, std::move(name), size});
  }
  std::sort(out.begin(), out.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.first_seq < b.first_seq; });
  return out;
}

uint32_t RecordCrc(uint32_t payload_crc, const char* seq_bytes) {
  return crc32c::Mask(crc32c::Extend(payload_crc, seq_bytes, 8));
}

// Outcome of parsing one segment.
struct ParseResult {
  uint64_t good_bytes = 0;  // offset just past the last good record
  uint64_t records = 0;
  uint64_t last_seq = 0;  // valid if records > 0
  std::string problem;    // empty if the whole segment parsed
};

// Walks the records of one segment's bytes. The first record must carry
// `first_seq`, each later one the previous seq + 1. Stops at the first record
// that is torn or corrupt and says why in `problem`. `visit` errors are
// returned as is (they are not corruption).
Status ParseSegment(std::string_view data, uint64_t first_seq,
                    absl::FunctionRef<Status(uint64_t offset, uint64_t seq, std::string_view payload)> visit,
                    ParseResult* r) {
  uint64_t expected = first_seq;
  uint64_t off = 0;
  const uint64_t size = data.size();
  while (off < size) {
    const char* p = data.data() + off;
    if (size - off < kWalRecordHeaderBytes) {
      r->problem = absl::StrCat("short header (", size - off, " bytes)");
      return absl::OkStatus();
    }
    const uint32_t stored_crc = DecodeFixed32(p);
    const uint64_t len = DecodeFixed32(p + 4);
    const uint64_t seq = DecodeFixed64(p + 8);
    if (len > kMaxWalRecordBytes) {
      r->problem = absl::StrCat("length ", len, " over the limit");
      return absl::OkStatus();
    }
    if (len > size - off - kWalRecordHeaderBytes) {
      r->problem = absl::StrCat("length ", len, " runs past the end of the file");
      return absl::OkStatus();
    }
    std::string_view payload(p + kWalRecordHeaderBytes, len);
    if (RecordCrc(crc32c::Value(payload), p + 8) != stored_crc) {
      r->problem = "checksum mismatch";
      return absl::OkStatus();
    }
    if (seq != expected) {
      r->problem = absl::StrCat("seq ", seq, " where ", expected, " was expected");
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(visit(off, seq, payload));
    off += kWalRecordHeaderBytes + len;
    r->good_bytes = off;
    r->records++;
    r->last_seq = seq;
    expected = seq + 1;
  }
  return absl::OkStatus();
}

// Recovery from a poisoned log is retried at most this often: every write
// during a disk-full period would otherwise pay a truncate, an fsync and a
// file creation.
constexpr int64_t kRecoveryIntervalMs = 100;

// What a client is told: no file paths (the full error goes to the log).
Status PublicError(const Status& s) {
  if (absl::IsResourceExhausted(s)) {
    return absl::ResourceExhaustedError(
        "write-ahead log: no space left on the data volume; writes are refused until space is freed");
  }
  return absl::Status(
      s.code(),
      "write-ahead log: I/O error; writes are refused until it recovers (details in the server log)");
}

uint64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class WalImpl final : public Wal {
 public:
  explicit WalImpl(WalOptions options) : options_(std::move(options)) {}
  ~WalImpl() override { Close().IgnoreError(); }

  // Lists, replays and repairs the log; opens the fresh active segment.
  Status Recover(uint64_t replay_from,
                 absl::FunctionRef<Status(uint64_t seq, std::string_view payload)> replay);
  void StartBackgroundSync();

  StatusOr<uint64_t> Append(std::string_view payload) override;
  Status Sync(uint64_t seq) override;
  Status TryRecover() override;
  // The recovery itself (see TryRecover in wal.h), without the space probe.
  Status RecoverFromError();
  void EndFailurePeriod(std::string_view why);
  Status health() const override;
  uint64_t failures() const override { return failures_.load(std::memory_order_relaxed); }
  StatusOr<uint64_t> Rotate() override;
  Status RemoveBefore(uint64_t seq) override;
  uint64_t last_seq() const override { return last_seq_.load(std::memory_order_acquire); }
  WalStats stats() const override;
  uint64_t size_bytes() const override { return size_bytes_.load(std::memory_order_relaxed); }
  Status Close() override;
  uint64_t durable_seq() const override;
  uint64_t first_seq() const override;
  uint64_t BytesFrom(uint64_t seq) const override;
  int64_t AgeSecondsOf(uint64_t seq) const override;
  std::unique_ptr<WalReader> NewReader(uint64_t from_seq) override;

  struct SegmentSnapshot {
    uint64_t first_seq;
    uint64_t size;  // of complete records only
  };
  // The segments (closed ones, then the active one up to its last complete
  // record) and the highest seq a reader may return, taken together.
  void Snapshot(std::vector<SegmentSnapshot>* segs, uint64_t* limit) const;
  // Bytes from offset `off` of segment `first` to the end of the log.
  uint64_t BytesFromPosition(uint64_t first, uint64_t off) const;
  std::string PathOf(uint64_t first_seq) const { return options_.dir + "/" + SegmentName(first_seq); }

 private:
  struct ClosedSegment {
    uint64_t first_seq;
    uint64_t size;
  };

  bool syncs() const { return options_.sync_mode != WalSyncMode::kNone; }

  // fdatasync `f`, timed and counted. Does not touch the sticky error.
  Status TimedSync(AppendFile* f);
  // Group commit: returns once every record <= `seq` is durable. At most one
  // thread (the leader) fsyncs at a time, without holding mu_.
  // REQUIRES: mu_ and sync_mu_ not held.
  Status SyncTo(uint64_t seq);
  // Records `s` as the sticky error (first one wins) and returns it.
  // REQUIRES: sync_mu_ not held.
  Status Poison(const Status& s, bool from_fsync);
  Status StickyError();
  // Whether `seq` was abandoned by a recovery after an fsync error.
  bool AbandonedLocked(uint64_t seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  // Closes the active segment (fsynced unless kNone) and starts one named
  // next_seq_. REQUIRES: mu_ held, the active segment non-empty.
  Status RotateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BatchLoop();

  const WalOptions options_;

  // Lock order: mu_ before sync_mu_. The sync leader never holds sync_mu_
  // while it takes mu_.
  mutable absl::Mutex mu_;  // the append path: file order == seq order
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Shared so that a sync leader can fsync a segment that a concurrent
  // rotation has just retired: the fd stays open until both are done.
  std::shared_ptr<AppendFile> file_ ABSL_GUARDED_BY(mu_);
  uint64_t active_first_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // End of the last complete record in file_ (file_->size() may include a
  // torn one after a failed write).
  uint64_t good_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Bumped whenever file_ changes, so a sync leader can tell whether the
  // file it synced is still the active one.
  uint64_t file_gen_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<ClosedSegment> closed_segments_ ABSL_GUARDED_BY(mu_);
  uint64_t closed_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  mutable absl::Mutex sync_mu_;
  absl::CondVar sync_cv_;  // signalled when a leader finishes
  bool sync_running_ ABSL_GUARDED_BY(sync_mu_) = false;
  uint64_t synced_seq_ ABSL_GUARDED_BY(sync_mu_) = 0;  // every seq <= it is durable
  // Bytes of the active file (generation synced_gen_) covered by the last
  // successful fsync: what recovery keeps after an fsync error.
  uint64_t synced_bytes_ ABSL_GUARDED_BY(sync_mu_) = 0;
  uint64_t synced_gen_ ABSL_GUARDED_BY(sync_mu_) = 0;
  Status error_ ABSL_GUARDED_BY(sync_mu_);         // the full error (logged)
  Status public_error_ ABSL_GUARDED_BY(sync_mu_);  // what callers get
  bool error_from_fsync_ ABSL_GUARDED_BY(sync_mu_) = false;
  int64_t next_recovery_ms_ ABSL_GUARDED_BY(sync_mu_) = 0;
  // [first, last] seq ranges dropped by recoveries after fsync errors.
  std::vector<std::pair<uint64_t, uint64_t>> abandoned_ ABSL_GUARDED_BY(sync_mu_);
  std::atomic<bool> failed_{false};  // error_ is set; read without sync_mu_
  std::atomic<uint64_t> failures_{0};
  // A failure period: from the first failure until a write succeeds or a
  // health probe finds room (the log may have recovered in between).
  std::atomic<bool> degraded_{false};
  Status period_error_ ABSL_GUARDED_BY(sync_mu_);
  int64_t next_probe_ms_ ABSL_GUARDED_BY(sync_mu_) = 0;

  std::atomic<bool> is_closed_{false};  // mirrors closed_ for lock-free checks
  std::atomic<uint64_t> last_seq_{0};
  std::atomic<uint64_t> size_bytes_{0};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> fsyncs_{0};
  std::atomic<uint64_t> fsync_nanos_{0};

  absl::Mutex bg_mu_;
  absl::CondVar bg_cv_;
  bool bg_stop_ ABSL_GUARDED_BY(bg_mu_) = false;
  std::thread bg_thread_;
};

Status WalImpl::Recover(uint64_t replay_from,
                        absl::FunctionRef<Status(uint64_t seq, std::string_view payload)> replay) {
  const std::string& dir = options_.dir;
  RETURN_IF_ERROR(CreateDirs(dir));
  ASSIGN_OR_RETURN(std::vector<SegmentFile> segs, ListSegments(dir));

  // A segment can be skipped unread when its successor starts at or below
  // replay_from: all its records are older than that.
  size_t start = 0;
  while (start + 1 < segs.size() && segs[start + 1].first_seq <= replay_from) ++start;

  uint64_t last_record_seq = 0;  // 0: no record read yet
  uint64_t max_name = 0;         // highest name among the segments kept
  size_t last_read_nonempty = SIZE_MAX;
  std::vector<bool> drop(segs.size(), false);  // empty segments, removed below
  size_t cut = segs.size();                    // segments [cut, end) are deleted
  uint64_t cut_offset = 0;
  std::string problem;

  for (size_t i = 0; i < start; ++i) max_name = std::max(max_name, segs[i].first_seq);
  for (size_t i = start; i < segs.size(); ++i) {
    const SegmentFile& seg = segs[i];
    if (last_record_seq != 0 && seg.first_seq <= last_record_seq) {
      // Overlaps the previous segment: cannot be a continuation.
      cut = i;
      cut_offset = 0;
      problem = absl::StrCat("segment starts at seq ", seg.first_seq, " but seq ", last_record_seq,
                             " was already read");
      break;
    }
    max_name = std::max(max_name, seg.first_seq);
    if (seg.size == 0) {
      drop[i] = true;  // holds nothing; the fresh segment replaces it
      continue;
    }
    ParseResult r;
    {
      ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::Open(dir + "/" + seg.name));
      RETURN_IF_ERROR(ParseSegment(
          map->data(), seg.first_seq,
          [&](uint64_t, uint64_t seq, std::string_view payload) -> Status {
            if (seq < replay_from) return absl::OkStatus();
            return replay(seq, payload);
          },
          &r));
    }  // unmapped before any truncation below
    if (r.records > 0) {
      last_record_seq = r.last_seq;
      last_read_nonempty = i;
    }
    if (!r.problem.empty()) {
      cut = i;
      cut_offset = r.good_bytes;
      problem = std::move(r.problem);
      break;
    }
  }

  if (cut < segs.size()) {
    // The log ends at (segs[cut], cut_offset): repair it the way the next
    // reader would see it, and make the repair durable before new records go
    // in behind it (a torn tail that reappeared after a power loss would
    // otherwise make the next Open delete the newer segments).
    uint64_t dropped = segs[cut].size - cut_offset;
    for (size_t j = cut + 1; j < segs.size(); ++j) dropped += segs[j].size;
    LogWarning("wal: ", dir, "/", segs[cut].name, " at offset ", cut_offset, ": ", problem,
               "; the log ends there, dropping ", dropped, " bytes (", segs.size() - cut - 1,
               " later segments)");
    for (size_t j = cut + 1; j < segs.size(); ++j) RETURN_IF_ERROR(RemoveFile(dir + "/" + segs[j].name));
    const std::string path = dir + "/" + segs[cut].name;
    if (cut_offset == 0) {
      RETURN_IF_ERROR(RemoveFile(path));
      drop[cut] = false;  // already gone
    } else {
      RETURN_IF_ERROR(TruncateFile(path, cut_offset));
      ASSIGN_OR_RETURN(std::unique_ptr<AppendFile> f, AppendFile::Open(path, /*truncate=*/false));
      RETURN_IF_ERROR(f->Sync());
      segs[cut].size = cut_offset;
      if (last_read_nonempty == cut) last_read_nonempty = SIZE_MAX;  // just synced
    }
    RETURN_IF_ERROR(SyncDir(dir));
    segs.resize(cut_offset == 0 ? cut : cut + 1);
  }

  // In the sync modes, what was replayed must be durable before the caller
  // acts on it: a kill -9 leaves unsynced records in the page cache only.
  // Older segments were fsynced when they were closed.
  if (syncs() && last_read_nonempty < segs.size()) {
    ASSIGN_OR_RETURN(std::unique_ptr<AppendFile> f,
                     AppendFile::Open(dir + "/" + segs[last_read_nonempty].name, /*truncate=*/false));
    RETURN_IF_ERROR(f->Sync());
  }

  uint64_t next = std::max<uint64_t>(options_.min_next_seq, 1);
  if (last_record_seq != 0) next = std::max(next, last_record_seq + 1);
  next = std::max(next, max_name);

  absl::MutexLock l(&mu_);
  for (size_t i = 0; i < segs.size(); ++i) {
    if (drop[i]) {
      RETURN_IF_ERROR(RemoveFile(dir + "/" + segs[i].name));
      continue;
    }
    closed_segments_.push_back(ClosedSegment{segs[i].first_seq, segs[i].size});
    closed_bytes_ += segs[i].size;
  }
  // Appends go to a fresh segment: no record of ours ever shares a file with
  // bytes a previous process may have left half-written.
  ASSIGN_OR_RETURN(std::unique_ptr<AppendFile> f, AppendFile::Open(PathOf(next), /*truncate=*/true));
  if (syncs()) RETURN_IF_ERROR(SyncDir(dir));
  file_ = std::move(f);
  good_bytes_ = 0;
  file_gen_++;
  active_first_seq_ = next;
  next_seq_ = next;
  last_seq_.store(next - 1, std::memory_order_release);
  size_bytes_.store(closed_bytes_, std::memory_order_relaxed);
  {
    absl::MutexLock sl(&sync_mu_);
    synced_seq_ = next - 1;
    synced_gen_ = file_gen_;
    synced_bytes_ = 0;
  }
  return absl::OkStatus();
}

void WalImpl::StartBackgroundSync() {
  if (options_.sync_mode == WalSyncMode::kBatch) bg_thread_ = std::thread([this] { BatchLoop(); });
}

Status WalImpl::TimedSync(AppendFile* f) {
  const uint64_t t0 = NowNanos();
  Status s = options_.fsync_hook_for_testing ? options_.fsync_hook_for_testing() : f->Sync();
  fsync_nanos_.fetch_add(NowNanos() - t0, std::memory_order_relaxed);
  fsyncs_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

Status WalImpl::Poison(const Status& s, bool from_fsync) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock l(&sync_mu_);
  if (error_.ok()) {
    error_ = Annotate(s, "wal: refusing writes until the log can be cut back and reopened");
    public_error_ = PublicError(s);
    failed_.store(true, std::memory_order_release);
    period_error_ = public_error_;
    // One line per failure period (until a write succeeds or the volume has
    // room again), not one per refused write: on a full disk every retry
    // recovers and fails again.
    if (!degraded_.exchange(true)) LogError(error_.message());
  }
  error_from_fsync_ = error_from_fsync_ || from_fsync;
  sync_cv_.SignalAll();
  return public_error_;
}

Status WalImpl::StickyError() {
  if (!failed_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::MutexLock l(&sync_mu_);
  return public_error_;
}

Status WalImpl::health() const {
  if (!failed_.load(std::memory_order_acquire) && !degraded_.load(std::memory_order_acquire)) {
    return absl::OkStatus();
  }
  absl::MutexLock l(&sync_mu_);
  return period_error_.ok() ? public_error_ : period_error_;
}

void WalImpl::EndFailurePeriod(std::string_view why) {
  if (degraded_.exchange(false)) LogInfo("wal: writable again (", ToAbsl(why), ")");
}

Status WalImpl::TryRecover() {
  RETURN_IF_ERROR(RecoverFromError());
  if (!degraded_.load(std::memory_order_acquire)) return absl::OkStatus();
  // The log took its last failure back, but no write has succeeded since:
  // say healthy only once the volume has room again (probed at most every
  // kRecoveryIntervalMs), so a health check does not flap on a full disk.
  {
    absl::MutexLock l(&sync_mu_);
    const int64_t now_ms = static_cast<int64_t>(NowNanos() / 1000000);
    if (now_ms < next_probe_ms_) return period_error_;
    next_probe_ms_ = now_ms + kRecoveryIntervalMs;
  }
  auto room = HasRoomFor(options_.dir, 1 << 20);
  if (room.ok() && *room) {
    EndFailurePeriod("the data volume has room");
    return absl::OkStatus();
  }
  absl::MutexLock l(&sync_mu_);
  return period_error_;
}

bool WalImpl::AbandonedLocked(uint64_t seq) const {
  for (const auto& [first, last] : abandoned_) {
    if (seq >= first && seq <= last) return true;
  }
  return false;
}

Status WalImpl::RecoverFromError() {
  if (!failed_.load(std::memory_order_acquire)) return absl::OkStatus();
  bool from_fsync;
  {
    // Become the only sync leader, so no fsync of the poisoned file runs
    // (or finishes and moves synced_seq_) while it is cut.
    absl::MutexLock l(&sync_mu_);
    while (sync_running_) sync_cv_.Wait(&sync_mu_);
    if (error_.ok()) return absl::OkStatus();  // another thread recovered
    const int64_t now_ms = static_cast<int64_t>(NowNanos() / 1000000);
    if (now_ms < next_recovery_ms_) return public_error_;
    next_recovery_ms_ = now_ms + kRecoveryIntervalMs;
    sync_running_ = true;
    from_fsync = error_from_fsync_;
  }
  uint64_t keep_seq = 0;  // every record <= it is durable after a success
  uint64_t new_gen = 0;
  uint64_t abandoned_first = 0, abandoned_last = 0;
  Status s;
  {
    absl::MutexLock l(&mu_);
    if (closed_) {
      s = absl::FailedPreconditionError("wal is closed");
    } else {
      uint64_t keep = good_bytes_;
      uint64_t last_kept = next_seq_ - 1;
      if (from_fsync && syncs()) {
        absl::MutexLock sl(&sync_mu_);
        keep = synced_gen_ == file_gen_ ? std::min(synced_bytes_, good_bytes_) : 0;
        last_kept = std::max(synced_seq_, active_first_seq_ - 1);
      }
      s = file_->Truncate(keep);
      if (s.ok() && syncs()) s = TimedSync(file_.get());
      std::unique_ptr<AppendFile> next;
      // Nothing was ever complete in the file: keep appending to it.
      const bool reuse = keep == 0 && next_seq_ == active_first_seq_;
      if (s.ok() && !reuse) {
        // A new segment named after the next seq: the cut one ends at
        // last_kept, and a seq past it must never sit in a file whose name
        // says otherwise.
        auto f = AppendFile::Open(PathOf(next_seq_), /*truncate=*/true);
        s = f.ok() ? absl::OkStatus() : f.status();
        if (s.ok()) next = std::move(*f);
        if (s.ok() && syncs()) s = SyncDir(options_.dir);
        if (!s.ok() && next != nullptr) {
          RemoveFile(next->path()).IgnoreError();
          next.reset();
        }
      }
      if (s.ok() && !reuse) {
        if (keep == 0) {
          RemoveFile(file_->path()).IgnoreError();  // holds nothing
        } else {
          closed_segments_.push_back(ClosedSegment{active_first_seq_, keep});
          closed_bytes_ += keep;
        }
        file_ = std::move(next);
        file_gen_++;
        good_bytes_ = 0;
        active_first_seq_ = next_seq_;
      } else if (s.ok()) {
        good_bytes_ = 0;
      }
      if (s.ok()) {
        if (last_kept + 1 <= next_seq_ - 1) {
          abandoned_first = last_kept + 1;
          abandoned_last = next_seq_ - 1;
        }
        keep_seq = next_seq_ - 1;
        new_gen = file_gen_;
        size_bytes_.store(closed_bytes_ + file_->size(), std::memory_order_relaxed);
      }
    }
  }
  absl::MutexLock l(&sync_mu_);
  sync_running_ = false;
  if (s.ok()) {
    if (abandoned_last != 0) {
      abandoned_.emplace_back(abandoned_first, abandoned_last);
      LogWarning("wal: records ", abandoned_first, "..", abandoned_last,
                 " were not acknowledged (their fsync failed) and are dropped from the log");
    }
    synced_seq_ = std::max(synced_seq_, keep_seq);
    synced_gen_ = new_gen;
    synced_bytes_ = 0;
    error_ = absl::OkStatus();
    public_error_ = absl::OkStatus();
    error_from_fsync_ = false;
    failed_.store(false, std::memory_order_release);
  }
  sync_cv_.SignalAll();
  return s.ok() ? absl::OkStatus() : public_error_;
}

StatusOr<uint64_t> WalImpl::Append(std::string_view payload) {
  if (payload.size() > kMaxWalRecordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("wal record of ", payload.size(), " bytes exceeds the limit of ", kMaxWalRecordBytes));
  }
  // Everything but the seq and the CRC is prepared outside the mutex.
  std::string rec;
  rec.resize(kWalRecordHeaderBytes + payload.size());
  char* p = rec.data();
  EncodeFixed32(p + 4, static_cast<uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(p + kWalRecordHeaderBytes, payload.data(), payload.size());
  const uint32_t payload_crc = crc32c::Value(payload);

  RETURN_IF_ERROR(RecoverFromError());
  absl::MutexLock l(&mu_);
  if (closed_) return absl::FailedPreconditionError("wal is closed");
  RETURN_IF_ERROR(StickyError());
  if (file_->size() > 0 && file_->size() + rec.size() > options_.segment_bytes) {
    RETURN_IF_ERROR(RotateLocked());
  }
  const uint64_t seq = next_seq_;
  EncodeFixed64(p + 8, seq);
  EncodeFixed32(p, RecordCrc(payload_crc, p + 8));
  // One write(2): when it returns the record is in the kernel, so it
  // survives kill -9 even before any fsync.
  Status s = options_.append_hook_for_testing ? options_.append_hook_for_testing() : absl::OkStatus();
  if (!s.ok()) {
    // A torn write: half the record reaches the file.
    file_->Append(std::string_view(rec).substr(0, rec.size() / 2)).IgnoreError();
  } else {
    s = file_->Append(rec);
  }
  if (!s.ok()) return Poison(s, /*from_fsync=*/false);
  good_bytes_ = file_->size();
  if (degraded_.load(std::memory_order_relaxed)) EndFailurePeriod("a write succeeded");
  next_seq_ = seq + 1;
  last_seq_.store(seq, std::memory_order_release);
  size_bytes_.store(closed_bytes_ + file_->size(), std::memory_order_relaxed);
  records_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(rec.size(), std::memory_order_relaxed);
  return seq;
}

Status WalImpl::RotateLocked() {
  assert(file_->size() > 0);  // an empty segment would collide with its successor's name
  ASSIGN_OR_RETURN(std::unique_ptr<AppendFile> next, AppendFile::Open(PathOf(next_seq_), /*truncate=*/true));
  if (syncs()) {
    // Closed segments are durable: Sync relies on it and never looks back.
    Status s = TimedSync(file_.get());
    if (s.ok()) s = SyncDir(options_.dir);
    if (!s.ok()) {
      RemoveFile(next->path()).IgnoreError();
      return Poison(s, /*from_fsync=*/true);
    }
  }
  closed_segments_.push_back(ClosedSegment{active_first_seq_, file_->size()});
  closed_bytes_ += file_->size();
  file_ = std::move(next);  // the old fd closes when a running sync leader lets go of it
  file_gen_++;
  good_bytes_ = 0;
  active_first_seq_ = next_seq_;
  size_bytes_.store(closed_bytes_, std::memory_order_relaxed);
  if (syncs()) {
    absl::MutexLock sl(&sync_mu_);
    synced_seq_ = std::max(synced_seq_, next_seq_ - 1);
    synced_gen_ = file_gen_;
    synced_bytes_ = 0;
    sync_cv_.SignalAll();
  }
  return absl::OkStatus();
}

Status WalImpl::SyncTo(uint64_t seq) {
  {
    absl::MutexLock l(&sync_mu_);
    for (;;) {
      if (!error_.ok()) return public_error_;
      if (!abandoned_.empty() && AbandonedLocked(seq)) {
        return absl::DataLossError("write-ahead log: this write was dropped after an fsync error");
      }
      if (synced_seq_ >= seq) return absl::OkStatus();
      if (!sync_running_) break;
      // A leader is fsyncing; it may cover `seq`, and if not, the next
      // leader (maybe us) will.
      sync_cv_.Wait(&sync_mu_);
    }
    sync_running_ = true;
  }
  // Leader. Everything appended up to `target` is either in `file` (written
  // before we looked) or in a closed segment, which is already durable.
  std::shared_ptr<AppendFile> file;
  uint64_t target, bytes, gen;
  {
    absl::MutexLock l(&mu_);
    file = file_;
    target = next_seq_ - 1;
    bytes = good_bytes_;
    gen = file_gen_;
  }
  Status s = file != nullptr ? TimedSync(file.get()) : absl::OkStatus();
  if (!s.ok()) {
    Poison(s, /*from_fsync=*/true).IgnoreError();
  }
  absl::MutexLock l(&sync_mu_);
  sync_running_ = false;
  if (s.ok()) {
    synced_seq_ = std::max(synced_seq_, target);
    if (gen == synced_gen_) synced_bytes_ = std::max(synced_bytes_, bytes);
  }
  sync_cv_.SignalAll();
  if (!error_.ok()) return public_error_;
  if (!abandoned_.empty() && AbandonedLocked(seq)) {
    return absl::DataLossError("write-ahead log: this write was dropped after an fsync error");
  }
  return absl::OkStatus();
}

Status WalImpl::Sync(uint64_t seq) {
  if (is_closed_.load(std::memory_order_acquire)) return absl::FailedPreconditionError("wal is closed");
  if (seq > last_seq_.load(std::memory_order_acquire)) {
    return absl::InvalidArgumentError(
        absl::StrCat("wal Sync(", seq, ") beyond the last record ", last_seq()));
  }
  if (options_.sync_mode != WalSyncMode::kAlways) return StickyError();
  return SyncTo(seq);
}

StatusOr<uint64_t> WalImpl::Rotate() {
  RETURN_IF_ERROR(RecoverFromError());
  absl::MutexLock l(&mu_);
  if (closed_) return absl::FailedPreconditionError("wal is closed");
  RETURN_IF_ERROR(StickyError());
  if (file_->size() > 0) RETURN_IF_ERROR(RotateLocked());
  return next_seq_;
}

Status WalImpl::RemoveBefore(uint64_t seq) {
  std::vector<std::string> doomed;
  {
    absl::MutexLock l(&mu_);
    if (closed_) return absl::FailedPreconditionError("wal is closed");
    // Only a prefix is removed, so the log never has holes. A segment is
    // wholly below `seq` when its successor starts at or below `seq`.
    while (!closed_segments_.empty()) {
      const uint64_t successor =
          closed_segments_.size() > 1 ? closed_segments_[1].first_seq : active_first_seq_;
      if (successor > seq) break;
      doomed.push_back(PathOf(closed_segments_.front().first_seq));
      closed_bytes_ -= closed_segments_.front().size;
      closed_segments_.pop_front();
    }
    size_bytes_.store(closed_bytes_ + file_->size(), std::memory_order_relaxed);
  }
  // Unlinked outside the mutex. No directory fsync: a deleted segment that
  // comes back after a power loss is only replayed and skipped again.
  Status result;
  for (const std::string& path : doomed) {
    Status s = RemoveFile(path);
    if (result.ok()) result = s;
  }
  return result;
}

WalStats WalImpl::stats() const {
  WalStats s;
  s.records = records_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.fsyncs = fsyncs_.load(std::memory_order_relaxed);
  s.fsync_nanos = fsync_nanos_.load(std::memory_order_relaxed);
  return s;
}

void WalImpl::BatchLoop() {
  absl::MutexLock l(&bg_mu_);
  while (!bg_stop_) {
    bg_cv_.WaitWithTimeout(&bg_mu_, absl::Milliseconds(std::max(1, options_.batch_interval_ms)));
    if (bg_stop_) break;
    bg_mu_.Unlock();
    // SyncTo returns at once when nothing new was appended. An error is
    // sticky and was logged by Poison; later Appends report it.
    SyncTo(last_seq_.load(std::memory_order_acquire)).IgnoreError();
    bg_mu_.Lock();
  }
}

Status WalImpl::Close() {
  {
    absl::MutexLock l(&mu_);
    if (closed_) return absl::FailedPreconditionError("wal is closed");
    closed_ = true;
    is_closed_.store(true, std::memory_order_release);
  }
  if (bg_thread_.joinable()) {
    {
      absl::MutexLock l(&bg_mu_);
      bg_stop_ = true;
      bg_cv_.Signal();
    }
    bg_thread_.join();
  }
  Status s = syncs() ? SyncTo(last_seq_.load(std::memory_order_acquire)) : StickyError();
  absl::MutexLock l(&mu_);
  file_.reset();  // closes the fd, or a running leader does when it is done
  return s;
}

uint64_t WalImpl::durable_seq() const {
  // kAlways acknowledges only what an fsync covered; the other modes
  // acknowledge after write(2), so a reader may see what a client saw.
  if (options_.sync_mode == WalSyncMode::kAlways) {
    absl::MutexLock l(&sync_mu_);
    return synced_seq_;
  }
  return last_seq_.load(std::memory_order_acquire);
}

uint64_t WalImpl::first_seq() const {
  absl::MutexLock l(&mu_);
  return closed_segments_.empty() ? active_first_seq_ : closed_segments_.front().first_seq;
}

uint64_t WalImpl::BytesFrom(uint64_t seq) const {
  absl::MutexLock l(&mu_);
  uint64_t bytes = file_ != nullptr ? good_bytes_ : 0;
  for (size_t i = closed_segments_.size(); i-- > 0;) {
    const uint64_t successor =
        i + 1 < closed_segments_.size() ? closed_segments_[i + 1].first_seq : active_first_seq_;
    if (successor <= seq) break;  // wholly below seq
    bytes += closed_segments_[i].size;
  }
  return bytes;
}

int64_t WalImpl::AgeSecondsOf(uint64_t seq) const {
  uint64_t first = 0;
  {
    absl::MutexLock l(&mu_);
    if (seq >= active_first_seq_) return 0;
    for (const ClosedSegment& c : closed_segments_) {
      if (c.first_seq > seq) break;
      first = c.first_seq;
    }
    if (first == 0) first = closed_segments_.empty() ? 0 : closed_segments_.front().first_seq;
  }
  struct stat st;
  if (first == 0 || ::stat(PathOf(first).c_str(), &st) != 0) return 0;
  const int64_t age = static_cast<int64_t>(::time(nullptr)) - static_cast<int64_t>(st.st_mtime);
  return age > 0 ? age : 0;
}

uint64_t WalImpl::BytesFromPosition(uint64_t first, uint64_t off) const {
  absl::MutexLock l(&mu_);
  auto part = [&](uint64_t seg_first, uint64_t size) -> uint64_t {
    if (seg_first == first) return size - std::min(size, off);
    return seg_first > first ? size : 0;
  };
  uint64_t bytes = file_ != nullptr ? part(active_first_seq_, good_bytes_) : 0;
  for (const ClosedSegment& c : closed_segments_) bytes += part(c.first_seq, c.size);
  return bytes;
}

void WalImpl::Snapshot(std::vector<SegmentSnapshot>* segs, uint64_t* limit) const {
  // durable_seq first: a record it covers is then surely in the list below
  // (appends only add behind it).
  *limit = durable_seq();
  absl::MutexLock l(&mu_);
  segs->clear();
  for (const ClosedSegment& c : closed_segments_) segs->push_back(SegmentSnapshot{c.first_seq, c.size});
  if (file_ != nullptr) segs->push_back(SegmentSnapshot{active_first_seq_, good_bytes_});
}

class WalReaderImpl final : public WalReader {
 public:
  WalReaderImpl(const WalImpl* wal, uint64_t from_seq) : wal_(wal), next_(from_seq) {}
  ~WalReaderImpl() override { CloseFile(); }

  uint64_t next_seq() const override { return next_; }
  uint64_t backlog_bytes() const override {
    // Positioned at next_'s record (file_first_, off_): everything behind
    // that position is unread.
    if (fd_ >= 0 && seq_at_off_ == next_) return wal_->BytesFromPosition(file_first_, off_);
    return wal_->BytesFrom(next_);
  }

  StatusOr<size_t> Read(uint64_t max_bytes,
                        absl::FunctionRef<Status(uint64_t seq, std::string_view payload)> visit) override {
    return ReadImpl(max_bytes, visit, /*seek_only=*/false);
  }
  Status Seek() override {
    return ReadImpl(
               0, [](uint64_t, std::string_view) { return absl::OkStatus(); }, /*seek_only=*/true)
        .status();
  }

 private:
  StatusOr<size_t> ReadImpl(uint64_t max_bytes,
                            absl::FunctionRef<Status(uint64_t seq, std::string_view payload)> visit,
                            bool seek_only) {
    uint64_t limit;
    wal_->Snapshot(&segs_, &limit);
    size_t visited = 0;
    uint64_t bytes = 0;
    char header[kWalRecordHeaderBytes];
    while (next_ <= limit && (visited == 0 || bytes < max_bytes)) {
      // The segment that holds next_: the last one starting at or below it.
      size_t idx = segs_.size();
      for (size_t i = 0; i < segs_.size() && segs_[i].first_seq <= next_; ++i) idx = i;
      if (idx == segs_.size()) {
        if (visited > 0) break;
        return absl::OutOfRangeError(absl::StrCat("wal: seq ", next_, " was removed (the oldest is ",
                                                  segs_.empty() ? next_ : segs_.front().first_seq, ")"));
      }
      const WalImpl::SegmentSnapshot& seg = segs_[idx];
      if (fd_ < 0 || file_first_ != seg.first_seq) {
        CloseFile();
        fd_ = ::open(wal_->PathOf(seg.first_seq).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) {
          if (errno == ENOENT) {
            return absl::OutOfRangeError(absl::StrCat("wal: seq ", next_, " was removed"));
          }
          return ErrnoStatus(absl::StrCat("wal: open ", wal_->PathOf(seg.first_seq)), errno);
        }
        file_first_ = seg.first_seq;
        off_ = 0;
        seq_at_off_ = seg.first_seq;
      }
      if (off_ + kWalRecordHeaderBytes > seg.size) {
        // The end of this segment as of the snapshot: go on in the next one
        // (its name may skip seqs after a recovery), or wait for appends.
        if (idx + 1 < segs_.size()) {
          next_ = std::max(next_, segs_[idx + 1].first_seq);
          CloseFile();
          continue;
        }
        break;
      }
      RETURN_IF_ERROR(PRead(header, kWalRecordHeaderBytes, off_));
      const uint32_t stored_crc = DecodeFixed32(header);
      const uint64_t len = DecodeFixed32(header + 4);
      const uint64_t seq = DecodeFixed64(header + 8);
      if (seq != seq_at_off_ || len > seg.size - off_ - kWalRecordHeaderBytes) {
        return absl::DataLossError(absl::StrCat("wal: segment ", SegmentName(seg.first_seq), " at offset ",
                                                off_, ": seq ", seq, " where ", seq_at_off_,
                                                " was expected, or a length past the end"));
      }
      if (seq < next_) {  // before the reader's position: skip unread
        off_ += kWalRecordHeaderBytes + len;
        seq_at_off_ = seq + 1;
        continue;
      }
      if (seq > limit || seek_only) break;
      payload_.resize(len);
      RETURN_IF_ERROR(PRead(payload_.data(), len, off_ + kWalRecordHeaderBytes));
      if (RecordCrc(crc32c::Value(payload_), header + 8) != stored_crc) {
        return absl::DataLossError(absl::StrCat("wal: segment ", SegmentName(seg.first_seq), " at offset ",
                                                off_, ": checksum mismatch"));
      }
      RETURN_IF_ERROR(visit(seq, payload_));
      off_ += kWalRecordHeaderBytes + len;
      seq_at_off_ = seq + 1;
      next_ = seq + 1;
      visited++;
      bytes += len;
    }
    return visited;
  }

  Status PRead(char* buf, uint64_t n, uint64_t off) {
    uint64_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, buf + done, n - done, static_cast<off_t>(off + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus("wal: read", errno);
      if (r == 0) return absl::DataLossError("wal: segment shorter than expected");
      done += static_cast<uint64_t>(r);
    }
    return absl::OkStatus();
  }
  void CloseFile() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  const WalImpl* const wal_;
  uint64_t next_;
  std::vector<WalImpl::SegmentSnapshot> segs_;
  int fd_ = -1;
  uint64_t file_first_ = 0;  // name of the open segment
  uint64_t off_ = 0;         // of the next record header in it
  uint64_t seq_at_off_ = 0;  // the seq that record must carry
  std::string payload_;
};

std::unique_ptr<WalReader> WalImpl::NewReader(uint64_t from_seq) {
  return std::make_unique<WalReaderImpl>(this, from_seq);
}

}  // namespace

StatusOr<std::unique_ptr<Wal>> Wal::Open(
    const WalOptions& options, uint64_t replay_from,
    absl::FunctionRef<Status(uint64_t seq, std::string_view payload)> replay) {
  if (options.dir.empty()) return absl::InvalidArgumentError("wal: empty directory");
  if (options.segment_bytes == 0) return absl::InvalidArgumentError("wal: segment_bytes must be > 0");
  auto wal = std::make_unique<WalImpl>(options);
  Status s = wal->Recover(replay_from, replay);
  if (!s.ok()) return Annotate(s, absl::StrCat("open wal ", options.dir));
  wal->StartBackgroundSync();
  return std::unique_ptr<Wal>(std::move(wal));
}

Status ScanWal(const std::string& dir,
               absl::FunctionRef<Status(const WalRecordInfo& info, std::string_view payload)> visit) {
  ASSIGN_OR_RETURN(std::vector<SegmentFile> segs, ListSegments(dir));
  uint64_t last = 0;
  bool any = false;
  for (const SegmentFile& seg : segs) {
    if (any && seg.first_seq <= last) {
      return absl::DataLossError(absl::StrCat("wal ", dir, "/", seg.name, " at offset 0: starts at seq ",
                                              seg.first_seq, " but seq ", last, " came before"));
    }
    if (seg.size == 0) continue;
    ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::Open(dir + "/" + seg.name));
    ParseResult r;
    WalRecordInfo info;
    info.segment = seg.name;
    RETURN_IF_ERROR(ParseSegment(
        map->data(), seg.first_seq,
        [&](uint64_t offset, uint64_t seq, std::string_view payload) {
          info.offset = offset;
          info.seq = seq;
          return visit(info, payload);
        },
        &r));
    if (!r.problem.empty()) {
      return absl::DataLossError(
          absl::StrCat("wal ", dir, "/", seg.name, " at offset ", r.good_bytes, ": ", r.problem));
    }
    if (r.records > 0) {
      last = r.last_seq;
      any = true;
    }
  }
  return absl::OkStatus();
}

}  // namespace m2mdb::wal

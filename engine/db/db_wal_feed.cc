// The WAL as a durable queue (DESIGN §10, docs/edge.md): named cursors kept
// in the metadata store, the floor they put under WAL file removal, and
// ReadWalChanges, which renders acknowledged writes back into line protocol
// for a subscription sender. No second copy of the data: a cursor only keeps
// WAL files alive.
//
// Cursor persistence: app-meta key "engine.wal_cursor/<name>", value the
// decimal next seq (docs/format/wal.md, "Cursors").
#include <algorithm>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "engine/db/db_impl.h"
#include "engine/db/write_batch.h"
#include "engine/util/logging.h"

namespace m2mdb {
namespace {

constexpr char kCursorPrefix[] = "engine.wal_cursor/";
// Idle readers kept for reuse; one per active destination is plenty.
constexpr size_t kMaxIdleReaders = 16;
// The private status that ends a read at WalReadRequest::max_points.
constexpr char kBatchFull[] = "wal feed: batch full";

// Whether a decoded record goes to a reader that asked for
// (database, retention_policy). THE one place where records are filtered by
// retention policy. `record_rp` is empty for records written before WAL
// records named their policy (types 1 and 2): those went to the database's
// default policy, taken as the default now (`default_rp`). An empty
// req.retention_policy matches every policy.
bool RecordMatches(std::string_view record_db, std::string_view record_rp, std::string_view default_rp,
                   const WalReadRequest& req) {
  if (!req.database.empty() && record_db != req.database) return false;
  if (req.retention_policy.empty()) return true;
  return (record_rp.empty() ? default_rp : record_rp) == req.retention_policy;
}

// The field set of a parsed line as written, starting at `s` (past the key
// and the blanks after it) within a body ending at `end`: the text the
// parser made `nfields` fields of. Forwarding it saves formatting every
// value again (floats most: a third of the sender's rendering). "" where the
// text may not be those fields (the parser dropped a "time" field or kept
// the last of duplicate keys; anything unexpected): render them then.
std::string_view RawFieldSet(const char* s, const char* end, size_t nfields) {
  const char* p = s;
  size_t n = 0;
  for (;;) {
    while (p < end && *p != '=') {  // the key; a backslash escapes a byte
      if (*p == ',' || *p == ' ' || *p == '\n') return {};
      p += *p == '\\' ? 2 : 1;
    }
    if (p >= end) return {};
    ++p;
    ++n;
    if (p < end && *p == '"') {  // a string: to its closing quote
      ++p;
      while (p < end && *p != '"') p += *p == '\\' ? 2 : 1;
      if (p >= end) return {};
      ++p;
    } else {  // numbers and booleans hold no escapes
      while (p < end && *p != ',' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') ++p;
    }
    if (p < end && *p == ',') {
      ++p;
      continue;
    }
    break;
  }
  if (n != nfields) return {};
  return std::string_view(s, static_cast<size_t>(p - s));
}

// One point of a write record's body, as line protocol with its time in ns:
// key and fields as written where that is safe.
void AppendLineAsWritten(const lineproto::Point& p, std::string_view body, std::string* out) {
  const char* const end = body.data() + body.size();
  const char* f = p.series_raw.data() + p.series_raw.size();
  if (p.series_raw.empty() || p.series_raw.data() < body.data() || f > end) {
    AppendParsedPointAsLineProtocol(p, out);
    return;
  }
  while (f < end && (*f == ' ' || *f == '\t' || *f == '\0')) ++f;
  const std::string_view fields = RawFieldSet(f, end, p.fields.size());
  if (fields.empty()) {
    AppendParsedPointAsLineProtocol(p, out);
    return;
  }
  out->append(p.series_raw);
  out->push_back(' ');
  out->append(fields);
  absl::StrAppend(out, " ", p.timestamp, "\n");
}

}  // namespace

Status DBImpl::LoadWalCursors() {
  absl::MutexLock l(&feed_mu_);
  for (const auto& [key, value] : index_->ListAppMeta(kCursorPrefix)) {
    uint64_t seq;
    if (!absl::SimpleAtoi(ToAbsl(value), &seq)) {
      return absl::DataLossError(
          absl::StrCat("bad WAL cursor \"", ToAbsl(key), "\": \"", ToAbsl(value), "\""));
    }
    wal_cursors_[key.substr(sizeof(kCursorPrefix) - 1)] = seq;
  }
  return absl::OkStatus();
}

uint64_t DBImpl::WalRemovalFloor(uint64_t checkpoint_plus_one) {
  absl::MutexLock l(&feed_mu_);
  uint64_t floor = checkpoint_plus_one;
  for (const auto& [name, seq] : wal_cursors_) floor = std::min(floor, seq);
  return floor;
}

Status DBImpl::SetWalCursor(std::string_view name, uint64_t next_seq) {
  RETURN_IF_ERROR(CheckOpen());
  if (!wal_) return absl::FailedPreconditionError("database opened read-only");
  if (name.empty()) return absl::InvalidArgumentError("WAL cursor name must not be empty");
  if (next_seq == 0) next_seq = wal_->durable_seq() + 1;
  next_seq = std::max(next_seq, wal_->first_seq());
  uint64_t old = std::numeric_limits<uint64_t>::max();
  {
    // Under feed_mu_ so that a concurrent flush never sees the cursor in
    // memory behind what is stored, or the other way round.
    absl::MutexLock l(&feed_mu_);
    auto it = wal_cursors_.find(name);
    if (it != wal_cursors_.end()) {
      if (it->second == next_seq) return absl::OkStatus();
      old = it->second;
    }
    RETURN_IF_ERROR(index_->PutAppMeta(absl::StrCat(kCursorPrefix, ToAbsl(name)), absl::StrCat(next_seq)));
    wal_cursors_[std::string(name)] = next_seq;
  }
  if (next_seq > old) {
    // The cursor moved on: files it alone held can go now rather than at
    // the next flush (an idle database would otherwise keep them).
    Status s = wal_->RemoveBefore(WalRemovalFloor(index_->WalCheckpoint() + 1));
    if (!s.ok()) LogWarning("removing consumed WAL segments: ", s.ToString());
  }
  return absl::OkStatus();
}

Status DBImpl::DeleteWalCursor(std::string_view name) {
  RETURN_IF_ERROR(CheckOpen());
  if (!wal_) return absl::FailedPreconditionError("database opened read-only");
  {
    absl::MutexLock l(&feed_mu_);
    auto it = wal_cursors_.find(name);
    if (it == wal_cursors_.end()) return absl::OkStatus();
    RETURN_IF_ERROR(index_->DeleteAppMeta(absl::StrCat(kCursorPrefix, ToAbsl(name))));
    wal_cursors_.erase(it);
  }
  Status s = wal_->RemoveBefore(WalRemovalFloor(index_->WalCheckpoint() + 1));
  if (!s.ok()) LogWarning("removing consumed WAL segments: ", s.ToString());
  return absl::OkStatus();
}

std::vector<WalCursor> DBImpl::ListWalCursors() {
  absl::MutexLock l(&feed_mu_);
  std::vector<WalCursor> out;
  for (const auto& [name, seq] : wal_cursors_) out.push_back(WalCursor{name, seq});
  return out;
}

WalQueueInfo DBImpl::GetWalQueueInfo(uint64_t from_seq) {
  WalQueueInfo info;
  if (!wal_) return info;
  info.first_seq = wal_->first_seq();
  info.durable_seq = wal_->durable_seq();
  if (from_seq <= info.durable_seq) {
    info.backlog_bytes = wal_->BytesFrom(from_seq);
    // A reader positioned at from_seq knows its offset: exact bytes rather
    // than whole segments (which would make a bound smaller than a segment
    // drop or refuse everything). One parked there by the last read, or a
    // new one walked there and parked for the next read.
    std::unique_ptr<wal::WalReader> reader;
    {
      absl::MutexLock l(&feed_mu_);
      for (auto it = idle_readers_.begin(); it != idle_readers_.end(); ++it) {
        if ((*it)->next_seq() == from_seq) {
          reader = std::move(*it);
          idle_readers_.erase(it);
          break;
        }
      }
    }
    if (reader == nullptr) {
      reader = wal_->NewReader(from_seq);
      if (!reader->Seek().ok()) reader.reset();
    }
    if (reader != nullptr) {
      info.backlog_bytes = reader->backlog_bytes();
      absl::MutexLock l(&feed_mu_);
      if (idle_readers_.size() >= kMaxIdleReaders) idle_readers_.erase(idle_readers_.begin());
      idle_readers_.push_back(std::move(reader));
    }
    info.backlog_age_seconds = wal_->AgeSecondsOf(from_seq);
  }
  return info;
}

StatusOr<WalReadResult> DBImpl::ReadWalChanges(const WalReadRequest& req,
                                               const std::function<Status(const WalChange&)>& fn) {
  RETURN_IF_ERROR(CheckOpen());
  if (!wal_) return absl::FailedPreconditionError("database opened read-only");
  std::unique_ptr<wal::WalReader> reader;
  {
    absl::MutexLock l(&feed_mu_);
    for (auto it = idle_readers_.begin(); it != idle_readers_.end(); ++it) {
      if ((*it)->next_seq() == req.from_seq) {
        reader = std::move(*it);
        idle_readers_.erase(it);
        break;
      }
    }
  }
  if (reader == nullptr) reader = wal_->NewReader(req.from_seq);

  // Old records (no policy named) count as the database's default policy.
  std::string default_rp;
  if (!req.database.empty() && !req.retention_policy.empty()) {
    default_rp = index_->DefaultRetentionPolicy(req.database).value_or("");
  }
  // Per-call parse state; a sender calls this with ~1 MiB at a time, so the
  // allocations are noise next to the parsing.
  lineproto::Parser parser;
  WalChange change;
  WalWriteRecord rec;
  lineproto::Point typed;
  std::string typed_key;
  WalReadResult result;
  uint64_t points = 0;
  uint64_t stopped_bytes = 0;
  auto read = reader->Read(req.max_bytes, [&](uint64_t seq, std::string_view payload) -> Status {
    result.records++;
    result.bytes += payload.size();
    change.seq = seq;
    change.lines.clear();
    change.points = 0;
    Status s;
    if (IsWalPointsRecord(WalRecordType(payload))) {
      std::string_view database, rp, rest;
      s = DecodeWalPointsHeader(payload, &database, &rp, &rest);
      if (s.ok() && !RecordMatches(database, rp, default_rp, req)) return absl::OkStatus();
      if (s.ok()) {
        change.database.assign(database.data(), database.size());
        change.retention_policy.assign(rp.data(), rp.size());
      }
      while (s.ok() && !rest.empty()) {
        s = DecodeWalPoint(&rest, &typed, &typed_key);
        if (!s.ok()) break;
        AppendParsedPointAsLineProtocol(typed, &change.lines);
        change.points++;
      }
    } else {
      s = DecodeWalWriteRecord(payload, &rec);
      if (s.ok() && !RecordMatches(rec.database, rec.retention_policy, default_rp, req)) {
        return absl::OkStatus();
      }
      if (s.ok()) {
        change.database.assign(rec.database.data(), rec.database.size());
        change.retention_policy.assign(rec.retention_policy.data(), rec.retention_policy.size());
        lineproto::ParseOptions po;
        po.precision = static_cast<lineproto::Precision>(rec.precision);
        po.default_time = rec.default_time;
        size_t skip = 0;
        // The accepted lines only, each with its time made explicit in ns:
        // the destination must not stamp its own "now" on them.
        parser.Parse(
            rec.body, po,
            [&](const lineproto::Point& p) {
              while (skip < rec.rejected_lines.size() && rec.rejected_lines[skip] < p.line) skip++;
              if (skip < rec.rejected_lines.size() && rec.rejected_lines[skip] == p.line) return;
              AppendLineAsWritten(p, rec.body, &change.lines);
              change.points++;
            },
            nullptr);
      }
    }
    if (!s.ok()) {
      // The CRC passed, so a newer record type or a bug: replay skips it
      // too, so the destination ends up with what this server holds.
      LogError("subscriptions: skipping undecodable WAL record ", seq, ": ", s.ToString());
      return absl::OkStatus();
    }
    if (change.points == 0) return absl::OkStatus();
    if (req.max_points > 0 && points > 0 && points + change.points > req.max_points) {
      stopped_bytes = payload.size();
      return absl::CancelledError(kBatchFull);  // the reader stays at this record
    }
    points += change.points;
    return fn(change);
  });
  if (!read.ok() && absl::IsCancelled(read.status()) && read.status().message() == kBatchFull) {
    read = size_t{0};
    result.records--;  // the record it stopped at is read again next time
    result.bytes -= stopped_bytes;
  }
  result.next_seq = reader->next_seq();
  if (read.ok()) {
    absl::MutexLock l(&feed_mu_);
    if (idle_readers_.size() >= kMaxIdleReaders) idle_readers_.erase(idle_readers_.begin());
    idle_readers_.push_back(std::move(reader));
  }
  if (!read.ok()) return read.status();
  return result;
}

}  // namespace m2mdb

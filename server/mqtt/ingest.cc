#include "server/mqtt/ingest.h"

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "m2mdb/json.h"
#include "m2mdb/log.h"
#include "m2mdb/status.h"
#include "server/mqtt/codec.h"

namespace m2mdb::server::mqtt {

DeadLetterWriter::DeadLetterWriter(std::string path, uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {}

DeadLetterWriter::~DeadLetterWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void DeadLetterWriter::Write(const Record& r) {
  std::string rec = absl::StrCat("{\"time\":", r.time_ns, ",\"client_id\":");
  AppendJsonString(&rec, r.client_id);
  rec += ",\"topic\":";
  AppendJsonString(&rec, r.topic);
  absl::StrAppend(&rec, ",\"qos\":", r.qos, ",\"reason_code\":", r.reason_code, ",\"reason\":");
  AppendJsonString(&rec, r.reason);
  if (r.rejected_lines != nullptr && !r.rejected_lines->empty()) {
    rec += ",\"rejected_lines\":[";
    for (size_t i = 0; i < r.rejected_lines->size(); i++) {
      absl::StrAppend(&rec, i ? "," : "", (*r.rejected_lines)[i]);
    }
    rec += "]";
  }
  rec += ",\"payload\":";
  AppendJsonString(&rec, r.payload);
  rec += "}\n";
  std::lock_guard<std::mutex> l(mu_);
  if (fd_ >= 0 && bytes_ + rec.size() > max_bytes_ && bytes_ > 0) {
    ::close(fd_);
    fd_ = -1;
    const std::string old = path_ + ".1";
    ::rename(path_.c_str(), old.c_str());
  }
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      log_.Warn(absl::StrCat("mqtt: cannot open the dead-letter file ", path_, ": ", strerror(errno)));
      return;
    }
    struct stat st {};
    bytes_ = fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }
  if (::write(fd_, rec.data(), rec.size()) == static_cast<ssize_t>(rec.size())) bytes_ += rec.size();
}

IngestOutcome IngestMessage(DB* db, const IngestRequest& req) {
  IngestOutcome out;
  auto reject = [&](uint8_t code, std::string why) {
    out.kind = IngestOutcome::kRejected;
    out.reason = code;
    out.why = std::move(why);
    return out;
  };
  MappedMessage mapped;
  std::string_view body = req.payload;
  std::string precision = "ns";
  if (req.rules != nullptr && !req.rules->empty()) {
    std::string why;
    if (uint8_t code = req.rules->Map(req.topic, req.payload, req.identity, &mapped, &why); code != 0) {
      return reject(code, std::move(why));
    }
    body = mapped.body;
    // The engine spells microseconds as influxd's `precision=u`.
    precision = mapped.precision == "us" ? "u" : mapped.precision;
  } else {
    mapped.database = std::string(req.topic.substr(0, req.topic.find('/')));
  }
  out.database = mapped.database;
  if (out.database.empty())
    return reject(reason::kTopicNameInvalid, "the first topic level (the database) is empty");
  if (req.authorize) {
    if (std::string why = req.authorize(out.database); !why.empty()) {
      return reject(reason::kNotAuthorized, std::move(why));
    }
  }
  if (req.refuse) {
    if (std::string why = req.refuse(out.database); !why.empty()) {
      return reject(reason::kQuotaExceeded, std::move(why));
    }
  }
  WriteOptions wo;
  wo.max_line_length = req.max_line_bytes;
  wo.default_time = req.arrival_ns;
  wo.precision = precision;
  auto r = db->WriteLineProtocol(out.database, body, wo);
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kNotFound) {
      return reject(reason::kTopicNameInvalid, std::string(ToStd(r.status().message())));
    }
    if (r.status().code() == absl::StatusCode::kInvalidArgument) {
      return reject(reason::kPayloadFormatInvalid, std::string(ToStd(r.status().message())));
    }
    out.kind = IngestOutcome::kFailed;
    out.why = r.status().ToString();
    return out;
  }
  out.points = r->points_written;
  if (r->errors.empty()) return out;
  const WriteError& first = r->errors.front();
  std::string why =
      absl::StrCat(r->errors.size(), " line(s) rejected; line ", first.line, ": ", first.reason);
  if (r->points_written == 0) return reject(reason::kPayloadFormatInvalid, std::move(why));
  // The good lines are stored, as over HTTP.
  out.kind = IngestOutcome::kPartial;
  out.why = std::move(why);
  for (const auto& e : r->errors) out.rejected_lines.push_back(e.line);
  return out;
}

void RateLimitedLog::Warn(const std::string& line) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_ms_.load();
  if (now - last < 1000 || !last_ms_.compare_exchange_strong(last, now)) {
    suppressed_++;
    return;
  }
  const uint64_t held = suppressed_.exchange(0);
  if (held > 0) {
    LogWarning(line, " (", held, " similar lines suppressed)");
  } else {
    LogWarning(line);
  }
}

}  // namespace m2mdb::server::mqtt

// One MQTT message to one engine write: the mapping (rules.h, or the default
// first-level-is-the-database) and DB::WriteLineProtocol, with the outcome
// sorted the way both the listener (listener.h) and the subscriber
// (subscriber.h) count, log and acknowledge it. Shared so that a message
// means the same whether a device publishes to us or a broker forwards it.
//
// Thread-safety: IngestMessage may be called from any number of threads.
#ifndef M2MDB_SERVER_MQTT_INGEST_H_
#define M2MDB_SERVER_MQTT_INGEST_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/db.h"
#include "server/mqtt/rules.h"

namespace m2mdb::server::mqtt {

// At most one warning line per second from one owner, with how many similar
// lines were held back since the last one: a flood of bad packets or
// payloads must not turn into a flood of log lines. Thread-safe.
class RateLimitedLog {
 public:
  void Warn(const std::string& line);

 private:
  std::atomic<int64_t> last_ms_{-1000000};
  std::atomic<uint64_t> suppressed_{0};
};

// The dead-letter file (`--mqtt-dead-letter`, docs/mqtt.md "Dead letters"):
// one JSON object per rejected or partly rejected message, appended with one
// write(2) each (O_APPEND keeps records whole). Past `max_bytes` the file
// becomes FILE.1 (replacing an older one) and a new one starts. The listener
// and the subscriber share one writer so that they never rotate the file
// under each other. Not fsynced: it is for people and scripts. Thread-safe.
class DeadLetterWriter {
 public:
  DeadLetterWriter(std::string path, uint64_t max_bytes);
  ~DeadLetterWriter();
  DeadLetterWriter(const DeadLetterWriter&) = delete;
  DeadLetterWriter& operator=(const DeadLetterWriter&) = delete;

  struct Record {
    int64_t time_ns = 0;
    std::string_view client_id;
    std::string_view topic;
    int qos = 0;
    uint8_t reason_code = 0;
    std::string_view reason;
    const std::vector<int>* rejected_lines = nullptr;  // a partial write's; null or empty: whole payload
    std::string_view payload;
  };
  void Write(const Record& r);
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const uint64_t max_bytes_;
  RateLimitedLog log_;  // "cannot open"
  std::mutex mu_;
  int fd_ = -1;         // guarded by mu_
  uint64_t bytes_ = 0;  // guarded by mu_
};

struct IngestOutcome {
  enum Kind {
    kStored,    // every line written
    kPartial,   // some lines written, some rejected (`why`, `rejected_lines`)
    kRejected,  // nothing written: `reason` (MQTT 5 code) and `why`
    kFailed,    // the engine could not write (`why`): not durable, not acknowledged
  } kind = kStored;
  uint8_t reason = 0;  // MQTT 5 reason code of a rejection (0x90, 0x99, 0x87)
  std::string why;
  std::vector<int> rejected_lines;
  uint64_t points = 0;
  std::string database;
};

struct IngestRequest {
  std::string_view topic;
  std::string_view payload;
  Identity identity;
  int64_t arrival_ns = 0;        // the time of lines without one
  uint64_t max_line_bytes = 0;   // 0 = no limit
  const Rules* rules = nullptr;  // null or empty: the default mapping
  // Called with the mapped database right before the write; a non-empty
  // answer rejects the message as 0x87 not authorized with that reason.
  // May be empty.
  std::function<std::string(const std::string& database)> authorize = {};
  // Called after `authorize`: a non-empty answer rejects the message as
  // 0x97 quota exceeded (a subscription's WHEN FULL REFUSE WRITES). May be
  // empty.
  std::function<std::string(const std::string& database)> refuse = {};
};

// Maps and writes one message; returns after the write is durable (or
// failed). `db` must be open.
IngestOutcome IngestMessage(DB* db, const IngestRequest& request);

}  // namespace m2mdb::server::mqtt

#endif  // M2MDB_SERVER_MQTT_INGEST_H_

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
};

// Maps and writes one message; returns after the write is durable (or
// failed). `db` must be open.
IngestOutcome IngestMessage(DB* db, const IngestRequest& request);

}  // namespace m2mdb::server::mqtt

#endif  // M2MDB_SERVER_MQTT_INGEST_H_

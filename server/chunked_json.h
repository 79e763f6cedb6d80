// InfluxDB's chunked=true JSON for /query: an answer cut into documents of
// at most chunk_size rows per series, each on its own line, "partial":true on
// every piece with more to come for its series or statement. ChunkedJson cuts
// a whole answer; ChunkStreamer cuts the pieces of a streaming execution the
// same way, byte for byte. Both edit the rendered JSON text (the writer in
// query/format renders whole results only).
#ifndef M2MDB_SERVER_CHUNKED_JSON_H_
#define M2MDB_SERVER_CHUNKED_JSON_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "m2mdb/query/executor.h"

namespace m2mdb::server {

// InfluxDB's chunked=true: results split into pieces of at most chunk_size
// rows per series, each sent as its own JSON document; a piece with more to
// come for its series/statement carries "partial":true.
std::vector<std::string> ChunkedJson(const std::vector<query::StatementResult>& results, size_t chunk_size,
                                     const query::JsonOptions& jo);

// chunked=true answered while the statements run: the pieces of
// Executor::ExecuteStreaming are cut into documents of chunk_size rows, as
// ChunkedJson cuts a whole answer (the same bytes), and each is written as
// soon as it is full. A big raw answer is then never held whole (a 5.26 M
// point SELECT * peaked at 3.7 GB, its first byte after 17 s).
class ChunkStreamer {
 public:
  ChunkStreamer(size_t chunk_size, const query::JsonOptions& jo,
                std::function<bool(const std::string&)> write)
      : chunk_size_(chunk_size), jo_(jo), write_(std::move(write)) {}

  // A piece from ExecuteStreaming; false once the client is gone.
  bool Piece(query::StatementResult&& r, bool more);

 private:
  void Emit(size_t a, size_t b, bool last);

  const size_t chunk_size_;
  const query::JsonOptions jo_;
  const std::function<bool(const std::string&)> write_;
  std::optional<query::ResultSeries> pending_;
  int id_ = 0;
  bool ok_ = true;
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_CHUNKED_JSON_H_

// gzip for HTTP bodies: request bodies sent with "Content-Encoding: gzip"
// are inflated (Gunzip, under the body-size limit), and answers to clients
// that accept gzip are deflated (Gzipper, at once or piece by piece for
// streamed answers). Whole buffers use libdeflate, streams zlib (gzip.cc).
#ifndef M2MDB_SERVER_GZIP_H_
#define M2MDB_SERVER_GZIP_H_

#include <cstdint>
#include <string>
#include <string_view>

#include <zlib.h>

namespace m2mdb::server {

// Inflates a gzip body (one or more members) into *out, at most `limit`
// bytes. Returns "" or an error message (Go's wording where clients see it);
// *too_big on overflow.
std::string Gunzip(std::string_view in, uint64_t limit, std::string* out, bool* too_big);
// The same with zlib only: Gunzip's answer for damaged data, and the
// baseline of bench/micro/gzip_bench.cc.
std::string GunzipWithZlib(std::string_view in, uint64_t limit, std::string* out, bool* too_big);

// Appends the gzip form of `data` (one member) to *out, at `level` (zlib's
// 1-9 or Z_DEFAULT_COMPRESSION). False on failure.
bool GzipAll(std::string_view data, int level, std::string* out);

// A gzip stream written in pieces (chunked responses) or at once: a first
// Add with finish is GzipAll.
class Gzipper {
 public:
  // `level`: zlib's 1 (fastest) to 9; the default is zlib's (6).
  explicit Gzipper(int level = Z_DEFAULT_COMPRESSION);
  ~Gzipper();
  Gzipper(const Gzipper&) = delete;
  Gzipper& operator=(const Gzipper&) = delete;
  // Appends the compressed form of data to *out; finish ends the stream, else
  // it is flushed so the piece can be sent now.
  bool Add(std::string_view data, bool finish, std::string* out);

 private:
  int level_;
  z_stream z_{};
  bool ok_ = false;        // z_ is initialised
  bool started_ = false;   // Add was called
  bool one_shot_ = false;  // the stream was written whole: no further Add
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_GZIP_H_

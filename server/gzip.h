// gzip for HTTP bodies, with zlib: request bodies sent with
// "Content-Encoding: gzip" are inflated (Gunzip, under the body-size limit),
// and answers to clients that accept gzip are deflated (Gzipper, at once or
// piece by piece for streamed answers).
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

// A gzip stream written in pieces (chunked responses) or at once.
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
  z_stream z_{};
  bool ok_ = false;
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_GZIP_H_

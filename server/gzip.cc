// gzip for HTTP bodies (gzip.h).
#include "server/gzip.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace m2mdb::server {

std::string Gunzip(std::string_view in, uint64_t limit, std::string* out, bool* too_big) {
  *too_big = false;
  out->clear();
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return "gzip: cannot initialize zlib";
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string err;
  size_t produced = 0;
  out->resize(std::min<uint64_t>(limit, std::max<size_t>(in.size() * 4, 64 << 10)));
  for (;;) {
    if (produced == out->size()) {
      if (out->size() >= limit) {
        *too_big = true;
        break;
      }
      out->resize(std::min<uint64_t>(limit, out->size() * 2));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out->data() + produced);
    zs.avail_out = static_cast<uInt>(out->size() - produced);
    int r = inflate(&zs, Z_NO_FLUSH);
    produced = out->size() - zs.avail_out;
    if (r == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);  // another gzip member follows (Go reads them all)
      continue;
    }
    if (r == Z_BUF_ERROR && zs.avail_in == 0) {
      err = "unexpected EOF";  // Go's gzip reader says the same for a cut stream
      break;
    }
    if (r != Z_OK && r != Z_BUF_ERROR) {
      err = absl::StrCat("gzip: ", zs.msg != nullptr ? zs.msg : "invalid data");
      break;
    }
  }
  inflateEnd(&zs);
  out->resize(produced);
  return err;
}

Gzipper::Gzipper(int level) {
  ok_ = deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

Gzipper::~Gzipper() {
  if (ok_) deflateEnd(&z_);
}

bool Gzipper::Add(std::string_view data, bool finish, std::string* out) {
  if (!ok_) return false;
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z_.avail_in = static_cast<uInt>(data.size());
  int flush = finish ? Z_FINISH : Z_SYNC_FLUSH;
  for (;;) {
    size_t old = out->size();
    size_t room = std::max<size_t>(deflateBound(&z_, z_.avail_in), 64);
    out->resize(old + room);
    z_.next_out = reinterpret_cast<Bytef*>(out->data() + old);
    z_.avail_out = static_cast<uInt>(room);
    int rc = deflate(&z_, flush);
    out->resize(old + room - z_.avail_out);
    if (rc == Z_STREAM_END) return true;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    if (z_.avail_in == 0 && z_.avail_out != 0) return true;
  }
}

}  // namespace m2mdb::server

// gzip for HTTP bodies (gzip.h).
//
// Whole buffers go through libdeflate: it inflates a write body about twice
// as fast as zlib and deflates a whole answer or a subscription batch 2-3
// times as fast at the same level (docs/benchmarks.md "gzip"), and a gzip
// client such as Telegraf's influxdb_v2 output (its default) pays the
// inflate for every point it writes. libdeflate has no streaming interface,
// so answers sent piece by piece (chunked) keep zlib, and so does the error
// path of Gunzip: zlib's messages ("unexpected EOF" for a cut stream, "gzip:
// incorrect header check") are what clients have seen and match Go's.
#include "server/gzip.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include <libdeflate.h>

#include "absl/strings/str_cat.h"

namespace m2mdb::server {

namespace {

// libdeflate's (de)compressors are not thread-safe and cost a few hundred
// KB to set up (a level-6 compressor's hash tables), more than deflating a
// small answer: a few are kept for reuse, per level, instead of one per
// thread (the HTTP server may run hundreds of threads).
class DeflatePool {
 public:
  static DeflatePool& Get() {
    static DeflatePool* pool = new DeflatePool();  // never destroyed: used by detached threads
    return *pool;
  }

  libdeflate_compressor* TakeCompressor(int level) {
    {
      std::lock_guard<std::mutex> l(mu_);
      auto& v = compressors_[level];
      if (!v.empty()) {
        libdeflate_compressor* c = v.back();
        v.pop_back();
        return c;
      }
    }
    return libdeflate_alloc_compressor(level);
  }
  void GiveCompressor(int level, libdeflate_compressor* c) {
    {
      std::lock_guard<std::mutex> l(mu_);
      auto& v = compressors_[level];
      if (v.size() < kKeep) {
        v.push_back(c);
        return;
      }
    }
    libdeflate_free_compressor(c);
  }
  libdeflate_decompressor* TakeDecompressor() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!decompressors_.empty()) {
        libdeflate_decompressor* d = decompressors_.back();
        decompressors_.pop_back();
        return d;
      }
    }
    return libdeflate_alloc_decompressor();
  }
  void GiveDecompressor(libdeflate_decompressor* d) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (decompressors_.size() < kKeep) {
        decompressors_.push_back(d);
        return;
      }
    }
    libdeflate_free_decompressor(d);
  }

 private:
  static constexpr size_t kKeep = 8;
  std::mutex mu_;
  std::vector<libdeflate_compressor*> compressors_[13];  // by level, 0-12
  std::vector<libdeflate_decompressor*> decompressors_;
};

// Inflates every gzip member of `in` with libdeflate. Returns false where
// zlib should decide instead (damaged or cut data: its messages are the
// ones clients know); true when *out holds the whole body, or *too_big.
bool FastGunzip(std::string_view in, uint64_t limit, std::string* out, bool* too_big) {
  // Deflate expands at most 1032:1, and a single-member body says its size
  // in its last four bytes (modulo 2^32): size the buffer from that, bounded
  // so that a small body cannot make us allocate the whole limit.
  uint64_t guess = std::max<uint64_t>(in.size() * 4, 64 << 10);
  if (in.size() >= 18) {
    const auto* p = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
    const uint64_t isize = uint64_t{p[0]} | uint64_t{p[1]} << 8 | uint64_t{p[2]} << 16 | uint64_t{p[3]} << 24;
    guess = std::max<uint64_t>(guess, std::min<uint64_t>(isize, uint64_t{in.size()} * 1032));
  }
  out->resize(std::min<uint64_t>(limit, guess));
  libdeflate_decompressor* d = DeflatePool::Get().TakeDecompressor();
  if (d == nullptr) return false;
  bool handled = false;
  size_t pos = 0, produced = 0;
  for (;;) {
    size_t in_used = 0, out_used = 0;
    const libdeflate_result r =
        libdeflate_gzip_decompress_ex(d, in.data() + pos, in.size() - pos, out->data() + produced,
                                      out->size() - produced, &in_used, &out_used);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
      if (out->size() >= limit) {
        *too_big = true;
        handled = true;
        break;
      }
      out->resize(std::min<uint64_t>(limit, uint64_t{out->size()} * 2));
      continue;  // this member again, into the larger buffer
    }
    if (r != LIBDEFLATE_SUCCESS) break;
    pos += in_used;
    produced += out_used;
    if (pos == in.size()) {  // every member read (Go's reader takes them all)
      out->resize(produced);
      handled = true;
      break;
    }
  }
  DeflatePool::Get().GiveDecompressor(d);
  return handled;
}

}  // namespace

std::string Gunzip(std::string_view in, uint64_t limit, std::string* out, bool* too_big) {
  *too_big = false;
  if (FastGunzip(in, limit, out, too_big)) return "";
  return GunzipWithZlib(in, limit, out, too_big);
}

std::string GunzipWithZlib(std::string_view in, uint64_t limit, std::string* out, bool* too_big) {
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

bool GzipAll(std::string_view data, int level, std::string* out) {
  if (level == Z_DEFAULT_COMPRESSION) level = 6;
  level = std::clamp(level, 1, 9);  // zlib's range; libdeflate's 10-12 are far slower
  libdeflate_compressor* c = DeflatePool::Get().TakeCompressor(level);
  if (c == nullptr) return false;
  const size_t old = out->size();
  out->resize(old + libdeflate_gzip_compress_bound(c, data.size()));
  const size_t n =
      libdeflate_gzip_compress(c, data.data(), data.size(), out->data() + old, out->size() - old);
  DeflatePool::Get().GiveCompressor(level, c);
  out->resize(old + n);
  return n != 0;
}

Gzipper::Gzipper(int level) : level_(level) {}

Gzipper::~Gzipper() {
  if (ok_) deflateEnd(&z_);
}

bool Gzipper::Add(std::string_view data, bool finish, std::string* out) {
  if (!started_) {
    started_ = true;
    // The whole stream in one call (an answer that is not chunked, a
    // subscription batch): libdeflate.
    if (finish) {
      one_shot_ = true;
      return GzipAll(data, level_, out);
    }
    ok_ = deflateInit2(&z_, level_, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  if (!ok_ || one_shot_) return false;
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

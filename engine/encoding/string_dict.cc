// kStringDict: a per-block dictionary of distinct strings plus bit-packed
// indexes into it.
//
//   | 8 | n varint | d varint | d x ( length varint, bytes ) | w u8 |
//   | n indexes of w bits (PackBits layout), each < d |
//
// Entries are in order of first appearance. The encoder declines (and the
// dispatcher stores kRaw) when the dictionary would not be smaller; either
// form may then be wrapped in kZstd.
#include "absl/container/flat_hash_map.h"

#include "engine/encoding/internal.h"

namespace m2mdb::encoding::internal {

bool EncodeStringDict(const std::string_view* v, size_t n, std::string* out) {
  absl::flat_hash_map<absl::string_view, uint32_t> index;
  std::vector<uint64_t> ids(n);
  size_t raw_size = 0, dict_size = 0;
  std::vector<std::string_view> entries;
  for (size_t i = 0; i < n; i++) {
    raw_size += v[i].size() + 1;
    auto [it, inserted] = index.try_emplace(ToAbsl(v[i]), static_cast<uint32_t>(entries.size()));
    if (inserted) {
      entries.push_back(v[i]);
      dict_size += v[i].size() + 1;
      // Mostly distinct strings: give up early.
      if (entries.size() > n / 2 + 1) return false;
    }
    ids[i] = it->second;
  }
  const int width = BitWidth(entries.empty() ? 0 : entries.size() - 1);
  if (dict_size + PackedBytes(n, width) + 8 >= raw_size) return false;
  PutHeader(out, CodecId::kStringDict, n);
  PutVarint64(out, entries.size());
  for (std::string_view e : entries) PutLengthPrefixed(out, e);
  out->push_back(static_cast<char>(width));
  PackBits(ids.data(), n, width, out);
  return true;
}

Status DecodeStringDict(std::string_view in, size_t n, std::vector<std::string>* out) {
  Cursor c(in);
  RETURN_IF_ERROR(ReadHeader(&c, n));
  uint64_t d;
  if (!c.Varint(&d) || d > n || (n > 0 && d == 0)) return Corrupt("bad dictionary size");
  std::string_view rest = c.rest();
  std::vector<std::string_view> entries(d);
  for (uint64_t i = 0; i < d; i++) {
    if (!GetLengthPrefixed(&rest, &entries[i])) return Corrupt("truncated dictionary");
  }
  Cursor p(rest);
  uint8_t width;
  const uint8_t* bits;
  if (!p.Byte(&width) || width > 32) return Corrupt("bad index width");
  if (!p.Bytes(PackedBytes(n, width), &bits) || !p.AtEnd()) return Corrupt("index length mismatch");
  out->reserve(n);
  bool bad = false;
  ForEachPackedGroup(bits, n, width, [&](const uint64_t* ids, size_t count) {
    if (bad) return;
    for (size_t j = 0; j < count; j++) {
      if (ids[j] >= d) {
        bad = true;
        return;
      }
      out->emplace_back(entries[ids[j]]);
    }
  });
  if (bad) {
    out->clear();
    return Corrupt("dictionary index out of range");
  }
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal

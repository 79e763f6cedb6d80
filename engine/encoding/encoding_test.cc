// Property tests for every codec: one set of test bodies runs over every
// (column type, codec) case, each over random and edge-case data sets.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/encoding/codec.h"
#include "engine/encoding/internal.h"

namespace m2mdb::encoding {
namespace {

using Bits = std::vector<uint64_t>;

// A codec under test, type-erased over 64-bit patterns: numeric columns read
// them as int64/uint64/double, booleans as their low bit, strings through
// ToStr(). Decoded values are compared through a canonical serialisation.
struct CodecCase {
  std::string name;
  std::function<bool(const Bits& v, std::string* enc)> encode;
  std::function<Status(std::string_view enc, size_t n, std::string* canon)> decode;
  std::function<std::string(const Bits& v)> canon;
};

std::string ToStr(uint64_t v) {
  // Small values repeat (dictionary-friendly); large ones are distinct.
  if (v < 1000) return std::to_string(v);
  char b[32];
  snprintf(b, sizeof(b), "x%016llx", static_cast<unsigned long long>(v));
  return b;
}

template <typename T>
std::string CanonFixed(const T* v, size_t n) {
  return std::string(reinterpret_cast<const char*>(v), n * sizeof(T));
}

// Decodes into a buffer with guard values behind out[n-1] and fails if the
// decoder touched them.
template <typename T, typename F>
Status GuardedDecode(size_t n, std::string* canon, F&& decode) {
  constexpr size_t kGuard = 8;
  std::vector<T> out(n + kGuard);
  std::memset(out.data(), 0xA5, out.size() * sizeof(T));
  Status s = decode(out.data());
  for (size_t i = n; i < n + kGuard; i++) {
    T guard;
    std::memset(&guard, 0xA5, sizeof(T));
    if (std::memcmp(&out[i], &guard, sizeof(T)) != 0) return absl::InternalError("wrote past out[n-1]");
  }
  if (s.ok()) *canon = CanonFixed(out.data(), n);
  return s;
}

template <typename T>
std::function<Status(std::string_view, size_t, std::string*)> FixedDecoder(Status (*decode)(std::string_view,
                                                                                            size_t, T*)) {
  return [decode](std::string_view in, size_t n, std::string* canon) {
    return GuardedDecode<T>(n, canon, [&](T* out) { return decode(in, n, out); });
  };
}

template <typename T>
std::function<std::string(const Bits&)> FixedCanon() {
  return [](const Bits& v) {
    std::vector<T> t(v.size());
    for (size_t i = 0; i < v.size(); i++) std::memcpy(&t[i], &v[i], sizeof(T));
    return CanonFixed(t.data(), t.size());
  };
}

std::vector<int64_t> AsInt(const Bits& v) { return std::vector<int64_t>(v.begin(), v.end()); }
std::vector<double> AsDouble(const Bits& v) {
  std::vector<double> d(v.size());
  if (!v.empty()) std::memcpy(d.data(), v.data(), v.size() * 8);
  return d;
}
std::vector<uint8_t> AsBool(const Bits& v) {
  std::vector<uint8_t> b(v.size());
  for (size_t i = 0; i < v.size(); i++) b[i] = v[i] & 1;
  return b;
}

std::vector<CodecCase> AllCases() {
  std::vector<CodecCase> cases;
  auto ts = [&](std::string name, CodecId id, bool with) {
    cases.push_back({"ts_" + name,
                     [id, with](const Bits& v, std::string* enc) {
                       auto x = AsInt(v);
                       if (!with) {
                         EncodeTimestamps(x.data(), x.size(), enc);
                         return true;
                       }
                       return EncodeTimestampsWith(id, x.data(), x.size(), enc);
                     },
                     FixedDecoder<int64_t>(&DecodeTimestamps), FixedCanon<int64_t>()});
  };
  ts("auto", CodecId::kRaw, false);
  ts("raw", CodecId::kRaw, true);
  ts("dod", CodecId::kTimestampDoD, true);
  ts("constant", CodecId::kConstant, true);
  ts("zstd", CodecId::kZstd, true);

  auto fl = [&](std::string name, std::function<bool(const std::vector<double>&, std::string*)> enc) {
    cases.push_back({"float_" + name,
                     [enc](const Bits& v, std::string* out) { return enc(AsDouble(v), out); },
                     FixedDecoder<double>(&DecodeFloats), FixedCanon<double>()});
  };
  fl("auto", [](const std::vector<double>& v, std::string* out) {
    EncodeFloats(v.data(), v.size(), out);
    return true;
  });
  fl("gorilla_mode", [](const std::vector<double>& v, std::string* out) {
    EncodeFloats(v.data(), v.size(), out, FloatMode::kGorillaOnly);
    return true;
  });
  fl("raw_mode", [](const std::vector<double>& v, std::string* out) {
    EncodeFloats(v.data(), v.size(), out, FloatMode::kRawOnly);
    return true;
  });
  for (CodecId id : {CodecId::kFloatGorilla, CodecId::kFloatDecimal, CodecId::kConstant, CodecId::kZstd}) {
    fl(std::string(CodecName(id)), [id](const std::vector<double>& v, std::string* out) {
      return EncodeFloatsWith(id, v.data(), v.size(), out);
    });
  }

  auto in = [&](std::string name, CodecId id, bool with) {
    cases.push_back({"int_" + name,
                     [id, with](const Bits& v, std::string* enc) {
                       auto x = AsInt(v);
                       if (!with) {
                         EncodeIntegers(x.data(), x.size(), enc);
                         return true;
                       }
                       return EncodeIntegersWith(id, x.data(), x.size(), enc);
                     },
                     FixedDecoder<int64_t>(&DecodeIntegers), FixedCanon<int64_t>()});
  };
  in("auto", CodecId::kRaw, false);
  in("delta", CodecId::kIntDelta, true);
  in("rle", CodecId::kIntRle, true);
  in("constant", CodecId::kConstant, true);
  in("zstd", CodecId::kZstd, true);
  cases.push_back({"uint_auto",
                   [](const Bits& v, std::string* enc) {
                     EncodeUnsigned(v.data(), v.size(), enc);
                     return true;
                   },
                   FixedDecoder<uint64_t>(&DecodeUnsigned), FixedCanon<uint64_t>()});

  auto bo = [&](std::string name, std::function<void(const std::vector<uint8_t>&, std::string*)> enc) {
    cases.push_back({"bool_" + name,
                     [enc](const Bits& v, std::string* out) {
                       enc(AsBool(v), out);
                       return true;
                     },
                     FixedDecoder<uint8_t>(&DecodeBooleans),
                     [](const Bits& v) {
                       auto b = AsBool(v);
                       return CanonFixed(b.data(), b.size());
                     }});
  };
  bo("auto",
     [](const std::vector<uint8_t>& v, std::string* out) { EncodeBooleans(v.data(), v.size(), out); });
  bo("bitmap", [](const std::vector<uint8_t>& v, std::string* out) {
    internal::EncodeBoolBitmap(v.data(), v.size(), out);
  });
  bo("rle", [](const std::vector<uint8_t>& v, std::string* out) {
    internal::EncodeBoolRle(v.data(), v.size(), out);
  });

  auto st = [&](std::string name,
                std::function<bool(const std::vector<std::string_view>&, std::string*)> enc) {
    cases.push_back({"string_" + name,
                     [enc](const Bits& v, std::string* out) {
                       std::vector<std::string> s;
                       for (uint64_t x : v) s.push_back(ToStr(x));
                       std::vector<std::string_view> sv(s.begin(), s.end());
                       return enc(sv, out);
                     },
                     [](std::string_view in, size_t n, std::string* canon) {
                       std::vector<std::string> out = {"junk"};
                       Status s = DecodeStrings(in, n, &out);
                       if (!s.ok()) return s;
                       if (out.size() != n) return absl::InternalError("wrong number of strings");
                       canon->clear();
                       for (const auto& x : out) PutLengthPrefixed(canon, x);
                       return s;
                     },
                     [](const Bits& v) {
                       std::string c;
                       for (uint64_t x : v) PutLengthPrefixed(&c, ToStr(x));
                       return c;
                     }});
  };
  st("auto", [](const std::vector<std::string_view>& v, std::string* out) {
    EncodeStrings(v.data(), v.size(), out);
    return true;
  });
  st("dict", [](const std::vector<std::string_view>& v, std::string* out) {
    return internal::EncodeStringDict(v.data(), v.size(), out);
  });
  st("zstd", [](const std::vector<std::string_view>& v, std::string* out) {
    std::string inner;
    EncodeStrings(v.data(), v.size(), &inner);
    if (EncodedCodec(inner) == CodecId::kZstd) {
      out->append(inner);
      return true;
    }
    return internal::WrapZstd(inner, v.size(), out, true);
  });
  return cases;
}

uint64_t D(double d) { return internal::BitCast<uint64_t>(d); }

struct DataSet {
  std::string name;
  Bits v;
};

// Realistic and adversarial data sets; `max_n` bounds the large ones.
std::vector<DataSet> DataSets(size_t max_n) {
  std::mt19937_64 rng(42);
  std::vector<DataSet> sets;
  sets.push_back({"empty", {}});
  sets.push_back({"one", {D(52.1234)}});
  sets.push_back({"two", {5, 3}});
  {
    Bits v;
    for (size_t i = 0; i < max_n; i++) v.push_back(rng());
    sets.push_back({"random_bits", v});
  }
  {
    Bits v;
    const int64_t t0 = 1700000000000000000;
    for (size_t i = 0; i < max_n; i++) v.push_back(t0 + static_cast<int64_t>(i) * 10'000'000'000);
    sets.push_back({"regular_ts", v});
    for (size_t i = 0; i < max_n; i++) v[i] += static_cast<int64_t>(rng() % 7'000'000) - 3'500'000;
    sets.push_back({"jittered_ts", v});
    // A millisecond clock with jitter and outages (timestamp mode 3).
    int64_t ms = 1700000000000;
    for (size_t i = 0; i < max_n; i++) {
      ms += 10000 + static_cast<int64_t>(rng() % 501) - 250;
      if (rng() % 500 == 0) ms += static_cast<int64_t>(rng() % 7200) * 1000;
      v[i] = static_cast<uint64_t>(ms * 1000000);
    }
    sets.push_back({"ts_with_outages", v});
  }
  {
    Bits v;
    double x = 52.1234;
    for (size_t i = 0; i < max_n; i++) {
      if (rng() % 4 != 0) x = std::round((x + (static_cast<double>(rng() % 201) - 100) * 1e-4) * 1e4) / 1e4;
      v.push_back(D(x));
    }
    sets.push_back({"decimal_walk", v});
  }
  {
    const double specials[] = {0.0,
                               -0.0,
                               std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::quiet_NaN(),
                               std::numeric_limits<double>::denorm_min(),
                               -std::numeric_limits<double>::denorm_min(),
                               std::numeric_limits<double>::min(),
                               std::numeric_limits<double>::max(),
                               -std::numeric_limits<double>::max(),
                               1e300,
                               1e-300,
                               0.1,
                               1.5,
                               9007199254740993.0,
                               123456789.123456789};
    Bits v;
    for (double d : specials) v.push_back(D(d));
    v.push_back(0x7FF0000000000001ULL);  // signalling NaN payload
    v.push_back(0xFFF8DEADBEEF0001ULL);  // negative NaN with payload
    v.push_back(0x000FFFFFFFFFFFFFULL);  // largest subnormal
    for (size_t i = 0; i < 40; i++) v.push_back(D(static_cast<double>(rng() % 10000) / 100));
    sets.push_back({"special_floats", v});
    Bits mixed;
    for (size_t i = 0; i < max_n; i++) mixed.push_back(i % 17 == 0 ? v[rng() % 19] : D((rng() % 1000) * 0.1));
    sets.push_back({"decimals_with_exceptions", mixed});
  }
  {
    Bits v;
    const uint64_t ext[] = {static_cast<uint64_t>(INT64_MIN), static_cast<uint64_t>(INT64_MAX), 0, 1,
                            ~uint64_t{0}};
    for (size_t i = 0; i < 200; i++) v.push_back(ext[rng() % 5]);
    sets.push_back({"extreme_ints", v});
    sets.push_back({"min_max", {static_cast<uint64_t>(INT64_MIN), static_cast<uint64_t>(INT64_MAX)}});
    sets.push_back({"max_min_max",
                    {static_cast<uint64_t>(INT64_MAX), static_cast<uint64_t>(INT64_MIN),
                     static_cast<uint64_t>(INT64_MAX)}});
  }
  {
    Bits v;
    for (size_t i = 0; i < max_n; i++) v.push_back(1000 + i);
    sets.push_back({"counter", v});
    Bits c(max_n, D(21.5));
    sets.push_back({"constant", c});
    Bits runs;
    for (size_t i = 0; runs.size() < max_n; i++) runs.insert(runs.end(), 1 + rng() % 40, rng() % 3);
    runs.resize(max_n);
    sets.push_back({"runs", runs});
    Bits small;
    for (size_t i = 0; i < max_n; i++) small.push_back(rng() % 100);
    sets.push_back({"small_random", small});
    Bits unsorted;
    for (size_t i = 0; i < max_n; i++)
      unsorted.push_back(static_cast<uint64_t>(1e18) + (rng() % 1000) * 1'000'000);
    sets.push_back({"unsorted_ms_ts", unsorted});
    // A byte counter: small steps, 10% bursts, a reset (patched schemes).
    Bits bursty;
    int64_t total = 1ll << 40;
    for (size_t i = 0; i < max_n; i++) {
      total += rng() % 10 == 0 ? static_cast<int64_t>(100000 + rng() % 5000000)
                               : static_cast<int64_t>(rng() % 20000);
      if (i == max_n / 2) total = 0;
      bursty.push_back(static_cast<uint64_t>(total));
    }
    sets.push_back({"bursty_counter", bursty});
    Bits outliers;  // bounded noise with rare int64 extremes
    for (size_t i = 0; i < max_n; i++) {
      outliers.push_back(
          rng() % 50 == 0 ? (rng() % 2 ? static_cast<uint64_t>(INT64_MIN) : static_cast<uint64_t>(INT64_MAX))
                          : 5000 + rng() % 1000);
    }
    sets.push_back({"noise_with_extremes", outliers});
    // Entropy-coded int blocks (schemes 6/7): a random walk of uniform
    // ±40 steps and bell-shaped noise around a level.
    Bits walk;
    int64_t rpm = 3000;
    for (size_t i = 0; i < max_n; i++) {
      rpm += static_cast<int64_t>(rng() % 81) - 40;
      walk.push_back(static_cast<uint64_t>(rpm));
    }
    sets.push_back({"walk_steps", walk});
    Bits bell;
    for (size_t i = 0; i < max_n; i++) {
      bell.push_back(100000 + rng() % 256 + rng() % 256 + rng() % 256 + rng() % 256);
    }
    sets.push_back({"bell_noise", bell});
  }
  return sets;
}

class CodecTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(CodecTest, RoundTripsEveryDataSet) {
  const CodecCase& c = GetParam();
  for (const DataSet& d : DataSets(1000)) {
    std::string enc;
    if (!c.encode(d.v, &enc)) continue;
    std::string got;
    ASSERT_TRUE(c.decode(enc, d.v.size(), &got).ok()) << d.name;
    EXPECT_EQ(got, c.canon(d.v)) << d.name;
  }
}

TEST_P(CodecTest, RoundTripsMaxBlock) {
  const CodecCase& c = GetParam();
  for (const DataSet& d : DataSets(kMaxBlockValues)) {
    if (d.v.size() != kMaxBlockValues) continue;
    std::string enc;
    if (!c.encode(d.v, &enc)) continue;
    std::string got;
    ASSERT_TRUE(c.decode(enc, d.v.size(), &got).ok()) << d.name;
    EXPECT_EQ(got, c.canon(d.v)) << d.name;
  }
}

TEST_P(CodecTest, RoundTripsRandomLengthsAndPatterns) {
  const CodecCase& c = GetParam();
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 300; iter++) {
    const size_t n = rng() % 300;
    Bits v(n);
    const int kind = iter % 5;
    const int shift = static_cast<int>(rng() % 64);
    for (size_t i = 0; i < n; i++) {
      switch (kind) {
        case 0:
          v[i] = rng();
          break;
        case 1:
          v[i] = rng() >> shift;
          break;
        case 2:
          v[i] = D(static_cast<double>(static_cast<int64_t>(rng() >> shift)) / 1000);
          break;
        case 3:
          v[i] = (i > 0 && rng() % 3) ? v[i - 1] : rng() % 5;
          break;
        default:
          v[i] = (i > 0 ? v[i - 1] : rng()) + (rng() >> shift);
          break;
      }
    }
    std::string enc;
    if (!c.encode(v, &enc)) continue;
    std::string got;
    ASSERT_TRUE(c.decode(enc, n, &got).ok()) << iter;
    ASSERT_EQ(got, c.canon(v)) << iter;
  }
}

TEST_P(CodecTest, RejectsWrongCount) {
  const CodecCase& c = GetParam();
  for (const DataSet& d : DataSets(100)) {
    std::string enc;
    if (!c.encode(d.v, &enc)) continue;
    std::string got;
    EXPECT_EQ(c.decode(enc, d.v.size() + 1, &got).code(), absl::StatusCode::kDataLoss) << d.name;
    if (!d.v.empty()) {
      EXPECT_EQ(c.decode(enc, d.v.size() - 1, &got).code(), absl::StatusCode::kDataLoss) << d.name;
    }
  }
}

TEST_P(CodecTest, RejectsEveryTruncation) {
  const CodecCase& c = GetParam();
  for (const DataSet& d : DataSets(150)) {
    std::string enc;
    if (!c.encode(d.v, &enc)) continue;
    for (size_t cut = 0; cut < enc.size(); cut++) {
      // A fresh copy of exactly `cut` bytes, so ASan sees any overread.
      std::vector<char> buf(enc.begin(), enc.begin() + cut);
      std::string got;
      const Status s = c.decode(std::string_view(buf.data(), cut), d.v.size(), &got);
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << d.name << " cut " << cut << " of " << enc.size();
    }
  }
}

TEST_P(CodecTest, SurvivesRandomCorruption) {
  const CodecCase& c = GetParam();
  std::mt19937_64 rng(99);
  for (const DataSet& d : DataSets(150)) {
    std::string enc;
    if (!c.encode(d.v, &enc) || enc.empty()) continue;
    for (int iter = 0; iter < 200; iter++) {
      std::string bad = enc;
      const int edits = 1 + rng() % 3;
      for (int e = 0; e < edits; e++) {
        if (rng() % 2) {
          bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
        } else {
          bad[rng() % bad.size()] = static_cast<char>(rng());
        }
      }
      std::vector<char> buf(bad.begin(), bad.end());
      std::string got;
      const Status s = c.decode(std::string_view(buf.data(), buf.size()), d.v.size(), &got);
      // OK is acceptable (the corruption may hit payload bits); anything
      // else must be kDataLoss, and the guard check must hold.
      EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kDataLoss) << d.name << ": " << s;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<CodecCase>& i) { return i.param.name; });

TEST(Encoding, RejectsUnknownCodecAndEmptyInput) {
  int64_t i[4];
  double f[4];
  for (int id = 11; id < 256; id++) {
    std::string enc(1, static_cast<char>(id));
    enc += std::string(40, '\1');
    EXPECT_EQ(DecodeIntegers(enc, 4, i).code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(DecodeFloats(enc, 4, f).code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(DecodeTimestamps("", 0, i).code(), absl::StatusCode::kDataLoss);
  // A float codec is not an integer codec.
  std::string enc;
  const double v[2] = {1.5, 2.5};
  EncodeFloats(v, 2, &enc);
  EXPECT_EQ(DecodeIntegers(enc, 2, i).code(), absl::StatusCode::kDataLoss);
}

TEST(Encoding, RegularTimestampsCostAFewBytes) {
  std::vector<int64_t> t(kMaxBlockValues);
  for (size_t i = 0; i < t.size(); i++) t[i] = 1700000000000000000 + static_cast<int64_t>(i) * 10'000'000'000;
  std::string enc;
  EncodeTimestamps(t.data(), t.size(), &enc);
  EXPECT_EQ(EncodedCodec(enc), CodecId::kTimestampDoD);
  EXPECT_LE(enc.size(), 20u);
}

// A constant-step block (mode 0) is decoded as a running sum: the same
// values as first + i * step, for any length around the groups of 64, a
// negative step, one that wraps past the int64 limits, and a decode that
// stops after the group passing max_time.
TEST(Encoding, ConstantStepTimestampsDecodeAsFirstPlusIStep) {
  const std::pair<int64_t, int64_t> cases[] = {
      {1704067200000000000, 1000000000}, {-5, 3}, {INT64_MAX - 100, 7}, {INT64_MIN + 10, -1}, {42, 0}};
  for (const auto& [first, step] : cases) {
    for (size_t n : {size_t{1}, size_t{2}, size_t{63}, size_t{64}, size_t{65}, size_t{300}}) {
      std::vector<int64_t> t(n);
      for (size_t i = 0; i < n; i++) {
        t[i] = static_cast<int64_t>(static_cast<uint64_t>(first) + i * static_cast<uint64_t>(step));
      }
      std::string enc;
      EncodeTimestamps(t.data(), n, &enc);
      std::vector<int64_t> got(n, 1);
      ASSERT_TRUE(DecodeTimestamps(enc, n, got.data()).ok());
      EXPECT_EQ(got, t) << first << " " << step << " " << n;
      if (step > 0 && n > 70 && first < INT64_MAX - 1000) {
        size_t decoded = 0;
        std::vector<int64_t> part(n, 1);
        ASSERT_TRUE(DecodeTimestampsUntil(enc, n, t[10], part.data(), &decoded).ok());
        ASSERT_EQ(decoded, 64u);
        EXPECT_TRUE(std::equal(part.begin(), part.begin() + 64, t.begin()));
      }
    }
  }
}

TEST(Encoding, MillisecondJitterUsesCommonDivisor) {
  std::mt19937_64 rng(1);
  std::vector<int64_t> t(1000);
  for (size_t i = 0; i < t.size(); i++) {
    t[i] = 1700000000000000000 + static_cast<int64_t>(i) * 10'000'000'000 +
           (static_cast<int64_t>(rng() % 11) - 5) * 1'000'000;
  }
  std::string enc;
  EncodeTimestamps(t.data(), t.size(), &enc);
  EXPECT_LE(enc.size(), t.size() * 5 / 8 + 32);  // <= 5 bits per value
}

// Real devices go offline: one long gap must not widen every delta of the
// block (mode 3 frames each 64 deltas on their own).
TEST(Encoding, AnOutageWidensOnlyItsOwnGroupOfTimestamps) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> t(4096);
  int64_t ms = 1700000000000;
  for (size_t i = 0; i < t.size(); i++) {
    ms += 10000 + static_cast<int64_t>(rng() % 9) - 4;  // ±4 ms jitter
    if (i == 2000) ms += 7200000;                       // two hours offline
    t[i] = ms * 1000000;
  }
  std::string enc;
  EncodeTimestamps(t.data(), t.size(), &enc);
  EXPECT_LE(enc.size(), t.size() * 5 / 8);  // one frame would need 23 bits per value
  std::vector<int64_t> got(t.size());
  ASSERT_TRUE(DecodeTimestamps(enc, t.size(), got.data()).ok());
  EXPECT_EQ(got, t);
  size_t decoded = 0;
  ASSERT_TRUE(DecodeTimestampsUntil(enc, t.size(), t[100], got.data(), &decoded).ok());
  EXPECT_GT(decoded, 100u);
  EXPECT_TRUE(std::equal(t.begin(), t.begin() + 101, got.begin()));
}

// A few outliers (bursts, a reset) must not set the width of every value.
TEST(Encoding, BurstyCounterPatchesItsOutliers) {
  std::mt19937_64 rng(3);
  std::vector<int64_t> v(4096);
  int64_t total = 1ll << 40;
  for (size_t i = 0; i < v.size(); i++) {
    total += rng() % 10 == 0 ? static_cast<int64_t>(100000 + rng() % 5000000)
                             : static_cast<int64_t>(rng() % 20000);
    if (i == 3000) total = 0;
    v[i] = total;
  }
  std::string enc;
  EncodeIntegers(v.data(), v.size(), &enc);
  // 23 bits per value in one frame; ~15 bits + 10% exceptions patched.
  EXPECT_LT(enc.size(), v.size() * 20 / 8);
  std::vector<int64_t> got(v.size());
  ASSERT_TRUE(DecodeIntegers(enc, v.size(), got.data()).ok());
  EXPECT_EQ(got, v);
}

TEST(Encoding, DecimalBeatsGorillaOnSensorData) {
  std::mt19937_64 rng(3);
  std::vector<double> v(4096);
  double x = 52.1234;
  for (auto& d : v) {
    x = std::round((x + (static_cast<double>(rng() % 21) - 10) * 1e-4) * 1e4) / 1e4;
    d = x;
  }
  std::string dec, gor;
  EncodeFloats(v.data(), v.size(), &dec);
  EncodeFloats(v.data(), v.size(), &gor, FloatMode::kGorillaOnly);
  EXPECT_EQ(EncodedInnerCodec(dec), CodecId::kFloatDecimal);
  EXPECT_LT(dec.size() * 3, gor.size());
}

TEST(Encoding, CounterAndConstantIntegersAreTiny) {
  std::vector<int64_t> v(kMaxBlockValues);
  for (size_t i = 0; i < v.size(); i++) v[i] = static_cast<int64_t>(i) * 3 - 7;
  std::string enc;
  EncodeIntegers(v.data(), v.size(), &enc);
  EXPECT_LE(enc.size(), 16u);
  std::fill(v.begin(), v.end(), INT64_MIN);
  enc.clear();
  EncodeIntegers(v.data(), v.size(), &enc);
  EXPECT_EQ(EncodedCodec(enc), CodecId::kConstant);
}

// Prefix decoding gives exactly the full decode's first `want` values for
// every numeric codec, never writes past out[n-1], and DecodeTimestampsUntil
// covers every value up to the first one past max_time.
TEST(Encoding, PrefixDecodesMatchTheFullDecode) {
  std::mt19937_64 rng(9);
  using FloatEnc = std::function<bool(const std::vector<double>&, std::string*)>;
  using IntEnc = std::function<bool(const std::vector<int64_t>&, std::string*)>;
  std::vector<FloatEnc> float_encs = {[](const std::vector<double>& v, std::string* out) {
                                        EncodeFloats(v.data(), v.size(), out);
                                        return true;
                                      },
                                      [](const std::vector<double>& v, std::string* out) {
                                        EncodeFloats(v.data(), v.size(), out, FloatMode::kRawOnly);
                                        return true;
                                      }};
  for (CodecId id : {CodecId::kFloatGorilla, CodecId::kFloatDecimal, CodecId::kConstant, CodecId::kZstd}) {
    float_encs.push_back([id](const std::vector<double>& v, std::string* out) {
      return EncodeFloatsWith(id, v.data(), v.size(), out);
    });
  }
  std::vector<IntEnc> int_encs = {[](const std::vector<int64_t>& v, std::string* out) {
    EncodeIntegers(v.data(), v.size(), out);
    return true;
  }};
  for (CodecId id :
       {CodecId::kRaw, CodecId::kIntDelta, CodecId::kIntRle, CodecId::kConstant, CodecId::kZstd}) {
    int_encs.push_back([id](const std::vector<int64_t>& v, std::string* out) {
      return EncodeIntegersWith(id, v.data(), v.size(), out);
    });
  }
  constexpr size_t kGuard = 4;
  int checked = 0;
  std::vector<DataSet> sets = DataSets(1000);
  {
    // A steadily growing step: delta-of-delta (mode 1) beats plain deltas.
    Bits v;
    for (uint64_t i = 0; i < 1000; i++) v.push_back(1000000 + i * 1000 + i * i * 3 + rng() % 2);
    sets.push_back({"accelerating_ts", v});
  }
  for (const DataSet& d : sets) {
    const size_t n = d.v.size();
    if (n == 0) continue;
    std::vector<size_t> wants = {0, 1, 2, 63, 64, 65, 127, 129, n / 2, n - 1, n};
    for (int k = 0; k < 5; k++) wants.push_back(rng() % (n + 1));
    auto same_prefix = [&](const auto& full, const auto& got, size_t want) {
      return std::memcmp(full.data(), got.data(), std::min(want, n) * sizeof(full[0])) == 0;
    };
    const std::vector<double> dv = AsDouble(d.v);
    for (size_t e = 0; e < float_encs.size(); e++) {
      std::string enc;
      if (!float_encs[e](dv, &enc)) continue;
      std::vector<double> full(n);
      ASSERT_TRUE(DecodeFloats(enc, n, full.data()).ok());
      for (size_t want : wants) {
        std::vector<double> got(n + kGuard, 7.0);
        ASSERT_TRUE(DecodeFloatsPrefix(enc, n, want, got.data()).ok()) << d.name << " float enc " << e;
        EXPECT_TRUE(same_prefix(full, got, want)) << d.name << " float enc " << e << " want " << want;
        for (size_t g = n; g < n + kGuard; g++) EXPECT_EQ(got[g], 7.0);
        checked++;
      }
    }
    const std::vector<int64_t> iv = AsInt(d.v);
    for (size_t e = 0; e < int_encs.size(); e++) {
      std::string enc;
      if (!int_encs[e](iv, &enc)) continue;
      std::vector<int64_t> full(n);
      ASSERT_TRUE(DecodeIntegers(enc, n, full.data()).ok());
      for (size_t want : wants) {
        std::vector<int64_t> got(n + kGuard, 7);
        ASSERT_TRUE(DecodeIntegersPrefix(enc, n, want, got.data()).ok()) << d.name << " int enc " << e;
        EXPECT_TRUE(same_prefix(full, got, want)) << d.name << " int enc " << e << " want " << want;
        std::vector<uint64_t> ugot(n + kGuard, 7);
        ASSERT_TRUE(DecodeUnsignedPrefix(enc, n, want, ugot.data()).ok());
        EXPECT_TRUE(same_prefix(full, ugot, want));
        for (size_t g = n; g < n + kGuard; g++) EXPECT_EQ(got[g], 7);
        checked++;
      }
    }
    // Timestamps: sorted blocks only (the reader's contract).
    std::vector<int64_t> ts = AsInt(d.v);
    std::sort(ts.begin(), ts.end());
    for (int mode = 0; mode < 4; mode++) {
      std::string enc;
      if (mode == 0) {
        EncodeTimestamps(ts.data(), n, &enc);
      } else {
        const CodecId ids[] = {CodecId::kRaw, CodecId::kTimestampDoD, CodecId::kZstd};
        if (!EncodeTimestampsWith(ids[mode - 1], ts.data(), n, &enc)) continue;
      }
      // Saturating: the extreme data sets hold INT64_MIN and INT64_MAX.
      auto dec = [](int64_t x) { return x == INT64_MIN ? x : x - 1; };
      auto inc = [](int64_t x) { return x == INT64_MAX ? x : x + 1; };
      std::vector<int64_t> limits = {dec(ts[0]), ts[0], ts[n - 1], dec(ts[n - 1]), INT64_MAX - 1};
      for (int k = 0; k < 6; k++) {
        const int64_t t = ts[rng() % n];
        limits.push_back(t);
        limits.push_back(inc(t));
      }
      for (int64_t max_time : limits) {
        std::vector<int64_t> got(n + kGuard, 7);
        size_t decoded = 12345;
        ASSERT_TRUE(DecodeTimestampsUntil(enc, n, max_time, got.data(), &decoded).ok()) << d.name;
        ASSERT_LE(decoded, n);
        const size_t need =
            static_cast<size_t>(std::upper_bound(ts.begin(), ts.end(), max_time) - ts.begin());
        EXPECT_GE(decoded, std::min(n, need + 1)) << d.name << " mode " << mode << " max_time " << max_time;
        EXPECT_TRUE(std::equal(ts.begin(), ts.begin() + decoded, got.begin())) << d.name << " mode " << mode;
        for (size_t g = n; g < n + kGuard; g++) EXPECT_EQ(got[g], 7);
        checked++;
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

// The int block scheme of an kIntDelta column: | 4 | n varint | scheme |.
int IntScheme(const std::string& enc) {
  std::string_view in(enc);
  in.remove_prefix(1);
  uint64_t n;
  const char* p = GetVarint64Ptr(in.data(), in.data() + in.size(), &n);
  return p == nullptr || p == in.data() + in.size() ? -1 : static_cast<uint8_t>(*p);
}

// Steps uniform in ±40 carry log2(81) = 6.34 bits; bit packing needs 7.
TEST(Encoding, EntropyStageCodesRandomWalkStepsBelowTheirPackedWidth) {
  std::mt19937_64 rng(9);
  std::vector<int64_t> v(4096);
  int64_t rpm = 3000;
  for (auto& x : v) x = rpm += static_cast<int64_t>(rng() % 81) - 40;
  // The int block at the floats' threshold (1/32) takes the stage.
  std::string enc;
  internal::PutHeader(&enc, CodecId::kIntDelta, v.size());
  internal::EncodeIntBlock(v.data(), v.size(), &enc);
  EXPECT_EQ(IntScheme(enc), 7);
  EXPECT_LT(enc.size(), v.size() * 6.6 / 8);
  EXPECT_GT(enc.size(), v.size() * 6.3 / 8);  // not below the entropy: the test data is right
  std::vector<int64_t> got(v.size());
  ASSERT_TRUE(DecodeIntegers(enc, v.size(), got.data()).ok());
  EXPECT_EQ(got, v);
  // An integer column asks for 1/8: 8 % fewer bytes do not pay for half
  // the decode speed, so it stays bit-packed (7 bits per step).
  std::string column;
  EncodeIntegers(v.data(), v.size(), &column);
  EXPECT_EQ(EncodedCodec(column), CodecId::kIntDelta);
  EXPECT_LT(IntScheme(column), 6);
  EXPECT_LT(column.size(), v.size() * 7.1 / 8);
  ASSERT_TRUE(DecodeIntegers(column, v.size(), got.data()).ok());
  EXPECT_EQ(got, v);
  // The same readings sent as floats go through the decimal codec's int block.
  std::vector<double> f(v.begin(), v.end());
  std::string fenc;
  EncodeFloats(f.data(), f.size(), &fenc);
  EXPECT_EQ(EncodedCodec(fenc), CodecId::kFloatDecimal);
  EXPECT_LT(fenc.size(), f.size() * 6.6 / 8);
  std::vector<double> fgot(f.size());
  ASSERT_TRUE(DecodeFloats(fenc, f.size(), fgot.data()).ok());
  EXPECT_EQ(fgot, f);
}

// Bell-shaped noise (a sum of four uniforms: range 1021, 10 bits packed,
// 9.25 bits of entropy) is stored as a frame of reference whose high byte
// is entropy-coded.
TEST(Encoding, EntropyStageCodesBellShapedNoiseBelowItsRange) {
  std::mt19937_64 rng(10);
  std::vector<int64_t> v(4096);
  for (auto& x : v) x = 5000 + rng() % 256 + rng() % 256 + rng() % 256 + rng() % 256;
  std::string enc;
  internal::PutHeader(&enc, CodecId::kIntDelta, v.size());
  internal::EncodeIntBlock(v.data(), v.size(), &enc);
  EXPECT_EQ(IntScheme(enc), 6);
  EXPECT_LT(enc.size(), v.size() * 9.6 / 8);
  std::vector<int64_t> got(v.size());
  ASSERT_TRUE(DecodeIntegers(enc, v.size(), got.data()).ok());
  EXPECT_EQ(got, v);
}

// A moving vehicle's coordinate: its step (speed × heading) changes slowly,
// so delta-of-deltas are far narrower than deltas (scheme 8).
TEST(Encoding, EntropyStageCodesSmoothTrajectoriesAsDeltaOfDeltas) {
  std::mt19937_64 rng(13);
  std::normal_distribution<double> gauss(0, 1);
  std::vector<int64_t> v(4096);
  double speed = 100;
  int64_t pos = 4800000;
  for (auto& x : v) {
    speed = std::clamp(speed + gauss(rng) * 3, 0.0, 350.0);
    x = pos += std::llround(speed + gauss(rng));
  }
  std::string enc;
  EncodeIntegers(v.data(), v.size(), &enc);
  EXPECT_EQ(IntScheme(enc), 8);
  std::vector<int64_t> got(v.size());
  ASSERT_TRUE(DecodeIntegers(enc, v.size(), got.data()).ok());
  EXPECT_EQ(got, v);
  for (size_t want : {size_t{1}, size_t{2}, size_t{3}, size_t{65}, size_t{4000}}) {
    std::vector<int64_t> part(v.size());
    ASSERT_TRUE(DecodeIntegersPrefix(enc, v.size(), want, part.data()).ok());
    EXPECT_TRUE(std::equal(v.begin(), v.begin() + want, part.begin())) << want;
  }
  // Extremes wrap modulo 2^64 and still round-trip.
  std::vector<int64_t> wild(300);
  for (size_t i = 0; i < wild.size(); i++)
    wild[i] = i % 7 == 0 ? INT64_MIN : INT64_MAX - static_cast<int64_t>(i);
  enc.clear();
  EncodeIntegers(wild.data(), wild.size(), &enc);
  got.assign(wild.size(), 0);
  ASSERT_TRUE(DecodeIntegers(enc, wild.size(), got.data()).ok());
  EXPECT_EQ(got, wild);
}

// An integer column whose entropy coding saves well over 1/8 still takes
// it: Laplace-distributed steps (scale 4: ~4.4 bits of entropy, packed at
// the width of their tails).
TEST(Encoding, IntegerColumnsTakeTheEntropyStageForAClearGain) {
  std::mt19937_64 rng(21);
  std::exponential_distribution<double> expo(0.25);
  std::vector<int64_t> v(4096);
  int64_t level = 0;
  for (auto& x : v) x = level += (rng() % 2 ? 1 : -1) * std::llround(expo(rng));
  std::string column;
  EncodeIntegers(v.data(), v.size(), &column);
  ASSERT_EQ(EncodedCodec(column), CodecId::kIntDelta);
  EXPECT_GE(IntScheme(column), 6);
  std::vector<int64_t> got(v.size());
  ASSERT_TRUE(DecodeIntegers(column, v.size(), got.data()).ok());
  EXPECT_EQ(got, v);
}

// The encoder picks one of the planner's two candidate splits by a Huffman
// size model on a sample and builds only that one (both when the model
// calls it close). On data the model knows and on data made to fool it
// (skewed two- and three-symbol alphabets, bursts, extremes, runs zstd's
// match finder takes), the block it builds decodes to the values and is
// within 1/32 of the smaller of the two built blocks.
TEST(Encoding, EntropySplitModelPicksWithinAFewPercentOfBuildingBoth) {
  std::mt19937_64 rng(22);
  std::normal_distribution<double> gauss(0, 1);
  std::vector<std::vector<int64_t>> sets;
  for (size_t n : {size_t{128}, size_t{700}, size_t{2160}, size_t{8192}, kMaxBlockValues}) {
    for (int shape = 0; shape < 8; shape++) {
      std::vector<int64_t> v(n);
      int64_t x = 1000000;
      for (size_t i = 0; i < n; i++) {
        switch (shape) {
          case 0:  // rpm walk
            v[i] = x += static_cast<int64_t>(rng() % 81) - 40;
            break;
          case 1:  // ADC noise, σ = 8 units, on a level
            v[i] = 3300 + std::llround(gauss(rng) * 8);
            break;
          case 2:  // two symbols, 97 % / 3 %, on a wide walk
            v[i] = x += (rng() % 100 < 97 ? 0 : 1) * 4096 + static_cast<int64_t>(rng() % 16);
            break;
          case 3:  // three symbols and rare wide bursts
            v[i] = x += static_cast<int64_t>(rng() % 3) * 1000 + (rng() % 500 == 0 ? int64_t{1} << 40 : 0);
            break;
          case 4:  // parked and moving stretches (zstd's matches)
            v[i] = x += (i / 300) % 2 == 0 ? 0 : static_cast<int64_t>(rng() % 2001) - 1000;
            break;
          case 5:  // wrapping extremes
            v[i] = i % 5 == 0 ? INT64_MIN + static_cast<int64_t>(rng() % 4000)
                              : INT64_MAX - static_cast<int64_t>(rng() % 4000);
            break;
          case 6:  // a smooth trajectory (delta of delta)
            v[i] = x += 100 + static_cast<int64_t>(i / 50) + static_cast<int64_t>(rng() % 7);
            break;
          default:  // uniform 20 bits: nothing to gain
            v[i] = static_cast<int64_t>(rng() % (1 << 20));
        }
      }
      sets.push_back(std::move(v));
    }
  }
  size_t entropy_blocks = 0;
  for (const auto& v : sets) {
    const size_t limit = SIZE_MAX / 2;  // no plain block to beat: always build
    std::string one, both;
    const bool built = internal::EncodeEntropyIntBlock(v.data(), v.size(), limit, 32, &one);
    ASSERT_EQ(built, internal::EncodeEntropyIntBlockBuildingBoth(v.data(), v.size(), limit, &both));
    if (!built) continue;
    entropy_blocks++;
    EXPECT_LE(one.size(), both.size() + both.size() / 32) << v.size();
    std::string column;
    internal::PutHeader(&column, CodecId::kIntDelta, v.size());
    column += one;
    std::vector<int64_t> got(v.size());
    ASSERT_TRUE(DecodeIntegers(column, v.size(), got.data()).ok()) << v.size();
    EXPECT_EQ(got, v);
  }
  EXPECT_GE(entropy_blocks, sets.size() * 3 / 4);
}

// The zstd trials on an entropy-coded column run only when runs of equal
// values could win them. Parked two thirds of the time (runs of 200), the
// walk's entropy-coded column is wrapped in zstd (~40 % smaller): the
// result is no larger than either forced alternative. Without runs they
// are skipped, and that is because they cannot win: zstd around the
// entropy-coded column is not smaller.
TEST(Encoding, ZstdTrialsRunWhereRunsCouldWinThem) {
  std::mt19937_64 rng(23), rng2(24);
  std::normal_distribution<double> gauss(0, 1);
  std::vector<double> idle(8192), walk(8192);
  double x = 21.5, y = 1500;
  for (size_t i = 0; i < idle.size(); i++) {
    if ((i / 100) % 3 == 2) x += gauss(rng);
    idle[i] = std::round(x * 10) / 10;
    walk[i] = y += static_cast<double>(static_cast<int64_t>(rng2() % 81) - 40);
  }
  for (const auto* v : {&idle, &walk}) {
    std::string automatic, zstd, decimal;
    EncodeFloats(v->data(), v->size(), &automatic);
    ASSERT_TRUE(EncodeFloatsWith(CodecId::kZstd, v->data(), v->size(), &zstd));
    ASSERT_TRUE(EncodeFloatsWith(CodecId::kFloatDecimal, v->data(), v->size(), &decimal));
    EXPECT_LE(automatic.size(), std::min(zstd.size(), decimal.size()));
    std::vector<double> got(v->size());
    ASSERT_TRUE(DecodeFloats(automatic, v->size(), got.data()).ok());
    EXPECT_EQ(got, *v);
  }
  std::string parked, plain_walk;
  EncodeFloats(idle.data(), idle.size(), &parked);
  EXPECT_EQ(EncodedCodec(parked), CodecId::kZstd);
  EncodeFloats(walk.data(), walk.size(), &plain_walk);
  EXPECT_EQ(EncodedCodec(plain_walk), CodecId::kFloatDecimal);
}

// Short blocks and blocks the plain schemes already store in a few bits
// keep the plain schemes (no zstd frame for nothing, no slower decode).
// A level plus independent noise (an ADC reading a drifting voltage): a
// delta carries the noise of two readings; the residual from a smoothed
// level about one. Scheme 9 must take it, decode it exactly and be
// clearly smaller than the best other transform.
TEST(Encoding, EntropyStageCodesNoisyLevelsFromASmoothedLevel) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> walk(0, 2), noise(0, 8);
  std::vector<int64_t> v(8192);
  double level = 3300;
  for (auto& x : v) {
    level += walk(rng);
    x = std::llround(level + noise(rng));
  }
  std::string enc;
  EncodeIntegers(v.data(), v.size(), &enc);
  EXPECT_EQ(IntScheme(enc), 9);
  std::vector<int64_t> got(v.size());
  ASSERT_TRUE(DecodeIntegers(enc, v.size(), got.data()).ok());
  EXPECT_EQ(got, v);
  // Against a random walk whose steps have the spread of these values'
  // deltas, sqrt(2 * 64 + 4) = 11.5 (what scheme 7 codes): the smoothed
  // level's residuals spread about 9.
  std::string as_walk;
  std::vector<int64_t> walk_only(v.size());  // a pure random walk with the same step spread
  std::mt19937_64 rng2(12);
  std::normal_distribution<double> step(0, 11.5);
  int64_t w = 3300;
  for (auto& x : walk_only) x = (w += std::llround(step(rng2)));
  EncodeIntegers(walk_only.data(), walk_only.size(), &as_walk);
  EXPECT_LT(enc.size() * 100, as_walk.size() * 96) << enc.size() << " vs " << as_walk.size();
  // Any int64 values round-trip, near the limits too (the level's fixed
  // point wraps; the decoder repeats the encoder's steps exactly).
  for (int64_t base : {INT64_MAX - 5000, INT64_MIN + 100, int64_t{1} << 56}) {
    std::vector<uint64_t> residuals(v.size());
    std::vector<int64_t> shifted(v.size());
    for (size_t i = 0; i < v.size(); i++)
      shifted[i] = static_cast<int64_t>(static_cast<uint64_t>(base) + v[i]);
    internal::SmoothResiduals(shifted.data(), shifted.size(), 4, residuals.data());
    internal::SmoothLevel lvl(shifted[0], 4);
    for (size_t i = 1; i < v.size(); i++) {
      const uint64_t x = lvl.Predict() + residuals[i - 1];
      ASSERT_EQ(static_cast<int64_t>(x), shifted[i]) << base << " " << i;
      lvl.Update(x);
    }
    std::string e;
    EncodeIntegers(shifted.data(), shifted.size(), &e);
    ASSERT_TRUE(DecodeIntegers(e, shifted.size(), got.data()).ok());
    EXPECT_EQ(got, shifted) << base;
  }
}

TEST(Encoding, EntropyStageOnlyWhereItPays) {
  std::mt19937_64 rng(11);
  std::vector<int64_t> v(100);
  int64_t x = 0;
  for (auto& y : v) y = x += static_cast<int64_t>(rng() % 81) - 40;
  std::string enc;
  EncodeIntegers(v.data(), v.size(), &enc);
  EXPECT_LT(IntScheme(enc), 6);
  std::vector<int64_t> counter(4096);
  for (size_t i = 0; i < counter.size(); i++)
    counter[i] = static_cast<int64_t>(i * 10 + (i % 1000 == 999 ? 5 : 0));
  enc.clear();
  EncodeIntegers(counter.data(), counter.size(), &enc);
  EXPECT_LT(IntScheme(enc), 6);
  // Uniform random 16-bit values: nothing to gain from Huffman.
  std::vector<int64_t> uniform(4096);
  for (auto& y : uniform) y = static_cast<int64_t>(rng() % 65536);
  enc.clear();
  EncodeIntegers(uniform.data(), uniform.size(), &enc);
  EXPECT_LT(IntScheme(enc), 6);
}

// Hand-made scheme 6/7 blocks with each field wrong: every one is
// kDataLoss, never a crash or a read outside the input (ASan build).
// Scheme 9's decoder runs SmoothLevel's steps rewritten on level + 128 (a
// shorter dependency chain); it must give exactly the values the predictor
// gives, for every shift, any first value and reference (near the int64
// limits, where the fixed point wraps) and residuals of either sign.
TEST(Encoding, SmoothLevelDecodeMatchesThePredictor) {
  std::mt19937_64 rng(19);
  const int64_t firsts[] = {0,
                            4719,
                            -4719,
                            INT64_MAX,
                            INT64_MIN,
                            INT64_MAX - 300,
                            INT64_MIN + 300,
                            int64_t{1} << 55,
                            -(int64_t{1} << 55)};
  for (int round = 0; round < 400; round++) {
    const size_t n = 2 + rng() % 300;
    const uint8_t shift = static_cast<uint8_t>(1 + round % 16);
    const int64_t first = round % 3 == 0 ? static_cast<int64_t>(rng()) : firsts[rng() % std::size(firsts)];
    const int64_t ref = round % 4 == 0 ? static_cast<int64_t>(rng()) : static_cast<int64_t>(rng() % 64) - 32;
    std::string high(n - 1, '\0');
    for (char& h : high) h = static_cast<char>(round % 5 == 0 ? 254 : rng() % 255);  // 255: escape
    std::string c;
    internal::PutHeader(&c, CodecId::kIntDelta, n);
    c.push_back(9);
    PutVarint64(&c, ZigZagEncode(first));
    c.push_back(static_cast<char>(shift));
    PutVarint64(&c, ZigZagEncode(ref));
    c.push_back(0);  // k: the high bytes are the whole elements
    c.push_back(0);  // hmode: stored as they are
    PutVarint64(&c, n - 1);
    c.append(high);
    c.push_back(0);  // no escapes
    std::vector<int64_t> got(n);
    ASSERT_TRUE(DecodeIntegers(c, n, got.data()).ok()) << round;
    internal::SmoothLevel level(first, shift);
    ASSERT_EQ(got[0], first);
    for (size_t i = 1; i < n; i++) {
      const uint64_t x = level.Predict() + static_cast<uint64_t>(ref) +
                         static_cast<uint64_t>(ZigZagDecode(static_cast<uint8_t>(high[i - 1])));
      ASSERT_EQ(got[i], static_cast<int64_t>(x)) << "round " << round << " value " << i;
      level.Update(x);
    }
  }
}

// Decimal floats are scaled back with a multiply and two FMAs where the
// CPU has them (Markstein's correction) instead of a division: the values
// must be the division's, bit for bit — a dense sweep of small integers and
// random ones up to the encoder's 2^51 limit, for every exponent, through
// both paths.
TEST(Encoding, DecimalDecodeMatchesDivisionBitForBit) {
  constexpr int64_t kLimit = (int64_t{1} << 51) - 1;
  std::mt19937_64 rng(23);
  for (int e = 0; e <= 18; e++) {
    const double scale = std::pow(10.0, e);
    for (int block = 0; block < (e <= 4 ? 40 : 8); block++) {
      std::vector<int64_t> ints(kMaxBlockValues);
      for (size_t i = 0; i < ints.size(); i++) {
        if (block < 4) {
          ints[i] = static_cast<int64_t>(block * ints.size() + i) - 8192;  // dense around 0
        } else if (block % 2 == 0) {
          ints[i] = static_cast<int64_t>(rng() % (2 * static_cast<uint64_t>(kLimit))) - kLimit;
        } else {
          const int64_t w = int64_t{1} << (rng() % 51);
          ints[i] = static_cast<int64_t>(rng() % static_cast<uint64_t>(w)) * (rng() % 2 ? 1 : -1);
        }
      }
      std::vector<double> want(ints.size());
      for (size_t i = 0; i < ints.size(); i++) want[i] = static_cast<double>(ints[i]) / scale;
      // The encoder checks each value's decode by division: all round-trip
      // as decimals (exceptions would hide a difference).
      std::string enc;
      ASSERT_TRUE(EncodeFloatsWith(CodecId::kFloatDecimal, want.data(), want.size(), &enc));
      for (bool fma : {true, false}) {
        internal::SetDecimalFma(fma);
        std::vector<double> got(want.size());
        ASSERT_TRUE(DecodeFloats(enc, got.size(), got.data()).ok());
        for (size_t i = 0; i < got.size(); i++) {
          ASSERT_EQ(D(got[i]), D(want[i])) << "e " << e << " int " << ints[i] << " fma " << fma;
        }
      }
      internal::SetDecimalFma(true);
    }
  }
}

TEST(Encoding, HostileEntropyBlocksAreDataLoss) {
  constexpr size_t n = 200;
  // `tail`: the escape count and escapes (default: none).
  auto column = [](int scheme, uint8_t k, uint8_t hmode, std::string_view high, uint64_t hlen, size_t low,
                   std::string_view tail = std::string_view("\0", 1), uint8_t shift = 3) {
    std::string c;
    internal::PutHeader(&c, CodecId::kIntDelta, n);
    c.push_back(static_cast<char>(scheme));
    if (scheme == 7 || scheme == 9) PutVarint64(&c, 0);  // first
    if (scheme == 9) c.push_back(static_cast<char>(shift));
    PutVarint64(&c, 0);  // ref
    c.push_back(static_cast<char>(k));
    c.append(low, '\x55');
    c.push_back(static_cast<char>(hmode));
    PutVarint64(&c, hlen);
    c.append(high);
    c.append(tail);
    return c;
  };
  std::vector<int64_t> out(n);
  const std::string raw_high(n, '\x01');
  // A well-formed block decodes (the builder above is right).
  ASSERT_TRUE(DecodeIntegers(column(6, 0, 0, raw_high, n, 0), n, out.data()).ok());
  EXPECT_EQ(out[0], 1);
  ASSERT_TRUE(DecodeIntegers(column(7, 2, 0, raw_high.substr(1), n - 1, internal::PackedBytes(n - 1, 2)), n,
                             out.data())
                  .ok());
  // Scheme 9: every residual 1 (zigzag 2 as the high byte, k = 0) from a
  // level starting at 0 that follows each value by 1/8: each value is the
  // rounded level before it plus 1.
  ASSERT_TRUE(DecodeIntegers(column(9, 0, 0, std::string(n - 1, '\x02'), n - 1, 0), n, out.data()).ok());
  {
    internal::SmoothLevel level(0, 3);
    int64_t want = 0;
    for (size_t i = 1; i < n; i++) {
      want = static_cast<int64_t>(level.Predict()) + 1;
      level.Update(static_cast<uint64_t>(want));
      ASSERT_EQ(out[i], want) << i;
    }
  }
  std::string frame;
  ASSERT_TRUE(internal::ZstdCompress(raw_high, &frame));
  ASSERT_TRUE(DecodeIntegers(column(6, 0, 1, frame, frame.size(), 0), n, out.data()).ok());
  // One escape: element 5's high part is 255 + 5.
  std::string escaped = raw_high;
  escaped[5] = '\xff';
  ASSERT_TRUE(DecodeIntegers(column(6, 0, 0, escaped, n, 0, "\x01\x05"), n, out.data()).ok());
  EXPECT_EQ(out[5], 260);
  EXPECT_EQ(out[6], 1);
  std::string short_frame, long_frame;
  ASSERT_TRUE(internal::ZstdCompress(std::string(n - 1, '\x01'), &short_frame));
  ASSERT_TRUE(internal::ZstdCompress(std::string(n + 1, '\x01'), &long_frame));
  const std::string bad[] = {
      column(6, 57, 0, raw_high, n, internal::PackedBytes(n, 57)),  // k > 56
      column(6, 0, 2, raw_high, n, 0),                              // unknown hmode
      column(6, 0, 0, raw_high, n - 1, 0),                          // raw length != n
      column(6, 0, 0, raw_high.substr(1), n, 0),                    // truncated high part
      column(6, 8, 0, raw_high, n, 10),                             // truncated low bits
      column(6, 0, 1, short_frame, short_frame.size(), 0),          // frame one byte short
      column(6, 0, 1, long_frame, long_frame.size(), 0),            // frame one byte long
      column(6, 0, 1, frame + "x", frame.size() + 1, 0),            // trailing garbage in the frame
      column(6, 0, 1, frame.substr(0, frame.size() - 1), frame.size() - 1, 0),  // cut frame
      column(6, 0, 1, raw_high, n, 0),                                          // not a zstd frame
      column(6, 0, 0, raw_high, UINT64_MAX, 0),                                 // absurd length
      column(10, 0, 0, raw_high, n, 0),                                         // unknown scheme
      column(9, 1, 0, raw_high.substr(1), n - 1, internal::PackedBytes(n - 1, 1), std::string_view("\0", 1),
             0),  // smoothing shift 0
      column(9, 1, 0, raw_high.substr(1), n - 1, internal::PackedBytes(n - 1, 1), std::string_view("\0", 1),
             17),                                                              // smoothing shift 17
      column(9, 1, 0, raw_high, n, internal::PackedBytes(n - 1, 1)),           // n high bytes, n - 1 wanted
      column(6, 0, 0, escaped, n, 0),                                          // an escape byte, no escapes
      column(6, 0, 0, escaped, n, 0, "\x02\x01\x01"),                          // more escapes than 255 bytes
      column(6, 0, 0, raw_high, n, 0, "\x01\x01"),                             // an escape, no 255 byte
      column(6, 0, 0, escaped, n, 0, "\x01"),                                  // escape varint missing
      column(6, 0, 0, raw_high, n, 0, "\xe8\x07"),                             // escape count > n
      column(6, 56, 0, escaped, n, internal::PackedBytes(n, 56), "\x01\x01"),  // 256 << 56 overflows
      column(6, 0, 0, raw_high, n, 0, ""),                                     // escape count missing
  };
  for (size_t i = 0; i < std::size(bad); i++) {
    EXPECT_EQ(DecodeIntegers(bad[i], n, out.data()).code(), absl::StatusCode::kDataLoss) << i;
  }
  // A trailing byte after a good block, and an empty block of scheme 6.
  EXPECT_FALSE(DecodeIntegers(column(6, 0, 0, raw_high, n, 0) + "x", n, out.data()).ok());
  std::string empty;
  internal::PutHeader(&empty, CodecId::kIntDelta, 0);
  empty += std::string("\x06\x00\x00\x00\x00", 5);
  EXPECT_EQ(DecodeIntegers(empty, 0, out.data()).code(), absl::StatusCode::kDataLoss);
}

// Writes fuzz seeds holding entropy-coded int blocks (decode_fuzz.cc
// input: | family u8 | n u16 LE | column |) when M2MDB_ENCODING_SEED_DIR is
// set, e.g. M2MDB_ENCODING_SEED_DIR=engine/encoding/encoding_fuzz_corpus
// build/tests/m2mdb_encoding_tests --gtest_filter='*EntropyFuzzSeeds*'.
TEST(Encoding, WritesEntropyFuzzSeeds) {
  const char* dir = std::getenv("M2MDB_ENCODING_SEED_DIR");
  if (dir == nullptr) GTEST_SKIP() << "M2MDB_ENCODING_SEED_DIR not set";
  std::mt19937_64 rng(12);
  constexpr size_t n = 4000;
  std::vector<int64_t> walk(n), bell(n), ts(n);
  int64_t x = 3000, t = 1700000000000;
  for (size_t i = 0; i < n; i++) {
    walk[i] = x += static_cast<int64_t>(rng() % 81) - 40;
    bell[i] = 5000 + rng() % 256 + rng() % 256 + rng() % 256 + rng() % 256;
    ts[i] = (t += 10000 + static_cast<int64_t>(rng() % 501) - 250) * 1000000;
  }
  std::vector<double> floats(walk.begin(), walk.end());
  for (double& f : floats) f /= 1000;
  auto save = [&](const char* name, int family, const std::string& col) {
    std::string seed(1, static_cast<char>(family));
    seed.push_back(static_cast<char>(n & 0xff));
    seed.push_back(static_cast<char>(n >> 8));
    seed += col;
    FILE* f = std::fopen((std::string(dir) + "/" + name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(seed.data(), 1, seed.size(), f);
    std::fclose(f);
  };
  std::string enc;
  EncodeIntegers(walk.data(), n, &enc);
  ASSERT_EQ(IntScheme(enc), 7);
  save("seed_20_int-entropy-delta", 2, enc);
  enc.clear();
  EncodeIntegers(bell.data(), n, &enc);
  ASSERT_EQ(IntScheme(enc), 6);
  save("seed_21_int-entropy-for", 2, enc);
  enc.clear();
  EncodeFloats(floats.data(), n, &enc);
  save("seed_22_decimal-entropy", 1, enc);
  enc.clear();
  EncodeTimestamps(ts.data(), n, &enc);
  save("seed_23_ts-entropy", 0, enc);
  std::vector<int64_t> track(n);
  double speed = 100;
  int64_t pos = 4800000;
  for (auto& p : track) {
    speed = std::clamp(speed + static_cast<double>(rng() % 7) - 3, 0.0, 350.0);
    p = pos += static_cast<int64_t>(speed) + static_cast<int64_t>(rng() % 3) - 1;
  }
  enc.clear();
  EncodeIntegers(track.data(), n, &enc);
  ASSERT_EQ(IntScheme(enc), 8);
  save("seed_24_int-entropy-dod", 2, enc);
  std::vector<int64_t> noisy(n);
  std::normal_distribution<double> step(0, 2), noise(0, 8);
  double level = 3300;
  for (auto& v : noisy) v = std::llround((level += step(rng)) + noise(rng));
  enc.clear();
  EncodeIntegers(noisy.data(), n, &enc);
  ASSERT_EQ(IntScheme(enc), 9);
  save("seed_25_int-entropy-smooth", 2, enc);
}

TEST(Encoding, BitPackingRoundTripsEveryWidth) {
  std::mt19937_64 rng(5);
  for (int w = 0; w <= 64; w++) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{200}}) {
      std::vector<uint64_t> v(n), got(n + 1, 0x1234);
      for (auto& x : v) x = w == 64 ? rng() : (w == 0 ? 0 : rng() & ((uint64_t{1} << w) - 1));
      std::string packed;
      internal::PackBits(v.data(), n, w, &packed);
      ASSERT_EQ(packed.size(), internal::PackedBytes(n, w));
      internal::UnpackBits(reinterpret_cast<const uint8_t*>(packed.data()), n, w, got.data());
      EXPECT_TRUE(std::equal(v.begin(), v.end(), got.begin())) << w << " " << n;
      EXPECT_EQ(got[n], 0x1234u);
    }
  }
}

}  // namespace
}  // namespace m2mdb::encoding

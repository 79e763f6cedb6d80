// gzip.h: libdeflate for whole buffers, zlib for streams and error messages.
#include "server/gzip.h"

#include <random>
#include <string>

#include <gtest/gtest.h>
#include <zlib.h>

namespace m2mdb::server {
namespace {

// zlib's own inflate (GunzipWithZlib), as a client would read our answers.
std::string ZlibInflate(const std::string& in) {
  std::string out;
  bool too_big;
  return GunzipWithZlib(in, 64 << 20, &out, &too_big).empty() && !too_big ? out : "<bad gzip>";
}

// zlib's deflate, as clients send bodies.
std::string ZlibGzip(const std::string& in) {
  Gzipper z(6);
  std::string out;
  EXPECT_TRUE(z.Add(in.substr(0, in.size() / 2), false, &out));  // streamed: zlib
  EXPECT_TRUE(z.Add(in.substr(in.size() / 2), true, &out));
  return out;
}

std::string LineProtocol(size_t lines, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s;
  for (size_t i = 0; i < lines; i++) {
    s += "cpu,host=h" + std::to_string(rng() % 50) + " usage=" + std::to_string(rng() % 10000) + "i " +
         std::to_string(1700000000000000000 + i) + "\n";
  }
  return s;
}

std::string Noise(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(Gzip, WholeBuffersRoundTripWithZlib) {
  for (const std::string& in :
       {std::string(), std::string("x"), LineProtocol(10, 1), LineProtocol(50000, 2), Noise(300000, 3)}) {
    for (int level : {1, 6, Z_DEFAULT_COMPRESSION, 9}) {
      std::string gz = "prefix";
      ASSERT_TRUE(GzipAll(in, level, &gz));
      ASSERT_EQ(gz.substr(0, 6), "prefix");  // appended, not replaced
      EXPECT_EQ(ZlibInflate(gz.substr(6)), in) << in.size() << " bytes, level " << level;
      std::string back;
      bool too_big = true;
      EXPECT_EQ(Gunzip(gz.substr(6), 1 << 30, &back, &too_big), "");
      EXPECT_FALSE(too_big);
      EXPECT_EQ(back, in);
    }
    // A client's zlib body inflates the same.
    std::string back;
    bool too_big;
    EXPECT_EQ(Gunzip(ZlibGzip(in), 1 << 30, &back, &too_big), "");
    EXPECT_EQ(back, in);
  }
}

TEST(Gzip, GzipperAtOnceIsOneMember) {
  const std::string in = LineProtocol(1000, 4);
  Gzipper z(1);
  std::string out;
  ASSERT_TRUE(z.Add(in, true, &out));
  EXPECT_EQ(ZlibInflate(out), in);
  EXPECT_FALSE(z.Add("more", true, &out));  // the stream is finished
}

TEST(Gzip, EveryMemberIsRead) {
  std::string a = LineProtocol(100, 5), b = LineProtocol(70000, 6), gz;
  ASSERT_TRUE(GzipAll(a, 6, &gz));
  ASSERT_TRUE(GzipAll(b, 1, &gz));
  gz += ZlibGzip("tail\n");
  std::string out;
  bool too_big;
  EXPECT_EQ(Gunzip(gz, 1 << 30, &out, &too_big), "");
  EXPECT_EQ(out, a + b + "tail\n");
}

TEST(Gzip, TheLimitHoldsWhateverTheTrailerSays) {
  const std::string in(1 << 20, 'a');  // a bomb: ~1 KB on the wire
  std::string gz;
  ASSERT_TRUE(GzipAll(in, 6, &gz));
  std::string out;
  bool too_big = false;
  EXPECT_EQ(Gunzip(gz, in.size(), &out, &too_big), "");  // exactly the limit: fine
  EXPECT_FALSE(too_big);
  EXPECT_EQ(out, in);
  EXPECT_EQ(Gunzip(gz, in.size() - 1, &out, &too_big), "");
  EXPECT_TRUE(too_big);

  // A trailer that lies (ISIZE is only a hint): too small, then far too big.
  for (uint32_t isize : {uint32_t{10}, uint32_t{0xffffffff}}) {
    std::string lying = gz;
    for (int i = 0; i < 4; i++) lying[lying.size() - 4 + i] = static_cast<char>(isize >> (8 * i));
    too_big = false;
    std::string err = Gunzip(lying, 64 << 20, &out, &too_big);
    // libdeflate checks ISIZE and refuses; zlib then says what is wrong.
    EXPECT_FALSE(too_big);
    EXPECT_EQ(err, "gzip: incorrect length check") << isize;
  }
}

TEST(Gzip, DamagedBodiesGetZlibsMessages) {
  std::string gz, out;
  ASSERT_TRUE(GzipAll(LineProtocol(2000, 7), 6, &gz));
  bool too_big;
  EXPECT_EQ(Gunzip(gz.substr(0, gz.size() - 20), 1 << 30, &out, &too_big), "unexpected EOF");
  EXPECT_EQ(Gunzip("not gzip at all", 1 << 30, &out, &too_big), "gzip: incorrect header check");
  std::string flipped = gz;
  flipped[flipped.size() - 6] ^= 0x55;  // the CRC
  EXPECT_EQ(Gunzip(flipped, 1 << 30, &out, &too_big), "gzip: incorrect data check");
  EXPECT_EQ(Gunzip(gz + "junk", 1 << 30, &out, &too_big).rfind("gzip: ", 0), 0u);
}

}  // namespace
}  // namespace m2mdb::server

// A driver for fuzz targets when libFuzzer is not available (gcc builds):
// runs LLVMFuzzerTestOneInput over every file of the corpus directories given
// on the command line, then over --mutations=N deterministic mutations of
// them (bit flips, truncations, byte insertions and splices). A crash, a
// sanitizer report or an abort fails the test; there is nothing else to check.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  long mutations = 10000;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("--mutations=", 0) == 0) {
      mutations = std::strtol(a.c_str() + 12, nullptr, 10);
      continue;
    }
    std::error_code ec;
    if (std::filesystem::is_directory(a, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(a)) {
        std::ifstream f(e.path(), std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        corpus.push_back(ss.str());
      }
    } else {
      std::ifstream f(a, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      corpus.push_back(ss.str());
    }
  }
  if (corpus.empty()) corpus.push_back("");
  for (const auto& c : corpus) LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(c.data()), c.size());
  std::mt19937_64 rng(12345);
  for (long m = 0; m < mutations; m++) {
    std::string s = corpus[rng() % corpus.size()];
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits; e++) {
      switch (rng() % 6) {
        case 0: if (!s.empty()) s[rng() % s.size()] ^= static_cast<char>(1u << (rng() % 8)); break;
        case 1: if (!s.empty()) s.resize(rng() % s.size()); break;
        case 2: s.insert(s.begin() + (s.empty() ? 0 : rng() % s.size()), static_cast<char>(rng())); break;
        case 3: {
          const std::string& o = corpus[rng() % corpus.size()];
          if (!o.empty()) s += o.substr(rng() % o.size());
          break;
        }
        case 4: if (!s.empty()) s[rng() % s.size()] = "\\\"=, \n\t#0.-eEiutf"[rng() % 18]; break;
        case 5: if (s.size() > 1) s.erase(rng() % s.size(), 1 + rng() % 8); break;
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::printf("fuzz driver: %zu corpus inputs, %ld mutations, no crash\n", corpus.size(), mutations);
  return 0;
}

// query/parser/parser_fuzz.cc — fuzz target for the InfluxQL parser.
//
// Any input must parse or fail cleanly (no crash, no sanitizer report, no
// stack overflow). When it parses, the printer's output must parse again and
// print identically: String() is a fixpoint, which is what lets the planner
// and the tests treat String(ast) as the tree's identity.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "m2mdb/query/ast.h"
#include "query/parser/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Longer inputs add nothing but time; the recursion bounds are reached
  // well below this.
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  m2mdb::query::ParseOptions options;
  options.validate = false;  // exercise every tree the grammar accepts
  auto parsed = m2mdb::query::ParseQuery(text, options);
  if (!parsed.ok()) return 0;
  const std::string first = m2mdb::query::String(*parsed);
  auto again = m2mdb::query::ParseQuery(first, options);
  if (!again.ok()) {
    std::fprintf(stderr, "printed query does not parse\ninput:   %.*s\nprinted: %s\nerror:   %s\n",
                 static_cast<int>(size), reinterpret_cast<const char*>(data), first.c_str(),
                 std::string(again.status().message()).c_str());
    std::abort();
  }
  const std::string second = m2mdb::query::String(*again);
  if (first != second) {
    std::fprintf(stderr, "printer is not a fixpoint\ninput:  %.*s\nfirst:  %s\nsecond: %s\n",
                 static_cast<int>(size), reinterpret_cast<const char*>(data), first.c_str(), second.c_str());
    std::abort();
  }
  // Validation must not crash on any parsed tree either.
  for (const auto& s : *parsed) (void)m2mdb::query::Validate(s);
  return 0;
}

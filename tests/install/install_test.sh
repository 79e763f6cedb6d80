#!/usr/bin/env bash
# The install test (tests/install/CMakeLists.txt): install the build into a
# temporary prefix, check what is there, then build docs/examples/embed.cc
# outside the tree with find_package(m2mdb) and with pkg-config, and run both.
set -euo pipefail
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2 ;;
    --source) src=$2 ;;
    --work) work=$2 ;;
    --cmake) cmake=$2 ;;
    --cxx) cxx=$2 ;;
    --pkg-config) pkgconfig=$2 ;;
    --shared) shared=$2 ;;
    --bench) bench=$2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
  shift 2
done
fail() { echo "FAIL: $*"; exit 1; }

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
echo "== cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; fail "install"; }

echo "== installed files"
bins=(bin/m2mdb)
[ "${bench:-1}" = 0 ] || bins+=(bin/m2mdb-bench)
for f in "${bins[@]}" include/m2mdb/db.h include/m2mdb/log.h include/m2mdb/status.h \
    include/m2mdb/query/executor.h include/m2mdb/query/parse.h; do
  [ -e "$prefix/$f" ] || fail "$f is not installed"
done
libdir=$(cd "$prefix" && dirname "$(find . -name m2mdb.pc -path '*/pkgconfig/*' | head -1)")
libdir=${libdir#./}
libdir=${libdir%/pkgconfig}
[ -n "$libdir" ] || fail "m2mdb.pc is not installed"
[ -e "$prefix/$libdir/cmake/m2mdb/m2mdbConfig.cmake" ] || fail "m2mdbConfig.cmake is not installed"
[ -e "$prefix/$libdir/cmake/m2mdb/m2mdbConfigVersion.cmake" ] || fail "m2mdbConfigVersion.cmake is not installed"
rpath=()
case "$shared" in
  ON|on|1|TRUE|true|YES|yes) ext=so ;;
  *) ext=a ;;
esac
[ -e "$prefix/$libdir/libm2mdb_engine.$ext" ] || fail "libm2mdb_engine.$ext is not installed"
[ -e "$prefix/$libdir/libm2mdb_query.$ext" ] || fail "libm2mdb_query.$ext is not installed"
# Only the public headers: no internal tree (engine/..., query/parser/...).
extra=$(cd "$prefix/include" && find . -type f ! -path './m2mdb/*.h' | head -5)
[ -z "$extra" ] || fail "not a public header: $extra"
"$prefix/bin/m2mdb" --help > /dev/null 2>&1 || "$prefix/bin/m2mdb" help > /dev/null 2>&1 ||
  fail "the installed m2mdb does not run"

echo "== find_package(m2mdb): configure and build $src/docs/examples/embed.cc"
"$cmake" -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DM2MDB_EXAMPLE="$src/docs/examples/embed.cc" \
  > "$work/consumer-configure.log" 2>&1 || { cat "$work/consumer-configure.log"; fail "consumer configure"; }
"$cmake" --build "$work/consumer" > "$work/consumer-build.log" 2>&1 ||
  { cat "$work/consumer-build.log"; fail "consumer build"; }
bash "$src/tests/install/check_embed_output.sh" "$work/consumer/embed" "$work/data-cmake"

echo "== pkg-config --cflags --libs m2mdb"
[ -n "$pkgconfig" ] || fail "no pkg-config"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
flags=$("$pkgconfig" --cflags --libs m2mdb) || fail "pkg-config m2mdb"
echo "$flags"
# Shared libraries outside the loader's path: the program says where they are.
[ "$ext" = a ] || rpath=("-Wl,-rpath,$prefix/$libdir")
# shellcheck disable=SC2086  # the flags are words
"$cxx" -std=c++20 -Wall -Wextra -Werror -O1 -o "$work/embed-pkg-config" "$src/docs/examples/embed.cc" $flags \
  "${rpath[@]}" ||
  fail "build with pkg-config"
bash "$src/tests/install/check_embed_output.sh" "$work/embed-pkg-config" "$work/data-pkg-config"

echo "== add_subdirectory(m2mdb) in a consumer: configure only"
mkdir -p "$work/sub-src"
cat > "$work/sub-src/CMakeLists.txt" <<EOF2
cmake_minimum_required(VERSION 3.25)
project(sub LANGUAGES C CXX)
add_subdirectory("$src" m2mdb)
add_executable(embed "$src/docs/examples/embed.cc")
target_link_libraries(embed PRIVATE m2mdb::engine m2mdb::query)
EOF2
"$cmake" -S "$work/sub-src" -B "$work/sub-build" -DCMAKE_CXX_COMPILER="$cxx" > "$work/sub.log" 2>&1 ||
  { cat "$work/sub.log"; fail "configure with add_subdirectory"; }
# As a subproject m2mdb looks for none of the test, benchmark, server or CLI
# dependencies, builds none of those targets and makes no warning an error.
found=$(grep -E '^(GTest_DIR|benchmark_DIR|OPENSSL_INCLUDE_DIR|nlohmann_json_DIR|_?Python3_EXECUTABLE|M2MDB_(CLI|SYSTEM)_PYTHON3|HTTPLIB_FOUND|LIBEDIT_FOUND)[:=]' \
  "$work/sub-build/CMakeCache.txt" || true)
[ -z "$found" ] || fail "the subproject looked for: $found"
targets=$("$cmake" --build "$work/sub-build" --target help)
grep -q 'm2mdb_engine$' <<<"$targets" || fail "no m2mdb_engine target in the subproject"
for t in m2mdb m2mdb-bench m2mdb_engine_tests lineproto_fuzz http1_fuzz; do
  ! grep -qE "^\.\.\. $t\$" <<<"$targets" || fail "the subproject builds $t"
done
! grep -rq -- -Werror "$work/sub-build/m2mdb/engine/CMakeFiles/m2mdb_engine.dir/flags.make" ||
  fail "the subproject compiles with -Werror"

rm -rf "$work"
echo "install test OK"

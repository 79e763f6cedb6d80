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
for f in bin/m2mdb bin/m2mdb-bench include/m2mdb/db.h include/m2mdb/log.h include/m2mdb/status.h \
    include/m2mdb/query/executor.h include/m2mdb/query/parse.h; do
  [ -e "$prefix/$f" ] || fail "$f is not installed"
done
libdir=$(cd "$prefix" && dirname "$(find . -name m2mdb.pc -path '*/pkgconfig/*' | head -1)")
libdir=${libdir#./}
libdir=${libdir%/pkgconfig}
[ -n "$libdir" ] || fail "m2mdb.pc is not installed"
[ -e "$prefix/$libdir/cmake/m2mdb/m2mdbConfig.cmake" ] || fail "m2mdbConfig.cmake is not installed"
[ -e "$prefix/$libdir/cmake/m2mdb/m2mdbConfigVersion.cmake" ] || fail "m2mdbConfigVersion.cmake is not installed"
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
# shellcheck disable=SC2086  # the flags are words
"$cxx" -std=c++20 -Wall -Wextra -Werror -O1 -o "$work/embed-pkg-config" "$src/docs/examples/embed.cc" $flags ||
  fail "build with pkg-config"
bash "$src/tests/install/check_embed_output.sh" "$work/embed-pkg-config" "$work/data-pkg-config"

rm -rf "$work"
echo "install test OK"

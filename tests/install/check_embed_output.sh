#!/usr/bin/env bash
# Runs the embedding example (docs/examples/embed.cc) on a fresh data
# directory and checks what it prints: the rejected lines, the points read
# back by the scan and the InfluxQL answer, and no engine warning.
#   usage: check_embed_output.sh EMBED_BINARY DATA_DIR
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir"
rc=0
out=$("$bin" "$dir" 2>&1) || rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
  echo "FAIL: $bin exited with $rc"
  exit 1
fi
for want in 'wrote 2 points' 'line 2 rejected: ' 'line 4 rejected: ' \
    'engine,truck=t1' '  t0+0s rpm=1500 temp=88.5' '  t0+20s rpm=1600 temp=89' \
    'engine,truck=t2' '  t0+0s rpm=900 temp=71.25' \
    'truck=t1 max=1600 mean=88.75' 'truck=t2 max=900 mean=71.25' \
    'series engine,truck=t\ 3 -> engine {truck: t 3}'; do
  if ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL: the output lacks: $want"
    exit 1
  fi
done
if grep -qF '[m2mdb]' <<<"$out"; then
  echo "FAIL: the engine logged a warning"
  exit 1
fi
rm -rf "$dir"
echo OK

#!/bin/bash
# Instructions per line of a subscription sender next to the write path's
# (docs/benchmarks.md, "Subscriptions"): a source m2mdb under callgrind
# ingests one hour of the iot set (100 trucks: 72 000 lines, 1 writer, 5000-line
# requests) with a subscription to a second m2mdb (not under callgrind), which
# is waited for until it holds every point. Deterministic, unlike rates on a
# shared machine.
#
#   bench/subscriptions/sender_callgrind.sh BIN BENCH_BIN [WORK_DIR]
#   e.g. bench/subscriptions/sender_callgrind.sh build/bin/m2mdb build/bin/m2mdb-bench /tmp/sender-cg
set -euo pipefail
BIN=$(realpath "$1")
BENCH=$(realpath "$2")
W=${3:-/tmp/sender-cg}
rm -rf "$W"
mkdir -p "$W"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port)
P2=$(free_port)
"$BIN" serve --data-dir "$W/dst" --http 127.0.0.1:$P2 --create-db bench >"$W/dst.log" 2>&1 &
DST=$!
valgrind --tool=callgrind --callgrind-out-file="$W/callgrind.out" \
  "$BIN" serve --data-dir "$W/src" --http 127.0.0.1:$P1 --create-db bench >"$W/src.log" 2>&1 &
SRC=$!
up() { curl -sf -o /dev/null "http://127.0.0.1:$1/ping"; }
for _ in $(seq 1 300); do up $P1 && up $P2 && break; sleep 0.2; done
curl -sf -o /dev/null -XPOST "http://127.0.0.1:$P1/query" \
  --data-urlencode "q=CREATE SUBSCRIPTION up ON bench DESTINATIONS ALL 'http://127.0.0.1:$P2'"
LINES=$("$BENCH" load --url http://127.0.0.1:$P1 --db bench --profile iot --scale 100 --duration 1h --workers 1 2>&1 |
  sed -n 's/.*loaded \([0-9]*\) lines.*/\1/p')
count() {
  curl -sf -XPOST "http://127.0.0.1:$1/query?db=bench" --data-urlencode "q=SELECT count(latitude) FROM readings" |
    sed -n 's/.*"values":\[\[[^,]*,\([0-9]*\)\]\].*/\1/p'
}
WANT=$(count $P1)
for _ in $(seq 1 900); do [ "$(count $P2)" = "$WANT" ] && break; sleep 0.2; done
[ "$(count $P2)" = "$WANT" ] || { echo "the destination did not catch up" >&2; exit 1; }
kill $SRC
wait $SRC || true
kill $DST
wait $DST || true
callgrind_annotate --inclusive=yes --threshold=100 "$W/callgrind.out" >"$W/annotate.txt" 2>/dev/null
# Inclusive instructions of the first function whose name matches $1.
ir() { grep -m1 -E "$1" "$W/annotate.txt" | awk '{gsub(",", "", $1); print $1}'; }
per_line() { awk -v a="${1:-0}" -v n="$LINES" 'BEGIN { printf "%.0f", a / n }'; }
RUN=$(ir 'server::Lane::Run\(\)')
PREP=$(ir 'server::Lane::Prepare\(\)' || true)
SENDER=$((RUN + ${PREP:-0}))
WRITE=$(ir 'HttpServer::Impl::HandleWrite\(')
echo "lines: $LINES"
echo "write path (HttpServer HandleWrite):           $(per_line "$WRITE") instructions/line"
echo "sender (lane threads, all):                    $(per_line $SENDER) instructions/line"
echo "  of which ReadWalChanges (read + render):     $(per_line "$(ir 'DBImpl::ReadWalChanges\(m2mdb::WalReadRequest const&, std::function<[^>]*> const&\) \[')") instructions/line"
echo "  of which gzip:                               $(per_line "$(ir 'server::Gzipper::Add\(')") instructions/line"
awk -v s=$SENDER -v w="$WRITE" 'BEGIN { printf "sender / write path: %.2f\n", s / w }'

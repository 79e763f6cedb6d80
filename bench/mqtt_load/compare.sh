#!/bin/bash
# MQTT ingest vs HTTP ingest of the iot set in the same run (docs/benchmarks.md,
# "MQTT ingest"): `m2mdb-bench generate --profile iot`, then for each run a fresh
# `m2mdb serve --mqtt` per load (default settings, --wal-sync always) fed by
# build/bin/mqtt_load: MQTT QoS 1, 50 lines per message, 8 connections, 100 in
# flight each; HTTP /write of the same 50-line bodies over 8 keep-alive
# connections; for reference, HTTP with 5000-line bodies and MQTT with the
# previous default of 8 writer threads. Every load is
# checked afterwards (one velocity value per readings line). Only the PIDs
# started here are stopped.
#
#   bench/mqtt_load/compare.sh BUILD_DIR [DURATION] [RUNS]
set -euo pipefail
BUILD=${1:?usage: compare.sh BUILD_DIR [DURATION] [RUNS]}
DURATION=${2:-4h}
RUNS=${3:-2}
TMP=$(mktemp -d /tmp/mqtt-load-compare.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 400); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }

"$BUILD/bin/m2mdb-bench" generate --profile iot --scale 100 --duration "$DURATION" --out "$TMP/gen" >/dev/null
cat "$TMP"/gen/*.lp > "$TMP/iot.lp"
EXPECT=$(grep -c '^readings' "$TMP/iot.lp")
echo "iot set: $(wc -l < "$TMP/iot.lp") lines ($EXPECT readings), $(du -m "$TMP/iot.lp" | cut -f1) MB; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"

FAILED=0
one() { # label mode lines [serve flags...]
  local hp mp dir pid port n
  hp=$(free_port); mp=$(free_port); dir="$TMP/data-$1"
  "$BUILD/bin/m2mdb" serve --data-dir "$dir" --http "127.0.0.1:$hp" --mqtt "127.0.0.1:$mp" --create-db iot \
    --log-level warn "${@:4}" &
  pid=$!; PIDS+=("$pid")
  wait_http "http://127.0.0.1:$hp/ping"
  port=$mp; [ "$2" = http ] && port=$hp
  "$BUILD/bin/mqtt_load" --file "$TMP/iot.lp" --mode "$2" --target "127.0.0.1:$port" --db iot --conns 8 \
    --lines "$3" --inflight 100 --pid "$pid" --label "$1" || FAILED=1
  n=$(curl -s "http://127.0.0.1:$hp/query" --data-urlencode "db=iot" \
        --data-urlencode 'q=SELECT count("velocity") FROM "readings"' |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["series"][0]["values"][0][1])')
  if [ "$n" = "$EXPECT" ]; then echo "CHECK label=$1 stored=$n expected=$EXPECT ok";
  else echo "CHECK label=$1 stored=$n expected=$EXPECT MISMATCH"; FAILED=1; fi
  kill "$pid"; wait "$pid" || true
  rm -rf "$dir"
}
for run in $(seq 1 "$RUNS"); do
  # Alternate the order so neither load always runs on a warmer machine.
  if [ $((run % 2)) = 1 ]; then
    one "mqtt-50-$run" mqtt 50; one "http-50-$run" http 50
  else
    one "http-50-$run" http 50; one "mqtt-50-$run" mqtt 50
  fi
  one "http-5000-$run" http 5000
  # The listener's previous default, for the record.
  one "mqtt-50-writers8-$run" mqtt 50 --mqtt-writers 8
done
exit $FAILED

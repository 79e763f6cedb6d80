#!/bin/bash
# HTTP ingest: m2mdb vs influxd 1.6 vs VictoriaMetrics, same driver, same data,
# same run. Each server gets a fresh temp data dir and a free 127.0.0.1 port;
# only the PIDs started here are stopped.
#
#   bench/http_load/compare.sh BUILD_DIR [WRITERS] [BATCHES] [LINES]
set -euo pipefail
BUILD=${1:?usage: compare.sh BUILD_DIR [WRITERS] [BATCHES] [LINES]}
WRITERS=${2:-4}
BATCHES=${3:-240}
LINES=${4:-5000}
LOAD="$BUILD/bin/http_load"
TMP=$(mktemp -d /tmp/http-load-compare.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Every load is checked afterwards: the server must hold one velocity value per
# line sent. (A VictoriaMetrics started without -retentionPeriod silently drops
# the generator's 2024 timestamps and "ingests" at 4x speed in 28 MB.)
EXPECT=$((BATCHES * LINES))
check_influxql() { # label port
  local n
  n=$(curl -s "http://127.0.0.1:$2/query" --data-urlencode "db=bench" \
        --data-urlencode 'q=SELECT count("velocity") FROM "readings"' |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["series"][0]["values"][0][1])')
  report_check "$1" "$n"
}
report_check() {
  if [ "$2" = "$EXPECT" ]; then echo "CHECK label=$1 stored=$2 expected=$EXPECT ok";
  else echo "CHECK label=$1 stored=$2 expected=$EXPECT MISMATCH"; FAILED=1; fi
}
FAILED=0
wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }
run_load() { # label port path pid
  "$LOAD" --label "$1" --target "127.0.0.1:$2" --path "$3" --writers "$WRITERS" --batches "$BATCHES" \
    --lines "$LINES" --trucks 1000 --pid "$4"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GB RAM; $(date -u +%Y-%m-%dT%H:%MZ)"

# m2mdb (default --wal-sync always: acknowledged after fdatasync).
P=$(free_port)
"$BUILD/bin/m2mdb" serve --data-dir "$TMP/m2mdb" --http "127.0.0.1:$P" --create-db bench >"$TMP/m2mdb.log" 2>&1 &
PIDS+=($!); M2=$!
wait_http "http://127.0.0.1:$P/ping"
run_load m2mdb "$P" "/write?db=bench" "$M2"
check_influxql m2mdb "$P"
kill -TERM "$M2"; wait "$M2" || true

# influxd 1.6 (default wal-fsync-delay 0: fsync per write).
P=$(free_port); PB=$(free_port)
mkdir -p "$TMP/influx"
cat >"$TMP/influx/influxd.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$PB"
[meta]
  dir = "$TMP/influx/meta"
[data]
  dir = "$TMP/influx/data"
  wal-dir = "$TMP/influx/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$P"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
CONF
/usr/bin/influxd -config "$TMP/influx/influxd.conf" >"$TMP/influx.log" 2>&1 &
PIDS+=($!); IX=$!
wait_http "http://127.0.0.1:$P/ping"
curl -s -XPOST "http://127.0.0.1:$P/query" --data-urlencode "q=CREATE DATABASE bench" >/dev/null
run_load influxdb-1.6 "$P" "/write?db=bench" "$IX"
check_influxql influxdb-1.6 "$P"
kill -TERM "$IX"; wait "$IX" || true

# VictoriaMetrics (acknowledges from memory; flushes in the background).
P=$(free_port)
/usr/bin/victoria-metrics -httpListenAddr "127.0.0.1:$P" -storageDataPath "$TMP/vm" -retentionPeriod=100y >"$TMP/vm.log" 2>&1 &
PIDS+=($!); VM=$!
wait_http "http://127.0.0.1:$P/health"
run_load victoria-metrics "$P" "/write?db=bench" "$VM"
curl -s "http://127.0.0.1:$P/internal/force_flush" >/dev/null
sleep 2
N=$(curl -s "http://127.0.0.1:$P/api/v1/query" --data-urlencode 'query=sum(count_over_time(readings_velocity[10y]))' |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
report_check victoria-metrics "$N"
kill -TERM "$VM"; wait "$VM" || true
exit "$FAILED"

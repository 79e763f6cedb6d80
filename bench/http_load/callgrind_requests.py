#!/usr/bin/env python3
"""Server instructions per HTTP request, measured with callgrind.

Runs `m2mdb serve` under callgrind (all threads, --http-spin-us 0) on a copy of
a data directory, sends N requests of one kind on one keep-alive connection,
stops the server and reads the instruction total; does so for two values of N
and prints (total(N2) - total(N1)) / (N2 - N1), so that start-up, shutdown
and the fixed set-up cancel out.

Kinds (the iot data set of `m2mdb-bench generate`, database "iot"):
  write   POST /write of the file given with --write-file (e.g. 5 000 lines)
  count   count-truck-day: count(velocity) of truck_0 over the first day
  raw     raw-truck-1h: SELECT * of truck_0 over 12:00-13:00 of the first day

Example (docs/benchmarks.md, "One HTTP stack"):
  build/bin/m2mdb-bench generate --scale 10 --duration 1d > /tmp/iot.lp
  head -5000 /tmp/iot.lp > /tmp/w5000.lp
  build/bin/m2mdb import --data-dir /tmp/base -d iot --create-db -q /tmp/iot.lp
  bench/http_load/callgrind_requests.py --m2mdb build/bin/m2mdb --data-dir /tmp/base \
      --kind count --n1 20 --n2 220
"""
import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

QUERIES = {
    "count": "SELECT count(\"velocity\") FROM \"readings\" WHERE \"name\" = 'truck_0' AND "
             "time >= '2024-01-01T00:00:00Z' AND time < '2024-01-02T00:00:00Z'",
    "raw": "SELECT * FROM \"readings\" WHERE \"name\" = 'truck_0' AND "
           "time >= '2024-01-01T12:00:00Z' AND time < '2024-01-01T13:00:00Z'",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(args, n, body):
    work = tempfile.mkdtemp(prefix="cg-requests-")
    try:
        data = os.path.join(work, "data")
        shutil.copytree(args.data_dir, data)
        out = os.path.join(work, "callgrind.out")
        port = free_port()
        srv = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, args.m2mdb, "serve",
             "--data-dir", data, "--http", "127.0.0.1:%d" % port, "--http-spin-us", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while True:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    c.request("GET", "/ping")
                    r = c.getresponse()
                    r.read()
                    if r.status == 204:
                        break
                except OSError:
                    pass
                if time.time() > deadline or srv.poll() is not None:
                    sys.exit("server did not start")
                time.sleep(0.2)
            for _ in range(n):
                if args.kind == "write":
                    c.request("POST", "/write?db=iot", body=body)
                else:
                    q = urllib.parse.urlencode({"db": "iot", "q": QUERIES[args.kind]})
                    c.request("GET", "/query?" + q)
                r = c.getresponse()
                r.read()
                if r.status not in (200, 204):
                    sys.exit("request failed: %d" % r.status)
            c.close()
        finally:
            srv.send_signal(signal.SIGTERM)
            srv.wait(timeout=120)
        total = None
        with open(out) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    total = int(line.split()[1])
        return total
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--m2mdb", required=True)
    p.add_argument("--data-dir", required=True, help="copied for each run, never changed")
    p.add_argument("--kind", choices=["write", "count", "raw"], required=True)
    p.add_argument("--write-file", help="body of each POST /write (kind write)")
    p.add_argument("--n1", type=int, default=20)
    p.add_argument("--n2", type=int, default=220)
    args = p.parse_args()
    body = None
    if args.kind == "write":
        if not args.write_file:
            sys.exit("--kind write needs --write-file")
        with open(args.write_file, "rb") as f:
            body = f.read()
    t1 = run_once(args, args.n1, body)
    t2 = run_once(args, args.n2, body)
    print("%s: %d requests %d, %d requests %d: %.0f instructions per request" %
          (args.kind, args.n1, t1, args.n2, t2, (t2 - t1) / (args.n2 - args.n1)))


if __name__ == "__main__":
    main()

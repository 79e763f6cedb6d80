#!/usr/bin/python3
"""Durable subscriptions: local ingest with and without an active subscription,
and the catch-up rate after an outage (docs/benchmarks.md, "Subscriptions").

  bench/subscriptions/catchup.py --bin build/bin/m2mdb --bench build/bin/m2mdb-bench \\
      --work /tmp/sub-bench [--duration 1h] [--scale 100]

Three runs of `m2mdb-bench load` (iot set) into a source server, in one process
so the ratios compare like with like on a loaded machine:
  1. no subscription;
  2. a subscription to a second m2mdb that is up (delivery runs alongside);
  3. a subscription to a destination that is down (the "outage"), then the
     destination is started and the time until it holds every point is taken.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, args, name, port):
        self.dir = os.path.join(args.work, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.port = port
        self.log = open(self.dir + ".log", "w")
        self.proc = subprocess.Popen([args.bin, "serve", "--data-dir", self.dir, "--http", "127.0.0.1:%d" % port,
                                      "--create-db", "bench"], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(500):
            try:
                self.query("SHOW DATABASES")
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("server did not start")

    def query(self, q):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("POST", "/query?" + urllib.parse.urlencode({"q": q, "db": "bench"}))
        r = json.loads(c.getresponse().read())
        c.close()
        return r

    def count(self):
        total = 0
        r = self.query("SELECT count(latitude) FROM readings")["results"][0]
        for s in r.get("series", []):
            total += s["values"][0][1]
        return total

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


def load(args, port, start):
    out = subprocess.run([args.bench, "load", "--url", "http://127.0.0.1:%d" % port, "--db", "bench",
                          "--profile", "iot", "--scale", str(args.scale), "--duration", args.duration,
                          "--start", str(start), "--workers", "4"], capture_output=True, text=True, check=True)
    return out.stdout + out.stderr


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--bench", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--duration", default="1h")
    p.add_argument("--scale", type=int, default=100)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)

    def timed_load(port, start):
        # The load tool's own rate (lines/s over its send time), and its line count.
        text = load(args, port, start)
        m = re.search(r"loaded (\d+) lines.* in ([0-9.]+) s: (\d+) lines/s", text)
        return int(m.group(1)), float(m.group(3)), text

    base = 1704067200
    src = Server(args, "src", free_port())
    # 1. No subscription (run twice: the spread says how noisy the machine is).
    lines1, r_plain, text = timed_load(src.port, base)
    _, r_plain2, _ = timed_load(src.port, base + 86400)
    # 2. With a subscription to a destination that is up.
    dst = Server(args, "dst-up", free_port())
    src.query("CREATE SUBSCRIPTION up ON bench DESTINATIONS ALL 'http://127.0.0.1:%d'" % dst.port)
    _, r_sub, _ = timed_load(src.port, base + 2 * 86400)
    n2 = src.count() * 1 // 3  # readings of the third run (all runs are the same size)
    deadline = time.time() + 600
    while dst.count() < n2 and time.time() < deadline:
        time.sleep(0.2)
    src.query("DROP SUBSCRIPTION up ON bench")
    dst.stop()
    # 3. Outage, then catch-up.
    before = src.count()
    down_port = free_port()
    src.query("CREATE SUBSCRIPTION late ON bench DESTINATIONS ALL 'http://127.0.0.1:%d'" % down_port)
    lines3, r_out, _ = timed_load(src.port, base + 3 * 86400)
    n3 = src.count() - before
    late = Server(args, "dst-late", down_port)
    t0 = time.time()
    while late.count() < n3 and time.time() < t0 + 1200:
        time.sleep(0.05)
    t_catch = time.time() - t0
    got = late.count()
    late.stop()
    src.stop()
    print("lines per run: %d (readings rows %d)" % (lines1, n3))
    print("local ingest, no subscription:      %.0f lines/s (again: %.0f)" % (r_plain, r_plain2))
    print("local ingest, active subscription:  %.0f lines/s, ratio %.2f to the mean of the two above" %
          (r_sub, r_sub / ((r_plain + r_plain2) / 2)))
    print("local ingest during the outage:     %.0f lines/s" % r_out)
    print("catch-up after the outage:          %.0f lines/s (%.2f s, %d of %d readings rows), ratio to local "
          "ingest %.2f" % (lines3 / t_catch, t_catch, got, n3, (lines3 / t_catch) / ((r_plain + r_plain2) / 2)))


if __name__ == "__main__":
    main()

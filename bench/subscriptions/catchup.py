#!/usr/bin/python3
"""Durable subscriptions: local ingest with and without an active subscription,
and the catch-up rate after an outage (docs/benchmarks.md, "Subscriptions").

  bench/subscriptions/catchup.py --bin build/bin/m2mdb --bench build/bin/m2mdb-bench \\
      --work /tmp/sub-bench [--duration 1h] [--scale 100] [--rounds 3] [--busy-rounds 0] [--pin]

Runs of `m2mdb-bench load` (iot set) into a source server, in one process so
the ratios compare like with like on a loaded machine:
  1. `--rounds` times, alternating: a load with no subscription, and a load
     with a subscription to a second m2mdb that is up (delivery runs
     alongside; the destination is waited for until it holds the load). For
     each, the source server's CPU time (utime + stime of the process, every
     thread, the sender's included) per line written: the sender's cost on
     the write path, less noisy than wall-clock rates on a shared machine.
  2. a subscription to a destination that is down (the "outage"), then the
     destination is started and the time until it holds every point is taken.
  3. `--busy-rounds` times: a load while the sender catches up the previous
     one, against control rounds whose sender is idle.
`--pin`: the source server and the load tool on CPU 0, the destinations on
CPU 1 (taskset), so that a destination's own ingest does not take the
source's core.
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


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pinned(args, cpu, cmd):
    return ["taskset", "-c", str(cpu)] + cmd if args.pin else cmd


class Server:
    def __init__(self, args, name, port, cpu=0):
        self.dir = os.path.join(args.work, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.port = port
        self.log = open(self.dir + ".log", "w")
        self.proc = subprocess.Popen(pinned(args, cpu, [args.bin, "serve", "--data-dir", self.dir, "--http",
                                                        "127.0.0.1:%d" % port, "--create-db", "bench"]),
                                     stdout=self.log, stderr=subprocess.STDOUT)
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

    def cpu(self):
        return cpu_seconds(self.proc.pid)

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
    out = subprocess.run(pinned(args, 0, [args.bench, "load", "--url", "http://127.0.0.1:%d" % port, "--db", "bench",
                          "--profile", "iot", "--scale", str(args.scale), "--duration", args.duration,
                          "--start", str(start), "--workers", "4"]), capture_output=True, text=True, check=True)
    return out.stdout + out.stderr


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--bench", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--duration", default="1h")
    p.add_argument("--scale", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3, help="0: the catch-up only")
    p.add_argument("--pin", action="store_true")
    p.add_argument("--busy-rounds", type=int, default=0,
                   help="rounds of local ingest while the sender catches up, each with a control")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)

    def timed_load(port, start):
        # The load tool's own rate (lines/s over its send time), and its line count.
        text = load(args, port, start)
        m = re.search(r"loaded (\d+) lines.* in ([0-9.]+) s: (\d+) lines/s", text)
        return int(m.group(1)), float(m.group(3)), text

    base = 1704067200
    day = 0
    src = Server(args, "src", free_port(), cpu=0)
    dst = Server(args, "dst-up", free_port(), cpu=1)
    plain, sub = [], []  # (lines/s, source CPU us per line) per load
    for _ in range(args.rounds):
        for with_sub in (False, True):
            if with_sub:
                src.query("CREATE SUBSCRIPTION up ON bench DESTINATIONS ALL 'http://127.0.0.1:%d'" % dst.port)
            rows0, dst0 = src.count(), dst.count()
            cpu0 = src.cpu()
            lines, rate, _ = timed_load(src.port, base + day * 86400)
            day += 1
            rows = src.count() - rows0
            if with_sub:
                # Until the destination holds this load: the sender's work is
                # all in the CPU figure.
                deadline = time.time() + 600
                while dst.count() < dst0 + rows and time.time() < deadline:
                    time.sleep(0.05)
                if dst.count() < dst0 + rows:
                    raise RuntimeError("the destination did not catch up")
            # Both kinds: the flushes a load sets off land in its own figure.
            time.sleep(1)
            cpu = src.cpu() - cpu0
            (sub if with_sub else plain).append((rate, cpu * 1e6 / lines))
            if with_sub:
                src.query("DROP SUBSCRIPTION up ON bench")
    dst.stop()
    # 2. Outage, then catch-up.
    before = src.count()
    down_port = free_port()
    src.query("CREATE SUBSCRIPTION late ON bench DESTINATIONS ALL 'http://127.0.0.1:%d'" % down_port)
    lines3, r_out, _ = timed_load(src.port, base + day * 86400)
    n3 = src.count() - before
    cpu0 = src.cpu()
    late = Server(args, "dst-late", down_port, cpu=1)
    t0 = time.time()
    while late.count() < n3 and time.time() < t0 + 1200:
        time.sleep(0.05)
    t_catch = time.time() - t0
    cpu_catch = src.cpu() - cpu0
    cpu_dst = late.cpu()
    got = late.count()
    late.stop()
    src.query("DROP SUBSCRIPTION late ON bench")
    day += 1

    # 3. Local ingest while the sender is busy catching up: a load into a
    # subscription whose destination is down (the sender idles, retrying),
    # then the destination is started and a second load runs while the
    # sender delivers the first. Control rounds leave the subscription's
    # destination down during the second load. Ratio: second load's rate /
    # first's.
    busy, control = [], []
    for _ in range(args.busy_rounds):
        for with_busy in (True, False):
            port = free_port()
            rows0 = src.count()
            src.query("CREATE SUBSCRIPTION b ON bench DESTINATIONS ALL 'http://127.0.0.1:%d'" % port)
            _, ra, _ = timed_load(src.port, base + day * 86400)
            day += 1
            # Control: a destination on another port, so that both kinds of
            # round start a server between the loads (the source's flush of
            # the first load runs meanwhile) but only one sender is busy.
            d = Server(args, "dst-busy", port if with_busy else free_port(), cpu=1)
            _, rb, _ = timed_load(src.port, base + day * 86400)
            day += 1
            if not with_busy:
                d.stop()
                d = Server(args, "dst-busy", port, cpu=1)
            rows = src.count() - rows0
            deadline = time.time() + 600
            while d.count() < rows and time.time() < deadline:
                time.sleep(0.1)
            d.stop()
            src.query("DROP SUBSCRIPTION b ON bench")
            (busy if with_busy else control).append(rb / ra)
    src.stop()

    def mean(xs):
        return sum(xs) / len(xs)

    print("lines per load: %d; %d rounds; pinned: %s" % (lines3, args.rounds, "yes" if args.pin else "no"))
    if plain:
        r_plain = mean([r for r, _ in plain])
        c_plain = mean([c for _, c in plain])
        print("local ingest, no subscription:      %s lines/s; source CPU %s us/line" %
              (", ".join("%.0f" % r for r, _ in plain), ", ".join("%.2f" % c for _, c in plain)))
        print("local ingest, active subscription:  %s lines/s; source CPU %s us/line" %
              (", ".join("%.0f" % r for r, _ in sub), ", ".join("%.2f" % c for _, c in sub)))
        print("ratios (active / none, means):      ingest rate %.2f, source CPU per line %.2f" %
              (mean([r for r, _ in sub]) / r_plain, mean([c for _, c in sub]) / c_plain))
    else:
        # --rounds 0: the outage's load (the sender only retrying) is the
        # local ingest rate of reference.
        r_plain = r_out
    if busy:
        print("ingest while the sender catches up / before (rate ratios): %s; control (sender idle): %s; "
              "means %.2f / %.2f = %.2f" % (", ".join("%.2f" % x for x in busy), ", ".join("%.2f" % x for x in control),
                                           mean(busy), mean(control), mean(busy) / mean(control)))
    print("local ingest during the outage:     %.0f lines/s" % r_out)
    print("catch-up after the outage:          %.0f lines/s (%.2f s, %d of %d readings rows), ratio to local "
          "ingest %.2f" % (lines3 / t_catch, t_catch, got, n3, (lines3 / t_catch) / r_plain))
    print("  CPU during catch-up: source %.2f us/line (%.0f %% of a core), destination %.2f us/line (%.0f %%)" %
          (cpu_catch * 1e6 / lines3, 100 * cpu_catch / t_catch, cpu_dst * 1e6 / lines3, 100 * cpu_dst / t_catch))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The pipelined sender (docs/edge.md): a lane reads, renders and gzips the
next batches while one is in flight, one request at a time per destination.
These tests hold or fail requests at a recording proxy while batches are
prepared behind them and check what the destination received, request by
request: every point exactly once and in WAL order when batches fail, and
the in-flight batch (then those prepared) sent again after a kill -9.

  pipeline_test.py --bin build/bin/m2mdb --work DIR [TestClass ...]
"""
import argparse
import gzip
import http.client
import http.server
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import subscription_test as st  # noqa: E402  (Server, lines, wait_for)


class Gate:
    """A proxy to a destination that answers request k (1-based) with
    fail.get(k) instead of forwarding it, holds it hold.get(k) seconds
    first, and records every request: (k, status answered, body)."""

    def __init__(self, target_port, fail=None, hold=None, delay=0.0):
        self.target_port = target_port
        self.fail = fail or {}
        self.hold = hold or {}
        self.delay = delay
        self.lock = threading.Lock()
        self.count = 0
        self.log = []
        self.concurrent = 0
        self.max_concurrent = 0
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                raw = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                with gate.lock:
                    gate.count += 1
                    k = gate.count
                    gate.concurrent += 1
                    gate.max_concurrent = max(gate.max_concurrent, gate.concurrent)
                try:
                    time.sleep(gate.hold.get(k, gate.delay))
                    if k in gate.fail:
                        status, data = gate.fail[k], b'{"error":"injected"}'
                    else:
                        c = http.client.HTTPConnection("127.0.0.1", gate.target_port, timeout=30)
                        headers = {h: v for h, v in self.headers.items()
                                   if h.lower() in ("content-encoding", "content-type")}
                        c.request("POST", self.path, body=body, headers=headers)
                        r = c.getresponse()
                        status, data = r.status, r.read()
                        c.close()
                    with gate.lock:
                        gate.log.append((k, status, raw.decode()))
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    with gate.lock:
                        gate.concurrent -= 1

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.handle_error = lambda request, client_address: None  # a killed sender's broken pipe
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def requests(self):
        with self.lock:
            return sorted(self.log)

    def idle(self):
        """No request in the gate: each one it forwarded is in its log (the
        destination counts a batch's points before the gate logs it)."""
        with self.lock:
            return self.concurrent == 0

    def delivered_lines(self):
        out = []
        for _, status, body in self.requests():
            if 200 <= status < 300:
                out.extend(body.splitlines())
        return out

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def write_many(src, start, n, per_write=500):
    for off in range(start, start + n, per_write):
        status, data = src.write("d", "\n".join(st.lines(off, per_write)) + "\n")
        assert status == 204, (status, data)


class Pipeline(unittest.TestCase):
    def test_a_failed_batch_is_retried_before_the_prepared_ones_exactly_once_in_order(self):
        dst = st.Server("pipe-dst", extra=["--create-db", "d"])
        # Slow answers build a backlog, so that batches wait prepared behind
        # the one in flight; requests 2, 3 and 6 fail.
        gate = Gate(dst.port, fail={2: 500, 3: 503, 6: 500}, delay=0.15)
        src = st.Server("pipe-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '%s'" % gate.url())
            n = 40000
            write_many(src, 0, n)
            st.wait_for(lambda: dst.count("d") == n, timeout=120, what="every point at the destination")
            st.wait_for(gate.idle, what="the last request recorded")
            reqs = gate.requests()
            self.assertGreaterEqual(len(reqs), 8, [(k, s, b.count("\n")) for k, s, b in reqs])
            # A failed request is followed by the same batch again, never by
            # one prepared behind it.
            for i, (k, status, body) in enumerate(reqs):
                if status >= 300:
                    self.assertEqual(reqs[i + 1][2], body, "request %d after the failed %d" % (k + 1, k))
            # Exactly once, in the order written: no batch skipped, none twice.
            self.assertEqual(st.lines(0, n), gate.delivered_lines())
            self.assertEqual(1, gate.max_concurrent)  # one request at a time on the one connection
            self.assertEqual(src.ok("SELECT count(v), sum(v) FROM m GROUP BY dev", "d"),
                             dst.ok("SELECT count(v), sum(v) FROM m GROUP BY dev", "d"))
        finally:
            src.stop()
            gate.close()
            dst.stop()

    def test_kill_9_with_batches_prepared_resends_from_the_batch_in_flight(self):
        dst = st.Server("pipe-kill-dst", extra=["--create-db", "d"])
        # Request 2 is held long enough for the kill to land while it is in
        # flight and the batches after it are prepared.
        gate = Gate(dst.port, hold={2: 3.0})
        src = st.Server("pipe-kill-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '%s'" % gate.url())
            write_many(src, 0, 500)  # request 1: delivered
            st.wait_for(lambda: dst.count("d") == 500, what="the first batch")
            n = 30000
            write_many(src, 500, n - 500)
            st.wait_for(lambda: gate.count >= 2, what="request 2 in flight")
            time.sleep(0.5)  # the preparer fills its queue behind it
            src.kill()
            time.sleep(3.0)  # the held request 2 reaches the destination
            src = st.Server("pipe-kill-src", fresh=False)
            st.wait_for(lambda: dst.count("d") == n, timeout=120, what="every point after the restart")
            # The held request is recorded once forwarded (later on a loaded machine).
            st.wait_for(lambda: any(k == 2 for k, _, _ in gate.requests()), what="request 2 recorded")
            st.wait_for(gate.idle, what="the last request recorded")
            reqs = gate.requests()
            # The restarted sender starts at the saved cursor, the batch that
            # was in flight: sent again (its bounds may differ, as the WAL
            # has grown), then the rest, in WAL order; nothing else twice.
            expected = st.lines(0, n)
            in_flight = [b for k, _, b in reqs if k == 2][0].splitlines()
            self.assertEqual(expected[500:500 + len(in_flight)], in_flight)
            self.assertEqual(expected[:500] + in_flight + expected[500:], gate.delivered_lines())
            self.assertEqual(expected[500], reqs[2][2].splitlines()[0])
            self.assertEqual(src.ok("SELECT count(v), sum(v) FROM m GROUP BY dev", "d"),
                             dst.ok("SELECT count(v), sum(v) FROM m GROUP BY dev", "d"))
        finally:
            src.stop()
            gate.close()
            dst.stop()

    def test_writes_to_other_databases_behind_a_batch_in_flight_keep_the_backlog_exact(self):
        dst = st.Server("pipe-other-dst", extra=["--create-db", "d"])
        gate = Gate(dst.port, delay=0.5)  # batches of d stay in flight a while
        src = st.Server("pipe-other-src", extra=["--create-db", "d", "--create-db", "other"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '%s' BACKLOG 64MiB WHEN FULL REFUSE WRITES" %
                   gate.url())
            for i in range(3):
                self.assertEqual(204, src.write("d", "m,dev=d0 v=%d %d\n" % (i, i + 1))[0])
                # Records the lane skips, read ahead (and merged) while the
                # batch of d is in flight.
                for j in range(30):
                    self.assertEqual(204, src.write("other", "x v=%d %d\n" % (j, j + 1))[0])
                    time.sleep(0.01)
            st.wait_for(lambda: dst.count("d") == 3, what="the points of d")
            st.wait_for(lambda: src.subscriptions()["s"]["backlog_bytes"] == 0, what="an empty backlog")
            self.assertEqual(204, src.write("d", "m,dev=d0 v=9 9\n")[0])  # not refused
            st.wait_for(lambda: dst.count("d") == 4, what="the last point")
        finally:
            src.stop()
            gate.close()
            dst.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    args, rest = p.parse_known_args()
    os.makedirs(args.work, exist_ok=True)
    st.ARGS = args
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()

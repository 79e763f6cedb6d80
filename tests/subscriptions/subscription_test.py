#!/usr/bin/python3
"""Durable subscriptions end to end (docs/edge.md): a source m2mdb serve with
CREATE SUBSCRIPTION, destinations that are other m2mdb servers, a Python
proxy that fails or slows requests, and influxd 1.6 when it is installed.

  subscription_test.py --bin build/bin/m2mdb --work DIR [TestClass ...]

M2MDB_SUB_POINTS sets the points of the outage test (default 30000; the
issue's manual run uses 300000).
"""
import argparse
import gzip
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

ARGS = None
POINTS = int(os.environ.get("M2MDB_SUB_POINTS", "30000"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One m2mdb serve process; `port` fixed (so that a subscription can name
    it before it runs) or chosen by the server."""

    def __init__(self, name, port=0, fresh=True, extra=()):
        self.name = name
        self.data_dir = os.path.join(ARGS.work, name)
        if fresh:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_path = self.data_dir + ".log"
        os.makedirs(ARGS.work, exist_ok=True)
        self.log = open(self.log_path, "a")
        cmd = [ARGS.bin, "serve", "--data-dir", self.data_dir, "--http", "127.0.0.1:%d" % port] + list(extra)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        deadline = time.time() + 20
        start = len(self.read_log())
        while time.time() < deadline:
            m = re.search(r"listening on http://[^ ]*:(\d+) ", self.read_log()[start:])
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise AssertionError("server exited at start:\n" + self.read_log())
            time.sleep(0.02)
        raise AssertionError("server did not start:\n" + self.read_log())

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def query(self, q, db=""):
        st, body = self.request("POST", "/query?" + urllib.parse.urlencode({"q": q, "db": db}))
        return st, json.loads(body)

    def ok(self, q, db=""):
        st, j = self.query(q, db)
        assert st == 200 and "error" not in j["results"][0], (q, st, j)
        return j["results"][0]

    def write(self, db, body):
        return self.request("POST", "/write?db=%s" % db, body.encode())

    def count(self, db, measurement="m"):
        st, j = self.query("SELECT count(v) FROM %s" % measurement, db)
        if st != 200:
            return -1
        r = j["results"][0]
        if "error" in r:
            return -1
        if "series" not in r:
            return 0
        return r["series"][0]["values"][0][1]

    def subscriptions(self):
        r = self.ok("SHOW SUBSCRIPTIONS")
        out = {}
        for s in r.get("series", []):
            for row in s["values"]:
                out[row[1]] = dict(zip(s["columns"], row))
        return out

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.log.close()
        return self.proc.returncode


def lines(start, n, series=50, measurement="m"):
    """n points over `series` series, times increasing per series."""
    out = []
    for i in range(start, start + n):
        out.append("%s,dev=d%d v=%d %d" % (measurement, i % series, i, 1700000000000000000 + i * 1000))
    return out


def write_all(server, db, start, n, batch=5000):
    for off in range(0, n, batch):
        body = "\n".join(lines(start + off, min(batch, n - off))) + "\n"
        st, data = server.write(db, body)
        assert st == 204, (st, data)


def wait_for(pred, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class Proxy:
    """An HTTP proxy to a destination that fails, delays or records requests."""

    def __init__(self, target_port, fail_every=0, delay=0.0, status=500, retry_after=None):
        self.target_port = target_port
        self.fail_every = fail_every
        self.delay = delay
        self.status = status
        self.retry_after = retry_after
        self.requests = 0
        self.failed = 0
        self.delivered = []  # bodies forwarded with a 2xx answer
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                proxy.requests += 1
                if proxy.delay:
                    time.sleep(proxy.delay)
                if proxy.fail_every and proxy.requests % proxy.fail_every == 0:
                    proxy.failed += 1
                    self.send_response(proxy.status)
                    if proxy.retry_after:
                        self.send_header("Retry-After", str(proxy.retry_after))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                c = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-encoding", "content-type")}
                c.request("POST", self.path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                c.close()
                if 200 <= r.status < 300:
                    raw = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                    proxy.delivered.append(raw.decode())
                self.send_response(r.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A sender killed mid-request breaks the pipe: expected, not news.
        self.httpd.handle_error = lambda request, client_address: None
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Statements(unittest.TestCase):
    def test_create_show_drop_and_influxd_errors(self):
        s = Server("statements", extra=["--create-db", "d"])
        try:
            self.assertEqual({}, s.subscriptions())
            s.ok("CREATE SUBSCRIPTION s ON d.autogen DESTINATIONS ALL 'http://127.0.0.1:1'")
            s.ok("CREATE SUBSCRIPTION s4 ON d DESTINATIONS ANY 'http://a:1', 'https://u:p@b:2'")

            def err(q):
                st, j = s.query(q)
                return j.get("error") or j["results"][0].get("error")
            self.assertEqual("subscription already exists",
                             err("CREATE SUBSCRIPTION s ON d.autogen DESTINATIONS ALL 'http://127.0.0.1:1'"))
            self.assertEqual("retention policy not found: nope",
                             err("CREATE SUBSCRIPTION s2 ON d.nope DESTINATIONS ALL 'http://127.0.0.1:1'"))
            self.assertEqual("database not found: nodb",
                             err("CREATE SUBSCRIPTION s2 ON nodb.autogen DESTINATIONS ALL 'http://127.0.0.1:1'"))
            self.assertEqual("invalid subscription URL: ftp://x",
                             err("CREATE SUBSCRIPTION s3 ON d.autogen DESTINATIONS ALL 'ftp://x'"))
            self.assertEqual("error parsing query: found SOME, expected ALL, ANY at line 1, char 50",
                             err("CREATE SUBSCRIPTION s3 ON d.autogen DESTINATIONS SOME 'http://a:1'"))
            subs = s.subscriptions()
            self.assertEqual(["s", "s4"], sorted(subs))
            self.assertEqual("ANY", subs["s4"]["mode"])
            self.assertEqual("autogen", subs["s4"]["retention_policy"])
            self.assertEqual("http://a:1,https://u:xxxxx@b:2", subs["s4"]["destinations"])  # password masked
            self.assertEqual("subscription not found", err("DROP SUBSCRIPTION nope ON d.autogen"))
            s.ok("DROP SUBSCRIPTION s ON d.autogen")
            self.assertEqual(["s4"], sorted(s.subscriptions()))
            # Definitions survive a restart.
            s.stop()
            s = Server("statements", fresh=False)
            self.assertEqual(["s4"], sorted(s.subscriptions()))
            st, body = s.request("GET", "/metrics")
            self.assertIn(b'm2mdb_subscription_backlog_bytes{database="d",retention_policy="autogen",'
                          b'subscription="s4"', body)
        finally:
            s.stop()


    def test_statements_need_admin_once_auth_is_on(self):
        s = Server("statements-auth", extra=["--create-db", "d"])
        try:
            s.ok("CREATE USER admin WITH PASSWORD 'pw1' WITH ALL PRIVILEGES")

            def q(query, user, password):
                st, body = s.request("POST", "/query?" + urllib.parse.urlencode(
                    {"q": query, "u": user, "p": password}))
                return st, json.loads(body)
            st, j = q("CREATE USER bob WITH PASSWORD 'pw2'", "admin", "pw1")
            self.assertEqual(200, st, j)
            create = "CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://u:secret@127.0.0.1:1'"
            for query in (create, "SHOW SUBSCRIPTIONS", "DROP SUBSCRIPTION s ON d"):
                st, j = q(query, "bob", "pw2")
                self.assertEqual(403, st, j)
                self.assertIn("requires admin privilege", j["error"])
            st, j = q(create, "admin", "pw1")
            self.assertEqual(200, st, j)
            self.assertNotIn("error", j["results"][0])
            st, j = q("SHOW SUBSCRIPTIONS", "admin", "pw1")
            self.assertNotIn("secret", json.dumps(j))
        finally:
            s.stop()


class Outage(unittest.TestCase):
    """The destination is down while POINTS points are written, the source is
    SIGKILLed mid-way and restarted, the destination starts later without the
    database, which is created later still: it ends with exactly the points."""

    def test_everything_arrives_exactly_once_per_point(self):
        dport = free_port()
        src = Server("outage-src", extra=["--create-db", "d"])
        src.ok("CREATE SUBSCRIPTION up ON d.autogen DESTINATIONS ALL 'http://127.0.0.1:%d'" % dport)
        half = POINTS // 2
        write_all(src, "d", 0, half)
        src.kill()  # kill -9 of the sender (and the server it lives in)
        src = Server("outage-src", fresh=False)
        write_all(src, "d", half, POINTS - half)
        dst = Server("outage-dst", port=dport)
        try:
            time.sleep(1)  # the sender meets "database not found" (404) and retries
            self.assertEqual(-1, dst.count("d"))
            self.assertGreater(src.subscriptions()["up"]["backlog_bytes"], 0)
            dst.ok("CREATE DATABASE d")
            wait_for(lambda: dst.count("d") == POINTS, timeout=120, what="%d points at the destination" % POINTS)
            wait_for(lambda: src.subscriptions()["up"]["backlog_bytes"] == 0, what="an empty backlog")
            # Same values, per series.
            self.assertEqual(src.ok("SELECT count(v), sum(v), min(v), max(v) FROM m GROUP BY dev", "d"),
                             dst.ok("SELECT count(v), sum(v), min(v), max(v) FROM m GROUP BY dev", "d"))
            self.assertEqual(0, src.subscriptions()["up"]["dropped_points"])
            # New writes keep flowing.
            write_all(src, "d", POINTS, 10)
            wait_for(lambda: dst.count("d") == POINTS + 10, what="the new points")
        finally:
            dst.stop()
            src.stop()


    def test_sigkill_while_delivering_resends_idempotently(self):
        dst = Server("outage2-dst", extra=["--create-db", "d"])
        proxy = Proxy(dst.port, delay=0.05)  # slow: the kill lands mid-delivery
        src = Server("outage2-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '%s'" % proxy.url())
            n = 20000
            for off in range(0, n, 500):
                self.assertEqual(204, src.write("d", "\n".join(lines(off, 500)) + "\n")[0])
            wait_for(lambda: 0 < dst.count("d") < n, what="delivery under way")
            src.kill()
            src = Server("outage2-src", fresh=False)
            wait_for(lambda: dst.count("d") == n, timeout=120, what="every point after the restart")
            # Some batches went twice (at least once); same series + time
            # overwrote, so the count is exact and the values are the source's.
            self.assertEqual(src.ok("SELECT count(v), sum(v) FROM m GROUP BY dev", "d"),
                             dst.ok("SELECT count(v), sum(v) FROM m GROUP BY dev", "d"))
        finally:
            src.stop()
            proxy.close()
            dst.stop()


class DeadLetter(unittest.TestCase):
    def test_a_refused_batch_goes_to_the_dead_letter_file_and_the_rest_flows(self):
        dst = Server("dl-dst", extra=["--create-db", "d"])
        src = Server("dl-src", extra=["--create-db", "d"])
        try:
            # At the destination m.v is a string: floats for it are refused (400).
            self.assertEqual(204, dst.write("d", 'm v="text" 1\n')[0])
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '%s'" % dst.url())
            self.assertEqual(204, src.write("d", "m v=1.5 2\nm v=2.5 3\n")[0])
            wait_for(lambda: src.subscriptions()["s"]["dead_letter_points"] == 2, what="dead-lettered points")
            self.assertEqual(204, src.write("d", "ok v=1 4\n")[0])
            wait_for(lambda: dst.count("d", "ok") == 1, what="the next batch")
            path = os.path.join(src.data_dir, "d.autogen.s.deadletter.lp")
            with open(path) as f:
                text = f.read()
            self.assertIn("reason=HTTP 400", text)
            self.assertIn("m v=1.5 2\nm v=2.5 3\n", text)
        finally:
            src.stop()
            dst.stop()


class Flaky(unittest.TestCase):
    def test_intermittent_500s_and_a_slow_destination_lose_nothing_and_keep_order(self):
        dst = Server("flaky-dst", extra=["--create-db", "d"])
        proxy = Proxy(dst.port, fail_every=3, delay=0.05)
        src = Server("flaky-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '%s'" % proxy.url())
            n = 20000
            for off in range(0, n, 500):  # many small writes: many batches
                self.assertEqual(204, src.write("d", "\n".join(lines(off, 500)) + "\n")[0])
            wait_for(lambda: dst.count("d") == n, timeout=120, what="all points through the flaky proxy")
            self.assertGreater(proxy.failed, 0)
            self.assertGreater(src.subscriptions()["s"]["dead_letter_points"], -1)
            # In order per series: delivered timestamps only grow.
            last = {}
            for body in proxy.delivered:
                for line in body.splitlines():
                    key, _, ts = line.rpartition(" ")
                    dev = key.split(" ")[0]
                    self.assertGreater(int(ts), last.get(dev, -1), line)
                    last[dev] = int(ts)
            st, metrics = src.request("GET", "/metrics")
            self.assertRegex(metrics.decode(), r'm2mdb_subscription_retries_total\{[^}]*\} [1-9]')
        finally:
            src.stop()
            proxy.close()
            dst.stop()

    def test_429_with_retry_after_is_honoured(self):
        dst = Server("flaky429-dst", extra=["--create-db", "d"])
        proxy = Proxy(dst.port, fail_every=2, status=429, retry_after=1)
        src = Server("flaky429-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '%s'" % proxy.url())
            t0 = time.time()
            for i in range(3):
                self.assertEqual(204, src.write("d", "m v=%d %d\n" % (i, i))[0])
                wait_for(lambda: dst.count("d") == i + 1, what="point %d" % i)
            self.assertGreater(proxy.failed, 0)
            self.assertGreaterEqual(time.time() - t0, 1.0)  # waited Retry-After
        finally:
            src.stop()
            proxy.close()
            dst.stop()


class AllAny(unittest.TestCase):
    def test_all_reaches_every_destination_and_any_fails_over(self):
        a = Server("allany-a", extra=["--create-db", "d"])
        b = Server("allany-b", extra=["--create-db", "d"])
        down = "http://127.0.0.1:%d" % free_port()
        src = Server("allany-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION every ON d DESTINATIONS ALL '%s', '%s'" % (a.url(), b.url()))
            write_all(src, "d", 0, 3000, batch=1000)
            wait_for(lambda: a.count("d") == 3000 and b.count("d") == 3000, what="both destinations")
            src.ok("DROP SUBSCRIPTION every ON d")
            c = Server("allany-c", extra=["--create-db", "d"])
            src.ok("CREATE SUBSCRIPTION one ON d DESTINATIONS ANY '%s', '%s'" % (down, c.url()))
            write_all(src, "d", 3000, 2000, batch=500)
            wait_for(lambda: c.count("d") == 2000, what="the destination that is up")
            self.assertEqual(3000, a.count("d"))  # the dropped subscription sends nothing more
            c.stop()
        finally:
            src.stop()
            a.stop()
            b.stop()


class Backlog(unittest.TestCase):
    def test_drop_oldest_counts_exactly_what_it_dropped(self):
        dport = free_port()
        src = Server("bl-drop-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://127.0.0.1:%d' BACKLOG 256KiB" % dport)
            n = 30000  # ~1.2 MB of line protocol, far past 256 KiB
            write_all(src, "d", 0, n, batch=1000)
            wait_for(lambda: src.subscriptions()["s"]["dropped_points"] > 0, what="dropped points")
            time.sleep(0.5)
            dst = Server("bl-drop-dst", port=dport, extra=["--create-db", "d"])
            try:
                wait_for(lambda: src.subscriptions()["s"]["backlog_bytes"] == 0, what="an empty backlog")
                dropped = src.subscriptions()["s"]["dropped_points"]
                wait_for(lambda: dst.count("d") == n - dropped, what="the points that were kept")
                self.assertGreater(dropped, 0)
                self.assertIn("dropped the oldest", src.read_log())
            finally:
                dst.stop()
        finally:
            src.stop()

    def test_refuse_writes_refuses_until_the_backlog_drains(self):
        dport = free_port()
        src = Server("bl-refuse-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://127.0.0.1:%d' BACKLOG 128KiB "
                   "WHEN FULL REFUSE WRITES" % dport)
            accepted = 0
            refused = None
            for off in range(0, 100000, 1000):
                st, body = src.write("d", "\n".join(lines(off, 1000)) + "\n")
                if st == 503:
                    refused = body.decode()
                    break
                self.assertEqual(204, st)
                accepted += 1000
                time.sleep(0.05)
            self.assertIsNotNone(refused, "writes were never refused")
            self.assertIn("writes are refused until it drains", refused)
            st, metrics = src.request("GET", "/metrics")
            self.assertRegex(metrics.decode(), r'm2mdb_subscription_refusing_writes\{[^}]*\} 1')
            dst = Server("bl-refuse-dst", port=dport, extra=["--create-db", "d"])
            try:
                wait_for(lambda: dst.count("d") == accepted, what="every accepted point")
                wait_for(lambda: src.write("d", "m,dev=x v=1 1\n")[0] == 204, what="writes accepted again")
                self.assertEqual(0, src.subscriptions()["s"]["dropped_points"])
            finally:
                dst.stop()
        finally:
            src.stop()


    def test_refuse_writes_bounds_the_wal_that_other_databases_fill(self):
        """Writes to another database go to the same WAL, which the full
        lane's cursor keeps: they are refused at twice the bound, so the WAL
        cannot grow until the disk is full."""
        dport = free_port()
        src = Server("bl-other-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE DATABASE other")
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://127.0.0.1:%d' BACKLOG 128KiB "
                   "WHEN FULL REFUSE WRITES" % dport)
            self.assertEqual(204, src.write("d", "m,dev=a v=1 1\n")[0])
            refused = None
            written = 0
            for off in range(0, 200000, 1000):
                st, body = src.write("other", "\n".join(lines(off, 1000)) + "\n")
                if st == 503:
                    refused = body.decode()
                    break
                self.assertEqual(204, st)
                written += 1000
                time.sleep(0.05)
            self.assertIsNotNone(refused, "writes to the other database were never refused")
            self.assertIn("twice its bound", refused)
            self.assertLess(written, 20000)  # 128 KiB x 2 of WAL is a few thousand lines
            dst = Server("bl-other-dst", port=dport, extra=["--create-db", "d"])
            try:
                wait_for(lambda: src.write("other", "m,dev=x v=1 1\n")[0] == 204, what="writes accepted again")
                wait_for(lambda: dst.count("d") == 1, what="the subscribed point")
            finally:
                dst.stop()
        finally:
            src.stop()


class Verify(unittest.TestCase):
    def test_verify_finds_missing_hours_and_resend_repairs_them(self):
        dst = Server("verify-dst", extra=["--create-db", "d"])
        src = Server("verify-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '%s'" % dst.url())
            base = 1700000000 * 10**9
            body = "".join('m,dev=d%d,loc=a\\ b v=%d,s="q\\"x",i=%di %d\n' % (i % 3, i, i, base + i * 60 * 10**9)
                           for i in range(300))  # 5 hours of minutes, 3 series
            self.assertEqual(204, src.write("d", body)[0])
            wait_for(lambda: dst.count("d") == 300, what="delivery")
            args = [ARGS.bin, "subscription", "verify", "s", "--host", src.url(), "-d", "d",
                    "--destination", dst.url(), "--start", "2023-11-14T00:00:00Z", "--end", "2023-11-16T00:00:00Z"]
            r = subprocess.run(args, capture_output=True, text=True, timeout=60)
            self.assertEqual(0, r.returncode, r.stdout + r.stderr)
            self.assertIn(", 0 differ", r.stdout)
            # The destination loses one series' points (an operator's mistake).
            dst.ok("DELETE FROM m WHERE dev = 'd1'", "d")
            r = subprocess.run(args, capture_output=True, text=True, timeout=60)
            self.assertEqual(1, r.returncode, r.stdout + r.stderr)
            self.assertIn("dev=d1", r.stdout)
            r = subprocess.run(args + ["--resend"], capture_output=True, text=True, timeout=60)
            self.assertEqual(0, r.returncode, r.stdout + r.stderr)
            self.assertIn("re-sent", r.stdout)
            r = subprocess.run(args, capture_output=True, text=True, timeout=60)
            self.assertEqual(0, r.returncode, r.stdout + r.stderr)
            q = "SELECT count(v), sum(i), last(s) FROM m GROUP BY *"
            self.assertEqual(src.ok(q, "d"), dst.ok(q, "d"))
            r = subprocess.run(args[:3] + ["nope"] + args[4:], capture_output=True, text=True, timeout=60)
            self.assertEqual(2, r.returncode)
            self.assertIn("not found", r.stderr)
        finally:
            src.stop()
            dst.stop()


def metric(server, name, subscription):
    """The value of `name` for `subscription` in /metrics, or None."""
    st, body = server.request("GET", "/metrics")
    m = re.search(r'^%s\{[^}]*subscription="%s"[^}]*\} (\d+)$' % (re.escape(name), re.escape(subscription)),
                  body.decode(), re.M)
    return int(m.group(1)) if m else None


class PeriodicVerify(unittest.TestCase):
    """VERIFY EVERY: the server compares the destination with its own data on
    its own thread, repairs with RESEND, and shows the result."""

    def test_periodic_verify_repairs_a_lost_hour_and_show_and_metrics_tell(self):
        dst = Server("pv-dst", extra=["--create-db", "d"])
        src = Server("pv-src", extra=["--create-db", "d"])
        try:
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '%s' VERIFY EVERY 1s WINDOW 24h RESEND" % dst.url())
            src.ok("CREATE SUBSCRIPTION down ON d DESTINATIONS ALL 'http://127.0.0.1:%d' VERIFY EVERY 1s"
                   % free_port())
            # Three hours of minutes ending two hours ago: whole hours the
            # verifier looks at (it skips the hour still being delivered).
            now = int(time.time())
            body = "".join("m,dev=d%d v=%d.5,i=%di,s=\"x\" %d\n" % (i % 3, i, i, (now - 5 * 3600 + i * 60) * 10**9)
                           for i in range(180))
            self.assertEqual(204, src.write("d", body)[0])
            wait_for(lambda: dst.count("d") == 180, what="delivery")
            dst.ok("DELETE FROM m WHERE dev = 'd1'", "d")  # the destination loses a series
            self.assertEqual(120, dst.count("d"))
            wait_for(lambda: dst.count("d") == 180, timeout=30, what="the periodic verification's resend")
            q = "SELECT count(v), sum(v), sum(i), last(s) FROM m GROUP BY *"
            self.assertEqual(src.ok(q, "d"), dst.ok(q, "d"))
            self.assertGreater(metric(src, "m2mdb_subscription_verify_hours_resent_total", "s"), 0)
            self.assertIn("differs in", src.read_log())

            def settled():
                row = src.subscriptions()["s"]
                return row if row["verify_hours_differing"] == 0 and row["verify_hours_checked"] > 0 else None
            row = wait_for(settled, timeout=30, what="a verification finding nothing")
            self.assertEqual("EVERY 1s WINDOW 1d RESEND", row["verify"])
            self.assertEqual("", row["verify_error"])
            self.assertEqual(0, row["verify_points_missing"])
            self.assertRegex(row["verified_at"], r"^\d{4}-\d\d-\d\dT")
            self.assertEqual(1, metric(src, "m2mdb_subscription_verify_last_success", "s"))
            self.assertGreaterEqual(metric(src, "m2mdb_subscription_verify_runs_total", "s"), 2)
            # A destination that is down: the failure is shown, not hidden.
            down = wait_for(lambda: src.subscriptions()["down"]["verify_error"], what="the failed verification")
            self.assertIn("cannot connect", down)
            self.assertEqual(0, metric(src, "m2mdb_subscription_verify_last_success", "down"))
            self.assertGreater(metric(src, "m2mdb_subscription_verify_failures_total", "down"), 0)
            # `m2mdb subscription verify` by hand runs the same code on the
            # server and is recorded too.
            runs = metric(src, "m2mdb_subscription_verify_runs_total", "down")
            r = subprocess.run([ARGS.bin, "subscription", "verify", "down", "--host", src.url(), "-d", "d"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(2, r.returncode, r.stdout + r.stderr)
            self.assertIn("cannot connect", r.stderr)
            self.assertGreater(metric(src, "m2mdb_subscription_verify_runs_total", "down"), runs)
            # The schedule is stored with the definition.
            src.stop()
            src = Server("pv-src", fresh=False)
            self.assertEqual("EVERY 1s WINDOW 1d RESEND", src.subscriptions()["s"]["verify"])
            src.ok("DROP SUBSCRIPTION down ON d")  # stops its verifier at once
        finally:
            src.stop()
            dst.stop()


class DropDatabase(unittest.TestCase):
    def test_drop_database_and_retention_policy_drop_their_subscriptions(self):
        src = Server("dropdb", extra=["--create-db", "d"])
        try:
            src.ok("CREATE DATABASE e")
            src.ok("CREATE RETENTION POLICY r2 ON e DURATION 1d REPLICATION 1")
            src.ok("CREATE SUBSCRIPTION a ON d DESTINATIONS ALL 'http://127.0.0.1:1'")
            src.ok("CREATE SUBSCRIPTION b ON e DESTINATIONS ALL 'http://127.0.0.1:1'")
            src.ok("CREATE SUBSCRIPTION c ON e.r2 DESTINATIONS ALL 'http://127.0.0.1:1' VERIFY EVERY 1s")
            self.assertEqual(["a", "b", "c"], sorted(src.subscriptions()))
            src.ok("DROP RETENTION POLICY r2 ON e")
            self.assertEqual(["a", "b"], sorted(src.subscriptions()))
            src.ok("DROP DATABASE d")
            self.assertEqual(["b"], sorted(src.subscriptions()))
            # A database created again under the same name is not forwarded.
            src.ok("CREATE DATABASE d")
            self.assertEqual(204, src.write("d", "m v=1 1\n")[0])
            src.stop()
            src = Server("dropdb", fresh=False)
            self.assertEqual(["b"], sorted(src.subscriptions()))
        finally:
            src.stop()


def _vi(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _mstr(s):
    s = s.encode()
    return struct.pack(">H", len(s)) + s


def mqtt5_publish(port, topic, payload):
    """CONNECT (5), PUBLISH QoS 1; the PUBACK's reason code."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        body = _mstr("MQTT") + bytes([5, 0x02]) + struct.pack(">H", 30) + b"\x00" + _mstr("sub-test")
        sock.sendall(b"\x10" + _vi(len(body)) + body)
        f = sock.makefile("rb")

        def packet():
            head = f.read(1)
            length, mult = 0, 1
            while True:
                b = f.read(1)[0]
                length += (b & 0x7F) * mult
                mult *= 128
                if not b & 0x80:
                    break
            return head + f.read(length)
        assert packet()[0] == 0x20
        body = _mstr(topic) + struct.pack(">H", 1) + b"\x00" + payload.encode()
        sock.sendall(b"\x32" + _vi(len(body)) + body)
        ack = packet()
        assert ack[0] == 0x40, ack
        return ack[3] if len(ack) > 3 else 0  # after the packet id; absent = success
    finally:
        sock.close()


class MqttRefuse(unittest.TestCase):
    """WHEN FULL REFUSE WRITES refuses MQTT publishes as it refuses /write."""

    def test_refuse_writes_refuses_mqtt_publishes_until_the_backlog_drains(self):
        dport = free_port()
        dead = os.path.join(ARGS.work, "mqtt-refuse.deadletter")
        if os.path.exists(dead):
            os.remove(dead)
        log = os.path.join(ARGS.work, "mqtt-refuse-src.log")
        if os.path.exists(log):
            os.remove(log)  # an earlier run's listening line names another port
        src = Server("mqtt-refuse-src", extra=["--create-db", "d", "--mqtt", "127.0.0.1:0", "--mqtt-dead-letter", dead])
        try:
            mport = int(wait_for(lambda: re.search(r"mqtt listening on mqtt://[^ ]*:(\d+) ", src.read_log()),
                                 what="the MQTT listener").group(1))
            self.assertEqual(0, mqtt5_publish(mport, "d", "mq v=1 1"))
            src.ok("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://127.0.0.1:%d' BACKLOG 128KiB "
                   "WHEN FULL REFUSE WRITES" % dport)
            for off in range(0, 100000, 1000):
                st, _ = src.write("d", "\n".join(lines(off, 1000)) + "\n")
                if st == 503:
                    break
                self.assertEqual(204, st)
                time.sleep(0.05)
            self.assertEqual(503, st, "writes were never refused")
            self.assertEqual(0x97, mqtt5_publish(mport, "d", "mq v=2 2"))  # quota exceeded
            r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mport), "-V", "mqttv311", "-q", "1",
                                "-t", "d", "-m", "mq v=3 3"], capture_output=True, text=True, timeout=30)
            self.assertEqual(0, r.returncode, r.stderr)  # 3.1.1 has no negative acknowledgement
            self.assertEqual(1, src.count("d", "mq"))
            with open(dead) as f:
                records = [json.loads(line) for line in f]
            self.assertEqual(2, len(records))
            for rec in records:
                self.assertIn("writes are refused until it drains", rec["reason"])
            self.assertEqual(0x97, records[0]["reason_code"])
            st, body = src.request("GET", "/metrics")
            self.assertIn("\nm2mdb_mqtt_messages_rejected_total 2\n", body.decode())
            dst = Server("mqtt-refuse-dst", port=dport, extra=["--create-db", "d"])
            try:
                wait_for(lambda: mqtt5_publish(mport, "d", "mq v=4 4") == 0, what="publishes accepted again")
                self.assertEqual(2, src.count("d", "mq"))
            finally:
                dst.stop()
        finally:
            src.stop()


class Influxd(unittest.TestCase):
    """influxd 1.6 as the destination (Debian `influxdb`), when installed."""

    def test_influxd_destination_receives_every_point(self):
        influxd = shutil.which("influxd")
        if influxd is None:
            self.skipTest("influxd not installed")
        d = os.path.join(ARGS.work, "influxd")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        hport, bport = free_port(), free_port()
        with open(os.path.join(d, "influxd.conf"), "w") as f:
            f.write('reporting-disabled = true\nbind-address = "127.0.0.1:%d"\n[meta]\n dir = "%s/meta"\n'
                    '[data]\n dir = "%s/data"\n wal-dir = "%s/wal"\n[http]\n bind-address = "127.0.0.1:%d"\n'
                    ' log-enabled = false\n[subscriber]\n enabled = false\n' % (bport, d, d, d, hport))
        log = open(os.path.join(d, "influxd.log"), "w")
        proc = subprocess.Popen([influxd, "-config", os.path.join(d, "influxd.conf")], stdout=log,
                                stderr=subprocess.STDOUT)
        src = Server("influxd-src", extra=["--create-db", "d"])
        try:
            def q(query):
                c = http.client.HTTPConnection("127.0.0.1", hport, timeout=10)
                c.request("POST", "/query?" + urllib.parse.urlencode({"q": query, "db": "d"}))
                r = c.getresponse()
                data = json.loads(r.read())
                c.close()
                return data

            def up():
                try:
                    return proc.poll() is None and "results" in q("SHOW DATABASES")
                except OSError:
                    return False
            src.ok("CREATE SUBSCRIPTION s ON d.autogen DESTINATIONS ALL 'http://127.0.0.1:%d'" % hport)
            n = 10000
            write_all(src, "d", 0, n)  # influxd still starting: retried
            wait_for(up, what="influxd to start")
            q("CREATE DATABASE d")

            def count():
                r = q("SELECT count(v) FROM m")["results"][0]
                return r["series"][0]["values"][0][1] if "series" in r else 0
            wait_for(lambda: count() == n, timeout=120, what="%d points in influxd" % n)
            # verify speaks influxd's /query too: nothing differs; after a
            # series is deleted there, its hours differ and --resend repairs them.
            args = [ARGS.bin, "subscription", "verify", "s", "--host", src.url(), "-d", "d",
                    "--destination", "http://127.0.0.1:%d" % hport,
                    "--start", "2023-11-14T00:00:00Z", "--end", "2023-11-16T00:00:00Z"]
            r = subprocess.run(args, capture_output=True, text=True, timeout=60)
            self.assertEqual(0, r.returncode, r.stdout + r.stderr)
            q("DROP SERIES FROM m WHERE dev = 'd7'")
            r = subprocess.run(args + ["--resend"], capture_output=True, text=True, timeout=60)
            self.assertEqual(0, r.returncode, r.stdout + r.stderr)
            self.assertIn("dev=d7", r.stdout)
            self.assertEqual(n, count())
        finally:
            src.stop()
            proc.terminate()
            proc.wait(30)
            log.close()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    ARGS, rest = p.parse_known_args()
    os.makedirs(ARGS.work, exist_ok=True)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()

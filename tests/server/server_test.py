#!/usr/bin/python3
"""End-to-end tests of `m2mdb serve`: the real binary on 127.0.0.1 (port
chosen by the server: --http 127.0.0.1:0, read back from its log line), driven
by curl, raw sockets, urllib and the Debian python3-influxdb client.

  server_test.py --bin build/bin/m2mdb --scan build/tests/m2mdb_scan_points \\
                 --work DIR [TestClass ...]
"""
import argparse
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

ARGS = None


class Server:
    """One m2mdb serve process on a fresh (or given) data directory."""

    def __init__(self, name, data_dir=None, extra=(), http="127.0.0.1:0", expect_start=True, env=None):
        self.data_dir = data_dir or os.path.join(ARGS.work, name)
        if data_dir is None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_path = self.data_dir.rstrip("/") + ".log"
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.log = open(self.log_path, "w")
        cmd = [ARGS.bin, "serve", "--data-dir", self.data_dir, "--http", http, "--create-db", "t"] + list(extra)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        self.scheme = "http"
        if expect_start:
            deadline = time.time() + 20
            while time.time() < deadline:
                m = re.search(r"listening on (https?)://[^ ]*:(\d+) ", self.read_log())
                if m:
                    self.scheme, self.port = m.group(1), int(m.group(2))
                    break
                if self.proc.poll() is not None:
                    raise AssertionError("server exited at start:\n" + self.read_log())
                time.sleep(0.02)
            if self.port is None:
                raise AssertionError("server did not start:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop in %ss:\n%s" % (timeout, self.read_log()))
        self.log.close()
        return self.proc.returncode


def scan(data_dir, db, measurement, times=False):
    cmd = [ARGS.scan, data_dir, db, measurement] + (["--times"] if times else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    return int(out[0].split()[1]), out[1:]


def curl(*args):
    return subprocess.run(["curl", "-s", "-S", "-o", "-", "-w", "\n%{http_code}"] + list(args),
                          capture_output=True, text=True, timeout=30)


def token_cli(data_dir, *args):
    return subprocess.run([ARGS.bin, "token"] + list(args) + ["--data-dir", data_dir],
                          capture_output=True, text=True, timeout=30)


class Endpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server("endpoints", extra=["--max-line-bytes", "1000", "--max-body-bytes", "200000"])

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def test_ping_and_health(self):
        st, h, body = self.s.request("GET", "/ping")
        self.assertEqual(204, st)
        self.assertIn("x-influxdb-version", h)
        self.assertEqual("OSS", h["x-influxdb-build"])
        self.assertEqual(b"", body)
        st, h, _ = self.s.request("HEAD", "/ping")
        self.assertEqual(204, st)
        st, _, body = self.s.request("GET", "/ping?verbose=true")
        self.assertEqual(200, st)
        self.assertIn("version", json.loads(body))
        st, _, body = self.s.request("GET", "/health")
        self.assertEqual(200, st)
        j = json.loads(body)
        self.assertEqual(("m2mdb", "pass", "ready for queries and writes"), (j["name"], j["status"], j["message"]))
        self.assertIn("version", j)

    def test_wrong_method_and_path(self):
        for method, path, allow in [("POST", "/ping", "GET, HEAD"), ("GET", "/write?db=t", "POST"),
                                    ("PUT", "/write?db=t", "POST"), ("DELETE", "/query?q=x", "GET, POST"),
                                    ("POST", "/health", "GET, HEAD"), ("GET", "/api/v2/write", "POST")]:
            st, h, body = self.s.request(method, path)
            self.assertEqual(405, st, (method, path))
            self.assertEqual(allow, h.get("allow"))
        st, _, body = self.s.request("GET", "/nope")
        self.assertEqual((404, b"404 page not found\n"), (st, body))

    def test_write_statuses(self):
        st, _, body = self.s.request("POST", "/write?db=t", b"cpu,host=a v=1 1\ncpu,host=a v=2 2\n")
        self.assertEqual((204, b""), (st, body))
        st, _, body = self.s.request("POST", "/write?db=nope", b"cpu v=1 1")
        self.assertEqual(404, st)
        self.assertEqual({"error": 'database not found: "nope"'}, json.loads(body))
        st, _, body = self.s.request("POST", "/write", b"cpu v=1 1")
        self.assertEqual((400, {"error": "database is required"}), (st, json.loads(body)))
        # Parse errors only: InfluxDB's joined messages, plus our line numbers.
        st, h, body = self.s.request("POST", "/write?db=t", b"cpu v= 2\nmem x 3")
        j = json.loads(body)
        self.assertEqual(400, st)
        self.assertEqual("unable to parse 'cpu v= 2': missing field value\n"
                         "unable to parse 'mem x 3': invalid field format", j["error"])
        self.assertEqual([1, 2], [e["line"] for e in j["line_errors"]])
        self.assertIn("x-influxdb-error", h)
        # Good and bad lines: partial write, dropped=0 as influxd 1.6 says.
        st, _, body = self.s.request("POST", "/write?db=t",
                                     b"cpu v=1 1\ncpu v= 2\ncpu v=3 3\nbad line here\ncpu v=4 4")
        j = json.loads(body)
        self.assertEqual(400, st)
        self.assertEqual("partial write: unable to parse 'cpu v= 2': missing field value\n"
                         "unable to parse 'bad line here': invalid field format dropped=0", j["error"])
        self.assertEqual([2, 4], [e["line"] for e in j["line_errors"]])
        # Type conflict: dropped=N with the first reason.
        st, _, body = self.s.request("POST", "/write?db=t", b"cpu v=1i 5\ncpu v=3 6\ncpu v=\"s\" 7")
        j = json.loads(body)
        self.assertEqual(400, st)
        self.assertEqual('partial write: field type conflict: input field "v" on measurement "cpu" is type '
                         'integer, already exists as type float dropped=2', j["error"])
        self.assertEqual([1, 3], [e["line"] for e in j["line_errors"]])
        # Empty body: nothing to do, success (as influxd).
        st, _, _ = self.s.request("POST", "/write?db=t", b"")
        self.assertEqual(204, st)
        # Unknown parameters are ignored, rp too.
        st, _, _ = self.s.request("POST", "/write?db=t&rp=autogen&foo=bar&precision=s", b"cpu v=5 100")
        self.assertEqual(204, st)
        st, _, body = self.s.request("POST", "/write?db=t&precision=xx", b"cpu v=5 100")
        self.assertEqual(400, st)

    def test_v2_write(self):
        st, _, _ = self.s.request("POST", "/api/v2/write?org=x&bucket=t&precision=ms", b"v2m v=1 1700000000000",
                                  {"Authorization": "Token whatever"})
        self.assertEqual(204, st)
        st, _, _ = self.s.request("POST", "/api/v2/write?bucket=t/autogen&precision=us", b"v2m v=2 1700000000000001")
        self.assertEqual(204, st)
        st, _, body = self.s.request("POST", "/api/v2/write?bucket=t&precision=h", b"v2m v=2 1")
        self.assertEqual(400, st)
        st, _, body = self.s.request("POST", "/api/v2/write?org=x", b"v2m v=2 1")
        self.assertEqual((400, {"error": "bucket is required"}), (st, json.loads(body)))

    def test_gzip(self):
        lines = "".join("gz,host=h%d v=%d 1000\n" % (i, i) for i in range(500)).encode()
        st, _, _ = self.s.request("POST", "/write?db=t", gzip.compress(lines), {"Content-Encoding": "gzip"})
        self.assertEqual(204, st)
        # Several gzip members, as Go's reader accepts.
        st, _, _ = self.s.request("POST", "/write?db=t", gzip.compress(b"gz2 v=1 1\n") + gzip.compress(b"gz2 v=2 2\n"),
                                  {"Content-Encoding": "gzip"})
        self.assertEqual(204, st)
        st, _, body = self.s.request("POST", "/write?db=t", b"not gzip at all", {"Content-Encoding": "gzip"})
        self.assertEqual(400, st)
        self.assertIn("gzip", json.loads(body)["error"])
        st, _, body = self.s.request("POST", "/write?db=t", gzip.compress(lines)[:-20], {"Content-Encoding": "gzip"})
        self.assertEqual((400, {"error": "unexpected EOF"}), (st, json.loads(body)))
        # A gzip bomb: small on the wire, over the limit inflated -> 413.
        st, _, body = self.s.request("POST", "/write?db=t", gzip.compress(b"x" * 1000000), {"Content-Encoding": "gzip"})
        self.assertEqual(413, st)
        # Responses are gzipped when asked.
        st, h, body = self.s.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        self.assertEqual((200, "gzip"), (st, h.get("content-encoding")))
        self.assertIn(b"m2mdb_http_requests_total", gzip.decompress(body))
        st, h, body = self.s.request("POST", "/write", b"x", {"Accept-Encoding": "gzip"})
        self.assertEqual(400, st)
        self.assertEqual({"error": "database is required"}, json.loads(gzip.decompress(body)))
        r = curl("--compressed", "http://127.0.0.1:%d/metrics" % self.s.port)
        self.assertTrue(r.stdout.endswith("200"))

    def test_limits(self):
        st, h, body = self.s.request("POST", "/write?db=t", b"big v=1 1\n" * 30000)
        self.assertEqual(413, st)
        self.assertIn("request body too large", json.loads(body)["error"])
        st, _, body = self.s.request("POST", "/write?db=t",
                                     b"ok v=1 1\nlong v=\"" + b"x" * 2000 + b"\" 2\nok v=3 3\n")
        j = json.loads(body)
        self.assertEqual(400, st)
        self.assertEqual(2, j["line_errors"][0]["line"])
        self.assertIn("line too long", j["error"])
        # curl with a file bigger than the limit, Expect: 100-continue.
        path = os.path.join(ARGS.work, "big.lp")
        with open(path, "wb") as f:
            f.write(b"big v=1 1\n" * 300000)
        r = curl("-X", "POST", "--data-binary", "@" + path, "http://127.0.0.1:%d/write?db=t" % self.s.port)
        self.assertTrue(r.stdout.endswith("413"), r.stdout + r.stderr)
        st, _, body = self.s.request("GET", "/metrics")
        text = body.decode()
        self.assertRegex(text, r'm2mdb_limit_rejections_total\{limit="body_size"\} [1-9]')
        self.assertRegex(text, r'm2mdb_limit_rejections_total\{limit="line_length"\} [1-9]')

    def test_metrics(self):
        self.s.request("POST", "/write?db=t", b"met v=1,w=2 1\n")
        st, h, body = self.s.request("GET", "/metrics")
        self.assertEqual(200, st)
        self.assertTrue(h["content-type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        for name in ["m2mdb_http_requests_total{endpoint=\"/write\",status=\"204\"}", "m2mdb_points_written_total",
                     "m2mdb_values_written_total", "m2mdb_http_write_bytes_total", "m2mdb_wal_fsyncs_total",
                     "m2mdb_wal_fsync_seconds_total", "m2mdb_flushes_total", "m2mdb_compactions_total",
                     "m2mdb_series", "m2mdb_query_duration_seconds_bucket{le=\"+Inf\"}",
                     "m2mdb_lines_rejected_total", "m2mdb_limit_rejections_total{limit=\"concurrent_queries\"}"]:
            self.assertIn(name, text)
        # Every sample line parses as Prometheus text.
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-z0-9_]+(\{[^}]*\})? [0-9.e+-]+$')


class Query(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server("query")

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def test_query(self):
        st, _, body = self.s.request("GET", "/query")
        self.assertEqual((400, {"error": 'missing required parameter "q"'}), (st, json.loads(body)))
        st, _, body = self.s.request("GET", "/query?q=SELEC")
        self.assertEqual(400, st)
        self.assertTrue(json.loads(body)["error"].startswith("error parsing query: found SELEC"))
        self.s.request("POST", "/write?db=t", b"cpu,host=a v=1 1000000000\ncpu,host=b v=2 2000000000\n"
                       b"cpu,host=a v=3 3000000000\n")
        q = urllib.parse.quote("SELECT v FROM cpu WHERE host = 'a'; SHOW DATABASES")
        st, _, body = self.s.request("GET", "/query?db=t&epoch=s&q=" + q)
        self.assertEqual(200, st)
        j = json.loads(body)
        self.assertEqual([[1, 1], [3, 3]], j["results"][0]["series"][0]["values"])
        self.assertEqual(1, j["results"][1]["statement_id"])
        # POST with a form body and bound parameters.
        form = urllib.parse.urlencode({"q": "SELECT v FROM cpu WHERE host = $h", "db": "t", "epoch": "s",
                                       "params": json.dumps({"h": "b"})})
        st, _, body = self.s.request("POST", "/query", form, {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(200, st, body)
        self.assertEqual([[2, 2]], json.loads(body)["results"][0]["series"][0]["values"])
        # Chunked: one JSON document per chunk.
        st, _, body = self.s.request("GET", "/query?db=t&epoch=s&chunked=true&chunk_size=1&q=" +
                                     urllib.parse.quote("SELECT v FROM cpu WHERE host = 'a'"))
        docs = [json.loads(l) for l in body.decode().splitlines() if l.strip()]
        self.assertEqual(2, len(docs))
        self.assertTrue(docs[0]["results"][0]["series"][0].get("partial"))
        # Chunked with the time column renamed: every chunk prints it as a time.
        st, _, body = self.s.request("GET", "/query?db=t&epoch=s&chunked=true&chunk_size=1&q=" +
                                     urllib.parse.quote("SELECT time AS t, v FROM cpu WHERE host = 'a'"))
        docs = [json.loads(l) for l in body.decode().splitlines() if l.strip()]
        self.assertEqual([["t", "v"], ["t", "v"]], [d["results"][0]["series"][0]["columns"] for d in docs])
        self.assertEqual([[[1, 1]], [[3, 3]]], [d["results"][0]["series"][0]["values"] for d in docs])
        # tz(): chunked answers, streamed page by page (raw) or cut from a whole
        # answer (GROUP BY), print times with the zone's offset.
        for text, want in [("SELECT v FROM cpu WHERE host = 'a' tz('Europe/Berlin')",
                            [["1970-01-01T01:00:01+01:00", 1], ["1970-01-01T01:00:03+01:00", 3]]),
                           ("SELECT count(v) FROM cpu WHERE time >= 0 AND time < 4s GROUP BY time(2s) "
                            "tz('Asia/Kolkata')",
                            [["1970-01-01T05:30:00+05:30", 1], ["1970-01-01T05:30:02+05:30", 2]])]:
            st, _, body = self.s.request("GET", "/query?db=t&chunked=true&chunk_size=1&q=" + urllib.parse.quote(text))
            docs = [json.loads(l) for l in body.decode().splitlines() if l.strip()]
            self.assertEqual(want, [r for d in docs for r in d["results"][0]["series"][0]["values"]], text)
        st, _, body = self.s.request("GET", "/query?db=t&pretty=true&q=SHOW+DATABASES")
        self.assertIn(b"\n", body.strip())
        st, _, body = self.s.request("GET", "/query?db=nope&q=" + urllib.parse.quote("SELECT * FROM cpu"))
        self.assertEqual(200, st)
        self.assertIn("error", json.loads(body)["results"][0])

    def q(self, db, text):
        st, _, body = self.s.request("GET", "/query?db=%s&q=%s" % (db, urllib.parse.quote(text)))
        return st, body

    def test_fuzzed_writes_keep_every_answer_valid_json(self):
        """Issue 16: invalid UTF-8 in names, keys or string values was stored and made every later answer
        about the database invalid JSON. Random mutations of valid lines (bytes replaced by invalid or
        valid UTF-8, cut sequences) are written; every line with invalid UTF-8 in a name, key or string is
        rejected with its line number, and every answer stays strict UTF-8 JSON."""
        import random
        rng = random.Random(16)
        self.q("", "CREATE DATABASE fz")
        pieces = [b"\xff", b"\xfe", b"\xc3", b"\xc3\xa9", b"\xe2\x82\xac", b"\xed\xa0\x80", b"\xc0\x80",
                  b"\xf4\x90\x80\x80", b"\xf0\x9f\x98\x80", b"\x80", b"a"]
        for batch in range(4):
            lines, bad = [], set()
            for i in range(50):
                parts = [b"m%d" % (i % 3), b"host", b"h%d" % (i % 5), b"f%d" % (i % 4), b"txt"]
                k = rng.randrange(len(parts) + 1)
                if k < len(parts):
                    parts[k] += rng.choice(pieces)
                line = b"%s,%s=%s %s=%d,s=\"%s\" %d" % (parts[0], parts[1], parts[2], parts[3], i, parts[4],
                                                     batch * 100 + i)
                try:
                    b"".join(parts).decode("utf-8")
                except UnicodeDecodeError:
                    bad.add(i + 1)
                lines.append(line)
            st, _, body = self.s.request("POST", "/write?db=fz", b"\n".join(lines) + b"\n")
            j = json.loads(body.decode("utf-8")) if body else {}
            rejected = {e["line"] for e in j.get("line_errors", [])}
            self.assertEqual(bad, rejected, j)
            for e in j.get("line_errors", []):
                self.assertIn("invalid UTF-8", e["error"])
            self.assertEqual(204 if not bad else 400, st)
        for text in ["SHOW MEASUREMENTS", "SHOW TAG KEYS", "SHOW TAG VALUES WITH KEY = host", "SHOW FIELD KEYS",
                     "SHOW SERIES", "SELECT * FROM /.*/"]:
            st, body = self.q("fz", text)
            self.assertEqual(200, st, body)
            j = json.loads(body.decode("utf-8"))  # strict: invalid UTF-8 raises
            self.assertNotIn("error", j["results"][0], text)
        st, body = self.q("fz", "SELECT count(f0) FROM m0")
        self.assertTrue(json.loads(body.decode("utf-8"))["results"][0]["series"][0]["values"][0][1] > 0)

    def test_points_at_the_ends_of_the_time_range(self):
        """Issue 16: a point at the maximum time made every later flush fail ("empty column"), DROP DATABASE
        answered that error, and after DROP + CREATE the old point came back from the WAL."""
        self.q("", "CREATE DATABASE ext")
        st, _, body = self.s.request("POST", "/write?db=ext",
                                     b"m v=1 9223372036854775806\nm v=2 -9223372036854775806\nm v=3 5\n")
        self.assertEqual(204, st, body)
        st, body = self.q("ext", "SELECT count(v) FROM m")
        self.assertEqual(3, json.loads(body)["results"][0]["series"][0]["values"][0][1], body)
        st, body = self.q("ext", "DROP DATABASE ext")
        self.assertNotIn("error", json.loads(body)["results"][0], body)
        self.q("", "CREATE DATABASE ext")
        st, body = self.q("ext", "SELECT count(v) FROM m")
        self.assertNotIn("series", json.loads(body)["results"][0], body)
        self.assertNotIn("empty column", self.s.read_log())


class PythonClient(unittest.TestCase):
    def test_influxdb_client(self):
        from influxdb import InfluxDBClient
        s = Server("pyclient")
        try:
            c = InfluxDBClient("127.0.0.1", s.port, "root", "root", "t", timeout=10)
            self.assertTrue(c.ping())
            points = [{"measurement": "py", "tags": {"host": "h%d" % (i % 3)}, "time": 1700000000 + i,
                       "fields": {"v": float(i), "n": i}} for i in range(100)]
            self.assertTrue(c.write_points(points, time_precision="s"))
            self.assertTrue(c.write(["py,host=lp v=1.5,n=1i 1700000000000000000"], params={"db": "t"},
                                    protocol="line"))
            try:
                c.write_points([{"measurement": "py", "fields": {"v": "str"}, "time": 1}])
                self.fail("type conflict accepted")
            except Exception as e:  # InfluxDBClientError with our JSON
                self.assertIn("field type conflict", str(e))
            c.create_database("pydb")
            self.assertIn({"name": "pydb"}, c.get_list_database())
            rs = c.query("SELECT count(v) FROM py", epoch="s")
            self.assertEqual(101, list(rs.get_points())[0]["count"])
        finally:
            self.assertEqual(0, s.stop())
        total, _ = scan(s.data_dir, "t", "py")
        self.assertEqual(101, total)


class Tokens(unittest.TestCase):
    def test_tokens(self):
        d = os.path.join(ARGS.work, "tokens")
        shutil.rmtree(d, ignore_errors=True)
        s = Server("tokens")  # creates the data dir and database t
        # While it runs the directory is locked: the CLI says so.
        r = token_cli(d, "create", "--read", "--write")
        self.assertNotEqual(0, r.returncode)
        self.assertIn("server is running", r.stderr)
        # Open (no tokens, loopback).
        self.assertEqual(204, s.request("POST", "/write?db=t", b"a v=1 1")[0])
        s.stop()
        rw = token_cli(d, "create", "--read", "--write", "--description", "admin").stdout.strip()
        w_t = token_cli(d, "create", "--write", "--db", "t").stdout.strip()
        r_t = token_cli(d, "create", "--read", "--db", "t").stdout.strip()
        w_other = token_cli(d, "create", "--write", "--db", "other").stdout.strip()
        self.assertTrue(rw.startswith("m2m_") and len(rw) > 40)
        self.assertNotEqual(0, token_cli(d, "create").returncode)  # neither --read nor --write
        lst = token_cli(d, "list")
        self.assertEqual(0, lst.returncode)
        self.assertIn("admin", lst.stdout)
        self.assertNotIn(rw, lst.stdout)  # never the secrets
        ids = re.findall(r"^([0-9a-f]{12}) ", lst.stdout, re.M)
        self.assertEqual(4, len(ids))
        with open(os.path.join(d, "..", "tokens-show.txt"), "w") as f:
            f.write(lst.stdout)

        s = Server("tokens", data_dir=d)
        try:
            w = "/write?db=t"
            st, h, body = s.request("POST", w, b"a v=2 2")
            self.assertEqual((401, {"error": "unable to parse authentication credentials"}), (st, json.loads(body)))
            self.assertIn("www-authenticate", h)
            st, _, body = s.request("POST", w, b"a v=2 2", {"Authorization": "Token m2m_wrong"})
            self.assertEqual((401, {"error": "authorization failed"}), (st, json.loads(body)))
            # Each way of passing a token.
            self.assertEqual(204, s.request("POST", w, b"a v=2 2", {"Authorization": "Token " + rw})[0])
            self.assertEqual(204, s.request("POST", w, b"a v=2 3", {"Authorization": "Bearer " + w_t})[0])
            self.assertEqual(204, s.request("POST", w + "&u=x&p=" + w_t, b"a v=2 4")[0])
            import base64
            basic = base64.b64encode(("dev:" + w_t).encode()).decode()
            self.assertEqual(204, s.request("POST", w, b"a v=2 5", {"Authorization": "Basic " + basic})[0])
            self.assertEqual(204, s.request("POST", "/api/v2/write?bucket=t", b"a v=2 6",
                                            {"Authorization": "Token " + w_t})[0])
            # Scopes.
            st, _, body = s.request("POST", w, b"a v=2 7", {"Authorization": "Token " + r_t})
            self.assertEqual(403, st)
            self.assertIn("not authorized to write to database \\\"t\\\"", json.dumps(json.loads(body)))
            self.assertEqual(403, s.request("POST", w, b"a v=2 7", {"Authorization": "Token " + w_other})[0])
            q = "/query?db=t&q=" + urllib.parse.quote("SELECT * FROM a")
            self.assertEqual(401, s.request("GET", q)[0])
            self.assertEqual(403, s.request("GET", q, headers={"Authorization": "Token " + w_t})[0])
            self.assertEqual(403, s.request("GET", "/query?db=t&q=DROP+DATABASE+t",
                                            headers={"Authorization": "Token " + r_t})[0])
            self.assertEqual(403, s.request("GET", "/query?db=t&q=" + urllib.parse.quote("SELECT * FROM other..a"),
                                            headers={"Authorization": "Token " + r_t})[0])
            st, _, _ = s.request("GET", q, headers={"Authorization": "Token " + r_t})
            self.assertEqual(200, st)
            # /ping and /health stay open; /metrics needs a token.
            self.assertEqual(204, s.request("GET", "/ping")[0])
            self.assertEqual(200, s.request("GET", "/health")[0])
            self.assertEqual(401, s.request("GET", "/metrics")[0])
            self.assertEqual(200, s.request("GET", "/metrics", headers={"Authorization": "Bearer " + r_t})[0])
        finally:
            self.assertEqual(0, s.stop())
        # Revoke: the token stops working at the next start.
        w_id = [l.split()[0] for l in lst.stdout.splitlines() if " write " in l and " t " in l][0]
        self.assertEqual(0, token_cli(d, "revoke", w_id).returncode)
        self.assertNotEqual(0, token_cli(d, "revoke", w_id).returncode)
        s = Server("tokens", data_dir=d)
        try:
            self.assertEqual(401, s.request("POST", "/write?db=t", b"a v=2 8", {"Authorization": "Token " + w_t})[0])
            self.assertEqual(204, s.request("POST", "/write?db=t", b"a v=2 8", {"Authorization": "Token " + rw})[0])
        finally:
            s.stop()
        total, _ = scan(d, "t", "a")
        self.assertEqual(7, total)  # timestamps 1..6 and 8


class Permissions(unittest.TestCase):
    """Issue 16 item 8: destructive statements need delete or admin; SHOW
    DATABASES lists only what a token covers; refusals are logged, rate-limited,
    without secrets."""

    def test_destructive_statements_need_delete_or_admin(self):
        d = os.path.join(ARGS.work, "permissions")
        shutil.rmtree(d, ignore_errors=True)
        Server("permissions").stop()
        tok = {}
        for name, args in [("w", ["--write", "--db", "t"]), ("rw", ["--read", "--write"]),
                           ("r", ["--read", "--db", "t"]), ("d", ["--delete", "--db", "t"]),
                           ("admin", ["--admin"])]:
            r = token_cli(d, "create", *args, "--description", name)
            self.assertEqual(0, r.returncode, r.stderr)
            tok[name] = r.stdout.strip()
        lst = token_cli(d, "list").stdout
        self.assertRegex(lst, r" admin +\* ")
        self.assertRegex(lst, r" delete +t ")
        s = Server("permissions", data_dir=d)
        try:
            def q(who, stmt, db="t"):
                st, _, body = s.request("POST", "/query", urllib.parse.urlencode({"db": db, "q": stmt}).encode(),
                                        {"Authorization": "Token " + tok[who],
                                         "Content-Type": "application/x-www-form-urlencoded"})
                return st, body
            self.assertEqual(204, s.request("POST", "/write?db=t", b"a,h=x v=1 1\nb v=1 1",
                                            {"Authorization": "Token " + tok["w"]})[0])
            destructive = ["DROP DATABASE t", "DROP MEASUREMENT a", "DELETE FROM a WHERE time < 10",
                           "DROP SERIES FROM a WHERE h = 'x'", "CREATE DATABASE x"]
            for who in ("w", "rw", "r"):
                for stmt in destructive:
                    st, body = q(who, stmt)
                    self.assertEqual(403, st, (who, stmt, body))
                    self.assertIn("not authorized", json.loads(body)["error"])
            # The delete permission: data in its databases, nothing more.
            for stmt in ("CREATE DATABASE x", "DROP DATABASE t"):
                self.assertEqual(403, q("d", stmt)[0], stmt)
            for stmt in ("DELETE FROM a WHERE time < 10", "DROP SERIES FROM a WHERE h = 'x'",
                         "DROP MEASUREMENT b"):
                st, body = q("d", stmt)
                self.assertEqual(200, st, (stmt, body))
                self.assertNotIn("error", body.decode(), stmt)
            self.assertEqual(403, q("d", "SELECT * FROM a")[0])  # delete does not imply read
            # Admin: databases too; SHOW DATABASES is filtered by scope.
            st, body = q("admin", "CREATE DATABASE other")
            self.assertEqual((200, False), (st, "error" in body.decode()), body)

            def names(who):
                st, body = q(who, "SHOW DATABASES", db="")
                self.assertEqual(200, st, body)
                series = json.loads(body)["results"][0].get("series", [])
                return sorted(v[0] for ser in series for v in ser["values"])
            self.assertEqual(["other", "t"], names("admin"))
            self.assertEqual(["other", "t"], names("rw"))  # every database
            self.assertEqual(["t"], names("r"))
            # SHOW ... FROM db..m answers for db: a token limited to t may
            # not read another database's keys that way (nor SELECT).
            for stmt in ("SHOW FIELD KEYS FROM other..m", "SHOW TAG KEYS FROM other..m",
                         "SHOW TAG VALUES FROM other..m WITH KEY = h", "SHOW SERIES FROM other..m",
                         "SELECT * FROM other..m"):
                st, body = q("r", stmt)
                self.assertEqual(403, st, (stmt, body))
                st, body = s.request("GET", "/query?" + urllib.parse.urlencode(
                    {"db": "t", "q": stmt, "chunked": "true"}), None, {"Authorization": "Token " + tok["r"]})[:3:2]
                self.assertEqual(403, st, (stmt, body))
            self.assertEqual(200, q("r", "SHOW FIELD KEYS FROM t..a")[0])
            st, body = q("admin", "DROP DATABASE other")
            self.assertEqual((200, False), (st, "error" in body.decode()), body)
            # Refusals are logged with the address and token id, at most about
            # once a second per reason, never with the secret.
            for _ in range(30):
                s.request("POST", "/write?db=t", b"a v=1 1", {"Authorization": "Token m2m_nope"})
            log = s.read_log()
            self.assertRegex(log, r"auth: 403 forbidden from 127\.0\.0\.1 token \"[0-9a-f]{12}\"")
            unknown = [l for l in log.splitlines() if "auth: 401 unknown token" in l]
            self.assertGreaterEqual(len(unknown), 1)
            self.assertLessEqual(len(unknown), 4, unknown)
            for secret in list(tok.values()) + ["m2m_nope"]:
                self.assertNotIn(secret, log)
        finally:
            self.assertEqual(0, s.stop())
        # The suppressed refusals are counted in the next line of their kind.
        s = Server("permissions", data_dir=d)
        try:
            for _ in range(5):
                s.request("GET", "/metrics")
            time.sleep(1.1)
            s.request("GET", "/metrics")
            self.assertRegex(s.read_log(), r"auth: 401 no credentials .*\(4 more like it suppressed\)")
        finally:
            self.assertEqual(0, s.stop())


class FileModes(unittest.TestCase):
    def test_data_directory_is_private(self):
        # Issue 16 item 8: the data directory 0700, its files 0600.
        s = Server("filemodes")
        try:
            self.assertEqual(204, s.request("POST", "/write?db=t", b"a v=1 1")[0])
        finally:
            self.assertEqual(0, s.stop())
        self.assertEqual(0o700, os.stat(s.data_dir).st_mode & 0o777)
        n = 0
        for root, dirs, files in os.walk(s.data_dir):
            for d in dirs:
                self.assertEqual(0o700, os.stat(os.path.join(root, d)).st_mode & 0o777, d)
            for f in files:
                self.assertEqual(0, os.stat(os.path.join(root, f)).st_mode & 0o077, f)
                n += 1
        self.assertGreater(n, 3)


class ProtectedMode(unittest.TestCase):
    def test_refuses_non_loopback_without_tokens(self):
        s = Server("protected", http="0.0.0.0:0", expect_start=False)
        rc = s.proc.wait(20)
        self.assertEqual(2, rc)  # could not start: docs/cli.md, exit codes
        self.assertIn("protected mode", s.read_log())
        s.log.close()

    def test_no_auth_flag(self):
        s = Server("protected2", http="0.0.0.0:0", extra=["--no-auth"])
        try:
            self.assertEqual(204, s.request("GET", "/ping")[0])
            self.assertIn("--no-auth", s.read_log())
        finally:
            self.assertEqual(0, s.stop())

    def test_tokens_allow_non_loopback(self):
        d = os.path.join(ARGS.work, "protected3")
        shutil.rmtree(d, ignore_errors=True)
        Server("protected3").stop()
        tok = token_cli(d, "create", "--write").stdout.strip()
        s = Server("protected3", data_dir=d, http="0.0.0.0:0")
        try:
            self.assertEqual(401, s.request("POST", "/write?db=t", b"x v=1 1")[0])
            self.assertEqual(204, s.request("POST", "/write?db=t", b"x v=1 1", {"Authorization": "Token " + tok})[0])
        finally:
            self.assertEqual(0, s.stop())

    def test_localhost_names(self):
        names = ["127.0.0.2:0"]
        try:
            socket.getaddrinfo("localhost", 0)
            names.insert(0, "localhost:0")
        except OSError:
            pass  # a minimal root without /etc/hosts: only the address form can be tested
        for http in names:
            s = Server("protected4", http=http)
            self.assertEqual(0, s.stop())


class Tls(unittest.TestCase):
    def test_tls(self):
        d = os.path.join(ARGS.work, "tls-certs")
        os.makedirs(d, exist_ok=True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        s = Server("tls", extra=["--tls-cert", cert, "--tls-key", key])
        try:
            self.assertEqual("https", s.scheme)
            # The certificate names both; the address needs no /etc/hosts.
            url = "https://127.0.0.1:%d" % s.port
            r = curl("--cacert", cert, url + "/ping")
            self.assertTrue(r.stdout.endswith("204"), r.stdout + r.stderr)
            r = curl("--cacert", cert, "-X", "POST", "--data-binary", "tls v=1 1", url + "/write?db=t")
            self.assertTrue(r.stdout.endswith("204"), r.stdout + r.stderr)
            r = curl(url + "/ping")  # unknown CA: refused by the client
            self.assertNotEqual("204", r.stdout[-3:])
            # Plain HTTP to the TLS port gets nothing useful, and the server lives on.
            try:
                s.request("GET", "/ping")
            except Exception:
                pass
            ctx = ssl.create_default_context(cafile=cert)
            c = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=10)
            c.request("GET", "/health")
            r = c.getresponse()
            r.read()
            self.assertEqual(200, r.status)
            # TLS runs on the same connection loop as plain HTTP: keep-alive,
            # gzip bodies, large and chunked answers over one connection.
            lines = "".join("big,h=h%d v=%d %d\n" % (i % 50, i, i + 1) for i in range(50000)).encode()
            c.request("POST", "/write?db=t", gzip.compress(lines), {"Content-Encoding": "gzip"})
            r = c.getresponse()
            r.read()
            self.assertEqual(204, r.status)
            for _ in range(20):
                c.request("GET", "/ping")
                r = c.getresponse()
                r.read()
                self.assertEqual(204, r.status)
            c.request("GET", "/query?db=t&q=" + urllib.parse.quote("SELECT * FROM big"))
            r = c.getresponse()
            body = r.read()
            self.assertEqual(200, r.status)
            self.assertEqual(50, len(json.loads(body)["results"][0]["series"][0]["values"]) // 1000)
            c.request("GET", "/query?db=t&chunked=true&chunk_size=1000&q=" +
                      urllib.parse.quote("SELECT * FROM big"), headers={"Accept-Encoding": "gzip"})
            r = c.getresponse()
            body = gzip.decompress(r.read())
            self.assertEqual(200, r.status)
            self.assertEqual(50, len(body.decode().strip().split("\n")))
            c.close()
            # A request sent three bytes per TLS record: the server's reads
            # return one record each, so the request line, the headers, the
            # chunk-size lines and the body all arrive split.
            req = (b"POST /write?db=t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\nb\r\nsplit v=7 1\r\n0\r\n\r\n")
            raw = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=10),
                                  server_hostname="127.0.0.1")
            for i in range(0, len(req), 3):
                raw.sendall(req[i:i + 3])
            resp = b""
            while True:
                chunk = raw.recv(65536)
                if not chunk:
                    break
                resp += chunk
            raw.close()
            self.assertTrue(resp.startswith(b"HTTP/1.1 204 "), resp)
            c = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=10)
            c.request("GET", "/query?db=t&q=" + urllib.parse.quote("SELECT v FROM split"))
            r = c.getresponse()
            self.assertEqual([["1970-01-01T00:00:00.000000001Z", 7]],
                             json.loads(r.read())["results"][0]["series"][0]["values"])
            c.close()
        finally:
            self.assertEqual(0, s.stop())
        bad = Server("tls-bad", extra=["--tls-cert", cert, "--tls-key", cert], expect_start=False)
        self.assertEqual(2, bad.proc.wait(20))
        self.assertIn("TLS", bad.read_log())
        bad.log.close()


def make_cert(name):
    d = os.path.join(ARGS.work, name)
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    if not os.path.exists(key):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class SlowClients(unittest.TestCase):
    """Issue 16 item 4: a bounded slowloris on loopback -- hundreds of silent
    connections and some that drip a request head -- while a legitimate client
    keeps getting /ping and /write answers within a second. Sixteen worker
    threads: before, each silent connection held one, for plain HTTP and TLS."""

    IDLE, DRIP, SECONDS = 300, 30, 4.0

    def slowloris(self, tls):
        cert, key = make_cert("slow-certs")
        extra = ["--http-threads", "16", "--http-header-timeout-seconds", "2", "--http-max-conns-per-ip", "2000"]
        if tls:
            extra += ["--tls-cert", cert, "--tls-key", key]
        s = Server("slow-tls" if tls else "slow", extra=extra)
        ctx = ssl.create_default_context(cafile=cert)
        socks = []
        try:
            for _ in range(self.IDLE):
                socks.append(socket.create_connection(("127.0.0.1", s.port), timeout=10))
            drippers = []
            head = b"POST /write?db=t HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 200
            for _ in range(self.DRIP):
                d = socket.create_connection(("127.0.0.1", s.port), timeout=10)
                if tls:
                    d = ctx.wrap_socket(d, server_hostname="127.0.0.1")
                d.sendall(head[:20])
                drippers.append(d)
            socks += drippers

            def client():
                if tls:
                    return http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=5)
                return http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)

            worst, n, pos, closed = 0.0, 0, 20, set()
            end = time.time() + self.SECONDS
            while time.time() < end:
                for i, d in enumerate(drippers):  # one more byte each, ~2 per second
                    if i in closed:
                        continue
                    try:
                        d.send(head[pos:pos + 1])
                    except OSError:
                        closed.add(i)
                pos += 1
                t0 = time.time()
                c = client()
                c.request("GET", "/ping")
                r = c.getresponse()
                r.read()
                self.assertEqual(204, r.status)
                c.request("POST", "/write?db=t", b"slow v=%d %d" % (n, n + 1))
                r = c.getresponse()
                r.read()
                self.assertEqual(204, r.status)
                c.close()
                worst = max(worst, time.time() - t0)
                n += 1
                time.sleep(0.4)
            self.assertLess(worst, 1.0, "slowest /ping + /write pair")
            self.assertGreater(n, 5)
            # The head deadline (2 s) has cut every dripper and silent one off.
            for sock in socks:
                sock.settimeout(3)
                try:
                    data = sock.recv(4096)
                except (socket.timeout, ssl.SSLError):
                    data = b"<timeout>"
                except OSError:
                    data = b""
                self.assertNotEqual(b"<timeout>", data)
                self.assertFalse(data.startswith(b"HTTP/1.1 2"), data)
            print("\n%s: %d silent + %d dripping connections; %d /ping+/write pairs, slowest %.0f ms" %
                  ("TLS" if tls else "plain", self.IDLE, self.DRIP, n, worst * 1000), file=sys.stderr)
        finally:
            for sock in socks:
                sock.close()
            self.assertEqual(0, s.stop())

    def test_plain(self):
        self.slowloris(tls=False)

    def test_tls(self):
        self.slowloris(tls=True)

    def test_connections_per_address(self):
        cert, key = make_cert("slow-certs")
        for tls in (False, True):
            extra = ["--http-max-conns-per-ip", "10"] + (["--tls-cert", cert, "--tls-key", key] if tls else [])
            s = Server("perip", extra=extra)
            socks = []
            try:
                for _ in range(10):
                    socks.append(socket.create_connection(("127.0.0.1", s.port), timeout=10))
                time.sleep(0.2)
                extra_sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
                data = extra_sock.recv(4096)
                extra_sock.close()
                if tls:
                    self.assertEqual(b"", data)  # closed before any handshake
                else:
                    self.assertTrue(data.startswith(b"HTTP/1.1 429 "), data)
                socks.pop().close()
                time.sleep(0.3)
                if tls:
                    ctx = ssl.create_default_context(cafile=cert)
                    c = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=5)
                else:
                    c = s.conn(timeout=5)
                c.request("GET", "/ping")
                r = c.getresponse()
                r.read()
                self.assertEqual(204, r.status)
                c.request("GET", "/metrics")
                metrics = c.getresponse().read().decode()
                self.assertRegex(metrics, r"\nm2mdb_http_connections_refused_total 1\n")
                self.assertRegex(metrics, r"\nm2mdb_http_connections 10\n")  # 9 idle + this one
                c.close()
            finally:
                for sock in socks:
                    sock.close()
                self.assertEqual(0, s.stop())


def writer_loop(port, writer, stop_at, acked, errors, lines_per_batch=200):
    """Posts batches of unique points; records (writer, batch) of every 204."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    b = 0
    while time.time() < stop_at:
        body = "".join("load,w=%d v=%d,b=%di %d\n" % (writer, i, b, b * lines_per_batch + i)
                       for i in range(lines_per_batch)).encode()
        try:
            c.request("POST", "/write?db=t", body)
            r = c.getresponse()
            r.read()
            if r.status == 204:
                acked.append((writer, b))
            else:
                errors.append("writer %d: status %d" % (writer, r.status))
        except Exception as e:  # the server may be killed under us
            errors.append("writer %d: %r" % (writer, e))
            return
        b += 1


class Concurrency(unittest.TestCase):
    def test_many_writers_and_readers(self):
        s = Server("concurrency")
        stop_at = time.time() + 3
        acked, errors, reads = [], [], []

        def reader():
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
            while time.time() < stop_at:
                for path in ["/ping", "/metrics", "/health"]:
                    c.request("GET", path)
                    r = c.getresponse()
                    r.read()
                    reads.append(r.status)

        threads = [threading.Thread(target=writer_loop, args=(s.port, w, stop_at, acked, errors)) for w in range(8)]
        threads += [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([], errors)
        self.assertTrue(all(st in (200, 204) for st in reads))
        st, _, body = s.request("GET", "/metrics")
        fsyncs = int(re.search(r"^m2mdb_wal_fsyncs_total (\d+)", body.decode(), re.M).group(1))
        self.assertEqual(0, s.stop())
        total, _ = scan(s.data_dir, "t", "load")
        self.assertGreater(len(acked), 8)
        self.assertEqual(len(acked) * 200, total)  # nothing lost, nothing doubled
        print("\n%d batches (%d points) by 8 writers in 3 s, %d reads, %d WAL fsyncs" %
              (len(acked), total, len(reads), fsyncs), file=sys.stderr)


class Durability(unittest.TestCase):
    def test_sigkill_mid_ingest(self):
        s = Server("durability")
        stop_at = time.time() + 60
        acked, errors = [], []
        threads = [threading.Thread(target=writer_loop, args=(s.port, w, stop_at, acked, errors, 100))
                   for w in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        n_acked = len(acked)
        for t in threads:
            t.join()
        s.log.close()
        self.assertGreater(n_acked, 4)
        # Restart (WAL replay), then stop cleanly and count with the engine.
        s2 = Server("durability", data_dir=s.data_dir)
        self.assertEqual(204, s2.request("GET", "/ping")[0])
        self.assertEqual(0, s2.stop())
        _, lines = scan(s.data_dir, "t", "load", times=True)
        have = set()
        for l in lines:
            key, ts = l.rsplit(" ", 1)
            have.add((int(key.split("w=")[1]), int(ts)))
        missing = [(w, b) for (w, b) in acked if any((w, b * 100 + i) not in have for i in range(100))]
        self.assertEqual([], missing)
        print("\n%d acknowledged batches before SIGKILL, all present after restart" % n_acked, file=sys.stderr)


class Malformed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server("malformed", extra=["--read-timeout-seconds", "2"])

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def raw(self, data, shut=True, timeout=10):
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=timeout)
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while True:
                d = sock.recv(65536)
                if not d:
                    break
                out += d
        except socket.timeout:
            out += b"<timeout>"
        sock.close()
        return out

    def alive(self):
        self.assertEqual(204, self.s.request("GET", "/ping")[0])

    def test_truncated_body_writes_nothing(self):
        out = self.raw(b"POST /write?db=t HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\ntrunc v=1 1\n")
        self.assertNotIn(b"204", out)
        out = self.raw(b"POST /write?db=t HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\ntrunc v=1 1\n",
                       shut=False)
        self.assertNotIn(b"204", out)
        self.alive()
        st, _, _ = self.s.request("POST", "/write?db=t", b"trunc v=2 2\n")
        self.assertEqual(204, st)

    def test_garbage(self):
        self.raw(b"GARBAGE\r\n\r\n")  # 400 or dropped
        self.raw(b"\x00\xff\xfe" * 1000 + b"\r\n\r\n")  # dropped (line too long) or 400
        self.raw(b"POST /write?db=t HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
        self.raw(b"POST /write?db=t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        self.raw(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
        self.alive()

    def test_invalid_utf8_and_huge_lines(self):
        st, _, body = self.s.request("POST", "/write?db=t", b"utf,t=\xff\xfe v=1 1\nutf v=\"\xc3\x28\" 2\n")
        self.assertIn(st, (204, 400))
        if st == 400:
            json.loads(body)  # valid JSON even when quoting invalid UTF-8
        st, _, body = self.s.request("POST", "/write?db=t", b"bad\xff line\n")
        self.assertEqual(400, st)
        self.assertIn("\ufffd", json.loads(body)["error"])
        st, _, body = self.s.request("POST", "/write?db=t", b"huge v=\"" + b"y" * (3 << 20) + b"\" 1\nok v=1 1\n")
        self.assertEqual(400, st)
        self.assertIn("line too long", json.loads(body)["error"])
        self.alive()

    def test_slow_client_does_not_block_others(self):
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
        req = b"POST /write?db=t HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nslow v=1 1\n\n"
        t0 = time.time()
        for i, ch in enumerate(req):
            sock.send(bytes([ch]))
            if i % 8 == 0:
                self.alive()  # others are served meanwhile
            time.sleep(0.01)
        resp = sock.recv(4096)
        sock.close()
        self.assertIn(b"204", resp)
        # A client that stalls mid-request is dropped after the read timeout.
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
        sock.sendall(b"POST /write?db=t HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nstall")
        t0 = time.time()
        self.alive()
        try:
            data = sock.recv(4096)
        except socket.timeout:
            data = b"<timeout>"
        self.assertLess(time.time() - t0, 8)
        self.assertNotIn(b"204", data)
        sock.close()


class Shutdown(unittest.TestCase):
    def test_sigterm_drains_and_flushes(self):
        s = Server("shutdown")
        acked, errors = [], []
        stop_at = time.time() + 1.0
        threads = [threading.Thread(target=writer_loop, args=(s.port, w, stop_at, acked, errors, 500))
                   for w in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        t0 = time.time()
        rc = s.stop(signal.SIGTERM)
        for t in threads:
            t.join()
        self.assertEqual(0, rc)
        self.assertLess(time.time() - t0, 10)
        log = s.read_log()
        self.assertIn("received SIGTERM", log)
        self.assertIn("closed cleanly", log)
        total, _ = scan(s.data_dir, "t", "load")
        self.assertGreaterEqual(total, len(acked) * 500)
        # Nothing is replayed: Close flushed the head.
        s2 = Server("shutdown", data_dir=s.data_dir)
        self.assertRegex(s2.read_log(), r" 0 points replayed from the WAL")
        self.assertEqual(0, s2.stop())

    def test_second_signal_exits_at_once(self):
        s = Server("shutdown2")
        # A slow client keeps a request in flight, so the first signal waits.
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sock.sendall(b"POST /write?db=t HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nx")
        time.sleep(0.2)
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGINT)
        self.assertEqual(130, s.proc.wait(10))
        self.assertIn("second signal", s.read_log())
        sock.close()
        s.log.close()


class DiskFull(unittest.TestCase):
    """A full data volume (a 48 MiB tmpfs mounted by the test, as root): writes
    get a clear 500 without server paths, /health fails and the metrics say so,
    writes resume by themselves once space is freed, SIGTERM and a start on a
    full volume end cleanly with a message of ours, and no acknowledged point
    is lost. Skipped where mounting is not permitted."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        self.mnt = os.path.join(ARGS.work, "diskfull")
        subprocess.run(["umount", self.mnt], capture_output=True)  # a previous run's
        shutil.rmtree(self.mnt, ignore_errors=True)
        os.makedirs(self.mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + (r.stderr.strip() or "mount failed"))
        self.addCleanup(lambda: subprocess.run(["umount", "-l", self.mnt], capture_output=True))
        self.filler = os.path.join(self.mnt, "filler")

    def fill(self):
        """Takes every free byte of the volume."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (65536, 4096, 512, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def free(self):
        os.unlink(self.filler)

    def write(self, s, batch, host):
        # A "new..." host makes 200 new series (about 20 KB of metadata for
        # RocksDB to write); "known" only appends to the WAL.
        tag = (lambda i: "%s-%d" % (host, i)) if host.startswith("new") else (lambda i: host)
        body = "".join("cpu,host=%s v=%d %d\n" % (tag(i), i, 1700000000000000000 + batch * 1000 + i)
                       for i in range(200)).encode()
        status, _, data = s.request("POST", "/write?db=t", body)
        return status, data.decode("utf-8", "replace")

    def health(self, s):
        status, _, data = s.request("GET", "/health")
        return status, json.loads(data)

    def metric(self, s, name):
        _, _, data = s.request("GET", "/metrics")
        m = re.search(r"^%s (\d+)" % re.escape(name), data.decode(), re.M)
        return int(m.group(1))

    def test_writes_resume_after_space_returns_and_stop_and_start_are_clean(self):
        s = Server("diskfull", data_dir=self.mnt)
        self.addCleanup(lambda: s.proc.poll() is None and s.stop(signal.SIGKILL))
        acked, batch = 0, 0
        for _ in range(5):
            status, _ = self.write(s, batch, "known")
            self.assertEqual(204, status)
            acked += 200
            batch += 1
        self.assertEqual(200, self.health(s)[0])
        self.assertEqual(1, self.metric(s, "m2mdb_storage_writable"))

        self.fill()
        failures = 0
        for i in range(30):
            # Known series (only the WAL is written) and new ones (RocksDB too).
            status, body = self.write(s, batch, "known" if i % 2 else "new%d" % i)
            batch += 1
            if status == 204:
                acked += 200
                continue
            failures += 1
            self.assertEqual(500, status, body)  # new series too: the metadata store's failure fails the write
            self.assertNotIn(self.mnt, body)  # no server paths for clients
            self.assertNotIn(ARGS.work, body)
        self.assertGreater(failures, 20)
        status, h = self.health(s)
        self.assertEqual(503, status, h)
        self.assertEqual("fail", h["status"])
        self.assertIn("space", h["message"])
        self.assertNotIn(self.mnt, h["message"])
        self.assertEqual(0, self.metric(s, "m2mdb_storage_writable"))
        self.assertGreaterEqual(self.metric(s, "m2mdb_storage_write_failures_total"), 1)
        # One log line per failure period, not one per refused write.
        self.assertLessEqual(s.read_log().count("refusing writes"), 3, s.read_log())

        self.free()
        # The WAL retries every 100 ms; RocksDB's own recovery polls for free
        # space every few seconds.
        deadline = time.time() + 30
        while True:
            status, h = self.health(s)
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(200, status, h)
        print("writable again after %.1f s" % (30 - (deadline - time.time())), file=sys.stderr)
        self.assertEqual(1, self.metric(s, "m2mdb_storage_writable"))
        for host in ("known", "newer"):
            status, body = self.write(s, batch, host)
            self.assertEqual(204, status, body)
            acked += 200
            batch += 1
        self.assertIn("writable again", s.read_log())

        # SIGTERM on a full volume: a clean stop, never an abort.
        self.fill()
        for i in range(3):
            self.write(s, batch, "new-while-full%d" % i)
            batch += 1
        rc = s.stop(signal.SIGTERM)
        log = s.read_log()
        shutil.copy(s.log_path, s.log_path + ".first")  # the next start writes the same log
        self.assertIn(rc, (0, 1), log)
        self.assertNotIn("Assertion", log)

        # A start on the full volume is refused with our message (the stop
        # gave back RocksDB's preallocated space: fill again).
        self.fill()
        s2 = Server("diskfull", data_dir=self.mnt, expect_start=False)
        try:
            rc = s2.proc.wait(20)
        finally:
            if s2.proc.poll() is None:
                s2.proc.kill()
                s2.proc.wait()
            s2.log.close()
        log = s2.read_log()
        self.assertEqual(2, rc, log)
        self.assertIn("cannot start without room to write", log)
        self.assertNotIn("Assertion", log)

        # With space back every acknowledged point is there.
        self.free()
        total, _ = scan(self.mnt, "t", "cpu")
        self.assertGreaterEqual(total, acked)
        self.assertLessEqual(total, batch * 200)


class QueryLimits(unittest.TestCase):
    """Queries bounded by --query-max-points (issue 16): chunked answers
    stream page by page under a point limit far below the whole answer,
    LIMIT stops the scan, GROUP BY time windows are counted first, and
    invalid UTF-8 in stored names still gives valid JSON."""

    @classmethod
    def setUpClass(cls):
        cls.s = Server("query-limits", extra=["--query-max-points", "20000"])

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def q(self, q, extra=""):
        st, headers, body = self.s.request("GET", "/query?db=t&epoch=ns&q=" + urllib.parse.quote(q) + extra)
        return st, headers, body

    def test_bounded_queries(self):
        n = 60000  # rows of 2 fields: 120 000 points, six times the limit
        body = "".join("big,host=a v=%d,w=%di %d\n" % (i, i * 3, 10**9 + i * 10**6) for i in range(n))
        st, _, _ = self.s.request("POST", "/write?db=t", body.encode())
        self.assertEqual(204, st)
        # Whole, the answer needs more points than the limit.
        st, _, body = self.q("SELECT * FROM big")
        self.assertIn("query memory limit exceeded", json.loads(body)["results"][0]["error"])
        # LIMIT reads only what it needs.
        st, _, body = self.q("SELECT v FROM big LIMIT 10")
        self.assertEqual([[10**9 + i * 10**6, i] for i in range(10)],
                         json.loads(body)["results"][0]["series"][0]["values"])
        # Chunked streams it: every row, in order, in chunks of chunk_size.
        st, headers, body = self.q("SELECT * FROM big", "&chunked=true&chunk_size=7000")
        self.assertEqual(200, st)
        self.assertEqual("chunked", headers.get("transfer-encoding"))
        docs = [json.loads(l) for l in body.decode().splitlines() if l.strip()]
        self.assertEqual((n + 6999) // 7000, len(docs))
        rows = [r for d in docs for r in d["results"][0]["series"][0]["values"]]
        self.assertEqual(n, len(rows))
        self.assertEqual([10**9 + 12345 * 10**6, "a", 12345, 12345 * 3], rows[12345])
        self.assertTrue(all(d["results"][0].get("partial") for d in docs[:-1]))
        self.assertNotIn("partial", docs[-1]["results"][0])
        self.assertEqual(["time", "host", "v", "w"], docs[0]["results"][0]["series"][0]["columns"])
        # DESC with OFFSET/LIMIT across pages.
        st, _, body = self.q("SELECT w FROM big ORDER BY time DESC LIMIT 25000 OFFSET 3", "&chunked=true")
        docs = [json.loads(l) for l in body.decode().splitlines() if l.strip()]
        rows = [r for d in docs for r in d["results"][0]["series"][0]["values"]]
        self.assertEqual([[10**9 + i * 10**6, i * 3] for i in range(n - 4, n - 4 - 25000, -1)], rows)
        # 1 ms windows over 2 days under fill(none): refused before allocating.
        st, _, body = self.q("SELECT count(v) FROM big WHERE time >= 0 AND time < 2d GROUP BY time(1ms) fill(none)")
        self.assertEqual("max-select-buckets limit exceeded: (172800000/20000)",
                         json.loads(body)["results"][0]["error"])
        # The server still answers (the slot of each of these was released).
        for _ in range(3):
            st, _, body = self.q("SHOW DATABASES")
            self.assertEqual(200, st)

    def test_invalid_utf8_in_stored_names_gives_valid_json(self):
        st, _, _ = self.s.request("POST", "/write?db=t", b"u\xff,host=a\xfe v=1,s=\"x\xc3y\" 1\n")
        if st != 204:
            self.skipTest("the write path rejects invalid UTF-8 (%d): nothing old to render" % st)
        for q in ["SHOW MEASUREMENTS", "SHOW TAG VALUES WITH KEY = host", "SELECT * FROM /u/",
                  "SHOW SERIES"]:
            for extra in ["", "&chunked=true"]:
                st, _, body = self.q(q, extra)
                for line in body.decode("utf-8").splitlines():  # strict: raises on invalid UTF-8
                    json.loads(line)
        st, _, body = self.q("SHOW MEASUREMENTS")
        self.assertIn(["u\ufffd"], json.loads(body)["results"][0]["series"][0]["values"])


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--scan", required=True)
    p.add_argument("--work", required=True)
    ARGS, rest = p.parse_known_args()
    os.makedirs(ARGS.work, exist_ok=True)
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()

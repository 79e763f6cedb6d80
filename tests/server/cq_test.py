#!/usr/bin/python3
"""Continuous queries in the real server (query/cq/continuous.cc): the
python3-influxdb client's CQ calls, and a crash test: random writes, late
writes, overwrites and deletes over many series with kill -9 at random
moments (also while the refresher runs); after a restart every closed window
of the rollups must equal the aggregate recomputed from the raw data.

  cq_test.py --bin build/bin/m2mdb --scan build/tests/m2mdb_scan_points \\
             --work DIR [TestClass ...]
M2MDB_CQ_SOAK=N runs N kill -9 rounds instead of 3.
"""
import argparse
import json
import os
import random
import signal
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "query"))
import server_test  # noqa: E402  (Server, the shared harness)

CQ_FLAGS = ["--cq-poll-ms", "50", "--wal-sync", "none"]


def client(port, db="t"):
    from influxdb import InfluxDBClient
    return InfluxDBClient("127.0.0.1", port, "", "", db, timeout=10)


def query(s, q, db="t"):
    st, _, body = s.request("POST", "/query?" + urllib.parse.urlencode({"q": q, "db": db, "epoch": "s"}))
    assert st == 200, body
    return json.loads(body)["results"][0]


def rows(result):
    """{(tags, time): {field: value}} of a result, empty tags left out."""
    out = {}
    for s in result.get("series", []):
        tags = tuple(sorted((k, v) for k, v in (s.get("tags") or {}).items() if v != ""))
        for row in s["values"]:
            fields = {c: v for c, v in zip(s["columns"][1:], row[1:]) if v is not None}
            if fields:
                out[(tags, row[0])] = fields
    return out


def wait_for(pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


class PythonClient(unittest.TestCase):
    def test_create_list_drop(self):
        s = server_test.Server("cq-client", extra=CQ_FLAGS)
        try:
            c = client(s.port)
            c.create_database("db0")
            c.create_continuous_query("cq_mean", 'SELECT mean("v") INTO "v_1m" FROM "m" GROUP BY time(1m), *',
                                      "db0", resample_opts="EVERY 1s FOR 2m")
            got = c.get_list_continuous_queries()
            self.assertIn({"db0": [{"name": "cq_mean", "query":
                                    "CREATE CONTINUOUS QUERY cq_mean ON db0 RESAMPLE EVERY 1s FOR 2m BEGIN "
                                    "SELECT mean(v) INTO db0.autogen.v_1m FROM db0.autogen.m GROUP BY time(1m), * "
                                    "END"}]}, got)
            # Writes into closed windows are rolled up within a poll or two.
            now = int(time.time())
            base = now - now % 60 - 600
            c.write_points(["m,host=a v=1 %d" % base, "m,host=a v=3 %d" % (base + 1),
                            "m,host=b v=10 %d" % (base + 61)], database="db0", time_precision="s",
                           protocol="line")
            self.assertTrue(wait_for(lambda: len(rows(query(s, "SELECT * FROM v_1m GROUP BY *", "db0"))) == 2))
            self.assertEqual({(("host", "a"),), (("host", "b"),)},
                             {k[0] for k in rows(query(s, "SELECT * FROM v_1m GROUP BY *", "db0"))})
            # A late point: the window is recomputed.
            c.write_points(["m,host=a v=8 %d" % (base + 30)], database="db0", time_precision="s", protocol="line")
            self.assertTrue(wait_for(lambda: rows(query(s, "SELECT mean FROM v_1m WHERE host = 'a'", "db0"))
                                     .get(((), base)) == {"mean": 4}))
            st, _, body = s.request("GET", "/metrics")
            self.assertIn(b"\nm2mdb_cq_queries 1\n", body)
            self.assertIn(b"\nm2mdb_cq_refresh_errors_total 0\n", body)
            c.drop_continuous_query("cq_mean", "db0")
            self.assertIn({"db0": []}, c.get_list_continuous_queries())
            # SELECT INTO answers influxd's result row.
            res = c.query('SELECT max("v") INTO "m_max" FROM "m" WHERE time < now() GROUP BY time(1h), host',
                          database="db0")
            self.assertEqual([{"time": "1970-01-01T00:00:00Z", "written": 2}], list(res.get_points()))
        finally:
            self.assertEqual(0, s.stop())


class Policies(unittest.TestCase):
    def test_measurement_target_reads_the_source_policy(self):
        # INTO :MEASUREMENT of another policy: the refresh must read the
        # source policy of the CQ, not the database's default (which is the
        # target here; the raw points were never rolled up).
        s = server_test.Server("cq-rp", extra=CQ_FLAGS)
        try:
            self.assertNotIn("error", query(s, "CREATE RETENTION POLICY week ON t DURATION 7d REPLICATION 1"))
            self.assertNotIn("error", query(
                s, "CREATE CONTINUOUS QUERY c1 ON t BEGIN SELECT mean(v) INTO t.autogen.:MEASUREMENT "
                   "FROM t.week./.*/ GROUP BY time(1m), * END"))
            now = int(time.time())
            base = now - now % 60 - 600
            st, _, body = s.request("POST", "/write?db=t&rp=week&precision=s",
                                    ("m,h=a v=1 %d\nm,h=a v=3 %d" % (base, base + 1)).encode())
            self.assertEqual(204, st, body)
            self.assertTrue(wait_for(lambda: rows(query(s, "SELECT mean FROM t.autogen.m GROUP BY *"))
                                     == {((("h", "a"),), base): {"mean": 2}}, timeout=10),
                            query(s, "SELECT * FROM t.autogen.m GROUP BY *"))
        finally:
            self.assertEqual(0, s.stop())


class ConcurrentDdl(unittest.TestCase):
    def test_create_racing_drop_database_leaves_nothing(self):
        # CREATE CONTINUOUS QUERY / SUBSCRIPTION checked the database, a
        # concurrent DROP DATABASE removed what it had, then the create was
        # stored: it outlived the database (invisible) and came back with a
        # database of the same name. (150 rounds: ~20 orphans of each.)
        import threading
        s = server_test.Server("cq-ddl", extra=CQ_FLAGS)
        try:
            def q(text):
                st, _, body = s.request("POST", "/query?" + urllib.parse.urlencode({"q": text}))
                return json.loads(body)
            orphans = []
            for i in range(60):
                db = "r%d" % i
                q("CREATE DATABASE " + db)
                ts = [threading.Thread(target=q, args=(
                          "CREATE CONTINUOUS QUERY c ON %s BEGIN SELECT count(v) INTO x FROM m GROUP BY time(1m) END"
                          % db,)),
                      threading.Thread(target=q, args=(
                          "CREATE SUBSCRIPTION s ON %s DESTINATIONS ALL 'http://127.0.0.1:1'" % db,)),
                      threading.Thread(target=q, args=("DROP DATABASE " + db,))]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                q("CREATE DATABASE " + db)
                for what in ("CONTINUOUS QUERIES", "SUBSCRIPTIONS"):
                    for series in q("SHOW " + what)["results"][0].get("series", []):
                        if series["name"] == db and series.get("values"):
                            orphans.append((db, what))
                q("DROP DATABASE " + db)
            self.assertEqual([], orphans)
        finally:
            self.assertEqual(0, s.stop())


AGGS = "count(v), sum(v), mean(v), min(v), max(v), first(v), last(v), percentile(v, 90)"


class Crash(unittest.TestCase):
    def check(self, s, cutoff):
        """Every closed window before `cutoff` of both rollups equals the raw aggregate."""
        for roll, group in (("roll_star", "*"), ("roll_host", "host")):
            raw = rows(query(s, "SELECT %s FROM m WHERE time < %ds GROUP BY time(10s), %s fill(none)"
                             % (AGGS, cutoff, group)))
            if roll == "roll_host":
                raw = {k: {f: v for f, v in fs.items() if f in ("sum", "count")} for k, fs in raw.items()}
            got = rows(query(s, "SELECT * FROM %s WHERE time < %ds GROUP BY *" % (roll, cutoff)))
            if got != raw:
                return "%s: %d rollup rows, %d raw rows; first difference: %s" % (
                    roll, len(got), len(raw),
                    next(((k, got.get(k), raw.get(k)) for k in sorted(set(got) | set(raw), key=str)
                          if got.get(k) != raw.get(k)), None))
        return None

    def test_kill9_model(self):
        rounds = int(os.environ.get("M2MDB_CQ_SOAK", "3"))
        rng = random.Random(int(os.environ.get("M2MDB_CQ_SEED", "7")))
        data_dir = os.path.join(server_test.ARGS.work, "cq-crash")
        import shutil
        shutil.rmtree(data_dir, ignore_errors=True)
        s = server_test.Server("cq-crash", data_dir=data_dir, extra=CQ_FLAGS)
        base = 1_000_000  # seconds: windows of 10 s, far in the past, all closed
        try:
            q = query(s, "CREATE CONTINUOUS QUERY star ON t BEGIN SELECT %s INTO roll_star FROM m "
                      "GROUP BY time(10s), * END" % AGGS)
            self.assertNotIn("error", q)
            q = query(s, "CREATE CONTINUOUS QUERY byhost ON t BEGIN SELECT sum(v), count(v) INTO roll_host "
                      "FROM m GROUP BY time(10s), host END")
            self.assertNotIn("error", q)
            for r in range(rounds):
                # A burst of writes (late ones, overwrites) and a delete, then
                # kill -9 at a random moment: while writing or refreshing.
                for _ in range(rng.randint(5, 30)):
                    lines = []
                    for _ in range(rng.randint(1, 40)):
                        host = rng.randint(0, 11)
                        t = base + rng.randint(0, 300)
                        lines.append("m,host=h%d%s v=%d %d" % (host, ",rack=r%d" % (host % 3) if host % 2 else "",
                                                                rng.randint(0, 99), t))
                    st, _, body = s.request("POST", "/write?db=t&precision=s", "\n".join(lines).encode())
                    self.assertEqual(204, st, body)
                if rng.random() < 0.5:
                    a = base + rng.randint(0, 300)
                    query(s, "DELETE FROM m WHERE host = 'h%d' AND time >= %ds AND time < %ds"
                          % (rng.randint(0, 11), a, a + rng.randint(1, 60)))
                time.sleep(rng.random() * 0.3)
                s.stop(signal.SIGKILL)
                s = server_test.Server("cq-crash", data_dir=data_dir, extra=CQ_FLAGS)
            # After the last restart the refresher catches up.
            diff = None
            deadline = time.time() + 30
            while time.time() < deadline:
                diff = self.check(s, base + 310)
                if diff is None:
                    break
                time.sleep(0.2)
            self.assertIsNone(diff, s.read_log()[-3000:])
        finally:
            self.assertEqual(0, s.stop())


# Run in order against a throw-away influxd and m2mdb; the JSON answers must be
# equal. (m2mdb refuses a few CQs influxd takes: docs/compatibility.md.)
DIFF_STATEMENTS = [
    "CREATE DATABASE db0",
    "CREATE DATABASE other",
    "CREATE CONTINUOUS QUERY cq1 ON db0 BEGIN SELECT mean(value) INTO cpu_mean FROM cpu GROUP BY time(1h) END",
    "CREATE CONTINUOUS QUERY cq1 ON db0 BEGIN SELECT mean(value) INTO cpu_mean FROM cpu GROUP BY time(1h) END",
    "CREATE CONTINUOUS QUERY cq1 ON db0 BEGIN SELECT max(value) INTO cpu_mean FROM cpu GROUP BY time(1h) END",
    "CREATE CONTINUOUS QUERY \"cq 2\" ON db0 RESAMPLE EVERY 10m FOR 2h BEGIN SELECT mean(value), max(v) INTO "
    "other.autogen.:MEASUREMENT FROM /c.*/ WHERE host = 'a' GROUP BY time(1h, 5m), * fill(0) END",
    "CREATE CONTINUOUS QUERY cq3 ON nodb BEGIN SELECT mean(value) INTO m FROM cpu GROUP BY time(1h) END",
    "CREATE CONTINUOUS QUERY cq3 ON db0 BEGIN SELECT mean(value) INTO nodb.autogen.m FROM cpu GROUP BY time(1h) END",
    "CREATE CONTINUOUS QUERY cq3 ON db0 BEGIN SELECT mean(value) INTO db0.m FROM cpu GROUP BY time(1h) END",
    "CREATE CONTINUOUS QUERY cq3 ON db0 BEGIN SELECT mean(value) INTO cpu_mean FROM cpu END",
    "CREATE CONTINUOUS QUERY cq3 ON db0 BEGIN SELECT mean(value) FROM cpu GROUP BY time(1h) END",
    "CREATE CONTINUOUS QUERY cq3 ON db0 RESAMPLE FOR 30m BEGIN SELECT mean(value) INTO x FROM cpu GROUP BY time(1h) END",
    "CREATE CONTINUOUS QUERY cq3 ON db0 RESAMPLE BEGIN SELECT mean(value) INTO x FROM cpu GROUP BY time(1h) END",
    "CREATE CONTINUOUS QUERY cq3 ON db0 BEGIN SELECT mean(value) INTO x FROM cpu GROUP BY time(1h)",
    "SHOW CONTINUOUS QUERIES",
    "DROP CONTINUOUS QUERY nope ON db0",
    "DROP CONTINUOUS QUERY cq1 ON nodb",
    "DROP CONTINUOUS QUERY cq1",
    "DROP CONTINUOUS QUERY cq1 ON db0",
    "SHOW CONTINUOUS QUERIES",
    "SELECT mean(value) INTO cpu_m FROM db0..cpu WHERE time < 7200s GROUP BY time(1h), host",
    "SELECT value INTO db0..raw FROM db0..cpu",
    "SELECT mean(value) INTO db0..x FROM db0..nothere WHERE time < 3600s GROUP BY time(1h)",
    "SELECT mean(value) INTO nodb.autogen.x FROM db0..cpu WHERE time < 3600s GROUP BY time(1h)",
    "SELECT * FROM db0..cpu_m",
    "DROP DATABASE other",
    "SHOW CONTINUOUS QUERIES",
]


class Differential(unittest.TestCase):
    def test_statement_answers_match_influxd(self):
        import shutil
        import tempfile
        import urllib.request
        if shutil.which("influxd") is None:
            self.skipTest("influxd not installed")
        import differential_test
        tmp = tempfile.mkdtemp(prefix="m2mdb-cq-influxd-")
        proc, base = differential_test.start_influxd(tmp)
        s = server_test.Server("cq-diff", extra=CQ_FLAGS)
        try:
            lp = b"cpu,host=a value=1 0\ncpu,host=b value=3 0\ncpu,host=a value=2 3600000000000"
            for i, q in enumerate(DIFF_STATEMENTS):
                if i == 2:  # after CREATE DATABASE db0
                    urllib.request.urlopen(urllib.request.Request(base + "/write?db=db0", data=lp), timeout=10)
                    st, _, body = s.request("POST", "/write?db=db0", lp)
                    self.assertEqual(204, st, body)
                url = base + "/query?" + urllib.parse.urlencode({"q": q})
                try:
                    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as r:
                        theirs = json.loads(r.read())
                except urllib.error.HTTPError as e:
                    theirs = json.loads(e.read())
                st, _, body = s.request("POST", "/query?" + urllib.parse.urlencode({"q": q}))
                ours = json.loads(body)
                if q == "SHOW CONTINUOUS QUERIES":
                    # influxd also lists its _internal database, the m2mdb server its database t.
                    for r in theirs["results"] + ours["results"]:
                        r["series"] = [x for x in r.get("series", []) if x["name"] not in ("_internal", "t")]
                        if not r["series"]:
                            del r["series"]
                self.assertEqual(theirs, ours, q)
        finally:
            self.assertEqual(0, s.stop())
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--scan", required=True)
    p.add_argument("--work", required=True)
    args, rest = p.parse_known_args()
    server_test.ARGS = args
    os.makedirs(args.work, exist_ok=True)
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()

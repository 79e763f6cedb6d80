#!/usr/bin/python3
"""Retention policies through `m2mdb serve`, against influxd 1.6 as the oracle.

Differential: one sequence of statements, writes (rp=) and reads (db.rp.m,
rp.m, db..m, ?rp=) sent to a throw-away influxd and to m2mdb; every answer
(HTTP status and JSON) must be equal, except the listed difference
(docs/compatibility.md): a write naming a missing policy is 400 here, 500 in
influxd (same text). PythonClient: python3-influxdb's four retention policy
calls. V2Bucket: /api/v2/write?bucket=db/rp (influxd 1.6 has no /api/v2).

  rp_test.py --bin build/bin/m2mdb --scan build/tests/m2mdb_scan_points --work DIR [TestClass ...]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "query"))
import server_test  # noqa: E402  (Server, the shared harness)

# Recent enough for a 1 h policy, identical for both servers.
NOW_S = int(time.time()) - 600
OLD_NS = 1000000000000000000  # 2001: beyond any finite policy

# (kind, target, params/body). "q": a statement with extra URL parameters;
# "w": a write to /write with the given query string and body.
STEPS = [
    ("q", "CREATE DATABASE t", {}),  # the one `m2mdb serve --create-db t` made
    ("q", "CREATE DATABASE rpdb", {}),
    ("q", "SHOW RETENTION POLICIES ON rpdb", {}),
    ("q", "CREATE RETENTION POLICY r1 ON rpdb DURATION 1h REPLICATION 1", {}),
    ("q", "CREATE RETENTION POLICY r1 ON rpdb DURATION 1h REPLICATION 1", {}),
    ("q", "CREATE RETENTION POLICY r1 ON rpdb DURATION 2h REPLICATION 1", {}),
    ("q", "CREATE RETENTION POLICY r1 ON rpdb DURATION 1h REPLICATION 1 DEFAULT", {}),
    ("q", "CREATE RETENTION POLICY r2 ON rpdb DURATION 30m REPLICATION 1", {}),
    ("q", "CREATE RETENTION POLICY r2 ON rpdb DURATION 2h REPLICATION 1 SHARD DURATION 3h", {}),
    ("q", "CREATE RETENTION POLICY r3 ON rpdb DURATION INF REPLICATION 3 SHARD DURATION 30m DEFAULT", {}),
    ("q", "CREATE RETENTION POLICY r4 ON nodb DURATION INF REPLICATION 1", {}),
    ("q", "CREATE RETENTION POLICY r5 ON rpdb DURATION 100d REPLICATION 1", {}),
    ("q", 'CREATE RETENTION POLICY "ü x" ON rpdb DURATION 1d REPLICATION 1 SHARD DURATION 0s', {}),
    ("q", 'CREATE RETENTION POLICY "" ON rpdb DURATION 1d REPLICATION 1', {}),
    ("q", "CREATE RETENTION POLICY big ON rpdb DURATION 1000w REPLICATION 1", {}),
    ("q", "SHOW RETENTION POLICIES ON rpdb", {}),
    ("q", "SHOW RETENTION POLICIES", {"db": "rpdb"}),
    ("q", "SHOW RETENTION POLICIES", {}),
    ("q", "SHOW RETENTION POLICIES ON nodb", {}),
    ("q", "ALTER RETENTION POLICY r1 ON rpdb DURATION 3h", {}),
    ("q", "ALTER RETENTION POLICY r1 ON rpdb DURATION 30m", {}),
    ("q", "ALTER RETENTION POLICY r1 ON rpdb SHARD DURATION 5h", {}),
    ("q", "ALTER RETENTION POLICY r1 ON rpdb SHARD DURATION 2h REPLICATION 2", {}),
    ("q", "ALTER RETENTION POLICY nope ON rpdb DURATION 3h", {}),
    ("q", "ALTER RETENTION POLICY r1 ON nodb DURATION 3h", {}),
    ("q", "ALTER RETENTION POLICY r5 ON rpdb DURATION INF", {}),
    ("q", "SHOW RETENTION POLICIES ON rpdb", {}),
    ("q", "DROP RETENTION POLICY nope ON rpdb", {}),
    ("q", "DROP RETENTION POLICY r1 ON nodb", {}),
    ("q", "DROP RETENTION POLICY big ON rpdb", {}),
    # Writes: the default (r3), named policies, a missing one, too old.
    ("w", "db=rpdb", f"m,host=a v=1 {NOW_S}000000000"),
    ("w", "db=rpdb&rp=r5", f"m,host=b v=2 {NOW_S + 1}000000000\nonly5 x=1i {NOW_S}000000000"),
    ("w", "db=rpdb&rp=autogen", f"m2 v=3 {NOW_S}000000000"),
    ("w", "db=rpdb&rp=nope", f"m v=4 {NOW_S}000000000"),
    ("w", "db=rpdb&rp=r1", f"m v=5 {OLD_NS}"),
    ("w", "db=rpdb&rp=r1", f"m v=6 {OLD_NS}\nm v=7 {NOW_S}000000000"),
    ("w", "db=rpdb&rp=r1&precision=s", f"m v=8 {NOW_S + 2}"),
    # Reads: every way of naming a policy.
    ("q", "SELECT * FROM m", {"db": "rpdb"}),
    ("q", "SELECT * FROM r5.m", {"db": "rpdb"}),
    ('q', 'SELECT * FROM "rpdb"."r5"."m"', {}),
    ("q", "SELECT * FROM rpdb.r1.m", {}),
    ("q", "SELECT * FROM rpdb..m2", {}),
    ("q", "SELECT * FROM m2", {"db": "rpdb", "rp": "autogen"}),
    ("q", "SELECT * FROM m", {"db": "rpdb", "rp": "r5"}),
    ("q", "SELECT * FROM nope.m", {"db": "rpdb"}),
    ("q", "SELECT * FROM m", {"db": "rpdb", "rp": "nope"}),
    ("q", "SELECT count(v) FROM r1.m", {"db": "rpdb"}),
    ("q", "SELECT * FROM only5", {"db": "rpdb"}),
    ("q", "SELECT * FROM r5.only5", {"db": "rpdb"}),
    ("q", 'SELECT * FROM "ü x".m', {"db": "rpdb"}),
    # Metadata spans every policy.
    ("q", "SHOW MEASUREMENTS ON rpdb", {}),
    ("q", "SHOW SERIES ON rpdb", {}),
    ("q", "SHOW TAG KEYS ON rpdb", {}),
    ("q", "SHOW TAG VALUES ON rpdb WITH KEY = host", {}),
    ("q", "SHOW FIELD KEYS ON rpdb", {}),  # per policy: the default's only
    ("q", "SHOW FIELD KEYS ON rpdb FROM r5.only5", {}),
    ("q", "SHOW FIELD KEYS ON rpdb FROM autogen./.*/", {}),
    ("q", "SHOW MEASUREMENTS ON rpdb FROM r5.only5", {}),
    # The default moves; a write without rp follows it.
    ("q", "ALTER RETENTION POLICY r5 ON rpdb DEFAULT", {}),
    ("w", "db=rpdb", f"m,host=c v=9 {NOW_S + 3}000000000"),
    ("q", "SELECT * FROM m", {"db": "rpdb"}),
    ("q", "SELECT * FROM r3.m", {"db": "rpdb"}),
    ("q", "SHOW RETENTION POLICIES ON rpdb", {}),
    # Dropping the default: the database keeps its name, nothing resolves.
    ("q", "DROP RETENTION POLICY r5 ON rpdb", {}),
    ("q", "SHOW RETENTION POLICIES ON rpdb", {}),
    ("w", "db=rpdb", f"m v=10 {NOW_S}000000000"),
    ("q", "SELECT * FROM m", {"db": "rpdb"}),
    ("q", "SELECT * FROM r3.m", {"db": "rpdb"}),
    # CREATE DATABASE ... WITH.
    ("q", "CREATE DATABASE rp2 WITH DURATION 2d REPLICATION 1 SHARD DURATION 1h NAME myrp", {}),
    ("q", "CREATE DATABASE rp2 WITH DURATION 2d REPLICATION 1 SHARD DURATION 1h NAME myrp", {}),
    ("q", "CREATE DATABASE rp2 WITH DURATION 3d NAME myrp", {}),
    ("q", "CREATE DATABASE rp2 WITH DURATION 3d NAME other", {}),
    ("q", "CREATE DATABASE rp2", {}),
    ("q", "CREATE DATABASE rp3 WITH DURATION 30m", {}),
    ("q", "CREATE DATABASE rp3 WITH DURATION 1h SHARD DURATION 2h", {}),
    ("q", "CREATE DATABASE rp4 WITH NAME foo", {}),
    ("q", "CREATE DATABASE rp5 WITH DURATION 3d", {}),
    ("q", "SHOW RETENTION POLICIES ON rp2", {}),
    ("q", "SHOW RETENTION POLICIES ON rp4", {}),
    ("q", "SHOW RETENTION POLICIES ON rp5", {}),
    ("w", "db=rp2", f"m v=1 {NOW_S}000000000"),
    ("q", "SELECT * FROM myrp.m", {"db": "rp2"}),
    ("q", "SELECT * FROM autogen.m", {"db": "rp2"}),
    # A database without policies (its default dropped) is still there.
    ("q", "CREATE DATABASE e1", {}),
    ("q", "DROP RETENTION POLICY autogen ON e1", {}),
    ("q", "SHOW RETENTION POLICIES ON e1", {}),
    ("q", "SHOW MEASUREMENTS ON e1", {}),
    ("q", "CREATE DATABASE e1", {}),
    ("q", "CREATE DATABASE e1 WITH NAME other", {}),
    ("q", "CREATE DATABASE e1 WITH DURATION 2d NAME autogen", {}),
    ("q", "SHOW RETENTION POLICIES ON e1", {}),
    ("w", "db=e1", f"m v=1 {NOW_S}000000000"),
    ("q", "SELECT * FROM m", {"db": "e1"}),
    # DROP DATABASE takes every policy.
    ("q", "DROP DATABASE rp2", {}),
    ("q", "CREATE DATABASE rp2", {}),
    ("q", "SHOW RETENTION POLICIES ON rp2", {}),
    ("q", "SELECT * FROM m", {"db": "rp2"}),
]


def influxd_request(base, kind, target, extra):
    if kind == "q":
        url = base + "/query?" + urllib.parse.urlencode(dict({"q": target}, **extra))
        req = urllib.request.Request(url, method="POST")
    else:
        req = urllib.request.Request(base + "/write?" + target, data=extra.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def m2mdb_request(s, kind, target, extra):
    if kind == "q":
        st, _, body = s.request("POST", "/query?" + urllib.parse.urlencode(dict({"q": target}, **extra)))
    else:
        st, _, body = s.request("POST", "/write?" + target, extra.encode())
    return st, body


def parsed(body):
    if not body:
        return None
    doc = json.loads(body)
    if isinstance(doc, dict) and "line_errors" in doc:
        del doc["line_errors"]  # m2mdb's addition to influxd's {"error": ...}
    return doc


class Differential(unittest.TestCase):
    def test_statements_writes_and_reads_match_influxd(self):
        if shutil.which("influxd") is None:
            self.skipTest("influxd not installed")
        import differential_test
        tmp = tempfile.mkdtemp(prefix="m2mdb-rp-influxd-")
        proc, base = differential_test.start_influxd(tmp)
        s = server_test.Server("rp-diff")
        failures = []
        try:
            for kind, target, extra in STEPS:
                theirs_st, theirs = influxd_request(base, kind, target, extra)
                ours_st, ours = m2mdb_request(s, kind, target, extra)
                theirs, ours = parsed(theirs), parsed(ours)
                if kind == "w" and theirs_st == 500 and ours_st == 400 and \
                        "retention policy not found" in theirs.get("error", ""):
                    theirs_st = 400  # the listed difference: the client's mistake, not a server error
                if (theirs_st, theirs) != (ours_st, ours):
                    failures.append(f"{kind} {target} {extra}\n  influxd: {theirs_st} {theirs}\n"
                                    f"  m2mdb:   {ours_st} {ours}")
        finally:
            self.assertEqual(0, s.stop())
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual([], failures, "\n".join(failures))


class PythonClient(unittest.TestCase):
    def test_retention_policy_calls(self):
        from influxdb import InfluxDBClient
        from influxdb.exceptions import InfluxDBClientError
        s = server_test.Server("rp-client")
        try:
            c = InfluxDBClient("127.0.0.1", s.port, database="t", timeout=10)
            c.create_database("pc")
            c.create_retention_policy("week", "7d", 1, database="pc", shard_duration="1d")
            c.create_retention_policy("hour", "1h", 1, database="pc", default=True)
            self.assertEqual([
                {"name": "autogen", "duration": "0s", "shardGroupDuration": "168h0m0s", "replicaN": 1,
                 "default": False},
                {"name": "week", "duration": "168h0m0s", "shardGroupDuration": "24h0m0s", "replicaN": 1,
                 "default": False},
                {"name": "hour", "duration": "1h0m0s", "shardGroupDuration": "1h0m0s", "replicaN": 1,
                 "default": True},
            ], c.get_list_retention_policies("pc"))
            c.alter_retention_policy("week", database="pc", duration="14d", default=True)
            rps = {r["name"]: r for r in c.get_list_retention_policies("pc")}
            self.assertEqual("336h0m0s", rps["week"]["duration"])
            self.assertTrue(rps["week"]["default"])
            self.assertFalse(rps["hour"]["default"])
            # Writes and reads name the policy.
            now = int(time.time())
            c.write_points([{"measurement": "m", "fields": {"v": 1.5}, "time": now}], time_precision="s",
                           database="pc", retention_policy="hour")
            c.write_points([{"measurement": "m", "fields": {"v": 2.5}, "time": now}], time_precision="s",
                           database="pc")
            self.assertEqual([1.5], [p["v"] for p in c.query("SELECT v FROM hour.m", database="pc").get_points()])
            self.assertEqual([2.5], [p["v"] for p in c.query("SELECT v FROM m", database="pc").get_points()])
            with self.assertRaisesRegex(InfluxDBClientError, "retention policy not found: nope"):
                c.write_points([{"measurement": "m", "fields": {"v": 1.0}}], database="pc", retention_policy="nope")
            with self.assertRaisesRegex(InfluxDBClientError, "retention policy already exists"):
                c.create_retention_policy("week", "1d", 1, database="pc")
            c.drop_retention_policy("hour", database="pc")
            self.assertEqual(["autogen", "week"], [r["name"] for r in c.get_list_retention_policies("pc")])
            with self.assertRaisesRegex(InfluxDBClientError, "retention policy not found: hour"):
                c.query("SELECT v FROM hour.m", database="pc")
        finally:
            self.assertEqual(0, s.stop())


class V2Bucket(unittest.TestCase):
    def test_bucket_names_database_and_policy(self):
        s = server_test.Server("rp-v2")
        try:
            st, _, _ = s.request("POST", "/query?" + urllib.parse.urlencode(
                {"q": "CREATE RETENTION POLICY r ON t DURATION INF REPLICATION 1"}))
            self.assertEqual(200, st)
            now = int(time.time())
            st, _, body = s.request("POST", "/api/v2/write?bucket=t/r&precision=s", f"m v=1 {now}".encode())
            self.assertEqual(204, st, body)
            st, _, body = s.request("POST", "/api/v2/write?bucket=t&precision=s", f"m v=2 {now}".encode())
            self.assertEqual(204, st, body)
            st, _, body = s.request("POST", "/api/v2/write?bucket=t/nope", b"m v=3")
            self.assertEqual(400, st)
            self.assertEqual("retention policy not found: nope", json.loads(body)["error"])

            def values(q):
                _, _, b = s.request("POST", "/query?" + urllib.parse.urlencode({"q": q, "db": "t"}))
                series = json.loads(b)["results"][0].get("series", [])
                return [row[1] for row in series[0]["values"]] if series else []
            self.assertEqual([1], values("SELECT v FROM r.m"))
            self.assertEqual([2], values("SELECT v FROM m"))
            # Survives a restart (WAL replay or segments).
            self.assertEqual(0, s.stop())
            s = server_test.Server("rp-v2", data_dir=s.data_dir)
            self.assertEqual([1], values("SELECT v FROM r.m"))
            self.assertEqual([2], values("SELECT v FROM autogen.m"))
        finally:
            self.assertEqual(0, s.stop())


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

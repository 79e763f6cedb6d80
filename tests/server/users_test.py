#!/usr/bin/python3
"""Users and grants at run time (server/users.h, server/user_statements.h):
the real m2mdb binary on 127.0.0.1 driven by the Debian python3-influxdb
client, curl-like raw requests, and a differential check of the statements'
answers against a throw-away influxd 1.x (skipped when influxd is missing).

  users_test.py --bin build/bin/m2mdb --scan build/tests/m2mdb_scan_points \\
                --work DIR [TestClass ...]
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "query"))
import server_test  # noqa: E402  (Server, the shared harness)

PASSWORD = "Sekrit-Pa55-7781"  # distinctive: grepped for in the data directory and the log


def client(port, user="", password="", db="t"):
    from influxdb import InfluxDBClient
    return InfluxDBClient("127.0.0.1", port, user, password, db, timeout=10)


def query(s, q, user=None, password=None, db="t", headers=None):
    params = {"q": q, "db": db}
    if user is not None:
        params.update({"u": user, "p": password})
    st, _, body = s.request("POST", "/query", urllib.parse.urlencode(params).encode(),
                            dict({"Content-Type": "application/x-www-form-urlencoded"}, **(headers or {})))
    return st, json.loads(body)


class Users(unittest.TestCase):
    def test_python_client_users_and_grants(self):
        from influxdb.exceptions import InfluxDBClientError
        s = server_test.Server("users")
        try:
            anon = client(s.port)
            # The first user must be an admin; until then auth is off.
            with self.assertRaisesRegex(InfluxDBClientError, "create admin user first"):
                anon.create_user("bob", "bobpw")
            anon.create_user("root", PASSWORD, admin=True)
            # Auth is on now: no credentials, wrong password -> 401.
            with self.assertRaises(InfluxDBClientError) as e:
                anon.get_list_users()
            self.assertEqual(401, e.exception.code)
            admin = client(s.port, "root", PASSWORD)
            admin.create_database("d1")
            admin.create_user("bob", "bobpw")
            self.assertEqual([{"user": "bob", "admin": False}, {"user": "root", "admin": True}],
                             sorted(admin.get_list_users(), key=lambda u: u["user"]))
            admin.grant_privilege("read", "d1", "bob")
            self.assertEqual([{"database": "d1", "privilege": "READ"}], admin.get_list_privileges("bob"))

            bob = client(s.port, "bob", "bobpw", "d1")
            # READ only: the write is refused with influxd's text.
            with self.assertRaisesRegex(InfluxDBClientError, "not authorized to write to database"):
                bob.write_points([{"measurement": "m", "fields": {"v": 1.0}, "time": 1}])
            admin.grant_privilege("write", "d1", "bob")  # GRANT replaces: now WRITE only
            self.assertEqual([{"database": "d1", "privilege": "WRITE"}], admin.get_list_privileges("bob"))
            bob.write_points([{"measurement": "m", "fields": {"v": 1.0}, "time": 1}])
            with self.assertRaisesRegex(InfluxDBClientError, "requires READ on d1"):
                bob.query("SELECT * FROM m")
            admin.grant_privilege("all", "d1", "bob")
            self.assertEqual(1, len(list(bob.query("SELECT * FROM m").get_points())))
            # Other databases, admin statements: refused.
            with self.assertRaises(InfluxDBClientError):
                bob.query("SELECT * FROM m", database="t")
            with self.assertRaises(InfluxDBClientError):
                bob.create_database("x")
            with self.assertRaises(InfluxDBClientError):
                bob.get_list_users()
            self.assertEqual([{"name": "d1"}], bob.get_list_database())

            # Destructive statements need ALL, never plain WRITE.
            admin.revoke_privilege("read", "d1", "bob")  # ALL minus READ = WRITE
            self.assertEqual([{"database": "d1", "privilege": "WRITE"}], admin.get_list_privileges("bob"))
            for stmt in ("DROP MEASUREMENT m", "DELETE FROM m", "DROP SERIES FROM m"):
                with self.assertRaisesRegex(InfluxDBClientError, "requires ALL PRIVILEGES on d1"):
                    bob.query(stmt)

            # switch_user, set_user_password: the old password stops working.
            admin.set_user_password("bob", "newpw")
            bob.switch_user("bob", "newpw")
            bob.write_points([{"measurement": "m", "fields": {"v": 2.0}, "time": 2}])
            bob.switch_user("bob", "bobpw")
            with self.assertRaises(InfluxDBClientError) as e:
                bob.write_points([{"measurement": "m", "fields": {"v": 3.0}, "time": 3}])
            self.assertEqual(401, e.exception.code)

            # Basic auth and "Authorization: Token user:password".
            basic = base64.b64encode(("root:" + PASSWORD).encode()).decode()
            self.assertEqual(200, query(s, "SHOW USERS", headers={"Authorization": "Basic " + basic})[0])
            self.assertEqual(200, query(s, "SHOW USERS", headers={"Authorization": "Token root:" + PASSWORD})[0])

            # A dropped database takes its grants along (influxd): created
            # again, it starts without them.
            admin.create_database("d2")
            admin.grant_privilege("all", "d2", "bob")
            admin.drop_database("d2")
            admin.create_database("d2")
            self.assertNotIn("d2", [g["database"] for g in admin.get_list_privileges("bob")])

            # The last admin can be neither dropped nor demoted.
            with self.assertRaisesRegex(InfluxDBClientError, "last admin"):
                admin.drop_user("root")
            with self.assertRaisesRegex(InfluxDBClientError, "last admin"):
                admin.revoke_admin_privileges("root")
            admin.grant_admin_privileges("bob")
            admin.revoke_admin_privileges("root")
            admin.switch_user("bob", "newpw")
            admin.grant_admin_privileges("root")
            admin.drop_user("bob")
            with self.assertRaises(InfluxDBClientError) as e:
                bob.switch_user("bob", "newpw")
                bob.get_list_database()
            self.assertEqual(401, e.exception.code)
        finally:
            self.assertEqual(0, s.stop())
        # Users survive a restart; the password is nowhere on disk or in the log.
        s = server_test.Server("users", data_dir=s.data_dir)
        try:
            st, body = query(s, "SHOW USERS", "root", PASSWORD)
            self.assertEqual((200, [["root", True]]), (st, body["results"][0]["series"][0]["values"]))
            self.assertEqual(401, query(s, "SHOW USERS", "root", "nope")[0])
        finally:
            self.assertEqual(0, s.stop())
        for root, _, files in os.walk(s.data_dir):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    self.assertNotIn(PASSWORD.encode(), fh.read(), os.path.join(root, f))
        self.assertNotIn(PASSWORD, s.read_log())

    def test_tokens_keep_working_beside_users(self):
        d = os.path.join(server_test.ARGS.work, "users-tokens")
        shutil.rmtree(d, ignore_errors=True)
        s = server_test.Server("users-tokens", data_dir=d)
        try:
            self.assertEqual(200, query(s, "CREATE USER root WITH PASSWORD '%s' WITH ALL PRIVILEGES" % PASSWORD)[0])
        finally:
            self.assertEqual(0, s.stop())
        out = server_test.token_cli(d, "create", "--write", "--db", "t")
        self.assertEqual(0, out.returncode, out.stderr)
        tok = [w for w in out.stdout.split() if w.startswith("m2m_")][0]
        s = server_test.Server("users-tokens", data_dir=d)
        try:
            self.assertEqual(204, s.request("POST", "/write?db=t", b"a v=1 1", {"Authorization": "Token " + tok})[0])
            self.assertEqual(204, s.request("POST", "/write?db=t&u=root&p=" + urllib.parse.quote(PASSWORD),
                                            b"a v=2 2")[0])
            # A write token is no admin: user management is refused.
            self.assertEqual(403, query(s, "SHOW USERS", headers={"Authorization": "Token " + tok})[0])
        finally:
            self.assertEqual(0, s.stop())


class LoginRateLimit(unittest.TestCase):
    def test_failed_logins_are_limited_per_address(self):
        s = server_test.Server("users-ratelimit")
        try:
            self.assertEqual(200, query(s, "CREATE USER root WITH PASSWORD '%s' WITH ALL PRIVILEGES" % PASSWORD)[0])
            statuses = [query(s, "SHOW USERS", "root", "wrong%d" % i)[0] for i in range(6)]
            self.assertEqual([401] * 5 + [429], statuses)
            # Even the right password waits out the window...
            st, hdrs, _ = s.request("POST", "/query", urllib.parse.urlencode(
                {"q": "SHOW USERS", "u": "root", "p": PASSWORD}).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(429, st)
            self.assertIn("retry-after", hdrs)
            self.assertIn("429 too many failed logins", s.read_log())
        finally:
            self.assertEqual(0, s.stop())


class LiveTokens(unittest.TestCase):
    def test_token_cli_against_a_running_server(self):
        s = server_test.Server("users-livetokens")
        try:
            host = "http://127.0.0.1:%d" % s.port

            def cli(*args, auth="root:" + PASSWORD):
                return subprocess.run([server_test.ARGS.bin, "token"] + list(args) + ["--host", host, "--token", auth],
                                      capture_output=True, text=True, timeout=30)

            self.assertEqual(200, query(s, "CREATE USER root WITH PASSWORD '%s' WITH ALL PRIVILEGES" % PASSWORD)[0])
            out = cli("create", "--write", "--db", "t", "--description", "dev1")
            self.assertEqual(0, out.returncode, out.stderr)
            tok = out.stdout.strip()
            self.assertTrue(tok.startswith("m2m_"), out.stdout)
            # Usable at once, no restart.
            self.assertEqual(204, s.request("POST", "/write?db=t", b"a v=1 1", {"Authorization": "Token " + tok})[0])
            listed = cli("list")
            self.assertEqual(0, listed.returncode, listed.stderr)
            line = [l for l in listed.stdout.splitlines() if "dev1" in l][0]
            tid = line.split()[0]
            self.assertIn("write", line)
            self.assertNotIn(tok, listed.stdout)
            # A write token cannot manage tokens; a wrong password cannot either.
            self.assertEqual(2, cli("list", auth=tok).returncode)
            self.assertEqual(2, cli("list", auth="root:nope").returncode)
            # The offline command on the live directory points at --host.
            off = server_test.token_cli(s.data_dir, "list")
            self.assertNotEqual(0, off.returncode)
            self.assertIn("--host", off.stderr)
            out = cli("revoke", tid)
            self.assertEqual(0, out.returncode, out.stderr)
            self.assertEqual(401, s.request("POST", "/write?db=t", b"a v=1 2", {"Authorization": "Token " + tok})[0])
            self.assertEqual(1, cli("revoke", tid).returncode)  # 404: no such token
        finally:
            self.assertEqual(0, s.stop())
        self.assertNotIn(PASSWORD, s.read_log())


# The statements against influxd 1.x with auth disabled (so that every answer
# is the statement's own) and against m2mdb as its admin. SHOW USERS is
# ordered by name in m2mdb, by creation in influxd: the names agree on both.
DIFF_STATEMENTS = [
    "CREATE USER admin WITH PASSWORD 'x' WITH ALL PRIVILEGES",
    "CREATE USER admin WITH PASSWORD 'x' WITH ALL PRIVILEGES",
    "CREATE USER admin WITH PASSWORD 'other' WITH ALL PRIVILEGES",
    "CREATE DATABASE d1",
    "CREATE USER bob WITH PASSWORD 'p'",
    "SHOW USERS",
    "GRANT READ ON d1 TO bob",
    "SHOW GRANTS FOR bob",
    "GRANT ALL ON d1 TO bob; REVOKE READ ON d1 FROM bob; SHOW GRANTS FOR bob",
    "GRANT WRITE ON nodb TO bob",
    "GRANT READ ON d1 TO nobody",
    "SHOW GRANTS FOR nobody",
    "DROP USER nobody",
    "SET PASSWORD FOR nobody = 'x'",
    "SET PASSWORD FOR bob = 'q'",
    "GRANT ALL PRIVILEGES TO bob",
    "SHOW USERS",
    "REVOKE ALL PRIVILEGES FROM bob",
    "SHOW USERS",
    "REVOKE ALL ON d1 FROM bob",
    "SHOW GRANTS FOR bob",
    "DROP USER nobody; SHOW USERS",
    "DROP USER nobody; SHOW USERS; SHOW USERS",
    "SHOW GRANTS FOR bob; DROP USER nobody",
    "DROP USER bob",
    "SHOW USERS",
]


class Differential(unittest.TestCase):
    def test_statement_answers_match_influxd(self):
        if shutil.which("influxd") is None:
            self.skipTest("influxd not installed")
        import differential_test
        tmp = tempfile.mkdtemp(prefix="m2mdb-users-influxd-")
        proc, base = differential_test.start_influxd(tmp)
        s = server_test.Server("users-diff")
        try:
            for q in DIFF_STATEMENTS:
                url = base + "/query?" + urllib.parse.urlencode({"q": q})
                try:
                    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as r:
                        theirs = json.loads(r.read())
                except urllib.error.HTTPError as e:
                    theirs = json.loads(e.read())
                _, ours = query(s, q, "admin", "x", db="")
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

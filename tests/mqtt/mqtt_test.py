#!/usr/bin/python3
"""End-to-end tests of `m2mdb serve --mqtt`: the real binary on 127.0.0.1
(ports chosen by the server, read back from its log), driven by Debian's
mosquitto_pub, python3-paho-mqtt (MQTT 3.1.1 and 5) and raw sockets.

  mqtt_test.py --bin build/bin/m2mdb --work DIR [TestClass ...]
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import paho.mqtt.client as paho

ARGS = None


class Server:
    """One m2mdb serve process with the MQTT listener on a free port."""

    def __init__(self, name, extra=(), fresh=True):
        self.data_dir = os.path.join(ARGS.work, name)
        if fresh:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.start(extra)

    def start(self, extra=()):
        self.extra = list(extra)
        self.log_path = self.data_dir.rstrip("/") + ".log"
        self.log = open(self.log_path, "a")
        cmd = [ARGS.bin, "serve", "--data-dir", self.data_dir, "--http", "127.0.0.1:0", "--mqtt",
               "127.0.0.1:0", "--create-db", "t"] + self.extra
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.http_port = self.mqtt_port = None
        deadline = time.time() + 20
        start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        while time.time() < deadline:
            log = self.read_log()[start:]
            h = re.search(r"listening on https?://[^ ]*:(\d+) ", log)
            m = re.search(r"mqtt listening on mqtt://[^ ]*:(\d+) ", log)
            t = re.search(r"mqtt listening on mqtts://[^ ]*:(\d+) ", log)
            if h and m and (t or "--mqtt-tls" not in self.extra):
                self.http_port, self.mqtt_port = int(h.group(1)), int(m.group(1))
                self.mqtts_port = int(t.group(1)) if t else None
                return
            if self.proc.poll() is not None:
                raise AssertionError("server exited at start:\n" + self.read_log())
            time.sleep(0.02)
        raise AssertionError("server did not start:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def query(self, q, db="t", token=None, epoch=None):
        params = {"db": db, "q": q}
        if epoch:
            params["epoch"] = epoch
        url = "http://127.0.0.1:%d/query?%s" % (self.http_port, urllib.parse.urlencode(params))
        req = urllib.request.Request(url, headers={"Authorization": "Token " + token} if token else {})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def count(self, measurement, field="v", where="", token=None):
        res = self.query("SELECT count(%s) FROM %s %s" % (field, measurement, where), token=token)["results"][0]
        if "series" not in res:
            return 0
        return res["series"][0]["values"][0][1]

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.log.close()
        return self.proc.returncode


def mosquitto_pub(port, *args):
    return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port)] + list(args),
                          capture_output=True, text=True, timeout=30)


def paho_client(port, client_id, v5=False, clean=True, **kw):
    proto = paho.MQTTv5 if v5 else paho.MQTTv311
    if v5:
        c = paho.Client(client_id=client_id, protocol=proto)
    else:
        c = paho.Client(client_id=client_id, clean_session=clean, protocol=proto)
    if "username" in kw:
        c.username_pw_set(kw["username"], kw.get("password"))
    return c


def wait_connected(c, timeout=10):
    deadline = time.time() + timeout
    while not c.is_connected() and time.time() < deadline:
        time.sleep(0.01)
    return c.is_connected()


# Raw MQTT for the cases clients refuse to produce.
def vi(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def mstr(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(s)) + s


def raw_connect(version, client_id):
    body = mstr("MQTT") + bytes([version, 0x02]) + struct.pack(">H", 30)
    if version == 5:
        body += b"\x00"
    return b"\x10" + vi(len(body) + len(mstr(client_id))) + body + mstr(client_id)


def raw_publish(version, qos, topic, pid, payload):
    body = mstr(topic) + (struct.pack(">H", pid) if qos else b"") + (b"\x00" if version == 5 else b"") + payload
    return bytes([0x30 | qos << 1]) + vi(len(body)) + body


def read_packet(sock):
    """One packet as bytes, or b"" when the server closed (or reset)."""
    try:
        return _read_packet(sock)
    except ConnectionResetError:
        return b""


def _read_packet(sock):
    head = sock.recv(1)
    if not head:
        return b""
    mult, length, lb = 1, 0, b""
    while True:
        b = sock.recv(1)
        if not b:
            return b""
        lb += b
        length += (b[0] & 0x7F) * mult
        mult *= 128
        if not b[0] & 0x80:
            break
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return b""
        body += chunk
    return head + lb + body


def raw_session(port, version, client_id):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(raw_connect(version, client_id))
    ack = read_packet(s)
    assert ack[0] == 0x20 and ack[3] == 0, ack
    return s


class Qos(unittest.TestCase):
    """QoS 0, 1 and 2 over 3.1.1 and 5 with mosquitto_pub and paho."""

    @classmethod
    def setUpClass(cls):
        cls.s = Server("qos")

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def test_mosquitto_pub_every_qos_and_version(self):
        n = 0
        for version in ("mqttv311", "mqttv5"):
            for qos in ("0", "1", "2"):
                n += 1
                r = mosquitto_pub(self.s.mqtt_port, "-V", version, "-q", qos, "-t", "t/dev/%d" % n,
                                  "-m", "mp,v=%s,q=%s v=%d" % (version, qos, n))
                self.assertEqual(0, r.returncode, r.stderr)
        # QoS 0 has no acknowledgement: give the writer a moment.
        deadline = time.time() + 5
        while self.s.count("mp") < 6 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(6, self.s.count("mp"))

    def test_paho_qos1_and_qos2_acknowledged_means_queryable(self):
        for v5 in (False, True):
            c = paho_client(self.s.mqtt_port, "paho-%s" % v5, v5=v5)
            c.connect("127.0.0.1", self.s.mqtt_port)
            c.loop_start()
            self.assertTrue(wait_connected(c))
            infos = []
            for i in range(200):
                qos = 1 + i % 2
                infos.append(c.publish("t/sensors", "pq,v5=%s,i=%d v=%d 1700000000" % (v5, i, i), qos=qos))
            for info in infos:
                info.wait_for_publish(10)
                self.assertTrue(info.is_published())
            # Acknowledged = durable and readable: no wait before the query.
            self.assertEqual(200, self.s.count("pq", where="WHERE v5 = '%s'" % v5))
            c.disconnect()
            c.loop_stop()

    def test_points_without_timestamp_get_the_arrival_time(self):
        before = time.time_ns()
        r = mosquitto_pub(self.s.mqtt_port, "-q", "1", "-t", "t", "-m", "arr v=1")
        self.assertEqual(0, r.returncode, r.stderr)
        after = time.time_ns()
        res = self.s.query("SELECT v FROM arr", epoch="ns")["results"][0]["series"][0]["values"]
        self.assertLessEqual(before, res[0][0])
        self.assertLessEqual(res[0][0], after)


class Sessions(unittest.TestCase):
    def test_persistent_session_is_resumed_and_clean_one_is_not(self):
        s = Server("sessions")
        try:
            flags = []
            for clean in (False, False, True):
                c = paho_client(s.mqtt_port, "persist", clean=clean)
                c.on_connect = lambda cl, ud, fl, rc: flags.append(fl.get("session present"))
                c.connect("127.0.0.1", s.mqtt_port)
                c.loop_start()
                self.assertTrue(wait_connected(c))
                c.publish("t", "sess v=1", qos=1).wait_for_publish(10)
                c.disconnect()
                c.loop_stop()
            self.assertEqual([0, 1, 0], flags)
            # QoS 2 packet id state across a reconnect, with raw packets.
            sock = socket.create_connection(("127.0.0.1", s.mqtt_port), timeout=10)
            body = mstr("MQTT") + bytes([4, 0x00]) + struct.pack(">H", 30) + mstr("q2x")
            sock.sendall(b"\x10" + vi(len(body)) + body)
            self.assertEqual(0, read_packet(sock)[3])
            sock.sendall(raw_publish(4, 2, "t", 77, b"q2s v=1"))
            self.assertEqual(b"\x50\x02\x00\x4d", read_packet(sock))
            sock.close()
            sock = socket.create_connection(("127.0.0.1", s.mqtt_port), timeout=10)
            sock.sendall(b"\x10" + vi(len(body)) + body)
            ack = read_packet(sock)
            self.assertEqual(1, ack[2])  # session present
            dup = bytearray(raw_publish(4, 2, "t", 77, b"q2s v=1"))
            dup[0] |= 0x08
            sock.sendall(bytes(dup))
            self.assertEqual(b"\x50\x02\x00\x4d", read_packet(sock))
            sock.sendall(b"\x62\x02\x00\x4d")
            self.assertEqual(b"\x70\x02\x00\x4d", read_packet(sock))
            sock.close()
            self.assertEqual(1, s.count("q2s"))  # stored once
        finally:
            self.assertEqual(0, s.stop())


class Malformed(unittest.TestCase):
    def test_bad_and_oversize_packets_close_only_their_connection(self):
        s = Server("malformed", extra=["--mqtt-max-packet-bytes", "1024"])
        try:
            # A fifth remaining-length byte.
            sock = socket.create_connection(("127.0.0.1", s.mqtt_port), timeout=10)
            sock.sendall(b"\x10\xff\xff\xff\xff\x01")
            self.assertEqual(b"", read_packet(sock))
            sock.close()
            # Packet id 0 at QoS 1 and a wildcard topic (3.1.1: closed).
            for pkt in (raw_publish(4, 1, "t", 0, b"bad v=1"), raw_publish(4, 1, "t/#", 1, b"bad v=1")):
                sock = raw_session(s.mqtt_port, 4, "m")
                sock.sendall(pkt)
                self.assertEqual(b"", read_packet(sock))
                sock.close()
            # Oversize on 5: DISCONNECT 0x95, then closed.
            sock = raw_session(s.mqtt_port, 5, "big")
            sock.sendall(raw_publish(5, 1, "t", 1, b"x" * 2000))
            d = read_packet(sock)
            self.assertEqual(0xE0, d[0])
            self.assertEqual(0x95, d[2])
            self.assertEqual(b"", read_packet(sock))
            sock.close()
            # mosquitto_pub over 3.1.1 (which has no way to learn the limit)
            # loses its connection; over 5 it reads the limit from CONNACK
            # and does not send at all.
            r = mosquitto_pub(s.mqtt_port, "-V", "mqttv311", "-q", "1", "-t", "t", "-m", "x" * 2000)
            self.assertNotEqual(0, r.returncode)
            self.assertIn("connection was lost", r.stderr)
            # The server is fine and nothing bad was stored.
            r = mosquitto_pub(s.mqtt_port, "-q", "1", "-t", "t", "-m", "ok v=1")
            self.assertEqual(0, r.returncode, r.stderr)
            self.assertEqual(1, s.count("ok"))
            self.assertEqual(0, s.count("bad"))
        finally:
            self.assertEqual(0, s.stop())


class Payloads(unittest.TestCase):
    def test_partial_bad_payload_stores_its_good_lines(self):
        s = Server("payloads")
        try:
            r = mosquitto_pub(s.mqtt_port, "-q", "1", "-t", "t/dev", "-m", "pb v=1 1\nnot line protocol\npb v=2 2")
            self.assertEqual(0, r.returncode, r.stderr)  # 3.1.1 acknowledges anyway
            self.assertEqual(2, s.count("pb"))
            # 5: reason codes for an all-bad payload and a missing database.
            sock = raw_session(s.mqtt_port, 5, "r5")
            sock.sendall(raw_publish(5, 1, "t", 1, b"garbage"))
            self.assertEqual(0x99, read_packet(sock)[4])
            sock.sendall(raw_publish(5, 1, "nosuchdb/x", 2, b"m v=1"))
            self.assertEqual(0x90, read_packet(sock)[4])
            sock.close()
            time.sleep(1.1)  # past the log's rate limit
            sock = raw_session(s.mqtt_port, 5, "r6")
            sock.sendall(raw_publish(5, 1, "t/dev9", 1, b"garbage2"))
            self.assertEqual(0x99, read_packet(sock)[4])
            sock.close()
            self.assertRegex(s.read_log(), r'payload on topic "t/dev9" rejected')
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.http_port, timeout=30) as r:
                metrics = r.read().decode()
            self.assertIn("\nm2mdb_mqtt_messages_rejected_total 3\n", metrics)
            self.assertIn("\nm2mdb_mqtt_messages_partial_total 1\n", metrics)
        finally:
            self.assertEqual(0, s.stop())


class Auth(unittest.TestCase):
    def test_wrong_credentials_are_refused(self):
        d = os.path.join(ARGS.work, "auth")
        shutil.rmtree(d, ignore_errors=True)
        s = Server("auth")
        s.stop()
        tok = subprocess.run([ARGS.bin, "token", "create", "--read", "--write", "--db", "t", "--data-dir", d],
                             capture_output=True, text=True, timeout=30).stdout.strip()
        self.assertTrue(tok.startswith("m2m_"), tok)
        s = Server("auth", fresh=False)
        try:
            # Not a token: taken as a user's password, which is wrong.
            r = mosquitto_pub(s.mqtt_port, "-q", "1", "-t", "t", "-m", "au v=1", "-u", "dev", "-P", "m2m_nope")
            self.assertNotEqual(0, r.returncode)
            self.assertIn("bad user name or password", r.stderr.lower())
            r = mosquitto_pub(s.mqtt_port, "-V", "mqttv5", "-q", "1", "-t", "t", "-m", "au v=1")
            self.assertNotEqual(0, r.returncode)
            r = mosquitto_pub(s.mqtt_port, "-q", "1", "-t", "t", "-m", "au v=1", "-u", "dev", "-P", tok)
            self.assertEqual(0, r.returncode, r.stderr)
            self.assertEqual(1, s.count("au", token=tok))
        finally:
            self.assertEqual(0, s.stop())


def raw_connect_user(version, client_id, user, password):
    """CONNECT with a user name and password (flags 0xC2: both, clean session)."""
    body = mstr("MQTT") + bytes([version, 0xC2]) + struct.pack(">H", 30)
    if version == 5:
        body += b"\x00"
    payload = mstr(client_id) + mstr(user) + mstr(password)
    return b"\x10" + vi(len(body) + len(payload)) + body + payload


def http(server, q, user=None, password=None, method="POST", path="/query", data=None):
    params = {"q": q} if q else {}
    if user is not None:
        params.update({"u": user, "p": password})
    url = "http://127.0.0.1:%d%s" % (server.http_port, path)
    body = urllib.parse.urlencode(dict(params, **(data or {}))).encode()
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Users(unittest.TestCase):
    """MQTT user name and password as a user (Argon2id), grants per PUBLISH, and
    changes made over HTTP while the server runs reaching MQTT at once."""

    ROOT_PW = "r00t-\u00fc\u00df-'\"quoted\""
    DEV_PW = "d3v \u2603 pass"

    def test_users_grants_and_live_changes(self):
        s = Server("users")
        try:
            # Before any user: open on loopback, anonymous publishes work.
            anon = raw_session(s.mqtt_port, 5, "anon")
            anon.sendall(raw_publish(5, 1, "t", 1, b"u v=1"))
            self.assertEqual(b"\x40\x02\x00\x01", read_packet(anon))
            # The first admin switches protected mode on, for MQTT too.
            esc = lambda p: p.replace("\\", "\\\\").replace("'", "\\'")
            code, body = http(s, "CREATE USER root WITH PASSWORD '%s' WITH ALL PRIVILEGES" % esc(self.ROOT_PW))
            self.assertEqual(200, code, body)
            anon.sendall(raw_publish(5, 1, "t", 2, b"u v=2"))
            ack = read_packet(anon)
            self.assertEqual(0x87, ack[4], ack)  # the open anonymous connection is refused now
            anon.close()
            r = mosquitto_pub(s.mqtt_port, "-q", "1", "-t", "t", "-m", "u v=3")
            self.assertNotEqual(0, r.returncode)
            root = lambda q: http(s, q, "root", self.ROOT_PW)
            for q in ["CREATE USER dev WITH PASSWORD '%s'" % esc(self.DEV_PW), "GRANT WRITE ON t TO dev",
                      "CREATE DATABASE other"]:
                self.assertEqual(200, root(q)[0], q)
            # mosquitto_pub with the user's password (3.1.1 and 5).
            for v in ("mqttv311", "mqttv5"):
                r = mosquitto_pub(s.mqtt_port, "-V", v, "-q", "1", "-t", "t", "-m", "u v=4", "-u", "dev", "-P",
                                  self.DEV_PW)
                self.assertEqual(0, r.returncode, r.stderr)
            r = mosquitto_pub(s.mqtt_port, "-q", "1", "-t", "t", "-m", "u v=5", "-u", "dev", "-P", "wrong")
            self.assertNotEqual(0, r.returncode)
            self.assertIn("bad user name or password", r.stderr.lower())
            # An established MQTT 5 connection: no grant on other -> 0x87.
            dev = socket.create_connection(("127.0.0.1", s.mqtt_port), timeout=10)
            dev.sendall(raw_connect_user(5, "dev-1", "dev", self.DEV_PW))
            self.assertEqual(0, read_packet(dev)[3])
            dev.sendall(raw_publish(5, 1, "other", 1, b"u v=6"))
            self.assertEqual(0x87, read_packet(dev)[4])
            dev.sendall(raw_publish(5, 1, "t", 2, b"u v=7"))
            self.assertEqual(b"\x40\x02\x00\x02", read_packet(dev))
            # REVOKE over HTTP: the same connection's next PUBLISH is refused.
            self.assertEqual(200, root("REVOKE WRITE ON t FROM dev")[0])
            dev.sendall(raw_publish(5, 1, "t", 3, b"u v=8"))
            ack = read_packet(dev)
            self.assertEqual(0x87, ack[4], ack)
            self.assertIn(b'user "dev" is not authorized to write to database "t"', ack)
            dev.close()
            # A token made with `m2mdb token create --host` works at once;
            # revoked with `token revoke --host`, its connection stops.
            host = ["--host", "http://127.0.0.1:%d" % s.http_port, "--token", "root:" + self.ROOT_PW]
            tok = subprocess.run([ARGS.bin, "token", "create", "--write", "--db", "t"] + host,
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(0, tok.returncode, tok.stderr)
            secret = tok.stdout.strip()
            dev = socket.create_connection(("127.0.0.1", s.mqtt_port), timeout=10)
            dev.sendall(raw_connect_user(5, "dev-2", "truck-7", secret))
            self.assertEqual(0, read_packet(dev)[3])
            dev.sendall(raw_publish(5, 1, "t", 1, b"u v=9"))
            self.assertEqual(b"\x40\x02\x00\x01", read_packet(dev))
            ids = re.findall(r"created token ([0-9a-f]+) ", tok.stderr)
            self.assertEqual(1, len(ids), tok.stderr)
            r = subprocess.run([ARGS.bin, "token", "revoke", ids[0]] + host, capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(0, r.returncode, r.stderr)
            dev.sendall(raw_publish(5, 1, "t", 2, b"u v=10"))
            ack = read_packet(dev)
            self.assertEqual(0x87, ack[4], ack)
            self.assertIn(b"was revoked", ack)
            dev.close()
            count = http(s, "SELECT count(v) FROM u", "root", self.ROOT_PW, data={"db": "t"})[1]
            # Stored: v=1 (anonymous, before auth), v=4 twice, v=7, v=9.
            self.assertEqual(5, json.loads(count)["results"][0]["series"][0]["values"][0][1], count)
            # Failed MQTT logins count against the address over HTTP too (one limiter).
            for i in range(5):
                c = socket.create_connection(("127.0.0.1", s.mqtt_port), timeout=30)
                c.sendall(raw_connect_user(5, "guess-%d" % i, "dev", "guess-%d" % i))
                ack = read_packet(c)
                c.close()
                if ack[3] == 0x9F:
                    break
                self.assertEqual(0x86, ack[3], ack)
            code, body = http(s, "SHOW USERS", "root", self.ROOT_PW)
            self.assertEqual(429, code, body)
            c = socket.create_connection(("127.0.0.1", s.mqtt_port), timeout=30)
            c.sendall(raw_connect_user(5, "guess-x", "root", self.ROOT_PW))
            self.assertEqual(0x9F, read_packet(c)[3])
            c.close()
        finally:
            self.assertEqual(0, s.stop())
        # The passwords never reach the data directory or the log.
        for pw in (self.ROOT_PW, self.DEV_PW):
            needle = pw.encode()
            self.assertNotIn(needle, open(s.log_path, "rb").read())
            for root_dir, _, files in os.walk(s.data_dir):
                for f in files:
                    with open(os.path.join(root_dir, f), "rb") as fh:
                        self.assertNotIn(needle, fh.read(), os.path.join(root_dir, f))


class Rules(unittest.TestCase):
    def test_json_value_and_identity_tags(self):
        os.makedirs(ARGS.work, exist_ok=True)
        rules = os.path.join(ARGS.work, "rules.txt")
        with open(rules, "w") as f:
            f.write("# rules\n"
                    "plant/+site/+device/# db=t measurement=env format=json precision=ms tag.site=+site "
                    "tag.device=+device\n"
                    "meter/+id measurement=power db=t field=watts format=value tag.meter=+id\n"
                    "fleet/# db=t tag.driver=%username\n")
        s = Server("rules", extra=["--mqtt-rules", rules])
        try:
            pub = lambda *a: self.assertEqual(0, mosquitto_pub(s.mqtt_port, "-q", "1", *a).returncode)
            pub("-t", "plant/berlin/pump-1/x", "-m", '{"temp": 21.5, "motor": {"rpm": 1450}, "time": 1700000000000}')
            pub("-t", "meter/m7", "-m", "1250.5")
            pub("-u", "alice", "-t", "fleet/truck-7", "-m", "engine,driver=bob rpm=1500i 1700000000000000000")
            series = [v[0] for v in s.query("SHOW SERIES")["results"][0]["series"][0]["values"]]
            self.assertEqual(["engine,driver=alice", "env,device=pump-1,site=berlin", "power,meter=m7"], series)
            env = s.query('SELECT temp, "motor.rpm" FROM env', epoch="ns")["results"][0]["series"][0]["values"]
            self.assertEqual([[1700000000000000000, 21.5, 1450]], env)
            self.assertEqual(1250.5, s.query("SELECT watts FROM power")["results"][0]["series"][0]["values"][0][1])
            # Without a user name the identity tag cannot be stamped: refused.
            mosquitto_pub(s.mqtt_port, "-V", "mqttv5", "-q", "1", "-t", "fleet/x", "-m", "anon v=1")
            self.assertEqual(["engine,driver=alice", "env,device=pump-1,site=berlin", "power,meter=m7"],
                             [v[0] for v in s.query("SHOW SERIES")["results"][0]["series"][0]["values"]])
        finally:
            self.assertEqual(0, s.stop())
        # A bad rules file stops the start with the line named.
        with open(rules, "w") as f:
            f.write("a/b colour=red\n")
        p = subprocess.run([ARGS.bin, "serve", "--data-dir", os.path.join(ARGS.work, "rules2"), "--mqtt",
                            "127.0.0.1:0", "--http", "127.0.0.1:0", "--mqtt-rules", rules],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(2, p.returncode)
        self.assertIn("line 1: unknown key colour", p.stderr)


class Tls(unittest.TestCase):
    def test_mqtt_over_tls_with_the_server_certificate(self):
        d = os.path.join(ARGS.work, "tls-certs")
        os.makedirs(d, exist_ok=True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        s = Server("tls", extra=["--mqtt-tls", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key])
        try:
            for v in ("mqttv311", "mqttv5"):
                r = mosquitto_pub(s.mqtts_port, "--cafile", cert, "-V", v, "-q", "1", "-t", "t/x",
                                  "-m", "tls,v=%s v=1 1" % v)
                self.assertEqual(0, r.returncode, r.stderr)
            # paho with TLS, QoS 2, many messages (TLS records split and join packets).
            c = paho_client(s.mqtts_port, "tls-paho", v5=False)
            c.tls_set(ca_certs=cert)
            c.connect("127.0.0.1", s.mqtts_port)
            c.loop_start()
            self.assertTrue(wait_connected(c))
            infos = [c.publish("t", "tlsp v=%d %d" % (i, i + 1), qos=2) for i in range(300)]
            for info in infos:
                info.wait_for_publish(10)
                self.assertTrue(info.is_published())
            c.disconnect()
            c.loop_stop()
            # Plain MQTT to the TLS port gets nowhere; the server lives on.
            sock = socket.create_connection(("127.0.0.1", s.mqtts_port), timeout=10)
            sock.sendall(raw_connect(4, "plain"))
            self.assertEqual(b"", read_packet(sock))
            sock.close()
            ctx = ssl.create_default_context(cafile=cert)
            url = "https://127.0.0.1:%d/query?%s" % (s.http_port, urllib.parse.urlencode(
                {"db": "t", "q": "SELECT count(v) FROM tls; SELECT count(v) FROM tlsp"}))
            with urllib.request.urlopen(url, timeout=30, context=ctx) as r:
                res = json.loads(r.read())["results"]
            self.assertEqual(2, res[0]["series"][0]["values"][0][1])
            self.assertEqual(300, res[1]["series"][0]["values"][0][1])
        finally:
            self.assertEqual(0, s.stop())


class Crash(unittest.TestCase):
    def test_every_acknowledged_message_survives_sigkill(self):
        s = Server("crash")
        acked = set()
        sent = {}
        lock = threading.Lock()
        c = paho_client(s.mqtt_port, "crasher", clean=True)
        c.max_inflight_messages_set(100)

        def on_publish(client, userdata, mid):
            with lock:
                acked.add(mid)

        c.on_publish = on_publish
        c.connect("127.0.0.1", s.mqtt_port)
        c.loop_start()
        self.assertTrue(wait_connected(c))
        stop = threading.Event()

        def publisher():
            i = 0
            while not stop.is_set():
                # 10 points per message, each with its own series and time.
                payload = "\n".join("crash,m=%d,k=%d v=%d %d" % (i, k, k, 1700000000000000000 + i * 10 + k)
                                    for k in range(10))
                info = c.publish("t/crash", payload, qos=1 + i % 2)
                if info.rc != paho.MQTT_ERR_SUCCESS and info.rc != paho.MQTT_ERR_QUEUE_SIZE:
                    break
                with lock:
                    sent[info.mid] = i
                i += 1
                if i % 50 == 0:
                    time.sleep(0.005)

        t = threading.Thread(target=publisher)
        t.start()
        # Killed at a different moment each run: after 200-600 acknowledged
        # messages.
        threshold = random.randint(200, 600)
        deadline = time.time() + 10
        while time.time() < deadline:
            with lock:
                if len(acked) >= threshold:
                    break
            time.sleep(0.01)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
        stop.set()
        t.join(10)
        c.loop_stop()
        with lock:
            acked_msgs = sorted(sent[m] for m in acked if m in sent)
        # A slow machine may reach the deadline first; the check below holds
        # for any number of acknowledged messages, but some must exist.
        self.assertGreaterEqual(len(acked_msgs), 50)
        with lock:
            published = len(sent)
        s.log.close()
        s = Server("crash", fresh=False)
        try:
            res = s.query("SELECT count(v) FROM crash GROUP BY m")["results"][0].get("series", [])
            stored = {int(x["tags"]["m"]): x["values"][0][1] for x in res}
            missing = [m for m in acked_msgs if stored.get(m) != 10]
            self.assertEqual([], missing[:10], "acknowledged messages lost or torn")
            # Nothing extra: only messages that were sent, each whole (an
            # unacknowledged message may be stored: at least once).
            self.assertTrue(all(0 <= m < published for m in stored))
            self.assertTrue(all(n == 10 for n in stored.values()))
            print("crash: %d acknowledged messages, %d stored" % (len(acked_msgs), len(stored)),
                  file=sys.stderr)
        finally:
            self.assertEqual(0, s.stop())


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

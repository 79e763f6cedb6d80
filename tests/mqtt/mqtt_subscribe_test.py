#!/usr/bin/python3
"""End-to-end tests of `m2mdb serve --mqtt-subscribe`: a real mosquitto broker
on a free 127.0.0.1 port (temp config, persistence in a temp dir), the real
m2mdb binary subscribed to it, messages published with mosquitto_pub and
python3-paho-mqtt.

  mqtt_subscribe_test.py --bin build/bin/m2mdb --work DIR [TestClass ...]

`Crash` SIGKILLs the subscribed server at random moments while a publisher
sends QoS 1 messages through the broker, restarts it, and counts the
messages lost; `mqtt_subscribe_test.py ... --crash-kills N Crash` runs a
longer measurement (docs/mqtt.md quotes its figure).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import urllib.request

import paho.mqtt.client as paho

ARGS = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on a free loopback port, persistence in a temp dir."""

    def __init__(self, name, users=None, tls=None):
        self.dir = os.path.join(ARGS.work, name + "-broker")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        conf = ["listener %d 127.0.0.1" % self.port] + (["certfile " + tls[0], "keyfile " + tls[1]] if tls else []) + [
                "persistence true",
                "persistence_location %s/" % self.dir, "max_queued_messages 0", "autosave_interval 1"]
        if os.getuid() == 0:
            conf.append("user root")  # else it drops to `mosquitto`, who cannot write self.dir
        if users:
            pw = os.path.join(self.dir, "passwd")
            open(pw, "w").close()
            for u, p in users.items():
                subprocess.run(["mosquitto_passwd", "-b", pw, u, p], check=True, capture_output=True)
            conf += ["allow_anonymous false", "password_file " + pw]
        else:
            conf.append("allow_anonymous true")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.log = open(os.path.join(self.dir, "broker.log"), "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        raise AssertionError("mosquitto did not start: " + open(os.path.join(self.dir, "broker.log")).read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


class Server:
    """m2mdb serve subscribed to a broker."""

    def __init__(self, name, urls, extra=(), wait_connected=True):
        self.data_dir = os.path.join(ARGS.work, name)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.urls = urls
        self.extra = list(extra)
        self.log_path = self.data_dir + ".log"
        if os.path.exists(self.log_path):
            os.remove(self.log_path)
        self.start(wait_connected)

    def start(self, wait_connected=True):
        start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.log = open(self.log_path, "a")
        cmd = [ARGS.bin, "serve", "--data-dir", self.data_dir, "--http", "127.0.0.1:0", "--create-db", "t"]
        for u in self.urls:
            cmd += ["--mqtt-subscribe", u]
        self.proc = subprocess.Popen(cmd + self.extra, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            log = self.read_log()[start:]
            h = re.search(r"listening on http://[^ ]*:(\d+) ", log)
            if h and (not wait_connected or "mqtt subscriber: connected to" in log):
                self.http_port = int(h.group(1))
                return
            if self.proc.poll() is not None:
                raise AssertionError("server exited at start:\n" + self.read_log())
            time.sleep(0.02)
        raise AssertionError("server did not start or connect:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def query(self, q, db="t"):
        url = "http://127.0.0.1:%d/query?%s" % (self.http_port, urllib.parse.urlencode({"db": db, "q": q}))
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.loads(r.read())

    def count(self, measurement, field="v"):
        res = self.query("SELECT count(%s) FROM %s" % (field, measurement))["results"][0]
        return res["series"][0]["values"][0][1] if "series" in res else 0

    def values(self, measurement, field="v"):
        res = self.query("SELECT %s FROM %s" % (field, measurement))["results"][0]
        return [v[1] for v in res["series"][0]["values"]] if "series" in res else []

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port, timeout=30) as r:
            text = r.read().decode()
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(m2mdb_mqtt_subscriber_\w+) (\d+)$", text, re.M)}

    def wait_count(self, measurement, n, timeout=20, field="v"):
        deadline = time.time() + timeout
        got = 0
        while time.time() < deadline:
            got = self.count(measurement, field)
            if got >= n:
                return got
            time.sleep(0.05)
        return got

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.log.close()
        return self.proc.returncode


def pub(port, topic, message, *extra):
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-m", message]
                       + list(extra), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


class Subscribe(unittest.TestCase):
    def setUp(self):
        self.broker = Broker("sub")
        self.url = "mqtt://127.0.0.1:%d/t/#" % self.broker.port
        self.dead = os.path.join(ARGS.work, "sub-dead.jsonl")
        if os.path.exists(self.dead):
            os.remove(self.dead)
        self.server = Server("sub", [self.url], extra=["--mqtt-dead-letter", self.dead])

    def tearDown(self):
        self.server.stop()
        self.broker.stop()

    def test_published_points_arrive(self):
        pub(self.broker.port, "t/truck-7", "engine,truck=t7 v=1500i 1700000000000000000")
        pub(self.broker.port, "t/truck-8", "engine,truck=t8 v=1i 1700000000000000000\nengine,truck=t8 v=2i")
        self.assertEqual(self.server.wait_count("engine", 3), 3)
        # A topic outside the filter is not delivered.
        pub(self.broker.port, "other/x", "engine,truck=t9 v=9i")
        time.sleep(0.3)
        self.assertEqual(self.server.count("engine"), 3)
        m = self.server.metrics()
        self.assertEqual(m["m2mdb_mqtt_subscriber_messages_received_total"], 2)
        self.assertEqual(m["m2mdb_mqtt_subscriber_messages_stored_total"], 2)
        self.assertEqual(m["m2mdb_mqtt_subscriber_points_written_total"], 3)
        self.assertEqual(m["m2mdb_mqtt_subscriber_connected"], 1)
        # The default client id is derived from the host and the data dir.
        self.assertRegex(self.server.read_log(), r"as m2mdb-[^ ]+-[0-9a-f]{8},")

    def test_bad_payload_is_counted_and_the_server_keeps_going(self):
        pub(self.broker.port, "t/x", "this is not line protocol")
        pub(self.broker.port, "t/x", "\xff\xfe garbage =,=")
        pub(self.broker.port, "nodb/x", "m v=1")  # the filter is t/# — no delivery
        pub(self.broker.port, "t/x", "m v=1i 1700000000000000000\nm v=oops")
        self.assertEqual(self.server.wait_count("m", 1), 1)
        deadline = time.time() + 10
        # The counters move after the points become visible: wait for all three.
        def settled():
            m = self.server.metrics()
            return (m["m2mdb_mqtt_subscriber_messages_received_total"] >= 3 and
                    m["m2mdb_mqtt_subscriber_messages_rejected_total"] >= 2 and
                    m["m2mdb_mqtt_subscriber_messages_partial_total"] >= 1)
        while time.time() < deadline and not settled():
            time.sleep(0.05)
        m = self.server.metrics()
        self.assertEqual(m["m2mdb_mqtt_subscriber_messages_rejected_total"], 2)
        self.assertEqual(m["m2mdb_mqtt_subscriber_messages_partial_total"], 1)
        self.assertIn("rejected", self.server.read_log())
        self.assertIsNone(self.server.proc.poll())
        # The listener's dead-letter format: one JSON object per message
        # (written just after the counters move).
        dead = []
        while time.time() < deadline:
            if os.path.exists(self.dead):
                with open(self.dead) as f:
                    dead = [json.loads(line) for line in f if line.endswith("\n")]
            if len(dead) >= 3:
                break
            time.sleep(0.05)
        self.assertEqual(3, len(dead), dead)
        self.assertEqual("this is not line protocol", dead[0]["payload"])
        self.assertEqual(153, dead[0]["reason_code"])
        self.assertEqual("t/x", dead[0]["topic"])
        self.assertEqual(1, dead[0]["qos"])
        self.assertRegex(dead[0]["client_id"], r"^m2mdb-")
        self.assertEqual(0, dead[2]["reason_code"])  # partial: the good line was stored
        self.assertEqual([2], dead[2]["rejected_lines"])

    def test_missing_database_is_counted(self):
        self.server.stop()
        self.server = Server("sub2", ["mqtt://127.0.0.1:%d/#" % self.broker.port])
        pub(self.broker.port, "nosuchdb/x", "m v=1")
        pub(self.broker.port, "t/x", "m v=2")
        self.assertEqual(self.server.wait_count("m", 1), 1)
        self.assertEqual(self.server.metrics()["m2mdb_mqtt_subscriber_messages_rejected_total"], 1)


class Queued(unittest.TestCase):
    """The server down while the broker queues QoS 1 messages for its
    persistent session: after the restart they arrive."""

    def test_messages_queued_while_down_arrive_after_restart(self):
        broker = Broker("queued")
        server = Server("queued", ["mqtt://127.0.0.1:%d/t/#" % broker.port])
        try:
            pub(broker.port, "t/a", "q v=0i 1700000000000000000")
            self.assertEqual(server.wait_count("q", 1), 1)
            self.assertEqual(server.stop(), 0)
            for i in range(1, 51):
                pub(broker.port, "t/a", "q v=%di %d" % (i, 1700000000000000000 + i))
            server.start()
            self.assertEqual(server.wait_count("q", 51), 51)
            self.assertEqual(sorted(server.values("q")), list(range(51)))
        finally:
            server.stop()
            broker.stop()

    def test_broker_restart_is_survived_by_reconnecting(self):
        broker = Broker("reconnect")
        server = Server("reconnect", ["mqtt://127.0.0.1:%d/t/#" % broker.port],
                        extra=["--mqtt-client-id", "sub-reconnect"])
        try:
            pub(broker.port, "t/a", "r v=1i 1700000000000000000")
            self.assertEqual(server.wait_count("r", 1), 1)
            port = broker.port
            broker.proc.terminate()
            broker.proc.wait(10)
            broker.log.close()
            time.sleep(0.5)
            # Restart on the same port with the same persistence directory.
            broker.log = open(os.path.join(broker.dir, "broker.log"), "a")
            broker.proc = subprocess.Popen(["mosquitto", "-c", broker.conf], stdout=broker.log,
                                           stderr=subprocess.STDOUT)
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            pub(port, "t/a", "r v=2i 1700000000000000001")
            self.assertEqual(server.wait_count("r", 2, timeout=30), 2)
            m = server.metrics()
            self.assertGreaterEqual(m["m2mdb_mqtt_subscriber_connection_failures_total"], 1)
            self.assertGreaterEqual(m["m2mdb_mqtt_subscriber_connects_total"], 2)
            self.assertIn("as sub-reconnect", server.read_log())
        finally:
            server.stop()
            broker.stop()


class Credentials(unittest.TestCase):
    def test_user_and_password_in_the_url(self):
        broker = Broker("creds", users={"dev@site": "s3cr/et:x"})
        server = None
        try:
            # Percent-encoded '@', '/' and ':' in the credentials.
            server = Server("creds", ["mqtt://dev%%40site:s3cr%%2Fet%%3Ax@127.0.0.1:%d/t/#" % broker.port])
            pub(broker.port, "t/a", "c v=1i 1700000000000000000", "-u", "dev@site", "-P", "s3cr/et:x")
            self.assertEqual(server.wait_count("c", 1), 1)
            server.stop()
            # A wrong password: refused by the broker, counted, retried, no crash.
            server = Server("creds-bad", ["mqtt://dev%%40site:wrong@127.0.0.1:%d/t/#" % broker.port],
                            extra=["--mqtt-client-id", "bad-creds"], wait_connected=False)
            deadline = time.time() + 10
            while time.time() < deadline and "refused the connection" not in server.read_log():
                time.sleep(0.05)
            self.assertIn("refused the connection: Connection Refused: not authorised", server.read_log())
            m = server.metrics()
            self.assertGreaterEqual(m["m2mdb_mqtt_subscriber_connection_failures_total"], 1)
            self.assertEqual(m["m2mdb_mqtt_subscriber_connected"], 0)
            self.assertIsNone(server.proc.poll())
        finally:
            if server:
                server.stop()
            broker.stop()


class Tls(unittest.TestCase):
    def test_mqtts_with_a_ca_file(self):
        d = os.path.join(ARGS.work, "tls-certs")
        os.makedirs(d, exist_ok=True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        broker = Broker("tls", tls=(cert, key))
        server = None
        try:
            server = Server("tls", ["mqtts://127.0.0.1:%d/t/#" % broker.port], extra=["--mqtt-subscribe-ca", cert])
            pub(broker.port, "t/a", "tls v=1i 1700000000000000000", "--cafile", cert)
            self.assertEqual(server.wait_count("tls", 1), 1)
            server.stop()
            # The system's CA certificates do not know this one: refused, counted, retried.
            server = Server("tls-untrusted", ["mqtts://127.0.0.1:%d/t/#" % broker.port], wait_connected=False)
            deadline = time.time() + 10
            while time.time() < deadline and server.metrics()["m2mdb_mqtt_subscriber_connection_failures_total"] < 1:
                time.sleep(0.05)
            self.assertGreaterEqual(server.metrics()["m2mdb_mqtt_subscriber_connection_failures_total"], 1)
            self.assertEqual(server.metrics()["m2mdb_mqtt_subscriber_connected"], 0)
        finally:
            if server:
                server.stop()
            broker.stop()

    def test_a_missing_ca_file_stops_the_start(self):
        r = subprocess.run([ARGS.bin, "serve", "--data-dir", os.path.join(ARGS.work, "noca"), "--http",
                            "127.0.0.1:0", "--mqtt-subscribe", "mqtts://127.0.0.1:1/t", "--mqtt-subscribe-ca",
                            "/nonexistent/ca.pem"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("/nonexistent/ca.pem", r.stderr)


class Shutdown(unittest.TestCase):
    def test_sigterm_is_prompt_while_a_broker_never_answers(self):
        # A listening socket that never accepts: the TCP connect completes
        # (backlog) but no CONNACK ever comes; and a non-routable address
        # whose SYN may go unanswered (where the network drops it rather than
        # answering "unreachable", a blocking connect would hold SIGTERM for
        # the kernel's SYN timeout; this sandbox answers at once).
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(0)
            port = s.getsockname()[1]
            server = Server("shutdown", ["mqtt://127.0.0.1:%d/t/#" % port, "mqtt://10.255.255.1:1883/t/#"],
                            wait_connected=False)
            time.sleep(0.5)
            t0 = time.time()
            self.assertEqual(server.stop(), 0)
            self.assertLess(time.time() - t0, 10)


class BadUrl(unittest.TestCase):
    def test_bad_urls_are_rejected_at_start_with_exit_2(self):
        for url, why in [("http://127.0.0.1:1883/t/#", "scheme"),
                         ("mqtt://127.0.0.1:1883", "no topic filter"),
                         ("mqtt://127.0.0.1:99999/t", "port"),
                         ("mqtt://127.0.0.1:1883/a/#/b", "invalid topic filter"),
                         ("mqtt://:1883/t", "no host")]:
            d = os.path.join(ARGS.work, "badurl")
            r = subprocess.run([ARGS.bin, "serve", "--data-dir", d, "--http", "127.0.0.1:0",
                                "--mqtt-subscribe", url], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, (url, r.stderr))
            self.assertIn("--mqtt-subscribe: bad MQTT URL", r.stderr)
            self.assertIn(why, r.stderr)
            self.assertIn(url, r.stderr)


class Crash(unittest.TestCase):
    """Publisher at QoS 1 into the broker; the subscribed server SIGKILLed at
    random moments and restarted; counts the messages lost. libmosquitto
    sends the PUBACK before it hands us the message (mosquitto#118), so a
    kill between the PUBACK and the message's WAL write loses that message:
    at most one per kill. A witness subscriber shows the broker delivered
    every message."""

    def test_sigkill_loses_at_most_the_message_being_written(self):
        kills = ARGS.crash_kills
        broker = Broker("crash")
        server = Server("crash", ["mqtt://127.0.0.1:%d/t/#" % broker.port],
                        extra=["--mqtt-client-id", "crash-sub"])
        published = []
        done = threading.Event()
        pub_client = paho.Client(client_id="crash-pub", clean_session=True)
        pub_client.max_inflight_messages_set(20)
        pub_client.connect("127.0.0.1", broker.port)
        pub_client.loop_start()

        def publisher():
            i = 0
            while not done.is_set():
                # Many lines per message widen the time between receiving a
                # message and its WAL write (parsing), where an early PUBACK
                # would lose it.
                body = "\n".join("k,dev=d v=%di %d" % (i, 1700000000000000000 + i * 1000 + j)
                                  for j in range(ARGS.crash_lines))
                info = pub_client.publish("t/dev", body, qos=1)
                published.append(i)
                i += 1
                if i % 20 == 0:
                    info.wait_for_publish()
                    time.sleep(0.01)
            info.wait_for_publish()

        # A second persistent subscriber that never crashes: what the broker
        # delivered, to tell a loss of ours from one before us.
        witnessed = set()
        witness = paho.Client(client_id="crash-witness", clean_session=True)
        witness.on_message = lambda c, u, m: witnessed.add(int(m.payload.split(b" ")[1][2:-1]))
        witness.connect("127.0.0.1", broker.port)
        witness.subscribe("t/#", qos=1)
        witness.loop_start()
        time.sleep(0.2)
        t = threading.Thread(target=publisher)
        t.start()
        rng = random.Random(ARGS.seed)
        try:
            for _ in range(kills):
                time.sleep(rng.uniform(0.2, 0.8))
                server.stop(signal.SIGKILL)
                server.start(wait_connected=True)
            time.sleep(0.5)
        finally:
            done.set()
            t.join()
            pub_client.loop_stop()
            pub_client.disconnect()
        n = len(published)
        try:
            # Until every point is there or the count has not moved for 2 s
            # (a lost message never comes).
            want, got, last, since = n * ARGS.crash_lines, -1, -1, time.time()
            deadline = time.time() + 60
            while time.time() < deadline:
                got = server.count("k")
                if got == want or time.time() - since > 2:
                    break
                if got != last:
                    last, since = got, time.time()
                time.sleep(0.1)
            stored = set(server.values("k"))
            time.sleep(0.5)
            witness.loop_stop()
            witness.disconnect()
            lost = sorted(set(published) - stored)
            print("\nwitness: %d of %d, missing %s" % (len(witnessed), n, sorted(set(published) - witnessed)[:20]),
                  file=sys.stderr)
            print("subscriber crash: %d kills, %d messages published at QoS 1, %d stored, %d lost %s"
                  % (kills, n, len(stored), len(lost), lost[:20]), file=sys.stderr)
            self.assertEqual(len(witnessed), n)
            self.assertLessEqual(len(lost), kills)
            self.assertEqual(got, (n - len(lost)) * ARGS.crash_lines)
        finally:
            server.stop()
            broker.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--crash-kills", type=int, default=6)
    p.add_argument("--crash-lines", type=int, default=50)
    p.add_argument("--seed", type=int, default=int(time.time()))
    ARGS, rest = p.parse_known_args()
    os.makedirs(ARGS.work, exist_ok=True)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)

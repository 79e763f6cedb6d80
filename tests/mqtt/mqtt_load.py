#!/usr/bin/python3
"""Rough MQTT vs HTTP ingest comparison in Python (the figures in docs/benchmarks.md, "MQTT ingest",
are measured with bench/mqtt_load/compare.sh instead, whose C++ publisher is not the bottleneck): N processes each
publish QoS 1 messages of L lines over one MQTT 3.1.1 connection (100 in flight), or POST the
same bodies to /write?db=t over one keep-alive HTTP connection, for S seconds; prints points/s.
Not a ctest test.

  mqtt_load.py mqtt|http PORT N L S
"""
import http.client
import multiprocessing as mp
import socket
import struct
import sys
import time


def vi(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def mstr(s):
    s = s.encode()
    return struct.pack(">H", len(s)) + s


def body(c, i, lines):
    return "\n".join("bench,c=%d,k=%d v=%d,w=%d.5 %d" % (c, k, i, k, 1700000000000000000 + i * 1000 + k)
                     for k in range(lines)).encode()


def mqtt_worker(port, c, secs, lines, q):
    s = socket.create_connection(("127.0.0.1", port))
    cb = mstr("MQTT") + bytes([4, 2]) + struct.pack(">H", 60) + mstr("bench%d" % c)
    s.sendall(b"\x10" + vi(len(cb)) + cb)
    s.recv(4)  # CONNACK
    end = time.time() + secs
    acked = inflight = i = 0
    buf = b""
    while time.time() < end or inflight:
        while inflight < 100 and time.time() < end:
            i += 1
            b = mstr("t/b") + struct.pack(">H", (i % 65535) + 1) + body(c, i, lines)
            s.sendall(b"\x32" + vi(len(b)) + b)
            inflight += 1
        d = s.recv(65536)
        if not d:
            break
        buf += d
        n = len(buf) // 4  # PUBACKs are 4 bytes
        acked += n
        inflight -= n
        buf = buf[n * 4:]
    q.put(acked * lines)


def http_worker(port, c, secs, lines, q):
    h = http.client.HTTPConnection("127.0.0.1", port)
    end = time.time() + secs
    pts = i = 0
    while time.time() < end:
        i += 1
        h.request("POST", "/write?db=t", body(c + 100, i, lines))
        h.getresponse().read()
        pts += lines
    q.put(pts)


if __name__ == "__main__":
    kind, port, conns, lines, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(
        sys.argv[5])
    q = mp.Queue()
    f = mqtt_worker if kind == "mqtt" else http_worker
    ps = [mp.Process(target=f, args=(port, c, secs, lines, q)) for c in range(conns)]
    t = time.time()
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    el = time.time() - t
    print("%s: %d conns x %d lines/msg: %d points in %.2fs = %.0f points/s" % (kind, conns, lines, total, el,
                                                                              total / el))

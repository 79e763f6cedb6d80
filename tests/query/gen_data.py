#!/usr/bin/env python3
"""Generates data.lp, the deterministic data set of the differential test.

Run once; data.lp is checked in. Several measurements, tags (one series
without `region`), float/int/bool/string fields, a gap, irregular and
out-of-order timestamps, a duplicate point (last write wins), series keys
with every escape.
"""
import random

T0 = 1577836800 * 10**9  # 2020-01-01T00:00:00Z
S = 10**9
rnd = random.Random(42)
lines = []
hosts = [("h1", "us"), ("h2", "us"), ("h3", "eu"), ("h4", None)]
for host, region in hosts:
    tags = f"host={host}" + (f",region={region}" if region else "")
    for k in range(360):
        t = T0 + k * 10 * S
        if host == "h3" and 120 <= k < 180:
            continue  # a 10 minute gap
        user = round(rnd.uniform(0, 100), 3)
        system = round(rnd.uniform(0, 20), 2)
        load = rnd.randint(-5, 50)
        up = "true" if rnd.random() > 0.2 else "false"
        fields = f"usage_user={user},usage_system={system},load={load}i,up={up}"
        if k % 7 == 0:
            fields += f',status="s{k % 3}"'
        if host == "h2" and k % 5 == 0:
            fields = f"usage_user={user},load={load}i"  # sparse fields
        lines.append(f"cpu,{tags} {fields} {t}")
for host in ["h1", "h2"]:
    for k in range(120):
        t = T0 + k * 30 * S + rnd.randint(0, 29) * S
        used = rnd.randint(1000, 9000)
        lines.append(f"mem,host={host} used={used}i,free={10000 - used}i,pct={used / 100:.2f} {t}")
for host, path in [("h1", "/"), ("h1", "/var"), ("h2", "/")]:
    t = T0
    for k in range(80):
        t += rnd.randint(1, 90) * S
        lines.append(f"disk,host={host},path={path} used_pct={round(rnd.uniform(10, 95), 1)} {t}")
for k in range(30):
    lines.append(f'events,kind={"ab"[k % 2]} msg="event {k}",code={k * 3}i {T0 + k * 137 * S}')
lines.append(f"cpu,host=h1,region=us usage_user=42.5,usage_system=1.5,load=7i,up=true {T0 + 50 * S}")  # overwrite
lines.append(f"big v=1e20 {T0}")
lines.append(f"big v=1e21 {T0 + S}")
lines.append(f"big v=1e-7 {T0 + 2 * S}")
lines.append(f"big v=123456789012345678 {T0 + 3 * S}")
lines.append(f"big v=0.000001 {T0 + 4 * S}")
lines.append(f"big v=-0.5 {T0 + 5 * S}")
# Out of order: shuffle the tail of cpu lines and everything of disk.
head, tail = lines[:500], lines[500:]
rnd.shuffle(tail)
# Series keys with every escape (one series-key codec, issue 17): commas,
# spaces, equals signs and backslashes in measurement names, tag keys and tag
# values; 72 series in `esc` (past the 64 at which the executor splits an
# aggregate's series over two scans), a series without tags and one whose tags
# are a subset of another's. After the shuffle, so the lines above keep their
# order.
esc = []
for n in range(72):
    for k in range(2):
        esc.append(rf"esc,ho\ st=h\,{n},r\=g=r\\{n % 3},t\ag=x\ {n % 2} v={n + k}i {T0 + (n + k * 600) * S}")
for n, key in enumerate([r"esc,host=a\,b,dc=x\ y", r"esc,host=a\=b,dc=x", r"esc,host=a\\b,dc=x", r"esc,host=a\b,dc=z",
                         r"esc,host=c\ d", r"esc,host=c\ d,dc=w", "esc", r"esc\,m\ x,host=a", "esc=m,host=a",
                         r"esc\slash,t\ag=va\lue"]):
    esc.append(f"{key} v={n}i {T0 + n * S}")
# Around the 2020 European DST changes (2020-03-29 and 2020-10-25, 01:00 UTC),
# every 30 minutes, for tz(): day windows of 23 and 25 hours. Appended
# after the shuffle, so the lines above stay as they were.
dst = []
for start, days in [(1585267200, 6), (1603411200, 5)]:  # 2020-03-27, 2020-10-23
    for k in range(days * 48):
        t = (start + k * 1800) * S
        dst.append(f"dst,site={'ab'[k % 2]} v={(k * 7) % 23 + 0.5},n={k}i {t}")
with open("data.lp", "w") as f:
    f.write("\n".join(head + tail + esc + dst) + "\n")

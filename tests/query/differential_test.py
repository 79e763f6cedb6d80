#!/usr/bin/env python3
"""Differential test: the same InfluxQL against influxd 1.x and m2mdb.

Starts a throw-away influxd on 127.0.0.1 (spare ports, temp dir, reporting
disabled, only [http]), loads data.lp into it and into an embedded m2mdb
(query_driver), runs every query of the corpus against both and compares the
JSON answers parsed (floats with a relative tolerance of 1e-9).

The driver runs once per mode in MODES: with the points in the in-memory head,
and flushed to segment files with small blocks, so that the segment read
path and aggregates over block statistics (ScanRequest::summary_fields) are
compared with influxd too, and once more with the two-scan split of large
aggregates forced on.

Corpus lines: one query per line; blank lines and lines starting with '#'
are ignored. `SKIP(reason) query` lists a known difference (also listed in
docs/compatibility.md): it is run on m2mdb only (must not crash) and reported.
`UNORDERED query`: rows of each series are compared as multisets (functions
whose row order influxd leaves to Go's map iteration, e.g. distinct()).

Exit 0 when every compared query matches, 1 otherwise, 77 when influxd is
not installed (ctest SKIP_RETURN_CODE).
"""
import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

DB = "diff"

# (name, extra driver arguments). Blocks of 16 points put many block (and
# some window) boundaries inside the test data's series. "two-scans" makes
# aggregates over 64+ series split them over two scans as on a 4-CPU machine
# (the split reads the series' tags, e.g. the escaped keys of `esc`).
MODES = [
    ("head", ["--query-threads", "1"]),
    ("segments", ["--flush", "--block-points", "16", "--query-threads", "1"]),
    ("two-scans", ["--flush", "--block-points", "16", "--query-threads", "2"]),
    # Every series in two overlapping segments plus the head (issue 18):
    # the merge of sources and the summaries and first/last shortcuts that
    # must hold when blocks of several sources overlap.
    ("layers", ["--layers", "3", "--block-points", "16", "--query-threads", "1"]),
    # Raw rows handed over in columns, as the server asks for them.
    ("columnar", ["--flush", "--block-points", "16", "--query-threads", "1", "--columnar"]),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_influxd(tmp):
    http_port, bind_port = free_port(), free_port()
    conf = os.path.join(tmp, "influxd.conf")
    with open(conf, "w") as f:
        f.write(f"""reporting-disabled = true
bind-address = "127.0.0.1:{bind_port}"
[meta]
  dir = "{tmp}/meta"
[data]
  dir = "{tmp}/data"
  wal-dir = "{tmp}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
""")
    log = open(os.path.join(tmp, "influxd.log"), "w")
    proc = subprocess.Popen(["influxd", "-config", conf], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{http_port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/ping", timeout=1)
            return proc, base
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError("influxd exited; see " + log.name)
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("influxd did not start")


def influx_query(base, q):
    url = base + "/query?" + urllib.parse.urlencode({"db": DB, "q": q})
    req = urllib.request.Request(url, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def parse_corpus(path):
    entries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            skip, unordered = None, False
            if line.startswith("SKIP("):
                end = line.index(")")
                skip, line = line[5:end], line[end + 1:].strip()
            if line.startswith("UNORDERED "):
                unordered, line = True, line[len("UNORDERED "):].strip()
            entries.append((n, line, skip, unordered))
    return entries


def same(a, b, path=""):
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
                and not isinstance(b, bool):
            if a == b:
                return None
            if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                return None
        return f"{path}: {a!r} != {b!r}"
    if type(a) != type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            d = same(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = same(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def canonical_ties(doc):
    """Rows of equal time from different series come in an order influxd
    leaves to its merge heap; compare them as a set."""
    for r in doc.get("results", []):
        for s in r.get("series", []):
            rows, out, k = s.get("values", []), [], 0
            if not s.get("columns") or s["columns"][0] != "time":
                continue
            while k < len(rows):
                j = k
                while j < len(rows) and rows[j][0] == rows[k][0]:
                    j += 1
                out += sorted(rows[k:j], key=lambda row: json.dumps(row, sort_keys=True))
                k = j
            s["values"] = out
    return doc


def sort_rows(doc):
    for r in doc.get("results", []):
        for s in r.get("series", []):
            s["values"] = sorted(s.get("values", []), key=lambda row: json.dumps(row, sort_keys=True))
    return doc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if shutil.which("influxd") is None:
        print("influxd not installed: skipping")
        return 77
    entries = parse_corpus(args.corpus)
    with tempfile.TemporaryDirectory(prefix="m2mdb-diff-") as tmp:
        proc, base = start_influxd(tmp)
        try:
            influx_query(base, f"CREATE DATABASE {DB}")
            with open(args.data, "rb") as f:
                body = f.read()
            req = urllib.request.Request(base + f"/write?db={DB}", data=body, method="POST")
            urllib.request.urlopen(req, timeout=30).read()
            # m2mdb: every query in one driver run per mode.
            outs_by_mode, m2_elapsed = {}, 0.0
            for mode, extra in MODES:
                started = time.time()
                driver = subprocess.run(
                    [args.driver, "--data-dir", os.path.join(tmp, "m2mdb-" + mode), "--db", DB, "--load",
                     args.data] + extra,
                    input="\n".join(q for _, q, _, _ in entries) + "\n", capture_output=True, text=True,
                    timeout=100)
                m2_elapsed += time.time() - started
                outs = driver.stdout.splitlines()
                if driver.returncode != 0 or len(outs) != len(entries):
                    print(f"driver ({mode}) failed (rc {driver.returncode}, {len(outs)} of {len(entries)} answers)")
                    print(driver.stderr[-2000:])
                    return 1
                outs_by_mode[mode] = outs
            passed, failed, skipped = 0, [], []
            started = time.time()
            for k, (line, q, skip, unordered) in enumerate(entries):
                if skip is not None:
                    skipped.append((line, q, skip))
                    continue
                theirs = canonical_ties(influx_query(base, q))
                if unordered:
                    theirs = sort_rows(theirs)
                for mode, _ in MODES:
                    mine = canonical_ties(json.loads(outs_by_mode[mode][k]))
                    if unordered:
                        mine = sort_rows(mine)
                    d = same(theirs, mine, "")
                    if d is None:
                        passed += 1
                        if args.verbose:
                            print(f"ok   {line} ({mode}): {q}")
                    else:
                        failed.append((line, mode, q, d, theirs, mine))
            influx_elapsed = time.time() - started
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    for line, mode, q, d, theirs, mine in failed:
        print(f"FAIL corpus line {line} ({mode}): {q}\n  diff at {d}\n  influxd: {json.dumps(theirs)[:600]}\n"
              f"  m2mdb:   {json.dumps(mine)[:600]}")
    for line, q, reason in skipped:
        if args.verbose:
            print(f"skip {line}: {q} ({reason})")
    compared = len(entries) - len(skipped)
    print(f"{passed} passed, {len(failed)} failed of {compared} queries x {len(MODES)} modes "
          f"({', '.join(m for m, _ in MODES)}); {len(skipped)} skipped (known differences) of {len(entries)}; "
          f"m2mdb {m2_elapsed:.2f}s incl. loads, influxd {influx_elapsed:.2f}s")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())

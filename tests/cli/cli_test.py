#!/usr/bin/env python3
"""The m2mdb client subcommands as users run them: the real binary, driven
through argv, stdin, files and (for the interactive shell) a pseudo-terminal.

    cli_test.py --bin build/bin/m2mdb --work DIR [unittest args, e.g. RoundTrip]

Most tests use embedded mode (--data-dir). The Server class starts
`m2mdb serve` on a free port (--http 127.0.0.1:0, read back from its log).
Python 3 standard library only.
"""
import argparse
import fcntl
import gzip
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time
import tomllib
import unittest
import urllib.request
import zlib

ARGS = None
SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Abseil's code names, which a person should never have to read.
ABSL_CODE = re.compile(r"\b(CANCELLED|UNKNOWN|INVALID_ARGUMENT|DEADLINE_EXCEEDED|NOT_FOUND|ALREADY_EXISTS|"
                       r"PERMISSION_DENIED|RESOURCE_EXHAUSTED|FAILED_PRECONDITION|ABORTED|OUT_OF_RANGE|"
                       r"UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS|UNAUTHENTICATED):")

# Line protocol that exercises every field type and every escape. Names:
# spaces, commas and equals signs in the measurement, tag keys and values and
# field keys; unicode. Values: extreme ints and uints, bools, empty string,
# strings with quotes, backslashes, tabs and a newline; floats at the limits.
TRICKY_LP = (
    r'x,t\ 1=a\,b\=c,u=ü\ ✓ f=1e-300,g=1.7976931348623157e308,h=-0.0,i=-9223372036854775808i,'
    r'j=9223372036854775807i,k=18446744073709551615u,l=false,m="",n="tab\there ✓ \"q\" \\ end\\" 1' '\n'
    r'x,t\ 1=a\,b\=c,u=ü\ ✓ f=5e-324,g=-1.7976931348623157e308,h=0.1,z=4.9406564584124654e-324,l=T'
    r' -9223372036854775806' '\n'
    r'm\,e\ a\=s,k\=ey=v\"q f\=1\ x="line1' '\n'
    r'line2\\",g=2 1700000000000000000' '\n'
    'y,host=a v=1.5,w=-12i 1700000000000000000\n'
    'y,host=a v=2.5 1700000001000000000\n'
    'y,host=b w=7i 1700000000000000000\n'
)

# What `export` writes for TRICKY_LP: series sorted by key, fields by name,
# floats in the shortest form that reads back identically, "i"/"u" suffixes,
# nanosecond timestamps, escaping as InfluxDB.
TRICKY_EXPORT = (
    r'm\,e\ a=s,k\=ey=v\"q f\=1\ x="line1' '\n'
    r'line2\\",g=2 1700000000000000000' '\n'
    r'x,t\ 1=a\,b\=c,u=ü\ ✓ f=5e-324,g=-1.7976931348623157e+308,h=0.1,l=true,z=5e-324 -9223372036854775806' '\n'
    r'x,t\ 1=a\,b\=c,u=ü\ ✓ f=1e-300,g=1.7976931348623157e+308,h=-0,i=-9223372036854775808i,'
    r'j=9223372036854775807i,k=18446744073709551615u,l=false,m="",n="tab\\there ✓ \"q\" \\ end\\" 1' '\n'
    'y,host=a v=1.5,w=-12i 1700000000000000000\n'
    'y,host=a v=2.5 1700000001000000000\n'
    'y,host=b w=7i 1700000000000000000\n'
)


def run(*args, stdin=None, env=None, timeout=30):
    """Runs the binary; returns CompletedProcess with text stdout/stderr."""
    e = dict(os.environ)
    e.setdefault("HOME", ARGS.work)
    if env:
        e.update(env)
    if isinstance(stdin, str):
        stdin = stdin.encode()
    # Bytes, decoded here: text mode would turn the "\r\n" inside exported
    # strings into "\n".
    r = subprocess.run([ARGS.bin] + [str(a) for a in args], input=stdin, capture_output=True,
                       env=e, timeout=timeout)
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = os.path.join(ARGS.work, type(self).__name__, self._testMethodName)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data, mode="w"):
        p = self.path(name)
        with open(p, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            f.write(data)
        return p

    def check(self, r, rc=0):
        self.assertEqual(r.returncode, rc, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def import_(self, data_dir, lp, *extra, rc=0, db="t"):
        p = self.write("in.lp", lp)
        return self.check(run("import", p, "--data-dir", data_dir, "--db", db, "--create-db", *extra), rc)

    def export(self, data_dir, *extra, db="t"):
        return self.check(run("export", "--data-dir", data_dir, "--db", db, "-q", *extra)).stdout


class Help(Base):
    def test_every_subcommand_has_help(self):
        for cmd in ["query", "shell", "import", "export", "check", "serve", "version"]:
            r = self.check(run(cmd, "--help"))
            self.assertIn("Usage", r.stdout + r.stderr, cmd)
            self.assertIn("--help", r.stdout, cmd)
        r = self.check(run("--help"))
        for cmd in ["query", "shell", "import", "export", "check"]:
            self.assertIn(cmd, r.stdout)

    def test_bad_usage_is_an_error_on_stderr(self):
        r = run("import")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("file", r.stderr)
        r = run("query", "SHOW DATABASES", "--format", "xml")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("xml", r.stderr)
        r = run("export", "--data-dir", self.path("d"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--db", r.stderr)


class Import(Base):
    def test_rejected_lines_are_numbered_in_the_input_file_across_batches(self):
        lp = ("# header comment\r\n"
              "m,host=a v=1 1\r\n"
              "bad line\r\n"
              "\r\n"
              'm,host=a s="two\r\nlines" 2\r\n'   # a string with a newline: one record, lines 5-6
              "m,host=a v=oops 3\r\n"             # line 7
              "   # indented comment\n"
              "m,host=a v=2 4\n"
              "m,host=a v=\"x\" 5\n")             # line 10: type conflict (v is a float)
        d = self.path("d")
        for batch in ["1", "2", "3", "5000"]:
            shutil.rmtree(d, ignore_errors=True)
            r = self.import_(d, lp, "--batch-size", batch, rc=1)
            self.assertIn("3 lines written, 3 rejected", r.stdout, batch)
            lines = re.findall(r"^line (\d+): (.*)$", r.stderr, re.M)
            self.assertEqual([int(n) for n, _ in lines], [3, 7, 10], r.stderr)
            self.assertIn("bad line", lines[0][1])
            self.assertIn("conflict", lines[2][1])
            # The string kept its CRLF newline: it was not split across batches.
            out = self.export(d)
            self.assertIn('m,host=a s="two\r\nlines" 2\n', out, batch)
            self.assertIn("m,host=a v=1 1\n", out)
            self.assertIn("m,host=a v=2 4\n", out)

    def test_max_errors_limits_the_list(self):
        lp = "".join(f"bad{i}\n" for i in range(30)) + "m v=1 1\n"
        r = self.import_(self.path("d"), lp, "--max-errors", "5", rc=1)
        self.assertEqual(len(re.findall(r"^line \d+:", r.stderr, re.M)), 5)
        self.assertIn("25 more", r.stderr)
        self.assertIn("1 line written, 30 rejected", r.stdout)

    def test_large_gzip_and_plain_files_give_the_same_data(self):
        # > 1 MiB so records straddle read buffers; multi-line strings and
        # escaped spaces sprinkled through.
        parts = []
        for i in range(40000):
            if i % 97 == 0:
                parts.append(f'big,k=v\\ {i % 7} s="row {i}\nsecond \\"line\\"" {i}\n')
            else:
                parts.append(f"big,k=v\\ {i % 7} a={i * 0.25},b={i}i {i}\n")
        lp = "".join(parts)
        self.assertGreater(len(lp), 1 << 20)
        plain = self.write("big.lp", lp)
        gz = self.path("big.lp.gz")
        with open(gz, "wb") as f:
            # Two gzip members back to back, as `cat a.gz b.gz` makes.
            half = len(parts) // 2
            f.write(gzip.compress("".join(parts[:half]).encode()))
            f.write(gzip.compress("".join(parts[half:]).encode()))
        a, b = self.path("a"), self.path("b")
        r = self.check(run("import", plain, "--data-dir", a, "--db", "t", "--create-db"))
        self.assertIn("40,000 lines written, 0 rejected", r.stdout)
        r = self.check(run("import", gz, "--data-dir", b, "--db", "t", "--create-db", "--batch-size", "777"))
        self.assertIn("40,000 lines written, 0 rejected", r.stdout)
        self.assertIn("gzip", r.stdout)
        ea, eb = self.export(a), self.export(b)
        self.assertEqual(ea, eb)
        self.assertEqual(ea.count("\n"), 40000 + 40000 // 97 + 1)

    def test_stdin(self):
        r = run("import", "-", "--data-dir", self.path("d"), "--db", "t", "--create-db", stdin="m v=1 1\nm v=2 2\n")
        self.check(r)
        self.assertIn("stdin: 2 lines written", r.stdout)

    def test_precision(self):
        self.import_(self.path("d"), "m v=1 1700000000\n", "--precision", "s")
        self.assertEqual(self.export(self.path("d")), "m v=1 1700000000000000000\n")

    def test_fatal_errors_exit_2(self):
        d = self.path("d")
        r = run("import", self.path("missing.lp"), "--data-dir", d, "--db", "t")
        self.check(r, 2)
        self.assertIn("missing.lp", r.stderr)
        p = self.write("in.lp", "m v=1 1\n")
        r = self.check(run("import", p, "--data-dir", d, "--db", "nodb"), 2)
        self.assertIn("--create-db", r.stderr)
        r = self.check(run("import", p, "--data-dir", d, "--db", "t", "--precision", "xs"), 2)
        self.assertIn("precision", r.stderr)
        z = gzip.compress("".join(f"m v={i * 0.1} {i}\n" for i in range(5000)).encode())
        bad_gz = self.write("bad.gz", z[:len(z) // 2], "wb")
        r = self.check(run("import", bad_gz, "--data-dir", d, "--db", "t", "--create-db"), 2)
        self.assertIn("gzip", r.stderr)

    def test_truncated_gzip_keeps_every_complete_line_and_says_where_it_stopped(self):
        lines = [f"m,k=v{i % 3} v={i * 0.1},n={i}i {1700000000000000000 + i}\n" for i in range(20000)]
        z = gzip.compress("".join(lines).encode())
        cut = z[:len(z) * 2 // 3]
        # What the cut file still holds: its complete lines (zlib reads it as far as it goes).
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        held = d.decompress(cut).decode()
        complete = held.count("\n")
        self.assertGreater(complete, 1000)
        self.assertLess(complete, len(lines))
        for batch in ["100", "5000"]:
            data = self.path(f"d{batch}")
            r = self.check(run("import", self.write("cut.gz", cut, "wb"), "--data-dir", data, "--db", "t",
                               "--create-db", "--batch-size", batch), 2)
            self.assertIn("truncated gzip", r.stderr)
            self.assertIn(f"stopped at input line {complete + 1} ", r.stderr)
            self.assertIn(f"{complete:,} lines written, 0 rejected", r.stdout)
            out = self.export(data)
            self.assertEqual(out.count("\n"), complete, batch)
            self.assertTrue(f" n={complete - 1}i," in out, "the last complete line is missing")
            self.assertFalse(f" n={complete}i," in out, "the cut line was written")

    def test_summary_counts_lines(self):
        r = self.import_(self.path("d"), "m v=1 1\n")
        self.assertIn("1 line written, 0 rejected", r.stdout)
        r = self.import_(self.path("d"), "m,t=a v=1,w=2,x=3 1\nm v=2 2\nm v=3 3\n")
        self.assertIn("3 lines written, 0 rejected", r.stdout)

    def test_progress_follows_lines_and_uncompressed_bytes(self):
        """On a terminal: each progress frame's percentage matches its line count, with rates and ETA."""
        n = 400000
        lp = "".join(f"p,host=h{i % 10} v={i % 1000}i {i}\n" for i in range(n)).encode()
        gz = self.write("p.lp.gz", gzip.compress(lp, 1), "wb")
        try:
            master, slave = pty.openpty()
        except OSError as e:
            self.skipTest("no pseudo-terminal available: %s" % e)
        p = subprocess.Popen([ARGS.bin, "import", gz, "--data-dir", self.path("d"), "--db", "t", "--create-db",
                              "--batch-size", "2000"], stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        err = b""
        while True:
            r, _, _ = select.select([master], [], [], 30)
            if not r:
                break
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            err += data
        out = p.communicate(timeout=60)[0].decode()
        os.close(master)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn(f"{n:,} lines written, 0 rejected", out)
        self.assertRegex(out, rf"\({len(lp) / 1e6:.1f} MB from [0-9.]+ MB gzip, [0-9,]+ lines/s\)")
        frames = re.findall(r"\r\s*([0-9,]+) lines\s+([0-9.]+) MB\s+[0-9.]+ MB/s\s+[0-9,]+ lines/s\s+([0-9.]+)%"
                            r"\s+ETA \d+:\d\d", err.decode())
        self.assertTrue(frames, err[:500])
        for lines, mb, pct in frames:
            lines = int(lines.replace(",", ""))
            self.assertGreater(lines, 0, frames)
            # Lines and uncompressed bytes go together, and the percentage follows them
            # (not the compressed bytes read ahead).
            self.assertAlmostEqual(float(mb), lines * len(lp) / n / 1e6, delta=0.2)
            self.assertAlmostEqual(float(pct), 100 * lines / n, delta=8, msg=frames)


class RoundTrip(Base):
    def test_export_import_reproduces_every_type_and_escape(self):
        a, b = self.path("a"), self.path("b")
        self.import_(a, TRICKY_LP)
        out = self.export(a)
        self.assertEqual(out, TRICKY_EXPORT)
        # And back: the export imports to the same data, exported identically.
        p = self.write("export.lp", out)
        self.check(run("import", p, "--data-dir", b, "--db", "t", "--create-db"))
        self.assertEqual(self.export(b), TRICKY_EXPORT)
        # To a file with --out, same bytes.
        self.check(run("export", "--data-dir", a, "--db", "t", "--out", self.path("o.lp")))
        with open(self.path("o.lp"), encoding="utf-8", newline="") as f:
            self.assertEqual(f.read(), TRICKY_EXPORT)

    def test_measurement_and_time_filters(self):
        a = self.path("a")
        self.import_(a, TRICKY_LP)
        self.assertEqual(self.export(a, "--measurement", "y"),
                         "y,host=a v=1.5,w=-12i 1700000000000000000\n"
                         "y,host=a v=2.5 1700000001000000000\n"
                         "y,host=b w=7i 1700000000000000000\n")
        self.assertEqual(self.export(a, "-m", "y", "--start", "2023-11-14T22:13:20.5Z"),
                         "y,host=a v=2.5 1700000001000000000\n")
        self.assertEqual(self.export(a, "-m", "y", "-m", "x", "--end", "1700000000000000000", "--start", "0"),
                         "y,host=a v=1.5,w=-12i 1700000000000000000\n"
                         "y,host=b w=7i 1700000000000000000\n"
                         + TRICKY_EXPORT.splitlines(True)[3])
        r = run("export", "--data-dir", a, "--db", "t", "--start", "yesterday")
        self.check(r, 2)
        self.assertIn("RFC3339", r.stderr)

    def test_csv(self):
        a = self.path("a")
        self.import_(a, TRICKY_LP)
        out = self.export(a, "--format", "csv", "-m", "y", "-m", "m,e a=s")
        self.assertEqual(out,
                         "name,time,host,v,w\n"
                         "y,1700000000000000000,a,1.5,-12\n"
                         "y,1700000001000000000,a,2.5,\n"
                         "y,1700000000000000000,b,,7\n"
                         'name,time,k=ey,f=1 x,g\n'
                         '"m,e a=s",1700000000000000000,"v\\""q","line1\nline2\\",2\n')

    def test_missing_database_or_directory(self):
        r = run("export", "--data-dir", self.path("nothing"), "--db", "t")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no data directory", r.stderr)
        self.import_(self.path("a"), "m v=1 1\n")
        r = run("export", "--data-dir", self.path("a"), "--db", "other")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("other", r.stderr)


class Query(Base):
    def setUp(self):
        super().setUp()
        self.d = self.path("d")
        self.import_(self.d, "cpu,host=a v=1.5,n=3i 1700000000000000000\n"
                             "cpu,host=b v=2.5,n=4i 1700000060000000000\n")

    def test_formats_and_precision(self):
        r = self.check(run("query", "--data-dir", self.d, "--db", "t", "SELECT v, n FROM cpu"))
        self.assertEqual(r.stdout.splitlines(), [
            "name: cpu",
            "time                 v   n",
            "----                 -   -",
            "2023-11-14T22:13:20Z 1.5 3",
            "2023-11-14T22:14:20Z 2.5 4",
        ])
        r = self.check(run("query", "--data-dir", self.d, "--db", "t", "--format", "csv", "--precision", "s",
                           "SELECT v FROM cpu"))
        self.assertEqual(r.stdout, "name,time,v\ncpu,1700000000,1.5\ncpu,1700000060,2.5\n")
        r = self.check(run("query", "--data-dir", self.d, "-d", "t", "--format", "json", "--epoch", "ms",
                           "SELECT v FROM cpu WHERE host = 'b'"))
        self.assertEqual(json.loads(r.stdout), {"results": [{"statement_id": 0, "series": [
            {"name": "cpu", "columns": ["time", "v"], "values": [[1700000060000, 2.5]]}]}]})
        r = self.check(run("query", "--data-dir", self.d, "--format", "json", "--pretty", "SHOW DATABASES"))
        self.assertIn("\n", r.stdout.strip())
        self.assertEqual(json.loads(r.stdout)["results"][0]["series"][0]["values"], [["t"]])

    def test_statement_errors_exit_1_on_stderr(self):
        r = self.check(run("query", "--data-dir", self.d, "--db", "t", "SHOW DATABASES; SELEC"), 1)
        self.assertIn("ERR:", r.stderr)
        self.assertNotIn("ERR", r.stdout)
        r = run("query", "--data-dir", self.d, "SHOW DATABASES; SELECT v FROM nosuchdb..cpu; SHOW DATABASES")
        # The statement on a missing database fails; as in InfluxDB, the ones
        # before it have run and the ones after it do not.
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ERR: database not found: nosuchdb", r.stderr)
        self.assertEqual(r.stdout.count("name: databases"), 1)

    def test_missing_directory(self):
        r = self.check(run("query", "--data-dir", self.path("none"), "SHOW DATABASES"), 2)
        self.assertIn("no data directory", r.stderr)


class Shell(Base):
    """The shell with stdin that is not a terminal: a script."""

    def setUp(self):
        super().setUp()
        self.d = self.path("d")
        self.import_(self.d, "cpu,host=a v=1.5 1700000000000000000\ncpu,host=b v=2.5 1700000060000000000\n")

    def shell(self, script, *extra):
        return run("shell", "--data-dir", self.d, *extra, stdin=script)

    def test_script_with_multi_line_statements_and_commands(self):
        r = self.check(self.shell("HELP\n"
                                  "USE t\n"
                                  "SELECT v\n"
                                  "  FROM cpu\n"
                                  "  WHERE host = 'a;b' OR host = 'b';\n"
                                  "FORMAT csv\n"
                                  "PRECISION s\n"
                                  "SELECT v FROM cpu; SHOW DATABASES;\n"
                                  "SELECT count(v) FROM cpu\n"))  # the last one needs no ';'
        out = r.stdout
        self.assertIn("USE <db>", out)  # HELP
        self.assertIn("name: cpu\ntime                 v\n----                 -\n2023-11-14T22:14:20Z 2.5\n", out)
        self.assertIn("name,time,v\ncpu,1700000000,1.5\ncpu,1700000060,2.5\n", out)
        self.assertIn("name,name\ndatabases,t\n", out)
        self.assertIn("name,time,count\ncpu,0,2\n", out)
        self.assertNotIn("m2mdb>", out)  # no prompts when not a terminal
        self.assertEqual(r.stderr, "")

    def test_errors_exit_1_and_exit_stops(self):
        r = self.shell("SHOW DATABASES;\nSELEC x;\nFORMAT xml\nEXIT\nSHOW DATABASES;\n")
        self.check(r, 1)
        self.assertEqual(r.stdout.count("name: databases"), 1)
        self.assertEqual(r.stderr.count("ERR:"), 2)

    def test_json_format_and_db_flag(self):
        r = self.check(self.shell("SELECT v FROM cpu WHERE host = 'a';\n", "--db", "t", "--format", "json",
                                  "--precision", "ns"))
        self.assertEqual(json.loads(r.stdout)["results"][0]["series"][0]["values"], [[1700000000000000000, 1.5]])


class ShellPty(Base):
    """An interactive session on a pseudo-terminal: prompt, line editing, history."""

    def setUp(self):
        super().setUp()
        self.d = self.path("d")
        self.import_(self.d, "cpu,host=a v=1.5 1700000000000000000\n")

    def expect(self, fd, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    break
                self.transcript += data.decode("utf-8", "replace")
                self.buf += data.decode("utf-8", "replace")
        self.fail(f"did not see {pattern!r}; transcript:\n{self.transcript}")

    def test_interactive_session(self):
        home = self.path("home")
        os.makedirs(home)
        env = dict(os.environ, HOME=home, TERM="xterm")
        try:
            master, slave = pty.openpty()
        except OSError as e:  # e.g. a chroot without /dev/pts
            self.skipTest("no pseudo-terminal available: %s" % e)
        p = subprocess.Popen([ARGS.bin, "shell", "--data-dir", self.d], stdin=slave, stdout=slave, stderr=slave,
                             env=env, start_new_session=True)
        os.close(slave)
        self.buf, self.transcript = "", ""
        try:
            self.expect(master, r"embedded mode")
            self.expect(master, r"m2mdb> ")
            # Line editing: type the statement without its first letter,
            # go to the start of the line with Ctrl-A and insert it.
            os.write(master, b"HOW DATABASES;\x01S\r")
            self.expect(master, r"name: databases")
            self.expect(master, r"\(1 row, [0-9.]+ ms\)")
            self.expect(master, r"m2mdb> ")
            # A statement over two lines: the continuation prompt.
            os.write(master, b"USE t\r")
            self.expect(master, r"Using database t")
            self.expect(master, r"m2mdb:t> ")
            os.write(master, b"SELECT v\r")
            self.expect(master, r"    -> ")
            os.write(master, b"FROM cpu;\r")
            self.expect(master, r"2023-11-14T22:13:20Z 1\.5")
            self.expect(master, r"\(1 row, [0-9.]+ ms\)")
            self.expect(master, r"m2mdb:t> ")
            # History: Up twice recalls "USE t"... once recalls the SELECT.
            os.write(master, b"\x1b[A\r")
            self.expect(master, r"2023-11-14T22:13:20Z 1\.5")
            self.expect(master, r"m2mdb:t> ")
            # Ctrl-D on an empty line leaves. libedit switches the terminal
            # to raw mode only after printing the prompt: a ^D that arrives
            # before is the tty's canonical EOF and may reach libedit as a
            # stray byte on the line. So: Ctrl-U (clear the line), Ctrl-D,
            # repeated until the shell is gone, reading what it prints.
            time.sleep(0.2)
            deadline = time.time() + 10
            while p.poll() is None and time.time() < deadline:
                try:
                    os.write(master, b"\x15\x04")
                except OSError:
                    break
                end = time.time() + 0.5
                while p.poll() is None and time.time() < end:
                    if select.select([master], [], [], 0.05)[0]:
                        try:
                            os.read(master, 4096)
                        except OSError:
                            break
            self.assertEqual(p.wait(timeout=5), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
        with open(os.path.join(home, ".m2mdb_history"), encoding="utf-8", errors="replace") as f:
            hist = f.read()
        self.assertIn("DATABASES", hist)
        self.assertIn("FROM", hist)


class Check(Base):
    def test_damaged_segment_is_reported(self):
        d = self.path("d")
        lp = "".join(f"cpu,host=h{i % 5} v={i * 0.37},n={i}i {1700000000000000000 + i * 1000000000}\n"
                     for i in range(2000))
        self.import_(d, lp)  # import closes the directory, which flushes the head to segments
        r = self.check(run("check", "--data-dir", d))
        self.assertRegex(r.stdout, r"checked [1-9]\d* segments .*: 0 damaged")
        segs = sorted(f for f in os.listdir(os.path.join(d, "segments")) if f.endswith(".seg"))
        self.assertTrue(segs)
        seg = os.path.join(d, "segments", segs[0])
        with open(seg, "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 3] ^= 0xFF  # inside the blocks, away from header and footer
            f.seek(0)
            f.write(data)
        r = self.check(run("check", "--data-dir", d), 1)
        self.assertRegex(r.stdout, r"DAMAGED .*" + re.escape(segs[0]))
        self.assertIn("1 damaged", r.stdout)

    @staticmethod
    def tree(d):
        """Every file and directory under d: path -> (mode, sha256 of the bytes)."""
        import hashlib
        out = {}
        for root, dirs, files in os.walk(d):
            for name in dirs + files:
                p = os.path.join(root, name)
                st = os.lstat(p)
                h = ""
                if os.path.isfile(p):
                    with open(p, "rb") as f:
                        h = hashlib.sha256(f.read()).hexdigest()
                out[os.path.relpath(p, d)] = (st.st_mode, h)
        return out

    def damaged_dir(self):
        """A directory with two segments of cpu and mem; the first block (cpu,host=h0) of the
        segment holding 2000 points is damaged. Returns (dir, damaged segment name)."""
        d = self.path("d")
        lp = "".join(f"cpu,host=h{i % 5} v={i * 0.37},n={i}i {1700000000000000000 + i * 1000000000}\n"
                     for i in range(2000))
        self.import_(d, lp)
        segs = sorted(f for f in os.listdir(os.path.join(d, "segments")) if f.endswith(".seg"))
        self.assertEqual(1, len(segs))
        self.import_(d, "mem,host=x v=1 1700000000000000000\n")
        seg = os.path.join(d, "segments", segs[0])
        with open(seg, "r+b") as f:
            f.seek(9 + 20)  # inside block 0 (blocks start after the 9-byte header)
            b = f.read(1)
            f.seek(9 + 20)
            f.write(bytes([b[0] ^ 0xFF]))
        return d, segs[0]

    def test_check_is_read_only_even_with_a_wal_to_replay_and_a_torn_tail(self):
        d, seg = self.damaged_dir()
        # A torn WAL tail, which any writable open would cut (and a WAL
        # replay would be flushed into a new segment at close).
        wal = os.path.join(d, "wal")
        names = os.listdir(wal)
        self.assertTrue(names)
        for name in names:
            with open(os.path.join(wal, name), "ab") as f:
                f.write(b"torn tail")
        before = self.tree(d)
        r = self.check(run("check", "--data-dir", d), 1)
        self.assertIn("DAMAGED", r.stdout)
        self.assertEqual(before, self.tree(d))

    def test_repair_quarantines_and_salvages_and_export_skips_damaged_blocks(self):
        d, seg = self.damaged_dir()
        # export before the repair: every intact point, a warning and status 3.
        out = self.path("before.lp")
        r = run("export", "--data-dir", d, "--db", "t", "-q", "--out", out)
        self.assertEqual(3, r.returncode, r.stderr)
        self.assertIn("skipped 1 damaged segment blocks", r.stderr)
        with open(out) as f:
            exported = f.read().splitlines()
        # Block 0 is h0's v column (series and fields in order of creation):
        # h0's lines keep n and lose v; everything else is whole.
        self.assertEqual(1 + 2000, len(exported))
        h0 = [l for l in exported if l.startswith("cpu,host=h0 ")]
        self.assertEqual(400, len(h0))
        self.assertFalse(any("v=" in l for l in h0), h0[:3])
        self.assertTrue(all("v=" in l for l in exported if l.startswith("cpu,host=h1 ")))

        r = self.check(run("check", "--repair", "--data-dir", d))
        self.assertIn("DAMAGED " + seg, r.stdout)
        self.assertRegex(r.stdout, r"LOST t cpu,host=h0 v: 400 points")
        self.assertRegex(r.stdout, r"points kept, 400 points lost")
        self.assertTrue(os.path.exists(os.path.join(d, "quarantine", seg)))
        self.assertFalse(os.path.exists(os.path.join(d, "segments", seg)))
        r = self.check(run("check", "--data-dir", d))
        self.assertIn("0 damaged", r.stdout)
        self.assertEqual(exported, self.export(d).splitlines())


class ServerMixin:
    """Starts `m2mdb serve` on a free port for the test; stopped at cleanup."""

    def start_server(self, data_dir, *extra, env=None):
        log = open(self.path("serve.log"), "w")
        p = subprocess.Popen([ARGS.bin, "serve", "--data-dir", data_dir, "--http", "127.0.0.1:0",
                              "--create-db", "t", *extra], stdout=log, stderr=subprocess.STDOUT,
                             env=dict(os.environ, **(env or {})))
        self.addCleanup(self.stop_server, p, log)
        deadline = time.time() + 20
        while time.time() < deadline:
            with open(self.path("serve.log")) as f:
                m = re.search(r"listening on (https?)://[^ ]*:(\d+) ", f.read())
            if m:
                return f"{m.group(1)}://127.0.0.1:{m.group(2)}"
            if p.poll() is not None:
                break
            time.sleep(0.05)
        with open(self.path("serve.log")) as f:
            self.fail("server did not start:\n" + f.read())

    def stop_server(self, p, log):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


class Server(ServerMixin, Base):
    """query / import / export against `m2mdb serve`, and the lock message."""

    def test_embedded_mode_says_a_server_holds_the_directory(self):
        d = self.path("d")
        self.start_server(d)
        for cmd in [["query", "--data-dir", d, "SHOW DATABASES"], ["shell", "--data-dir", d],
                    ["export", "--data-dir", d, "--db", "t"]]:
            r = run(*cmd, stdin="")
            self.assertNotEqual(r.returncode, 0, cmd)
            self.assertIn("in use", r.stderr)
            self.assertIn("server", r.stderr)

    def show_databases(self, url, *extra):
        return run("query", "--host", url, *extra, "SHOW DATABASES", "--format", "json")

    def test_tokens_and_tls(self):
        d = self.path("d")
        self.import_(d, "m v=1 1\n")
        tok = subprocess.run([ARGS.bin, "token", "create", "--data-dir", d, "--read", "--write"],
                             capture_output=True, text=True)
        self.assertEqual(tok.returncode, 0, tok.stderr)
        token = tok.stdout.strip()
        cert, key = self.path("cert.pem"), self.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        url = self.start_server(d, "--tls-cert", cert, "--tls-key", key)
        self.assertTrue(url.startswith("https://"), url)
        self.check(self.show_databases(url, "--insecure", "--token", token))
        # An unknown CA is refused, with a hint.
        r = run("query", "--host", url, "--token", token, "SHOW DATABASES")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--cacert", r.stderr)
        # No token: the server's 401 on stderr.
        r = run("query", "--host", url, "--cacert", cert, "SHOW DATABASES", env={"M2MDB_TOKEN": ""})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ERR:", r.stderr)
        r = self.check(run("query", "--host", url, "--cacert", cert, "--token", token, "--db", "t",
                           "--format", "csv", "--precision", "ns", "SELECT v FROM m"))
        self.assertEqual(r.stdout, "name,time,v\nm,1,1\n")
        # The token from the environment; import and export over https.
        env = {"M2MDB_TOKEN": token}
        self.check(run("import", self.write("b.lp", "m v=2 2\n"), "--host", url, "--insecure", "--db", "t",
                       env=env))
        r = self.check(run("export", "--host", url, "--insecure", "--db", "t", "-q", env=env))
        self.assertEqual(r.stdout, "m v=1 1\nm v=2 2\n")
        r = self.check(run("import", self.write("c.lp", "m v=3 3\n"), "--host", url, "--insecure", "--db", "t"), 2)
        self.assertIn("HTTP 401", r.stderr)

    def test_import_query_export_over_http(self):
        d = self.path("d")
        url = self.start_server(d)
        self.check(self.show_databases(url))
        p = self.write("in.lp", TRICKY_LP + "bad line\n")
        r = self.check(run("import", p, "--host", url, "--db", "t", "--batch-size", "2"), 1)
        self.assertIn("6 lines written, 1 rejected", r.stdout)
        self.assertRegex(r.stderr, r"(?m)^line 8: .*bad line")
        r = self.check(run("query", "--host", url, "--db", "t", "--format", "csv", "--precision", "ns",
                           "SELECT v, w FROM y WHERE host = 'a'"))
        self.assertEqual(r.stdout, "name,time,v,w\ny,1700000000000000000,1.5,-12\ny,1700000001000000000,2.5,\n")
        r = self.check(run("query", "--host", url, "--db", "t", "SELECT * FROM nosuch; SELEC"), 1)
        self.assertIn("ERR:", r.stderr)
        # Exported over HTTP: the same bytes as from the data directory.
        r = self.check(run("export", "--host", url, "--db", "t", "-q"))
        self.assertEqual(r.stdout, TRICKY_EXPORT)
        r = self.check(run("shell", "--host", url, "--db", "t", stdin="FORMAT csv\nSELECT w FROM y;\n"))
        self.assertIn("name,time,w\ny,2023-11-14T22:13:20Z,-12\ny,2023-11-14T22:13:20Z,7\n", r.stdout)
        # More rejected lines than the server lists (100): still counted exactly.
        many = ("".join(f"bad{i}\n" for i in range(300)) + "".join(f"c v={i} {i}\n" for i in range(10))
                + 'c v="s" 99\n' + "".join(f"c v={i}i {i + 1000}\n" for i in range(150)))
        r = self.check(run("import", self.write("many.lp", many), "--host", url, "--db", "t"), 1)
        self.assertIn("10 lines written, 451 rejected", r.stdout)
        # Missing database: fatal.
        r = self.check(run("import", p, "--host", url, "--db", "nodb"), 2)
        self.assertIn("nodb", r.stderr)
        r = self.check(run("import", p, "--host", url, "--db", "newdb", "--create-db", "-q"), 1)
        # No server there: a clear message.
        r = run("query", "--host", "http://127.0.0.1:1", "SHOW DATABASES")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is the server running", r.stderr)


class Conventions(Base):
    """Version, usage, exit codes (0 ok, 1 statement or data failure, 2 usage, connection or environment),
    messages in words, and quiet commands."""

    VERSION = re.compile(r"^m2mdb \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,40}(-dirty)?|unknown)\)\n$")

    def assert_words(self, r):
        self.assertIsNone(ABSL_CODE.search(r.stdout + r.stderr), r.stdout + r.stderr)

    def test_version_flags_print_the_version_and_commit(self):
        for args in (["--version"], ["-V"], ["version"], ["query", "--version"]):
            r = self.check(run(*args))
            self.assertRegex(r.stdout, self.VERSION, args)
        if os.path.isdir(os.path.join(SOURCE_DIR, ".git")) or os.path.isfile(os.path.join(SOURCE_DIR, ".git")):
            head = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "HEAD"], capture_output=True, text=True)
            if head.returncode == 0:
                commit = self.VERSION.match(run("-V").stdout).group(1).replace("-dirty", "")
                # The binary may be older than HEAD (a commit since the build), never unrelated to it.
                self.assertTrue(commit != "unknown" and len(commit) >= 7, commit)

    def test_bare_call_prints_usage_and_exits_2(self):
        r = self.check(run(), 2)
        self.assertIn("Usage: m2mdb", r.stderr)
        for cmd in ["serve", "query", "shell", "import", "export", "check", "token"]:
            self.assertIn(cmd, r.stderr)
        r = self.check(run("-v"), 2)
        self.assertIn("command is required", r.stderr)

    def test_unknown_flags_and_commands_exit_2_naming_them(self):
        for args, name in [(["--bogus"], "--bogus"), (["query", "--bogus", "SHOW DATABASES"], "--bogus"),
                           (["serve", "--htp", "x"], "--htp"), (["nosuchcommand"], "nosuchcommand"),
                           (["import"], "file"), (["check", "--data-dir"], "--data-dir")]:
            r = self.check(run(*args), 2)
            self.assertIn(name, r.stderr, args)

    def test_help_exits_0(self):
        self.check(run("--help"))
        self.check(run("serve", "--help"))

    def test_unreachable_server_exits_2_saying_what_failed(self):
        down = "http://127.0.0.1:1"
        want = "cannot connect to 127.0.0.1:1: connection refused"
        r = self.check(run("query", "--host", down, "SHOW DATABASES"), 2)
        self.assertIn(want, r.stderr)
        # The shell checks at start: one message, no prompt for statements that cannot run.
        r = self.check(run("shell", "--host", down, stdin="SHOW DATABASES;\nSHOW DATABASES;\n"), 2)
        self.assertIn(want, r.stderr)
        self.assertNotIn("ERR:", r.stderr)
        r = self.check(run("export", "--host", down, "--db", "t"), 2)
        self.assertIn(want, r.stderr)
        r = self.check(run("import", self.write("a.lp", "m v=1 1\n"), "--host", down, "--db", "t"), 2)
        self.assertIn(want, r.stderr)
        r = self.check(run("query", "--host", "http://no-such-host.invalid:8086", "SHOW DATABASES"), 2)
        self.assertIn("cannot resolve host name no-such-host.invalid", r.stderr)
        self.assert_words(r)

    def test_locked_or_missing_directory_exits_2_in_words(self):
        d = self.path("d")
        self.import_(d, "m v=1 1\n")
        lp = self.write("b.lp", "m v=2 2\n")
        commands = [["check", "--data-dir", d], ["check", "--repair", "--data-dir", d],
                    ["token", "list", "--data-dir", d], ["token", "create", "--read", "--data-dir", d],
                    ["query", "--data-dir", d, "SHOW DATABASES"], ["export", "--data-dir", d, "--db", "t"],
                    ["import", lp, "--data-dir", d, "--db", "t"], ["shell", "--data-dir", d]]
        # Held as a running server holds it.
        with open(os.path.join(d, "LOCK"), "rb+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            for cmd in commands:
                r = self.check(run(*cmd, stdin=""), 2)
                self.assertIn("in use", r.stderr, cmd)
                self.assert_words(r)
        missing = self.path("missing")
        for cmd in commands:
            if cmd[0] == "import":
                continue  # import creates the directory
            cmd = [missing if a == d else a for a in cmd]
            r = self.check(run(*cmd, stdin=""), 2)
            self.assertIn(missing, r.stderr, cmd)
            self.assert_words(r)
        self.assertFalse(os.path.exists(missing))

    def test_damage_and_statement_failures_exit_1(self):
        d = self.path("d")
        self.import_(d, "m v=1 1\n")
        self.check(run("query", "--data-dir", d, "SELEC"), 1)
        self.check(run("query", "--data-dir", d, "SELECT v FROM nosuch..m"), 1)
        self.check(run("export", "--data-dir", d, "--db", "nosuch"), 1)

    def test_commands_other_than_serve_are_quiet_unless_verbose(self):
        d = self.path("d")
        self.import_(d, "m v=1 1\n")
        for cmd in (["check", "--data-dir", d], ["token", "list", "--data-dir", d],
                    ["query", "--data-dir", d, "SHOW DATABASES"], ["export", "--data-dir", d, "--db", "t"]):
            r = self.check(run(*cmd))
            self.assertNotIn(" INFO ", r.stderr, cmd)
            r = self.check(run(*cmd, "-v"))
            self.assertIn(" INFO ", r.stderr, cmd)
            r = self.check(run("--verbose", *cmd))
            self.assertIn(" INFO ", r.stderr, cmd)
        r = self.check(run("token", "create", "--read", "--data-dir", d))
        self.assertNotIn(" INFO ", r.stderr)
        self.assertIn("created token", r.stderr)


class DocsExamples(Base):
    """The shell examples of docs/cli.md and docs/operations.md run as printed."""

    def bash(self, script):
        env = dict(os.environ, PATH=os.path.dirname(ARGS.bin) + os.pathsep + os.environ.get("PATH", ""))
        env = {k: v for k, v in env.items() if not k.startswith("M2MDB_")}
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=self.dir,
                           timeout=60)
        return r

    def test_cli_session(self):
        with open(os.path.join(SOURCE_DIR, "docs", "cli.md"), encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"## A session that runs as printed.*?```sh\n(.*?)```.*?```text\n(.*?)```", text, re.S)
        self.assertIsNotNone(m)
        script = m.group(1).replace("/tmp/m2mdb-cli", self.path("cli"))
        r = self.bash("exec 2>&1\n" + script)
        def norm(t):
            t = re.sub(r"in [0-9.]+ s \(([0-9.]+ MB), [0-9,]+ lines/s\)", r"in T s (\1, R lines/s)", t)
            return re.sub(r"checked 1 segments \(\d+ bytes\)", "checked 1 segments (B bytes)", t)
        self.assertEqual(norm(r.stdout), norm(m.group(2)))

    def test_operations_config_example(self):
        with open(os.path.join(SOURCE_DIR, "docs", "operations.md"), encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"a deployment that keeps its settings.*?```sh\n(.*?)```\n\nprints (.*?)\.\n", text, re.S)
        self.assertIsNotNone(m)
        r = self.bash(m.group(1))
        self.assertEqual(r.returncode, 0, r.stderr)
        for want in re.findall(r"`([^`]+)`", m.group(2)):
            self.assertIn(want + "\n", r.stdout)


class ShellServer(ServerMixin, Base):
    """The shell against a server: USE checks the database; errors without a row count."""

    def test_use_checks_that_the_database_exists(self):
        url = self.start_server(self.path("d"))
        r = self.check(run("shell", "--host", url, stdin="USE nope\nSHOW MEASUREMENTS;\nUSE t\nSHOW MEASUREMENTS;\n"), 1)
        self.assertIn("ERR: Database nope doesn't exist. Run SHOW DATABASES for a list of existing databases.",
                      r.stderr)
        # Only the statement after the failed USE lacks a database.
        self.assertEqual(r.stderr.count("ERR:"), 2, r.stderr)
        r = self.check(run("shell", "--host", url, stdin="USE \"t\"\nSHOW MEASUREMENTS;\n"))
        self.assertEqual(r.stderr, "")

    def test_a_script_stops_with_exit_2_when_the_server_goes_away(self):
        d = self.path("d")
        log = open(self.path("serve.log"), "w")
        server = subprocess.Popen([ARGS.bin, "serve", "--data-dir", d, "--http", "127.0.0.1:0"], stdout=log,
                                  stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_server, server, log)
        deadline = time.time() + 20
        url = None
        while url is None and time.time() < deadline:
            with open(self.path("serve.log")) as f:
                m = re.search(r"listening on http://[^ ]*:(\d+) ", f.read())
            url = m and f"http://127.0.0.1:{m.group(1)}"
            time.sleep(0.05)
        self.assertIsNotNone(url)
        p = subprocess.Popen([ARGS.bin, "shell", "--host", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdin.write(b"SHOW DATABASES;\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline(), b"name: databases\n")
        server.send_signal(signal.SIGTERM)
        self.assertEqual(server.wait(timeout=20), 0)
        out, err = p.communicate(b"SHOW DATABASES;\nSHOW DATABASES;\n", timeout=30)
        self.assertEqual(p.returncode, 2, err)
        # One error, then the script stops.
        self.assertEqual(err.decode().count("ERR:"), 1, err)
        # Refused at the reconnect, or the kept-alive connection found closed: either says so.
        self.assertRegex(err.decode(), r"connection refused|connection closed")

    def test_metrics_has_process_and_build_info_series(self):
        url = self.start_server(self.path("d"))
        with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        version = run("-V").stdout
        m = re.match(r"m2mdb (\S+) \(commit (\S+)\)", version)
        self.assertIn(f'm2mdb_build_info{{version="{m.group(1)}",commit="{m.group(2)}"}} 1\n', text)
        self.assertIn("# TYPE m2mdb_build_info gauge\n", text)
        values = {}
        for name, kind in [("process_cpu_seconds_total", "counter"), ("process_resident_memory_bytes", "gauge"),
                           ("process_open_fds", "gauge"), ("process_max_fds", "gauge"),
                           ("process_virtual_memory_bytes", "gauge"), ("process_start_time_seconds", "gauge")]:
            self.assertIn(f"# TYPE {name} {kind}\n", text)
            v = re.search(rf"(?m)^{name} (\S+)$", text)
            self.assertIsNotNone(v, name)
            values[name] = float(v.group(1))
        self.assertGreater(values["process_resident_memory_bytes"], 1 << 20)
        self.assertGreaterEqual(values["process_open_fds"], 4)  # stdio, the listening socket, the WAL ...
        self.assertGreater(values["process_cpu_seconds_total"], 0)
        self.assertLess(abs(values["process_start_time_seconds"] - time.time()), 120)


class ShellPtyKeys(Base):
    """Ctrl-C and errors on a terminal that is the shell's controlling terminal (so ^C raises SIGINT)."""

    def test_ctrl_c_abandons_the_line_and_errors_have_no_row_count(self):
        d = self.path("d")
        self.import_(d, "cpu,host=a v=1.5 1700000000000000000\n")
        home = self.path("home")
        os.makedirs(home)
        try:
            master, slave = pty.openpty()
        except OSError as e:
            self.skipTest("no pseudo-terminal available: %s" % e)

        def controlling_tty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        p = subprocess.Popen([ARGS.bin, "shell", "--data-dir", d], stdin=slave, stdout=slave, stderr=slave,
                             env=dict(os.environ, HOME=home, TERM="xterm"), preexec_fn=controlling_tty)
        os.close(slave)
        self.buf, self.transcript = "", ""
        expect = ShellPty.expect.__get__(self)
        try:
            expect(master, r"m2mdb> ")
            time.sleep(0.2)  # libedit is reading in raw mode
            # A statement begun over two lines, then Ctrl-C: both lines are dropped.
            os.write(master, b"SELECT nosuch\r")
            expect(master, r"    -> ")
            time.sleep(0.2)
            os.write(master, b"FROM nowhere")
            time.sleep(0.2)
            # A ^C that lands while libedit is not reading yet (a loaded machine) is lost
            # with the typed text; the shell then still waits on the same line, so repeat it.
            for attempt in range(10):
                os.write(master, b"\x03")
                try:
                    expect(master, r"\^C", timeout=1)
                    break
                except AssertionError:
                    if attempt == 9:
                        raise
            expect(master, r"m2mdb> ")
            time.sleep(0.2)
            os.write(master, b"SHOW DATABASES;\r")
            expect(master, r"name: databases")
            expect(master, r"\(1 row, [0-9.]+ ms\)")
            expect(master, r"m2mdb> ")
            self.assertIsNone(p.poll())
            self.assertNotIn("nowhere", self.transcript.split("^C", 1)[1])
            # An error is followed by the prompt, not by a row count.
            os.write(master, b"SELEC x;\r")
            m = expect(master, r"ERR:[^\n]*\n")
            expect(master, r"m2mdb> ")
            after_err = self.transcript[self.transcript.index("ERR:"):]
            self.assertNotIn("rows,", after_err)
            self.assertNotIn("row,", after_err)
            # USE on a missing database: influx's answer, and the prompt keeps no database.
            os.write(master, b"USE nope\r")
            expect(master, r"ERR: Database nope doesn't exist")
            expect(master, r"m2mdb> ")
            os.write(master, b"EXIT\r")
            self.assertEqual(p.wait(timeout=10), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)


class Config(ServerMixin, Base):
    """serve's configuration: TOML file, M2MDB_* variables, flags; precedence flags > env > file > defaults."""

    def config(self, *args, env=None, rc=0):
        e = {k: v for k, v in os.environ.items() if not k.startswith("M2MDB_")}
        e.update(env or {})
        r = subprocess.run([ARGS.bin, "serve", *args, "--print-config"], capture_output=True, text=True, env=e,
                           timeout=30)
        self.assertEqual(r.returncode, rc, r.stderr)
        return tomllib.loads(r.stdout) if rc == 0 else r

    def test_precedence_flags_over_env_over_file_over_defaults(self):
        f = self.write("m2mdb.toml", 'http = "127.0.0.1:1111"\nhead_memory_mb = 32\nwal_sync = "batch"\n'
                                     'create_db = ["a", "b"]\nno_auth = true\n')
        c = self.config()
        self.assertEqual(c["http"], "127.0.0.1:8086")
        self.assertEqual(c["head_memory_mb"], 64)
        self.assertEqual(c["no_auth"], False)
        self.assertEqual(c["create_db"], [])
        self.assertEqual(c["log_level"], "info")
        c = self.config("--config", f)
        self.assertEqual((c["http"], c["head_memory_mb"], c["wal_sync"], c["create_db"], c["no_auth"]),
                         ("127.0.0.1:1111", 32, "batch", ["a", "b"], True))
        env = {"M2MDB_HTTP": "127.0.0.1:2222", "M2MDB_CREATE_DB": "x,y", "M2MDB_NO_AUTH": "false"}
        c = self.config("--config", f, env=env)
        self.assertEqual((c["http"], c["head_memory_mb"], c["create_db"], c["no_auth"]),
                         ("127.0.0.1:2222", 32, ["x", "y"], False))
        c = self.config("--config", f, "--http", "127.0.0.1:3333", "--create-db", "z", env=env)
        self.assertEqual((c["http"], c["head_memory_mb"], c["wal_sync"], c["create_db"]),
                         ("127.0.0.1:3333", 32, "batch", ["z"]))
        # The file may also come from M2MDB_CONFIG.
        c = self.config(env={"M2MDB_CONFIG": f})
        self.assertEqual(c["http"], "127.0.0.1:1111")
        # What --print-config prints is a config file giving the same configuration.
        out = self.write("printed.toml", subprocess.run([ARGS.bin, "serve", "--config", f, "--print-config"],
                                                        capture_output=True, text=True).stdout)
        self.assertEqual(self.config("--config", out), self.config("--config", f))

    def test_unknown_keys_and_bad_values_are_rejected_with_their_line(self):
        cases = [
            ('data_dir = "x"\n\n# the address\nhtpp = "127.0.0.1:1"\n', ['bad.toml:4', 'unknown key "htpp"']),
            ('wal_sync = "sometimes"\n', ["bad.toml:1", "wal_sync", "sometimes"]),
            ('\nhead_memory_mb = "lots"\n', ["bad.toml:2", "head_memory_mb", "expected a number"]),
            ('head_memory_mb = -1\n', ["bad.toml:1", "head_memory_mb", "negative"]),
            ('no_auth = "yes"\n', ["bad.toml:1", "no_auth", "true or false"]),
            ('[serve]\nhttp = "x"\n', ['bad.toml:1', 'unknown key "serve"']),
            ('http = "x\n', ["bad.toml:1"]),
        ]
        for text, wants in cases:
            f = self.write("bad.toml", text)
            r = self.config("--config", f, rc=2)
            for w in wants:
                self.assertIn(w, r.stderr, text)
            self.assertNotIn("Traceback", r.stderr)
        r = self.config("--config", self.path("none.toml"), rc=2)
        self.assertIn("none.toml", r.stderr)
        r = self.config(env={"M2MDB_WAL_SYNC": "sometimes"}, rc=2)
        self.assertIn("M2MDB_WAL_SYNC=sometimes", r.stderr)
        r = self.config(env={"M2MDB_LOG_LEVEL": "loud"}, rc=2)
        self.assertIn("M2MDB_LOG_LEVEL", r.stderr)

    def docs_config(self):
        """The config file docs/operations.md shows (the ```toml block after 'complete configuration file')."""
        with open(os.path.join(SOURCE_DIR, "docs", "operations.md"), encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"<!-- complete configuration file -->\s*```toml\n(.*?)```", text, re.S)
        self.assertIsNotNone(m, "docs/operations.md lost its configuration example")
        return self.write("operations.toml", m.group(1))

    def test_the_config_file_in_the_docs_is_complete_and_runs(self):
        f = self.docs_config()
        # Every key serve has, each with its default.
        self.assertEqual(self.config("--config", f), self.config())
        # And a server starts from it (flags override the address and directory, as documented).
        d = self.path("d")
        self.start_server(d, "--config", f)
        with open(self.path("serve.log")) as log:
            self.assertIn("listening on", log.read())

    def test_log_level_drops_lines_below_it(self):
        d = self.path("d")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open(self.path("serve.log"), "w")
        p = subprocess.Popen([ARGS.bin, "serve", "--data-dir", d, "--http", f"127.0.0.1:{port}"],
                             stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, M2MDB_LOG_LEVEL="warn"))
        self.addCleanup(self.stop_server, p, log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                self.assertIsNone(p.poll(), "server exited")
                time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=20), 0)
        with open(self.path("serve.log")) as f:
            text = f.read()
        self.assertNotIn(" INFO ", text)
        # And the default shows them.
        url = self.start_server(self.path("d2"))
        with open(self.path("serve.log")) as f:
            self.assertIn(" INFO ", f.read())


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ARGS, rest = ap.parse_known_args()
    ARGS.bin = os.path.abspath(ARGS.bin)
    ARGS.work = os.path.abspath(ARGS.work)
    os.makedirs(ARGS.work, exist_ok=True)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()

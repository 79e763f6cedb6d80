#!/usr/bin/env python3
"""Writes corpus.txt: hand-written queries plus generated combinations.

Edit the HAND list or the generators and re-run; corpus.txt is checked in.
"""
W = "time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z'"
S = "time >= '2020-03-27T00:00:00Z' AND time < '2020-04-02T00:00:00Z'"
A = "time >= '2020-10-23T00:00:00Z' AND time < '2020-10-28T00:00:00Z'"
W7 = "time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z'"
W30 = "time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:30:00Z'"
W2 = "time >= '2020-01-01T00:10:00Z' AND time <= '2020-01-01T00:40:00Z'"

HAND = r"""
# --- raw selects
SELECT usage_user FROM cpu WHERE host = 'h1' LIMIT 5
SELECT * FROM cpu WHERE host = 'h2' LIMIT 10
SELECT * FROM mem LIMIT 20
SELECT *::field FROM cpu WHERE host = 'h3' LIMIT 5
SELECT *::tag, usage_user FROM cpu LIMIT 5
SELECT /usage/ FROM cpu WHERE host = 'h4' LIMIT 5
SELECT usage_user, host, region FROM cpu WHERE time < '2020-01-01T00:01:00Z'
SELECT usage_user + usage_system AS total, usage_user * 2, load / 2, load % 7, -load FROM cpu WHERE host = 'h1' LIMIT 8
SELECT (usage_user + 1) / 2, load - 10, load * load FROM cpu WHERE host = 'h3' LIMIT 8
SELECT usage_user, usage_user FROM cpu WHERE host = 'h1' LIMIT 3
SELECT status FROM cpu WHERE host = 'h1' LIMIT 10
SELECT up, status, load FROM cpu WHERE host = 'h2' LIMIT 12
SELECT used, free FROM mem ORDER BY time DESC LIMIT 5
SELECT used FROM mem WHERE host = 'h2' LIMIT 5 OFFSET 3
SELECT usage_user FROM cpu GROUP BY host LIMIT 2
SELECT usage_user FROM cpu GROUP BY host LIMIT 3 SLIMIT 2
SELECT usage_user FROM cpu GROUP BY host LIMIT 3 SLIMIT 2 SOFFSET 1
SELECT usage_user FROM cpu GROUP BY * LIMIT 2
SELECT usage_user FROM cpu GROUP BY region LIMIT 3
SELECT used_pct FROM disk GROUP BY path, host LIMIT 3
SELECT used_pct FROM disk WHERE path = '/var' ORDER BY time DESC LIMIT 4
SELECT usage_user FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:05:00Z' GROUP BY host ORDER BY time DESC LIMIT 2 SLIMIT 2
SELECT usage_user FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:05:00Z' GROUP BY host ORDER BY time DESC LIMIT 2 SLIMIT 2 SOFFSET 1
SELECT usage_user FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:05:00Z' GROUP BY host ORDER BY time DESC LIMIT 2
SELECT usage_user FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:05:00Z' GROUP BY host ORDER BY time ASC LIMIT 1
SELECT usage_user, used FROM cpu, mem WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:05:00Z' GROUP BY host ORDER BY time DESC LIMIT 2
SELECT used, usage_user FROM cpu, mem WHERE host = 'h1' AND time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:05:00Z' ORDER BY time DESC LIMIT 2
SELECT used_pct FROM disk WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:05:00Z' GROUP BY * ORDER BY time DESC LIMIT 1
SELECT used_pct FROM disk WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:05:00Z' GROUP BY /p/ ORDER BY time DESC LIMIT 1
SELECT max(usage_user) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY host ORDER BY time DESC
SELECT max(usage_user) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY time(10m), host ORDER BY time DESC SLIMIT 2
SELECT max(used_pct), path FROM disk WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY host ORDER BY time DESC
SELECT count(used) FROM mem, disk WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY time(20m) ORDER BY time DESC
SELECT max(m) FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m), host) WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY host ORDER BY time DESC
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m), host LIMIT 2) WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY host ORDER BY time DESC
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m), host SLIMIT 2) WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY host ORDER BY time DESC
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m), host ORDER BY time DESC LIMIT 2) WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY host ORDER BY time DESC
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m), host) WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY host ORDER BY time DESC SLIMIT 2 SOFFSET 1
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m), host) WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' ORDER BY time DESC LIMIT 3
SELECT max(m) FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m), host ORDER BY time DESC) WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY host
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m), host ORDER BY time ASC) WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY host ORDER BY time DESC
SELECT v FROM big
SELECT v * 1000000 FROM big
SELECT msg, code FROM events
SELECT code FROM events WHERE kind = 'a' AND code > 30
SELECT usage_user FROM cpu, mem LIMIT 8
SELECT used, usage_user FROM cpu, mem LIMIT 8
SELECT * FROM /^(mem|disk)$/ LIMIT 3
SELECT used_pct FROM /d.*/ LIMIT 3
SELECT nope FROM cpu
SELECT usage_user FROM nope
SELECT host FROM cpu
SELECT usage_user FROM cpu WHERE time > now() - 1h
SELECT usage_user FROM cpu WHERE time = '2020-01-01T00:00:10Z'
SELECT usage_user FROM cpu WHERE time >= 1577836800s AND time < 1577836830s
SELECT usage_user FROM cpu WHERE time >= 1577836800000ms AND time <= 1577836820000ms AND host = 'h2'
SELECT usage_user FROM cpu WHERE time >= 1577836800000000000 AND time < 1577836810000000001
SELECT usage_user FROM cpu WHERE time > '2020-01-01 00:59:00' AND host = 'h1'
SELECT usage_user FROM cpu WHERE '2020-01-01T00:59:30Z' < time
SELECT usage_user FROM cpu WHERE time >= '2020-01-01T00:00:00Z' - 1m AND time < '2020-01-01T00:00:00Z' + 30s
# --- tag conditions
SELECT usage_user FROM cpu WHERE host = 'h1' AND region = 'us' LIMIT 3
SELECT usage_user FROM cpu WHERE host != 'h1' LIMIT 3
SELECT usage_user FROM cpu WHERE host =~ /h[12]/ LIMIT 3
SELECT usage_user FROM cpu WHERE host !~ /h[12]/ LIMIT 3
SELECT usage_user FROM cpu WHERE region = '' LIMIT 3
SELECT usage_user FROM cpu WHERE region != '' LIMIT 3
SELECT usage_user FROM cpu WHERE host = 'h1' OR host = 'h3' LIMIT 6
SELECT usage_user FROM cpu WHERE (host = 'h1' OR host = 'h3') AND region = 'eu' LIMIT 6
SELECT usage_user FROM cpu WHERE host = 'h9'
SELECT usage_user FROM cpu WHERE "host" = 'h2' LIMIT 2
SELECT usage_user FROM cpu WHERE host::tag = 'h2' LIMIT 2
# --- field conditions
SELECT usage_user FROM cpu WHERE usage_user > 90
SELECT usage_user, load FROM cpu WHERE load < 0 AND host = 'h1'
SELECT load FROM cpu WHERE load = 7 LIMIT 5
SELECT load FROM cpu WHERE load >= 49.5
SELECT usage_user FROM cpu WHERE usage_user > 95 OR load > 49
SELECT usage_user FROM cpu WHERE host = 'h1' AND (usage_user < 2 OR usage_system > 19.9)
SELECT status, host FROM cpu WHERE status = 's1' LIMIT 5
SELECT status FROM cpu WHERE status =~ /s[02]/ LIMIT 5
SELECT status FROM cpu WHERE status !~ /s[02]/ LIMIT 5
SELECT up FROM cpu WHERE up = false LIMIT 5
SELECT usage_user FROM cpu WHERE up = true AND host = 'h4' LIMIT 5
SELECT usage_user FROM cpu WHERE host = 'h1' OR usage_user > 99
SELECT * FROM cpu WHERE usage_user > 80 AND load < 0
SELECT msg FROM events WHERE code > 10 AND code < 20
SELECT msg FROM events WHERE msg = 'event 4'
# --- aggregates without GROUP BY time
SELECT count(usage_user) FROM cpu
SELECT count(usage_user), count(status), count(up) FROM cpu
SELECT sum(load), mean(load), count(load) FROM cpu
SKIP(tie: equal time, influxd picks among equal-time integer points differently) SELECT min(load), max(load), first(load), last(load) FROM cpu
SELECT min(load), max(load), first(load) FROM cpu
SELECT max(usage_user) FROM cpu
SELECT min(usage_user) FROM cpu WHERE host = 'h2'
SELECT first(usage_user) FROM cpu GROUP BY host
SELECT last(status) FROM cpu GROUP BY host
SELECT first(status), last(status) FROM cpu
SELECT mean(usage_user) FROM cpu WHERE time > '2020-01-01T00:30:00Z'
SELECT median(load), mode(load), spread(load), stddev(load) FROM cpu
SELECT median(usage_user), spread(usage_user), stddev(usage_user) FROM cpu GROUP BY host
SELECT percentile(usage_user, 50), percentile(usage_user, 95), percentile(load, 5) FROM cpu
SELECT percentile(usage_user, 90) FROM cpu GROUP BY host
SELECT mean(*) FROM cpu
SELECT count(*) FROM cpu
SELECT max(*) FROM mem
SELECT mean(/usage/) FROM cpu
SELECT mean(usage_user) * 2, max(load) - min(load) AS r FROM cpu
SELECT mean(usage_user) + mean(usage_system) FROM cpu GROUP BY host
SELECT sum(used) / count(used) FROM mem
SELECT count(usage_user) FROM cpu WHERE usage_user > 50
SELECT mean(usage_user) FROM cpu WHERE load > 25 GROUP BY host
SELECT mean(usage_user) FROM cpu GROUP BY region
SELECT mean(usage_user) FROM cpu GROUP BY *
SELECT mean(used_pct) FROM disk GROUP BY /pa/
SELECT mean(usage_user) FROM nope
SELECT mean(nope) FROM cpu
SELECT mean(used), mean(usage_user) FROM cpu, mem
SELECT count(code), sum(code) FROM events GROUP BY kind
SELECT mean(usage_user) AS m, mean(usage_user) FROM cpu
SELECT mean(usage_user), mean(usage_user), mean(usage_user) AS mean_1 FROM cpu
UNORDERED SELECT distinct(load) FROM cpu WHERE host = 'h1' AND time < '2020-01-01T00:05:00Z'
UNORDERED SELECT distinct(status) FROM cpu
UNORDERED SELECT DISTINCT status FROM cpu
SELECT count(distinct(status)) FROM cpu
SELECT count(distinct(load)) FROM cpu GROUP BY host
SELECT integral(usage_user) FROM cpu WHERE host = 'h1'
SKIP(integral over several series: influxd orders and combines them differently) SELECT integral(used, 1m) FROM mem GROUP BY host
SELECT integral(used, 1m) FROM mem WHERE host = 'h2'
SELECT sum(v) FROM big
# --- GROUP BY time
SELECT mean(usage_user) FROM cpu WHERE {W} GROUP BY time(5m)
SELECT mean(usage_user) FROM cpu WHERE {W} GROUP BY time(5m), host
SELECT mean(usage_user) FROM cpu WHERE {W} GROUP BY time(7m)
SELECT mean(usage_user) FROM cpu WHERE {W} GROUP BY time(7m, 2m)
SELECT mean(usage_user) FROM cpu WHERE {W} GROUP BY time(7m, -3m)
SELECT mean(usage_user) FROM cpu WHERE {W2} GROUP BY time(4m)
SELECT max(usage_user) FROM cpu WHERE {W2} GROUP BY time(4m)
SELECT max(usage_user), min(usage_user) FROM cpu WHERE {W2} GROUP BY time(4m)
SELECT count(usage_user) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m)
SELECT mean(usage_user) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m)
SELECT mean(usage_user) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(none)
SELECT mean(usage_user) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(0)
SELECT mean(usage_user) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(-1.5)
SELECT mean(usage_user) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(previous)
SELECT mean(usage_user) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(linear)
SELECT sum(load) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(linear)
SELECT sum(load) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(2.7)
SELECT count(load) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(7)
SELECT count(load) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(none)
SELECT mean(usage_user), count(usage_user) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(none)
SELECT mean(usage_user) FROM cpu WHERE {W} GROUP BY time(10m) ORDER BY time DESC
SELECT mean(usage_user) FROM cpu WHERE {W} GROUP BY time(10m) LIMIT 2
SELECT mean(usage_user) FROM cpu WHERE {W} GROUP BY time(10m) LIMIT 2 OFFSET 2
SELECT mean(usage_user) FROM cpu WHERE {W} GROUP BY time(10m), host SLIMIT 2 SOFFSET 1
SELECT mean(usage_user) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' GROUP BY time(10m) fill(none)
SELECT mean(usage_user) FROM cpu GROUP BY time(10m) fill(none)
SELECT mean(used) FROM mem WHERE {W} GROUP BY time(90s) LIMIT 10
SELECT mean(used_pct) FROM disk WHERE {W} GROUP BY time(10m), host, path
SELECT mean(used_pct) FROM disk WHERE time >= '2020-01-01T00:00:30Z' AND time < '2020-01-01T00:20:00Z' GROUP BY time(3m)
SELECT first(usage_user), last(usage_user) FROM cpu WHERE {W2} GROUP BY time(10m), host
SELECT percentile(usage_user, 75) FROM cpu WHERE {W} GROUP BY time(15m)
SELECT median(load) FROM cpu WHERE {W} GROUP BY time(15m), host
SELECT spread(used) FROM mem WHERE {W} GROUP BY time(20m)
SELECT stddev(used) FROM mem WHERE {W} GROUP BY time(20m), host
SELECT mode(load) FROM cpu WHERE {W} GROUP BY time(20m)
UNORDERED SELECT distinct(status) FROM cpu WHERE {W} GROUP BY time(20m)
SELECT count(code) FROM events WHERE {W} GROUP BY time(15m), kind
SELECT mean(usage_user) * 10 FROM cpu WHERE {W} GROUP BY time(15m)
SELECT mean(usage_user) FROM cpu WHERE usage_system > 10 AND {W} GROUP BY time(15m)
SELECT integral(usage_user) FROM cpu WHERE host = 'h1' AND {W} GROUP BY time(30m)
# --- transforms
SELECT derivative(usage_user) FROM cpu WHERE host = 'h1' LIMIT 5
SELECT derivative(usage_user, 1m) FROM cpu WHERE host = 'h1' LIMIT 5
SELECT non_negative_derivative(load) FROM cpu WHERE host = 'h2' LIMIT 8
SELECT difference(load) FROM cpu WHERE host = 'h2' LIMIT 8
SELECT non_negative_difference(usage_user) FROM cpu WHERE host = 'h4' LIMIT 8
SELECT moving_average(usage_user, 3) FROM cpu WHERE host = 'h1' LIMIT 6
SELECT cumulative_sum(load) FROM cpu WHERE host = 'h1' LIMIT 6
SELECT cumulative_sum(usage_user) FROM cpu WHERE host = 'h3' LIMIT 6
SELECT elapsed(used_pct) FROM disk WHERE path = '/var' LIMIT 5
SELECT elapsed(used_pct, 1s) FROM disk WHERE path = '/var' LIMIT 5
SELECT derivative(used) FROM mem GROUP BY host LIMIT 4
SELECT derivative(mean(usage_user)) FROM cpu WHERE {W} GROUP BY time(5m)
SELECT derivative(mean(usage_user), 1s) FROM cpu WHERE {W} GROUP BY time(5m)
SELECT non_negative_derivative(max(load), 1m) FROM cpu WHERE {W} GROUP BY time(5m)
SELECT difference(sum(load)) FROM cpu WHERE {W} GROUP BY time(10m)
SELECT difference(mean(usage_user)) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m)
SELECT moving_average(mean(usage_user), 2) FROM cpu WHERE {W} GROUP BY time(10m)
SELECT cumulative_sum(count(usage_user)) FROM cpu WHERE {W} GROUP BY time(10m)
SELECT cumulative_sum(sum(load)) FROM cpu WHERE {W} GROUP BY time(10m), host
SELECT derivative(mean(usage_user), 1m) FROM cpu WHERE host = 'h3' AND {W} GROUP BY time(5m) fill(0)
# --- transforms over GROUP BY time read one interval before the range (influxd's
# buildCallIterator): an unaligned start like now() - 1h, fill, DESC, per host
SELECT derivative(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(5m)
SELECT derivative(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:10:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m) fill(0)
SELECT derivative(mean(usage_user)) FROM cpu WHERE time >= '2019-12-31T23:50:00Z' AND time < '2020-01-01T00:20:00Z' GROUP BY time(5m) fill(0)
SELECT derivative(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:10:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m) ORDER BY time DESC
SELECT non_negative_derivative(max(usage_user), 1m) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(5m), host
SELECT difference(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(5m)
SELECT non_negative_difference(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(5m)
SELECT moving_average(mean(usage_user), 2) FROM cpu WHERE time >= '2020-01-01T00:10:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m)
SELECT moving_average(mean(usage_user), 3) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(5m)
SELECT moving_average(mean(usage_user), 1) FROM cpu WHERE time >= '2020-01-01T00:10:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m)
SELECT elapsed(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:10:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m)
SELECT cumulative_sum(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:10:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m)
SELECT cumulative_sum(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:10:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m) ORDER BY time DESC
SELECT mean(usage_user), derivative(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m)
SELECT mean(usage_user), derivative(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m) ORDER BY time DESC
SELECT max(usage_user), difference(max(usage_user)), cumulative_sum(max(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m), host
SELECT count(usage_user), moving_average(mean(usage_user), 2) FROM cpu WHERE time >= '2020-01-01T00:12:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(10m)
SELECT mean(usage_user), derivative(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m) fill(0)
# Grafana's shapes: epoch ms bounds, fill modes, offsets, LIMIT, tz()
SELECT non_negative_derivative(mean(usage_user), 1s) FROM cpu WHERE time >= 1577837220000ms and time <= 1577839200000ms GROUP BY time(1m), host fill(null)
SELECT derivative(mean(usage_user)) FROM cpu WHERE time >= 1577837220000ms and time <= 1577839200000ms GROUP BY time(5m) fill(previous)
SELECT derivative(mean(usage_user)) FROM cpu WHERE time >= 1577837220000ms and time <= 1577839200000ms GROUP BY time(5m) fill(linear)
SELECT difference(max(load)) FROM cpu WHERE time >= 1577837220000ms and time <= 1577839200000ms GROUP BY time(5m, 2m), host fill(none)
SELECT moving_average(mean(usage_user), 3) FROM cpu WHERE time >= 1577837220000ms and time <= 1577839200000ms GROUP BY time(5m) fill(0)
SELECT non_negative_derivative(max(used), 10s) FROM mem WHERE host = 'h3' AND time >= 1577837220000ms GROUP BY time(5m)
SELECT derivative(mean(v)) FROM dst WHERE time >= '2020-03-28T12:00:00Z' AND time < '2020-04-01T00:00:00Z' GROUP BY time(1d) tz('Europe/Berlin')
SELECT derivative(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(5m) LIMIT 2
SELECT derivative(mean(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(5m) LIMIT 2 OFFSET 1
SELECT top(usage_user, host, 1) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(10m) tz('Europe/Berlin')
SELECT max(usage_user), difference(max(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m), host fill(previous)
SELECT max(usage_user), difference(max(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m), host fill(none)
SELECT max(usage_user), difference(max(usage_user)) FROM cpu WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:30:00Z' GROUP BY time(5m), host ORDER BY time DESC
SELECT count(usage_user), cumulative_sum(count(usage_user)) FROM cpu WHERE host = 'h3' AND time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(10m)
SELECT mean(usage_user), non_negative_derivative(mean(usage_user), 1m) FROM cpu WHERE host = 'h3' AND time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(5m) fill(linear)
# --- transforms under ORDER BY time DESC run in that direction
SELECT derivative(usage_user) FROM cpu WHERE host = 'h1' ORDER BY time DESC LIMIT 5
SELECT difference(usage_user) FROM cpu WHERE host = 'h1' AND time < '2020-01-01T00:05:00Z' ORDER BY time DESC
SELECT moving_average(usage_user, 3) FROM cpu WHERE host = 'h1' AND time < '2020-01-01T00:05:00Z' ORDER BY time DESC
SELECT cumulative_sum(usage_user) FROM cpu WHERE host = 'h1' AND time < '2020-01-01T00:05:00Z' ORDER BY time DESC
SELECT elapsed(usage_user, 1s) FROM cpu WHERE host = 'h1' AND time < '2020-01-01T00:05:00Z' ORDER BY time DESC
# --- tz(): times printed with the zone's offset, windows aligned in local time across the DST changes (dst)
SELECT usage_user FROM cpu WHERE host='h1' LIMIT 2 tz('Europe/Berlin')
SELECT count(usage_user) FROM cpu tz('Europe/Berlin')
SELECT usage_user FROM cpu LIMIT 1 tz('UTC')
SELECT usage_user FROM cpu LIMIT 1 tz('Nowhere/Foo')
SELECT usage_user FROM cpu WHERE time >= '2020-01-01T01:00:00+01:00' LIMIT 1 tz('Europe/Berlin')
SELECT usage_user FROM cpu WHERE time >= '2020-01-01 01:00:00' LIMIT 1 tz('Europe/Berlin')
SELECT mean(usage_user) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T02:00:00Z' GROUP BY time(1h) tz('Asia/Kolkata')
SELECT count(v), sum(n), max(v) FROM dst WHERE {S} GROUP BY time(1d) tz('Europe/Berlin')
SELECT count(v), sum(n) FROM dst WHERE {A} GROUP BY time(1d) tz('Europe/Berlin')
SELECT count(v) FROM dst WHERE time >= '2020-03-28T00:00:00+01:00' AND time < '2020-04-01T00:00:00+02:00' GROUP BY time(1d) tz('Europe/Berlin')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d), site tz('Europe/Berlin')
SELECT mean(v) FROM dst WHERE {S} GROUP BY time(1d) fill(0) tz('Europe/Berlin')
SELECT mean(v) FROM dst WHERE time >= '2020-03-25T00:00:00Z' AND time < '2020-04-03T00:00:00Z' GROUP BY time(1d) fill(previous) tz('Europe/Berlin')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(12h) tz('Europe/Berlin')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(2h) tz('Europe/Berlin')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1h) tz('Europe/Berlin')
SKIP(tz() with an interval that does not divide the DST change: influxd labels the points after the change off its own fill grid) SELECT count(v) FROM dst WHERE {S} GROUP BY time(7m) tz('Europe/Berlin')
SELECT count(v) FROM dst WHERE {A} GROUP BY time(1d, 6h) tz('Europe/Berlin')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1w) tz('Europe/Berlin')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) tz('America/New_York')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) tz('Asia/Kolkata')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) tz('Australia/Lord_Howe')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) tz('UTC')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) ORDER BY time DESC tz('Europe/Berlin')
SELECT derivative(mean(v)) FROM dst WHERE {S} GROUP BY time(1d) tz('Europe/Berlin')
SELECT integral(v) FROM dst WHERE {S} GROUP BY time(1d) tz('Europe/Berlin')
SELECT v FROM dst WHERE time >= '2020-03-29T00:00:00Z' AND time < '2020-03-29T02:00:00Z' tz('Europe/Berlin')
SELECT last(v) FROM dst WHERE {S} GROUP BY time(1d) tz('Europe/Berlin')
SELECT last(v) FROM dst WHERE {S} tz('Europe/Berlin')
SELECT count(v) FROM dst WHERE {S} tz('Europe/Berlin')
SELECT max(c) FROM (SELECT count(v) AS c FROM dst WHERE {S} GROUP BY time(1d) tz('Europe/Berlin'))
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) tz('Nowhere/Foo')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) tz('europe/berlin')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) tz('Local')
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) tz(Europe)
SELECT count(v) FROM dst WHERE {S} GROUP BY time(1d) tz('Europe/Berlin', 'x')
# --- subqueries
SELECT max(m) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {W} GROUP BY time(10m))
SELECT mean(m) FROM (SELECT max(usage_user) AS m FROM cpu WHERE {W} GROUP BY time(10m), host) GROUP BY host
SELECT max(m) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {W} GROUP BY time(10m), host)
SELECT sum(c) FROM (SELECT count(usage_user) AS c FROM cpu GROUP BY host)
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY host) WHERE host = 'h2'
# --- a subquery's partial first GROUP BY time window (labelled before the outer range) is kept
SELECT mean(m) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {W7} GROUP BY time(10m))
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {W7} GROUP BY time(10m))
SKIP(influxd answers nothing when an outer aggregate without GROUP BY time meets a subquery row before its range) SELECT max(m) FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m)) WHERE {W7}
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(10m)) WHERE {W7}
SELECT mean(m) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {W7} GROUP BY time(10m)) WHERE {W7} GROUP BY time(20m)
SELECT first(m), count(m) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {W7} GROUP BY time(10m), host) GROUP BY host
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {W7} GROUP BY time(10m)) ORDER BY time DESC
SELECT sum(m) FROM (SELECT max(usage_user) AS m FROM cpu WHERE {W7} GROUP BY time(10m), host) WHERE {W7} GROUP BY time(10m)
SELECT derivative(m) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {W7} GROUP BY time(10m))
SELECT m FROM (SELECT mean(usage_user) AS m FROM cpu WHERE time >= now() - 1h GROUP BY time(10m))
# --- top() and bottom(): influxd's row shapes, tag arguments, extra fields, errors
SELECT top(usage_user, 3) FROM cpu
SELECT bottom(usage_user, 3) FROM cpu WHERE host='h1'
SELECT top(usage_user, host, 2) FROM cpu
SELECT bottom(usage_user, host, 3) FROM cpu
SELECT top(usage_user, 2), host, region FROM cpu
SELECT top(usage_user, 2) FROM cpu WHERE {W30} GROUP BY time(10m)
SELECT top(usage_user, 2) FROM cpu GROUP BY host
SELECT top(usage_user, host, 2) FROM cpu WHERE {W30} GROUP BY time(10m)
SELECT bottom(load, region, 1), usage_system FROM cpu WHERE {W30} GROUP BY time(15m)
SELECT top(load, 3) FROM cpu WHERE host='h1'
SELECT bottom(load, 4) FROM cpu
SELECT top(usage_user, 2), usage_system FROM cpu
SELECT top(usage_user, 2) AS t FROM cpu
SELECT top(used, 2) FROM mem WHERE {W30} GROUP BY time(10m), host
SELECT top(code, 3) FROM events
SELECT top(v, 2) FROM big
SELECT top(usage_user) FROM cpu
SELECT top(usage_user, 0) FROM cpu
SELECT top(usage_user, -1) FROM cpu
SELECT top(usage_user, 'x') FROM cpu
SELECT top(usage_user, 2.5) FROM cpu
SELECT top(1, 2) FROM cpu
SELECT top(usage_user, 2), max(load) FROM cpu
SELECT top(usage_user, 2), bottom(usage_user, 2) FROM cpu
SELECT top(usage_user, 2) * 2 FROM cpu
SELECT top(usage_user, host, region, 2) FROM cpu
SELECT top(usage_user, 'host', 2) FROM cpu
SELECT top(usage_user, 2, 3) FROM cpu
SELECT top(status, 2) FROM cpu
SELECT top(up, 2) FROM cpu
SELECT bottom(usage_user, 2) FROM cpu WHERE {W30} GROUP BY time(10m) fill(none)
SELECT top(usage_user, 2) FROM cpu WHERE {W30} GROUP BY time(10m) fill(0)
SELECT top(nosuch, 2) FROM cpu
SELECT top(*, 2) FROM cpu
SELECT top(/usage/, 2) FROM cpu
SKIP(derivative(top()) without GROUP BY time: influxd reports the derivative, m2mdb the combination first) SELECT derivative(top(usage_user, 2)) FROM cpu
SKIP(top() under ORDER BY time DESC: influxd keeps ascending times, m2mdb orders the rows as asked) SELECT top(usage_user, 2) FROM cpu ORDER BY time DESC
SELECT top(usage_user, 3) FROM cpu LIMIT 2
SELECT top(usage_user, 100000) FROM cpu WHERE host='h1' AND time < '2020-01-01T00:01:00Z'
SELECT top(usage_user, nosuchtag, 2) FROM cpu
SELECT top(usage_user, host, 2), region FROM cpu
SELECT top(usage_user, usage_system, 2) FROM cpu
SELECT top(used, host, 1) FROM mem GROUP BY host
SELECT top(m, 2) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {W30} GROUP BY time(5m))
# --- selectors with extra fields and tags (read at the selected point)
SELECT max(usage_user), host, region, usage_system, status FROM cpu
SELECT max(usage_user), usage_system FROM cpu GROUP BY host
SELECT max(usage_user) * 2, usage_system FROM cpu
SELECT max(usage_user) AS m, usage_system AS s, usage_system + 1, host::tag FROM cpu
SELECT max(usage_user), usage_user, nosuch FROM cpu
SELECT usage_system, first(usage_user) FROM cpu WHERE host = 'h1'
SELECT last(usage_user), * FROM cpu WHERE host = 'h3'
SELECT first(used), * FROM mem GROUP BY host
SELECT last(status), load, up FROM cpu GROUP BY host
SELECT min(up), load FROM cpu WHERE host = 'h1'
SELECT min(load), usage_user, host FROM cpu WHERE host = 'h2'
SELECT percentile(usage_user, 50), usage_system, host FROM cpu
SELECT percentile(used, 90), free FROM mem GROUP BY host
SELECT max(usage_user), usage_system FROM cpu WHERE usage_system > 5
SELECT min(usage_user), status, host FROM cpu WHERE {W} GROUP BY time(10m)
SELECT max(usage_user), usage_system, host FROM cpu WHERE {W} GROUP BY time(20m), region
SELECT last(used), free, host FROM mem WHERE {W} GROUP BY time(10m) LIMIT 3
SELECT max(usage_user), usage_system FROM cpu WHERE host = 'h1' AND time >= '2019-12-31T23:56:00Z' AND time < '2020-01-01T00:04:00Z' GROUP BY time(2m)
SELECT max(usage_user), usage_system FROM cpu WHERE host = 'h1' AND time >= '2019-12-31T23:56:00Z' AND time < '2020-01-01T00:04:00Z' GROUP BY time(2m) fill(none)
SELECT max(usage_user), usage_system, host FROM cpu WHERE host = 'h1' AND usage_user > 90 AND {W} GROUP BY time(1m) fill(0)
SELECT max(usage_user), usage_system, host FROM cpu WHERE host = 'h1' AND usage_user > 90 AND {W} GROUP BY time(1m) fill(previous)
SELECT max(usage_user), usage_system, host FROM cpu WHERE host = 'h1' AND usage_user > 90 AND {W} GROUP BY time(1m) fill(linear)
SELECT max(usage_user), usage_system, host FROM cpu WHERE host = 'h1' AND usage_user > 90 AND {W} GROUP BY time(1m) fill(7)
SELECT max(usage_user), usage_system FROM cpu WHERE host = 'h2' AND {W} GROUP BY time(5m) ORDER BY time DESC LIMIT 4
SELECT max(load), up, status FROM cpu WHERE host = 'h2' LIMIT 1 OFFSET 1
SELECT max(v), x FROM (SELECT usage_user AS v, usage_system AS x FROM cpu WHERE host = 'h3')
SELECT max(usage_user) + usage_system FROM cpu WHERE host = 'h1'
SELECT max(usage_user), time FROM cpu WHERE host = 'h1'
SELECT max(usage_user), time FROM cpu WHERE host = 'h1' AND {W} GROUP BY time(20m)
SELECT max(usage_user), abs(usage_system), host::tag, region::field FROM cpu WHERE host = 'h1'
SELECT max(usage_user), usage_system FROM cpu, mem
SELECT max(usage_user), /usage/ FROM cpu WHERE host = 'h1'
SELECT *, max(usage_user) FROM cpu WHERE host = 'h1' GROUP BY host
SELECT max(usage_user), * FROM cpu WHERE host = 'h1' GROUP BY *
SELECT time, usage_user FROM cpu WHERE host = 'h1' LIMIT 2
SELECT time FROM cpu
SELECT time AS t, usage_user FROM cpu WHERE host = 'h1' LIMIT 3
SELECT usage_user, time AS t FROM cpu WHERE host = 'h1' LIMIT 3
SELECT time AS t, usage_user FROM cpu WHERE host = 'h1' ORDER BY time DESC LIMIT 2
SELECT time AS t, * FROM cpu WHERE host = 'h1' LIMIT 2
SELECT time AS t, mean(usage_user) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY time(10m)
SELECT time AS t, count(usage_user) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY time(20m), host
SELECT time AS t, max(usage_user) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z'
SELECT time AS t, max(usage_user), host FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z'
SELECT time AS t, mean(usage_user) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z'
SELECT time, mean(usage_user) FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY time(30m)
SELECT time AS t, derivative(usage_user) FROM cpu WHERE host = 'h1' LIMIT 3
SELECT time AS t, usage_user FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:05:00Z' GROUP BY host ORDER BY time DESC LIMIT 1
SELECT time AS t, usage_user, time AS u FROM cpu WHERE host = 'h1' LIMIT 2
SELECT time AS t, usage_user, time FROM cpu WHERE host = 'h1' LIMIT 2
SELECT "time" AS t, usage_user FROM cpu WHERE host = 'h1' LIMIT 2
SELECT time::integer AS t, usage_user FROM cpu WHERE host = 'h1' LIMIT 2
SELECT (time) AS t, usage_user FROM cpu WHERE host = 'h1' LIMIT 2
SELECT time AS usage_user, usage_user FROM cpu WHERE host = 'h1' LIMIT 2
SELECT time AS t, usage_user AS time FROM cpu WHERE host = 'h1' LIMIT 2
SELECT time AS t, load AS time FROM cpu WHERE host = 'h1' LIMIT 2
SELECT load AS time FROM cpu WHERE host = 'h1' LIMIT 2
SELECT time AS t, m FROM (SELECT mean(usage_user) AS m FROM cpu WHERE time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T01:00:00Z' GROUP BY time(10m))
SELECT t FROM (SELECT time AS t, usage_user FROM cpu WHERE host = 'h1' LIMIT 3)
SELECT usage_user FROM (SELECT time AS t, usage_user FROM cpu WHERE host = 'h1' LIMIT 3)
SELECT time AS t, used FROM mem WHERE host = 'h9'
SELECT time AS t FROM cpu
SELECT time AS t, time FROM cpu
UNORDERED SELECT distinct(usage_user), time AS t FROM cpu WHERE host = 'h1' AND time < '2020-01-01T00:01:00Z'
SELECT region::field, usage_user FROM cpu WHERE host = 'h1' LIMIT 2
SELECT * FROM mem WHERE host = 'h1' GROUP BY host LIMIT 2
SELECT * FROM disk GROUP BY /ho/ LIMIT 2
SELECT * FROM cpu WHERE host = 'h2' GROUP BY /re/ LIMIT 2
SKIP(tie: with a tag among the extra fields influxd resolves equal-time first()/last() by series order) SELECT last(usage_user), host FROM cpu
# --- errors
SELECT mean(usage_user), usage_user FROM cpu
SELECT max(usage_user), usage_system, mean(load) FROM cpu
SELECT max(usage_user), min(usage_user), host FROM cpu
SELECT count(usage_user), usage_system FROM cpu
SELECT median(usage_user), usage_system FROM cpu WHERE host = 'h1'
SELECT spread(load), usage_system FROM cpu
SELECT distinct(load), usage_system FROM cpu
SELECT distinct(usage_user), host FROM cpu
SELECT distinct(usage_user) AS d, usage_system FROM cpu
SELECT distinct(usage_user), mean(usage_user) FROM cpu
SELECT distinct(usage_user), max(usage_user) FROM cpu
SELECT distinct(usage_user), distinct(usage_system) FROM cpu
SELECT distinct(usage_user), count(distinct(usage_user)) FROM cpu
SELECT DISTINCT usage_user, host FROM cpu
SELECT usage_user, distinct(usage_system) FROM cpu
SELECT distinct(usage_user), * FROM cpu
SELECT distinct(usage_user), derivative(usage_user) FROM cpu
SELECT distinct(usage_user), 1 FROM cpu
SELECT distinct(usage_user), bad(x) FROM cpu
SELECT max(m) FROM (SELECT distinct(usage_user) AS m, host FROM cpu)
SELECT count(distinct(usage_user)), host FROM cpu
SELECT count(distinct(usage_user)), max(usage_user) FROM cpu
UNORDERED SELECT time, distinct(usage_user) FROM cpu WHERE host = 'h1' AND time < '2020-01-01T00:01:00Z'
SELECT count(used) FROM mem; SELECT distinct(usage_user), host FROM cpu
SELECT mean(usage_user), host FROM cpu
SELECT usage_user FROM cpu WHERE {W} GROUP BY time(5m)
SELECT derivative(usage_user) FROM cpu WHERE {W} GROUP BY time(5m)
SELECT derivative(mean(usage_user)) FROM cpu
SELECT mean(usage_user) FROM cpu GROUP BY time(5m), host fill(
SELECT mean(usage_user, 2) FROM cpu
SELECT foo(usage_user) FROM cpu
SELECT usage_user FROM
SELECT count(1) FROM cpu
SELECT usage_user FROM cpu WHERE time > 'bogus'
SELECT usage_user FROM cpu fill(none)
SELECT mean(usage_user) FROM cpu GROUP BY time(0s)
# --- meta
SHOW DATABASES
SHOW MEASUREMENTS
SHOW MEASUREMENTS LIMIT 2
SHOW MEASUREMENTS LIMIT 2 OFFSET 1
SHOW MEASUREMENTS WITH MEASUREMENT =~ /^c/
SHOW MEASUREMENTS WITH MEASUREMENT = mem
SHOW MEASUREMENTS WHERE host = 'h2'
SHOW MEASUREMENTS WHERE path =~ /var/
SHOW TAG KEYS
SHOW TAG KEYS FROM cpu
SHOW TAG KEYS FROM disk, mem
SHOW TAG KEYS FROM /^(cpu|nope)$/
SHOW TAG KEYS FROM nope
SHOW TAG VALUES WITH KEY = host
SHOW TAG VALUES FROM cpu WITH KEY = region
SHOW TAG VALUES FROM cpu WITH KEY IN (host, region)
SHOW TAG VALUES FROM cpu WITH KEY =~ /o/
SHOW TAG VALUES FROM cpu WITH KEY != host
SHOW TAG VALUES FROM cpu WITH KEY = host WHERE region = 'us'
SHOW TAG VALUES FROM cpu WITH KEY = host LIMIT 2
SHOW TAG VALUES FROM cpu WITH KEY = host LIMIT 2 OFFSET 1
SHOW TAG VALUES FROM disk WITH KEY = path WHERE host = 'h2' OR host = 'h1'
SHOW FIELD KEYS
SHOW FIELD KEYS FROM cpu
SHOW FIELD KEYS FROM events
SHOW FIELD KEYS FROM nope
SHOW SERIES
SHOW SERIES FROM cpu
SHOW SERIES FROM cpu WHERE region = 'us'
SHOW SERIES FROM cpu WHERE host =~ /h[34]/
SHOW SERIES WHERE host = 'h1'
SHOW SERIES FROM disk WHERE host = 'h1' AND path != '/'
SHOW SERIES LIMIT 3
SHOW SERIES LIMIT 3 OFFSET 2
SHOW RETENTION POLICIES
SHOW RETENTION POLICIES ON diff
SHOW MEASUREMENTS ON nope
SHOW FIELD KEYS ON nope
# --- series keys with escapes (commas, spaces, equals signs, backslashes; data: gen_data.py's esc lines)
SHOW MEASUREMENTS WITH MEASUREMENT =~ /^esc/
SHOW SERIES FROM esc WHERE host =~ /./
SHOW SERIES FROM esc WHERE "ho st" =~ /h,1/
SHOW SERIES FROM "esc,m x", "esc=m", "esc\\slash"
SHOW SERIES FROM /^esc/ LIMIT 4 OFFSET 70
SHOW SERIES FROM esc WHERE host = 'a,b' OR host = 'a=b'
SHOW SERIES FROM esc WHERE host = 'a\\b'
SHOW SERIES FROM esc WHERE host = 'a\\\\b'
SHOW SERIES FROM esc WHERE "r=g" = 'r\\\\1' AND "t\\ag" = 'x 0' AND "ho st" =~ /h,[1-3]/
SHOW SERIES FROM esc WHERE host = 'c d' AND dc = ''
SHOW SERIES FROM esc WHERE "ho st" = 'h,5' OR dc = 'x y'
SHOW SERIES FROM /slash/ WHERE "t\\ag" = 'va\\lue' OR "t\\ag" = 'x'
SHOW MEASUREMENTS WHERE "t\\ag" = 'va\\lue' OR host = 'a,b'
SHOW TAG KEYS FROM /^esc/
SHOW TAG KEYS FROM esc WHERE host = 'a=b' OR "ho st" = 'h,1'
SHOW TAG KEYS FROM /^esc/ WHERE "t\\ag" =~ /lue/ OR dc = 'z'
SHOW TAG VALUES FROM /^esc/ WITH KEY =~ /./ WHERE host =~ /./ OR "t\\ag" =~ /./
SHOW TAG VALUES FROM esc WITH KEY = "ho st" LIMIT 5
SHOW TAG VALUES FROM esc WITH KEY IN ("r=g", "t\\ag", host) WHERE "ho st" = 'h,7' OR host = 'a\\\\b'
SHOW TAG VALUES FROM esc WITH KEY = host WHERE dc = 'x y' OR "ho st" = 'h,3'
SELECT count(v) FROM esc GROUP BY host
SELECT count(v), sum(v) FROM esc WHERE {W} GROUP BY "r=g"
SELECT sum(v), max(v) FROM esc WHERE "t\\ag" = 'x 1' AND {W} GROUP BY "r=g", "t\\ag"
SELECT count(v) FROM esc WHERE "t\\ag" = 'x 0' AND {W} GROUP BY time(10m), "r=g"
SELECT max(v) FROM esc WHERE "ho st" =~ /h,1/ GROUP BY "ho st" SLIMIT 4 SOFFSET 2
SELECT v FROM esc WHERE host = 'a,b' OR host = 'c d'
SELECT v FROM esc WHERE host = 'a\\b' OR dc = ''  LIMIT 5
SELECT v, host, dc FROM esc WHERE "r=g" = '' AND time < '2020-01-01T00:00:30Z'
SELECT * FROM "esc,m x"
SELECT * FROM "esc=m"
SELECT * FROM /slash/
SELECT v, "t\\ag" FROM /slash/ WHERE "t\\ag" = 'va\\lue'
SELECT count(v) FROM esc GROUP BY *
SKIP(GROUP BY * over several measurements: influxd gives each series the union of their tag keys) SELECT count(v) FROM /^esc/ GROUP BY *
SELECT last(v) FROM /^esc/ WHERE {W} GROUP BY host, "t\\ag"

# --- several statements
SELECT count(usage_user) FROM cpu; SELECT count(used) FROM mem
SHOW MEASUREMENTS; SELECT mean(load) FROM cpu GROUP BY host
SKIP(influxd 1.6 reports a later statement's compile error as 'not executed', racily) SELECT count(used) FROM mem; SELECT bad(x) FROM mem; SELECT count(used) FROM mem
SELECT count(used) FROM mem; SELECT bad(x) FROM mem
""".replace("{W}", W).replace("{W2}", W2).replace("{S}", S).replace("{W7}", W7).replace("{W30}", W30).replace("{A}", A)

AGGS = ["count", "sum", "mean", "median", "min", "max", "first", "last", "spread", "stddev", "mode",
        "percentile({f}, 33)", "integral"]
FIELDS = ["usage_user", "load", "used", "used_pct"]
MEAS = {"usage_user": "cpu", "load": "cpu", "used": "mem", "used_pct": "disk"}
GROUPS = ["", "GROUP BY host", f"WHERE {W} GROUP BY time(6m)", f"WHERE {W2} GROUP BY time(5m, 1m), host",
          f"WHERE {W} GROUP BY time(12m) fill(none)", f"WHERE {W2} GROUP BY time(3m) fill(previous)"]


def gen():
    out = []
    for f in FIELDS:
        for a in AGGS:
            call = a.format(f=f) if "{" in a else f"{a}({f})"
            for g in GROUPS:
                out.append(f"SELECT {call} FROM {MEAS[f]} {g}".strip())
    for f in ["usage_user", "load", "used"]:
        for t in ["derivative", "difference", "non_negative_derivative", "cumulative_sum",
                  "moving_average({x}, 4)"]:
            for a in ["mean", "max", "sum"]:
                inner = f"{a}({f})"
                call = t.format(x=inner) if "{" in t else f"{t}({inner})"
                out.append(f"SELECT {call} FROM {MEAS[f]} WHERE {W} GROUP BY time(5m)")
    skips = {
        "mode(": "mode() tie-breaking between equally frequent values differs from influxd",
        "integral(": "integral() over several series / windows: influxd's streaming reducer differs",
        "percentile(load": "percentile() among equal integer values: influxd's unstable sort picks another point",
        "last(load) FROM cpu": "last() among equal-time integer points: influxd picks another point",
    }
    marked = []
    for q in out:
        for k, why in skips.items():
            if k in q:
                q = f"SKIP({why}) {q}"
                break
        marked.append(q)
    return marked


# Statements that change the data: last, after every query that reads it.
TAIL = r"""
# --- DROP SERIES on keys with escapes (the series-by-series path for OR conditions)
DROP SERIES FROM esc WHERE host = 'a,b'
DROP SERIES FROM esc WHERE (host = 'c d' AND dc = '') OR "ho st" = 'h,5'
DROP SERIES FROM esc WHERE "r=g" = 'r\\\\2' AND "t\\ag" = 'x 0'
DROP SERIES FROM esc WHERE host = 'a\\\\b' OR host = 'a\\b'
SHOW SERIES FROM esc
SHOW TAG VALUES FROM esc WITH KEY =~ /./ WHERE "ho st" =~ /./ OR host =~ /./
SKIP(after DROP SERIES influxd still lists some tag values of dropped series) SHOW TAG VALUES FROM esc WITH KEY =~ /./
SELECT count(v), sum(v) FROM esc GROUP BY host, "r=g"
DROP SERIES FROM "esc,m x"
DROP SERIES FROM esc WHERE "ho st" =~ /./ OR host = 'nope'
SHOW SERIES FROM /^esc/
SHOW TAG KEYS FROM esc WHERE host =~ /./ OR dc =~ /./
SELECT count(v) FROM esc GROUP BY host, dc
SKIP(after DROP SERIES influxd's GROUP BY * still has the tag keys of dropped series) SELECT count(v) FROM esc GROUP BY *
# --- retention policies (last: they change the database; the data is in autogen, the default)
SELECT count(usage_user) FROM diff.autogen.cpu
SELECT count(usage_user) FROM autogen.cpu
SELECT count(usage_user) FROM diff..cpu
SELECT count(usage_user) FROM nope.cpu
CREATE RETENTION POLICY week ON diff DURATION 7d REPLICATION 1
CREATE RETENTION POLICY week ON diff DURATION 7d REPLICATION 1
CREATE RETENTION POLICY week ON diff DURATION 8d REPLICATION 1
CREATE RETENTION POLICY tiny ON diff DURATION 59m REPLICATION 1
CREATE RETENTION POLICY inv ON diff DURATION 2h REPLICATION 1 SHARD DURATION 1d
CREATE RETENTION POLICY "q x" ON diff DURATION INF REPLICATION 2 SHARD DURATION 2w
CREATE RETENTION POLICY nodb ON nope DURATION 1d REPLICATION 1
SHOW RETENTION POLICIES ON diff
SELECT count(usage_user) FROM week.cpu
SELECT count(usage_user) FROM "q x".cpu
SHOW MEASUREMENTS WITH MEASUREMENT = cpu
SHOW FIELD KEYS FROM week.cpu
ALTER RETENTION POLICY week ON diff DURATION 14d SHARD DURATION 2d REPLICATION 3
ALTER RETENTION POLICY week ON diff DURATION 1d
ALTER RETENTION POLICY nope ON diff DURATION 1d
ALTER RETENTION POLICY week ON nope DURATION 1d
SHOW RETENTION POLICIES
ALTER RETENTION POLICY week ON diff DEFAULT
SELECT count(usage_user) FROM cpu
SELECT count(usage_user) FROM autogen.cpu
ALTER RETENTION POLICY autogen ON diff DEFAULT
DROP RETENTION POLICY week ON diff
DROP RETENTION POLICY week ON diff
DROP RETENTION POLICY "q x" ON diff
SHOW RETENTION POLICIES ON diff
SELECT count(usage_user) FROM cpu
"""

with open("corpus.txt", "w") as fh:
    fh.write("# Differential corpus (generated by gen_corpus.py; edit there). See differential_test.py.\n")
    fh.write(HAND.strip() + "\n# --- generated combinations\n")
    fh.write("\n".join(gen()) + "\n")
    fh.write(TAIL.strip() + "\n")

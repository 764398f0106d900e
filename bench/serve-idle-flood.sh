#!/usr/bin/env bash
# `pagefeed serve` under a flood of idle connections: how fast a normal request is answered
# while IDLE connections (default 2,000) that never send anything are held open, and what each
# connection costs in resident memory.
#
# Two runs: started with a soft open-file limit of 1024 (serve raises it to the hard limit and
# keeps every idle connection), and with a hard limit of 512 (serve caps connections below it
# and closes the longest-idle ones to make room). Each run opens the idle connections, then
# times 200 sequential `GET /healthz` (one connection each) and reads VmRSS before and after.
# Only 127.0.0.1 is used; the service has one feed whose site does not answer.
#
#   bash bench/serve-idle-flood.sh           # ~15 s after the release build
#   IDLE=5000 bash bench/serve-idle-flood.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

idle=${IDLE:-2000}
port=${PORT:-18970}

# This script holds the idle connections: its own soft limit up to the hard one (the hard
# limit itself is left alone, serve's first run raises to it).
ulimit -Sn "$(ulimit -Hn)"

cargo build --release --quiet
bin="$root/target/release/pagefeed"
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/bench.toml" <<'TOML'
[settings]
host_delay = "0s"

[feeds.nowhere]
url = "http://127.0.0.1:9/"
refresh = "1h"
[feeds.nowhere.items]
selector = "article"
title = "h2"
TOML

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

run() {
  local label=$1 limits=$2 p=$3
  # sh sets the limits, then becomes serve (exec): $! is serve's pid.
  sh -c "cd \"$work\" && $limits && exec \"\$0\" \"\$@\"" "$bin" serve \
    --config "$work/bench.toml" --listen "127.0.0.1:$p" 2>"$work/serve-$p.log" &
  pid=$!
  for _ in $(seq 300); do
    grep -q "listening on" "$work/serve-$p.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "listening on" "$work/serve-$p.log" || { echo "serve did not start:"; cat "$work/serve-$p.log"; exit 1; }
  python3 - "$p" "$pid" "$idle" "$label" <<'PY'
import socket, statistics, sys, time
port, pid, n, label = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]

def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

def get(path):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data

time.sleep(0.5)
before = rss_kb()
t = time.perf_counter()
held, failed = [], 0
for _ in range(n):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        failed += 1
opened_s = time.perf_counter() - t
lat = []
for _ in range(200):
    t = time.perf_counter()
    answer = get("/healthz")
    lat.append((time.perf_counter() - t) * 1000)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
after = rss_kb()
metrics = {}
for line in get("/metrics").decode().splitlines():
    if line.startswith("pagefeed_http_"):
        k, v = line.rsplit(" ", 1)
        metrics[k] = v
lat.sort()
print(f"{label}: {len(held)} idle connections opened in {opened_s:.2f} s ({failed} did not connect)")
print(f"  GET /healthz x200 while held: median {statistics.median(lat):.2f} ms, "
      f"p99 {lat[197]:.2f} ms, max {lat[-1]:.2f} ms")
print(f"  open {metrics.get('pagefeed_http_connections')} of max "
      f"{metrics.get('pagefeed_http_connections_max')}, shed "
      f"{metrics.get('pagefeed_http_connections_shed_total')}, accept errors "
      f"{metrics.get('pagefeed_http_accept_errors_total')}")
print(f"  VmRSS {before} kB -> {after} kB: {(after - before) / max(len(held), 1):.1f} kB per "
      f"connection held")
PY
  grep -E "open-file limit|HTTP limits" "$work/serve-$p.log" | sed 's/^/  log: /'
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

run "soft limit 1024" "ulimit -Sn 1024" "$port"
run "hard limit 512" "ulimit -Sn 256 && ulimit -Hn 512" "$((port + 1))"

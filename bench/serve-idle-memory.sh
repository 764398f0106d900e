#!/usr/bin/env bash
# Resident memory of an idle `pagefeed serve` with 100 feeds configured.
#
# A local upstream (bench/upstream.py) listens on 100 loopback addresses, 127.0.0.2 ...
# 127.0.0.101, and answers every GET after 100 ms with a small listing page unique to its host.
# The config has one scraped feed per host (rss, atom and json) with default settings and
# refresh = "1h". `serve` starts with an empty state, refreshes all 100 feeds (counted in
# /metrics), then sits idle for 3 s; the script then reads VmRSS (resident now) and VmHWM (peak
# resident) from /proc/PID/status. Target: under 40 MB idle.
#
#   bash bench/serve-idle-memory.sh    # ~10 s after the release build
#   MALLOC_ARENA_MAX=2 bash bench/serve-idle-memory.sh   # the environment reaches `serve`
#   PAGEFEED_BIN=/path/to/older/pagefeed bash bench/serve-idle-memory.sh   # a before/after figure
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

feeds=${FEEDS:-100}
port=${PORT:-18960}
idle=${IDLE:-3}

ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet
bin="${PAGEFEED_BIN:-$root/target/release/pagefeed}"
helper="$root/bench/upstream.py"
work=$(mktemp -d)
cleanup() {
  [ -n "${upstream_pid:-}" ] && kill "$upstream_pid" 2>/dev/null || true
  [ -n "${upstream_pid:-}" ] && wait "$upstream_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 "$helper" serve --hosts "$feeds" --port "$port" --delay 0.1 \
  --ready "$work/ready" --lifetime 300 >"$work/upstream.log" 2>&1 &
upstream_pid=$!
for _ in $(seq 300); do
  [ -s "$work/ready" ] && break
  kill -0 "$upstream_pid" 2>/dev/null || { echo "upstream failed:"; cat "$work/upstream.log"; exit 1; }
  sleep 0.1
done
[ -s "$work/ready" ] || { echo "upstream did not start"; exit 1; }
# Other work on the machine skews the figures: say how busy it was.
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

python3 "$helper" config --feeds "$feeds" --port "$port" --refresh 1h >"$work/bench.toml"
python3 "$helper" drive --feeds "$feeds" --log "$work/serve.log" --cwd "$work" --idle "$idle" \
  --timeout 120 -- "$bin" serve --config "$work/bench.toml" >"$work/report.json"

python3 - "$work/report.json" "$feeds" "$idle" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
st = r["status_after_idle"]
kb = lambda k: int(st[k].split()[0])
print(f'{sys.argv[2]} feeds, all refreshed after {r["all_refreshed_s"]:.2f} s '
      f'(outcomes {r["outcomes"]}), then idle {sys.argv[3]} s:')
print(f'  VmRSS  {kb("VmRSS"):7d} kB  ({kb("VmRSS") / 1024:.1f} MiB)   resident now; target < 40 MB')
print(f'  VmHWM  {kb("VmHWM"):7d} kB  ({kb("VmHWM") / 1024:.1f} MiB)   peak resident')
print(f'  RssAnon {kb("RssAnon")} kB, RssFile {kb("RssFile")} kB, VmSize {kb("VmSize")} kB, '
      f'threads {st["Threads"]}; serve exit {r["exit_code"]}')
PY

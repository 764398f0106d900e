#!/usr/bin/env bash
# Whole-process cost of `pagefeed build` on the generated 1 MB listing page (1,000 entries),
# read from a local file: wall time and peak RSS, SQLite included.
#
#   bash bench/build-1mb.sh    # 10 runs each: fresh state; existing state with the same page;
#                              # existing state with the page's bytes changed (same entries)
#   RUNS=20 ENTRIES=1000 bash bench/build-1mb.sh
#
# The page and its config come from the same generator as `cargo bench --bench extract`
# (benches/common/mod.rs), through the bench binary's generator mode. Targets (issue 2):
# under 100 ms and under 40 MB peak memory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
runs="${RUNS:-10}"
entries="${ENTRIES:-1000}"

tmp="$(mktemp -d -t pagefeed-bench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

cd "$root"
echo "== generating the page ($entries entries) with the bench generator" >&2
PAGEFEED_BENCH_GEN="$entries" PAGEFEED_BENCH_OUT="$tmp" cargo bench --quiet --bench extract >&2
echo "== cargo build --release" >&2
cargo build --release --quiet --bin pagefeed --example peak_rss >&2

bin="$target_dir/release/pagefeed"
PEAK_RSS="$target_dir/release/examples/peak_rss" python3 - "$bin" "$tmp" "$runs" <<'PY'
import os
import shutil
import statistics
import subprocess
import sys
import time

bin_path, tmp, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = os.path.join(tmp, "c.toml")
page = os.path.join(tmp, "page.html")
TIME_TARGET_MS = 100.0
RSS_TARGET_MB = 40.0


def reset():
    """A fresh state: no history, no lock, no feeds."""
    for name in os.listdir(tmp):
        if name in ("c.toml", "page.html"):
            continue
        path = os.path.join(tmp, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def run():
    """One `pagefeed build`: (wall seconds, peak RSS in bytes, CPU seconds, stderr)."""
    # examples/peak_rss measures it: Python's own wait4 would count this script's memory in
    # the child's peak.
    out = os.path.join(os.path.dirname(tmp), os.path.basename(tmp) + ".peak")
    proc = subprocess.run(
        [os.environ["PEAK_RSS"], out, bin_path, "build", "--config", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    err = proc.stderr.decode(errors="replace")
    kib, ns, code, cpu_us = open(out).read().split()
    os.remove(out)
    if proc.returncode != 0 or code != "0":
        sys.exit(f"pagefeed build exited {code}:\n{err}")
    return int(ns) / 1e9, int(kib) * 1024, int(cpu_us) / 1e6, err.strip()


def touch_page(n):
    """Change the page's bytes (not its entries), so the build cannot skip it as unchanged."""
    with open(page, "a") as f:
        f.write(f"<!-- run {n} -->\n")


def series(fresh, change_page=False):
    walls, rss, cpus, line = [], [], [], ""
    for n in range(runs):
        if fresh:
            reset()
        if change_page:
            touch_page(n)
        w, r, c, line = run()
        walls.append(w)
        rss.append(r)
        cpus.append(c)
    return walls, rss, cpus, line


def report(label, walls, rss, cpus, line):
    ms = sorted(w * 1000 for w in walls)
    cpu_ms = statistics.median(c * 1000 for c in cpus)
    mb = [r / (1024 * 1024) for r in rss]
    med, peak = statistics.median(ms), max(mb)
    print(f"{label} ({len(ms)} runs; last said: {line})")
    print(f"  wall time: median {med:.1f} ms, min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms"
          f"  -> target < {TIME_TARGET_MS:.0f} ms: {'ok' if med < TIME_TARGET_MS else 'MISSED'}")
    print(f"  CPU time (user+sys): median {cpu_ms:.1f} ms  (a lower bound for the wall time on an idle machine)")
    print(f"  peak RSS:  max {peak:.1f} MB, median {statistics.median(mb):.1f} MB"
          f"  -> target < {RSS_TARGET_MB:.0f} MB: {'ok' if peak < RSS_TARGET_MB else 'MISSED'}")
    return med < TIME_TARGET_MS and peak < RSS_TARGET_MB


size = os.path.getsize(page)
print(f"page: {size} bytes ({size / 1e6:.2f} MB, {size / 2**20:.2f} MiB); binary: {os.path.relpath(bin_path)}")
print(f"command: pagefeed build --config <tmp>/c.toml  (MB = 2^20 bytes)")
print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (wall times mean little on a busy machine)")
reset()
run()  # warm-up: page cache, binary loaded
ok = report("fresh state (history, lock and feeds deleted before each run)", *series(True))
reset()
run()  # create the state the next series finds
ok &= report("existing state, same page (unchanged bytes: the build may skip the page)", *series(False))
ok &= report("existing state, page bytes changed (a comment appended; same 1,000 entries, none new)",
             *series(False, change_page=True))
print(f"load average after: {os.getloadavg()[0]:.2f}")
print("all targets met" if ok else "some targets MISSED")
PY

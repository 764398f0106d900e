#!/usr/bin/env bash
# pagefeed/baseline by CPU time (user+sys) rather than wall time: the same two sides as
# `cargo bench --bench extract`, run in a loop by the bench binary's loop mode
# (PAGEFEED_BENCH_LOOP), one process per side, best of 3. On a shared or busy machine the
# wall times criterion reports swing with the load; CPU time mostly does not.
#
#   bash bench/cpu-ratio.sh            # 20, 1,000 and 20,000 entries
#   SIZES="1000" bash bench/cpu-ratio.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

echo "== building the bench binary" >&2
bin="$(cargo bench --bench extract --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "extract" and m.get("executable"):
        print(m["executable"])
')"
if [ -z "$bin" ]; then
    echo "could not build the extract bench; run: cargo bench --bench extract --no-run" >&2
    exit 1
fi

python3 - "$bin" "${SIZES:-20 1000 20000}" <<'PY'
import os
import subprocess
import sys

bin_path, sizes = sys.argv[1], [int(s) for s in sys.argv[2].split()]
TARGET = 1.3


def cpu(side, entries, iterations):
    """Best-of-3 CPU seconds of one process running `side` `iterations` times."""
    best = float("inf")
    for _ in range(3):
        env = dict(os.environ, PAGEFEED_BENCH_LOOP=f"{side}:{entries}:{iterations}")
        proc = subprocess.Popen([bin_path], env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{side} {entries} failed")
        best = min(best, usage.ru_utime + usage.ru_stime)
    return best


print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
print(f"{'entries':>8}  {'baseline':>11}  {'pagefeed':>11}  {'ratio':>6}  target <= {TARGET}x  (CPU time per run)")
worst = 0.0
for entries in sizes:
    # About 2 s of work per process, whatever the size.
    iterations = max(3, min(1500, 80_000 // entries))
    setup = cpu("setup", entries, iterations)
    base = (cpu("baseline", entries, iterations) - setup) / iterations
    pf = (cpu("pagefeed", entries, iterations) - setup) / iterations
    ratio = pf / base
    worst = max(worst, ratio)
    print(f"{entries:>8}  {base * 1e3:8.3f} ms  {pf * 1e3:8.3f} ms  {ratio:5.2f}x  {'ok' if ratio <= TARGET else 'OVER'}",
          flush=True)
print(f"worst ratio: {worst:.2f}x ({'within' if worst <= TARGET else 'ABOVE'} the {TARGET}x target)")
PY

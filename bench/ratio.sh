#!/usr/bin/env bash
# Print pagefeed/baseline mean-time ratios per page size from the last
# `cargo bench --bench extract` run (criterion's target/criterion/extract_*/.../new/estimates.json).
#
# Usage: bash bench/ratio.sh [CRITERION_DIR]
# The default directory is $CARGO_TARGET_DIR/criterion, else <repo>/target/criterion.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
dir="${1:-${CARGO_TARGET_DIR:-$root/target}/criterion}"

if [ ! -d "$dir" ]; then
    echo "no criterion results in $dir; run: cargo bench --bench extract" >&2
    exit 1
fi

python3 - "$dir" <<'PY'
import json
import os
import sys

crit = sys.argv[1]
TARGET = 1.3


def mean_ns(group, func, size):
    path = os.path.join(crit, group, func, size, "new", "estimates.json")
    try:
        with open(path) as f:
            est = json.load(f)
    except FileNotFoundError:
        return None
    m = est["mean"]
    return m["point_estimate"], m["confidence_interval"]["lower_bound"], m["confidence_interval"]["upper_bound"]


def fmt(ns):
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.0f} ns"


groups = sorted(
    (g for g in os.listdir(crit) if g.startswith("extract_") and g[8:].isdigit()),
    key=lambda g: int(g[8:]),
)
if not groups:
    sys.exit(f"no extract_* groups in {crit}; run: cargo bench --bench extract")

print(f"{'entries':>8}  {'baseline':>12}  {'pagefeed':>12}  {'ratio':>6}  target <= {TARGET}x")
worst = 0.0
detail_rows = []
for g in groups:
    size = g[8:]
    base = mean_ns(g, "baseline", size)
    pf = mean_ns(g, "pagefeed", size)
    if base is None or pf is None:
        print(f"{size:>8}  {fmt(base and base[0]):>12}  {fmt(pf and pf[0]):>12}  {'-':>6}  incomplete")
        continue
    ratio = pf[0] / base[0]
    worst = max(worst, ratio)
    verdict = "ok" if ratio <= TARGET else "OVER"
    print(f"{size:>8}  {fmt(base[0]):>12}  {fmt(pf[0]):>12}  {ratio:>5.2f}x  {verdict}"
          f"   (95% CI baseline {fmt(base[1])}..{fmt(base[2])}, pagefeed {fmt(pf[1])}..{fmt(pf[2])})")
    parts = {k: mean_ns(g, k, size) for k in ("parse_only", "scrape_only", "render_only")}
    if any(parts.values()):
        detail_rows.append((size, base[0], parts))

if detail_rows:
    print()
    print("detail (PAGEFEED_BENCH_DETAIL=1 run), as a share of the baseline:")
    print(f"{'entries':>8}  {'parse_only':>18}  {'scrape_only':>18}  {'render_only':>18}")
    for size, base, parts in detail_rows:
        cells = []
        for k in ("parse_only", "scrape_only", "render_only"):
            v = parts[k]
            cells.append("-" if v is None else f"{fmt(v[0])} ({v[0] / base:.2f}x)")
        print(f"{size:>8}  {cells[0]:>18}  {cells[1]:>18}  {cells[2]:>18}")

print()
print(f"worst ratio: {worst:.2f}x ({'within' if worst <= TARGET else 'ABOVE'} the {TARGET}x target)")
PY

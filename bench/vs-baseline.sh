#!/usr/bin/env bash
# pagefeed against the straightforward program of issue 9 (examples/baseline.rs: scraper +
# rss + atom_syndication, parse, select with the same selectors, write RSS and Atom, no
# history), whole processes, alternated in one run.
#
#   bash bench/vs-baseline.sh                 # 10 rounds, callgrind once per case and side
#   ROUNDS=20 CALLGRIND=0 bash bench/vs-baseline.sh
#   SMALL=200000 bash bench/vs-baseline.sh    # entries on the small-entry page
#   PAGEFEED_BIN=/path/to/older/pagefeed bash bench/vs-baseline.sh   # a before/after figure
#   CALLGRIND_SMALL=1 ...   # also count instructions and the heap on the small-entry and 10 MB
#                           # pages (slow)
#   LARGE=0 bash bench/vs-baseline.sh         # without the 10 MB page
#
# Cases: cold build of the generated 1 MB page (1,000 entries, benches/common); cold build of
# the same kind of page at about 10 MB (10,000 entries); cold build of
# a page of 200,000 small entries; an unchanged rebuild of the 1 MB page (same bytes, history
# present; the baseline has no history, so it does its whole job again). Prints the median
# wall time, the instruction count (valgrind --tool=callgrind, one run each), the peak RSS
# (examples/peak_rss: the child's ru_maxrss, started from a small process, since Python's own
# peak would count in a child it starts) and their ratios pagefeed / baseline, and pagefeed's
# peak RSS as a multiple of the page size; with valgrind, also the peak heap (massif) of the
# cold builds per page byte: RSS includes some 9 MiB of executable, runtime and SQLite that any
# page costs (the floor, measured on a 10-entry page).
# Targets (issue 9): cold <= 1.0x, unchanged <= 0.3x, memory <= 5x the page.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
rounds="${ROUNDS:-10}"
small="${SMALL:-200000}"
large="${LARGE:-10000}"
callgrind="${CALLGRIND:-1}"
callgrind_small="${CALLGRIND_SMALL:-0}"
pf_bin="${PAGEFEED_BIN:-$target_dir/release/pagefeed}"

tmp="$(mktemp -d -t pagefeed-vs.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

cd "$root"
echo "== generating the 1 MB page with the bench generator" >&2
mkdir -p "$tmp/big" "$tmp/small" "$tmp/large"
PAGEFEED_BENCH_GEN=1000 PAGEFEED_BENCH_OUT="$tmp/big" cargo bench --quiet --bench extract >&2
if [ "$large" != 0 ]; then
    echo "== generating the ~10 MB page ($large entries)" >&2
    PAGEFEED_BENCH_GEN="$large" PAGEFEED_BENCH_OUT="$tmp/large" cargo bench --quiet --bench extract >&2
    # Over the default max_page_bytes (10,000,000).
    sed -i 's/^base_url = .*/&\nmax_page_bytes = 100000000/' "$tmp/large/c.toml"
fi
echo "== cargo build --release (pagefeed and examples/baseline)" >&2
cargo build --release --quiet --bin pagefeed --example baseline --example peak_rss >&2
if [ "$callgrind" = 1 ] && ! command -v valgrind >/dev/null; then
    echo "valgrind not found: instruction counts skipped (apt-get install valgrind)" >&2
    callgrind=0
fi

PEAK_RSS="$target_dir/release/examples/peak_rss" \
python3 - "$pf_bin" "$target_dir/release/examples/baseline" "$tmp" \
    "$rounds" "$small" "$callgrind" "$callgrind_small" "$large" <<'PY'
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

pf_bin, base_bin, tmp, rounds, small, callgrind, callgrind_small, large = sys.argv[1:]
rounds, small, large = int(rounds), int(small), int(large)
callgrind, callgrind_small = callgrind == "1", callgrind_small == "1"
MB = 2**20

# The small-entry page and its config; the same with 10 entries, for the memory floor.
def small_page(sdir, entries):
    os.makedirs(sdir, exist_ok=True)
    with open(os.path.join(sdir, "page.html"), "w") as f:
        f.write("<!doctype html><html><head><title>Small entries</title></head><body><ul>\n")
        for n in range(entries):
            f.write(f'<li class="e"><a href="/{n}">Entry {n}</a><time>2020-10-{n % 28 + 1:02}</time>\n')
        f.write("</ul></body></html>\n")
    with open(os.path.join(sdir, "c.toml"), "w") as f:
        f.write('''[settings]
output_dir = "out"
state = "state.db"
base_url = "https://feeds.example.org/"
max_page_bytes = 100000000

[feeds.small]
url = "page.html"
site_url = "https://news.example.org/"
max_items = 50

[feeds.small.items]
selector = "li.e"
title = "a"
link = "a"
date = "time"
''')


small_page(os.path.join(tmp, "small"), small)
small_page(os.path.join(tmp, "floor"), 10)

# Selectors as in each config: item title link summary authors date image categories.
BIG_SEL = ["article.post", "h3.entry-title a", "h3.entry-title a", "p.subtitle",
           ".byline .author", ".byline time", "img.wp-post-image", ".tags a[rel=tag]"]
SMALL_SEL = ["li.e", "a", "a", "-", "-", "time", "-", "-"]


def reset(d):
    for name in os.listdir(d):
        if name in ("c.toml", "page.html"):
            continue
        p = os.path.join(d, name)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)


def cmd(side, d):
    if side == "pagefeed":
        return [pf_bin, "build", "--config", os.path.join(d, "c.toml")]
    sel = SMALL_SEL if d.endswith("small") else BIG_SEL
    return [base_bin, os.path.join(d, "page.html"), os.path.join(d, "base-out"), "50", *sel]


def run(argv):
    """(wall s, peak RSS bytes) of one process, measured by examples/peak_rss (Python's own
    wait4 would count this script's memory in the child's peak)."""
    out = os.path.join(tmp, "peak")
    p = subprocess.run([os.environ["PEAK_RSS"], out, *argv], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    kib, ns, code, _ = open(out).read().split()
    if p.returncode != 0 or code != "0":
        sys.exit(f"{argv[0]} failed:\n{p.stderr.decode(errors='replace')}")
    return int(ns) / 1e9, int(kib) * 1024


def instructions(argv):
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"valgrind {argv[0]} failed:\n{p.stderr[-2000:]}")
    m = re.search(r"Collected\s*:\s*([0-9]+)", p.stderr)
    return int(m.group(1)) if m else None


def heap_peak(argv):
    """Peak heap bytes (valgrind massif: the allocations, with malloc's own overhead; not the
    executable's pages, which are the same for every page)."""
    out = os.path.join(tmp, "massif.out")
    p = subprocess.run(["valgrind", "--tool=massif", f"--massif-out-file={out}", *argv],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"valgrind {argv[0]} failed:\n{p.stderr[-2000:]}")
    peak = heap = 0
    with open(out) as f:
        for line in f:
            if line.startswith("mem_heap_B="):
                heap = int(line.split("=")[1])
            elif line.startswith("mem_heap_extra_B="):
                peak = max(peak, heap + int(line.split("=")[1]))
    return peak


big, sm, lg = (os.path.join(tmp, d) for d in ("big", "small", "large"))
# (label, dir, fresh state before each pagefeed run?)
CASES = [("cold build, 1 MB page (1,000 entries)", big, True)]
if large:
    CASES.append((f"cold build, large page ({large:,} entries)", lg, True))
CASES += [(f"cold build, {small:,} small entries", sm, True),
          ("unchanged rebuild, 1 MB page (same bytes)", big, False)]

print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {rounds} rounds, alternated")
print(f"pagefeed: {os.path.relpath(pf_bin)}   baseline: {os.path.relpath(base_bin)}")


def report(label, size, walls, rss, ins, heap):
    wb, wp = statistics.median(walls["baseline"]), statistics.median(walls["pagefeed"])
    rb, rp = max(rss["baseline"]), max(rss["pagefeed"])
    print(f"\n{label}: page {size:,} bytes ({size / MB:.2f} MiB)")
    print(f"  wall median   baseline {wb * 1e3:8.1f} ms   pagefeed {wp * 1e3:8.1f} ms   ratio {wp / wb:5.2f}x")
    if ins.get("baseline") and ins.get("pagefeed"):
        ib, ip = ins["baseline"], ins["pagefeed"]
        print(f"  instructions  baseline {ib:>12,}   pagefeed {ip:>12,}   ratio {ip / ib:5.2f}x")
    print(f"  peak RSS      baseline {rb / MB:8.1f} MiB  pagefeed {rp / MB:8.1f} MiB  ratio {rp / rb:5.2f}x")
    print(f"  pagefeed peak RSS / page size: {rp / size:.1f}x   (baseline {rb / size:.1f}x)")
    if heap.get("baseline") and heap.get("pagefeed"):
        hb, hp = heap["baseline"], heap["pagefeed"]
        print(f"  peak heap     baseline {hb / MB:8.1f} MiB  pagefeed {hp / MB:8.1f} MiB  "
              f"per page byte: pagefeed {hp / size:.1f}x, baseline {hb / size:.1f}x")
    sys.stdout.flush()
    if label.startswith("cold"):
        above.append((label, size, rp))


above = []


for label, d, fresh in CASES:
    size = os.path.getsize(os.path.join(d, "page.html"))
    reset(d)
    run(cmd("pagefeed", d))  # warm-up; leaves the state the unchanged case needs
    run(cmd("baseline", d))
    walls = {"pagefeed": [], "baseline": []}
    rss = {"pagefeed": [], "baseline": []}
    for _ in range(rounds):
        for side in ("baseline", "pagefeed"):
            if side == "pagefeed" and fresh:
                reset(d)
            w, r = run(cmd(side, d))
            walls[side].append(w)
            rss[side].append(r)
    ins = {}
    if callgrind and (d == big or callgrind_small):
        for side in ("baseline", "pagefeed"):
            if side == "pagefeed" and fresh:
                reset(d)
            ins[side] = instructions(cmd(side, d))
    heap = {}
    if callgrind and fresh and (d == big or callgrind_small):
        for side in ("baseline", "pagefeed"):
            if side == "pagefeed":
                reset(d)
            heap[side] = heap_peak(cmd(side, d))
    report(label, size, walls, rss, ins, heap)

# What a build costs before any page: the binary's code, the runtime, SQLite (a 10-entry page).
floor_dir = os.path.join(tmp, "floor")
floor = 0
for _ in range(3):
    reset(floor_dir)
    floor = max(floor, run(cmd("pagefeed", floor_dir))[1])
print(f"\npagefeed floor (cold build of a 10-entry page): {floor / MB:.1f} MiB; the peaks above less"
      " the floor, per page byte:")
for label, size, rp in above:
    print(f"  {label}: {(rp - floor) / size:.1f}x")

print(f"\nload average after: {os.getloadavg()[0]:.2f}")
PY

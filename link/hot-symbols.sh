#!/usr/bin/env bash
# Regenerates link/hot-symbols.txt: the functions of the release binary that everyday runs
# execute, which build.rs hands to the linker (lld's --symbol-ordering-file) so they sit
# together at the start of .text.
#
# Why: the kernel maps an executable's code 64 KB at a time around each page it touches, so code
# that runs scattered over the 18 MB of .text keeps about 9.5 MiB of it resident. The ~2 MB of
# functions a run executes, laid out together, keep about 2.5 MiB resident (peak RSS of a cold
# build of the 1 MB bench page: 17.0 -> 10.3 MiB).
#
# The names carry rustc's symbol hashes, which change with the toolchain and with dependency
# versions: a stale list only loses the gain (the linker skips names it does not find), and
# `.ci/run` says how many of the names the release binary still has. Run this after a toolchain
# or dependency update (about 10 minutes: a release build, then the workloads under valgrind):
#
#   bash link/hot-symbols.sh
#
# Workloads (valgrind --tool=callgrind, functions of the pagefeed object that ran): the offline
# demo built twice (written, then unchanged), a generated 300-entry page built by the streaming
# and by the DOM extractor, `check`, and `serve` refreshing two feeds from a loopback upstream
# (bench/upstream.py) and answering feed, status-page and metrics requests. Within each workload
# the hottest functions come first; each name is listed once, at its first workload.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
cargo build --release --locked --quiet
bin="$root/target/release/pagefeed"
port=${PORT:-18961}
up_port=${UP_PORT:-18962}
work=$(mktemp -d)
cleanup() {
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
  [ -n "${up_pid:-}" ] && kill "$up_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cg() {
  local name=$1
  shift
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/$name.cg" "$@" \
    >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
}

echo "== demo build, then unchanged" >&2
cg demo "$bin" build --out "$work/demo"
cg demo-again "$bin" build --out "$work/demo"
cg check "$bin" check

echo "== generated page: streaming, then the DOM" >&2
python3 - "$work/page.html" <<'PY'
import sys
rows = [f'<article class="post"><h3 class="entry-title"><a href="/s/{i}/">Story {i}</a></h3>'
        f'<p class="subtitle">Subtitle {i} with <b>markup</b> &amp; entities.</p>'
        f'<div class="byline"><span class="author">Writer {i % 7}</span>'
        f'<time datetime="2024-10-{1 + i % 28:02d}T0{i % 10}:15:00+09:00">October {1 + i % 28}, 2024</time></div>'
        f'<img class="wp-post-image" src="/img/{i}.jpg"><a rel="tag" href="/t/{i % 5}">Tag {i % 5}</a></article>'
        for i in range(300)]
open(sys.argv[1], "w").write("<!doctype html><html><head><title>Hot</title></head><body><main>"
                             + "\n".join(rows) + "</main></body></html>")
PY
cat >"$work/page.toml" <<'TOML'
[settings]
output_dir = "out"
state = "state.db"
base_url = "https://feeds.example.org/"

[feeds.page]
url = "page.html"
site_url = "https://news.example.org/"
time_zone = "Asia/Seoul"

[feeds.page.items]
selector = "article.post"
title = "h3.entry-title a"
link = "h3.entry-title a"
summary = "p.subtitle"
authors = ".byline .author"
date = ".byline time"
image = "img.wp-post-image"
categories = "a[rel=tag]"
TOML
cg stream "$bin" build --config "$work/page.toml"
rm -rf "$work/out" "$work/state.db"*
PAGEFEED_EXTRACT=dom cg dom "$bin" build --config "$work/page.toml"

echo "== serve: refreshes from a loopback upstream, then answers" >&2
python3 bench/upstream.py serve --hosts 2 --port "$up_port" --delay 0.01 \
  --ready "$work/ready" --lifetime 300 >"$work/upstream.log" 2>&1 &
up_pid=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
mkdir -p "$work/serve"
python3 bench/upstream.py config --feeds 2 --port "$up_port" --refresh 1h \
  | sed "s/^listen = .*/listen = \"127.0.0.1:$port\"/" >"$work/serve/serve.toml"
(cd "$work/serve" && exec valgrind --tool=callgrind --demangle=no \
  --callgrind-out-file="$work/serve.cg" "$bin" serve --config serve.toml >"$work/serve.log" 2>&1) &
serve_pid=$!
python3 - "$port" <<'PY'
import http.client, sys, time
port = int(sys.argv[1])
def get(path, headers={}):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    r.read()
    return r
for _ in range(1200):
    try:
        r = get("/feeds/f0001.rss")
        if r.status == 200:
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    sys.exit("serve did not publish its feeds")
for name in ("f0000", "f0001"):
    for ext in ("rss", "atom", "json"):
        r = get(f"/feeds/{name}.{ext}")
        get(f"/feeds/{name}.{ext}", {"If-None-Match": r.getheader("ETag")})
        get(f"/feeds/{name}.{ext}", {"Accept-Encoding": "gzip"})
for path in ("/", "/metrics", "/feeds.opml", "/feeds/nope.rss"):
    get(path)
PY
kill -TERM "$serve_pid" 2>/dev/null || true
wait "$serve_pid" || true
serve_pid=
grep -q "pagefeed serve: listening" "$work/serve.log" || { cat "$work/serve.log"; exit 1; }

python3 - "$work" "$root/link/hot-symbols.txt" demo demo-again check stream dom serve <<'PY'
import re, sys
work, out, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
names, seen = [], set()
for run in runs:
    obs, fns, cost = {}, {}, {}
    ob = fn = None
    skip = False
    for line in open(f"{work}/{run}.cg"):
        line = line.rstrip("\n")
        m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                obs[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                ob = obs[m.group(2)]
            continue
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                fns[m.group(2)] = m.group(3)
            if m.group(1) == "fn":
                fn = fns[m.group(2)] if ob and ob.endswith("/pagefeed") else None
                if fn is not None:
                    fn = re.sub(r"'\d+$", "", fn)
                    cost.setdefault(fn, 0)
            continue
        if line.startswith("calls="):
            skip = True  # the next line is the call's inclusive cost, not the function's own
            continue
        if skip:
            skip = False
            continue
        parts = line.split()
        if fn is not None and len(parts) >= 2 and parts[1].isdigit() and line[:1] in "0123456789+-*":
            cost[fn] += int(parts[1])
    before = len(names)
    for name, _ in sorted(cost.items(), key=lambda kv: -kv[1]):
        if name not in seen:
            seen.add(name)
            names.append(name)
    print(f"{run}: {len(cost)} functions ran, {len(names) - before} not in an earlier run",
          file=sys.stderr)
with open(out, "w") as f:
    f.write("# Functions of the release binary that everyday runs execute, hottest first per workload.\n")
    f.write("# Generated by link/hot-symbols.sh; read by build.rs (lld --symbol-ordering-file).\n")
    f.write("\n".join(names) + "\n")
print(f"{out}: {len(names)} functions", file=sys.stderr)
PY

#!/usr/bin/env bash
# Instructions `pagefeed serve` spends per answer to a feed request, counted by valgrind's
# callgrind (stable where wall-clock figures on a shared machine are not).
#
# serve runs under callgrind twice, answering N1 and then N2 requests for the same feed on one
# keep-alive connection (a 304 to If-None-Match, and a plain 200); the difference of the two
# totals over N2 - N1 is the cost of one answer, start-up and shutdown cancelling out.
#
#   bash bench/serve-instructions.sh
#   PAGEFEED_BIN=/path/to/older/pagefeed bash bench/serve-instructions.sh   # before/after
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
cargo build --release --quiet
bin="${PAGEFEED_BIN:-$root/target/release/pagefeed}"
n1=${N1:-500}
n2=${N2:-2500}
port=${PORT:-18941}
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 - "$work/page.html" <<'PY'
import sys
rows = [f'<article class="post"><h3><a href="/s/{i}/">Story {i}</a></h3><p class="subtitle">Subtitle {i}.</p>'
        f'<time>October {1 + i % 28}, 2020</time></article>' for i in range(100)]
open(sys.argv[1], "w").write("<!doctype html><html><head><title>Bench</title></head><body>" + "\n".join(rows) + "</body></html>")
PY
cat > "$work/bench.toml" <<TOML
[settings]
output_dir = "out"
state = "state.db"
base_url = "https://feeds.example.org/"
listen = "127.0.0.1:$port"
refresh = "1h"

[feeds.bench]
url = "page.html"
site_url = "https://news.example.org/"
formats = ["rss"]

[feeds.bench.items]
selector = "article.post"
title = "h3 a"
summary = ".subtitle"
date = "time"
TOML
"$bin" build --config "$work/bench.toml" >/dev/null 2>&1

# Total instructions of one serve process that answers `n` requests with `header`.
count() {
  local n=$1 header=$2 out="$work/cg.out"
  rm -f "$out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" serve --config "$work/bench.toml" \
    >"$work/serve.log" 2>&1 &
  pid=$!
  python3 - "$port" "$n" "$header" <<'PY'
import http.client, sys, time
port, n, header = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for _ in range(600):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/feeds/bench.rss")
        r = c.getresponse(); r.read()
        if r.status == 200:
            etag = r.getheader("ETag")
            break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("serve did not answer")
headers = {"If-None-Match": etag} if header == "304" else {}
for _ in range(n):
    c.request("GET", "/feeds/bench.rss", headers=headers)
    r = c.getresponse(); r.read()
    if r.status != int(header):
        sys.exit(f"expected {header}, got {r.status}")
PY
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
  awk '/^summary:|^totals:/{print $2; exit}' "$out"
}

echo "instructions per answer (callgrind; ($n2 - $n1) requests on one keep-alive connection)"
for kind in 304 200; do
  a=$(count "$n1" "$kind")
  b=$(count "$n2" "$kind")
  echo "$kind: $(( (b - a) / (n2 - n1) )) instructions per answer   (totals $a, $b)"
done

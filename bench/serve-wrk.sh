#!/usr/bin/env bash
# Throughput of `pagefeed serve` against nginx serving the same feed bytes from a file.
#
# Both run on 127.0.0.1; wrk (5 s, 64 connections, 2 threads) alternates between them for two
# rounds, for a plain 200 and for a 304 (If-None-Match). Prints requests/s and the ratio
# pagefeed / nginx per round. Installs wrk and nginx from Debian's packages when missing.
#
#   bash bench/serve-wrk.sh            # ~45 s after the release build
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx

cargo build --release --quiet
bin="${PAGEFEED_BIN:-$root/target/release/pagefeed}"
work=$(mktemp -d)
cleanup() {
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A listing page big enough for a ~190 KB RSS feed.
python3 - "$work/page.html" <<'PY'
import sys
rows = []
for i in range(390):
    rows.append(f'''<article class="post"><h3><a href="/2020/10/story-{i}/">Story number {i}: a headline of a realistic length for a news site</a></h3>
<p class="subtitle">A subtitle that runs for a while, as subtitles on news sites do, describing story {i} in one sentence or two.</p>
<div class="byline"><span class="author">Reporter {i % 7}</span> <time>October {1 + i % 28}, 2020</time></div></article>''')
open(sys.argv[1], "w").write("<!doctype html><html><head><title>Bench</title></head><body>" + "\n".join(rows) + "</body></html>")
PY

port_serve=18931
port_nginx=18932
cat > "$work/bench.toml" <<EOF
[settings]
output_dir = "out"
state = "state.db"
base_url = "https://feeds.example.org/"
listen = "127.0.0.1:$port_serve"
refresh = "1h"

[feeds.bench]
url = "page.html"
site_url = "https://news.example.org/"
max_items = 390
formats = ["rss"]

[feeds.bench.items]
selector = "article.post"
title = "h3 a"
summary = ".subtitle"
authors = ".byline .author"
date = ".byline time"
EOF
"$bin" build --config "$work/bench.toml" >/dev/null 2>&1
size=$(stat -c %s "$work/out/bench.rss")

"$bin" serve --config "$work/bench.toml" >"$work/serve.log" 2>&1 &
serve_pid=$!

mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  types { application/rss+xml rss; }
  server {
    listen 127.0.0.1:$port_nginx;
    location /feeds/ { alias $work/out/; etag on; }
  }
}
EOF
chmod -R a+rX "$work"   # nginx workers run as an unprivileged user
nginx -c "$work/nginx.conf"

url_serve="http://127.0.0.1:$port_serve/feeds/bench.rss"
url_nginx="http://127.0.0.1:$port_nginx/feeds/bench.rss"
for _ in $(seq 50); do
  curl -sf -o /dev/null "$url_serve" && curl -sf -o /dev/null "$url_nginx" && break
  sleep 0.2
done
if ! cmp -s <(curl -s "$url_serve") <(curl -s "$url_nginx"); then echo "the two servers do not serve the same bytes:"; curl -si "$url_serve" | head -c 400; echo; curl -si "$url_nginx" | head -c 400; exit 1; fi
etag_serve=$(curl -sI "$url_serve" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
etag_nginx=$(curl -sI "$url_nginx" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')

rps() { wrk -t2 -c64 -d5s "$@" 2>/dev/null | awk '/Requests\/sec/{print $2}'; }

echo "feed: $size bytes; wrk -t2 -c64 -d5s, alternated, two rounds"
printf '%-6s %-5s %12s %12s %7s\n' round kind nginx pagefeed ratio
for round in 1 2; do
  n200=$(rps "$url_nginx"); p200=$(rps "$url_serve")
  n304=$(rps -H "If-None-Match: $etag_nginx" "$url_nginx"); p304=$(rps -H "If-None-Match: $etag_serve" "$url_serve")
  printf '%-6s %-5s %12s %12s %7.2f\n' "$round" 200 "$n200" "$p200" "$(echo "$p200 / $n200" | bc -l)"
  printf '%-6s %-5s %12s %12s %7.2f\n' "$round" 304 "$n304" "$p304" "$(echo "$p304 / $n304" | bc -l)"
done
rss_kb=$(awk '/VmRSS/{print $2}' "/proc/$serve_pid/status")
echo "pagefeed serve resident memory after the runs: ${rss_kb} kB"

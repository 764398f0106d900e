#!/usr/bin/env python3
"""Helper for the `pagefeed serve` benchmarks (bench/serve-refresh.sh, bench/serve-idle-memory.sh).

Subcommands:

  serve   A slow upstream: one asyncio server per loopback address 127.0.0.2, 127.0.0.3, ...
          (one port), answering every GET after a fixed delay with a small listing page that
          is unique per host and path (Content-Length, ETag; a matching If-None-Match gets a
          304). Keep-alive, no blocking work per request. A control listener on 127.0.0.1:PORT
          answers /_stats (JSON: requests, peak and mean requests in flight, first and last
          request times) and /_reset.
  config  Print a config with one scraped feed per upstream host.
  client  The reference client: a minimal asyncio client that asks every host for /robots.txt
          and then /page on one connection, at most CONCURRENCY hosts at a time, and prints the
          seconds it took (JSON). What a client that does nothing else gets from this upstream.
  drive   Start `pagefeed serve`, find its address in the log, poll /metrics every 50 ms until
          N refreshes are counted, optionally idle and read /proc/PID/status, stop it with
          SIGTERM and print a JSON report.

Only loopback addresses are used.
"""

import argparse
import asyncio
import hashlib
import http.client
import ipaddress
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime

FIRST_HOST = ipaddress.IPv4Address("127.0.0.2")


def host(i):
    """The loopback address of upstream host number `i` (0-based): 127.0.0.2, 127.0.0.3, ..."""
    addr = FIRST_HOST + i
    if addr not in ipaddress.IPv4Network("127.0.0.0/8"):
        raise SystemExit(f"host {i} is outside 127.0.0.0/8")
    return str(addr)


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ----------------------------------------------------------------------------------------------
# serve


def page(hostname, path, items):
    rows = []
    for k in range(items):
        rows.append(
            f'<article class="post"><h3><a href="/{hostname}/story-{k}/">Story {k} from '
            f"{hostname}{path}: a headline of ordinary length</a></h3>\n"
            f'<p class="subtitle">Summary of story {k} on {hostname}, one sentence long.</p>\n'
            f'<div class="byline"><span class="author">Reporter {k % 3}</span> '
            f'<time datetime="2024-05-{1 + k:02d}T08:00:00Z">May {1 + k}, 2024</time></div>'
            f"</article>"
        )
    html = (
        f"<!doctype html><html lang=\"en\"><head><title>Listing of {hostname}</title></head>"
        f"<body><h1>{hostname}</h1>\n" + "\n".join(rows) + "\n</body></html>\n"
    )
    return html.encode()


class Stats:
    def __init__(self):
        self.reset()

    def reset(self):
        self.requests = 0
        self.not_modified = 0
        self.inflight = 0
        self.peak = 0
        self.area = 0.0  # integral of requests in flight over time
        self.last_change = None
        self.first = None  # wall-clock time of the first request
        self.last = None  # wall-clock time the last response was sent
        self.connections = 0
        self.cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])

    def _account(self, now):
        if self.last_change is not None:
            self.area += self.inflight * (now - self.last_change)
        self.last_change = now

    def begin(self):
        now = time.time()
        self._account(now)
        if self.first is None:
            self.first = now
        self.requests += 1
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)

    def end(self):
        now = time.time()
        self._account(now)
        self.inflight -= 1
        self.last = now

    def report(self):
        span = (self.last - self.first) if self.first and self.last else 0.0
        return {
            "requests": self.requests,
            "not_modified": self.not_modified,
            "connections": self.connections,
            "peak_in_flight": self.peak,
            "mean_in_flight": (self.area / span) if span > 0 else 0.0,
            "first_request": self.first,
            "last_response": self.last,
            "span_s": span,
            "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - self.cpu0,
        }


async def read_request(reader):
    """(method, path, headers) of the next request, or None at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        await reader.readexactly(length)
    return parts[0], parts[1], headers


def response(status, reason, headers, body=b""):
    head = [f"HTTP/1.1 {status} {reason}"]
    head += [f"{k}: {v}" for k, v in headers]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def serve(args):
    raise_fd_limit(args.hosts + 4096)
    stats = Stats()
    cache = {}

    def body_for(hostname, path):
        key = (hostname, path)
        if key not in cache:
            b = page(hostname, path, args.items)
            cache[key] = (b, '"' + hashlib.sha256(b).hexdigest()[:16] + '"')
        return cache[key]

    async def upstream(reader, writer):
        hostname = writer.get_extra_info("sockname")[0]
        stats.connections += 1
        try:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                method, path, headers = req
                stats.begin()
                try:
                    await asyncio.sleep(args.delay)
                    body, etag = body_for(hostname, path.split("?")[0])
                    common = [
                        ("Content-Type", "text/html; charset=utf-8"),
                        ("ETag", etag),
                        ("Cache-Control", "no-cache"),
                    ]
                    if headers.get("if-none-match") == etag:
                        stats.not_modified += 1
                        writer.write(response(304, "Not Modified", [("ETag", etag)]))
                    else:
                        writer.write(
                            response(200, "OK", common, b"" if method == "HEAD" else body)
                        )
                    await writer.drain()
                finally:
                    stats.end()
                if headers.get("connection", "").lower() == "close":
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def control(reader, writer):
        try:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                _, path, _ = req
                if path == "/_reset":
                    stats.reset()
                    out = b"{}"
                else:
                    out = json.dumps(stats.report()).encode()
                writer.write(response(200, "OK", [("Content-Type", "application/json")], out))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(control, "127.0.0.1", args.port, backlog=128)]
    for i in range(args.hosts):
        servers.append(
            await asyncio.start_server(upstream, host(i), args.port, backlog=512)
        )
    if args.ready:
        with open(args.ready, "w") as f:
            f.write(f"{args.hosts} hosts {host(0)}..{host(args.hosts - 1)} port {args.port}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Bounded: the benchmark scripts stop it; this is only a backstop.
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.lifetime)
    except asyncio.TimeoutError:
        pass
    for s in servers:
        s.close()


# ----------------------------------------------------------------------------------------------
# config


def config(args):
    out = [
        "[settings]",
        'output_dir = "out"',
        'state = "state.db"',
        'listen = "127.0.0.1:0"',
        f'refresh = "{args.refresh}"',
    ]
    if args.concurrency:
        out.append(f"concurrency = {args.concurrency}")
    if args.admin_token:
        out.append(f'admin_token = "{args.admin_token}"')
    out.append("")
    for i in range(args.feeds):
        name = f"f{i:04d}"
        out += [
            f"[feeds.{name}]",
            f'url = "http://{host(i)}:{args.port}/page"',
            'formats = ["rss", "atom", "json"]',
            "",
            f"[feeds.{name}.items]",
            'selector = "article.post"',
            'title = "h3 a"',
            'summary = ".subtitle"',
            'authors = ".byline .author"',
            'date = ".byline time"',
            "",
        ]
    sys.stdout.write("\n".join(out))


# ----------------------------------------------------------------------------------------------
# client


async def client(args):
    raise_fd_limit(args.hosts + 1024)
    sem = asyncio.Semaphore(args.concurrency)
    latencies = []

    async def one(i):
        h = host(i)
        async with sem:
            reader, writer = await asyncio.open_connection(h, args.port)
            try:
                for path in ("/robots.txt", "/page"):
                    t = time.monotonic()
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: {h}\r\n\r\n".encode())
                    await writer.drain()
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    await reader.readexactly(length)
                    latencies.append(time.monotonic() - t)
            finally:
                writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.hosts)))
    json.dump({"all_s": time.monotonic() - t0,
               "latency_median_s": statistics.median(latencies)}, sys.stdout)
    sys.stdout.write("\n")


# ----------------------------------------------------------------------------------------------
# drive

LISTENING = re.compile(r"pagefeed serve: listening on http://([^/\s]+)/")
REFRESHED = re.compile(r"^(\S+)\s+INFO\s.*\brefreshed\b.*\bseconds=([0-9.eE+-]+)")
FETCHES = re.compile(r'^pagefeed_fetches_total\{[^}]*outcome="([a-z_]+)"\}\s+([0-9.]+)', re.M)


def get(addr, path, timeout=5.0):
    h, p = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(p), timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "VmSize", "Threads"):
                out[k] = v.strip()
    return out


def proc_cpu(pid):
    """(user, system) CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def parse_log_time(text):
    # tracing's default timestamp: 2024-11-27T21:41:00.123456Z
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def drive(args):
    raise_fd_limit(8192)
    env = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(k, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.0/8,localhost"
    env["RUST_LOG"] = args.rust_log
    log = open(args.log, "w")
    wall0 = time.time()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        args.cmd, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=args.cwd
    )
    report = {"feeds": args.feeds, "loadavg_before": os.getloadavg()[0]}
    deadline = t0 + args.timeout

    def fail(msg):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        sys.stderr.write(f"drive: {msg}; log tail:\n")
        with open(args.log) as f:
            sys.stderr.write("".join(f.readlines()[-20:]))
        raise SystemExit(1)

    addr = None
    while addr is None:
        if proc.poll() is not None:
            fail(f"serve exited with {proc.returncode} before listening")
        if time.monotonic() > deadline:
            fail("serve did not say where it listens")
        with open(args.log) as f:
            m = LISTENING.search(f.read())
        if m:
            addr = m.group(1)
            report["listening_s"] = time.monotonic() - t0
        else:
            time.sleep(0.01)

    first = None
    counts = {}
    polls = 0
    while True:
        now = time.monotonic()
        if proc.poll() is not None:
            fail(f"serve exited with {proc.returncode} while refreshing")
        if now > deadline:
            fail(f"only {sum(counts.values())} of {args.feeds} refreshes after {args.timeout} s")
        try:
            status, text = get(addr, "/metrics")
        except OSError:
            status, text = 0, ""
        polls += 1
        if status == 200:
            counts = {}
            for outcome, n in FETCHES.findall(text):
                counts[outcome] = counts.get(outcome, 0) + int(float(n))
            done = sum(counts.values())
            if done >= 1 and first is None:
                first = time.monotonic() - t0
            if done >= args.feeds:
                report["all_refreshed_s"] = time.monotonic() - t0
                report["cpu_user_s"], report["cpu_sys_s"] = proc_cpu(proc.pid)
                break
        time.sleep(args.poll)
    report["first_refreshed_s"] = first
    report["outcomes"] = counts
    report["metrics_polls"] = polls

    if args.again_token:
        # Every feed once more, through the admin endpoint (it answers when the refresh is
        # done): the pages are unchanged, so this is the cost of an unchanged refresh.
        from concurrent.futures import ThreadPoolExecutor

        names = [f"f{i:04d}" for i in range(args.feeds)]
        cpu0 = sum(proc_cpu(proc.pid))
        t1 = time.monotonic()

        def refresh(name):
            h, p = addr.rsplit(":", 1)
            c = http.client.HTTPConnection(h, int(p), timeout=args.timeout)
            try:
                c.request("POST", f"/feeds/{name}/refresh",
                          headers={"Authorization": f"Bearer {args.again_token}"})
                r = c.getresponse()
                body = json.loads(r.read().decode() or "{}")
                return body.get("status", f"http {r.status}")
            except (OSError, ValueError) as e:
                return f"error {e}"
            finally:
                c.close()

        with ThreadPoolExecutor(max_workers=args.again_clients) as pool:
            statuses = list(pool.map(refresh, names))
        report["again_s"] = time.monotonic() - t1
        report["again_cpu_s"] = sum(proc_cpu(proc.pid)) - cpu0
        report["again_statuses"] = {s: statuses.count(s) for s in set(statuses)}

    if args.idle:
        time.sleep(args.idle)
        report["status_after_idle"] = proc_status(proc.pid)
        report["idle_s"] = args.idle

    proc.send_signal(signal.SIGTERM)
    try:
        report["exit_code"] = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        report["exit_code"] = "killed after 60 s"
    log.close()

    # The log's own view: "refreshed" lines with timestamps and per-refresh seconds.
    stamps, secs = [], []
    with open(args.log) as f:
        for line in f:
            m = REFRESHED.match(line)
            if m:
                try:
                    stamps.append(parse_log_time(m.group(1)))
                except ValueError:
                    continue
                secs.append(float(m.group(2)))
    if stamps:
        stamps.sort()
        report["log"] = {
            "refreshed_lines": len(stamps),
            "first_refreshed_s": stamps[0] - wall0,
            "last_refreshed_s": stamps[-1] - wall0,
            "refresh_seconds_median": statistics.median(secs),
            "refresh_seconds_max": max(secs),
        }
        # Completions per 0.5 s slice after the first one: shows whether the rate is steady.
        base = stamps[0]
        buckets = {}
        for s in stamps:
            b = int((s - base) / 0.5)
            buckets[b] = buckets.get(b, 0) + 1
        report["log"]["completions_per_half_second"] = [
            buckets.get(b, 0) for b in range(max(buckets) + 1)
        ]
    report["wall_start"] = wall0
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd_name", required=True)

    s = sub.add_parser("serve")
    s.add_argument("--hosts", type=int, default=1000)
    s.add_argument("--port", type=int, default=18950)
    s.add_argument("--delay", type=float, default=0.1)
    s.add_argument("--items", type=int, default=5)
    s.add_argument("--ready", help="file written once every address listens")
    s.add_argument("--lifetime", type=float, default=900, help="exit after this many seconds")

    c = sub.add_parser("config")
    c.add_argument("--feeds", type=int, default=1000)
    c.add_argument("--port", type=int, default=18950)
    c.add_argument("--concurrency", type=int, default=0)
    c.add_argument("--refresh", default="1h")
    c.add_argument("--admin-token", default=None)

    k = sub.add_parser("client")
    k.add_argument("--hosts", type=int, default=1000)
    k.add_argument("--port", type=int, default=18950)
    k.add_argument("--concurrency", type=int, default=50)

    d = sub.add_parser("drive")
    d.add_argument("--feeds", type=int, required=True)
    d.add_argument("--log", required=True)
    d.add_argument("--cwd", default=None)
    d.add_argument("--poll", type=float, default=0.05)
    d.add_argument("--idle", type=float, default=0)
    d.add_argument("--timeout", type=float, default=180)
    d.add_argument("--rust-log", default="info")
    d.add_argument("--again-token", default=None,
                   help="then refresh every feed again via POST /feeds/NAME/refresh with this token")
    d.add_argument("--again-clients", type=int, default=64)
    d.add_argument("cmd", nargs=argparse.REMAINDER)

    args = ap.parse_args()
    if args.cmd_name == "serve":
        asyncio.run(serve(args))
    elif args.cmd_name == "client":
        asyncio.run(client(args))
    elif args.cmd_name == "config":
        config(args)
    else:
        if args.cmd and args.cmd[0] == "--":
            args.cmd = args.cmd[1:]
        drive(args)


if __name__ == "__main__":
    main()

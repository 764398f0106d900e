//! End-to-end tests of `pagefeed serve`: the real binary listens on an ephemeral port of
//! 127.0.0.1 and scrapes pages from a real upstream test server whose answers the tests change
//! while it runs (new entries, 304s, errors, slow answers, `Retry-After`, a WebSub hub). The
//! feeds are fetched over plain HTTP/1.1 and read back with the real parsers (`rss`,
//! `atom_syndication`, `serde_json`).
//!
//! Timings are only ever asserted loosely: the deadlines are generous, for a loaded machine.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{Response, Server};

/// How long anything that should happen "soon" may take.
const DEADLINE: Duration = Duration::from_secs(15);
const TOKEN: &str = "test-admin-token-0123456789";

// -------------------------------------------------------------------------------------------
// The service under test.

/// A running `pagefeed serve`, killed on drop.
struct Serve {
    child: Child,
    /// `127.0.0.1:PORT`, as the listening line says.
    addr: String,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    /// When the listening line was read.
    started: Instant,
}

impl Serve {
    /// Start `pagefeed serve --config CONFIG --listen 127.0.0.1:0` and wait for its listening
    /// line.
    fn start(config: &Path) -> Serve {
        Self::start_with(config, &[], None)
    }

    /// [`Serve::start`] with extra environment variables, and optionally under a `sh -c`
    /// prefix that runs before the binary (`exec "$0" "$@"` then starts it).
    fn start_with(config: &Path, env: &[(&str, &Path)], sh_prefix: Option<&str>) -> Serve {
        let bin = env!("CARGO_BIN_EXE_pagefeed");
        let mut cmd = match sh_prefix {
            Some(prefix) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("{prefix} && exec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(config.parent().expect("config dir"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the pagefeed binary");
        let mut pipe = child.stderr.take().expect("stderr pipe");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => lock(&sink).push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        let mut serve = Serve {
            child,
            addr: String::new(),
            stderr,
            reader: Some(reader),
            started: Instant::now(),
        };
        let prefix = "pagefeed serve: listening on http://";
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Whole lines only: the reader thread may have stored half of the line so far.
            let line = serve
                .stderr()
                .split_inclusive('\n')
                .find(|l| l.starts_with(prefix) && l.ends_with('\n'))
                .map(|l| l.trim_end().to_string());
            if let Some(line) = line {
                let rest = &line[prefix.len()..];
                let addr = &rest[..rest.find('/').expect("address ends with /")];
                assert!(
                    addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
                    "the listening line names the real port: {line}"
                );
                serve.addr = addr.to_string();
                serve.started = Instant::now();
                return serve;
            }
            if let Some(status) = serve.child.try_wait().expect("wait for pagefeed") {
                panic!(
                    "pagefeed serve exited ({status}) before listening:\n{}",
                    serve.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no listening line within 60 s:\n{}",
                serve.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the service wrote to stderr so far.
    fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    fn get(&self, path: &str) -> Reply {
        http(&self.addr, "GET", path, &[])
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        http(&self.addr, method, path, headers)
    }

    /// `POST /feeds/NAME/refresh`, with `Authorization: Bearer TOKEN` when `token` is given.
    fn admin_refresh(&self, name: &str, token: Option<&str>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        http(
            &self.addr,
            "POST",
            &format!("/feeds/{name}/refresh"),
            &headers,
        )
    }

    /// Poll `path` until it answers 200 (within [`DEADLINE`]).
    fn wait_for_feed(&self, path: &str) -> Reply {
        let mut last = None;
        let ok = wait_until(DEADLINE, || {
            let r = self.get(path);
            let ok = r.status == 200;
            last = Some(r);
            ok
        });
        let last = last.expect("at least one request");
        assert!(
            ok,
            "{path} not served within {DEADLINE:?}: last answer {} {}\n--- stderr:\n{}",
            last.status,
            last.text(),
            self.stderr()
        );
        last
    }

    /// Poll `path` until it answers 200 with a positive `max-age`: the refresh that built it
    /// has finished and its schedule has set the next one. (Until then an admin refresh would
    /// join that refresh and answer with its outcome, and `max-age` is 0.)
    fn wait_until_settled(&self, path: &str) -> Reply {
        let mut last = None;
        let ok = wait_until(DEADLINE, || {
            let r = self.get(path);
            let ok = r.status == 200 && max_age(&r).is_some_and(|n| n > 0);
            last = Some(r);
            ok
        });
        let last = last.expect("at least one request");
        assert!(
            ok,
            "{path} not served with a positive max-age within {DEADLINE:?}: last answer {} {:?} {}\n--- stderr:\n{}",
            last.status,
            last.header("cache-control"),
            last.text(),
            self.stderr()
        );
        last
    }

    /// Send SIGTERM and wait (at most `limit`) for the exit.
    fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -TERM {pid}");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for pagefeed") {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "pagefeed serve did not exit within {limit:?} of SIGTERM:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Poll `cond` every 50 ms until it holds or `limit` passes; whether it held.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// -------------------------------------------------------------------------------------------
// A plain HTTP/1.1 client: one request per connection, bodies exactly as sent (no decoding of
// `Content-Encoding`).

#[derive(Debug)]
struct Reply {
    status: u16,
    /// Names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Header `name`, which must be there.
    fn must(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// The `max-age` of `Cache-Control`.
fn max_age(r: &Reply) -> Option<u64> {
    r.header("cache-control")?
        .split(',')
        .find_map(|p| p.trim().strip_prefix("max-age="))
        .and_then(|n| n.parse().ok())
}

fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {path}: read the answer: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no end of head in {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line `{status_line}`"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).expect("chunk size");
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

// -------------------------------------------------------------------------------------------
// Fixtures.

/// A news listing page with one `<article>` per `(slug, title)`.
fn page(entries: &[(&str, &str)]) -> String {
    let articles: String = entries
        .iter()
        .map(|(slug, title)| {
            format!(
                "<article class=\"post\"><h2><a href=\"/news/{slug}/\">{title}</a></h2>\
                 <p class=\"summary\">About {title}.</p></article>\n"
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Harbour Gazette</title></head>\n<body><main>\n{articles}</main></body></html>\n"
    )
}

const A: (&str, &str) = (
    "ferry-timetable-changes",
    "Ferry timetable changes next week",
);
const B: (&str, &str) = ("harbour-wall-repaired", "Harbour wall repaired after storm");
const C: (&str, &str) = ("new-fish-market-opens", "New fish market opens on the quay");

/// A config: `[settings]` with `host_delay = "0s"` plus `settings`, then one scraped feed per
/// `(name, url, extra feed keys)`.
fn config_text(settings: &str, feeds: &[(&str, &str, &str)]) -> String {
    let mut out = format!("[settings]\nhost_delay = \"0s\"\ntimeout = \"30s\"\n{settings}\n");
    for (name, url, extra) in feeds {
        out.push_str(&format!(
            "\n[feeds.{name}]\nurl = \"{url}\"\ntitle = \"{} news\"\n{extra}\n\n\
             [feeds.{name}.items]\nselector = \"article.post\"\ntitle = \"h2 a\"\nlink = \"h2 a\"\n\
             summary = \"p.summary\"\n",
            title_of(name)
        ));
    }
    out
}

/// The configured title of feed `name`: `Name news`.
fn title_of(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn parse_rss(bytes: &[u8]) -> rss::Channel {
    rss::Channel::read_from(bytes)
        .unwrap_or_else(|e| panic!("not valid RSS ({e}):\n{}", String::from_utf8_lossy(bytes)))
}

fn parse_atom(bytes: &[u8]) -> atom_syndication::Feed {
    atom_syndication::Feed::read_from(bytes)
        .unwrap_or_else(|e| panic!("not valid Atom ({e}):\n{}", String::from_utf8_lossy(bytes)))
}

/// The item titles of an RSS body, sorted.
fn rss_titles(bytes: &[u8]) -> Vec<String> {
    let mut t: Vec<String> = parse_rss(bytes)
        .items()
        .iter()
        .map(|i| i.title().unwrap_or("").to_string())
        .collect();
    t.sort();
    t
}

fn sorted(titles: &[&str]) -> Vec<String> {
    let mut t: Vec<String> = titles.iter().map(|s| s.to_string()).collect();
    t.sort();
    t
}

/// The value of the Prometheus sample `line_prefix` (the metric name and labels).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

// -------------------------------------------------------------------------------------------
// 1. The schedule: a feed never stored is fetched at start-up, then again on its interval,
//    and changes on the page reach the served feed.

#[test]
fn feeds_are_fetched_at_start_and_on_their_interval() {
    let upstream = Server::start();
    upstream.route("/news/", Response::html(page(&[A, B])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/news/");
    let cfg = write_config(
        dir.path(),
        &config_text("refresh = \"1h\"", &[("harbour", &url, "refresh = \"1s\"")]),
    );
    let serve = Serve::start(&cfg);

    let first = serve.wait_for_feed("/feeds/harbour.rss");
    assert_eq!(rss_titles(&first.body), sorted(&[A.1, B.1]));
    assert!(upstream.hits("/news/") >= 1);

    // The page gains an entry; the next scheduled refresh picks it up.
    upstream.route("/news/", Response::html(page(&[C, A, B])));
    let changed_at = upstream.hits("/news/");
    let mut last = Vec::new();
    let seen = wait_until(DEADLINE, || {
        last = serve.get("/feeds/harbour.rss").body;
        rss_titles(&last).len() == 3
    });
    assert!(
        seen,
        "the new entry never reached the served feed:\n{}\n--- stderr:\n{}",
        String::from_utf8_lossy(&last),
        serve.stderr()
    );
    let channel = parse_rss(&last);
    assert_eq!(rss_titles(&last), sorted(&[A.1, B.1, C.1]));
    let new = channel
        .items()
        .iter()
        .find(|i| i.title() == Some(C.1))
        .expect("the new item");
    assert_eq!(
        new.link(),
        Some(upstream.url(&format!("/news/{}/", C.0)).as_str())
    );
    assert_eq!(
        new.description(),
        Some("About New fish market opens on the quay.")
    );

    // The schedule keeps firing every second or so.
    assert!(
        wait_until(DEADLINE, || upstream.hits("/news/") >= changed_at + 3),
        "the schedule did not fire again: {} requests upstream\n--- stderr:\n{}",
        upstream.hits("/news/"),
        serve.stderr()
    );
    assert!(upstream.hits("/news/") >= 3);
}

// -------------------------------------------------------------------------------------------
// 2. Polite to the source: the upstream validators go back as conditional requests, and a
//    304 leaves the served feed exactly as it was.

#[test]
fn conditional_requests_go_upstream_and_304_changes_nothing() {
    let upstream = Server::start();
    let last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
    upstream.route_conditional(
        "/cond/",
        Response::html(page(&[A, B]))
            .with_header("ETag", "\"page-v1\"")
            .with_header("Last-Modified", last_modified),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/cond/");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("cond", &url, "refresh = \"1s\"")]),
    );
    let serve = Serve::start(&cfg);

    let before = serve.wait_for_feed("/feeds/cond.rss");
    assert!(
        wait_until(DEADLINE, || upstream.hits("/cond/") >= 3),
        "only {} requests upstream\n--- stderr:\n{}",
        upstream.hits("/cond/"),
        serve.stderr()
    );
    let requests = upstream.requests("/cond/");
    assert_eq!(requests[0].header("if-none-match"), None);
    assert_eq!(requests[0].header("if-modified-since"), None);
    for r in &requests[1..] {
        assert_eq!(r.header("if-none-match"), Some("\"page-v1\""));
        assert_eq!(r.header("if-modified-since"), Some(last_modified));
    }
    assert_eq!(upstream.last_status("/cond/"), Some(304));

    let after = serve.get("/feeds/cond.rss");
    assert_eq!(after.status, 200);
    assert_eq!(after.body, before.body, "a 304 upstream rewrote the feed");
    assert_eq!(after.must("etag"), before.must("etag"));
    assert_eq!(after.must("last-modified"), before.must("last-modified"));

    let mut text = String::new();
    assert!(
        wait_until(DEADLINE, || {
            text = serve.get("/metrics").text();
            metric(&text, "pagefeed_not_modified_total{feed=\"cond\"}").unwrap_or(0.0) >= 2.0
        }),
        "304s not counted:\n{text}"
    );
    assert_eq!(
        metric(
            &text,
            "pagefeed_fetches_total{feed=\"cond\",outcome=\"changed\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "pagefeed_failures_total{feed=\"cond\"}"),
        Some(0.0),
        "{text}"
    );

    // A new version of the page (new ETag) is fetched in full and served; its ETag is the
    // one sent from then on.
    upstream.route_conditional(
        "/cond/",
        Response::html(page(&[C, A, B])).with_header("ETag", "\"page-v2\""),
    );
    let mut last = Vec::new();
    assert!(
        wait_until(DEADLINE, || {
            last = serve.get("/feeds/cond.rss").body;
            rss_titles(&last).len() == 3
        }),
        "the changed page never reached the feed"
    );
    assert_eq!(rss_titles(&last), sorted(&[A.1, B.1, C.1]));
    let v2_from = upstream.hits("/cond/");
    assert!(wait_until(DEADLINE, || upstream.hits("/cond/") > v2_from));
    assert_eq!(
        upstream.last_header("/cond/", "If-None-Match").as_deref(),
        Some("\"page-v2\"")
    );
    let changed = serve.get("/feeds/cond.rss");
    assert_ne!(changed.must("etag"), before.must("etag"));
}

// -------------------------------------------------------------------------------------------
// 3. Serving: media types, validators, 304s, HEAD, compression, 404s.

#[test]
fn feeds_are_served_with_validators_compression_and_304s() {
    let upstream = Server::start();
    upstream.route("/news/", Response::html(page(&[A, B, C])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/news/");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("harbour", &url, "refresh = \"10m\"")]),
    );
    let serve = Serve::start(&cfg);
    serve.wait_until_settled("/feeds/harbour.rss");
    let origin = upstream.origin();
    let links: BTreeSet<String> = [A, B, C]
        .iter()
        .map(|(slug, _)| format!("{origin}/news/{slug}/"))
        .collect();

    for (ext, content_type) in [
        ("rss", "application/rss+xml; charset=utf-8"),
        ("atom", "application/atom+xml; charset=utf-8"),
        ("json", "application/feed+json; charset=utf-8"),
    ] {
        let path = format!("/feeds/harbour.{ext}");
        let r = serve.get(&path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.must("content-type"), content_type, "{path}");
        assert_eq!(r.must("content-length"), r.body.len().to_string());
        assert_eq!(r.header("content-encoding"), None);
        let etag = r.must("etag").to_string();
        assert!(
            etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
            "a strong ETag: {etag}"
        );
        let last_modified = r.must("last-modified").to_string();
        let lm = chrono::DateTime::parse_from_rfc2822(&last_modified)
            .unwrap_or_else(|e| panic!("Last-Modified `{last_modified}`: {e}"));
        assert!(last_modified.ends_with(" GMT"), "{last_modified}");
        let age = chrono::Utc::now().signed_duration_since(lm);
        assert!(
            age.num_seconds() >= -1 && age.num_seconds() < 120,
            "Last-Modified is when the feed was built: {last_modified}"
        );
        let cache = r.must("cache-control");
        assert!(cache.starts_with("public"), "{cache}");
        let max_age = max_age(&r).unwrap_or_else(|| panic!("no max-age in `{cache}`"));
        // The next refresh is 10 minutes (plus at most a minute of jitter) after the first.
        assert!(
            (400..=660).contains(&max_age),
            "max-age {max_age} is not the time to the next refresh"
        );

        // The body, read with the real parsers.
        match ext {
            "rss" => {
                let c = parse_rss(&r.body);
                assert_eq!(c.title(), "Harbour news");
                assert_eq!(rss_titles(&r.body), sorted(&[A.1, B.1, C.1]));
                let got: BTreeSet<String> = c
                    .items()
                    .iter()
                    .map(|i| i.link().unwrap_or("").to_string())
                    .collect();
                assert_eq!(got, links);
            }
            "atom" => {
                let f = parse_atom(&r.body);
                assert_eq!(f.title().as_str(), "Harbour news");
                let mut titles: Vec<String> =
                    f.entries().iter().map(|e| e.title().to_string()).collect();
                titles.sort();
                assert_eq!(titles, sorted(&[A.1, B.1, C.1]));
                let got: BTreeSet<String> = f
                    .entries()
                    .iter()
                    .map(|e| {
                        e.links()
                            .iter()
                            .find(|l| l.rel() == "alternate")
                            .map(|l| l.href().to_string())
                            .unwrap_or_default()
                    })
                    .collect();
                assert_eq!(got, links);
            }
            _ => {
                let v = r.json();
                assert_eq!(v["version"], "https://jsonfeed.org/version/1.1");
                assert_eq!(v["title"], "Harbour news");
                let items = v["items"].as_array().expect("items");
                let mut titles: Vec<String> = items
                    .iter()
                    .map(|i| i["title"].as_str().unwrap_or("").to_string())
                    .collect();
                titles.sort();
                assert_eq!(titles, sorted(&[A.1, B.1, C.1]));
                let got: BTreeSet<String> = items
                    .iter()
                    .map(|i| i["url"].as_str().unwrap_or("").to_string())
                    .collect();
                assert_eq!(got, links);
            }
        }

        // Conditional requests.
        let r304 = serve.request("GET", &path, &[("If-None-Match", &etag)]);
        assert_eq!(r304.status, 304, "{path} If-None-Match");
        assert!(r304.body.is_empty());
        assert_eq!(r304.must("etag"), etag);
        let listed = format!("\"nope\", {etag}");
        let r304 = serve.request("GET", &path, &[("If-None-Match", &listed)]);
        assert_eq!(r304.status, 304, "{path} If-None-Match list");
        let r304 = serve.request("GET", &path, &[("If-Modified-Since", &last_modified)]);
        assert_eq!(r304.status, 304, "{path} If-Modified-Since");
        assert!(r304.body.is_empty());
        let other = serve.request("GET", &path, &[("If-None-Match", "\"something-else\"")]);
        assert_eq!(other.status, 200);
        assert_eq!(other.body, r.body);
        let older = serve.request(
            "GET",
            &path,
            &[("If-Modified-Since", "Thu, 01 Jan 2015 00:00:00 GMT")],
        );
        assert_eq!(older.status, 200);
        assert_eq!(older.body, r.body);

        // HEAD: the same headers, no body.
        let head = serve.request("HEAD", &path, &[]);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty(), "HEAD sent a body");
        for h in ["content-type", "content-length", "etag", "last-modified"] {
            assert_eq!(head.must(h), r.must(h), "HEAD {h}");
        }

        // gzip: its own ETag, and the identity bytes inside.
        let gz = serve.request("GET", &path, &[("Accept-Encoding", "gzip")]);
        assert_eq!(gz.status, 200);
        assert_eq!(gz.must("content-encoding"), "gzip");
        assert_eq!(gz.must("content-type"), content_type);
        assert_eq!(gz.must("content-length"), gz.body.len().to_string());
        assert!(
            gz.must("vary")
                .to_ascii_lowercase()
                .contains("accept-encoding"),
            "Vary: {}",
            gz.must("vary")
        );
        let gz_etag = gz.must("etag").to_string();
        assert_ne!(gz_etag, etag, "gzip and identity share an ETag");
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz.body[..])
            .read_to_end(&mut plain)
            .expect("gunzip the body");
        assert_eq!(plain, r.body, "the gzip body is not the feed");
        // Any of the feed's ETags matches, whatever encoding is asked for.
        let r304 = serve.request("GET", &path, &[("If-None-Match", &gz_etag)]);
        assert_eq!(r304.status, 304, "the gzip ETag matches");

        // brotli likewise.
        let br = serve.request("GET", &path, &[("Accept-Encoding", "br")]);
        assert_eq!(br.status, 200);
        assert_eq!(br.must("content-encoding"), "br");
        let br_etag = br.must("etag").to_string();
        assert_ne!(br_etag, etag);
        assert_ne!(br_etag, gz_etag);
        let mut plain = Vec::new();
        brotli::Decompressor::new(&br.body[..], 4096)
            .read_to_end(&mut plain)
            .expect("un-brotli the body");
        assert_eq!(plain, r.body, "the brotli body is not the feed");

        // Compressed once per version: the same bytes again.
        let gz2 = serve.request("GET", &path, &[("Accept-Encoding", "gzip")]);
        assert_eq!(gz2.body, gz.body);
        assert_eq!(gz2.must("etag"), gz_etag);
    }

    for path in [
        "/feeds/nope.rss",
        "/feeds/harbour.xml",
        "/feeds/harbour",
        "/feeds/..%2Fpagefeed.toml",
        "/nope",
    ] {
        assert_eq!(serve.get(path).status, 404, "{path}");
    }
    // Fetched once, at start-up: the next refresh is ten minutes away.
    assert_eq!(upstream.hits("/news/"), 1);
}

// -------------------------------------------------------------------------------------------
// 4. A failing feed keeps serving its last good version and says so.

#[test]
fn a_failing_feed_keeps_serving_and_recovers() {
    let upstream = Server::start();
    upstream.route("/flaky/", Response::html(page(&[A, B])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/flaky/");
    let cfg = write_config(
        dir.path(),
        &config_text(
            &format!("admin_token = \"{TOKEN}\""),
            &[("flaky", &url, "refresh = \"1h\"")],
        ),
    );
    let serve = Serve::start(&cfg);
    let good = serve.wait_until_settled("/feeds/flaky.rss");
    let good_atom = serve.get("/feeds/flaky.atom");
    assert_eq!(good_atom.status, 200);

    upstream.route("/flaky/", Response::status(500));
    let r = serve.admin_refresh("flaky", Some(TOKEN));
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(v["feed"], "flaky");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["items"], 0);
    let error = v["error"].as_str().expect("an error message").to_string();
    assert!(
        error.contains(&url) && error.contains("HTTP 500"),
        "the error names the URL and the status: {error}"
    );
    assert_eq!(upstream.last_status("/flaky/"), Some(500));

    // Still served, byte for byte.
    let still = serve.get("/feeds/flaky.rss");
    assert_eq!(still.status, 200);
    assert_eq!(still.body, good.body);
    assert_eq!(still.must("etag"), good.must("etag"));
    let still_atom = serve.get("/feeds/flaky.atom");
    assert_eq!(still_atom.body, good_atom.body);

    // The status page, the metrics and the log tell.
    let status = serve.get("/");
    assert_eq!(status.status, 200);
    let html = status.text();
    let row_start = html.find("id=\"feed-flaky\"").expect("a row for the feed");
    let row = &html[row_start..];
    let row = &row[..row.find("</tr>").expect("end of row")];
    assert!(
        row.contains(&format!("failed: {error}")),
        "the error is on the status page:\n{row}"
    );
    assert!(row.contains("serving the last good version"), "{row}");
    let metrics = serve.get("/metrics").text();
    assert_eq!(
        metric(&metrics, "pagefeed_failures_total{feed=\"flaky\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "pagefeed_fetches_total{feed=\"flaky\",outcome=\"failed\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    let logged = wait_until(DEADLINE, || {
        serve
            .stderr()
            .lines()
            .any(|l| l.contains("flaky") && l.contains(&url) && l.contains("HTTP 500"))
    });
    assert!(
        logged,
        "the log names the feed, URL and reason:\n{}",
        serve.stderr()
    );

    // The source recovers, with a new entry.
    upstream.route("/flaky/", Response::html(page(&[C, A, B])));
    let r = serve.admin_refresh("flaky", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"feed": "flaky", "status": "changed", "items": 3, "error": null})
    );
    let fresh = serve.get("/feeds/flaky.rss");
    assert_eq!(rss_titles(&fresh.body), sorted(&[A.1, B.1, C.1]));
    assert_ne!(fresh.must("etag"), good.must("etag"));
    let html = serve.get("/").text();
    assert!(!html.contains("failed: "), "the error is gone:\n{html}");
}

// 429 with Retry-After: the retry waits as long as the server asked (longer than the default
// first backoff, so ignoring it would show), then succeeds.
#[test]
fn retry_after_is_honoured() {
    let upstream = Server::start();
    upstream.route(
        "/busy/",
        Response::status(429).with_header("Retry-After", "3"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/busy/");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("busy", &url, "refresh = \"1h\"")]),
    );
    let serve = Serve::start(&cfg);
    assert!(
        wait_until(DEADLINE, || upstream.last_status("/busy/") == Some(429)),
        "no request upstream\n--- stderr:\n{}",
        serve.stderr()
    );
    upstream.route("/busy/", Response::html(page(&[A])));
    let r = serve.get("/feeds/busy.rss");
    assert_eq!(r.status, 503, "not built yet");
    assert!(r.header("retry-after").is_some());

    serve.wait_for_feed("/feeds/busy.rss");
    let requests = upstream.requests("/busy/");
    assert_eq!(requests.len(), 2, "one 429, one retry");
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(2800),
        "retried {gap:?} after a 429 with Retry-After: 3"
    );
}

/// A refresh asked for while another is already fetching the page does not get that one's
/// (older) outcome: it waits for it to end, then fetches the page again.
#[test]
fn a_refresh_asked_for_during_a_fetch_fetches_again() {
    let upstream = Server::start();
    upstream.route("/slow/", Response::html(page(&[A, B])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/slow/");
    let cfg = write_config(
        dir.path(),
        &config_text(
            &format!("admin_token = \"{TOKEN}\""),
            &[("slow", &url, "refresh = \"1h\"")],
        ),
    );
    let serve = Serve::start(&cfg);
    serve.wait_until_settled("/feeds/slow.rss");
    let before = upstream.hits("/slow/");

    // The next fetch takes a while and finds a third entry.
    upstream.route(
        "/slow/",
        Response::html(page(&[A, B, C])).with_delay(Duration::from_millis(1500)),
    );
    let addr = serve.addr.clone();
    let first = std::thread::spawn(move || {
        let auth = format!("Bearer {TOKEN}");
        http(
            &addr,
            "POST",
            "/feeds/slow/refresh",
            &[("Authorization", &auth)],
        )
    });
    // Once that fetch is under way, the page starts failing.
    assert!(
        wait_until(DEADLINE, || upstream.hits("/slow/") > before),
        "the first refresh did not fetch"
    );
    upstream.route("/slow/", Response::status(500));
    let second = serve.admin_refresh("slow", Some(TOKEN));
    let first = first.join().expect("the first refresh's thread");

    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["status"], "changed");
    assert_eq!(
        second.status,
        502,
        "the later refresh reports the page as it is now: {}",
        second.text()
    );
    assert_eq!(second.json()["status"], "failed");
    assert_eq!(upstream.hits("/slow/"), before + 2);
    assert_eq!(upstream.last_status("/slow/"), Some(500));
}

// -------------------------------------------------------------------------------------------
// 5. One slow feed does not delay another.

#[test]
fn a_slow_feed_does_not_delay_the_others() {
    let upstream = Server::start();
    upstream.route(
        "/slow/",
        Response::html(page(&[A])).with_delay(Duration::from_secs(12)),
    );
    upstream.route("/fast/", Response::html(page(&[B])));
    let dir = tempfile::tempdir().expect("tempdir");
    let slow = upstream.url("/slow/");
    let fast = upstream.url("/fast/");
    let cfg = write_config(
        dir.path(),
        &config_text(
            "concurrency = 2",
            &[
                ("slow", &slow, "refresh = \"1h\""),
                ("fast", &fast, "refresh = \"1s\""),
            ],
        ),
    );
    let serve = Serve::start(&cfg);

    // At start-up: the fast feed is served while the slow page is still loading.
    let served = wait_until(Duration::from_secs(6), || {
        serve.get("/feeds/fast.rss").status == 200
    });
    assert!(
        served,
        "the fast feed waited for the slow one ({:?})\n--- stderr:\n{}",
        serve.started.elapsed(),
        serve.stderr()
    );
    assert_eq!(
        rss_titles(&serve.get("/feeds/fast.rss").body),
        sorted(&[B.1])
    );
    assert!(
        wait_until(DEADLINE, || upstream.hits("/slow/") == 1),
        "the slow feed was never fetched"
    );

    // And later: with the slow fetch still in flight, the fast feed keeps refreshing.
    upstream.route("/fast/", Response::html(page(&[C, B])));
    let changed = wait_until(Duration::from_secs(6), || {
        rss_titles(&serve.get("/feeds/fast.rss").body).len() == 2
    });
    assert!(
        changed,
        "the fast feed stopped refreshing while the slow one loads\n--- stderr:\n{}",
        serve.stderr()
    );
    assert_eq!(
        rss_titles(&serve.get("/feeds/fast.rss").body),
        sorted(&[B.1, C.1])
    );
    // The slow one is still in flight: not built yet.
    assert_eq!(upstream.hits("/slow/"), 1);
    let s = serve.get("/feeds/slow.rss");
    assert_eq!(s.status, 503, "{}", s.text());
}

// -------------------------------------------------------------------------------------------
// 6. WebSub: the hub hears once per change, and the feeds announce it.

#[test]
fn websub_hub_gets_one_publish_per_change() {
    let upstream = Server::start();
    upstream.route("/news/", Response::html(page(&[A, B])));
    upstream.route("/hub", Response::new(202, "text/plain", ""));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/news/");
    let hub = upstream.url("/hub");
    let base = "https://feeds.example.org/pub/";
    let cfg = write_config(
        dir.path(),
        &config_text(
            &format!("websub_hub = \"{hub}\"\nbase_url = \"{base}\""),
            &[("harbour", &url, "refresh = \"1s\"")],
        ),
    );
    let serve = Serve::start(&cfg);
    let expected: BTreeSet<String> =
        [format!("{base}harbour.rss"), format!("{base}harbour.atom")].into();

    let check_publish = |n: usize| {
        let requests = upstream.requests("/hub");
        let r = &requests[n];
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let pairs = form_pairs(&r.body);
        assert_eq!(
            pairs
                .iter()
                .filter(|(k, _)| k == "hub.mode")
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>(),
            ["publish"],
            "{pairs:?}"
        );
        let urls: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "hub.url")
            .map(|(_, v)| v.clone())
            .collect();
        assert_eq!(urls.len(), 2, "{pairs:?}");
        assert_eq!(urls.into_iter().collect::<BTreeSet<_>>(), expected);
        assert_eq!(pairs.len(), 3, "{pairs:?}");
    };

    // The first build is a change: one publish.
    let rss = serve.wait_for_feed("/feeds/harbour.rss");
    assert!(
        wait_until(DEADLINE, || upstream.hits("/hub") >= 1),
        "no publish after the first build\n--- stderr:\n{}",
        serve.stderr()
    );
    check_publish(0);

    // The feeds announce the hub.
    let channel = parse_rss(&rss.body);
    let hub_links: Vec<_> = channel
        .atom_ext()
        .expect("atom:link elements in the RSS")
        .links()
        .iter()
        .filter(|l| l.rel() == "hub")
        .map(|l| l.href().to_string())
        .collect();
    assert_eq!(hub_links, std::slice::from_ref(&hub));
    let atom = parse_atom(&serve.get("/feeds/harbour.atom").body);
    let hub_links: Vec<_> = atom
        .links()
        .iter()
        .filter(|l| l.rel() == "hub")
        .map(|l| l.href().to_string())
        .collect();
    assert_eq!(hub_links, std::slice::from_ref(&hub));

    // Refreshes that change nothing publish nothing.
    let from = upstream.hits("/news/");
    assert!(
        wait_until(DEADLINE, || upstream.hits("/news/") >= from + 3),
        "the schedule did not fire"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(upstream.hits("/hub"), 1, "published without a change");

    // A change: exactly one more publish.
    upstream.route("/news/", Response::html(page(&[C, A, B])));
    assert!(
        wait_until(DEADLINE, || rss_titles(
            &serve.get("/feeds/harbour.rss").body
        )
        .len()
            == 3),
        "the change never reached the feed"
    );
    assert!(
        wait_until(DEADLINE, || upstream.hits("/hub") >= 2),
        "no publish after the change\n--- stderr:\n{}",
        serve.stderr()
    );
    check_publish(1);
    let from = upstream.hits("/news/");
    assert!(
        wait_until(DEADLINE, || upstream.hits("/news/") >= from + 3),
        "the schedule did not fire"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(upstream.hits("/hub"), 2, "one publish per change");
}

// -------------------------------------------------------------------------------------------
// 7. The admin refresh.

#[test]
fn admin_refresh_is_forbidden_without_a_token() {
    let upstream = Server::start();
    upstream.route("/news/", Response::html(page(&[A])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/news/");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("harbour", &url, "refresh = \"1h\"")]),
    );
    let serve = Serve::start(&cfg);
    serve.wait_until_settled("/feeds/harbour.rss");
    let hits = upstream.hits("/news/");
    assert_eq!(serve.admin_refresh("harbour", Some(TOKEN)).status, 403);
    assert_eq!(serve.admin_refresh("harbour", None).status, 403);
    assert_eq!(upstream.hits("/news/"), hits, "a forbidden refresh fetched");
}

#[test]
fn admin_refresh_with_a_token() {
    let upstream = Server::start();
    upstream.route("/news/", Response::html(page(&[A, B])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/news/");
    let cfg = write_config(
        dir.path(),
        &config_text(
            &format!("admin_token = \"{TOKEN}\""),
            &[("harbour", &url, "refresh = \"1h\"")],
        ),
    );
    let serve = Serve::start(&cfg);
    serve.wait_until_settled("/feeds/harbour.rss");
    let hits = upstream.hits("/news/");

    for token in [None, Some("wrong-token-0123456789")] {
        let r = serve.admin_refresh("harbour", token);
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.must("www-authenticate"), "Bearer");
    }
    let r = serve.request(
        "POST",
        "/feeds/harbour/refresh",
        &[("Authorization", &format!("Basic {TOKEN}"))],
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        upstream.hits("/news/"),
        hits,
        "an unauthorised refresh fetched"
    );

    let r = serve.admin_refresh("harbour", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.must("content-type").starts_with("application/json"));
    assert_eq!(
        r.json(),
        json!({"feed": "harbour", "status": "unchanged", "items": 2, "error": null})
    );
    assert_eq!(upstream.hits("/news/"), hits + 1);

    upstream.route("/news/", Response::html(page(&[C, A, B])));
    let r = serve.admin_refresh("harbour", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"feed": "harbour", "status": "changed", "items": 3, "error": null})
    );
    assert_eq!(
        rss_titles(&serve.get("/feeds/harbour.rss").body),
        sorted(&[A.1, B.1, C.1])
    );

    assert_eq!(serve.admin_refresh("nope", Some(TOKEN)).status, 404);

    upstream.route("/news/", Response::status(500));
    let r = serve.admin_refresh("harbour", Some(TOKEN));
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(v["feed"], "harbour");
    assert_eq!(v["status"], "failed");
    let error = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {v}"));
    assert!(error.contains("HTTP 500"), "{error}");

    // Five refreshes at once while the source is slow: those that came before its fetch
    // began share it, the others share one more fetch; every one reports the page unchanged.
    upstream.route(
        "/news/",
        Response::html(page(&[C, A, B])).with_delay(Duration::from_secs(2)),
    );
    let before = upstream.hits("/news/");
    let barrier = Arc::new(Barrier::new(5));
    let addr = serve.addr.clone();
    let threads: Vec<_> = (0..5)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let addr = addr.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let auth = format!("Bearer {TOKEN}");
                http(
                    &addr,
                    "POST",
                    "/feeds/harbour/refresh",
                    &[("Authorization", &auth)],
                )
            })
        })
        .collect();
    let replies: Vec<Reply> = threads
        .into_iter()
        .map(|t| t.join().expect("refresh thread"))
        .collect();
    for r in &replies {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json(),
            json!({"feed": "harbour", "status": "unchanged", "items": 3, "error": null})
        );
    }
    // (See a_refresh_asked_for_during_a_fetch_fetches_again.)
    let fetches = upstream.hits("/news/") - before;
    assert!(
        (1..=2).contains(&fetches),
        "5 concurrent refreshes of one feed made {fetches} fetches, not one or two"
    );
}

// -------------------------------------------------------------------------------------------
// 8. SIGTERM stops cleanly, and a restart serves the stored feeds at once.

#[test]
fn sigterm_exits_cleanly_and_a_restart_serves_stored_feeds_at_once() {
    let upstream = Server::start();
    upstream.route("/news/", Response::html(page(&[A, B, C])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/news/");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("harbour", &url, "refresh = \"1h\"")]),
    );
    let mut serve = Serve::start(&cfg);
    let before = serve.wait_until_settled("/feeds/harbour.rss");
    let before_json = serve.get("/feeds/harbour.json").json();
    let status = serve.terminate(Duration::from_secs(10));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM\n--- stderr:\n{}",
        serve.stderr()
    );
    assert!(
        serve.stderr().contains("shutting down"),
        "{}",
        serve.stderr()
    );
    drop(serve);

    // The source is now broken and slow: anything served comes from the stored state.
    upstream.route(
        "/news/",
        Response::status(500).with_delay(Duration::from_secs(10)),
    );
    let again = Serve::start(&cfg);
    let r = again.get("/feeds/harbour.rss");
    assert_eq!(
        r.status,
        200,
        "the restarted service does not serve the stored feed at once: {}",
        r.text()
    );
    assert_eq!(rss_titles(&r.body), sorted(&[A.1, B.1, C.1]));
    let old: Vec<_> = parse_rss(&before.body)
        .items()
        .iter()
        .map(|i| (i.title().map(str::to_string), i.link().map(str::to_string)))
        .collect();
    let new: Vec<_> = parse_rss(&r.body)
        .items()
        .iter()
        .map(|i| (i.title().map(str::to_string), i.link().map(str::to_string)))
        .collect();
    assert_eq!(new, old);
    let json = again.get("/feeds/harbour.json");
    assert_eq!(json.status, 200);
    assert_eq!(json.json()["items"], before_json["items"]);
    assert_eq!(again.get("/feeds/harbour.atom").status, 200);
}

// -------------------------------------------------------------------------------------------
// 9. Health, OPML and the status page.

#[test]
fn healthz_opml_and_status_page() {
    let upstream = Server::start();
    upstream.route("/a/", Response::html(page(&[A, B])));
    upstream.route("/b/", Response::html(page(&[C])));
    let dir = tempfile::tempdir().expect("tempdir");
    let (ua, ub) = (upstream.url("/a/"), upstream.url("/b/"));
    let cfg = write_config(
        dir.path(),
        &config_text(
            "",
            &[
                ("alpha", &ua, "refresh = \"1h\""),
                (
                    "beta",
                    &ub,
                    "refresh = \"1h\"\nformats = [\"atom\", \"json\"]",
                ),
            ],
        ),
    );
    let serve = Serve::start(&cfg);
    serve.wait_for_feed("/feeds/alpha.rss");
    serve.wait_for_feed("/feeds/beta.atom");

    let h = serve.get("/healthz");
    assert_eq!(h.status, 200);
    assert_eq!(h.text(), "ok");

    let o = serve.get("/opml");
    assert_eq!(o.status, 200);
    assert!(o.must("content-type").starts_with("text/x-opml"));
    let opml = o.text();
    assert!(opml.contains("<opml version=\"2.0\">"), "{opml}");
    let addr = &serve.addr;
    let xml_urls: Vec<&str> = opml
        .split("xmlUrl=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').expect("end of xmlUrl")])
        .collect();
    assert_eq!(
        xml_urls,
        [
            format!("http://{addr}/feeds/alpha.rss"),
            format!("http://{addr}/feeds/beta.atom"),
        ]
    );
    assert!(opml.contains("text=\"Alpha news\""), "{opml}");
    assert!(opml.contains("text=\"Beta news\""), "{opml}");

    let s = serve.get("/");
    assert_eq!(s.status, 200);
    assert_eq!(s.must("content-type"), "text/html; charset=utf-8");
    let html = s.text();
    let head = &html[..html.find("</head>").expect("a head")];
    for (ty, name, ext) in [
        ("application/rss+xml", "alpha", "rss"),
        ("application/atom+xml", "alpha", "atom"),
        ("application/feed+json", "alpha", "json"),
        ("application/atom+xml", "beta", "atom"),
        ("application/feed+json", "beta", "json"),
    ] {
        let link = format!(
            "<link rel=\"alternate\" type=\"{ty}\" title=\"{} news\" href=\"/feeds/{name}.{ext}\">",
            title_of(name)
        );
        assert!(head.contains(&link), "{link} in {head}");
    }
    assert!(!html.contains("/feeds/beta.rss"), "beta has no RSS");
    let row = |name: &str| {
        let start = html
            .find(&format!("id=\"feed-{name}\""))
            .unwrap_or_else(|| panic!("no row for {name}"));
        let row = &html[start..];
        row[..row.find("</tr>").expect("end of row")].to_string()
    };
    assert!(
        row("alpha").contains("<td class=\"n\">2</td>"),
        "{}",
        row("alpha")
    );
    assert!(
        row("beta").contains("<td class=\"n\">1</td>"),
        "{}",
        row("beta")
    );
    assert!(row("alpha").contains("<span class=\"ok\">ok</span>"));
}

// -------------------------------------------------------------------------------------------
// 10. Bad clients: idle connections, the connection cap, the header-read timeout.

/// The header-read timeout of `serve` (the same clock closes idle keep-alive connections).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Raise this test process's soft open-file limit to at least `n`, as far as the hard limit
/// allows (this machine's and CI's: 20,000).
fn raise_own_fd_limit(n: u64) {
    let soft = rlimit::increase_nofile_limit(n).expect("raise the open-file limit");
    assert!(
        soft >= n,
        "this test holds {n} files open; the hard limit allows {soft}"
    );
}

/// `n` TCP connections to `addr` that never send anything, opened as fast as they connect.
/// A flood this fast can overflow the kernel's queue of connections not yet accepted, and a
/// handshake dropped there is retried only a second or more later: a few connections that
/// do not connect within 5 s are left out (at most a tenth).
fn idle_connections(addr: &str, n: usize) -> Vec<TcpStream> {
    let addr: std::net::SocketAddr = addr.parse().expect("a socket address");
    let open: Vec<TcpStream> = (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok())
        .collect();
    assert!(
        open.len() >= n - n / 10,
        "only {} of {n} connections connected",
        open.len()
    );
    open
}

/// Whether the server closed `s` within `limit`: reading reaches the end of the stream or a
/// reset. Anything the server sends first is skipped.
fn closed_by_server(s: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// The value of a Prometheus sample without labels.
fn gauge(text: &str, name: &str) -> f64 {
    metric(text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

// Started with the usual soft open-file limit (1024) the service raises it to the hard limit
// (this machine's and CI's: 20,000). 2,000 connections that send nothing are held open; a feed
// and the metrics are still answered at once (while all of them are open: the metrics count
// them), and SIGTERM still stops the service promptly.
#[test]
fn idle_connections_do_not_starve_requests() {
    raise_own_fd_limit(4_096);
    let upstream = Server::start();
    upstream.route("/news/", Response::html(page(&[A, B])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/news/");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("harbour", &url, "refresh = \"1h\"")]),
    );
    let mut serve = Serve::start_with(&cfg, &[], Some("ulimit -Sn 1024"));
    let good = serve.wait_for_feed("/feeds/harbour.rss");

    let idle = idle_connections(&serve.addr, 2_000);
    assert_eq!(idle.len(), 2_000);
    let r = serve.get("/feeds/harbour.rss");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, good.body);
    let m = serve.get("/metrics").text();
    assert!(
        gauge(&m, "pagefeed_http_connections") >= 2_001.0,
        "the 2,000 idle connections were open while the requests were answered:\n{m}"
    );
    let cap = gauge(&m, "pagefeed_http_connections_max");
    assert!(cap >= 2_001.0, "{m}");
    assert_eq!(gauge(&m, "pagefeed_http_connections_shed_total"), 0.0);
    assert_eq!(gauge(&m, "pagefeed_http_accept_errors_total"), 0.0);
    let log = serve.stderr();
    assert!(
        log.lines().any(|l| l.contains("open-file limit")
            && l.contains("soft_before=1024")
            && !l.contains(" soft=1024 ")),
        "the raise of the open-file limit is logged:\n{log}"
    );

    // Idle connections do not hold up a shutdown.
    let status = serve.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}\n{}", serve.stderr());
    drop(idle);
}

// With a low open-file limit (soft 256, hard 512) the service raises its soft limit to the
// hard one, caps connections below it, and closes the longest-idle connections to make room:
// with 2,000 idle connections opened, a feed is still answered and no accept runs out of
// descriptors.
#[test]
fn at_the_connection_cap_the_longest_idle_connections_make_room() {
    raise_own_fd_limit(4_096);
    let upstream = Server::start();
    upstream.route("/news/", Response::html(page(&[A, B])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/news/");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("harbour", &url, "refresh = \"1h\"")]),
    );
    let serve = Serve::start_with(&cfg, &[], Some("ulimit -Sn 256 && ulimit -Hn 512"));
    let good = serve.wait_for_feed("/feeds/harbour.rss");
    let log = serve.stderr();
    assert!(
        log.lines().any(|l| l.contains("open-file limit")
            && l.contains("soft_before=256")
            && l.contains("soft=512")
            && l.contains("hard=512")),
        "the raise from 256 to 512 is logged:\n{log}"
    );
    let m = serve.get("/metrics").text();
    let cap = gauge(&m, "pagefeed_http_connections_max");
    assert!(
        cap > 16.0 && cap <= 448.0,
        "the cap leaves room below 512: {cap}"
    );

    let mut idle = idle_connections(&serve.addr, 2_000);
    let r = serve.get("/feeds/harbour.rss");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, good.body);
    let m = serve.get("/metrics").text();
    assert!(gauge(&m, "pagefeed_http_connections") <= cap, "{m}");
    let opened = idle.len() as f64;
    assert!(
        gauge(&m, "pagefeed_http_connections_shed_total") >= opened - cap,
        "{m}"
    );
    assert_eq!(gauge(&m, "pagefeed_http_accept_errors_total"), 0.0, "{m}");
    assert!(
        closed_by_server(&mut idle[0], DEADLINE),
        "the longest-idle connection was closed"
    );
    assert_eq!(serve.get("/healthz").status, 200);
}

// A connection that sends nothing, one that sends half a request head, and a keep-alive
// connection idle after its first answer are all closed after the header-read timeout.
#[test]
fn slow_and_idle_connections_are_closed_after_the_header_read_timeout() {
    let upstream = Server::start();
    upstream.route("/news/", Response::html(page(&[A])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = upstream.url("/news/");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("harbour", &url, "refresh = \"1h\"")]),
    );
    let serve = Serve::start(&cfg);
    serve.wait_for_feed("/feeds/harbour.rss");

    let mut silent = TcpStream::connect(&serve.addr).expect("connect");
    let silent_since = Instant::now();

    let mut partial = TcpStream::connect(&serve.addr).expect("connect");
    partial
        .write_all(b"GET /feeds/harbour.rss HTTP/1.1\r\nHost: x\r\n")
        .expect("send half a head");
    let partial_since = Instant::now();

    let mut kept = TcpStream::connect(&serve.addr).expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send a request");
    kept.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"\r\n\r\nok") {
        let n = kept.read(&mut buf).expect("read the answer");
        assert!(n > 0, "closed before answering: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    let kept_since = Instant::now();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");

    // Well under hyper's own default of 30 s, so losing the setting shows.
    let limit = HEADER_READ_TIMEOUT + Duration::from_secs(12);
    let early = HEADER_READ_TIMEOUT - Duration::from_millis(1_000);
    for (what, s, since) in [
        ("a connection that sends nothing", &mut silent, silent_since),
        ("half a request head", &mut partial, partial_since),
        ("an idle keep-alive connection", &mut kept, kept_since),
    ] {
        assert!(
            closed_by_server(s, limit),
            "{what} was not closed within {limit:?}"
        );
        let after = since.elapsed();
        assert!(after >= early, "{what} was closed after only {after:?}");
    }
    let m = serve.get("/metrics").text();
    assert_eq!(gauge(&m, "pagefeed_http_header_timeouts_total"), 3.0, "{m}");
    assert_eq!(serve.get("/feeds/harbour.rss").status, 200);
}

// -------------------------------------------------------------------------------------------
// 11. A refresh that panics (fault injection, debug builds only) is caught: the last good
//     feed is still served, the status page, the metrics and /healthz report it, the schedule
//     goes on, and the feed recovers when the fault goes.

#[cfg(debug_assertions)]
#[test]
fn a_panicking_refresh_is_reported_and_survived() {
    let upstream = Server::start();
    upstream.route("/fragile/", Response::html(page(&[A, B])));
    upstream.route("/steady/", Response::html(page(&[C])));
    let dir = tempfile::tempdir().expect("tempdir");
    let (uf, us) = (upstream.url("/fragile/"), upstream.url("/steady/"));
    let cfg = write_config(
        dir.path(),
        &config_text(
            &format!("admin_token = \"{TOKEN}\""),
            &[
                ("fragile", &uf, "refresh = \"2s\""),
                ("steady", &us, "refresh = \"1h\""),
            ],
        ),
    );
    let panic_file = dir.path().join("panic-feeds");
    let serve = Serve::start_with(&cfg, &[("PAGEFEED_DEBUG_PANIC_FILE", &panic_file)], None);
    let good = serve.wait_for_feed("/feeds/fragile.rss");
    let good_atom = serve.wait_for_feed("/feeds/fragile.atom");
    serve.wait_for_feed("/feeds/steady.rss");
    let h = serve.get("/healthz");
    assert_eq!((h.status, h.text().as_str()), (200, "ok"));

    // From now on every refresh of fragile panics; a successful one would publish C.
    std::fs::write(&panic_file, "fragile\n").expect("write the panic file");
    upstream.route("/fragile/", Response::html(page(&[C, A, B])));
    let panics = |serve: &Serve| {
        metric(
            &serve.get("/metrics").text(),
            "pagefeed_refresh_panics_total{feed=\"fragile\"}",
        )
        .unwrap_or(0.0)
    };
    // The last good feed is served all along, never a 503.
    let served_good = |serve: &Serve| {
        let r = serve.get("/feeds/fragile.rss");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body, good.body);
    };
    assert!(
        wait_until(DEADLINE, || {
            served_good(&serve);
            panics(&serve) >= 1.0
        }),
        "no panic counted:\n{}",
        serve.stderr()
    );
    served_good(&serve);
    assert_eq!(serve.get("/feeds/fragile.atom").body, good_atom.body);

    let h = serve.get("/healthz");
    assert_eq!(h.status, 503);
    let body = h.text();
    assert!(
        body.lines()
            .any(|l| l.starts_with("feed fragile: refresh panicked at ")
                && l.contains("PAGEFEED_DEBUG_PANIC_FILE")),
        "/healthz names the feed and the panic:\n{body}"
    );
    assert!(!body.contains("steady"), "{body}");

    let html = serve.get("/").text();
    let row_start = html.find("id=\"feed-fragile\"").expect("a row for fragile");
    let row = &html[row_start..];
    let row = &row[..row.find("</tr>").expect("end of row")];
    assert!(row.contains("failed: the refresh panicked: "), "{row}");
    assert!(row.contains("serving the last good version"), "{row}");

    let m = serve.get("/metrics").text();
    assert_eq!(
        metric(&m, "pagefeed_feed_failed{feed=\"fragile\"}"),
        Some(1.0),
        "{m}"
    );
    assert!(metric(&m, "pagefeed_failures_total{feed=\"fragile\"}").is_some_and(|n| n >= 1.0));
    assert_eq!(
        metric(&m, "pagefeed_feed_failed{feed=\"steady\"}"),
        Some(0.0),
        "{m}"
    );

    // An admin refresh hits the same panic and says so.
    let r = serve.admin_refresh("fragile", Some(TOKEN));
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "failed");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("the refresh panicked")),
        "{v}"
    );
    // The other feed is untouched, and can still be refreshed (the history works).
    let r = serve.admin_refresh("steady", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());

    // The schedule goes on: the next refreshes fetch the page again (and panic again).
    let (hits, seen) = (upstream.hits("/fragile/"), panics(&serve));
    assert!(
        wait_until(DEADLINE, || {
            served_good(&serve);
            panics(&serve) >= seen + 1.0
        }),
        "no later scheduled refresh:\n{}",
        serve.stderr()
    );
    assert!(upstream.hits("/fragile/") > hits);
    assert!(
        serve
            .stderr()
            .lines()
            .any(|l| l.contains("feed fragile: the refresh panicked")),
        "the log names the feed:\n{}",
        serve.stderr()
    );

    // The fault goes: the next scheduled refresh publishes, and /healthz is ok again.
    std::fs::remove_file(&panic_file).expect("remove the panic file");
    let recovered = wait_until(DEADLINE, || {
        let r = serve.get("/feeds/fragile.rss");
        r.status == 200 && rss_titles(&r.body) == sorted(&[A.1, B.1, C.1])
    });
    assert!(recovered, "not recovered:\n{}", serve.stderr());
    assert!(wait_until(DEADLINE, || serve.get("/healthz").status == 200));
    assert_eq!(serve.get("/healthz").text(), "ok");
    let m = serve.get("/metrics").text();
    assert_eq!(
        metric(&m, "pagefeed_feed_failed{feed=\"fragile\"}"),
        Some(0.0),
        "{m}"
    );
    assert!(
        metric(&m, "pagefeed_refresh_panics_total{feed=\"fragile\"}").is_some_and(|n| n >= 3.0),
        "{m}"
    );
    assert!(!serve.get("/").text().contains("failed: "));
}

// robots.txt in serve: a disallowed listing fails its refresh with the way out named, and the
// page is never requested; ignore_robots on another feed of the site still fetches it. The
// site's robots.txt is fetched once for both.
#[test]
fn serve_obeys_robots_txt_and_ignore_robots() {
    let upstream = Server::start();
    upstream.route(
        "/robots.txt",
        Response::new(
            200,
            "text/plain",
            "User-agent: pagefeed\nDisallow: /news/\n",
        ),
    );
    upstream.route("/news/", Response::html(page(&[A, B])));
    upstream.route("/news/all/", Response::html(page(&[A, B])));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text(
            &format!("admin_token = \"{TOKEN}\""),
            &[
                ("kept", &upstream.url("/news/"), "refresh = \"1h\""),
                (
                    "allowed",
                    &upstream.url("/news/all/"),
                    "refresh = \"1h\"\nignore_robots = true",
                ),
            ],
        ),
    );
    let serve = Serve::start(&cfg);
    let r = serve.admin_refresh("kept", Some(TOKEN));
    assert_eq!(r.status, 502, "{}", r.text());
    let error = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("disallowed") && error.contains("ignore_robots = true"),
        "{error}"
    );
    let r = serve.admin_refresh("allowed", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        upstream.hits("/news/"),
        0,
        "the disallowed page is never requested"
    );
    assert!(upstream.hits("/news/all/") >= 1);
    assert_eq!(upstream.hits("/robots.txt"), 1);
}

// robots.txt and concurrency in serve: with `concurrency = 1`, every request (robots.txt or
// page) waits for the previous answer, each site's robots.txt comes before its page, and the
// page follows its robots.txt at once (the fetch permit goes on to it) instead of queueing
// behind the other sites' robots.txt files.
#[test]
fn serve_fetches_each_page_right_after_its_robots_txt_one_request_at_a_time() {
    let slow = Duration::from_millis(250);
    let sites: Vec<Server> = (0..4).map(|_| Server::start()).collect();
    for site in &sites {
        site.route(
            "/robots.txt",
            Response::new(200, "text/plain", "User-agent: *\nDisallow: /private/\n")
                .with_delay(slow),
        );
        site.route("/news/", Response::html(page(&[A, B])).with_delay(slow));
    }
    let names: Vec<String> = (0..sites.len()).map(|i| format!("site{i}")).collect();
    let urls: Vec<String> = sites.iter().map(|s| s.url("/news/")).collect();
    let feeds: Vec<(&str, &str, &str)> = names
        .iter()
        .zip(&urls)
        .map(|(n, u)| (n.as_str(), u.as_str(), "refresh = \"1h\""))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &config_text("concurrency = 1", &feeds));
    let serve = Serve::start(&cfg);
    let served = wait_until(DEADLINE, || {
        names
            .iter()
            .all(|n| serve.get(&format!("/feeds/{n}.rss")).status == 200)
    });
    assert!(served, "not every feed was served\n{}", serve.stderr());

    // Every request of the run, in the order the sites received them.
    let mut requests: Vec<(Instant, usize, &str)> = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        for path in ["/robots.txt", "/news/"] {
            let got = site.requests(path);
            assert_eq!(got.len(), 1, "site {i} got {path} {} times", got.len());
            requests.extend(got.iter().map(|r| (r.at, i, path)));
        }
    }
    requests.sort_by_key(|r| r.0);
    let order: Vec<(usize, &str)> = requests.iter().map(|r| (r.1, r.2)).collect();
    for pair in order.chunks(2) {
        assert!(
            matches!(pair, [(a, "/robots.txt"), (b, "/news/")] if a == b),
            "each page right after its site's robots.txt: {order:?}"
        );
    }
    // One request at a time: each began after the previous one's slow answer.
    for w in requests.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= slow,
            "a request began {:?} after the previous one, which took {slow:?} to answer: \
             more than `concurrency` requests in flight ({order:?})",
            w[1].0 - w[0].0
        );
    }
}

#[test]
fn serve_walks_further_pages_of_a_listing() {
    let upstream = Server::start();
    upstream.route(
        "/robots.txt",
        Response::new(200, "text/plain", "User-agent: *\nDisallow: /list/3/\n"),
    );
    let with_next = |entries: &[(&str, &str)], next: &str| {
        page(entries).replace(
            "</main>",
            &format!("</main><a rel=\"next\" href=\"{next}\">more</a>"),
        )
    };
    upstream.route("/list/", Response::html(with_next(&[A], "/list/2/")));
    upstream.route("/list/2/", Response::html(with_next(&[B, A], "/list/3/")));
    upstream.route("/list/3/", Response::html(page(&[C])));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text(
            &format!("admin_token = \"{TOKEN}\""),
            &[(
                "paged",
                &upstream.url("/list/"),
                "refresh = \"1h\"\nnext_page = \"auto\"\nmax_pages = 5",
            )],
        ),
    );
    let serve = Serve::start(&cfg);
    let r = serve.admin_refresh("paged", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    let feed = serve.wait_for_feed("/feeds/paged.rss");
    assert_eq!(rss_titles(&feed.body), sorted(&[A.1, B.1]));
    // Page 3 is disallowed by robots.txt: never requested, and the refresh warns.
    assert_eq!(upstream.hits("/list/3/"), 0);
    assert!(upstream.hits("/list/2/") >= 1);
    let status = serve.get("/").text();
    assert!(status.contains("page 3"), "{status}");
}

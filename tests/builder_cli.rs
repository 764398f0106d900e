//! The feed builder of `pagefeed serve` (`/new`, `/api/suggest`, `/api/preview`,
//! `/api/feeds`): the real binary on an ephemeral port of 127.0.0.1, pages from a real test
//! server on 127.0.0.1, requests over plain HTTP/1.1, the config file read back from disk.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{Response, Server};

const TOKEN: &str = "builder-test-token-0123456789";

const LISTING: &str = r#"<!DOCTYPE html><html lang="en"><head><title>Harbour news</title>
<script>document.title = "changed"</script></head>
<body onload="alert(1)"><h1>Harbour news</h1><div class="list">
<article class="post"><h2 class="headline"><a href="/news/1">Ferry timetable changes for winter</a></h2>
<time datetime="2026-11-30T08:00:00Z">30 November 2026</time><p class="by">Ana Ruiz</p>
<p class="teaser">The winter timetable starts on Monday with fewer crossings.</p></article>
<article class="post"><h2 class="headline"><a href="/news/2">New berth opens at the north pier</a></h2>
<time datetime="2026-11-29T08:00:00Z">29 November 2026</time><p class="by">Ben Ode</p>
<p class="teaser">Larger ships can now dock at the north pier.</p></article>
<article class="post"><h2 class="headline"><a href="/news/3">Harbour festival dates announced</a></h2>
<time datetime="2026-11-28T08:00:00Z">28 November 2026</time><p class="by">Cai Lee</p>
<p class="teaser">The festival returns in June with music and boats.</p></article>
<article class="post"><h2 class="headline"><a href="/news/4">Dredging works in the outer basin</a></h2>
<time datetime="2026-11-27T08:00:00Z">27 November 2026</time><p class="by">Dee Moss</p>
<p class="teaser">Works run for three weeks; small boats keep to the east channel.</p></article>
</div><form action="/search"><input name="q"><button>Search</button></form>
<iframe src="https://ads.example.net/"></iframe></body></html>"#;

/// A running `pagefeed serve`, killed on drop.
struct Serve {
    child: Child,
    addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(config: &Path) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pagefeed"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(config.parent().expect("config dir"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the pagefeed binary");
        let mut pipe = child.stderr.take().expect("stderr pipe");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut all = String::new();
            let mut buf = [0u8; 4096];
            let mut sent = false;
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
                }
                let prefix = "pagefeed serve: listening on http://";
                if !sent
                    && let Some(line) = all
                        .split_inclusive('\n')
                        .find(|l| l.starts_with(prefix) && l.ends_with('\n'))
                {
                    let rest = &line[prefix.len()..];
                    let _ = tx.send(
                        rest.trim_end_matches('/')
                            .split('/')
                            .next()
                            .map(str::to_string),
                    );
                    sent = true;
                }
            }
            if !sent {
                let _ = tx.send(None);
                eprintln!("pagefeed serve stderr:\n{all}");
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .expect("pagefeed serve did not start listening");
        Serve { child, addr }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        http(&self.addr, "GET", path, headers, b"")
    }

    fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        http(&self.addr, "POST", path, headers, body)
    }

    /// `POST path` with a JSON body and `Authorization: Bearer TOKEN`.
    fn api(&self, path: &str, body: &Value) -> Reply {
        let auth = format!("Bearer {TOKEN}");
        self.post(
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
    }
}

struct Reply {
    status: u16,
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

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.text()))
            .to_string()
    }
}

fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
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
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..eol])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .expect("chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

/// The config every test starts from: one existing feed, the token, and `extra` settings.
fn config_text(upstream: &Server, extra: &str, token: bool) -> String {
    let token = if token {
        format!("admin_token = \"{TOKEN}\"\n")
    } else {
        String::new()
    };
    format!(
        "# the harbour feeds\n[settings]\noutput_dir = \"out\"\nhost_delay = \"0s\"\n{token}{extra}\n\
         [feeds.existing]   # kept as written\nurl = \"{}\"\nrefresh = \"1d\"\n\n[feeds.existing.items]\nselector = \"article.post\"\ntitle = \"h2\"\n",
        upstream.url("/existing")
    )
}

fn setup(extra: &str, token: bool) -> (tempfile::TempDir, PathBuf, Server) {
    let upstream = Server::start();
    upstream.route("/news", Response::html(LISTING));
    upstream.route("/existing", Response::html(LISTING));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("pagefeed.toml");
    std::fs::write(&config, config_text(&upstream, extra, token)).expect("write config");
    (dir, config, upstream)
}

fn items() -> Value {
    json!({
        "selector": "article.post",
        "title": "h2",
        "link": "h2 a",
        "date": {"selector": "time", "attr": "datetime"},
        "authors": ".by",
        "summary": ".teaser",
    })
}

#[test]
fn builder_is_off_without_admin_token_and_says_how_to_turn_it_on() {
    let (_dir, config, upstream) = setup("allow_private_hosts = true\n", false);
    let serve = Serve::start(&config);
    let page = serve.get("/new", &[]);
    assert_eq!(page.status, 404, "{}", page.text());
    assert!(page.text().contains("admin_token"), "{}", page.text());
    let api = serve.post(
        "/api/suggest",
        &[("Authorization", "Bearer anything-at-all")],
        json!({"url": upstream.url("/news")}).to_string().as_bytes(),
    );
    assert_eq!(api.status, 404);
    assert!(api.error().contains("admin_token"), "{}", api.text());
    assert_eq!(upstream.hits("/news"), 0, "nothing was fetched");
    // The status page links to the builder.
    assert!(serve.get("/", &[]).text().contains("href=\"/new\""));
}

#[test]
fn api_needs_the_token_and_a_cookie_needs_a_same_origin_request() {
    let (_dir, config, upstream) = setup("allow_private_hosts = true\n", true);
    let serve = Serve::start(&config);
    let body = json!({"url": upstream.url("/news")}).to_string();

    let none = serve.post("/api/suggest", &[], body.as_bytes());
    assert_eq!(none.status, 401, "{}", none.text());
    let wrong = serve.post(
        "/api/suggest",
        &[("Authorization", "Bearer not-the-token")],
        body.as_bytes(),
    );
    assert_eq!(wrong.status, 401);

    // Without a session, /new is the sign-in form.
    let login = serve.get("/new", &[]);
    assert_eq!(login.status, 200);
    assert!(login.text().contains("Admin token") && login.text().contains("Sign in"));
    assert!(!login.text().contains("Page address"));
    let auth = format!("Bearer {TOKEN}");
    let with_bearer = serve.get("/new", &[("Authorization", &auth)]);
    assert_eq!(with_bearer.status, 200);
    assert!(with_bearer.text().contains("Page address"));

    let bad = serve.post(
        "/new",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"token=wrong-token-value",
    );
    assert_eq!(bad.status, 401);
    assert!(bad.header("set-cookie").is_none());
    let cross = serve.post(
        "/new",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "http://evil.example"),
        ],
        format!("token={TOKEN}").as_bytes(),
    );
    assert_eq!(cross.status, 403);
    assert!(cross.header("set-cookie").is_none());

    let origin = serve.origin();
    let good = serve.post(
        "/new",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &origin),
        ],
        format!("token={TOKEN}").as_bytes(),
    );
    assert_eq!(good.status, 303, "{}", good.text());
    assert_eq!(good.header("location"), Some("/new"));
    let set = good.header("set-cookie").expect("a cookie").to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(
        !set.contains(TOKEN),
        "the cookie does not hold the token: {set}"
    );
    let cookie = set.split(';').next().expect("name=value").to_string();

    let page = serve.get("/new", &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200);
    for label in [
        "Page address",
        "Find entries",
        "Feed name",
        "Save feed",
        "Copy config",
    ] {
        assert!(page.text().contains(label), "{label}");
    }
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("script-src 'self'"))
    );

    // The cookie alone is not enough for a POST: the Origin must be this server.
    let no_origin = serve.post("/api/suggest", &[("Cookie", &cookie)], body.as_bytes());
    assert_eq!(no_origin.status, 403, "{}", no_origin.text());
    assert!(no_origin.error().contains("cross-site"));
    let evil = serve.post(
        "/api/suggest",
        &[("Cookie", &cookie), ("Origin", "http://evil.example")],
        body.as_bytes(),
    );
    assert_eq!(evil.status, 403);
    assert_eq!(upstream.hits("/news"), 0, "refused requests fetch nothing");
    let ok = serve.post(
        "/api/suggest",
        &[("Cookie", &cookie), ("Origin", &origin)],
        body.as_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[test]
fn private_and_loopback_addresses_are_refused_unless_allowed() {
    let (_dir, config, upstream) = setup("", true);
    let serve = Serve::start(&config);
    for url in [
        upstream.url("/news"),
        upstream.url("/news").replace("127.0.0.1", "localhost"),
        "http://[::1]/".to_string(),
        "http://10.0.0.1/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let r = serve.api("/api/suggest", &json!({ "url": url }));
        assert_eq!(r.status, 400, "{url}: {}", r.text());
        assert!(
            r.error().contains("private or loopback"),
            "{url}: {}",
            r.text()
        );
        assert!(r.error().contains("allow_private_hosts"), "{}", r.text());
    }
    let r = serve.api("/api/suggest", &json!({ "url": "file:///etc/passwd" }));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("only http and https"), "{}", r.text());
    let r = serve.api(
        "/api/preview",
        &json!({ "url": upstream.url("/news"), "items": items() }),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("private or loopback"));
    let r = serve.api(
        "/api/feeds",
        &json!({ "name": "harbour", "table": { "url": upstream.url("/news"), "items": items() } }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("private or loopback"));
    assert_eq!(
        upstream.hits("/news"),
        0,
        "nothing was fetched from the upstream"
    );
    assert!(
        !std::fs::read_to_string(&config)
            .unwrap()
            .contains("[feeds.harbour]")
    );
}

#[test]
fn redirects_to_private_addresses_are_refused_too() {
    // With private addresses allowed the first hop is fetched; the check itself is the same
    // function for every hop, so this only shows that redirects are followed by hand.
    let (_dir, config, upstream) = setup("allow_private_hosts = true\n", true);
    upstream.route(
        "/moved",
        Response::status(301).with_header("Location", "/news"),
    );
    upstream.route(
        "/to-file",
        Response::status(302).with_header("Location", "file:///etc/passwd"),
    );
    let serve = Serve::start(&config);
    let r = serve.api("/api/suggest", &json!({ "url": upstream.url("/moved") }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["url"], json!(upstream.url("/news")));
    let r = serve.api("/api/suggest", &json!({ "url": upstream.url("/to-file") }));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("only http and https"), "{}", r.text());
}

#[test]
fn suggest_and_preview_give_candidates_a_safe_copy_entries_and_coverage() {
    let (_dir, config, upstream) = setup("allow_private_hosts = true\n", true);
    upstream.route(
        "/robots.txt",
        Response::new(200, "text/plain", "User-agent: *\nDisallow: /private\n"),
    );
    upstream.route("/private", Response::html(LISTING));
    let serve = Serve::start(&config);
    let r = serve.api("/api/suggest", &json!({ "url": upstream.url("/news") }));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let best = &v["candidates"][0];
    assert_eq!(best["selectors"], json!(true), "{best:#}");
    assert_eq!(
        best["entries"].as_array().map(Vec::len),
        Some(4),
        "{best:#}"
    );
    assert_eq!(
        best["entries"][0]["title"],
        json!("Ferry timetable changes for winter")
    );
    let copy = v["copy"].as_str().expect("a copy");
    assert!(copy.contains("<article class=\"post\">"));
    for bad in [
        "<script",
        "onload",
        "<form",
        "<input",
        "<iframe",
        "ads.example.net",
    ] {
        assert!(!copy.contains(bad), "{bad} in the copy");
    }
    assert!(copy.contains("script-src 'none'"));

    let r = serve.api(
        "/api/preview",
        &json!({ "url": upstream.url("/news"), "name": "harbour", "items": items() }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!(p["entries"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        p["entries"][1]["fields"]["link"]["value"],
        json!(upstream.url("/news/2"))
    );
    assert_eq!(p["coverage"]["title"]["share"], json!(1.0));
    assert_eq!(p["coverage"]["authors"]["matched"], json!(4));
    assert!(
        p["toml"]
            .as_str()
            .unwrap()
            .contains("[feeds.harbour.items]")
    );
    // The page was fetched once for both: the builder reuses it for a while.
    assert_eq!(upstream.hits("/news"), 1);

    // A selector that matches nothing for one field shows in the coverage.
    let mut partial = items();
    partial["image"] = json!("img.none");
    let r = serve.api(
        "/api/preview",
        &json!({ "url": upstream.url("/news"), "items": partial }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["coverage"]["image"]["matched"], json!(0));

    // robots.txt is honoured.
    let r = serve.api("/api/suggest", &json!({ "url": upstream.url("/private") }));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("robots.txt"), "{}", r.text());
    assert_eq!(upstream.hits("/private"), 0);
}

#[test]
fn save_appends_without_touching_existing_lines_builds_and_serves() {
    let (_dir, config, upstream) = setup("allow_private_hosts = true\n", true);
    let before = std::fs::read(&config).unwrap();
    let serve = Serve::start(&config);
    let r = serve.api(
        "/api/feeds",
        &json!({ "name": "harbour", "table": { "url": upstream.url("/news"), "title": "Harbour news", "items": items() } }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], json!("changed"), "{v:#}");
    assert_eq!(v["items"], json!(4));
    let links: Vec<&str> = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        links,
        [
            "/feeds/harbour.rss",
            "/feeds/harbour.atom",
            "/feeds/harbour.json"
        ]
    );

    let after = std::fs::read(&config).unwrap();
    assert!(after.starts_with(&before), "existing bytes untouched");
    let added = String::from_utf8_lossy(&after[before.len()..]).into_owned();
    assert!(added.contains("# added with the feed builder"), "{added}");
    assert!(added.contains("[feeds.harbour]"), "{added}");
    assert!(added.contains("[feeds.harbour.items]"), "{added}");

    // Served at once, without a restart, and listed on the status page.
    let feed = serve.get("/feeds/harbour.rss", &[]);
    assert_eq!(feed.status, 200, "{}", feed.text());
    let channel = rss::Channel::read_from(&feed.body[..]).expect("RSS");
    assert_eq!(channel.items().len(), 4);
    assert_eq!(
        channel.items()[0].title(),
        Some("Ferry timetable changes for winter")
    );
    assert!(serve.get("/", &[]).text().contains("feed-harbour"));
    assert!(serve.get("/opml", &[]).text().contains("harbour.rss"));

    // The config still loads as a whole, with both feeds.
    let check = common::pagefeed(
        config.parent().unwrap(),
        &["check", "--config", config.to_str().unwrap()],
    );
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);

    // A TOML string table works the same, and a second name clash is refused.
    let r = serve.api(
        "/api/feeds",
        &json!({ "name": "harbour", "table": format!("url = \"{}\"\n", upstream.url("/news")) }),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.error().contains("`harbour` already exists"),
        "{}",
        r.text()
    );
    let r = serve.api(
        "/api/feeds",
        &json!({ "name": "harbour-auto", "table": format!("url = \"{}\"\n", upstream.url("/news")) }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let start = Instant::now();
    while serve.get("/feeds/harbour-auto.json", &[]).status != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "harbour-auto not served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_tables_are_refused_with_the_configs_words_and_nothing_is_written() {
    let (_dir, config, upstream) = setup("allow_private_hosts = true\n", true);
    let before = std::fs::read(&config).unwrap();
    let serve = Serve::start(&config);
    let url = upstream.url("/news");

    let r = serve.api(
        "/api/feeds",
        &json!({ "name": "existing", "table": { "url": url, "items": items() } }),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.error().contains("`existing` already exists"),
        "{}",
        r.text()
    );

    let mut bad = items();
    bad["title"] = json!("h2[");
    let r = serve.api(
        "/api/feeds",
        &json!({ "name": "broken", "table": { "url": url, "items": bad } }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.error().contains("h2["),
        "names the selector: {}",
        r.text()
    );
    let r = serve.api("/api/preview", &json!({ "url": url, "items": bad }));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("h2["), "{}", r.text());

    let r = serve.api(
        "/api/feeds",
        &json!({ "name": "Not A Name", "table": { "url": url, "items": items() } }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("Not A Name"), "{}", r.text());

    let r = serve.api(
        "/api/feeds",
        &json!({ "name": "unknown-key", "table": { "url": url, "colour": "red" } }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("colour"), "{}", r.text());

    let r = serve.api(
        "/api/feeds",
        &json!({ "name": "local", "table": { "url": "pages/news.html", "items": items() } }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("local file"), "{}", r.text());

    assert_eq!(std::fs::read(&config).unwrap(), before, "nothing written");
}

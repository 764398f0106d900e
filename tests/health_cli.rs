//! End-to-end tests of selector health: the real binary builds a feed from a real HTTP server
//! on 127.0.0.1, then the page changes so that a rule fires. The build must then exit 1 with a
//! message that says what happened, and leave the last good files byte-identical.

mod common;

use std::path::{Path, PathBuf};

use common::{Response, Run, Server, json_items, json_str, pagefeed, read_json, snapshot};

// -------------------------------------------------------------------------------------------
// Helpers.

fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join("pagefeed.toml"), text).expect("write config");
}

fn build(dir: &Path) -> Run {
    pagefeed(dir, &["build", "--config", "pagefeed.toml"])
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "exit status\n--- stdout:\n{}\n--- stderr:\n{}",
        run.stdout, run.stderr
    );
}

/// The files of feed `name` in `dir/out`.
fn files(dir: &Path, name: &str) -> Vec<PathBuf> {
    ["rss", "atom", "json"]
        .iter()
        .map(|ext| dir.join("out").join(format!("{name}.{ext}")))
        .collect()
}

/// The bytes of each file (modification times left out: a failed build must not touch them).
fn contents(paths: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(paths)
        .into_iter()
        .map(|(p, b, _)| (p, b))
        .collect()
}

/// A config with one scraped feed `news` of `url`; `extra` goes in the feed table, `items` is
/// the items table.
fn config(url: &str, extra: &str, items: &str) -> String {
    format!(
        "[settings]\noutput_dir = \"out\"\n\n[feeds.news]\nurl = \"{url}\"\n{extra}\n\n[feeds.news.items]\n{items}\n"
    )
}

const ITEMS: &str = "selector = \"li.entry\"\ntitle = \"h3\"\nlink = \"h3 a\"\nauthors = \".by\"";

/// A listing of `n` entries from `first`; `title`, `by` say whether each entry has an
/// `h3` title and a `.by` author.
fn listing(first: usize, n: usize, title: bool, by: bool) -> String {
    let mut out = String::from("<!doctype html><html><head><title>News</title></head><body><ul>\n");
    for i in first..first + n {
        let head = if title {
            format!("<h3><a href=\"/posts/{i}\">Post {i}</a></h3>")
        } else {
            format!("<p><a href=\"/posts/{i}\">Post {i}</a></p>")
        };
        let by = if by {
            "<span class=\"by\">Ann</span>"
        } else {
            ""
        };
        out.push_str(&format!("<li class=\"entry\">{head}{by}</li>\n"));
    }
    out.push_str("</ul></body></html>\n");
    out
}

/// Build once from `good`, change the page to `bad`, build again: exit 1, the files as they
/// were. Returns the failed run's stderr.
fn fails_after_good(server: &Server, dir: &Path, good: Response, bad: Response) -> String {
    server.route("/news", good);
    let run = build(dir);
    assert_exit(&run, 0);
    let before = contents(&files(dir, "news"));
    server.route("/news", bad);
    let run = build(dir);
    assert_exit(&run, 1);
    assert_eq!(
        contents(&files(dir, "news")),
        before,
        "the last good files are kept byte for byte"
    );
    assert!(
        run.stderr.contains("news: FAILED: feed news: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("kept the last good feed"),
        "{}",
        run.stderr
    );
    run.stderr
}

fn setup(extra: &str, items: &str) -> (Server, tempfile::TempDir, String) {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let url = server.url("/news");
    write_config(dir.path(), &config(&url, extra, items));
    (server, dir, url)
}

// -------------------------------------------------------------------------------------------
// min_items, title, coverage.

#[test]
fn fewer_entries_than_min_items_fail_the_feed() {
    let (server, dir, url) = setup("min_items = 3", ITEMS);
    let err = fails_after_good(
        &server,
        dir.path(),
        Response::html(listing(0, 5, true, true)),
        Response::html(listing(0, 2, true, true)),
    );
    assert!(
        err.contains(&format!(
            "item selector `li.entry` found 2 entries on {url}, fewer than `min_items = 3`"
        )),
        "{err}"
    );
}

#[test]
fn min_items_is_range_checked() {
    let (_server, dir, _) = setup("min_items = 0", ITEMS);
    let run = build(dir.path());
    assert_exit(&run, 2);
    assert!(
        run.stderr
            .contains("`min_items` must be between 1 and 10000, like `min_items = 5`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_title_that_matches_no_entry_fails_the_feed() {
    // The redesign moved titles out of h3; each entry's link still finds it.
    let (server, dir, url) = setup(
        "",
        "selector = \"li.entry\"\ntitle = \"h3\"\nlink = \"a\"\nauthors = \".by\"",
    );
    let err = fails_after_good(
        &server,
        dir.path(),
        Response::html(listing(0, 5, true, true)),
        Response::html(listing(0, 4, false, true)),
    );
    assert!(
        err.contains(&format!(
            "`title` (selector `h3`) matched none of the 4 entries on {url}; check the page, fix the selector, or mark the field optional"
        )),
        "{err}"
    );
}

#[test]
fn a_field_that_stops_matching_fails_the_feed() {
    let (server, dir, url) = setup("", ITEMS);
    let err = fails_after_good(
        &server,
        dir.path(),
        Response::html(listing(0, 5, true, true)),
        Response::html(listing(0, 4, true, false)),
    );
    assert!(
        err.contains(&format!(
            "`authors` (selector `.by`) found a value in 5 of 5 entries (100%) in the last good run, 0 of 4 now, on {url}; check the page, fix the selector, or mark the field optional (`optional = true` in its table)"
        )),
        "{err}"
    );
}

#[test]
fn an_optional_field_that_stops_matching_only_warns() {
    let items = ITEMS.replace(
        "authors = \".by\"",
        "authors = { selector = \".by\", optional = true }",
    );
    let (server, dir, url) = setup("", &items);
    server.route("/news", Response::html(listing(0, 5, true, true)));
    assert_exit(&build(dir.path()), 0);
    server.route("/news", Response::html(listing(1, 5, true, false)));
    let run = build(dir.path());
    assert_exit(&run, 0);
    assert!(
        run.stderr.contains(&format!(
            "warning: feed news: `authors` (selector `.by`) found a value in 5 of 5 entries (100%) in the last good run, 0 of 5 now, on {url}"
        )) && run.stderr.contains("(optional field: the feed is built)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("news: 5 found, 1 new, 6 items, written"),
        "{}",
        run.stderr
    );
}

#[test]
fn coverage_survives_an_unchanged_page_and_counts_the_last_good_run() {
    // A field below half in the last good run may vanish without failing the feed.
    let (server, dir, _) = setup("", ITEMS);
    let mut page = listing(0, 4, true, false);
    page = page.replacen("</a></h3>", "</a></h3><span class=\"by\">Bo</span>", 1);
    server.route("/news", Response::html(page));
    assert_exit(&build(dir.path()), 0);
    server.route("/news", Response::html(listing(0, 4, true, false)));
    assert_exit(&build(dir.path()), 0);
}

// -------------------------------------------------------------------------------------------
// Entries that collapse into one.

fn collapsing(n: usize) -> String {
    let mut out = String::from("<!doctype html><html><body><ul>\n");
    for i in 0..n {
        out.push_str(&format!(
            "<li class=\"entry\"><a href=\"/releases/latest\">Latest</a> <h3>Post {i}</h3><a href=\"/posts/{i}\">more</a></li>\n"
        ));
    }
    out.push_str("</ul></body></html>\n");
    out
}

#[test]
fn entries_that_collapse_into_one_link_are_told_and_a_single_item_fails() {
    let items = "selector = \"li.entry\"\ntitle = \"h3\"";
    let (server, dir, url) = setup("", items);
    let origin = server.origin();
    // First build: nothing to compare with; the collapse is a warning.
    server.route("/news", Response::html(collapsing(6)));
    let run = build(dir.path());
    assert_exit(&run, 0);
    assert!(
        run.stderr.contains(&format!(
            "warning: feed news: 6 of 6 entries have the same link `{origin}/releases/latest` on {url} and were kept as one item; set `link` in [feeds.news.items] to a selector for each entry's own link"
        )),
        "{}",
        run.stderr
    );

    // A good run with many items, then the redesign that collapses them: the feed fails.
    let (server, dir, url) = setup("", items);
    let origin = server.origin();
    let err = fails_after_good(
        &server,
        dir.path(),
        Response::html(listing(0, 6, true, true)),
        Response::html(collapsing(6)),
    );
    assert!(
        err.contains(&format!(
            "{url} gave a single item where the last good run had 6 (6 of 6 entries have the same link `{origin}/releases/latest`); set `link` in [feeds.news.items]"
        )),
        "{err}"
    );
}

// -------------------------------------------------------------------------------------------
// URL fields on elements without the attribute.

#[test]
fn a_link_on_an_element_without_href_is_no_link_and_a_warning() {
    let items = "selector = \"li.entry\"\ntitle = \"h3\"\nlink = \".link\"";
    let (server, dir, url) = setup("", items);
    let page = "<!doctype html><html><body><ul>\
        <li class=\"entry\"><h3>One</h3><span class=\"link\">Meet the Man</span></li>\
        <li class=\"entry\"><h3>Two</h3><span class=\"link\">Meet the Woman</span></li>\
        </ul></body></html>";
    server.route("/news", Response::html(page));
    let run = build(dir.path());
    assert_exit(&run, 0);
    assert!(
        run.stderr.contains(&format!(
            "warning: feed news: the `link` selector `.link` matched a <span> without `href` in 2 of 2 entries (100%) on {url}; they get no link from it (its text is not an address)"
        )),
        "{}",
        run.stderr
    );
    let json = read_json(&dir.path().join("out/news.json"));
    let items = json_items(&json);
    assert_eq!(items.len(), 2);
    for it in items {
        let link = json_str(it, "url");
        assert!(!link.contains("Meet"), "a link built from text: {link}");
        assert!(link.starts_with(&format!("{url}#item-")), "{link}");
    }
}

// -------------------------------------------------------------------------------------------
// Responses that are not HTML.

#[test]
fn responses_that_are_not_html_fail_with_their_kind() {
    let cases: Vec<(Response, String)> = vec![
        (
            Response::new(200, "application/pdf", b"%PDF-1.7\n".repeat(1500)),
            "answered with a PDF document (application/pdf, 13,500 bytes), not an HTML page; check `url`".into(),
        ),
        (
            Response::new(200, "text/html", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
            "answered with a PNG image (text/html, 16 bytes), not an HTML page".into(),
        ),
        (
            Response::new(200, "text/html; charset=utf-8", Vec::new()),
            "answered with an empty body (text/html; charset=utf-8, 0 bytes), not an HTML page".into(),
        ),
        (
            Response::new(200, "application/octet-stream", b"PK\x03\x04\x14\0\0\0".to_vec()),
            "answered with a zip archive (application/octet-stream, 8 bytes), not an HTML page".into(),
        ),
        (
            Response::new(200, "image/webp", b"RIFF\0\0\0\0WEBPVP8 ".to_vec()),
            "answered with a WebP image (image/webp, 16 bytes)".into(),
        ),
    ];
    let (server, dir, url) = setup("", ITEMS);
    server.route("/news", Response::html(listing(0, 3, true, true)));
    assert_exit(&build(dir.path()), 0);
    let before = contents(&files(dir.path(), "news"));
    for (response, want) in cases {
        server.route("/news", response);
        let run = build(dir.path());
        assert_exit(&run, 1);
        assert!(
            run.stderr.contains(&format!("feed news: {url} {want}")),
            "want {want}\n{}",
            run.stderr
        );
        assert_eq!(contents(&files(dir.path(), "news")), before);
    }
}

#[test]
fn an_upstream_feed_that_is_binary_says_so() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let url = server.url("/feed.xml");
    write_config(
        dir.path(),
        &format!("[settings]\noutput_dir = \"out\"\n\n[feeds.up]\nfeed_url = \"{url}\"\n"),
    );
    server.route(
        "/feed.xml",
        Response::new(200, "application/pdf", b"%PDF-1.4".to_vec()),
    );
    let run = build(dir.path());
    assert_exit(&run, 1);
    assert!(
        run.stderr.contains(&format!(
            "feed up: {url} answered with a PDF document (application/pdf, 8 bytes), not a feed; check `feed_url`"
        )),
        "{}",
        run.stderr
    );
}

// -------------------------------------------------------------------------------------------
// The history is tied to its source.

fn guids(dir: &Path) -> Vec<String> {
    let json = read_json(&dir.join("out/news.json"));
    let mut v: Vec<String> = json_items(&json)
        .iter()
        .map(|i| json_str(i, "url").to_string())
        .collect();
    v.sort();
    v
}

fn change_url(keep: bool) -> (Run, Run, Vec<String>, String) {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (server.url("/old"), server.url("/new"));
    let extra = if keep { "keep_history = true" } else { "" };
    server.route("/old", Response::html(listing(0, 3, true, true)));
    server.route("/new", Response::html(listing(10, 2, true, true)));
    write_config(dir.path(), &config(&a, extra, ITEMS));
    assert_exit(&build(dir.path()), 0);
    write_config(dir.path(), &config(&b, extra, ITEMS));
    let first = build(dir.path());
    assert_exit(&first, 0);
    let second = build(dir.path());
    assert_exit(&second, 0);
    (first, second, guids(dir.path()), format!("{a} to {b}"))
}

#[test]
fn a_changed_url_starts_the_history_anew_and_warns_once() {
    let (first, second, links, change) = change_url(false);
    assert!(
        first.stderr.contains(&format!(
            "warning: feed news: `url` changed from {change}; starting its history anew (set `keep_history = true` to keep the old items)"
        )),
        "{}",
        first.stderr
    );
    assert!(!second.stderr.contains("changed from"), "{}", second.stderr);
    assert_eq!(links.len(), 2, "{links:?}");
    assert!(links.iter().all(|l| l.contains("/posts/1")), "{links:?}");
}

#[test]
fn keep_history_keeps_the_old_items_when_the_url_changes() {
    let (first, _, links, _) = change_url(true);
    assert!(!first.stderr.contains("changed from"), "{}", first.stderr);
    assert_eq!(links.len(), 5, "{links:?}");
}

#[test]
fn forget_drops_a_feeds_history() {
    let (server, dir, _) = setup("", ITEMS);
    server.route("/news", Response::html(listing(0, 3, true, true)));
    assert_exit(&build(dir.path()), 0);
    server.route("/news", Response::html(listing(1, 3, true, true)));
    let run = build(dir.path());
    assert!(
        run.stderr.contains("news: 3 found, 1 new, 4 items"),
        "{}",
        run.stderr
    );

    let run = pagefeed(dir.path(), &["forget", "--config", "pagefeed.toml", "news"]);
    assert_exit(&run, 0);
    assert!(
        run.stdout
            .contains("news: forgot 4 items; its files stay until the next build starts it anew"),
        "{}",
        run.stdout
    );
    let run = build(dir.path());
    assert_exit(&run, 0);
    assert!(
        run.stderr
            .contains("news: 3 found, 3 new, 3 items, written"),
        "{}",
        run.stderr
    );

    let run = pagefeed(
        dir.path(),
        &["forget", "--config", "pagefeed.toml", "nosuch"],
    );
    assert_exit(&run, 2);
    assert!(
        run.stderr.contains("unknown feed `nosuch`") && run.stderr.contains("defines: news"),
        "{}",
        run.stderr
    );
    let run = pagefeed(dir.path(), &["forget", "--help"]);
    assert_exit(&run, 0);
    assert!(run.stdout.contains("Drop the history"), "{}", run.stdout);
    let run = pagefeed(dir.path(), &["forget", "--config", "pagefeed.toml"]);
    assert_exit(&run, 2);
}

// -------------------------------------------------------------------------------------------
// serve: status page and metrics.

/// `pagefeed serve` on an ephemeral port of 127.0.0.1, killed on drop.
struct Serve {
    child: std::process::Child,
    addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Serve {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pagefeed"))
        .args([
            "serve",
            "--config",
            "pagefeed.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start pagefeed serve");
    let stderr = child.stderr.take().expect("stderr pipe");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split('/').next().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("serve prints its address");
    Serve { child, addr }
}

const TOKEN: &str = "health-admin-token";

/// GET `path` (one request per connection); the body as text.
fn get(addr: &str, path: &str) -> String {
    request(addr, "GET", path, "")
}

fn request(addr: &str, method: &str, path: &str, headers: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Poll `path` until its body contains `want` (one minute at most); the last body.
fn get_until(addr: &str, path: &str, want: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let body = get(addr, path);
        if body.contains(want) || std::time::Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn serve_shows_field_coverage_and_health_warnings() {
    let items = ITEMS.replace(
        "authors = \".by\"",
        "authors = { selector = \".by\", optional = true }",
    );
    let (server, dir, url) = setup("", &items);
    write_config(
        dir.path(),
        &config(&url, "", &items).replace(
            "[settings]\n",
            &format!("[settings]\nadmin_token = \"{TOKEN}\"\n"),
        ),
    );
    server.route("/news", Response::html(listing(0, 4, true, true)));
    assert_exit(&build(dir.path()), 0);
    let s = serve(dir.path());
    // What the last good run stored is shown from the start.
    let page = get_until(&s.addr, "/", "coverage of 4 entries");
    assert!(
        page.contains("coverage of 4 entries: authors 100% · link 100% · title 100%"),
        "{page}"
    );
    // The redesign drops the authors; a refresh warns.
    server.route("/news", Response::html(listing(0, 4, true, false)));
    request(
        &s.addr,
        "POST",
        "/feeds/news/refresh",
        &format!("Authorization: Bearer {TOKEN}\r\nContent-Length: 0\r\n"),
    );
    let page = get_until(&s.addr, "/", "warning: feed news:");
    assert!(
        page.contains("coverage of 4 entries: authors 0% · link 100% · title 100%"),
        "{page}"
    );
    assert!(
        page.contains("warning: feed news: `authors` (selector `.by`) found a value in 4 of 4 entries (100%) in the last good run, 0 of 4 now"),
        "{page}"
    );
    let metrics = get(&s.addr, "/metrics");
    for line in [
        "pagefeed_field_coverage{feed=\"news\",field=\"authors\"} 0",
        "pagefeed_field_coverage{feed=\"news\",field=\"title\"} 1",
        "pagefeed_field_coverage{feed=\"news\",field=\"link\"} 1",
        "pagefeed_feed_warnings{feed=\"news\"} 1",
        "pagefeed_warnings_total{feed=\"news\"} 1",
        "# TYPE pagefeed_field_coverage gauge",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in\n{metrics}"
        );
    }
}

//! End-to-end tests of what a config author meets: config errors in plain words (exit 2),
//! `pagefeed preview` (the list of feeds, one entry whole, JSON) and `pagefeed check` (with and
//! without `--live`), run as the real binary against a real HTTP server on 127.0.0.1.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

use common::{Response, Run, Server, pagefeed};

// -------------------------------------------------------------------------------------------
// Fixtures.

/// A title longer than any table column, to show that nothing is cut.
const LONG_TITLE: &str = "Meet the man who spent eleven years mapping every railway station of the northern provinces by bicycle, and what he found at the end of the line";

/// A listing page with `n` entries; the first has [`LONG_TITLE`].
fn listing(n: usize) -> String {
    let mut body = String::new();
    for i in 1..=n {
        let title = if i == 1 {
            LONG_TITLE.to_string()
        } else {
            format!("Story number {i}")
        };
        body.push_str(&format!(
            r#"
  <li class="post" id="p{i}">
    <h2 class="headline"><a href="/stories/{i}/">{title}</a></h2>
    <span class="by">Author {i}</span>
    <time datetime="2024-03-{i:02}T10:00:00Z">March {i}</time>
    <p class="sum">Summary of story {i}.</p>
  </li>"#
        ));
    }
    format!(
        "<!doctype html><html><head><title>Stories</title></head><body>\n<ul class=\"posts\">{body}\n</ul>\n<footer><a href=\"/about/\">About</a></footer></body></html>\n"
    )
}

/// A scraped feed `name` reading `url`, with `extra` lines in its items table.
fn page_feed(name: &str, url: &str, extra: &str) -> String {
    format!(
        r#"
[feeds.{name}]
url = "{url}"

[feeds.{name}.items]
selector = "li.post"
title = "h2.headline a"
link = {{ selector = "h2.headline a", attr = "href" }}
authors = ".by"
date = "time"
summary = "p.sum"
{extra}
"#
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Run `pagefeed ARGS --config CFG` in `dir`.
fn run(dir: &Path, cfg: &Path, args: &[&str]) -> Run {
    let cfg = cfg.to_str().expect("utf-8 path");
    let mut all: Vec<&str> = args.to_vec();
    all.extend_from_slice(&["--config", cfg]);
    pagefeed(dir, &all)
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "exit status\n--- stdout:\n{}\n--- stderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

fn assert_says(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "no `{n}` in:\n{text}");
    }
}

/// Words of serde and of the CSS library that must never reach a config author.
fn assert_no_rust(text: &str) {
    for rust in [
        "invalid type",
        "expected i64",
        "expected a string",
        "unknown field",
        "Unexpected error occurred",
        "report this to the developer",
        "untagged enum",
        "RawFeed",
        "RawItems",
    ] {
        assert!(!text.contains(rust), "`{rust}` in:\n{text}");
    }
}

/// The 1-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no `{needle}` in the config"))
        + 1
}

// -------------------------------------------------------------------------------------------
// Config messages: every command that reads the config stops with exit 2 and the message.

/// `text` is a config error at `needle`'s line for `build`, `check` and `preview`, saying
/// `says`; nothing is fetched.
fn assert_config_error(text: &str, needle: &str, says: &[&str]) {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = text.replace("URL", &server.url("/news/"));
    let cfg = write_config(dir.path(), &text);
    let line = line_of(&text, needle);
    for args in [&["build"][..], &["check"], &["preview", "news"]] {
        let r = run(dir.path(), &cfg, args);
        assert_exit(&r, 2);
        assert_says(&r.stderr, says);
        assert_says(&r.stderr, &[&format!("{}:{line}:", cfg.display())]);
        assert_no_rust(&r.stderr);
    }
    assert_eq!(server.hits("/news/"), 0, "nothing is fetched");
    assert!(!dir.path().join("public").exists(), "nothing is written");
}

#[test]
fn a_count_in_quotes_says_it_must_be_a_whole_number() {
    let text =
        page_feed("news", "URL", "").replace("url = \"URL\"", "url = \"URL\"\nmax_items = \"50\"");
    assert_config_error(
        &text,
        "max_items",
        &[
            "feed news",
            "`max_items` must be a whole number, like `max_items = 50`",
        ],
    );
}

#[test]
fn a_duration_without_quotes_says_it_is_a_duration_in_quotes() {
    let text = format!(
        "[settings]\ntimeout = true\n{}",
        page_feed("news", "URL", "")
    );
    assert_config_error(
        &text,
        "timeout",
        &["`timeout` is a duration in quotes, like `timeout = \"20s\"`"],
    );
}

#[test]
fn a_number_where_text_belongs_says_text_in_quotes() {
    let text = page_feed("news", "URL", "").replace("url = \"URL\"", "url = \"URL\"\ntitle = 20");
    assert_config_error(
        &text,
        "title = 20",
        &["feed news", "`title` is text in quotes", "the number 20"],
    );
}

#[test]
fn a_misspelt_key_gets_did_you_mean() {
    let text =
        page_feed("news", "URL", "").replace("selector = \"li.post\"", "selectr = \"li.post\"");
    assert_config_error(
        &text,
        "selectr",
        &["unknown key `selectr` in [feeds.news.items]; did you mean `selector`?"],
    );
}

#[test]
fn an_unknown_key_far_from_any_lists_the_allowed_keys() {
    let text = page_feed("news", "URL", "").replace("url = \"URL\"", "url = \"URL\"\nwibble = 1");
    assert_config_error(
        &text,
        "wibble",
        &[
            "unknown key `wibble` in [feeds.news]",
            "the keys allowed here are `url`",
        ],
    );
}

#[test]
fn a_duplicate_feed_table_names_the_line_of_the_first() {
    let first = page_feed("news", "URL", "");
    let text = format!("{first}\n[feeds.news]\nurl = \"other.html\"\n");
    let first_line = line_of(&text, "[feeds.news]");
    let dup_line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[feeds.news]")
        .nth(1)
        .map(|(n, _)| n + 1)
        .expect("two headers");
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &text.replace("URL", &server.url("/news/")));
    let r = run(dir.path(), &cfg, &["build"]);
    assert_exit(&r, 2);
    assert_says(
        &r.stderr,
        &[
            &format!("{}:{dup_line}:", cfg.display()),
            &format!("[feeds.news] is defined twice; the first is on line {first_line}"),
        ],
    );
    assert_no_rust(&r.stderr);
}

#[test]
fn an_invalid_selector_is_shown_with_a_caret_and_plain_words() {
    let text = page_feed("news", "URL", "").replace(
        "title = \"h2.headline a\"",
        "title = \"h2.headline a:hover\"",
    );
    assert_config_error(
        &text,
        "a:hover",
        &[
            "feed news, key `items.title`",
            "invalid CSS selector: `:hover` is not a pseudo-class",
        ],
    );
    // The caret sits under the colon.
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &text.replace("URL", &server.url("/news/")));
    let r = run(dir.path(), &cfg, &["build"]);
    let lines: Vec<&str> = r.stderr.lines().collect();
    let shown = lines
        .iter()
        .position(|l| l.trim() == "h2.headline a:hover")
        .unwrap_or_else(|| panic!("the selector on a line of its own:\n{}", r.stderr));
    let col = lines[shown].find("h2.headline").expect("selector") + "h2.headline a".len();
    assert_eq!(lines[shown + 1].find('^'), Some(col), "{}", r.stderr);
}

#[test]
fn a_config_without_feeds_is_exit_2_with_a_minimal_feed_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), "[settings]\ntimeout = \"20s\"\n");
    for args in [
        &["build"][..],
        &["check"],
        &["preview"],
        &["serve", "--listen", "127.0.0.1:0"],
    ] {
        let r = run(dir.path(), &cfg, args);
        assert_exit(&r, 2);
        assert_says(
            &r.stderr,
            &[
                "defines no feeds",
                "[feeds.news]\nurl = \"https://example.org/news/\"\n[feeds.news.items]\nselector = \"article\"\ntitle = \"h2 a\"",
                "pagefeed suggest URL",
            ],
        );
    }
    assert!(!dir.path().join("public").exists(), "nothing is written");
}

// -------------------------------------------------------------------------------------------
// preview: the list of feeds, one entry whole, JSON.

/// A config with a page feed `news` on `server`, an upstream feed and a merge.
fn three_feeds(server: &Server) -> String {
    format!(
        "[settings]\noutput_dir = \"public\"\n{}\n[feeds.wire]\nfeed_url = \"{}\"\n\n[feeds.digest]\nmerge = [\"news\", \"wire\"]\n",
        page_feed("news", &server.url("/news/"), ""),
        server.url("/wire.xml")
    )
}

#[test]
fn preview_without_a_feed_lists_the_feeds() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &three_feeds(&server));
    let r = run(dir.path(), &cfg, &["preview"]);
    assert_exit(&r, 0);
    let rows: Vec<Vec<&str>> = r
        .stdout
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0][..3],
        ["news", "page", &server.url("/news/")],
        "{}",
        r.stdout
    );
    assert_eq!(
        rows[1][..3],
        ["wire", "feed", &server.url("/wire.xml")],
        "{}",
        r.stdout
    );
    assert_eq!(rows[2][..2], ["digest", "merge"], "{}", r.stdout);
    assert_says(&r.stdout, &["merges news, wire"]);
    assert_eq!(server.hits("/news/"), 0, "listing fetches nothing");

    let r = run(dir.path(), &cfg, &["preview", "--json"]);
    assert_exit(&r, 0);
    let v: Value = serde_json::from_str(&r.stdout).expect("JSON");
    let names: Vec<&str> = v["feeds"]
        .as_array()
        .expect("feeds")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["news", "wire", "digest"]);
    assert_eq!(v["feeds"][2]["merge"], serde_json::json!(["news", "wire"]));
}

#[test]
fn preview_entry_shows_one_entry_whole_with_the_elements_matched() {
    let server = Server::start();
    server.route("/news/", Response::html(listing(3)));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &three_feeds(&server));

    // The table cuts the long title; --entry shows it whole.
    let r = run(dir.path(), &cfg, &["preview", "news"]);
    assert_exit(&r, 0);
    assert!(!r.stdout.contains(LONG_TITLE), "{}", r.stdout);

    let r = run(dir.path(), &cfg, &["preview", "news", "--entry", "1"]);
    assert_exit(&r, 0);
    assert_says(
        &r.stdout,
        &[
            "entry 1 of 3",
            LONG_TITLE,
            &server.url("/stories/1/"),
            "Author 1",
            "Summary of story 1.",
            "read from the text \"2024-03-01T10:00:00Z\"",
            "2024-03-01 10:00 +00:00",
            // The element each field matched, as HTML.
            "from `h2.headline a`: <a href=\"/stories/1/\">Meet the man",
            "from `.by`: <span class=\"by\">Author 1</span>",
            "from `time`: <time datetime=\"2024-03-01T10:00:00Z\">March 1</time>",
            "element: <li class=\"post\" id=\"p1\">",
            "categories",
            "(not configured)",
        ],
    );
    let r = run(dir.path(), &cfg, &["preview", "news", "--entry", "3"]);
    assert_exit(&r, 0);
    assert_says(&r.stdout, &["entry 3 of 3", "Story number 3", "Author 3"]);

    let r = run(dir.path(), &cfg, &["preview", "news", "--entry", "4"]);
    assert_exit(&r, 2);
    assert_says(&r.stderr, &["feed news has 3 entries", "from 1 to 3"]);
}

#[test]
fn preview_entry_excerpts_a_large_element() {
    let server = Server::start();
    let big = listing(2).replace(
        "<p class=\"sum\">Summary of story 1.</p>",
        &format!("<p class=\"sum\">{}</p>", "word ".repeat(5_000)),
    );
    server.route("/news/", Response::html(big));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &three_feeds(&server));
    let r = run(dir.path(), &cfg, &["preview", "news", "--entry", "1"]);
    assert_exit(&r, 0);
    let from = r
        .stdout
        .lines()
        .find(|l| l.contains("from `p.sum`"))
        .expect("summary element line");
    let excerpt = from.split_once(": ").map(|(_, e)| e).expect("excerpt");
    assert!(
        excerpt.starts_with("<p class=\"sum\">word word"),
        "{excerpt}"
    );
    assert!(excerpt.ends_with('…'), "{excerpt}");
    assert_eq!(excerpt.chars().count(), 201, "{excerpt}");
    // The value itself is whole.
    assert!(
        r.stdout
            .contains(&"word ".repeat(5_000).trim_end().to_string())
    );
}

#[test]
fn preview_json_has_every_entry_with_fields_elements_and_coverage() {
    let server = Server::start();
    // Entry 2 has no author.
    let page = listing(3).replace("<span class=\"by\">Author 2</span>", "");
    server.route("/news/", Response::html(page));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &three_feeds(&server));
    let r = run(dir.path(), &cfg, &["preview", "news", "--json"]);
    assert_exit(&r, 0);
    let v: Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(v["feed"], "news");
    assert_eq!(v["selector"], "li.post");
    let entries = v["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    let first = &entries[0]["fields"];
    assert_eq!(first["title"]["value"], LONG_TITLE);
    assert_eq!(first["title"]["selector"], "h2.headline a");
    assert_eq!(first["link"]["value"], server.url("/stories/1/"));
    assert_eq!(first["authors"]["value"], serde_json::json!(["Author 1"]));
    assert_eq!(first["date"]["value"], "2024-03-01T10:00:00+00:00");
    assert_eq!(first["date"]["text"], "2024-03-01T10:00:00Z");
    assert_eq!(
        first["authors"]["element"],
        "<span class=\"by\">Author 1</span>"
    );
    assert!(
        entries[0]["element"]
            .as_str()
            .is_some_and(|e| e.starts_with("<li class=\"post\" id=\"p1\">")),
        "{}",
        entries[0]["element"]
    );
    assert_eq!(first["categories"]["selector"], Value::Null);
    assert_eq!(
        entries[1]["fields"]["authors"]["value"],
        serde_json::json!([])
    );
    assert_eq!(entries[1]["fields"]["authors"]["element"], Value::Null);
    let cov = &v["coverage"];
    assert_eq!(cov["title"]["matched"], 3);
    assert_eq!(cov["authors"]["matched"], 2);
    assert_eq!(cov["authors"]["of"], 3);
    assert_eq!(cov["categories"]["configured"], false);
}

#[test]
fn preview_of_a_feed_that_is_not_a_page_is_exit_2() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &three_feeds(&server));
    let r = run(dir.path(), &cfg, &["preview", "digest", "--json"]);
    assert_exit(&r, 2);
    assert_says(&r.stderr, &["feed digest is not a listing page"]);
    let r = run(dir.path(), &cfg, &["preview", "nosuch"]);
    assert_exit(&r, 2);
    assert_says(&r.stderr, &["unknown feed `nosuch`", "news, wire, digest"]);
}

// -------------------------------------------------------------------------------------------
// check: without network, and with --live.

#[test]
fn check_without_live_passes_a_good_config_and_fetches_nothing() {
    let server = Server::start();
    server.route("/news/", Response::html(listing(3)));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("local.html"), listing(2)).expect("write page");
    let text = format!(
        "{}{}",
        three_feeds(&server),
        page_feed("local", "local.html", "")
    );
    let cfg = write_config(dir.path(), &text);
    let r = run(dir.path(), &cfg, &["check"]);
    assert_exit(&r, 0);
    assert_says(
        &r.stdout,
        &[
            "news: ok: page ",
            "item selector `li.post`",
            "wire: ok: feed ",
            "digest: ok: merges news, wire",
            "local: ok: page ",
            "4 feeds checked",
            "4 ok, 0 would fail",
        ],
    );
    assert_eq!(
        server.hits("/news/"),
        0,
        "check without --live fetches nothing"
    );
    assert_eq!(server.hits("/wire.xml"), 0);
    assert!(!dir.path().join("public").exists(), "nothing is written");
}

#[test]
fn check_without_live_reports_every_feed_with_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "{}{}{}",
        page_feed("alpha", "https://example.org/a", "")
            .replace("title = \"h2.headline a\"", "title = \"h2 >> a\""),
        page_feed("beta", "https://example.org/b", "").replace(
            "url = \"https://example.org/b\"",
            "url = \"https://example.org/b\"\ntime_zone = \"Mars/Olympus\""
        ),
        page_feed("gamma", "https://example.org/c", "").replace(
            "summary = \"p.sum\"",
            "summary = { selector = \"p\", regex = \"(\" }"
        ),
    );
    let cfg = write_config(dir.path(), &text);
    let r = run(dir.path(), &cfg, &["check"]);
    assert_exit(&r, 2);
    assert_says(
        &r.stderr,
        &[
            &format!("{}:{}:", cfg.display(), line_of(&text, "h2 >> a")),
            "feed alpha, key `items.title`: invalid CSS selector",
            &format!("{}:{}:", cfg.display(), line_of(&text, "Mars/Olympus")),
            "feed beta, key `time_zone`",
            "feed gamma, key `items.summary`: invalid regex",
            "3 problems in the config",
        ],
    );
    // `build` stops at the first.
    let r = run(dir.path(), &cfg, &["build"]);
    assert_exit(&r, 2);
    assert_says(&r.stderr, &["feed alpha"]);
}

#[test]
fn check_without_live_fails_a_missing_file_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("here.html"), listing(2)).expect("write page");
    let text = format!(
        "{}{}",
        page_feed("here", "here.html", ""),
        page_feed("gone", "pages/gone.html", "")
    );
    let cfg = write_config(dir.path(), &text);
    let r = run(dir.path(), &cfg, &["check"]);
    assert_exit(&r, 1);
    assert_says(
        &r.stdout,
        &["here: ok", "gone: FAIL", "gone.html", "1 ok, 1 would fail"],
    );
    // Only the good one: all good.
    let r = run(dir.path(), &cfg, &["check", "here"]);
    assert_exit(&r, 0);
    assert!(!r.stdout.contains("gone"), "{}", r.stdout);
    let r = run(dir.path(), &cfg, &["check", "nosuch"]);
    assert_exit(&r, 2);
    assert_says(&r.stderr, &["unknown feed `nosuch`", "here, gone"]);
}

/// An RSS feed with `n` items.
fn rss(n: usize) -> String {
    let items: String = (1..=n)
        .map(|i| format!("<item><title>Wire {i}</title><link>https://wire.example/{i}</link><guid>https://wire.example/{i}</guid></item>"))
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title><link>https://wire.example/</link><description>d</description>{items}</channel></rss>"
    )
}

#[test]
fn check_live_reports_entries_and_coverage_and_writes_nothing() {
    let server = Server::start();
    // Entry 2 has no author.
    server.route(
        "/news/",
        Response::html(listing(3).replace("<span class=\"by\">Author 2</span>", "")),
    );
    server.route(
        "/wire.xml",
        Response::new(200, "application/rss+xml", rss(4)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &three_feeds(&server));
    let r = run(dir.path(), &cfg, &["check", "--live"]);
    assert_exit(&r, 0);
    assert_says(
        &r.stdout,
        &[
            &format!("news: ok: 3 entries on {}", server.url("/news/")),
            "title 3/3, link 3/3, summary 3/3, authors 2/3, date 3/3",
            &format!("wire: ok: 4 entries in {}", server.url("/wire.xml")),
            "digest: ok: merges news, wire",
            "3 feeds checked live: 3 ok, 0 would fail",
        ],
    );
    assert_eq!(server.hits("/news/"), 1);
    assert_eq!(server.hits("/wire.xml"), 1);
    assert!(!dir.path().join("public").exists(), "nothing is written");
}

#[test]
fn check_live_names_the_feeds_that_would_fail() {
    let server = Server::start();
    // The page was redesigned: headlines are h3 now, so the title selector matches nothing
    // (the entries still have links).
    server.route(
        "/news/",
        Response::html(
            listing(3)
                .replace("h2 class=\"headline\"", "h3 class=\"headline\"")
                .replace("</h2>", "</h3>"),
        ),
    );
    server.route(
        "/wire.xml",
        Response::new(200, "application/rss+xml", rss(2)),
    );
    server.route("/empty/", Response::html(listing(0)));
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "{}{}{}",
        three_feeds(&server).replace(
            "link = { selector = \"h2.headline a\", attr = \"href\" }",
            "link = { selector = \"a\", attr = \"href\" }"
        ),
        page_feed("empty", &server.url("/empty/"), ""),
        page_feed("missing", &server.url("/missing/"), ""),
    )
    .replace(
        "[feeds.missing]",
        &format!(
            "[feeds.few]\nurl = \"{}\"\nmin_items = 3\n[feeds.few.items]\nselector = \"li.post\"\ntitle = \"h2 a\"\n\n[feeds.missing]",
            server.url("/few/")
        ),
    );
    server.route("/few/", Response::html(listing(2)));
    let cfg = write_config(dir.path(), &text);
    let r = run(dir.path(), &cfg, &["check", "--live"]);
    assert_exit(&r, 1);
    assert_says(
        &r.stdout,
        &[
            "news: FAIL: 3 entries",
            "title 0/3",
            "`title` (selector `h2.headline a`) matched none of the 3 entries",
            "few: FAIL: 2 entries",
            "fewer than `min_items = 3`",
            "wire: ok: 2 entries",
            "digest: FAIL",
            "it merges feed news, which would fail",
            "empty: FAIL: 0 entries",
            "item selector `li.post` matched nothing",
            "missing: FAIL",
            "HTTP 404",
            "1 ok, 5 would fail",
        ],
    );
    // Only the good feed: exit 0, and only its source is fetched.
    let before = server.hits("/news/");
    let r = run(dir.path(), &cfg, &["check", "--live", "wire"]);
    assert_exit(&r, 0);
    assert_says(
        &r.stdout,
        &["wire: ok: 2 entries", "1 feeds checked live: 1 ok"],
    );
    assert_eq!(server.hits("/news/"), before);
    assert!(!dir.path().join("public").exists(), "nothing is written");
}

#[test]
fn check_live_compares_with_the_last_good_run_without_touching_the_history() {
    let server = Server::start();
    server.route("/news/", Response::html(listing(4)));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &format!(
            "[settings]\noutput_dir = \"public\"\n{}",
            page_feed("news", &server.url("/news/"), "")
        ),
    );
    let r = run(dir.path(), &cfg, &["build"]);
    assert_exit(&r, 0);
    // The authors left the page in a redesign: every entry still has a title and a link.
    let redesigned = (1..=4).fold(listing(4), |page, i| {
        page.replace(&format!("<span class=\"by\">Author {i}</span>"), "")
    });
    server.route("/news/", Response::html(redesigned));
    let db = dir.path().join("public").join("pagefeed.db");
    let mut state: Vec<PathBuf> = vec![db.clone()];
    for ext in ["db-wal", "db-shm"] {
        let p = db.with_extension(ext);
        if p.exists() {
            state.push(p);
        }
    }
    let before = common::snapshot(&state);
    let r = run(dir.path(), &cfg, &["check", "--live"]);
    assert_exit(&r, 1);
    assert_says(
        &r.stdout,
        &[
            "news: FAIL: 4 entries",
            "authors 0/4",
            "`authors` (selector `.by`) found a value in 4 of 4 entries (100%) in the last good run, 0 of 4 now",
        ],
    );
    assert_eq!(
        common::snapshot(&state),
        before,
        "check writes nothing to the history"
    );
    // With the field optional, it only warns.
    let text = std::fs::read_to_string(&cfg).expect("config").replace(
        "authors = \".by\"",
        "authors = { selector = \".by\", optional = true }",
    );
    std::fs::write(&cfg, text).expect("write config");
    let r = run(dir.path(), &cfg, &["check", "--live"]);
    assert_exit(&r, 0);
    assert_says(
        &r.stdout,
        &[
            "news: ok: 4 entries",
            "warning: feed news:",
            "optional field",
        ],
    );
}

#[test]
fn check_live_fails_responses_that_are_not_pages_or_feeds() {
    let server = Server::start();
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    server.route("/news/", Response::new(200, "application/pdf", pdf.clone()));
    server.route("/wire.xml", Response::new(200, "application/pdf", pdf));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &three_feeds(&server));
    let r = run(dir.path(), &cfg, &["check", "--live", "news", "wire"]);
    assert_exit(&r, 1);
    assert_says(
        &r.stdout,
        &["news: FAIL", "wire: FAIL", "PDF", "0 ok, 2 would fail"],
    );
    // An empty feed is valid: a warning, not a failure (build writes it too).
    server.route(
        "/wire.xml",
        Response::new(200, "application/rss+xml", rss(0)),
    );
    let r = run(dir.path(), &cfg, &["check", "--live", "wire"]);
    assert_exit(&r, 0);
    assert_says(
        &r.stdout,
        &["wire: ok: 0 entries", "has no entries right now"],
    );
}

#[test]
fn preview_of_a_feed_without_items_shows_what_automatic_extraction_finds() {
    let server = Server::start();
    let entries: String = (1..=6)
        .map(|i| {
            format!(
                r#"<article class="post"><h2><a href="/posts/{i}">A headline long enough to be one, number {i}</a></h2><time datetime="2020-10-{i:02}T10:00:00Z">Oct {i}</time><p>Some words of summary for entry {i}.</p></article>"#
            )
        })
        .collect();
    server.route(
        "/blog/",
        Response::html(format!(
            r#"<!doctype html><html lang="en"><head><title>Blog</title></head><body><nav><a href="/">Home</a> <a href="/about">About</a></nav><main>{entries}</main></body></html>"#
        )),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &format!(
            "[settings]\noutput_dir = \"public\"\n\n[feeds.blog]\nurl = \"{}\"\n",
            server.url("/blog/")
        ),
    );
    let r = run(dir.path(), &cfg, &["preview", "blog"]);
    assert_exit(&r, 0);
    assert_says(&r.stderr, &["has no [items] table", "found automatically"]);
    assert_says(
        &r.stdout,
        &[
            "6 entries",
            "A headline long enough to be one, number 1",
            "A headline long enough to be one, number 6",
        ],
    );
    let r = run(dir.path(), &cfg, &["preview", "blog", "--entry", "2"]);
    assert_exit(&r, 0);
    assert_says(&r.stdout, &["A headline long enough to be one, number 2"]);
}

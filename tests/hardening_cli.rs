//! End-to-end tests of pagefeed under bad and unlucky input: pages with characters XML
//! forbids, dates no feed can carry, a history written by an older version with such dates,
//! items that share a date, and the leftovers of a killed run. The real binary builds from a
//! real HTTP server on 127.0.0.1; its feeds are read back with a strict XML 1.0 parser
//! (roxmltree) and the `rss`, `atom_syndication` and serde_json readers.

mod common;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use common::{Response, Run, Server, json_items, json_str, list_dir, pagefeed, read_json};

// -------------------------------------------------------------------------------------------
// Helpers.

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, text).expect("write config");
    path
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

/// A feed table for [`page`]'s markup.
fn feed(name: &str, url: &str, extra: &str) -> String {
    format!(
        r#"
[feeds.{name}]
url = "{url}"
{extra}

[feeds.{name}.items]
selector = "li.entry"
title = "a"
link = "a"
summary = {{ selector = ".text", html = true }}
authors = ".by"
date = "time"
"#
    )
}

/// A listing: one `li.entry` per `(href, title HTML, summary HTML, time element)`.
fn page(entries: &[(&str, &str, &str, &str)]) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><title>List</title></head><body><ul>\n",
    );
    for (href, title, text, time) in entries {
        out.push_str(&format!(
            "<li class=\"entry\"><a href=\"{href}\">{title}</a> <span class=\"by\">Ann</span> {time}<div class=\"text\">{text}</div></li>\n"
        ));
    }
    out.push_str("</ul></body></html>\n");
    out
}

/// Reads all three files of `name` with every parser; returns (RSS, Atom, JSON) texts.
fn read_all(out: &Path, name: &str) -> (String, String, serde_json::Value) {
    let read = |ext: &str| {
        let p = out.join(format!("{name}.{ext}"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    };
    let (rss, atom) = (read("rss"), read("atom"));
    for (what, text) in [("RSS", &rss), ("Atom", &atom)] {
        if let Err(e) = roxmltree::Document::parse(text) {
            panic!("{name} {what} is not well-formed XML: {e}\n{text}");
        }
    }
    rss::Channel::read_from(rss.as_bytes()).unwrap_or_else(|e| panic!("{name}.rss: {e}"));
    atom_syndication::Feed::read_from(atom.as_bytes())
        .unwrap_or_else(|e| panic!("{name}.atom: {e}"));
    let json = read_json(&out.join(format!("{name}.json")));
    (rss, atom, json)
}

/// Item dates of a JSON Feed, in feed order.
fn json_dates(json: &serde_json::Value) -> Vec<DateTime<Utc>> {
    json_items(json)
        .iter()
        .map(|i| {
            DateTime::parse_from_rfc3339(json_str(i, "date_published"))
                .unwrap_or_else(|e| panic!("date of {i}: {e}"))
                .with_timezone(&Utc)
        })
        .collect()
}

fn json_titles(json: &serde_json::Value) -> Vec<String> {
    json_items(json)
        .iter()
        .map(|i| json_str(i, "title").to_string())
        .collect()
}

// -------------------------------------------------------------------------------------------
// Well-formed output.

#[test]
fn control_characters_never_reach_the_feeds() {
    let server = Server::start();
    server.route(
        "/list",
        Response::html(page(&[
            (
                "/a",
                "Raw \u{1}one\u{8} and \u{B}\u{C}\u{1F}",
                "<p>text &#1; and &#x1B; and \u{FFFE}\u{FFFF}</p>",
                "",
            ),
            (
                "/b",
                "Entity &#1;two&#x1B;",
                "<p>&amp;#1; stays as text</p>",
                "",
            ),
        ])),
    );
    // An upstream JSON Feed with a NUL in a title, and a merged feed of both.
    server.route(
        "/feed.json",
        Response::new(
            200,
            "application/feed+json",
            r#"{"version":"https://jsonfeed.org/version/1.1","title":"Up\u0000stream","items":[
                {"id":"u1","url":"https://up.example/1","title":"Nul\u0000here\u0007","content_text":"x\u0001y"}]}"#,
        ),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = String::from("[settings]\noutput_dir = \"out\"\n");
    cfg.push_str(&feed(
        "list",
        &server.url("/list"),
        "title = \"List \\u0001 feed\"",
    ));
    cfg.push_str(&format!(
        "\n[feeds.up]\nfeed_url = \"{}\"\n\n[feeds.both]\nmerge = [\"list\", \"up\"]\n",
        server.url("/feed.json")
    ));
    write_config(dir.path(), &cfg);
    let run = build(dir.path());
    assert_exit(&run, 0);
    let out = dir.path().join("out");
    for name in ["list", "up", "both"] {
        let (rss, atom, json) = read_all(&out, name);
        let json_text = serde_json::to_string(&json).expect("json");
        for text in [&rss, &atom, &json_text] {
            for bad in [
                '\u{0}', '\u{1}', '\u{7}', '\u{8}', '\u{B}', '\u{C}', '\u{1B}', '\u{1F}',
            ] {
                assert!(!text.contains(bad), "{name} holds {bad:?}:\n{text}");
            }
            assert!(
                !text.contains("\\u0000") && !text.contains("\\u0001"),
                "{text}"
            );
            assert!(!text.contains('\u{FFFE}') && !text.contains('\u{FFFF}'));
            assert!(
                !text.contains("&#1;") && !text.contains("&amp;#x1B;"),
                "{text}"
            );
        }
    }
    let (_, _, list) = read_all(&out, "list");
    assert_eq!(
        json_titles(&list),
        ["Raw one and", "Entity two"],
        "the characters go, the text stays"
    );
    assert_eq!(json_str(&list, "title"), "List  feed");
    let (_, _, both) = read_all(&out, "both");
    assert!(
        json_titles(&both).contains(&"Nulhere".to_string()),
        "{both}"
    );
}

// -------------------------------------------------------------------------------------------
// Dates that cannot hurt.

#[test]
fn impossible_and_future_dates_are_no_dates_and_hurt_no_other_feed() {
    let server = Server::start();
    let far_future = (Utc::now() + chrono::TimeDelta::days(365)).format("%Y-%m-%d");
    let bad_page = page(&[
        (
            "/y9999",
            "Year 9999",
            "",
            r#"<time datetime="9999-12-31T23:59:59Z">x</time>"#,
        ),
        ("/ago", "Long ago", "", "<time>3000 years ago</time>"),
        (
            "/epoch",
            "Huge timestamp",
            "",
            "<time>99999999999999</time>",
        ),
        (
            "/future",
            "Next year",
            "",
            &format!(r#"<time datetime="{far_future}T10:00:00Z">soon</time>"#),
        ),
        (
            "/ok",
            "Fine",
            "",
            r#"<time datetime="2020-10-15T10:00:00Z">x</time>"#,
        ),
    ]);
    server.route("/bad", Response::html(bad_page.clone()));
    server.route("/events", Response::html(bad_page));
    server.route(
        "/good",
        Response::html(page(&[(
            "/g",
            "Good",
            "",
            r#"<time datetime="2021-01-01T00:00:00Z">x</time>"#,
        )])),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = String::from("[settings]\noutput_dir = \"out\"\n");
    cfg.push_str(&feed("bad", &server.url("/bad"), ""));
    cfg.push_str(&feed(
        "events",
        &server.url("/events"),
        "future_dates = true",
    ));
    cfg.push_str(&feed("good", &server.url("/good"), ""));
    write_config(dir.path(), &cfg);
    let before = Utc::now() - chrono::TimeDelta::seconds(1);
    let run = build(dir.path());
    let after = Utc::now() + chrono::TimeDelta::seconds(10);
    assert_exit(&run, 0);
    for want in [
        "feed bad: entry 1 (Year 9999): the date `9999-12-31T23:59:59Z` reads as 9999-12-31T23:59:59Z, which is outside the years 1900 to 2199",
        "feed bad: entry 4 (Next year)",
        "is more than two days after the fetch (set `future_dates = true`",
    ] {
        assert!(run.stderr.contains(want), "no `{want}` in\n{}", run.stderr);
    }
    let out = dir.path().join("out");
    let (_, _, bad) = read_all(&out, "bad");
    let (_, _, events) = read_all(&out, "events");
    read_all(&out, "good");
    let dated: Vec<(String, DateTime<Utc>)> = json_titles(&bad)
        .into_iter()
        .zip(json_dates(&bad))
        .collect();
    for (title, date) in &dated {
        if title == "Fine" {
            assert_eq!(date.to_rfc3339(), "2020-10-15T10:00:00+00:00");
        } else {
            assert!(
                *date >= before && *date <= after,
                "{title} is dated by first sight, not {date}"
            );
        }
    }
    let future = json_titles(&events)
        .into_iter()
        .zip(json_dates(&events))
        .find(|(t, _)| t == "Next year")
        .map(|(_, d)| d.format("%Y-%m-%d").to_string());
    assert_eq!(
        future.as_deref(),
        Some(far_future.to_string().as_str()),
        "future_dates keeps it"
    );
    // A page that breaks keeps every last good file.
    let feeds = |out: &Path| -> Vec<(String, Vec<u8>)> {
        list_dir(out)
            .into_iter()
            .filter(|n| [".rss", ".atom", ".json"].iter().any(|e| n.ends_with(e)))
            .map(|n| {
                let bytes = std::fs::read(out.join(&n)).expect("read");
                (n, bytes)
            })
            .collect()
    };
    let first = feeds(&out);
    assert_eq!(first.len(), 9);
    server.route("/bad", Response::html(page(&[])));
    let run = build(dir.path());
    assert_exit(&run, 1);
    assert!(
        first == feeds(&out),
        "a failing page keeps every last good file"
    );
}

/// The columns of the state database pagefeed 0.1 wrote (schema version 1).
const V1_SCHEMA: &str = "
CREATE TABLE items (
    feed TEXT NOT NULL, guid TEXT NOT NULL, permalink INTEGER NOT NULL, title TEXT, link TEXT,
    summary TEXT, summary_html INTEGER NOT NULL, authors TEXT NOT NULL, categories TEXT NOT NULL,
    image TEXT, published INTEGER, published_relative INTEGER NOT NULL, updated INTEGER NOT NULL,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, position INTEGER NOT NULL,
    content_hash TEXT NOT NULL, PRIMARY KEY (feed, guid)) WITHOUT ROWID;
CREATE TABLE feeds (name TEXT PRIMARY KEY, last_attempt INTEGER, last_success INTEGER,
    last_error TEXT, item_count INTEGER NOT NULL DEFAULT 0, fingerprint TEXT, etag TEXT,
    last_modified TEXT, page_hash TEXT, meta TEXT);
PRAGMA user_version = 1;
";

#[test]
fn an_older_history_with_impossible_dates_and_old_guids_heals() {
    let server = Server::start();
    // Entry 1 has no link: its GUID is invented from title and date text.
    let body = "<!doctype html><html><head><title>L</title></head><body><ul>
        <li class=\"entry\"><b>No link here</b> <time>2020-10-15</time></li>
        <li class=\"entry\"><a href=\"/b\">Linked</a> <time>2020-10-14</time></li>
        </ul></body></html>";
    server.route("/list", Response::html(body));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = format!(
        "[settings]\noutput_dir = \"out\"\nstate = \"state.db\"\n
[feeds.list]\nurl = \"{}\"\n[feeds.list.items]\nselector = \"li.entry\"\ntitle = \":scope > *\"\nlink = \"a\"\ndate = \"time\"\n
[feeds.all]\nmerge = [\"list\"]\n",
        server.url("/list")
    );
    write_config(dir.path(), &cfg);
    // What 0.1 stored: the link-less entry under `pagefeed:` + hash, dated in the year 9999,
    // which made its RSS writer panic on every later build.
    let legacy = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for p in ["No link here", "2020-10-15"] {
            h.update(u64::try_from(p.len()).expect("len").to_le_bytes());
            h.update(p.as_bytes());
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        format!("pagefeed:{}", &hex[..32])
    };
    {
        let db = rusqlite::Connection::open(dir.path().join("state.db")).expect("db");
        db.execute_batch(V1_SCHEMA).expect("schema");
        db.execute(
            "INSERT INTO items VALUES ('list', ?1, 0, 'No link here', NULL, NULL, 0, '', '',
                NULL, 253402300799, 0, 253402300799, 1600000000, 1600000000, 0, 'old')",
            [&legacy],
        )
        .expect("insert");
    }
    let run = build(dir.path());
    assert_exit(&run, 0);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("list: 2 found, 1 new")),
        "the old item is not new again:\n{}",
        run.stderr
    );
    let out = dir.path().join("out");
    for name in ["list", "all"] {
        let (rss, _, json) = read_all(&out, name);
        assert!(!rss.contains("9999"), "{rss}");
        let ids: Vec<&str> = json_items(&json)
            .iter()
            .map(|i| json_str(i, "id"))
            .collect();
        assert!(
            ids.contains(&legacy.as_str()),
            "{name} keeps {legacy}: {ids:?}"
        );
        assert_eq!(ids.len(), 2, "{ids:?}");
    }
    // A new link-less entry gets a registered URI scheme.
    server.route(
        "/list",
        Response::html(body.replace("<ul>", "<ul><li class=\"entry\"><i>Fresh</i></li>")),
    );
    let run = build(dir.path());
    assert_exit(&run, 0);
    let (_, atom, json) = read_all(&out, "list");
    let fresh = json_items(&json)
        .iter()
        .find(|i| json_str(i, "title") == "Fresh")
        .map(|i| json_str(i, "id").to_string())
        .expect("fresh item");
    assert!(fresh.starts_with("urn:uuid:"), "{fresh}");
    // Entries the page links nowhere are read on the listing page, each under its own link.
    let linkless: Vec<&str> = json_items(&json)
        .iter()
        .filter(|i| json_str(i, "title") != "Linked")
        .map(|i| json_str(i, "url"))
        .collect();
    assert_eq!(linkless.len(), 2);
    assert_ne!(linkless[0], linkless[1]);
    for u in &linkless {
        assert!(
            u.starts_with(&format!("{}#item-", server.url("/list"))),
            "{u}"
        );
    }
    assert!(atom.contains(&format!("<id>{fresh}</id>")), "{atom}");
}

/// Titles and Atom `updated` instants of a feed's entries, in feed order.
fn atom_updated(out: &Path, name: &str) -> Vec<(String, DateTime<Utc>)> {
    let (_, atom, _) = read_all(out, name);
    let feed = atom_syndication::Feed::read_from(atom.as_bytes()).expect("atom");
    feed.entries()
        .iter()
        .map(|e| (e.title().value.clone(), e.updated().with_timezone(&Utc)))
        .collect()
}

#[test]
fn entries_that_share_a_date_keep_the_page_order_across_builds() {
    let server = Server::start();
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let day = |d: &str| format!("<time>{d}</time>");
    let (t_old, t_today) = (day("2020-10-15"), day(&today));
    let entries = [
        ("/1", "One", "", t_today.as_str()),
        ("/2", "Two", "", t_today.as_str()),
        ("/3", "Three", "", t_old.as_str()),
        ("/4", "Four", "", t_old.as_str()),
        ("/5", "Five", "", t_old.as_str()),
    ];
    server.route("/list", Response::html(page(&entries)));
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = String::from("[settings]\noutput_dir = \"out\"\n");
    cfg.push_str(&feed("list", &server.url("/list"), ""));
    write_config(dir.path(), &cfg);
    let before = Utc::now() - chrono::TimeDelta::seconds(1);
    let run = build(dir.path());
    assert_exit(&run, 0);
    let out = dir.path().join("out");
    let (_, _, json) = read_all(&out, "list");
    assert_eq!(json_titles(&json), ["One", "Two", "Three", "Four", "Five"]);
    // The page's dates are published as the page gives them ...
    let dates = json_dates(&json);
    for d in &dates[2..] {
        assert_eq!(d.to_rfc3339(), "2020-10-15T00:00:00+00:00");
    }
    // ... but a date without a time, first seen on that day, takes the time of first sight.
    if Utc::now().format("%Y-%m-%d").to_string() == today {
        assert!(dates[0] >= before && dates[0] == dates[1], "{dates:?}");
    }
    // Update times are distinct and follow the page, so readers keep its order and the W3C
    // validator finds no two entries updated alike.
    let updated = atom_updated(&out, "list");
    assert!(
        updated.windows(2).all(|w| w[0].1 > w[1].1),
        "distinct, in page order: {updated:?}"
    );
    assert_eq!(updated[4].1.to_rfc3339(), "2020-10-15T00:00:00+00:00");
    assert_eq!(updated[3].1.to_rfc3339(), "2020-10-15T00:00:01+00:00");

    // An unchanged page renders the same bytes.
    let before_bytes = std::fs::read(out.join("list.atom")).expect("read");
    let run = build(dir.path());
    assert_exit(&run, 0);
    assert_eq!(
        std::fs::read(out.join("list.atom")).expect("read"),
        before_bytes,
        "an unchanged page renders the same bytes"
    );
    // A new entry on top with an old date: the others keep their instants, it is above them.
    let mut more = vec![("/0", "Zero", "", t_old.as_str())];
    more.extend(entries);
    server.route("/list", Response::html(page(&more)));
    let run = build(dir.path());
    assert_exit(&run, 0);
    let updated2 = atom_updated(&out, "list");
    for (title, at) in &updated {
        assert!(
            updated2.contains(&(title.clone(), *at)),
            "{title} keeps {at}: {updated2:?}"
        );
    }
    let zero = updated2
        .iter()
        .find(|(t, _)| t == "Zero")
        .map(|(_, d)| *d)
        .expect("Zero");
    let three = updated[2].1;
    assert!(zero > three, "Zero is updated after the entries of its day");
    assert_eq!(updated2.iter().filter(|(_, d)| *d == zero).count(), 1);
}

// -------------------------------------------------------------------------------------------
// Leftovers of a killed run.

#[test]
fn a_killed_runs_temporary_files_are_removed_by_the_next_build() {
    let server = Server::start();
    server.route(
        "/list",
        Response::html(page(&[("/a", "A", "", "<time>2020-10-15</time>")])),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = String::from("[settings]\noutput_dir = \"out\"\n");
    cfg.push_str(&feed("list", &server.url("/list"), ""));
    write_config(dir.path(), &cfg);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    for n in [
        ".list.rss.4711.tmp",
        ".other.json.12.tmp",
        "keep.txt",
        ".list.rss.tmp",
    ] {
        std::fs::write(out.join(n), b"half a feed").expect("write");
    }
    let run = build(dir.path());
    assert_exit(&run, 0);
    let left: Vec<String> = list_dir(&out)
        .into_iter()
        .filter(|n| !n.starts_with("pagefeed.db"))
        .collect();
    assert_eq!(
        left,
        [
            ".list.rss.tmp",
            "keep.txt",
            "list.atom",
            "list.json",
            "list.rss"
        ],
        "only pagefeed's own temporary files go"
    );
}

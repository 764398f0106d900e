//! Dates written in other languages, end to end: a page served from 127.0.0.1 whose dates are in
//! German, French or Japanese is built by the real binary, and the JSON Feed's `date_published`
//! values are the instants the page means.

mod common;

use common::{Response, Server, json_items, json_str, pagefeed, read_json};

use std::path::Path;

fn page(lang: Option<&str>, dates: &[&str]) -> String {
    let lang = lang.map_or(String::new(), |l| format!(r#" lang="{l}""#));
    let entries: String = dates
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                r#"<article><h2><a href="/a/{i}">Eintrag {i}</a></h2><span class="when">{d}</span></article>"#
            )
        })
        .collect();
    format!(
        "<!doctype html><html{lang}><head><title>Liste</title></head><body>{entries}</body></html>"
    )
}

fn config(dir: &Path, url: &str, extra: &str) {
    let text = format!(
        r#"[settings]
output_dir = "out"
state = "state.sqlite"

[feeds.news]
url = "{url}"
time_zone = "Europe/Berlin"
{extra}

[feeds.news.items]
selector = "article"
title = "h2"
link = "h2 a"
date = ".when"
"#
    );
    std::fs::write(dir.join("pagefeed.toml"), text).expect("write config");
}

fn published(dir: &Path) -> Vec<String> {
    let feed = read_json(&dir.join("out/news.json"));
    json_items(&feed)
        .iter()
        .map(|i| {
            let text = json_str(i, "date_published");
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
                .to_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .collect()
}

#[test]
fn the_page_language_picks_how_dates_are_read() {
    let server = Server::start();
    server.route(
        "/de",
        Response::html(page(
            Some("de-DE"),
            &[
                "15. Oktober 2020, 18:00 Uhr",
                "Mi., 14.10.2020",
                "3. März 2020",
            ],
        )),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    config(dir.path(), &server.url("/de"), "");
    let run = pagefeed(dir.path(), &["build", "--config", "pagefeed.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        published(dir.path()),
        [
            "2020-10-15T16:00:00Z",
            "2020-10-13T22:00:00Z",
            "2020-03-02T23:00:00Z"
        ]
    );
}

#[test]
fn date_locale_overrides_the_page_and_is_checked() {
    let server = Server::start();
    // The page claims English, but its dates are French.
    server.route(
        "/fr",
        Response::html(page(
            Some("en"),
            &["15 févr. 2021", "1er octobre 2020 à 18h30"],
        )),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    config(dir.path(), &server.url("/fr"), r#"date_locale = "fr""#);
    let run = pagefeed(dir.path(), &["build", "--config", "pagefeed.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        published(dir.path()),
        ["2021-02-14T23:00:00Z", "2020-10-01T16:30:00Z"]
    );

    // A language without tables is a config error that lists the ones there are.
    config(dir.path(), &server.url("/fr"), r#"date_locale = "tlh""#);
    let run = pagefeed(dir.path(), &["build", "--config", "pagefeed.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("date_locale"), "{}", run.stderr);
    assert!(run.stderr.contains("de, fr, es"), "{}", run.stderr);
}

#[test]
fn without_date_locale_the_feed_language_is_used() {
    let server = Server::start();
    server.route(
        "/ja",
        Response::html(page(None, &["2021年1月2日", "2020年10月15日 18時30分"])),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    config(dir.path(), &server.url("/ja"), r#"language = "ja""#);
    let run = pagefeed(dir.path(), &["build", "--config", "pagefeed.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        published(dir.path()),
        ["2021-01-01T23:00:00Z", "2020-10-15T16:30:00Z"]
    );
}

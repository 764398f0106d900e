//! End-to-end tests of hostile markup: a real HTTP server on 127.0.0.1 serves pages and feeds
//! built to make HTML parsing slow (100,000 nested elements, huge attribute lists, formatting
//! elements reopened in every block), the real binary builds feeds from them, and the feeds are
//! read back with the real parsers. The bounds are checked by what they leave in the feeds and
//! say on stderr, not by timing.

mod common;

use std::path::{Path, PathBuf};

use common::{Response, Run, Server, json_items, json_str, pagefeed, read_json, read_rss};

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn build(dir: &Path, config: &Path) -> Run {
    let cfg = config.to_str().expect("utf-8 path");
    pagefeed(dir, &["build", "--config", cfg])
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "exit status\n--- stdout:\n{}\n--- stderr:\n{}",
        run.stdout, run.stderr
    );
}

fn article(href: &str, title: &str, summary: &str) -> String {
    format!(
        r#"<article class="post"><h3><a href="{href}">{title}</a></h3><div class="excerpt">{summary}</div><time datetime="2020-10-15T10:00:00Z">Oct 15</time></article>"#
    )
}

fn scrape_config(url: &str) -> String {
    format!(
        r#"[settings]
output_dir = "public"

[feeds.deep]
url = "{url}"

[feeds.deep.items]
selector = "article.post"
title = "h3 a"
link = "h3 a"
summary = {{ selector = "div.excerpt", html = true }}
date = "time"
"#
    )
}

fn titles(json: &serde_json::Value) -> Vec<&str> {
    json_items(json)
        .iter()
        .map(|i| json_str(i, "title"))
        .collect()
}

#[test]
fn entries_above_a_hundred_thousand_nested_elements_are_found() {
    let server = Server::start();
    let nest = 100_000;
    let mut page =
        String::from("<!DOCTYPE html><html><head><title>Deep</title></head><body><main>");
    page.push_str(&article("/a", "Above one", "<p>First <b>summary</b></p>"));
    page.push_str(&article(
        "/b",
        "Above two",
        &format!("{}kept text{}", "<i>".repeat(2_000), "</i>".repeat(2_000)),
    ));
    page.push_str(&"<div>".repeat(nest));
    page.push_str(&article("/deep", "Too deep", "lost"));
    page.push_str(&"</div>".repeat(nest));
    page.push_str(&article("/c", "After the nest", "<p>Third</p>"));
    page.push_str("</main></body></html>");
    assert!(page.len() > 1_000_000, "{} bytes", page.len());
    server.route("/news/", Response::html(page));

    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &scrape_config(&server.url("/news/")));
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    // The operator is told, with the page's address.
    assert!(
        run.stderr.contains("nest more than 512 deep") && run.stderr.contains("/news/"),
        "{}",
        run.stderr
    );

    let out = dir.path().join("public");
    let json = read_json(&out.join("deep.json"));
    // Entries above the limit are found, and so is the one after the nest: the end tags of the
    // elements left out were left out with them. The entry below the limit lost its markup.
    let mut got = titles(&json);
    got.sort_unstable();
    assert_eq!(got, ["Above one", "Above two", "After the nest"], "{json}");
    let items = json_items(&json);
    let two = items
        .iter()
        .find(|i| json_str(i, "title") == "Above two")
        .expect("entry two");
    let html = json_str(two, "content_html");
    assert!(html.contains("kept text"), "{html}");
    assert!(html.matches("<i>").count() <= 512, "{html}");
    let one = items
        .iter()
        .find(|i| json_str(i, "title") == "Above one")
        .expect("entry one");
    assert_eq!(json_str(one, "content_html"), "<p>First <b>summary</b></p>");
    let rss = read_rss(&out.join("deep.rss"));
    assert_eq!(rss.items().len(), 3);
}

#[test]
fn hostile_upstream_content_is_cleaned_within_bounds() {
    let server = Server::start();
    let nested = format!(
        "{}nested words{}",
        "<div>".repeat(60_000),
        "</div>".repeat(60_000)
    );
    let attrs: String = (0..20_000).map(|i| format!(" data-a{i}=\"{i}\"")).collect();
    let wide = format!("<p{attrs}>wide paragraph</p>");
    let escapes = format!("<p>{}</p>", "&amp;".repeat(100_000));
    let item = |n: usize, body: &str| {
        format!(
            "<item><title>Item {n}</title><link>{o}/{n}</link><guid>{o}/{n}</guid><description>{}</description></item>",
            body.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;"),
            o = server.origin()
        )
    };
    let rss = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Hostile</title><link>{o}/</link><description>d</description>{}{}{}</channel></rss>"#,
        item(1, &nested),
        item(2, &wide),
        item(3, &escapes),
        o = server.origin()
    );
    server.route(
        "/feed.xml",
        Response::new(200, "application/rss+xml; charset=UTF-8", rss),
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &format!(
            "[settings]\noutput_dir = \"public\"\n\n[feeds.up]\nfeed_url = \"{}\"\n",
            server.url("/feed.xml")
        ),
    );
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    let json = read_json(&dir.path().join("public").join("up.json"));
    let items = json_items(&json);
    assert_eq!(items.len(), 3, "{json}");
    let content = |n: usize| {
        let i = items
            .iter()
            .find(|i| json_str(i, "title") == format!("Item {n}"))
            .unwrap_or_else(|| panic!("item {n} in {json}"));
        json_str(i, "content_html").to_string()
    };
    let one = content(1);
    assert!(
        one.contains("nested words"),
        "{}",
        &one[..200.min(one.len())]
    );
    assert!(one.matches("<div>").count() <= 512);
    assert_eq!(content(2), "<p>wide paragraph</p>");
    let three = content(3);
    assert_eq!(three.matches("&amp;").count(), 100_000);
    assert!(!three.contains("<!--"));
}

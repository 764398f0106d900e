//! End-to-end tests of `pagefeed suggest` and of feeds without `[feeds.NAME.items]`: a real
//! HTTP server on 127.0.0.1 serves pages written for each source kind, the real binary finds
//! their entries, and its JSON and feeds are read back with serde_json.

mod common;

use std::path::Path;

use serde_json::Value;

use common::{Response, Server, json_items, json_str, pagefeed, read_json};

fn suggest_json(dir: &Path, url: &str, extra: &[&str]) -> Value {
    let mut args = vec!["suggest", url, "--json"];
    args.extend_from_slice(extra);
    let run = pagefeed(dir, &args);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "suggest --json printed no JSON object ({e}): {}",
            run.stdout
        )
    })
}

/// The `--json` shape the acceptance tests outside the repository depend on.
fn assert_shape(v: &Value) {
    let obj = v.as_object().expect("one JSON object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, vec!["candidates", "feed_links"], "{v}");
    assert!(v["feed_links"].is_array(), "{v}");
    let cands = v["candidates"].as_array().expect("candidates array");
    let mut last = f64::INFINITY;
    for c in cands {
        for k in ["selector", "fields", "score", "method", "entries"] {
            assert!(c.get(k).is_some(), "candidate without `{k}`: {c}");
        }
        assert!(c["selector"].is_string(), "{c}");
        assert!(c["fields"].is_object(), "{c}");
        assert!(c["method"].is_string(), "{c}");
        let score = c["score"].as_f64().expect("score is a number");
        assert!(
            score <= last,
            "candidates are not best first: {score} after {last}"
        );
        last = score;
        for e in c["entries"].as_array().expect("entries array") {
            for k in ["title", "link", "date", "authors", "summary"] {
                assert!(e.get(k).is_some(), "entry without `{k}`: {e}");
            }
            let link = json_str(e, "link");
            assert!(
                link.starts_with("http://") || link.starts_with("https://"),
                "{e}"
            );
            assert!(e["authors"].is_array(), "{e}");
            if let Some(d) = e["date"].as_str() {
                chrono::DateTime::parse_from_rfc3339(d)
                    .unwrap_or_else(|err| panic!("date {d} is not RFC 3339: {err}"));
            } else {
                assert!(e["date"].is_null(), "{e}");
            }
        }
    }
}

fn instant(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&chrono::Utc)
        .to_rfc3339()
}

fn first(v: &Value) -> &Value {
    &v["candidates"][0]
}

fn links(c: &Value) -> Vec<String> {
    c["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| json_str(e, "link").to_string())
        .collect()
}

fn serve(path: &str, html: &str) -> (Server, String) {
    let server = Server::start();
    server.route(path, Response::html(html.to_string()));
    let url = server.url(path);
    (server, url)
}

#[test]
fn json_ld_item_lists_and_articles() {
    let html = r#"<!doctype html><html><head><title>Blog</title>
<script type="application/ld+json">
{"@context":"https://schema.org","@graph":[
 {"@type":"WebSite","url":"/"},
 {"@type":"BlogPosting","headline":"Spring planting guide for small gardens","url":"/posts/spring",
  "datePublished":"2026-03-01T09:00:00+01:00","author":{"@type":"Person","name":"Ann Lee"},
  "description":"What to plant first."},
 {"@type":"BlogPosting","headline":"Watering without waste in dry summers","url":"/posts/water",
  "datePublished":"2026-02-20T09:00:00Z","author":[{"name":"Bo Chen"},{"name":"Cy Diaz"}]},
 {"@type":"NewsArticle","headline":"Our community garden opens its doors","mainEntityOfPage":{"@id":"https://elsewhere.example/open"},
  "datePublished":"2026-02-01"}
]}
</script></head><body><p>Rendered by script.</p></body></html>"#;
    let (_server, url) = serve("/blog/", html);
    let dir = tempfile::tempdir().expect("tempdir");
    let v = suggest_json(dir.path(), &url, &[]);
    assert_shape(&v);
    let c = first(&v);
    assert_eq!(c["method"], "json-ld");
    let origin = url.trim_end_matches("/blog/");
    assert_eq!(
        links(c),
        vec![
            format!("{origin}/posts/spring"),
            format!("{origin}/posts/water"),
            "https://elsewhere.example/open".to_string(),
        ]
    );
    let e = &c["entries"][0];
    assert_eq!(e["title"], "Spring planting guide for small gardens");
    assert_eq!(e["date"], "2026-03-01T08:00:00Z");
    assert_eq!(e["authors"], serde_json::json!(["Ann Lee"]));
    assert_eq!(e["summary"], "What to plant first.");
    assert_eq!(
        c["entries"][1]["authors"],
        serde_json::json!(["Bo Chen", "Cy Diaz"])
    );
}

#[test]
fn microdata_entries() {
    let post = |n: u32, title: &str, date: &str| {
        format!(
            r#"<div itemscope itemtype="https://schema.org/BlogPosting">
  <h2 itemprop="headline">{title}</h2>
  <a itemprop="url" href="/p/{n}">Read</a>
  <time itemprop="datePublished" datetime="{date}">{date}</time>
  <span itemprop="author">Dee Evans</span>
</div>"#
        )
    };
    let html = format!(
        "<html><body><main>{}{}{}</main></body></html>",
        post(1, "Knots every sailor should know", "2026-01-05T10:00:00Z"),
        post(
            2,
            "Reading the weather from the clouds",
            "2026-01-04T10:00:00Z"
        ),
        post(
            3,
            "How tides work, explained simply",
            "2026-01-03T10:00:00Z"
        ),
    );
    let (_server, url) = serve("/sea", &html);
    let dir = tempfile::tempdir().expect("tempdir");
    let v = suggest_json(dir.path(), &url, &[]);
    assert_shape(&v);
    let c = first(&v);
    assert_eq!(c["method"], "microdata");
    assert_eq!(
        c["selector"],
        r#"[itemscope][itemtype="https://schema.org/BlogPosting"]"#
    );
    assert_eq!(c["fields"]["title"], "[itemprop~=headline]");
    assert_eq!(c["fields"]["date"], "[itemprop~=datePublished]");
    assert_eq!(c["entries"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        c["entries"][1]["title"],
        "Reading the weather from the clouds"
    );
    assert!(json_str(&c["entries"][1], "link").ends_with("/p/2"));
    assert_eq!(c["entries"][1]["date"], "2026-01-04T10:00:00Z");
    assert_eq!(c["entries"][1]["authors"], serde_json::json!(["Dee Evans"]));
}

#[test]
fn h_entry_microformats() {
    let entry = |n: u32, title: &str| {
        format!(
            r#"<article class="h-entry"><a class="u-url p-name" href="/notes/{n}">{title}</a>
  <time class="dt-published" datetime="2026-02-0{n}T08:00:00Z">Feb {n}</time>
  <a class="p-author h-card" href="/">Fay Gold</a><p class="p-summary">A note about {title}.</p></article>"#
        )
    };
    let html = format!(
        "<html><body><div class=\"h-feed\">{}{}{}</div></body></html>",
        entry(1, "Morning light over the lake"),
        entry(2, "A walk through the old town"),
        entry(3, "Notes on bread and patience"),
    );
    let (_server, url) = serve("/notes/", &html);
    let dir = tempfile::tempdir().expect("tempdir");
    let v = suggest_json(dir.path(), &url, &[]);
    assert_shape(&v);
    let c = first(&v);
    assert_eq!(c["method"], "h-entry");
    assert_eq!(c["selector"], ".h-entry");
    assert_eq!(c["fields"]["title"], ".p-name");
    let e = &c["entries"][2];
    assert_eq!(e["title"], "Notes on bread and patience");
    assert!(json_str(e, "link").ends_with("/notes/3"), "{e}");
    assert_eq!(e["date"], "2026-02-03T08:00:00Z");
    assert_eq!(e["authors"], serde_json::json!(["Fay Gold"]));
    assert_eq!(e["summary"], "A note about Notes on bread and patience.");
}

#[test]
fn next_data_state() {
    let html = r#"<html><body><div id="__next"></div>
<script id="__NEXT_DATA__" type="application/json">
{"props":{"pageProps":{"menu":[{"label":"Home","href":"/"}],
 "posts":[
  {"id":1,"title":"Building a bike from spare parts","url":"/stories/bike","publishedAt":"2026-01-10T12:00:00Z","author":{"name":"Gil Hart"}},
  {"id":2,"title":"The quiet joy of night trains","url":"/stories/trains","publishedAt":"2026-01-09T12:00:00Z"},
  {"id":3,"title":"Ten years of keeping bees","url":"/stories/bees","publishedAt":"2026-01-08T12:00:00Z"},
  {"id":4,"title":"What the river taught us","url":"/stories/river","publishedAt":"2026-01-07T12:00:00Z"}
 ]}}}
</script></body></html>"#;
    let (_server, url) = serve("/stories", html);
    let dir = tempfile::tempdir().expect("tempdir");
    let v = suggest_json(dir.path(), &url, &[]);
    assert_shape(&v);
    let c = first(&v);
    assert_eq!(c["method"], "embedded-json");
    assert_eq!(c["selector"], "script#__NEXT_DATA__");
    assert_eq!(c["entries"].as_array().map(Vec::len), Some(4));
    let e = &c["entries"][0];
    assert_eq!(e["title"], "Building a bike from spare parts");
    assert!(json_str(e, "link").ends_with("/stories/bike"), "{e}");
    assert_eq!(e["date"], "2026-01-10T12:00:00Z");
    assert_eq!(e["authors"], serde_json::json!(["Gil Hart"]));
}

/// A news page with the real list among a navigation bar, a tag cloud, a "related" box and
/// a footer, all with links.
fn furnished_page() -> String {
    let story = |n: u32, title: &str, day: u32, who: &str| {
        format!(
            r#"<article class="story"><h2><a href="/news/{n}">{title}</a></h2>
  <time datetime="2026-01-{day:02}T10:00:00Z">{day} January</time> <span class="author">{who}</span>
  <p class="dek">A teaser of the story, long enough to be read as its summary by anyone.</p></article>"#
        )
    };
    format!(
        r#"<!doctype html><html><head><title>Harbour News</title>
<link rel="alternate" type="application/rss+xml" title="Harbour News" href="/feed.xml"></head><body>
<nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/world">World news</a></li>
  <li><a href="/politics">Politics today</a></li><li><a href="/sport">Sport and games</a></li>
  <li><a href="/weather">Weather</a></li></ul></nav>
<main><div class="stories">
{}{}{}{}
</div>
<aside class="related"><h3>Related</h3><ul>
  <li><a href="/old/1">An older story about bridges in the whole region</a></li>
  <li><a href="/old/2">Another older story about the coast and its roads</a></li>
  <li><a href="/old/3">A third older story about schools and their calendars</a></li>
  <li><a href="/old/4">A fourth older story about the harbour and its ships</a></li>
  <li><a href="/old/5">A fifth older story about the fish market at dawn</a></li>
</ul></aside>
<div class="tagcloud"><a href="/t/a">bridges</a> <a href="/t/b">floods</a> <a href="/t/c">schools</a>
  <a href="/t/d">ports</a> <a href="/t/e">fish</a> <a href="/t/f">weather</a></div>
</main>
<footer><ul><li><a href="/about">About us</a></li><li><a href="/contact">Contact the newsroom</a></li>
  <li><a href="/privacy">Privacy policy</a></li><li><a href="/jobs">Jobs at Harbour News</a></li></ul></footer>
</body></html>"#,
        story(
            1,
            "The council approves the new harbour bridge plan",
            9,
            "Ann Lee"
        ),
        story(
            2,
            "Floods close the old coast road for a week",
            8,
            "Bo Chen"
        ),
        story(
            3,
            "School year to start two weeks later next autumn",
            7,
            "Cy Diaz"
        ),
        story(
            4,
            "Fishermen report the best catch in a decade",
            6,
            "Dee Evans"
        ),
    )
}

#[test]
fn heuristics_rank_the_list_above_nav_footer_tags_and_related() {
    let (server, url) = serve("/news/", &furnished_page());
    let dir = tempfile::tempdir().expect("tempdir");
    let v = suggest_json(dir.path(), &url, &["--limit", "10"]);
    assert_shape(&v);
    let origin = server.origin();
    // The page's own feed comes first.
    assert_eq!(v["feed_links"][0]["url"], format!("{origin}/feed.xml"));
    assert_eq!(v["feed_links"][0]["type"], "application/rss+xml");
    let c = first(&v);
    assert_eq!(c["method"], "heuristic");
    assert_eq!(c["selector"], "article.story");
    assert_eq!(c["fields"]["title"], "h2 > a");
    assert_eq!(c["fields"]["link"], "h2 > a");
    assert_eq!(c["fields"]["date"], "time");
    assert_eq!(c["fields"]["authors"], ".author");
    assert_eq!(c["fields"]["summary"], "p.dek");
    assert_eq!(
        links(c),
        (1..=4)
            .map(|n| format!("{origin}/news/{n}"))
            .collect::<Vec<_>>()
    );
    let e = &c["entries"][0];
    assert_eq!(
        e["title"],
        "The council approves the new harbour bridge plan"
    );
    assert_eq!(e["date"], "2026-01-09T10:00:00Z");
    assert_eq!(e["authors"], serde_json::json!(["Ann Lee"]));
    // Every other list (related box, navigation, footer, tag cloud) ranks well below.
    let top = c["score"].as_f64().unwrap_or(0.0);
    for other in v["candidates"].as_array().into_iter().flatten().skip(1) {
        let s = other["score"].as_f64().unwrap_or(0.0);
        assert!(
            s < top / 2.0,
            "{} scores {s}, the list {top}",
            other["selector"]
        );
    }
}

#[test]
fn text_output_is_ready_to_paste_and_builds_what_it_previews() {
    let (server, url) = serve("/news/", &furnished_page());
    let dir = tempfile::tempdir().expect("tempdir");
    let run = pagefeed(dir.path(), &["suggest", &url]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    let feed_at = out.find("feed_url = ").expect("a feed_url block");
    let cand_at = out.find("# Candidate 1 of").expect("a first candidate");
    assert!(feed_at < cand_at, "feed links come first:\n{out}");
    assert!(out.contains("[feeds.127-0-0-1]\nfeed_url = "), "{out}");
    assert!(
        out.contains("[feeds.127-0-0-1.items]\nselector = \"article.story\"\n"),
        "{out}"
    );
    assert!(
        out.contains("The council approves the new harbour bridge plan"),
        "{out}"
    );
    assert!(out.contains("2026-01-09T10:00:00Z · by Ann Lee"), "{out}");

    // The first block, pasted into a config, builds exactly the entries it previewed.
    let v = suggest_json(dir.path(), &url, &[]);
    let block = json_str(first(&v), "toml");
    let config = format!(
        "[settings]\noutput_dir = \"out\"\nstate = \"state.db\"\n\n{}",
        block.replace("[feeds.127-0-0-1", "[feeds.news")
    );
    std::fs::write(dir.path().join("p.toml"), config).expect("write config");
    let run = pagefeed(dir.path(), &["build", "--config", "p.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let feed = read_json(&dir.path().join("out/news.json"));
    let built: Vec<(String, String, String)> = json_items(&feed)
        .iter()
        .map(|i| {
            (
                json_str(i, "title").to_string(),
                json_str(i, "url").to_string(),
                instant(json_str(i, "date_published")),
            )
        })
        .collect();
    let previewed: Vec<(String, String, String)> = first(&v)["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                json_str(e, "title").to_string(),
                json_str(e, "link").to_string(),
                instant(json_str(e, "date")),
            )
        })
        .collect();
    let mut sorted_built = built.clone();
    sorted_built.sort();
    let mut sorted_previewed = previewed.clone();
    sorted_previewed.sort();
    assert_eq!(sorted_built, sorted_previewed);
    drop(server);
}

#[test]
fn a_feed_without_items_is_extracted_automatically_and_deterministically() {
    let (_server, url) = serve("/news/", &furnished_page());
    let config = format!(
        "[settings]\noutput_dir = \"out\"\nstate = \"state.db\"\n\n[feeds.auto]\nurl = \"{url}\"\n"
    );
    let mut outputs: Vec<Vec<(String, Vec<u8>)>> = Vec::new();
    for _ in 0..2 {
        // A fresh state and output each time: the same page gives the same bytes.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("p.toml"), &config).expect("write config");
        let run = pagefeed(dir.path(), &["build", "--config", "p.toml"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains(
                "auto: 4 found, 4 new, 4 items, written (found automatically by heuristic: items `article.story`, title `h2 > a`"
            ),
            "{}",
            run.stderr
        );
        let mut files: Vec<(String, Vec<u8>)> = ["auto.rss", "auto.atom", "auto.json"]
            .iter()
            .map(|f| {
                let bytes = std::fs::read(dir.path().join("out").join(f)).expect("feed file");
                (f.to_string(), bytes)
            })
            .collect();
        files.sort();
        outputs.push(files);
    }
    assert_eq!(outputs[0], outputs[1]);
    let feed: Value = serde_json::from_slice(&outputs[0][1].1).expect("JSON feed");
    let items = json_items(&feed);
    assert_eq!(items.len(), 4);
    assert!(
        json_str(&items[0], "id").ends_with("/news/1"),
        "{}",
        items[0]
    );
}

#[test]
fn a_page_without_a_list_says_so() {
    let (_server, url) = serve("/empty", "<html><body><p>Nothing here.</p></body></html>");
    let dir = tempfile::tempdir().expect("tempdir");
    let run = pagefeed(dir.path(), &["suggest", &url]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("No list of entries found on"),
        "{}",
        run.stdout
    );
    let v: Value = serde_json::from_str(&pagefeed(dir.path(), &["suggest", &url, "--json"]).stdout)
        .expect("JSON even when nothing is found");
    assert_eq!(v, serde_json::json!({"feed_links": [], "candidates": []}));

    // A feed without items on such a page fails with what to do.
    let config = format!(
        "[settings]\noutput_dir = \"out\"\nstate = \"state.db\"\n\n[feeds.bare]\nurl = \"{url}\"\n"
    );
    std::fs::write(dir.path().join("p.toml"), config).expect("write config");
    let run = pagefeed(dir.path(), &["build", "--config", "p.toml"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "no list of entries was found automatically on {url}: run `pagefeed suggest {url}`"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn saved_files_resolve_links_against_site_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("saved.html"), furnished_page()).expect("write page");
    let v = suggest_json(
        dir.path(),
        "saved.html",
        &[
            "--site-url",
            "https://harbour.example/news/",
            "--limit",
            "1",
        ],
    );
    assert_shape(&v);
    assert_eq!(v["candidates"].as_array().map(Vec::len), Some(1));
    assert_eq!(links(first(&v))[0], "https://harbour.example/news/1");
    let run = pagefeed(dir.path(), &["suggest", "missing.html"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot fetch"), "{}", run.stderr);
}

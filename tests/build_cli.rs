//! End-to-end tests of `pagefeed build` and `pagefeed preview`: a real HTTP server on
//! 127.0.0.1 serves fixture pages, the real binary turns them into feeds, and the feeds are read
//! back with the real parsers (`rss`, `atom_syndication`, `serde_json`).

mod common;

use common::{json_authors, json_items, json_str};

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use serde_json::Value;

use common::{
    Response, Run, Server, list_dir, pagefeed, read_atom, read_json, read_rss, snapshot,
    spawn_pagefeed, wait_run,
};

// -------------------------------------------------------------------------------------------
// Fixtures.

/// One entry of a WordPress-style news listing. Text fields are raw HTML.
#[derive(Clone, Copy, Default)]
struct Post<'a> {
    href: &'a str,
    title: &'a str,
    subtitle: &'a str,
    /// The byline before the date, e.g. `<span class="author">Ann</span>`.
    byline: &'a str,
    /// The whole `<time>` element (or nothing).
    time: &'a str,
    tags: &'a [&'a str],
    image: Option<&'a str>,
    /// Raw HTML of an excerpt block (`div.excerpt`).
    excerpt: Option<&'a str>,
}

impl Post<'_> {
    fn html(&self, n: usize) -> String {
        let thumb = self.image.map_or(String::new(), |src| {
            format!(
                r#"<div class="post-thumb"><a href="{}"><img width="300" height="200" src="{src}" class="attachment-medium wp-post-image" alt=""></a></div>"#,
                self.href
            )
        });
        let subtitle = if self.subtitle.is_empty() {
            String::new()
        } else {
            format!(r#"<p class="subtitle">{}</p>"#, self.subtitle)
        };
        let excerpt = self.excerpt.map_or(String::new(), |e| {
            format!(r#"<div class="excerpt">{e}</div>"#)
        });
        let tags: String = self
            .tags
            .iter()
            .map(|t| {
                format!(
                    r#"<a href="/tag/{}/" rel="tag">{t}</a> "#,
                    t.to_lowercase().replace(' ', "-")
                )
            })
            .collect();
        format!(
            r#"
<article id="post-{n}" class="post-{n} post type-post status-publish format-standard has-post-thumbnail hentry">
  {thumb}
  <div class="post-content">
    <h3 class="entry-title"><a href="{href}" rel="bookmark">{title}</a></h3>
    {subtitle}
    {excerpt}
    <div class="byline">{byline} {time}</div>
    <div class="tags">{tags}</div>
  </div>
</article>"#,
            href = self.href,
            title = self.title,
            byline = self.byline,
            time = self.time,
        )
    }
}

/// A whole listing page in the style of a WordPress news theme, with the usual boilerplate
/// around the posts (navigation, a sidebar with an `<article>` that is not a post, a footer).
fn wp_page(posts: &[Post]) -> String {
    let body: String = posts
        .iter()
        .enumerate()
        .map(|(n, p)| p.html(1000 + n))
        .collect();
    format!(
        r#"<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Latest North Korea news | NK News</title>
<meta name="description" content="Latest North Korea news from NK News correspondents">
<link rel="stylesheet" href="/wp-content/themes/nknews/style.css?ver=5.5.1" type="text/css">
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "archive"}});</script>
</head>
<body class="archive category category-news">
<header class="site-header">
  <a class="logo" href="/"><img src="/wp-content/themes/nknews/logo.svg" alt="NK News"></a>
  <nav class="main-nav"><ul>
    <li><a href="/">Home</a></li>
    <li><a href="/category/news/">News</a></li>
    <li><a href="/category/analysis/">Analysis</a></li>
  </ul></nav>
</header>
<main id="main" class="site-main">
  <h1 class="page-title">Latest North Korea news</h1>
  <div class="posts">{body}
  </div>
  <nav class="pagination"><a class="next page-numbers" href="/news/page/2/">Next</a></nav>
</main>
<aside class="sidebar">
  <article class="widget"><h3 class="entry-title"><a href="/popular/">Most read this week</a></h3></article>
</aside>
<footer class="site-footer"><p>&copy; 2020 NK News</p></footer>
</body>
</html>
"#
    )
}

/// `[settings]` plus one standard WordPress feed table per `(name, url)`.
fn config_text(settings_extra: &str, feeds: &[(&str, &str, &str)]) -> String {
    let mut out =
        format!("[settings]\noutput_dir = \"public\"\ntimeout = \"20s\"\n{settings_extra}\n");
    for (name, url, feed_extra) in feeds {
        out.push_str(&wp_feed(name, url, feed_extra));
    }
    out
}

fn wp_feed(name: &str, url: &str, feed_extra: &str) -> String {
    format!(
        r#"
[feeds.{name}]
url = "{url}"
{feed_extra}

[feeds.{name}.items]
selector = "article.post"
title = "h3.entry-title a"
link = "h3.entry-title a"
summary = "p.subtitle"
authors = {{ selector = ".byline .author", split = "|" }}
date = ".byline time"
image = "img.wp-post-image"
categories = ".tags a"
"#
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn build(dir: &Path, config: &Path, extra: &[&str]) -> Run {
    let cfg = config.to_str().expect("utf-8 path");
    let mut args = vec!["build", "--config", cfg];
    args.extend_from_slice(extra);
    pagefeed(dir, &args)
}

/// The three files of feed `name` in `out`.
fn feed_files(out: &Path, name: &str) -> Vec<PathBuf> {
    ["rss", "atom", "json"]
        .iter()
        .map(|ext| out.join(format!("{name}.{ext}")))
        .collect()
}

/// The stderr line `build` prints for feed `name`.
fn feed_line<'a>(run: &'a Run, name: &str) -> &'a str {
    let prefix = format!("{name}: ");
    run.stderr
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for feed `{name}` on stderr:\n{}", run.stderr))
}

/// The "N new" count of a build line; 0 when the line gives none (page not modified).
fn new_count(line: &str) -> usize {
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    words.windows(2).find(|w| w[1] == "new").map_or(0, |w| {
        w[0].parse().unwrap_or_else(|_| panic!("count in {line}"))
    })
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "exit status\n--- stdout:\n{}\n--- stderr:\n{}",
        run.stdout, run.stderr
    );
}

fn json_date(item: &Value, key: &str) -> DateTime<FixedOffset> {
    let text = json_str(item, key);
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{key} `{text}`: {e}"))
}

fn rss_date(item: &rss::Item) -> DateTime<FixedOffset> {
    let text = item.pub_date().expect("pubDate");
    DateTime::parse_from_rfc2822(text).unwrap_or_else(|e| panic!("pubDate `{text}`: {e}"))
}

fn seoul(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(9 * 3600)
        .expect("offset")
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid date")
}

fn rss_titles(c: &rss::Channel) -> Vec<&str> {
    c.items().iter().map(|i| i.title().unwrap_or("")).collect()
}

/// A page of three dated posts (RFC 3339 `datetime` attributes, so no date parsing beyond
/// RFC 3339 is involved).
const SLUG_A: &str = "/2020/10/north-korea-reopens-border-trade/";
const SLUG_B: &str = "/2020/10/typhoon-damage-in-south-hamgyong/";
const SLUG_C: &str = "/2020/10/party-anniversary-parade-preparations/";
const SLUG_D: &str = "/2020/10/new-icbm-unveiled-at-night-parade/";

fn post_a() -> Post<'static> {
    Post {
        href: SLUG_A,
        title: "North Korea reopens border trade with China",
        subtitle: "Customs data show the first shipments since January",
        byline: r#"<span class="author">Colin Zwirko</span>"#,
        time: r#"<time datetime="2020-10-13T10:00:00+09:00">October 13, 2020</time>"#,
        tags: &["Trade"],
        ..Post::default()
    }
}

fn post_b() -> Post<'static> {
    Post {
        href: SLUG_B,
        title: "Typhoon damage in South Hamgyong worse than reported",
        subtitle: "Satellite imagery shows flooded fields and washed-out roads",
        byline: r#"<span class="author">Jeongmin Kim</span>"#,
        time: r#"<time datetime="2020-10-12T09:00:00+09:00">October 12, 2020</time>"#,
        ..Post::default()
    }
}

fn post_c() -> Post<'static> {
    Post {
        href: SLUG_C,
        title: "Party anniversary parade preparations spotted",
        subtitle: "Troops rehearse at the Mirim parade training ground",
        byline: r#"<span class="author">Chad O'Carroll</span> | <span class="author">Kelly Kasulis</span>"#,
        time: r#"<time datetime="2020-10-11T08:30:00+09:00">October 11, 2020</time>"#,
        tags: &["Military", "Parade"],
        ..Post::default()
    }
}

fn post_d() -> Post<'static> {
    Post {
        href: SLUG_D,
        title: "New ICBM unveiled at night parade",
        subtitle: "The missile is the largest road-mobile ICBM seen anywhere",
        byline: r#"<span class="author">Colin Zwirko</span>"#,
        time: r#"<time datetime="2020-10-14T07:00:00+09:00">October 14, 2020</time>"#,
        ..Post::default()
    }
}

// -------------------------------------------------------------------------------------------
// 1. A WordPress listing page becomes three valid feeds.

#[test]
fn wordpress_listing_becomes_rss_atom_and_json_feed() {
    let server = Server::start();
    let posts = [
        Post {
            href: "/2020/10/north-korea-spent-965000-on-a-mysterious-russian-item-in-august-trade-data/",
            title: "North Korea spent $965,000 on a mysterious Russian item in August:&nbsp;Trade data",
            subtitle: "Aside from the mystery item category, the DPRK also spent serious cash on two powerful turbine engines",
            byline: r#"<span class="author">Min Chao Choy</span>"#,
            time: r#"<time class="published">October 15, 2020</time>"#,
            tags: &["Economy", "Russia"],
            image: Some("/wp-content/uploads/2020/10/trade-data-768x432.jpg"),
            ..Post::default()
        },
        Post {
            href: "/2020/10/us-and-south-korea-call-north-koreas-new-icbm-a-significant-threat/",
            title: "US &amp; South Korea call North Korea&#8217;s new ICBM a &#8216;significant threat&#8217;",
            subtitle: "Top defense officials from Seoul and Washington stressed the need to &#8220;dismantle&#8221; Pyongyang&#8217;s growing missile program",
            byline: r#"<span class="author">Chad O'Carroll</span> | <span class="author">Jeongmin Kim</span>"#,
            time: r#"<time class="published">October 15, 2020</time>"#,
            tags: &["Military"],
            ..Post::default()
        },
        Post {
            href: "/2020/10/kim-jong-un-inspects-more-reconstruction-sites/",
            title: "Kim Jong Un inspects more reconstruction sites as elites labor over typhoons",
            subtitle: "North Korean leader also urged winter supplies for party elite living in temporary tent cities",
            byline: r#"<span class="author">Chad O'Carroll | Jeongmin Kim</span>"#,
            time: r#"<time class="published">October 14, 2020</time>"#,
            ..Post::default()
        },
        Post {
            href: "/2020/10/pompeo-dprk-us-diplomacy-absolutely-successful/",
            title: "Pompeo: DPRK-US diplomacy &lsquo;absolutely&rsquo; successful despite new ICBM",
            subtitle: "Pompeo points to lack of long-range North Korean missile testing as an indicator of success",
            byline: r#"<span class="author">Colin Zwirko</span>"#,
            time: r#"<time class="published">October 13, 2020</time>"#,
            ..Post::default()
        },
    ];
    server.route("/news/", Response::html(wp_page(&posts)));
    let dir = tempfile::tempdir().expect("tempdir");
    let page_url = server.url("/news/");
    let cfg = write_config(
        dir.path(),
        &config_text(
            "user_agent = \"pagefeed-test/1.0 (+https://example.org/bot)\"",
            &[(
                "nknews",
                &page_url,
                "language = \"en\"\ntime_zone = \"Asia/Seoul\"",
            )],
        ),
    );

    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 0);
    let line = feed_line(&run, "nknews");
    assert!(line.contains("4 found"), "{line}");
    assert!(line.contains("4 new"), "{line}");
    assert!(line.contains("written"), "{line}");
    assert_eq!(server.hits("/news/"), 1);
    assert_eq!(
        server.last_header("/news/", "User-Agent").as_deref(),
        Some("pagefeed-test/1.0 (+https://example.org/bot)")
    );

    let out = dir.path().join("public");
    for f in feed_files(&out, "nknews") {
        assert!(f.is_file(), "{} missing", f.display());
    }
    let origin = server.origin();
    let links: Vec<String> = posts
        .iter()
        .map(|p| format!("{origin}{}", p.href))
        .collect();
    let titles = [
        "North Korea spent $965,000 on a mysterious Russian item in August: Trade data",
        "US & South Korea call North Korea\u{2019}s new ICBM a \u{2018}significant threat\u{2019}",
        "Kim Jong Un inspects more reconstruction sites as elites labor over typhoons",
        "Pompeo: DPRK-US diplomacy \u{2018}absolutely\u{2019} successful despite new ICBM",
    ];
    let subtitles = [
        "Aside from the mystery item category, the DPRK also spent serious cash on two powerful turbine engines",
        "Top defense officials from Seoul and Washington stressed the need to \u{201c}dismantle\u{201d} Pyongyang\u{2019}s growing missile program",
        "North Korean leader also urged winter supplies for party elite living in temporary tent cities",
        "Pompeo points to lack of long-range North Korean missile testing as an indicator of success",
    ];
    let authors: [Vec<&str>; 4] = [
        vec!["Min Chao Choy"],
        vec!["Chad O'Carroll", "Jeongmin Kim"],
        vec!["Chad O'Carroll", "Jeongmin Kim"],
        vec!["Colin Zwirko"],
    ];
    let categories: [Vec<&str>; 4] = [vec!["Economy", "Russia"], vec!["Military"], vec![], vec![]];
    let image = format!("{origin}/wp-content/uploads/2020/10/trade-data-768x432.jpg");
    let dates = [
        seoul(2020, 10, 15, 0, 0),
        seoul(2020, 10, 15, 0, 0),
        seoul(2020, 10, 14, 0, 0),
        seoul(2020, 10, 13, 0, 0),
    ];

    // RSS 2.0
    let rss = read_rss(&out.join("nknews.rss"));
    assert_eq!(rss.title(), "Latest North Korea news | NK News");
    assert_eq!(rss.link(), page_url);
    assert_eq!(
        rss.description(),
        "Latest North Korea news from NK News correspondents"
    );
    assert_eq!(rss.language(), Some("en"));
    assert_eq!(rss_titles(&rss), titles);
    for (n, item) in rss.items().iter().enumerate() {
        assert_eq!(item.link(), Some(links[n].as_str()), "rss item {n} link");
        let guid = item.guid().expect("guid");
        assert_eq!(guid.value(), links[n], "rss item {n} guid");
        assert!(guid.is_permalink(), "rss item {n} guid isPermaLink");
        assert_eq!(item.description(), Some(subtitles[n]), "rss item {n}");
        let creators = item
            .dublin_core_ext()
            .map(|dc| dc.creators().to_vec())
            .unwrap_or_default();
        assert_eq!(creators, authors[n], "rss item {n} dc:creator");
        let cats: Vec<&str> = item.categories().iter().map(|c| c.name()).collect();
        assert_eq!(cats, categories[n], "rss item {n} categories");
    }
    assert_eq!(
        rss.items()[0].enclosure().map(|e| e.url()),
        Some(image.as_str())
    );
    assert!(rss.items()[1].enclosure().is_none());

    // Atom 1.0
    let atom = read_atom(&out.join("nknews.atom"));
    assert_eq!(atom.title().as_str(), "Latest North Korea news | NK News");
    assert!(
        atom.links()
            .iter()
            .any(|l| l.rel() == "alternate" && l.href() == page_url),
        "feed alternate link"
    );
    let entry_titles: Vec<&str> = atom.entries().iter().map(|e| e.title().as_str()).collect();
    assert_eq!(entry_titles, titles);
    for (n, e) in atom.entries().iter().enumerate() {
        assert_eq!(e.id(), links[n], "atom entry {n} id");
        let alternate: Vec<&str> = e
            .links()
            .iter()
            .filter(|l| l.rel() == "alternate")
            .map(|l| l.href())
            .collect();
        assert_eq!(alternate, [links[n].as_str()], "atom entry {n} link");
        let names: Vec<&str> = e.authors().iter().map(|p| p.name()).collect();
        assert_eq!(names, authors[n], "atom entry {n} authors");
        let cats: Vec<&str> = e.categories().iter().map(|c| c.term()).collect();
        assert_eq!(cats, categories[n], "atom entry {n} categories");
        assert_eq!(
            e.summary().map(|s| s.as_str()),
            Some(subtitles[n]),
            "atom entry {n} summary"
        );
    }

    // JSON Feed 1.1
    let json = read_json(&out.join("nknews.json"));
    assert_eq!(
        json_str(&json, "version"),
        "https://jsonfeed.org/version/1.1"
    );
    assert_eq!(
        json_str(&json, "title"),
        "Latest North Korea news | NK News"
    );
    assert_eq!(json_str(&json, "home_page_url"), page_url);
    let items = json_items(&json);
    assert_eq!(items.len(), 4);
    for (n, it) in items.iter().enumerate() {
        assert_eq!(json_str(it, "id"), links[n], "json item {n} id");
        assert_eq!(json_str(it, "url"), links[n], "json item {n} url");
        assert_eq!(json_str(it, "title"), titles[n], "json item {n} title");
        assert_eq!(json_str(it, "summary"), subtitles[n], "json item {n}");
        assert_eq!(json_str(it, "content_text"), subtitles[n], "json item {n}");
        assert_eq!(json_authors(it), authors[n], "json item {n} authors");
    }
    assert_eq!(json_str(&items[0], "image"), image);
    assert_eq!(items[0]["tags"], serde_json::json!(["Economy", "Russia"]));

    // Dates last: "October 15, 2020" is midnight in Asia/Seoul.
    for n in 0..4 {
        assert_eq!(
            rss_date(&rss.items()[n]),
            dates[n],
            "rss item {n} pubDate: `{}`",
            rss.items()[n].pub_date().unwrap_or("")
        );
        assert_eq!(
            atom.entries()[n].published().copied(),
            Some(dates[n]),
            "atom entry {n} published"
        );
        assert_eq!(
            json_date(&items[n], "date_published"),
            dates[n],
            "json item {n} date_published `{}`",
            json_str(&items[n], "date_published")
        );
    }
}

// -------------------------------------------------------------------------------------------
// 2. A rebuild with nothing new leaves the files alone.

#[test]
fn rebuild_with_the_same_page_is_byte_identical_and_untouched() {
    let server = Server::start();
    let page = wp_page(&[post_a(), post_b(), post_c()]);
    server.route("/news/", Response::html(page.clone()));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("news", &server.url("/news/"), "")]),
    );
    let files = feed_files(&dir.path().join("public"), "news");

    let first = build(dir.path(), &cfg, &[]);
    assert_exit(&first, 0);
    let line = feed_line(&first, "news");
    assert_eq!(new_count(line), 3, "{line}");
    assert!(
        line.contains("written") && !line.contains("unchanged"),
        "{line}"
    );
    let before = snapshot(&files);
    let assert_untouched = |what: &str| {
        let after = snapshot(&files);
        for ((path, b1, m1), (_, b2, m2)) in before.iter().zip(&after) {
            assert!(b1 == b2, "{what}: {} changed", path.display());
            assert_eq!(
                m1,
                m2,
                "{what}: {} was rewritten (mtime moved)",
                path.display()
            );
        }
    };

    // The very same page.
    std::thread::sleep(Duration::from_millis(1100));
    let second = build(dir.path(), &cfg, &[]);
    assert_exit(&second, 0);
    let line = feed_line(&second, "news");
    assert_eq!(new_count(line), 0, "{line}");
    assert!(
        line.contains("unchanged") && !line.contains("written"),
        "{line}"
    );
    assert_untouched("same page");

    // The same entries in a page whose boilerplate changed (as real pages do on every
    // request): the items are extracted and stored again, and still render the same bytes.
    std::thread::sleep(Duration::from_millis(1100));
    server.route(
        "/news/",
        Response::html(
            page.replace("Most read this week", "Most read this month")
                + "<!-- served by cache node 7 -->\n",
        ),
    );
    let third = build(dir.path(), &cfg, &[]);
    assert_exit(&third, 0);
    let line = feed_line(&third, "news");
    assert!(line.contains("3 found"), "{line}");
    assert_eq!(new_count(line), 0, "{line}");
    assert!(
        line.contains("unchanged") && !line.contains("written"),
        "{line}"
    );
    assert_untouched("boilerplate changed");

    assert_eq!(server.hits("/news/"), 3);
    // No temporary files left beside the feeds.
    for name in list_dir(&dir.path().join("public")) {
        assert!(!name.ends_with(".tmp"), "left over: {name}");
    }
}

// -------------------------------------------------------------------------------------------
// 3. Items that scroll off the page stay in the feed.

#[test]
fn item_that_drops_off_the_page_stays_in_the_feed() {
    let server = Server::start();
    server.route(
        "/news/",
        Response::html(wp_page(&[post_a(), post_b(), post_c()])),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text(
            "",
            &[("news", &server.url("/news/"), "time_zone = \"Asia/Seoul\"")],
        ),
    );
    let out = dir.path().join("public");
    let first = build(dir.path(), &cfg, &[]);
    assert_exit(&first, 0);
    let json1 = read_json(&out.join("news.json"));
    let items1 = json_items(&json1).clone();
    assert_eq!(items1.len(), 3);
    let atom1 = read_atom(&out.join("news.atom"));
    let b_updated_1 = *atom1.entries()[1].updated();

    // Second page: D is new (and newest), C is gone, B's title was corrected.
    let started = Utc::now();
    let mut b = post_b();
    b.title = "Typhoon damage in South Hamgyong far worse than reported";
    server.route("/news/", Response::html(wp_page(&[post_d(), post_a(), b])));
    let second = build(dir.path(), &cfg, &[]);
    assert_exit(&second, 0);
    let line = feed_line(&second, "news");
    assert!(line.contains("3 found"), "{line}");
    assert!(line.contains("1 new"), "{line}");
    assert!(line.contains("4 items"), "{line}");

    let o = server.origin();
    let guids: Vec<String> = [SLUG_D, SLUG_A, SLUG_B, SLUG_C]
        .iter()
        .map(|s| format!("{o}{s}"))
        .collect();
    let rss = read_rss(&out.join("news.rss"));
    let rss_guids: Vec<&str> = rss
        .items()
        .iter()
        .map(|i| i.guid().expect("guid").value())
        .collect();
    assert_eq!(rss_guids, guids);
    assert_eq!(
        rss_titles(&rss),
        [
            "New ICBM unveiled at night parade",
            "North Korea reopens border trade with China",
            "Typhoon damage in South Hamgyong far worse than reported",
            "Party anniversary parade preparations spotted",
        ]
    );

    let json2 = read_json(&out.join("news.json"));
    let items2 = json_items(&json2);
    let ids: Vec<&str> = items2.iter().map(|i| json_str(i, "id")).collect();
    assert_eq!(ids, guids);
    // A and C exactly as before (C no longer on the page); B under the same id.
    assert_eq!(items2[1], items1[0], "A unchanged");
    assert_eq!(items2[3], items1[2], "C kept with all its data");
    assert_eq!(json_str(&items2[3], "title"), post_c().title);
    assert_eq!(
        json_authors(&items2[3]),
        ["Chad O'Carroll", "Kelly Kasulis"]
    );
    assert_eq!(
        json_date(&items2[3], "date_published"),
        seoul(2020, 10, 11, 8, 30)
    );
    assert_eq!(json_str(&items2[2], "id"), json_str(&items1[1], "id"));
    assert_eq!(
        json_date(&items2[0], "date_published"),
        seoul(2020, 10, 14, 7, 0)
    );

    // The corrected title bumps B's Atom `updated` (to the second run), not its id.
    let atom2 = read_atom(&out.join("news.atom"));
    let b_entry = &atom2.entries()[2];
    assert_eq!(b_entry.id(), guids[2]);
    assert_eq!(b_updated_1, seoul(2020, 10, 12, 9, 0));
    let b_updated_2 = b_entry.updated().with_timezone(&Utc);
    assert!(
        b_updated_2 >= started - chrono::Duration::seconds(2) && b_updated_2 <= Utc::now(),
        "B updated {b_updated_2}, second run started {started}"
    );
    assert_eq!(
        *atom2.entries()[1].updated(),
        *atom1.entries()[0].updated(),
        "A's updated must not move"
    );
}

// -------------------------------------------------------------------------------------------
// 4. A failed fetch or an empty selection keeps the last good feed.

#[test]
fn failure_keeps_the_last_good_feed() {
    let server = Server::start();
    server.route(
        "/news/",
        Response::html(wp_page(&[post_a(), post_b(), post_c()])),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let url = server.url("/news/");
    let cfg = write_config(dir.path(), &config_text("", &[("news", &url, "")]));
    let files = feed_files(&dir.path().join("public"), "news");
    assert_exit(&build(dir.path(), &cfg, &[]), 0);
    let good = snapshot(&files);
    let unchanged = |what: &str| {
        let now = snapshot(&files);
        for ((path, b1, m1), (_, b2, m2)) in good.iter().zip(&now) {
            assert!(b1 == b2, "{what}: {} changed", path.display());
            assert_eq!(m1, m2, "{what}: {} was rewritten", path.display());
        }
    };

    // The server fails.
    server.route("/news/", Response::status(500));
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 1);
    let line = feed_line(&run, "news");
    assert!(line.contains("feed news"), "{line}");
    assert!(line.contains(&url), "{line}");
    assert!(line.contains("500"), "{line}");
    assert!(line.contains("kept the last good feed (3 items)"), "{line}");
    unchanged("after HTTP 500");

    // The page comes back redesigned: the item selector matches nothing.
    let redesigned = wp_page(&[post_a(), post_b()])
        .replace("<article ", "<div ")
        .replace("</article>", "</div>");
    assert!(!redesigned.contains("<article"));
    server.route("/news/", Response::html(redesigned));
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 1);
    let line = feed_line(&run, "news");
    assert!(line.contains("feed news"), "{line}");
    assert!(line.contains("`article.post`"), "{line}");
    assert!(line.contains("matched nothing"), "{line}");
    assert!(line.contains(&url), "{line}");
    assert!(line.contains("kept the last good feed (3 items)"), "{line}");
    unchanged("after an empty selection");
    assert_eq!(server.hits("/news/"), 3);

    // The page recovers with a new item: the history was not damaged by the failures.
    server.route(
        "/news/",
        Response::html(wp_page(&[post_d(), post_a(), post_b(), post_c()])),
    );
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 0);
    let line = feed_line(&run, "news");
    assert!(line.contains("1 new") && line.contains("written"), "{line}");
    let rss = read_rss(&files[0]);
    assert_eq!(rss.items().len(), 4);
    assert_eq!(rss_titles(&rss)[0], post_d().title);
}

#[test]
fn one_failing_feed_does_not_stop_the_others() {
    let server = Server::start();
    server.route("/good/", Response::html(wp_page(&[post_a(), post_b()])));
    server.route("/broken/", Response::status(503));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text(
            "",
            &[
                ("broken", &server.url("/broken/"), ""),
                ("good", &server.url("/good/"), ""),
            ],
        ),
    );
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 1);
    let out = dir.path().join("public");
    let bad = feed_line(&run, "broken");
    assert!(bad.contains("feed broken"), "{bad}");
    assert!(bad.contains(&server.url("/broken/")), "{bad}");
    assert!(bad.contains("503"), "{bad}");
    for f in feed_files(&out, "broken") {
        assert!(!f.exists(), "{} must not exist", f.display());
    }
    let ok = feed_line(&run, "good");
    assert!(ok.contains("written"), "{ok}");
    assert_eq!(
        rss_titles(&read_rss(&out.join("good.rss"))),
        [post_a().title, post_b().title]
    );
    assert_eq!(read_atom(&out.join("good.atom")).entries().len(), 2);
    assert_eq!(json_items(&read_json(&out.join("good.json"))).len(), 2);
}

// -------------------------------------------------------------------------------------------
// 5. Pages in legacy encodings, declared only in the markup.

/// Windows-1251 for ASCII and the Russian alphabet.
fn cp1251(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            c if c.is_ascii() => c as u8,
            '\u{410}'..='\u{44f}' => (c as u32 - 0x410 + 0xc0) as u8,
            '\u{401}' => 0xa8,
            '\u{451}' => 0xb8,
            _ => panic!("{c} is not in the test's windows-1251 table"),
        })
        .collect()
}

fn one_post_config(dir: &Path, url: &str) -> PathBuf {
    write_config(dir, &config_text("", &[("enc", url, "")]))
}

#[test]
fn windows_1251_page_declared_by_meta_charset() {
    assert_eq!(cp1251("Привет"), [0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2]);
    let title = "Привет, мир";
    let subtitle = "Съешь же ещё этих мягких французских булок, да выпей чаю";
    let page = format!(
        r#"<!DOCTYPE html>
<html lang="ru"><head>
<meta charset="windows-1251">
<title>Новости дня</title>
</head><body>
<article class="post"><h3 class="entry-title"><a href="/ru/2020/10/privet/">{title}</a></h3>
<p class="subtitle">{subtitle}</p>
<div class="byline"><span class="author">Иван Петров</span>
<time datetime="2020-10-15T12:00:00+03:00">15 октября 2020</time></div></article>
</body></html>"#
    );
    let server = Server::start();
    server.route("/ru/", Response::html_no_charset(cp1251(&page)));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = one_post_config(dir.path(), &server.url("/ru/"));
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 0);
    let out = dir.path().join("public");
    let rss = read_rss(&out.join("enc.rss"));
    assert_eq!(rss.title(), "Новости дня");
    assert_eq!(rss_titles(&rss), [title]);
    assert_eq!(rss.items()[0].description(), Some(subtitle));
    let json = read_json(&out.join("enc.json"));
    let item = &json_items(&json)[0];
    assert_eq!(json_str(item, "title"), title);
    assert_eq!(json_authors(item), ["Иван Петров"]);
    assert_eq!(
        json_str(item, "url"),
        server.url("/ru/2020/10/privet/").as_str()
    );
}

#[test]
fn shift_jis_page_declared_by_http_equiv() {
    // "日本語のニュース" in Shift_JIS.
    let title: &[u8] = &[
        0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea, 0x82, 0xcc, 0x83, 0x6a, 0x83, 0x85, 0x81, 0x5b, 0x83,
        0x58,
    ];
    // "日本" in Shift_JIS.
    let nihon: &[u8] = &[0x93, 0xfa, 0x96, 0x7b];
    let mut page = Vec::new();
    page.extend_from_slice(
        b"<!DOCTYPE html>\n<html><head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">\n<title>",
    );
    page.extend_from_slice(nihon);
    page.extend_from_slice(b"</title></head><body>\n<article class=\"post\"><h3 class=\"entry-title\"><a href=\"/jp/news/1.html\">");
    page.extend_from_slice(title);
    page.extend_from_slice(b"</a></h3>\n<p class=\"subtitle\">");
    page.extend_from_slice(nihon);
    page.extend_from_slice(b" 2020</p>\n<div class=\"byline\"><time datetime=\"2020-10-15T09:00:00+09:00\"></time></div></article>\n</body></html>\n");
    let server = Server::start();
    server.route("/jp/", Response::html_no_charset(page));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = one_post_config(dir.path(), &server.url("/jp/"));
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 0);
    let out = dir.path().join("public");
    let rss = read_rss(&out.join("enc.rss"));
    assert_eq!(rss.title(), "日本");
    assert_eq!(rss_titles(&rss), ["日本語のニュース"]);
    let json = read_json(&out.join("enc.json"));
    let item = &json_items(&json)[0];
    assert_eq!(json_str(item, "title"), "日本語のニュース");
    assert_eq!(json_str(item, "summary"), "日本 2020");
    assert_eq!(
        json_str(item, "url"),
        server.url("/jp/news/1.html").as_str()
    );
}

// -------------------------------------------------------------------------------------------
// 6. Config errors name the file, the line, the feed and the key.

/// The 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in the config"))
        + 1
}

/// Asserts `stderr` holds `PATH:LINE:COL:`.
fn assert_located(stderr: &str, cfg: &Path, line: usize) {
    let prefix = format!("{}:{line}:", cfg.display());
    let at = stderr
        .find(&prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{stderr}"));
    let rest = &stderr[at + prefix.len()..];
    let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert!(
        !col.is_empty() && rest[col.len()..].starts_with(':'),
        "no column after `{prefix}` in:\n{stderr}"
    );
}

#[test]
fn unknown_key_is_a_config_error_with_its_line() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_text("", &[("seoul", &server.url("/news/"), "")]).replace(
        "summary = \"p.subtitle\"\n",
        "summary = \"p.subtitle\"\nsumary_html = \"div.excerpt\"\n",
    );
    let line = line_of(&text, "sumary_html");
    let cfg = write_config(dir.path(), &text);
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 2);
    assert_located(&run.stderr, &cfg, line);
    assert!(run.stderr.contains("sumary_html"), "{}", run.stderr);
    assert!(run.stderr.contains("seoul"), "{}", run.stderr);
    assert_eq!(server.hits("/news/"), 0, "nothing is fetched");
    assert!(!dir.path().join("public").exists(), "nothing is written");
}

#[test]
fn invalid_time_zone_is_a_config_error_with_its_line() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_text(
        "",
        &[
            ("alpha", &server.url("/a/"), "time_zone = \"Asia/Seoul\""),
            (
                "seoul",
                &server.url("/news/"),
                "time_zone = \"Asia/Pyongyang_Central\"",
            ),
        ],
    );
    let line = line_of(&text, "Asia/Pyongyang_Central");
    let cfg = write_config(dir.path(), &text);
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 2);
    assert_located(&run.stderr, &cfg, line);
    for needle in ["seoul", "time_zone", "Asia/Pyongyang_Central"] {
        assert!(run.stderr.contains(needle), "no {needle} in {}", run.stderr);
    }
    assert_eq!(server.hits("/a/") + server.hits("/news/"), 0);
    assert!(!dir.path().join("public").exists(), "nothing is written");
}

// -------------------------------------------------------------------------------------------
// 7. A relative date is resolved once, when the item is first seen.

#[test]
fn relative_date_is_resolved_once() {
    let server = Server::start();
    let post = Post {
        href: "/2020/10/breaking/",
        title: "Breaking: rocket launch reported",
        subtitle: "Details are still coming in",
        byline: r#"<span class="author">Colin Zwirko</span>"#,
        time: r#"<time class="published">3 hours ago</time>"#,
        ..Post::default()
    };
    let page = wp_page(&[post]);
    server.route("/news/", Response::html(page.clone()));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text(
            "",
            &[("news", &server.url("/news/"), "time_zone = \"Asia/Seoul\"")],
        ),
    );
    let json_path = dir.path().join("public/news.json");

    let t0 = Utc::now();
    let first = build(dir.path(), &cfg, &[]);
    let t1 = Utc::now();
    assert_exit(&first, 0);
    assert!(
        !first.stderr.contains("cannot read the date"),
        "{}",
        first.stderr
    );
    let d1 = json_date(&json_items(&read_json(&json_path))[0], "date_published");
    let rss1 = read_rss(&dir.path().join("public/news.rss"));
    let three_hours = chrono::Duration::hours(3);
    let slack = chrono::Duration::seconds(5);
    assert!(
        d1 >= t0 - three_hours - slack && d1 <= t1 - three_hours + slack,
        "date_published {d1} is not 3 hours before the run ({t0} .. {t1})"
    );

    // Later, the page still says "3 hours ago" (its boilerplate changed, so the entry is
    // extracted again and its date text read against the later fetch time).
    std::thread::sleep(Duration::from_millis(1100));
    server.route(
        "/news/",
        Response::html(page + "<!-- served by cache node 3 -->\n"),
    );
    let second = build(dir.path(), &cfg, &[]);
    assert_exit(&second, 0);
    let line = feed_line(&second, "news");
    assert!(line.contains("1 found"), "{line}");
    assert_eq!(new_count(line), 0, "{line}");
    assert!(line.contains("unchanged"), "{line}");
    let d2 = json_date(&json_items(&read_json(&json_path))[0], "date_published");
    assert_eq!(d2, d1, "the date moved on rebuild");
    let rss2 = read_rss(&dir.path().join("public/news.rss"));
    assert_eq!(rss2.items()[0].pub_date(), rss1.items()[0].pub_date());
}

// -------------------------------------------------------------------------------------------
// 8. Entries with the same GUID on one page count once; the first wins.

#[test]
fn duplicate_links_on_a_page_make_one_item_the_first_wins() {
    let server = Server::start();
    let origin = server.origin();
    let absolute_dup = format!("{origin}/2020/10/summit/");
    let posts = [
        Post {
            href: "/2020/10/summit/",
            title: "Summit talks resume in Panmunjom",
            byline: r#"<span class="author">Jeongmin Kim</span>"#,
            time: r#"<time datetime="2020-10-15T10:00:00+09:00"></time>"#,
            ..Post::default()
        },
        Post {
            href: "/2020/10/sanctions/",
            title: "New sanctions target shipping firms",
            time: r#"<time datetime="2020-10-14T10:00:00+09:00"></time>"#,
            ..Post::default()
        },
        // The same story again in a "featured" slot, once relative and once absolute.
        Post {
            href: "/2020/10/summit/",
            title: "FEATURED: Summit talks resume",
            byline: r#"<span class="author">Someone Else</span>"#,
            time: r#"<time datetime="2020-10-16T10:00:00+09:00"></time>"#,
            ..Post::default()
        },
        Post {
            href: &absolute_dup,
            title: "Summit (absolute link)",
            time: r#"<time datetime="2020-10-17T10:00:00+09:00"></time>"#,
            ..Post::default()
        },
    ];
    server.route("/news/", Response::html(wp_page(&posts)));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("news", &server.url("/news/"), "")]),
    );
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 0);
    let line = feed_line(&run, "news");
    assert!(line.contains("2 new") && line.contains("2 items"), "{line}");
    let out = dir.path().join("public");
    let rss = read_rss(&out.join("news.rss"));
    assert_eq!(
        rss_titles(&rss),
        [
            "Summit talks resume in Panmunjom",
            "New sanctions target shipping firms"
        ]
    );
    let json = read_json(&out.join("news.json"));
    let items = json_items(&json);
    assert_eq!(items.len(), 2);
    assert_eq!(json_str(&items[0], "id"), absolute_dup);
    assert_eq!(json_authors(&items[0]), ["Jeongmin Kim"]);
    assert_eq!(
        json_date(&items[0], "date_published"),
        seoul(2020, 10, 15, 10, 0)
    );
}

// -------------------------------------------------------------------------------------------
// 9. `--out` and building only the named feeds.

#[test]
fn out_dir_override_and_feed_selection() {
    let server = Server::start();
    server.route("/alpha/", Response::html(wp_page(&[post_a()])));
    server.route("/beta/", Response::html(wp_page(&[post_b(), post_c()])));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text(
            "",
            &[
                ("alpha", &server.url("/alpha/"), ""),
                ("beta", &server.url("/beta/"), ""),
            ],
        ),
    );
    let elsewhere = dir.path().join("elsewhere");
    let out_arg = elsewhere.to_str().expect("utf-8 path");
    let run = build(dir.path(), &cfg, &["--out", out_arg, "beta"]);
    assert_exit(&run, 0);
    assert!(
        feed_line(&run, "beta").contains("written"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("alpha:")),
        "{}",
        run.stderr
    );
    assert_eq!(server.hits("/alpha/"), 0, "alpha must not be fetched");
    assert_eq!(server.hits("/beta/"), 1);

    let written = list_dir(&elsewhere);
    for f in ["beta.atom", "beta.json", "beta.rss"] {
        assert!(written.contains(&f.to_string()), "{f} not in {written:?}");
    }
    assert!(
        !written.iter().any(|f| f.starts_with("alpha.")),
        "{written:?}"
    );
    let is_feed = |f: &String| f.ends_with(".rss") || f.ends_with(".atom") || f.ends_with(".json");
    let in_config_dir: Vec<String> = list_dir(&dir.path().join("public"))
        .into_iter()
        .filter(is_feed)
        .collect();
    assert!(
        in_config_dir.is_empty(),
        "output_dir got feeds: {in_config_dir:?}"
    );
    assert_eq!(
        rss_titles(&read_rss(&elsewhere.join("beta.rss"))),
        [post_b().title, post_c().title]
    );

    // An unknown feed name is a usage error; nothing is fetched or written.
    let before = list_dir(&elsewhere);
    let run = build(dir.path(), &cfg, &["--out", out_arg, "gamma"]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("gamma"), "{}", run.stderr);
    assert_eq!(server.hits("/alpha/"), 0);
    assert_eq!(server.hits("/beta/"), 1);
    assert_eq!(list_dir(&elsewhere), before);
}

// -------------------------------------------------------------------------------------------
// 10. `html = true` summaries are sanitized and their links made absolute.

#[test]
fn html_summary_is_sanitized_with_absolute_links() {
    let server = Server::start();
    let post = Post {
        href: "/2020/10/inside-the-parade/",
        title: "Inside the parade",
        excerpt: Some(
            r#"<p>Read <a href="/2020/10/more/">the full story</a> and see <img src="thumb.png" alt="map">.</p><script>alert("gotcha")</script><p onclick="steal()">Second <b>paragraph</b></p>"#,
        ),
        time: r#"<time datetime="2020-10-15T10:00:00+09:00"></time>"#,
        ..Post::default()
    };
    server.route("/news/", Response::html(wp_page(&[post])));
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_text("", &[("news", &server.url("/news/"), "")]).replace(
        "summary = \"p.subtitle\"",
        "summary = { selector = \"div.excerpt\", html = true }",
    );
    let cfg = write_config(dir.path(), &text);
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 0);
    let out = dir.path().join("public");
    let json = read_json(&out.join("news.json"));
    let item = &json_items(&json)[0];
    assert!(item.get("content_text").is_none(), "{item}");
    let html = json_str(item, "content_html");
    let o = server.origin();
    for want in [
        format!(r#"href="{o}/2020/10/more/""#),
        format!(r#"src="{o}/news/thumb.png""#),
        "the full story</a>".to_string(),
        "Second <b>paragraph</b>".to_string(),
    ] {
        assert!(html.contains(&want), "no {want} in {html}");
    }
    for bad in ["<script", "alert", "gotcha", "onclick", "steal"] {
        assert!(!html.contains(bad), "{bad} left in {html}");
    }
    let atom = read_atom(&out.join("news.atom"));
    let summary = atom.entries()[0].summary().expect("atom summary");
    assert_eq!(summary.r#type, atom_syndication::TextType::Html);
    assert_eq!(summary.as_str(), html);
    let rss = read_rss(&out.join("news.rss"));
    assert_eq!(rss.items()[0].description(), Some(html));
}

// -------------------------------------------------------------------------------------------
// 11. `preview` shows what the selectors find and writes nothing.

#[test]
fn preview_prints_entries_and_field_counts_without_writing() {
    let server = Server::start();
    let posts = [
        Post {
            href: "/2020/10/a/",
            title: "Border trade resumes",
            byline: r#"<span class="author">Colin Zwirko</span>"#,
            time: r#"<time datetime="2020-10-15T10:00:00+09:00"></time>"#,
            tags: &["Trade"],
            ..Post::default()
        },
        Post {
            href: "/2020/10/b/",
            title: "Typhoon damage assessed",
            subtitle: "Fields flooded",
            byline: r#"<span class="author">Jeongmin Kim</span>"#,
            time: r#"<time datetime="2020-10-14T10:00:00+09:00"></time>"#,
            ..Post::default()
        },
        Post {
            href: "/2020/10/c/",
            title: "Parade rehearsals spotted",
            time: r#"<time datetime="2020-10-13T10:00:00+09:00"></time>"#,
            ..Post::default()
        },
    ];
    server.route("/news/", Response::html(wp_page(&posts)));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("news", &server.url("/news/"), "")]),
    );
    let cfg_s = cfg.to_str().expect("utf-8 path");
    let run = pagefeed(dir.path(), &["preview", "--config", cfg_s, "news"]);
    assert_exit(&run, 0);
    for p in &posts {
        assert!(
            run.stdout.contains(p.title),
            "{} in\n{}",
            p.title,
            run.stdout
        );
        let link = server.url(p.href);
        assert!(run.stdout.contains(&link), "{link} in\n{}", run.stdout);
    }
    let count = |field: &str| -> String {
        run.stdout
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(field))
                    .then(|| w.next().map(str::to_string))
                    .flatten()
            })
            .unwrap_or_else(|| panic!("no count for {field} in\n{}", run.stdout))
    };
    assert_eq!(count("title"), "3/3");
    assert_eq!(count("link"), "3/3");
    assert_eq!(count("summary"), "1/3");
    assert_eq!(count("authors"), "2/3");
    assert_eq!(count("date"), "3/3");
    assert_eq!(count("image"), "0/3");
    assert_eq!(count("categories"), "1/3");
    assert_eq!(server.hits("/news/"), 1);
    // Nothing written: no output folder, no history, no lock file.
    assert_eq!(list_dir(dir.path()), ["pagefeed.toml"]);

    let run = pagefeed(dir.path(), &["preview", "--config", cfg_s, "nope"]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    assert_eq!(list_dir(dir.path()), ["pagefeed.toml"]);
}

// -------------------------------------------------------------------------------------------
// 12. A page past max_page_bytes is refused with a clear message.

#[test]
fn page_larger_than_max_page_bytes_fails_the_feed() {
    let server = Server::start();
    let posts: Vec<Post> = (0..40)
        .map(|_| post_a())
        .chain([post_b(), post_c()])
        .collect();
    let page = wp_page(&posts);
    assert!(page.len() > 20_000, "fixture is {} bytes", page.len());
    server.route("/news/", Response::html(page));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text(
            "max_page_bytes = 4000",
            &[("news", &server.url("/news/"), "")],
        ),
    );
    let run = build(dir.path(), &cfg, &[]);
    assert_exit(&run, 1);
    let line = feed_line(&run, "news");
    assert!(line.contains("max_page_bytes"), "{line}");
    assert!(line.contains("4000"), "{line}");
    assert!(line.contains(&server.url("/news/")), "{line}");
    for f in feed_files(&dir.path().join("public"), "news") {
        assert!(!f.exists(), "{} must not exist", f.display());
    }
}

// -------------------------------------------------------------------------------------------
// 13. Two builds at once on the same state.

#[test]
fn two_concurrent_builds_do_not_corrupt_the_state() {
    let server = Server::start();
    // A slow page keeps the first run inside its lock while the second starts.
    server.route(
        "/news/",
        Response::html(wp_page(&[post_a(), post_b(), post_c()]))
            .with_delay(Duration::from_millis(700)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config_text("", &[("news", &server.url("/news/"), "")]),
    );
    let cfg_s = cfg.to_str().expect("utf-8 path");
    let one = spawn_pagefeed(dir.path(), &["build", "--config", cfg_s]);
    let two = spawn_pagefeed(dir.path(), &["build", "--config", cfg_s]);
    let runs = [wait_run(one), wait_run(two)];
    for run in &runs {
        assert_exit(run, 0);
    }
    let lines: Vec<&str> = runs.iter().map(|r| feed_line(r, "news")).collect();
    let written = lines.iter().filter(|l| l.contains("written")).count();
    let unchanged = lines.iter().filter(|l| l.contains("unchanged")).count();
    assert_eq!((written, unchanged), (1, 1), "{lines:?}");
    let mut news: Vec<usize> = lines.iter().map(|l| new_count(l)).collect();
    news.sort_unstable();
    assert_eq!(news, [0, 3], "each item is new exactly once: {lines:?}");
    assert_eq!(server.hits("/news/"), 2);

    let out = dir.path().join("public");
    let rss = read_rss(&out.join("news.rss"));
    assert_eq!(
        rss_titles(&rss),
        [post_a().title, post_b().title, post_c().title]
    );
    assert_eq!(read_atom(&out.join("news.atom")).entries().len(), 3);
    assert_eq!(json_items(&read_json(&out.join("news.json"))).len(), 3);

    // The state still works: a third run sees nothing new.
    server.route(
        "/news/",
        Response::html(wp_page(&[post_a(), post_b(), post_c()])),
    );
    let third = build(dir.path(), &cfg, &[]);
    assert_exit(&third, 0);
    let line = feed_line(&third, "news");
    assert_eq!(new_count(line), 0, "{line}");
    assert!(line.contains("unchanged"), "{line}");
}

// -------------------------------------------------------------------------------------------
// 14. Durations, counts and sizes out of range are config errors (exit 2, located, with the
// allowed range), never panics, in every command that reads the config.

/// Asserts `run` is a config error at `line` of `cfg` that says `needles`, and no panic.
fn assert_config_error(run: &Run, cfg: &Path, line: usize, needles: &[&str]) {
    assert_exit(run, 2);
    assert_located(&run.stderr, cfg, line);
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "no `{needle}` in:\n{}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn out_of_range_timeout_is_a_config_error_with_the_range() {
    let server = Server::start();
    for value in ["99999999999999999999d", "1e300s", "11m", "0s", "-5s"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = config_text("", &[("news", &server.url("/news/"), "")])
            .replace("timeout = \"20s\"", &format!("timeout = \"{value}\""));
        let line = line_of(&text, value);
        let cfg = write_config(dir.path(), &text);
        let run = build(dir.path(), &cfg, &[]);
        assert_config_error(
            &run,
            &cfg,
            line,
            &[
                "[settings]",
                "`timeout` must be between 1s and 10m, like `timeout = \"20s\"`",
                value,
            ],
        );
        assert!(!dir.path().join("public").exists(), "nothing is written");
    }
    assert_eq!(server.hits("/news/"), 0, "nothing is fetched");
}

#[test]
fn out_of_range_feed_refresh_is_a_config_error_naming_the_feed() {
    let server = Server::start();
    for (value, rule) in [
        (
            "18446744073709551615d",
            "`refresh` must be between 1s and 31d, like `refresh = \"30m\"`",
        ),
        (
            "32d",
            "`refresh` must be between 1s and 31d, like `refresh = \"30m\"`",
        ),
        (
            "0 0 30 2 *",
            "`refresh` must fire at least once every 31 days; `0 0 30 2 *` never fires",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = config_text(
            "",
            &[
                ("alpha", &server.url("/a/"), "refresh = \"1h\""),
                (
                    "seoul",
                    &server.url("/news/"),
                    &format!("refresh = \"{value}\""),
                ),
            ],
        );
        let line = line_of(&text, value);
        let cfg = write_config(dir.path(), &text);
        let run = build(dir.path(), &cfg, &[]);
        assert_config_error(&run, &cfg, line, &["[feeds.seoul]", "feed seoul", rule]);
        assert!(!dir.path().join("public").exists(), "nothing is written");
    }
    assert_eq!(server.hits("/a/") + server.hits("/news/"), 0);
}

#[test]
fn every_command_refuses_an_overflowing_refresh() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let value = "99999999999999999999999d";
    let text = config_text(
        "",
        &[(
            "seoul",
            &server.url("/news/"),
            &format!("refresh = \"{value}\""),
        )],
    );
    let line = line_of(&text, value);
    let cfg = write_config(dir.path(), &text);
    let cfg_s = cfg.to_str().expect("utf-8 path");
    let rule = "`refresh` must be between 1s and 31d";
    // `serve` exits at once instead of starting with a schedule it cannot keep.
    let serve = pagefeed(
        dir.path(),
        &["serve", "--config", cfg_s, "--listen", "127.0.0.1:0"],
    );
    assert_config_error(&serve, &cfg, line, &["feed seoul", rule]);
    assert!(!serve.stderr.contains("listening"), "{}", serve.stderr);
    for args in [
        vec!["build", "--config", cfg_s],
        vec!["preview", "--config", cfg_s, "seoul"],
        vec!["opml", "--config", cfg_s],
    ] {
        let run = pagefeed(dir.path(), &args);
        assert_config_error(&run, &cfg, line, &["feed seoul", rule]);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    assert_eq!(server.hits("/news/"), 0, "nothing is fetched");
    assert!(!dir.path().join("public").exists(), "nothing is written");
}

#[test]
fn out_of_range_counts_and_sizes_are_config_errors() {
    let server = Server::start();
    for (settings, feed_extra, needle, rule) in [
        (
            "max_page_bytes = 0",
            "",
            "max_page_bytes = 0",
            "`max_page_bytes` must be between 1000 and 1000000000 bytes",
        ),
        (
            "concurrency = 100000",
            "",
            "concurrency = 100000",
            "`concurrency` must be between 1 and 1024",
        ),
        (
            "host_delay = \"1d\"",
            "",
            "host_delay",
            "`host_delay` must be between 0s and 10m",
        ),
        (
            "",
            "max_items = 9223372036854775807",
            "max_items",
            "feed news: `max_items` must be between 1 and 10000",
        ),
        (
            "",
            "max_age = \"99999999999999999999d\"",
            "max_age",
            "feed news: `max_age` must be between 1m and 3650d",
        ),
        ("", "include = \"a{1000}{1000}\"", "include", "too big"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = config_text(settings, &[("news", &server.url("/news/"), feed_extra)]);
        let line = line_of(&text, needle);
        let cfg = write_config(dir.path(), &text);
        let run = build(dir.path(), &cfg, &[]);
        assert_config_error(&run, &cfg, line, &[rule]);
    }
    assert_eq!(server.hits("/news/"), 0, "nothing is fetched");
}

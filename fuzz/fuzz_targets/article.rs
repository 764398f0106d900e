//! `article`: extract::article::read on arbitrary article pages, with each kind of
//! `[feeds.NAME.article]` table.
//!
//! Input: the first byte `b` chooses the article rules (`b % 4`: `content = "auto"`, a content
//! FIELD with JSON-LD for the rest, FIELDs for everything, or FIELDs with attributes and
//! regexes) and the Content-Type (`CONTENT_TYPES[(b >> 2) % 4]`); the rest is the page.
//!
//! Checks: no panic; the body, when there is one, is not empty; the image, when there is
//! one, is an absolute http(s) URL; the date lies in the range feeds may carry.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use pagefeed::config::FeedConfig;
use pagefeed::extract::article::read;
use pagefeed::source::fetch::{Page, Validators};
use pagefeed_fuzz::PanicFilter;
use url::Url;

const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("text/html"),
    None,
    Some("text/html; charset=windows-1252"),
    Some("application/pdf"),
];

const ARTICLE_RULES: [&str; 4] = [
    "content = \"auto\"",
    "content = \"article .body\"",
    "content = { selector = \"main\", html = true }\n\
     date = \"time\"\nauthors = { selector = \".by a, .author\", split = \",\" }\n\
     image = { selector = \"img\", attr = \"src\" }",
    "content = \"#text\"\n\
     date = { selector = \"meta[property='article:published_time']\", attr = \"content\" }\n\
     authors = { selector = \".meta\", regex = \"by (\\\\w+)\" }\n\
     image = { selector = \"meta[property='og:image']\", attr = \"content\" }",
];

static FEEDS: LazyLock<Vec<FeedConfig>> = LazyLock::new(|| {
    ARTICLE_RULES
        .iter()
        .enumerate()
        .map(|(n, rules)| {
            let text = format!(
                "[feeds.f]\nurl = \"https://example.org/news/\"\ntime_zone = \"Asia/Seoul\"\n\
                 [feeds.f.items]\nselector = \"article\"\ntitle = \"h2\"\n\
                 [feeds.f.article]\n{rules}\n"
            );
            pagefeed_fuzz::first_feed(&text)
                .unwrap_or_else(|| panic!("fuzz harness: article rules {n} do not compile"))
        })
        .collect()
});

static FILTER: PanicFilter = PanicFilter {
    known: &[],
    feed_rs_caught: false,
};

fuzz_target!(|data: &[u8]| pagefeed_fuzz::run(&FILTER, || one(data)));

fn one(data: &[u8]) {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let feed = &FEEDS[usize::from(b) % FEEDS.len()];
    let Some(rules) = &feed.article else {
        panic!("fuzz harness: a feed without its article table");
    };
    let Ok(url) = Url::parse("https://example.org/news/2026/03/a-story.html") else {
        return;
    };
    let page = Page {
        bytes: rest.to_vec(),
        content_type: CONTENT_TYPES[usize::from(b >> 2) % CONTENT_TYPES.len()].map(str::to_string),
        url,
        validators: Validators::default(),
    };
    let Ok(article) = read(feed, rules, &page, pagefeed_fuzz::fixed_now()) else {
        return;
    };
    if let Some(c) = &article.content {
        assert!(!c.is_empty(), "an empty body kept");
    }
    if let Some(i) = &article.image {
        assert!(
            Url::parse(i)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()),
            "image {i:?} is not an absolute http(s) URL"
        );
    }
    if let Some(d) = article.published {
        let (first, last) = (
            pagefeed::extract::dates::earliest(),
            pagefeed::extract::dates::latest(),
        );
        assert!(first <= d && d <= last, "date {d} out of range");
    }
}

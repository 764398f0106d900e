//! The link from one page of a listing to the next (`next_page`).
//!
//! Free of I/O: given a page's bytes and the feed's `next_page`, the absolute http(s) address
//! of the next page, or `None` when the page names none.

use std::sync::LazyLock;

use scraper::{ElementRef, Html, Selector};
use url::Url;

use crate::config::NextPage;
use crate::extract::{links, parse, select};
use crate::source::{decode, fetch::Page};

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| unreachable!("static selector {s}: {e}"))
}

static LINK_NEXT: LazyLock<Selector> = LazyLock::new(|| sel("link[rel~=next][href]"));
static A_NEXT: LazyLock<Selector> = LazyLock::new(|| sel("a[rel~=next][href]"));
static A_ANY: LazyLock<Selector> = LazyLock::new(|| sel("a[href]"));

/// Words a "next page" link starts with, English first, then per language (the page's
/// `<html lang>`, region tags by their language).
const ENGLISH: &[&str] = &["next", "older"];
const WORDS: &[(&str, &[&str])] = &[
    ("de", &["weiter", "nächste", "ältere"]),
    ("fr", &["suivant", "plus anciens"]),
    ("es", &["siguiente"]),
    ("it", &["successiv"]),
    ("pt", &["próxima", "seguinte"]),
    ("nl", &["volgende"]),
    ("ru", &["следующая", "далее"]),
    ("ja", &["次"]),
    ("ko", &["다음"]),
    ("zh", &["下一页"]),
];

/// The address of the page after `page`, as `how` finds it.
pub fn find(page: &Page, how: &NextPage) -> Option<Url> {
    let (html, _) = decode::decode(&page.bytes, page.content_type.as_deref());
    let (doc, _) = parse::document(&html);
    let info = select::page_info(&doc);
    let base = links::base_url(&page.url, info.base_href.as_deref(), None);
    let href = match how {
        NextPage::Field(f) => select::page_link(&doc, f),
        NextPage::Auto => auto(&doc, info.language.as_deref()),
    }?;
    links::resolve(&base, &href).and_then(|u| Url::parse(&u).ok())
}

/// `<link rel="next">`, then `a[rel=next]`, then a link whose text says "next".
fn auto(doc: &Html, language: Option<&str>) -> Option<String> {
    let href = |e: ElementRef| e.attr("href").map(str::to_string);
    if let Some(h) = doc.select(&LINK_NEXT).find_map(href) {
        return Some(h);
    }
    if let Some(h) = doc.select(&A_NEXT).find_map(href) {
        return Some(h);
    }
    let lang = language
        .and_then(|l| l.split(['-', '_']).next())
        .map(str::to_ascii_lowercase);
    let own: &[&str] = lang
        .as_deref()
        .and_then(|l| WORDS.iter().find(|(code, _)| *code == l))
        .map_or(&[], |(_, w)| w);
    doc.select(&A_ANY)
        .find(|a| says_next(&select::collapse(a.text()), own))
        .and_then(href)
}

/// Link text that starts with "next" or "older" (or `own`, the page language's words), case
/// ignored, or is `›` / `»`.
fn says_next(text: &str, own: &[&str]) -> bool {
    let text = text.trim();
    if text == "›" || text == "»" {
        return true;
    }
    let lower = text.to_lowercase();
    ENGLISH
        .iter()
        .chain(own)
        .any(|w| lower.starts_with(&w.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> Page {
        Page {
            url: Url::parse("http://127.0.0.1/list/?p=1").expect("test url"),
            bytes: html.as_bytes().to_vec(),
            content_type: Some("text/html; charset=utf-8".into()),
            validators: Default::default(),
        }
    }

    fn auto_of(html: &str) -> Option<String> {
        find(&page(html), &NextPage::Auto).map(|u| u.to_string())
    }

    #[test]
    fn auto_prefers_link_rel_next_then_a_rel_next() {
        let html = r#"<html><head><link rel="next" href="/list/?p=2"></head>
            <body><a rel="next" href="?p=9">x</a><a href="?p=8">Next</a></body></html>"#;
        assert_eq!(auto_of(html).as_deref(), Some("http://127.0.0.1/list/?p=2"));
        let html = r#"<body><a href="?p=8">Next</a><a rel="prev next" href="?p=3">x</a></body>"#;
        assert_eq!(auto_of(html).as_deref(), Some("http://127.0.0.1/list/?p=3"));
    }

    #[test]
    fn auto_reads_link_text_in_the_page_language() {
        let html = r#"<body><a href="/a">Home</a><a href="?p=2">Next ›</a></body>"#;
        assert_eq!(auto_of(html).as_deref(), Some("http://127.0.0.1/list/?p=2"));
        let html = r#"<body><a href="/a">Home</a><a href="?p=2"> OLDER posts</a></body>"#;
        assert_eq!(auto_of(html).as_deref(), Some("http://127.0.0.1/list/?p=2"));
        let html = r#"<body><a href="?p=2">»</a></body>"#;
        assert_eq!(auto_of(html).as_deref(), Some("http://127.0.0.1/list/?p=2"));
        let html = r#"<html lang="de-AT"><body><a href="?p=2">Nächste Seite</a></body></html>"#;
        assert_eq!(auto_of(html).as_deref(), Some("http://127.0.0.1/list/?p=2"));
        let html = r#"<html lang="zh-CN"><body><a href="?p=2">下一页</a></body></html>"#;
        assert_eq!(auto_of(html).as_deref(), Some("http://127.0.0.1/list/?p=2"));
        // Another language's word does not count on an English page.
        let html = r#"<html lang="en"><body><a href="?p=2">Weiter</a></body></html>"#;
        assert_eq!(auto_of(html), None);
        assert_eq!(auto_of(r#"<body><a href="?p=2">Home</a></body>"#), None);
    }

    #[test]
    fn a_field_reads_href_or_its_attr() {
        let cfg = r#"
[feeds.t]
url = "https://example.org/"
next_page = { selector = "span.more", attr = "data-url" }
[feeds.t.items]
selector = "li"
title = "a"
"#;
        let c = crate::config::parse(std::path::Path::new("t.toml"), cfg).expect("config");
        let how = c.feeds[0].next_page.clone().expect("next_page");
        let p = page(r#"<body><span class="more" data-url="/list/?p=2">more</span></body>"#);
        assert_eq!(
            find(&p, &how).map(|u| u.to_string()).as_deref(),
            Some("http://127.0.0.1/list/?p=2")
        );
    }
}

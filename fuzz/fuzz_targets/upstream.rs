//! `upstream`: upstream::parse_upstream on arbitrary bytes, as RSS 0.9x/1.0/2.0, Atom or JSON
//! Feed under a few Content-Types.
//!
//! Input: the first byte picks the Content-Type the "server" sent (none, RSS, Atom, JSON Feed,
//! RDF, XML with a latin-1 charset, JSON with a UTF-16 charset, HTML); the rest is the body.
//!
//! Checks: no panic outside feed-rs (pagefeed runs feed-rs under catch_unwind and turns its
//! panics into a parse error, so those are let through); on success every GUID is non-empty
//! and unique, every link and image is an absolute http(s) URL, and every item has a title,
//! a link or a summary.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use pagefeed::source::fetch::{Page, Validators};
use pagefeed::extract::upstream::parse_upstream;
use pagefeed_fuzz::PanicFilter;
use url::Url;

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/rss+xml"),
    Some("application/atom+xml; charset=utf-8"),
    Some("application/feed+json"),
    Some("application/rdf+xml"),
    Some("text/xml; charset=iso-8859-1"),
    Some("application/json; charset=utf-16"),
    Some("text/html; charset=windows-1251"),
];

static FILTER: PanicFilter = PanicFilter {
    known: &[],
    feed_rs_caught: true,
};

fn is_web(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fuzz_target!(|data: &[u8]| pagefeed_fuzz::run(&FILTER, || one(data)));

fn one(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(kind) % CONTENT_TYPES.len()];
    let Ok(url) = Url::parse("https://example.org/blog/feed.xml") else {
        return;
    };
    let page = Page {
        bytes: body.to_vec(),
        content_type: content_type.map(str::to_string),
        url,
        validators: Validators::default(),
    };
    let Ok(up) = parse_upstream(&page, pagefeed_fuzz::fixed_now()) else {
        return;
    };
    if let Some(l) = &up.meta.link {
        assert!(is_web(l), "channel link {l:?} is not an absolute http(s) URL");
    }
    let mut seen = HashSet::new();
    for item in &up.items {
        assert!(!item.guid().is_empty(), "an item with an empty GUID");
        assert!(seen.insert(item.guid()), "GUID {:?} twice", item.guid());
        if let Some(l) = item.link() {
            assert!(is_web(l), "item link {l:?} is not an absolute http(s) URL");
        }
        if let Some(i) = item.image() {
            assert!(is_web(i), "item image {i:?} is not an absolute http(s) URL");
        }
        assert!(
            item.title().is_some() || item.link().is_some() || item.summary().is_some(),
            "an item with no title, link or summary: {item:?}"
        );
    }
}

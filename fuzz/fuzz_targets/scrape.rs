//! `scrape`: scrape::scrape on arbitrary page bytes with a set of item rules.
//!
//! Input: the first byte `b` chooses the rules.
//! - `b < 0x80`: one of the fixed rule sets below (`(b & 0x0f) % 5`), with the Content-Type
//!   `CONTENT_TYPES[b >> 4]`; the rest of the input is the page.
//! - `b >= 0x80`: rules taken from the input. Up to the first NUL byte, the input is UTF-8
//!   text (lossy), one line per field: item selector, title, link, date, summary, authors,
//!   categories, image, guid. A line is `selector` or `selector<TAB>attr<TAB>regex<TAB>strip
//!   <TAB>split`; an empty line leaves an optional field out. Bits of `b`: 0 summary is HTML,
//!   1 the date is read `from = "next"`, 2 the title `from = "preceding"`, 3 a `site_url` is
//!   set, 4-5 the time zone, 6 a `date_format`. Rules the config refuses are skipped, as the
//!   config would refuse them. The page is what follows the NUL, as `text/html`.
//!
//! Checks: no panic; on success there is at least one item, GUIDs are non-empty and unique,
//! every link and image is an absolute http(s) URL, and each item has its date text.

#![no_main]

use std::collections::HashSet;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use pagefeed_fuzz::PanicFilter;
use pagefeed::config::{self, FeedConfig};
use pagefeed::source::fetch::{Page, Validators};
use pagefeed::extract::scrape::scrape;
use pagefeed_fuzz::toml_str;
use url::Url;

const CONTENT_TYPES: [Option<&str>; 8] = [
    Some("text/html"),
    None,
    Some("text/html; charset=utf-8"),
    Some("text/html; charset=windows-1252"),
    Some("text/html; charset=shift_jis"),
    Some("application/xhtml+xml"),
    Some("text/html; charset=utf-16le"),
    Some("text/plain; charset=bogus"),
];

/// Fixed rule sets: the demo's, and shapes that use every kind of field option.
const RULE_SETS: [&str; 5] = [
    // 0: the demo config's NK News rules.
    r#"
url = "page.html"
site_url = "https://www.nknews.org/category/news/"
time_zone = "Asia/Seoul"
[feeds.f.items]
selector = "article.post"
title = "h3.entry-title a"
link = { selector = "h3.entry-title a", attr = "href" }
summary = "p.subtitle"
authors = ".byline .author"
date = ".byline time.published"
image = { selector = "img.wp-post-image", attr = "src" }
categories = ".tags a[rel=tag]"
"#,
    // 1: a generic blog listing over HTTP, defaults for attributes.
    r#"
url = "https://example.org/news/list.html"
[feeds.f.items]
selector = "article, li.post"
title = "h2, h3"
link = "a"
date = "time"
summary = "p"
image = "img"
"#,
    // 2: HTML summaries, split authors and categories, regex and strip, user date formats.
    r#"
url = "https://example.org/news/list.html"
time_zone = "Europe/Berlin"
date_format = ["%d.%m.%Y", "%B %e, %Y %H:%M"]
[feeds.f.items]
selector = ".entry"
title = { selector = "h2", strip = "^\\s*(New|Update):\\s*" }
link = { selector = "h2 a", attr = "href" }
summary = { selector = ".body", html = true }
authors = { selector = ".by", split = "," }
categories = { selector = ".tags", split = "|" }
date = { selector = ".meta", regex = "(\\d{1,2}\\.\\d{1,2}\\.\\d{4}|\\w+ \\d+, \\d{4} \\d\\d:\\d\\d)" }
"#,
    // 3: entries as headings, fields in the siblings around them.
    r#"
url = "page.html"
time_zone = "America/New_York"
[feeds.f.items]
selector = "h2"
title = ":scope"
link = { selector = ":scope a, a", attr = "href" }
summary = { selector = "p", from = "next" }
date = { selector = "h1.day", from = "preceding" }
"#,
    // 4: table rows, GUIDs from an attribute, a base href on the page.
    r#"
url = "https://example.org/list"
site_url = "https://example.org/"
time_zone = "Asia/Kolkata"
[feeds.f.items]
selector = "tr[id]"
title = "td:nth-child(2)"
link = { selector = "a[href]", attr = "href" }
guid = { selector = ":scope", attr = "id" }
image = { selector = "img", attr = "data-src" }
date = { selector = "td.date", regex = "(\\d{4}-\\d\\d-\\d\\d)" }
categories = "td.cat span"
"#,
];

const ZONES: [&str; 4] = ["UTC", "Asia/Seoul", "America/St_Johns", "Australia/Lord_Howe"];

fn compile(body: &str) -> Option<FeedConfig> {
    pagefeed_fuzz::first_feed(&format!("[feeds.f]\n{body}"))
}

static FIXED: LazyLock<Vec<FeedConfig>> = LazyLock::new(|| {
    RULE_SETS
        .iter()
        .enumerate()
        .map(|(n, body)| {
            compile(body).unwrap_or_else(|| panic!("fuzz harness: rule set {n} does not compile"))
        })
        .collect()
});

/// One FIELD line of a custom rule set as TOML.
fn field(line: &str, extra: Option<&str>) -> String {
    let mut parts = line.split('\t');
    let mut out = format!("{{ selector = {}", toml_str(parts.next().unwrap_or_default()));
    for key in ["attr", "regex", "strip", "split"] {
        if let Some(v) = parts.next().filter(|v| !v.is_empty()) {
            out.push_str(&format!(", {key} = {}", toml_str(v)));
        }
    }
    if let Some(e) = extra {
        out.push_str(", ");
        out.push_str(e);
    }
    out.push_str(" }");
    out
}

fn custom(flags: u8, head: &str) -> Option<FeedConfig> {
    let mut lines = head.split('\n');
    let selector = lines.next()?;
    let title = lines.next()?;
    let mut body = String::from("url = \"https://example.org/news/list.html\"\n");
    if flags & 0x08 != 0 {
        body.push_str("site_url = \"https://www.example.org/a/b/\"\n");
    }
    let zone = ZONES[usize::from((flags >> 4) & 3)];
    body.push_str(&format!("time_zone = \"{zone}\"\n"));
    if flags & 0x40 != 0 {
        body.push_str("date_format = [\"%d/%m/%Y %H:%M\", \"%s\"]\n");
    }
    body.push_str("[feeds.f.items]\n");
    body.push_str(&format!("selector = {}\n", toml_str(selector)));
    let title_extra = (flags & 0x04 != 0).then_some("from = \"preceding\"");
    body.push_str(&format!("title = {}\n", field(title, title_extra)));
    let optional = [
        ("link", None),
        ("date", (flags & 0x02 != 0).then_some("from = \"next\"")),
        ("summary", (flags & 0x01 != 0).then_some("html = true")),
        ("authors", None),
        ("categories", None),
        ("image", None),
        ("guid", None),
    ];
    for (key, extra) in optional {
        if let Some(line) = lines.next().filter(|l| !l.is_empty()) {
            body.push_str(&format!("{key} = {}\n", field(line, extra)));
        }
    }
    compile(&body)
}

fn is_web(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

static FILTER: PanicFilter = PanicFilter {
    known: &[],
    feed_rs_caught: false,
};

fuzz_target!(|data: &[u8]| pagefeed_fuzz::run(&FILTER, || one(data)));

fn one(data: &[u8]) {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let custom_feed;
    let (feed, bytes, content_type) = if b < 0x80 {
        let feed = &FIXED[usize::from(b & 0x0f) % FIXED.len()];
        (feed, rest, CONTENT_TYPES[usize::from(b >> 4) % CONTENT_TYPES.len()])
    } else {
        let split = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        let (head, page) = rest.split_at(split);
        let Some(f) = custom(b, &String::from_utf8_lossy(head)) else {
            return;
        };
        custom_feed = f;
        (&custom_feed, page.get(1..).unwrap_or_default(), Some("text/html"))
    };
    let Some(rules) = feed.items() else {
        return;
    };
    let page_url = match feed.source() {
        Some(config::Source::Http(u)) => u.clone(),
        _ => match Url::parse("file:///srv/pages/page.html") {
            Ok(u) => u,
            Err(_) => return,
        },
    };
    let page = Page {
        bytes: bytes.to_vec(),
        content_type: content_type.map(str::to_string),
        url: page_url,
        validators: Validators::default(),
    };
    let Ok(out) = scrape(feed, rules, &page, pagefeed_fuzz::fixed_now()) else {
        return;
    };
    assert!(!out.items.is_empty(), "scrape succeeded with no items");
    assert_eq!(out.items.len(), out.date_texts.len(), "date texts not parallel to items");
    let mut seen = HashSet::new();
    for item in &out.items {
        assert!(!item.guid().is_empty(), "an item with an empty GUID");
        assert!(seen.insert(item.guid()), "GUID {:?} twice", item.guid());
        if let Some(l) = item.link() {
            assert!(is_web(l), "item link {l:?} is not an absolute http(s) URL");
        }
        if let Some(i) = item.image() {
            assert!(is_web(i), "item image {i:?} is not an absolute http(s) URL");
        }
    }
}

//! `render`: arbitrary items and feed facts through render::render in all three formats.
//!
//! Input: decoded with `arbitrary::Unstructured` into a FeedMeta and up to eight Items (see
//! `meta` and `item` below). Strings mix arbitrary characters with pieces that are hard on
//! XML (`]]>`, `&#1;`, U+0001, U+FFFE, lone `&`, `<`); instants range over everything chrono
//! can hold, weighted towards the years 1900-2200; time zones are any of chrono-tz's.
//!
//! Checks, for each of JSON Feed, Atom and RSS (in that order): rendering succeeds and gives the same bytes
//! twice; RSS and Atom are well-formed XML 1.0 (pagefeed_fuzz::assert_well_formed) and parse
//! back with the `rss` and `atom_syndication` crates into as many items as went in; JSON Feed
//! parses with serde_json, has the version and one object per item, each with an `id`
//! string, `content_text` or `content_html`, and dates that are RFC 3339 timestamps.

#![no_main]

use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use pagefeed::config::Format;
use pagefeed::feed::item::{FeedMeta, Item, ItemSource};
use pagefeed::feed::render::render;
use pagefeed_fuzz::PanicFilter;
use url::Url;

static FILTER: PanicFilter = PanicFilter {
    known: &[],
    feed_rs_caught: false,
};

/// Pieces that are hard on XML writers, mixed into generated strings.
const PIECES: [&str; 28] = [
    "a",
    " ",
    "<b>x</b>",
    "&amp;",
    "&",
    "<",
    ">",
    "]]>",
    "<![CDATA[",
    "-->",
    "\"",
    "'",
    "&#1;",
    "&#x1B;",
    "&nbsp;",
    "\u{1}",
    "\u{0}",
    "\u{b}",
    "\u{1f}",
    "\u{7f}",
    "\u{85}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{d7ff}",
    "\r\n",
    "\t",
    "😀",
    "https://example.org/a?b=1&c=2#f",
];

fn text(u: &mut Unstructured) -> Result<String> {
    let mut out = String::new();
    for _ in 0..u.int_in_range(0..=8u8)? {
        match u.int_in_range(0..=3u8)? {
            0 => out.push_str(u.choose(&PIECES)?),
            1 => out.push(u.arbitrary::<char>()?),
            _ => out.push_str(u.arbitrary::<&str>()?),
        }
    }
    if pagefeed_fuzz::skip_known() {
        out.retain(pagefeed_fuzz::is_xml_char);
    }
    Ok(out)
}

fn opt_text(u: &mut Unstructured) -> Result<Option<String>> {
    Ok(if u.arbitrary()? { Some(text(u)?) } else { None })
}

/// A link: usually an absolute http(s) URL (what scrape and upstream produce), sometimes
/// any text (older histories, odd upstream GUIDs).
fn link(u: &mut Unstructured) -> Result<String> {
    let rest = text(u)?;
    if u.ratio(1u8, 4)? {
        return Ok(rest);
    }
    let base = u.choose(&[
        "https://example.org/news/",
        "http://example.org:8080/a?b=c",
        "https://xn--bcher-kva.example/",
    ])?;
    Ok(Url::parse(base)
        .and_then(|b| b.join(&rest))
        .map(|l| l.to_string())
        .unwrap_or_else(|_| (*base).to_string()))
}

fn opt_link(u: &mut Unstructured) -> Result<Option<String>> {
    Ok(if u.arbitrary()? { Some(link(u)?) } else { None })
}

/// An instant: mostly 1900-2200, sometimes anywhere chrono can go, sometimes its limits.
fn instant(u: &mut Unstructured) -> Result<DateTime<Utc>> {
    const Y1900: i64 = -2_208_988_800;
    const Y2200: i64 = 7_258_118_400;
    let nanos = if u.ratio(1u8, 8)? {
        u.int_in_range(0..=1_999_999_999u32)?
    } else {
        0
    };
    let secs = match u.int_in_range(0..=15u8)? {
        0 => DateTime::<Utc>::MIN_UTC.timestamp(),
        1 => DateTime::<Utc>::MAX_UTC.timestamp(),
        2 => u.arbitrary::<i64>()?,
        3 => DateTime::<Utc>::MIN_UTC.timestamp() + i64::from(u.arbitrary::<u32>()?),
        4 => DateTime::<Utc>::MAX_UTC.timestamp() - i64::from(u.arbitrary::<u32>()?),
        _ => u.int_in_range(Y1900..=Y2200)?,
    };
    // Years 2 to 9998 stay inside what RSS can write whatever the time zone.
    let secs = if pagefeed_fuzz::skip_known() {
        secs.clamp(-62_104_060_800, 253_339_200_000)
    } else {
        secs
    };
    Ok(DateTime::<Utc>::from_timestamp(secs, nanos)
        .or_else(|| DateTime::<Utc>::from_timestamp(secs, 0))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH))
}

fn zone(u: &mut Unstructured) -> Result<chrono_tz::Tz> {
    u.choose(&chrono_tz::TZ_VARIANTS).copied()
}

fn meta(u: &mut Unstructured) -> Result<FeedMeta> {
    let name_len = u.int_in_range(1..=12u8)?;
    let mut name = String::new();
    for _ in 0..name_len {
        name.push(char::from(
            *u.choose(b"abcdefghijklmnopqrstuvwxyz0123456789_-")?,
        ));
    }
    let self_base = match u.int_in_range(0..=2u8)? {
        0 => None,
        1 => Url::parse("https://feeds.example.org/").ok(),
        _ => Url::parse("https://feeds.example.org/sub/dir/").ok(),
    };
    Ok(FeedMeta {
        name,
        title: text(u)?,
        description: text(u)?,
        link: link(u)?,
        language: opt_text(u)?,
        time_zone: zone(u)?,
        self_base,
        hub: opt_link(u)?,
    })
}

fn list(u: &mut Unstructured) -> Result<Vec<String>> {
    let n = u.int_in_range(0..=3u8)?;
    (0..n).map(|_| text(u)).collect()
}

fn item(u: &mut Unstructured, source: &Option<Arc<ItemSource>>) -> Result<Item> {
    let first_seen = instant(u)?;
    let updated = if u.arbitrary()? {
        first_seen
    } else {
        instant(u)?
    };
    let published = if u.arbitrary()? {
        Some(instant(u)?)
    } else {
        None
    };
    Ok(Item {
        guid: if u.arbitrary()? { link(u)? } else { text(u)? },
        permalink: u.arbitrary()?,
        title: opt_text(u)?,
        link: opt_link(u)?,
        summary: opt_text(u)?,
        summary_html: u.arbitrary()?,
        content: None,
        authors: list(u)?,
        categories: list(u)?,
        image: opt_link(u)?,
        published,
        updated,
        first_seen,
        source: if u.arbitrary()? { source.clone() } else { None },
    })
}

fn source(u: &mut Unstructured) -> Result<Option<Arc<ItemSource>>> {
    if !u.arbitrary()? {
        return Ok(None);
    }
    Ok(Some(Arc::new(ItemSource {
        name: text(u)?,
        title: text(u)?,
        link: link(u)?,
        atom_id: link(u)?,
        feed_url: opt_link(u)?,
    })))
}

fn decode(data: &[u8]) -> Result<(FeedMeta, Vec<Item>)> {
    let mut u = Unstructured::new(data);
    let meta = meta(&mut u)?;
    let source = source(&mut u)?;
    let n = u.int_in_range(0..=8u8)?;
    let mut items = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        items.push(item(&mut u, &source)?);
    }
    // Keep the history's order (newest first) half of the time, as the renderers get it.
    if u.arbitrary()? {
        items.sort_by_key(|i| std::cmp::Reverse(i.date()));
    }
    Ok((meta, items))
}

fn render_twice(format: Format, meta: &FeedMeta, items: &[Item]) -> Vec<u8> {
    let out = match render(format, meta, items) {
        Ok(b) => b,
        Err(e) => panic!("{format:?}: rendering failed: {e}"),
    };
    let again = render(format, meta, items).unwrap_or_default();
    assert!(out == again, "{format:?}: two renderings differ");
    out
}

fuzz_target!(|data: &[u8]| pagefeed_fuzz::run(&FILTER, || one(data)));

fn one(data: &[u8]) {
    let Ok((meta, items)) = decode(data) else {
        return;
    };
    if pagefeed_fuzz::print_inputs() {
        eprintln!("{meta:#?}\n{items:#?}");
    }
    let json = render_twice(Format::Json, &meta, &items);
    let value: serde_json::Value = match serde_json::from_slice(&json) {
        Ok(v) => v,
        Err(e) => panic!("JSON Feed does not parse back with serde_json: {e}"),
    };
    assert_eq!(
        value["version"], "https://jsonfeed.org/version/1.1",
        "JSON Feed version"
    );
    let Some(list) = value["items"].as_array() else {
        panic!("JSON Feed without an items array");
    };
    assert_eq!(list.len(), items.len(), "JSON Feed items read back");
    for i in list {
        assert!(i["id"].is_string(), "JSON Feed item without a string id: {i}");
        assert!(
            i["content_text"].is_string() || i["content_html"].is_string(),
            "JSON Feed item without content_text or content_html: {i}"
        );
        for key in ["date_published", "date_modified"] {
            if let Some(d) = i.get(key) {
                let text = d.as_str().unwrap_or_default();
                assert!(
                    DateTime::parse_from_rfc3339(text).is_ok(),
                    "JSON Feed {key} {text:?} is not an RFC 3339 timestamp"
                );
            }
        }
    }

    let atom = render_twice(Format::Atom, &meta, &items);
    let root = pagefeed_fuzz::assert_well_formed("Atom", &atom);
    assert_eq!(root, "feed", "Atom root element");
    match atom_syndication::Feed::read_from(&atom[..]) {
        Ok(feed) => assert_eq!(feed.entries().len(), items.len(), "Atom entries read back"),
        Err(e) => panic!("Atom does not parse back with atom_syndication: {e}"),
    }

    let rss = render_twice(Format::Rss, &meta, &items);
    let root = pagefeed_fuzz::assert_well_formed("RSS", &rss);
    assert_eq!(root, "rss", "RSS root element");
    match rss::Channel::read_from(&rss[..]) {
        Ok(ch) => assert_eq!(ch.items().len(), items.len(), "RSS items read back"),
        Err(e) => panic!("RSS does not parse back with the rss crate: {e}"),
    }
}

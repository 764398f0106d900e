//! Rendering the history's items as RSS 2.0, Atom 1.0 and JSON Feed 1.1.
//!
//! Renderers are pure functions of ([`FeedMeta`], items): no clock, no I/O. Every feed-level
//! date comes from the items, so the same history renders to the same bytes, which is what
//! lets `build` leave unchanged files untouched and `serve` hand out stable ETags.

mod atom;
pub mod clean;
mod json;
mod rss;

use chrono::{DateTime, Utc};

use crate::config::Format;
use crate::feed::item::{FeedMeta, Item};

pub use self::atom::{atom_id, feed_id};

pub const GENERATOR: &str = "pagefeed";
pub const GENERATOR_URI: &str = "https://github.com/pagefeed/pagefeed";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot write {format}: {message}")]
    Write {
        format: &'static str,
        message: String,
    },
}

/// Render `items` in `format`. Text XML cannot hold and dates no format can write are
/// cleaned here first ([`clean`]), whatever the items' origin.
pub fn render(format: Format, meta: &FeedMeta, items: &[Item]) -> Result<Vec<u8>, RenderError> {
    let meta = clean::meta(meta);
    let items = clean::items(items);
    match format {
        Format::Rss => rss::render_rss(&meta, &items),
        Format::Atom => atom::render_atom(&meta, &items),
        Format::Json => json::render_json(&meta, &items),
    }
}

/// The feed's last change: the newest item date or update. `None` for an empty feed.
pub fn feed_updated(items: &[Item]) -> Option<DateTime<Utc>> {
    items.iter().map(|i| i.updated.max(i.date())).max()
}

/// A title for an item the page gave none: the start of its summary, else its link.
pub fn display_title(item: &Item) -> String {
    if let Some(t) = &item.title {
        return t.clone();
    }
    if let Some(s) = &item.summary {
        let text = if item.summary_html {
            crate::extract::select::collapse(std::iter::once(ammonia::clean_text(s).as_str()))
        } else {
            s.clone()
        };
        let mut out: String = text.chars().take(80).collect();
        if text.chars().count() > 80 {
            out.push('…');
        }
        if !out.is_empty() {
            return out;
        }
    }
    item.link.clone().unwrap_or_default()
}

/// Where a reader opens `item`: its link; for an entry the page links nowhere, the listing
/// page, with a fragment naming the item so that no two items share a link (readers and
/// validators take equal links for duplicates).
pub fn item_link<'a>(meta: &'a FeedMeta, item: &'a Item) -> std::borrow::Cow<'a, str> {
    match &item.link {
        Some(l) => std::borrow::Cow::Borrowed(l),
        None => {
            let page = meta.link.split('#').next().unwrap_or("");
            let id = crate::feed::item::stable_hash(&["pagefeed-item", &item.guid]);
            std::borrow::Cow::Owned(format!("{page}#item-{}", id.get(..12).unwrap_or(&id)))
        }
    }
}

/// A MIME type for an image URL, by its extension.
pub fn image_type(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    match path.rsplit('.').next().unwrap_or("") {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        _ => "image/jpeg",
    }
}

/// The opening words of an item's HTML content, as plain text: at most `EXCERPT_CHARS`
/// characters, cut at a word boundary with an ellipsis. RSS readers (and the W3C validator)
/// expect a `description` beside `content:encoded`; an item whose listing gave no summary
/// gets this one.
pub fn excerpt(html: &str) -> String {
    let text = crate::extract::select::html_text(html);
    if text.chars().count() <= EXCERPT_CHARS {
        return text;
    }
    let cut = text
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(text.len(), |(at, _)| at);
    let head = text.get(..cut).unwrap_or(&text);
    let head = match head.rfind(' ') {
        Some(space) if space > 0 => head.get(..space).unwrap_or(head),
        _ => head,
    };
    format!(
        "{}\u{2026}",
        head.trim_end_matches([',', ';', ':', '.', '&', '-', '\u{2013}', '\u{2014}', ' '])
    )
}

/// How long [`excerpt`] is at most, in characters.
pub const EXCERPT_CHARS: usize = 300;

/// Plain text as HTML: `&`, `<`, `>` escaped.
pub fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! Property test: whatever text and instants the items and channel hold, every renderer
    //! writes a document that a strict XML 1.0 parser (roxmltree), the `rss` and
    //! `atom_syndication` readers and serde_json read back, with every item.

    use std::sync::Arc;

    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::feed::item::ItemSource;

    /// Any text, with the characters XML forbids and entity-like runs well represented.
    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            any::<char>().prop_map(String::from),
            (0u32..0x20).prop_map(|c| char::from_u32(c).map(String::from).unwrap_or_default()),
            Just("\u{FFFE}".to_string()),
            Just("\u{FFFF}".to_string()),
            Just("&#1;".to_string()),
            Just("&#x1B;".to_string()),
            Just("<b>".to_string()),
            Just("]]>".to_string()),
            "[a-z ]{1,8}",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            // Anything chrono can hold: years -262143 to 262142.
            (-8_210_266_876_800i64..8_210_298_412_799)
                .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default()),
            (0i64..4_102_444_800).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default()),
        ]
    }

    fn item() -> impl Strategy<Value = Item> {
        (
            (text(), any::<bool>(), proptest::option::of(text())),
            (proptest::option::of(text()), any::<bool>()),
            (
                proptest::collection::vec(text(), 0..3),
                proptest::collection::vec(text(), 0..3),
            ),
            (
                proptest::option::of(instant()),
                instant(),
                instant(),
                proptest::option::of(text()),
            ),
        )
            .prop_map(
                |(
                    (guid, permalink, title),
                    (summary, summary_html),
                    (authors, categories),
                    (published, updated, first_seen, src),
                )| {
                    Item {
                        guid,
                        permalink,
                        title,
                        link: Some("https://example.org/a".to_string()),
                        summary,
                        summary_html,
                        content: None,
                        authors,
                        categories,
                        image: None,
                        published,
                        updated,
                        first_seen,
                        source: src.map(|t| {
                            Arc::new(ItemSource {
                                name: t.clone(),
                                title: t,
                                link: "https://example.org/".to_string(),
                                atom_id: "https://example.org/feed.atom".to_string(),
                                feed_url: Some("https://example.org/feed.rss".to_string()),
                            })
                        }),
                    }
                },
            )
    }

    fn meta() -> impl Strategy<Value = FeedMeta> {
        (text(), text(), proptest::option::of(text())).prop_map(|(title, description, language)| {
            FeedMeta {
                name: "f".to_string(),
                title,
                description,
                link: "https://example.org/".to_string(),
                language,
                time_zone: chrono_tz::Tz::Asia__Seoul,
                self_base: url::Url::parse("https://feeds.example.org/").ok(),
                hub: None,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_renderer_writes_documents_that_parse_back(
            meta in meta(),
            items in proptest::collection::vec(item(), 0..4),
        ) {
            for format in [Format::Rss, Format::Atom, Format::Json] {
                let bytes = render(format, &meta, &items).expect("render");
                let text = std::str::from_utf8(&bytes).expect("UTF-8");
                match format {
                    Format::Rss => {
                        let doc = roxmltree::Document::parse(text);
                        prop_assert!(doc.is_ok(), "RSS not well-formed: {:?}\n{text}", doc.err());
                        let ch = ::rss::Channel::read_from(&bytes[..]);
                        prop_assert!(ch.is_ok(), "rss: {:?}", ch.err());
                        prop_assert_eq!(ch.map(|c| c.items().len()).unwrap_or(0), items.len());
                    }
                    Format::Atom => {
                        let doc = roxmltree::Document::parse(text);
                        prop_assert!(doc.is_ok(), "Atom not well-formed: {:?}\n{text}", doc.err());
                        let f = atom_syndication::Feed::read_from(&bytes[..]);
                        prop_assert!(f.is_ok(), "atom: {:?}", f.err());
                        prop_assert_eq!(f.map(|f| f.entries().len()).unwrap_or(0), items.len());
                    }
                    Format::Json => {
                        let v: Result<serde_json::Value, _> = serde_json::from_slice(&bytes);
                        prop_assert!(v.is_ok(), "JSON: {:?}", v.err());
                        let n = v.ok().and_then(|v| v["items"].as_array().map(Vec::len));
                        prop_assert_eq!(n, Some(items.len()));
                    }
                }
            }
        }
    }

    #[test]
    fn a_control_character_never_reaches_the_document() {
        let meta = FeedMeta {
            name: "f".to_string(),
            title: "T\u{1}itle".to_string(),
            description: "d\u{1B}".to_string(),
            link: "https://example.org/".to_string(),
            language: Some("en\u{0}".to_string()),
            time_zone: chrono_tz::Tz::UTC,
            self_base: None,
            hub: None,
        };
        let item = Item {
            guid: "g\u{8}".to_string(),
            permalink: false,
            title: Some("a\u{1}b\u{FFFF}".to_string()),
            link: None,
            summary: Some("<p>x&#1;y&#x1B;z\u{C}</p>".to_string()),
            summary_html: true,
            content: None,
            authors: vec!["Ann\u{1F}".to_string()],
            categories: vec![],
            image: None,
            published: DateTime::from_timestamp(253_402_300_799, 0),
            updated: DateTime::<Utc>::MAX_UTC,
            first_seen: DateTime::<Utc>::MIN_UTC,
            source: None,
        };
        for format in [Format::Rss, Format::Atom, Format::Json] {
            let bytes = render(format, &meta, std::slice::from_ref(&item)).expect("render");
            let text = String::from_utf8(bytes).expect("UTF-8");
            for bad in [
                '\u{0}', '\u{1}', '\u{8}', '\u{C}', '\u{1B}', '\u{1F}', '\u{FFFF}',
            ] {
                assert!(!text.contains(bad), "{format:?} holds {bad:?}:\n{text}");
            }
            assert!(
                !text.contains("&#1;") && !text.contains("&amp;#1;"),
                "{text}"
            );
            assert!(text.contains("ab"), "{text}");
            assert!(!text.contains("9999"), "dates are clamped: {text}");
            assert!(text.contains("2199"), "{text}");
        }
    }
}

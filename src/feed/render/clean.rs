//! The one gate every item and channel fact passes on its way into a feed document.
//!
//! Pages, upstream feeds, configs and histories written by older versions can all carry text
//! that XML 1.0 cannot hold (C0 controls, U+FFFE, U+FFFF, raw or as `&#1;` inside HTML) and
//! instants no feed format can write (the year 9999, or before the Unix epoch by millennia).
//! Rather than trusting every producer, [`render`](super::render) runs its inputs through
//! this module once, so that no renderer can write a malformed document or panic on a date,
//! whatever the history holds. Inputs that are already clean are borrowed, not copied.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::extract::dates;
use crate::feed::item::{FeedMeta, Item, ItemSource};

/// Whether XML 1.0 allows `c` in a document.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether `c` is left out of feed text: what XML 1.0 forbids, plus what it discourages
/// (DEL and the C1 controls but NEL, the non-characters), which readers show as boxes.
fn unwanted(c: char) -> bool {
    !is_xml_char(c)
        || matches!(c, '\u{7F}'..='\u{84}' | '\u{86}'..='\u{9F}' | '\u{FDD0}'..='\u{FDEF}')
        || (u32::from(c) & 0xFFFE) == 0xFFFE
}

/// `s` without the characters XML 1.0 forbids or discourages.
pub fn xml_text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unwanted) {
        return Cow::Borrowed(s);
    }
    let out: String = s.chars().filter(|c| !unwanted(*c)).collect();
    // Text that was trimmed stays trimmed ("and \u{1F}" is "and", not "and ").
    if s.trim() == s {
        Cow::Owned(out.trim().to_string())
    } else {
        Cow::Owned(out)
    }
}

/// HTML `s` without those characters, raw or written as numeric character references
/// (`&#1;`, `&#x1B;`), which a reader would decode into the same characters.
pub fn xml_html(s: &str) -> Cow<'_, str> {
    let text = xml_text(s);
    if !text.contains("&#") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    let mut changed = false;
    while let Some(at) = rest.find("&#") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match bad_reference_len(from) {
            Some(len) => {
                changed = true;
                rest = from.get(len..).unwrap_or("");
            }
            None => {
                out.push_str("&#");
                rest = from.get(2..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    if changed { Cow::Owned(out) } else { text }
}

/// The length of the numeric character reference at the start of `s` when it names an
/// unwanted character (or none at all, like `&#0;` or `&#x110000;`).
fn bad_reference_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("&#")?;
    let (digits_at, radix) = match body.as_bytes().first() {
        Some(b'x' | b'X') => (1, 16),
        _ => (0, 10),
    };
    let digits = body.get(digits_at..)?;
    let n = digits
        .bytes()
        .take_while(|b| {
            if radix == 16 {
                b.is_ascii_hexdigit()
            } else {
                b.is_ascii_digit()
            }
        })
        .count();
    if n == 0 {
        return None;
    }
    let value = u32::from_str_radix(digits.get(..n)?, radix).ok();
    let bad = match value.and_then(char::from_u32) {
        Some(c) => unwanted(c),
        None => true,
    };
    if !bad {
        return None;
    }
    // `&#` + x + digits + an optional `;`.
    let mut len = 2 + digits_at + n;
    if digits.as_bytes().get(n) == Some(&b';') {
        len += 1;
    }
    Some(len)
}

/// A language tag as Atom's schema and RSS readers accept it (`en`, `pt-BR`, `zh-Hant-TW`).
pub fn language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `d`, moved into the window every format and reader can represent.
pub fn instant(d: DateTime<Utc>) -> DateTime<Utc> {
    d.clamp(dates::earliest(), dates::latest())
}

fn cleaned(s: &str) -> Option<String> {
    match xml_text(s) {
        Cow::Borrowed(_) => None,
        Cow::Owned(o) => Some(o),
    }
}

fn clean_in_place(s: &mut String) {
    if let Some(c) = cleaned(s) {
        *s = c;
    }
}

fn item_is_clean(i: &Item) -> bool {
    let text = |s: &str| !s.chars().any(unwanted);
    let opt = |s: &Option<String>| s.as_deref().is_none_or(text);
    let in_window = |d: DateTime<Utc>| instant(d) == d;
    text(&i.guid)
        && opt(&i.title)
        && opt(&i.link)
        && i.summary
            .as_deref()
            .is_none_or(|s| text(s) && (!i.summary_html || matches!(xml_html(s), Cow::Borrowed(_))))
        && i.content
            .as_deref()
            .is_none_or(|s| text(s) && matches!(xml_html(s), Cow::Borrowed(_)))
        && i.authors.iter().all(|a| text(a))
        && i.categories.iter().all(|c| text(c))
        && opt(&i.image)
        && i.published.is_none_or(in_window)
        && in_window(i.updated)
        && in_window(i.first_seen)
        && i.source.as_deref().is_none_or(source_is_clean)
}

fn source_is_clean(s: &ItemSource) -> bool {
    let text = |s: &str| !s.chars().any(unwanted);
    text(&s.name)
        && text(&s.title)
        && text(&s.link)
        && text(&s.atom_id)
        && s.feed_url.as_deref().is_none_or(text)
}

fn clean_item(i: &Item) -> Item {
    let mut i = i.clone();
    clean_in_place(&mut i.guid);
    for s in [&mut i.title, &mut i.link, &mut i.image]
        .into_iter()
        .flatten()
    {
        clean_in_place(s);
    }
    if let Some(s) = &mut i.summary {
        let html = i.summary_html;
        let fixed = if html { xml_html(s) } else { xml_text(s) };
        if let Cow::Owned(o) = fixed {
            *s = o;
        }
    }
    if let Some(s) = &mut i.content
        && let Cow::Owned(o) = xml_html(s)
    {
        *s = o;
    }
    i.authors.iter_mut().for_each(clean_in_place);
    i.categories.iter_mut().for_each(clean_in_place);
    i.published = i.published.map(instant);
    i.updated = instant(i.updated);
    i.first_seen = instant(i.first_seen);
    if let Some(src) = i.source.as_ref().filter(|s| !source_is_clean(s)) {
        let mut s = ItemSource::clone(src);
        clean_in_place(&mut s.name);
        clean_in_place(&mut s.title);
        clean_in_place(&mut s.link);
        clean_in_place(&mut s.atom_id);
        if let Some(u) = &mut s.feed_url {
            clean_in_place(u);
        }
        i.source = Some(Arc::new(s));
    }
    i
}

/// `items` fit for any renderer; borrowed when they already are.
pub fn items(items: &[Item]) -> Cow<'_, [Item]> {
    match items.iter().position(|i| !item_is_clean(i)) {
        None => Cow::Borrowed(items),
        Some(first) => {
            let mut out = Vec::with_capacity(items.len());
            out.extend_from_slice(&items[..first]);
            out.extend(items[first..].iter().map(|i| {
                if item_is_clean(i) {
                    i.clone()
                } else {
                    clean_item(i)
                }
            }));
            Cow::Owned(out)
        }
    }
}

/// `meta` fit for any renderer: text cleaned, a language that is no language tag dropped.
pub fn meta(meta: &FeedMeta) -> Cow<'_, FeedMeta> {
    let text = |s: &str| !s.chars().any(unwanted);
    let clean = text(&meta.name)
        && text(&meta.title)
        && text(&meta.description)
        && text(&meta.link)
        && meta.language.as_deref().is_none_or(language_tag)
        && meta.hub.as_deref().is_none_or(text);
    if clean {
        return Cow::Borrowed(meta);
    }
    let mut m = meta.clone();
    clean_in_place(&mut m.name);
    clean_in_place(&mut m.title);
    clean_in_place(&mut m.description);
    clean_in_place(&mut m.link);
    if let Some(h) = &mut m.hub {
        clean_in_place(h);
    }
    m.language = m.language.filter(|l| language_tag(l));
    Cow::Owned(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_forbidden_and_discouraged_characters() {
        assert!(matches!(xml_text("plain é 😀"), Cow::Borrowed(_)));
        assert_eq!(xml_text("a\u{1}b\u{8}c\u{B}\u{C}d\u{1F}"), "abcd");
        assert_eq!(xml_text("x\u{FFFE}\u{FFFF}y\u{0}"), "xy");
        assert_eq!(xml_text("tab\there\nline\r"), "tab\there\nline\r");
        assert_eq!(xml_text("trimmed \u{1F}"), "trimmed");
        assert_eq!(xml_text(" kept \u{1F}"), " kept ");
        assert_eq!(
            xml_text("a\u{7F}\u{80}\u{85}\u{9F}\u{FDD0}\u{1FFFE}b"),
            "a\u{85}b"
        );
    }

    #[test]
    fn removes_references_to_forbidden_characters_in_html() {
        assert_eq!(xml_html("<p>a&#1;b&#x1B;c&#X1f</p>"), "<p>abc</p>");
        assert_eq!(xml_html("&#0;&#xFFFF;&#1114112;ok"), "ok");
        assert!(matches!(
            xml_html("&#233; &#x41; &amp; &#"),
            Cow::Borrowed(_)
        ));
        assert_eq!(xml_html("&#65;&#2;"), "&#65;");
    }

    #[test]
    fn language_tags() {
        for ok in ["en", "pt-BR", "zh-Hant-TW", "x-klingon"] {
            assert!(language_tag(ok), "{ok}");
        }
        for bad in [
            "",
            "en_US",
            "en-",
            "-en",
            "toolonglang",
            "e\u{1}n",
            "en US",
            "12",
        ] {
            assert!(!language_tag(bad), "{bad}");
        }
    }
}

//! The item model shared by the history store and the renderers.
//!
//! An [`Item`] is what a feed publishes: links already absolute, dates already instants, the
//! summary already sanitized when it is HTML. Everything before the history produces
//! [`NewItem`]s from a page; the history turns them into [`Item`]s with first-seen and
//! updated times that survive across runs.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::feed::pack::{List, Pack, Slot};

/// An entry from the current page, normalised, before it meets the history.
///
/// Its texts are kept in one allocation ([`Pack`]), and a link that is the GUID once: a page
/// of 200,000 entries holds all its items at once. Build one from [`ItemParts`]; read it
/// with the methods named after the parts.
#[derive(Clone, PartialEq, Eq)]
pub struct NewItem {
    texts: Pack<8>,
    /// The link is the GUID (kept once, in the GUID's field).
    link_is_guid: bool,
    /// The GUID is the item's absolute link (RSS `isPermaLink="true"`).
    pub permalink: bool,
    /// `summary` is sanitized HTML rather than plain text.
    pub summary_html: bool,
    pub published: Option<DateTime<Utc>>,
    /// `published` was resolved against the fetch time ("3 hours ago", "17:46"): the first
    /// value seen is kept forever.
    pub published_relative: bool,
}

/// Fields of [`NewItem::texts`].
const GUID: usize = 0;
const TITLE: usize = 1;
/// Absent when the link is the GUID.
const LINK: usize = 2;
const SUMMARY: usize = 3;
const IMAGE: usize = 4;
const LEGACY: usize = 5;
const AUTHORS: usize = 6;
const CATEGORIES: usize = 7;

/// A [`NewItem`]'s parts, each its own value: what makes one, and what it gives back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemParts {
    pub guid: String,
    /// The GUID is the item's absolute link (RSS `isPermaLink="true"`).
    pub permalink: bool,
    pub title: Option<String>,
    pub link: Option<String>,
    pub summary: Option<String>,
    /// `summary` is sanitized HTML rather than plain text.
    pub summary_html: bool,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub image: Option<String>,
    pub published: Option<DateTime<Utc>>,
    /// `published` was resolved against the fetch time ("3 hours ago", "17:46"): the first
    /// value seen is kept forever.
    pub published_relative: bool,
    /// A GUID an older pagefeed gave the same entry (`pagefeed:` + hash, before GUIDs took a
    /// registered URI scheme). When the history holds the item under it, it keeps it, so
    /// readers never see the entry again as new.
    pub legacy_guid: Option<String>,
}

/// [`ItemParts`] borrowed: what [`NewItem::of`] packs without copies of its own.
#[derive(Debug, Clone, Copy)]
pub struct ItemFields<'a> {
    pub guid: &'a str,
    pub permalink: bool,
    pub title: Option<&'a str>,
    pub link: Option<&'a str>,
    pub summary: Option<&'a str>,
    pub summary_html: bool,
    /// A list ([`Slot::List`] or [`Slot::Packed`]).
    pub authors: Slot<'a>,
    pub categories: Slot<'a>,
    pub image: Option<&'a str>,
    pub published: Option<DateTime<Utc>>,
    pub published_relative: bool,
    pub legacy_guid: Option<&'a str>,
}

impl From<ItemParts> for NewItem {
    fn from(p: ItemParts) -> Self {
        NewItem::new(&p)
    }
}

impl std::fmt::Debug for NewItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.parts().fmt(f)
    }
}

impl NewItem {
    /// The item of `p`.
    pub fn new(p: &ItemParts) -> Self {
        NewItem::of(&ItemFields {
            guid: &p.guid,
            permalink: p.permalink,
            title: p.title.as_deref(),
            link: p.link.as_deref(),
            summary: p.summary.as_deref(),
            summary_html: p.summary_html,
            authors: Slot::List(&p.authors),
            categories: Slot::List(&p.categories),
            image: p.image.as_deref(),
            published: p.published,
            published_relative: p.published_relative,
            legacy_guid: p.legacy_guid.as_deref(),
        })
    }

    /// The item of borrowed fields.
    pub fn of(p: &ItemFields<'_>) -> Self {
        let link_is_guid = p.link == Some(p.guid);
        NewItem {
            texts: Pack::new([
                Slot::Text(p.guid),
                p.title.into(),
                p.link.filter(|_| !link_is_guid).into(),
                p.summary.into(),
                p.image.into(),
                p.legacy_guid.into(),
                p.authors,
                p.categories,
            ]),
            link_is_guid,
            permalink: p.permalink,
            summary_html: p.summary_html,
            published: p.published,
            published_relative: p.published_relative,
        }
    }

    /// Its parts, each its own value.
    pub fn parts(&self) -> ItemParts {
        ItemParts {
            guid: self.guid().to_string(),
            permalink: self.permalink,
            title: self.title().map(str::to_string),
            link: self.link().map(str::to_string),
            summary: self.summary().map(str::to_string),
            summary_html: self.summary_html,
            authors: self.authors().to_vec(),
            categories: self.categories().to_vec(),
            image: self.image().map(str::to_string),
            published: self.published,
            published_relative: self.published_relative,
            legacy_guid: self.legacy_guid().map(str::to_string),
        }
    }

    /// Changes its parts with `f`.
    pub fn edit(&mut self, f: impl FnOnce(&mut ItemParts)) {
        let mut p = self.parts();
        f(&mut p);
        *self = NewItem::new(&p);
    }

    pub fn guid(&self) -> &str {
        self.texts.text(GUID).unwrap_or("")
    }

    pub fn title(&self) -> Option<&str> {
        self.texts.text(TITLE)
    }

    pub fn link(&self) -> Option<&str> {
        if self.link_is_guid {
            Some(self.guid())
        } else {
            self.texts.text(LINK)
        }
    }

    /// Text, or sanitized HTML when [`Self::summary_html`].
    pub fn summary(&self) -> Option<&str> {
        self.texts.text(SUMMARY)
    }

    pub fn image(&self) -> Option<&str> {
        self.texts.text(IMAGE)
    }

    /// A GUID an older pagefeed gave the same entry (`pagefeed:` + hash, before GUIDs took a
    /// registered URI scheme). When the history holds the item under it, it keeps it, so
    /// readers never see the entry again as new.
    pub fn legacy_guid(&self) -> Option<&str> {
        self.texts.text(LEGACY)
    }

    pub fn authors(&self) -> List<'_> {
        self.texts.list(AUTHORS)
    }

    pub fn categories(&self) -> List<'_> {
        self.texts.list(CATEGORIES)
    }

    /// A hash of what a reader sees. A change of it marks the item updated. A relative date
    /// is left out: its resolution moves with the fetch time, the article does not. A fast
    /// non-cryptographic hash (`x3:` + hex, see [`crate::feed::fasthash`]).
    pub fn content_hash(&self) -> String {
        self.content_digest().as_text().as_str().to_string()
    }

    /// [`Self::content_hash`] as bytes, without an allocation.
    pub fn content_digest(&self) -> crate::feed::fasthash::Digest {
        let mut h = crate::feed::fasthash::ChangeHasher::new();
        self.content_fields(|s| h.field(s.as_bytes()));
        h.digest()
    }

    /// The SHA-256 content hash pagefeed stored before [`Self::content_hash`] became the fast
    /// one: the history compares a stored hash of that kind with this, so an upgrade marks no
    /// item updated.
    pub fn legacy_content_hash(&self) -> String {
        let mut h = Sha256::new();
        self.content_fields(|s| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        });
        hex(&h.finalize())
    }

    /// The fields both content hashes cover, in order.
    fn content_fields(&self, mut field: impl FnMut(&str)) {
        field(self.title().unwrap_or(""));
        field(self.link().unwrap_or(""));
        field(self.summary().unwrap_or(""));
        field(if self.summary_html { "html" } else { "text" });
        for a in self.authors() {
            field(a);
        }
        field("|");
        for c in self.categories() {
            field(c);
        }
        field("|");
        field(self.image().unwrap_or(""));
        if !self.published_relative
            && let Some(p) = self.published
        {
            field(&p.timestamp().to_string());
        }
    }
}

/// An item as the history holds it and the renderers publish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub guid: String,
    pub permalink: bool,
    pub title: Option<String>,
    pub link: Option<String>,
    pub summary: Option<String>,
    pub summary_html: bool,
    /// The full article, sanitized HTML, when `[feeds.NAME.article]` fetched its page
    /// (RSS `content:encoded`, Atom `<content type="html">`, JSON Feed `content_html`).
    pub content: Option<String>,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub image: Option<String>,
    pub published: Option<DateTime<Utc>>,
    /// When the item first appeared, or when its content last changed.
    pub updated: DateTime<Utc>,
    pub first_seen: DateTime<Utc>,
    /// The feed the item came from, in a merged feed.
    /// Shared: every item of one source points at the same attribution.
    pub source: Option<std::sync::Arc<ItemSource>>,
}

/// Where a merged item came from, as the renderers attribute it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSource {
    /// The source feed's name in the config (also added as a category).
    pub name: String,
    /// Its title, as pagefeed publishes it.
    pub title: String,
    /// Its site's page.
    pub link: String,
    /// Its Atom id, as pagefeed publishes it.
    pub atom_id: String,
    /// The address of its RSS (RSS `<source url>`): `feed_url` for an upstream feed,
    /// pagefeed's own RSS file for the others; `None` when that has no public address.
    pub feed_url: Option<String>,
}

impl Item {
    /// The item's date: as published, else when pagefeed first saw it.
    pub fn date(&self) -> DateTime<Utc> {
        self.published.unwrap_or(self.first_seen)
    }
}

/// The channel-level facts a renderer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedMeta {
    pub name: String,
    pub title: String,
    pub description: String,
    /// The site's page (channel link, Atom alternate, JSON `home_page_url`).
    pub link: String,
    pub language: Option<String>,
    /// Dates are written in this zone, as the site shows them.
    pub time_zone: chrono_tz::Tz,
    /// `base_url` joined with the feed's name; `<base>/<name>.<ext>` is the self link.
    pub self_base: Option<url::Url>,
    /// The WebSub hub that readers may subscribe at (`<atom:link rel="hub">`).
    pub hub: Option<String>,
}

impl FeedMeta {
    pub fn self_url(&self, ext: &str) -> Option<String> {
        self.self_base
            .as_ref()
            .and_then(|b| b.join(&format!("{}.{ext}", self.name)).ok())
            .map(|u| u.to_string())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A GUID for an entry that has neither a GUID nor a link, from `parts` (its title, date
/// text, ...): a `urn:uuid:` (RFC 9562 version 8, stable: the same parts always give the same
/// id), and the `pagefeed:` form versions before 0.2 used for the same parts.
pub fn invented_guid(parts: &[&str]) -> (String, String) {
    let hash = stable_hash(parts);
    let legacy = format!("pagefeed:{}", hash.get(..32).unwrap_or(&hash));
    (uuid_urn(&hash), legacy)
}

/// A `urn:uuid:` from the first 32 hex digits of `hex_hash`, with the version (8) and variant
/// bits set, so it is a well-formed UUID.
pub fn uuid_urn(hex_hash: &str) -> String {
    let mut hexs: Vec<char> = hex_hash
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(32)
        .collect();
    hexs.resize(32, '0');
    hexs[12] = '8';
    hexs[16] = match hexs[16].to_digit(16).unwrap_or(0) & 0x3 {
        0 => '8',
        1 => '9',
        2 => 'a',
        _ => 'b',
    };
    let s: String = hexs.into_iter().collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// A stable hex SHA-256 of `parts` (length-prefixed, so ("ab","c") != ("a","bc")).
pub fn stable_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_gives_back_its_parts_and_keeps_a_link_that_is_its_guid_once() {
        let parts = ItemParts {
            guid: "https://example.org/a".into(),
            permalink: true,
            title: Some("A".into()),
            link: Some("https://example.org/a".into()),
            summary: Some(String::new()),
            summary_html: true,
            authors: vec!["Ann".into(), "Bo".into()],
            categories: vec![],
            image: None,
            published: DateTime::from_timestamp(1_600_000_000, 0),
            published_relative: true,
            legacy_guid: None,
        };
        let it = NewItem::new(&parts);
        assert!(it.link_is_guid);
        assert_eq!(it.parts(), parts);
        assert_eq!(it.texts.text_len(), "https://example.org/aA3:Ann2:Bo".len());
        let other = ItemParts {
            link: Some("https://example.org/b".into()),
            legacy_guid: Some("pagefeed:1".into()),
            ..parts.clone()
        };
        let it = NewItem::from(other.clone());
        assert!(!it.link_is_guid);
        assert_eq!(it.link(), Some("https://example.org/b"));
        assert_eq!(it.legacy_guid(), Some("pagefeed:1"));
        assert_eq!(it.parts(), other);
        let mut edited = it.clone();
        edited.edit(|p| p.title = None);
        assert_eq!(edited.title(), None);
        assert_ne!(edited, it);
        assert_eq!(edited.link(), it.link());
    }
}

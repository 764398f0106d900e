//! From fetched bytes to normalised items: decode, extract, then resolve links, parse dates,
//! sanitize HTML and assign GUIDs.
//!
//! This is the whole page-to-items step, shared by `build` and `preview`, and free of I/O:
//! given the same page, config and fetch time it returns the same items.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use url::Url;

use crate::config::{FeedConfig, ItemRules, Source};
use crate::extract::select::Extraction;
use crate::extract::{dates, links, sanitize};
use crate::feed::item::{ItemFields, NewItem, invented_guid};
use crate::feed::pack::Slot;
use crate::source::decode;
use crate::source::fetch::Page;

/// Why a page yielded no feed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The response is not an HTML page (a PDF, an image, an archive, an empty body ...).
    #[error("{0}")]
    NotHtml(String),
    #[error(
        "no list of entries was found automatically on {url}: run `pagefeed suggest {url}` to see the candidates, and add a [feeds.{feed}.items] table with the selectors of one"
    )]
    NothingFound { feed: String, url: String },
    #[error("item selector `{selector}` matched nothing on {url}")]
    NoMatch { selector: String, url: String },
    #[error(
        "item selector `{selector}` matched {matched} elements on {url}, but none had a title or a link (title selector `{title}`)"
    )]
    NoEntries {
        selector: String,
        title: String,
        matched: usize,
        url: String,
    },
    /// `PAGEFEED_EXTRACT=check` and the two extractors read the page differently (a bug).
    #[error(
        "PAGEFEED_EXTRACT=check: the streaming and the DOM extractor disagree on {url}: {what}"
    )]
    Diverged { url: String, what: String },
}

/// What one page gave.
#[derive(Debug, Clone)]
pub struct Scraped {
    pub extraction: Extraction,
    /// Normalised items in page order, one per GUID (the first on the page wins).
    pub items: Vec<NewItem>,
    /// The date text each item had, parallel to `items` (for preview); empty when scraped
    /// with [`Keep::Items`].
    pub date_texts: Vec<Option<String>>,
    /// The index in the extraction's entries each item came from, parallel to `items`; empty
    /// when scraped with [`Keep::Items`].
    pub entry_index: Vec<usize>,
    /// Entries dropped because an earlier entry had the same GUID.
    pub duplicates: usize,
    /// The GUID most entries were duplicates of, when any were.
    pub collapsed: Option<Collapsed>,
    /// Problems worth telling the user that do not fail the feed.
    pub warnings: Vec<String>,
    /// The site's address: channel link and default base.
    pub site: Url,
}

/// Entries of one page that share one GUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collapsed {
    /// The shared GUID (a link, when it came from the link).
    pub value: String,
    /// Entries that had it, the kept one included.
    pub count: usize,
    pub from: GuidFrom,
}

/// Where an entry's GUID came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidFrom {
    Guid,
    Link,
    /// Made from the title and date (no link, no guid).
    Invented,
}

/// What found the entries, for messages (the item and title selectors, or the automatic
/// method), and whether summaries are HTML.
#[derive(Debug, Clone, Copy)]
pub struct FoundBy<'a> {
    pub selector: &'a str,
    pub title: &'a str,
    pub summary_html: bool,
}

impl<'a> FoundBy<'a> {
    pub fn rules(rules: &'a ItemRules) -> Self {
        FoundBy {
            selector: &rules.selector_text,
            title: &rules.title.selector_text,
            summary_html: rules.summary.as_ref().is_some_and(|f| f.html),
        }
    }
}

/// The page's address as messages show it: a local file by its path, else the URL fetched.
pub fn shown_url(feed: &FeedConfig, page: &Page) -> String {
    match feed.source() {
        Some(Source::File(p)) => p.display().to_string(),
        _ => page.url.to_string(),
    }
}

/// Entries normalised between two times the raw list gives back its freed memory.
const GIVE_BACK: usize = 4096;

/// What a scrape keeps beside the items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The items only (`build`, `serve`): [`Scraped::date_texts`] and
    /// [`Scraped::entry_index`] stay empty.
    Items,
    /// Each item's date text and entry index too (`preview`).
    Detail,
}

/// Decode, extract and normalise one fetched page of `feed`, fetched at `now`, with each
/// item's date text and entry index (see [`Keep::Detail`]).
pub fn scrape(
    feed: &FeedConfig,
    rules: &ItemRules,
    page: &Page,
    now: DateTime<Utc>,
) -> Result<Scraped, ScrapeError> {
    scrape_keeping(feed, rules, page, now, Keep::Detail)
}

/// [`scrape`], keeping what `keep` says beside the items.
pub fn scrape_keeping(
    feed: &FeedConfig,
    rules: &ItemRules,
    page: &Page,
    now: DateTime<Utc>,
    keep: Keep,
) -> Result<Scraped, ScrapeError> {
    let extraction = extract(feed, rules, page)?;
    normalize(feed, FoundBy::rules(rules), extraction, page, now, keep)
}

/// [`scrape`] for a refresh: the items only ([`Keep::Items`]), and the page's bytes are
/// released (left empty) as soon as they are not needed, so a large page is not held while
/// its items are made: once its entries are extracted, or, when decoding made a copy (a page
/// not in UTF-8), before. The caller keeps the page's address and validators; what it needs
/// of the bytes (a fingerprint) it takes before.
pub fn scrape_releasing(
    feed: &FeedConfig,
    rules: &ItemRules,
    page: &mut Page,
    now: DateTime<Utc>,
) -> Result<Scraped, ScrapeError> {
    let shown_url = check_html(feed, page)?;
    let (html, _encoding) = decode::decode_borrowed(&page.bytes, page.content_type.as_deref());
    let extraction = match html {
        std::borrow::Cow::Borrowed(html) => extract_text(html, rules, shown_url)?,
        std::borrow::Cow::Owned(html) => {
            page.bytes = Vec::new();
            extract_text(&html, rules, shown_url)?
        }
    };
    page.bytes = Vec::new();
    normalize(
        feed,
        FoundBy::rules(rules),
        extraction,
        page,
        now,
        Keep::Items,
    )
}

/// Decode `page` and extract its raw entries with `rules`.
fn extract(feed: &FeedConfig, rules: &ItemRules, page: &Page) -> Result<Extraction, ScrapeError> {
    let shown_url = check_html(feed, page)?;
    let (html, _encoding) = decode::decode_borrowed(&page.bytes, page.content_type.as_deref());
    extract_text(&html, rules, shown_url)
}

/// The page's address as messages show it, or the error for a body that is not HTML.
fn check_html(feed: &FeedConfig, page: &Page) -> Result<String, ScrapeError> {
    let shown_url = shown_url(feed, page);
    match crate::source::sniff::not_html(page, &shown_url, "an HTML page", "url") {
        Some(msg) => Err(ScrapeError::NotHtml(msg)),
        None => Ok(shown_url),
    }
}

/// The raw entries of a decoded page.
fn extract_text(
    html: &str,
    rules: &ItemRules,
    shown_url: String,
) -> Result<Extraction, ScrapeError> {
    crate::extract::stream::extract_page(html, rules).map_err(|what| ScrapeError::Diverged {
        url: shown_url,
        what,
    })
}

/// Normalise the raw entries of one page of `feed` (from selectors, or from JSON in the
/// page): links, dates, summaries, GUIDs, per-page dedupe. Only the page's address is read
/// (its bytes may be gone).
pub fn normalize(
    feed: &FeedConfig,
    rules: FoundBy,
    mut extraction: Extraction,
    page: &Page,
    now: DateTime<Utc>,
    keep: Keep,
) -> Result<Scraped, ScrapeError> {
    let shown_url = shown_url(feed, page);
    if extraction.matched == 0 {
        return Err(ScrapeError::NoMatch {
            selector: rules.selector.to_string(),
            url: shown_url,
        });
    }
    if extraction.entries.is_empty() {
        return Err(ScrapeError::NoEntries {
            selector: rules.selector.to_string(),
            title: rules.title.to_string(),
            matched: extraction.matched,
            url: shown_url,
        });
    }

    // The site: configured, else (for a local file) what the page says it is, else where it came from.
    let canonical = extraction
        .page
        .canonical
        .as_deref()
        .and_then(|c| Url::parse(c).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let site = match (&feed.site_url, feed.source()) {
        (Some(s), _) => s.clone(),
        (None, Some(Source::File(_))) => canonical.unwrap_or_else(|| page.url.clone()),
        (None, _) => page.url.clone(),
    };
    let base = links::base_url(&page.url, extraction.page.base_href.as_deref(), Some(&site));

    let detail = keep == Keep::Detail;
    let per_item = if detail { extraction.entries.len() } else { 0 };
    let mut out = Scraped {
        items: Vec::with_capacity(extraction.entries.len()),
        date_texts: Vec::with_capacity(per_item),
        entry_index: Vec::with_capacity(per_item),
        duplicates: 0,
        collapsed: None,
        warnings: Vec::new(),
        site,
        extraction: Extraction::default(),
    };
    if let Some(w) = extraction.parse.warning() {
        out.warnings
            .push(format!("feed {}: {shown_url}: {w}", feed.name));
    }
    // GUIDs seen: a hash of each -> the item that has it (a 200,000-entry page held every
    // GUID twice); GUIDs whose hash an earlier different GUID had, whole.
    let mut seen: std::collections::HashMap<u64, usize> =
        std::collections::HashMap::with_capacity(extraction.entries.len());
    let mut seen_collided: std::collections::HashSet<String> = std::collections::HashSet::new();
    // The language dates are written in: the feed says so, else the page, else the feed's
    // `language`.
    let date_language = feed
        .date_locale
        .as_deref()
        .or(extraction.page.language.as_deref())
        .or(feed.language.as_deref());
    // GUID -> (entries after the first that had it, where it came from).
    let mut dup_counts: std::collections::HashMap<String, (usize, GuidFrom)> =
        std::collections::HashMap::new();
    let mut date_memo: std::collections::HashMap<String, Option<dates::ParsedDate>> =
        std::collections::HashMap::new();
    let mut bad_dates = 0usize;
    let mut implausible_dates = 0usize;
    // Taken from the end of the reversed list, whose memory is given back as it empties: the
    // raw entries and the items are not both held whole.
    let mut entries = std::mem::take(&mut extraction.entries);
    entries.reverse();
    let total = entries.len();
    while let Some(e) = entries.pop() {
        let n = total.saturating_sub(entries.len()).saturating_sub(1);
        if entries.len().is_multiple_of(GIVE_BACK) {
            entries.shrink_to_fit();
        }
        let link = e.link().and_then(|l| links::resolve(&base, l));
        if e.title().is_none() && link.is_none() {
            continue;
        }
        let mut legacy_guid = None;
        let from = match (e.guid(), &link) {
            (Some(_), _) => GuidFrom::Guid,
            (None, Some(_)) => GuidFrom::Link,
            (None, None) => GuidFrom::Invented,
        };
        let (guid, permalink): (Cow<'_, str>, bool) = match (e.guid(), &link) {
            (Some(g), _) => (Cow::Borrowed(g), false),
            (None, Some(l)) => (Cow::Borrowed(l.as_str()), true),
            (None, None) => {
                let (guid, legacy) =
                    invented_guid(&[e.title().unwrap_or(""), e.date().unwrap_or("")]);
                legacy_guid = Some(legacy);
                (Cow::Owned(guid), false)
            }
        };
        let fresh = match seen.entry(xxhash_rust::xxh3::xxh3_64(guid.as_bytes())) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(out.items.len());
                true
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                if out.items.get(*o.get()).is_some_and(|it| it.guid() == guid) {
                    false
                } else {
                    seen_collided.insert(guid.to_string())
                }
            }
        };
        if !fresh {
            out.duplicates += 1;
            let d = dup_counts.entry(guid.into_owned()).or_insert((0, from));
            d.0 = d.0.saturating_add(1);
            continue;
        }
        let parsed = e.date().and_then(|text| {
            let p = match date_memo.get(text) {
                Some(p) => *p,
                None => {
                    let p = dates::parse_date_in(
                        text,
                        &feed.date_formats,
                        feed.time_zone,
                        now,
                        date_language,
                    );
                    date_memo.insert(text.to_string(), p);
                    p
                }
            };
            let label = || e.title().or(link.as_deref()).unwrap_or("untitled");
            match p.map(|p| (p, dates::sane(p.instant, now, feed.future_dates))) {
                Some((p, Ok(_))) => Some(p),
                Some((p, Err(why))) => {
                    implausible_dates += 1;
                    if implausible_dates <= 3 {
                        out.warnings.push(format!(
                            "feed {}: entry {} ({}): the date `{}` reads as {}, which {why}; it is dated as an undated entry",
                            feed.name,
                            n + 1,
                            label(),
                            text,
                            dates::show(p.instant),
                        ));
                    }
                    None
                }
                None => {
                    bad_dates += 1;
                    if bad_dates <= 3 {
                        out.warnings.push(format!(
                            "feed {}: entry {} ({}): cannot read the date `{}`; it is dated by when it was first seen (add a date_format to the feed to read it)",
                            feed.name,
                            n + 1,
                            label(),
                            text
                        ));
                    }
                    None
                }
            }
        });
        let summary = e.summary().map(|s| {
            if rules.summary_html {
                Cow::Owned(sanitize::clean_html(s, &base))
            } else {
                Cow::Borrowed(s)
            }
        });
        let image = e.image().and_then(|i| links::resolve(&base, i));
        out.items.push(NewItem::of(&ItemFields {
            guid: &guid,
            permalink,
            title: e.title(),
            link: link.as_deref(),
            summary: summary.as_deref().filter(|s| !s.is_empty()),
            summary_html: rules.summary_html,
            authors: Slot::Packed(e.authors()),
            categories: Slot::Packed(e.categories()),
            image: image.as_deref(),
            published: parsed.map(|p| p.instant),
            published_relative: parsed.is_some_and(|p| p.relative),
            legacy_guid: legacy_guid.as_deref(),
        }));
        if detail {
            out.date_texts.push(e.date().map(str::to_string));
            out.entry_index.push(n);
        }
    }
    if implausible_dates > 3 {
        out.warnings.push(format!(
            "feed {}: {} more entries with implausible dates, dated as undated entries",
            feed.name,
            implausible_dates - 3
        ));
    }
    if bad_dates > 3 {
        out.warnings.push(format!(
            "feed {}: {} more entries with dates that could not be read",
            feed.name,
            bad_dates - 3
        ));
    }
    // The GUID shared by most entries (ties: the smallest, so the message is stable).
    out.collapsed = dup_counts
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.0.cmp(&a.0)))
        .map(|(value, (extra, from))| Collapsed {
            value,
            count: extra.saturating_add(1),
            from,
        });
    if out.items.is_empty() {
        return Err(ScrapeError::NoEntries {
            selector: rules.selector.to_string(),
            title: rules.title.to_string(),
            matched: extraction.matched,
            url: shown_url,
        });
    }
    out.extraction = extraction;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::fetch::Validators;
    use chrono::TimeZone;
    use std::path::Path;

    fn feed() -> FeedConfig {
        let text = "[feeds.t]\nurl = \"https://h.example/p\"\n[feeds.t.items]\nselector = \"li\"\ntitle = \"a\"\nlink = \"a\"\ndate = \"time\"\n";
        let c = crate::config::parse(Path::new("t.toml"), text).expect("config");
        c.feeds[0].clone()
    }

    fn page(bytes: Vec<u8>, content_type: &str) -> Page {
        Page {
            bytes,
            content_type: Some(content_type.into()),
            url: Url::parse("https://h.example/p").expect("url"),
            validators: Validators::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn releasing_gives_the_same_items_and_frees_the_bytes() {
        let f = feed();
        let rules = f.items().expect("items");
        let html = "<ul><li><a href=/1>Caf\u{e9} 1</a><time>2025-12-30</time>\
                    <li><a href=/2>Two</a><li><a href=/1>Again</a></ul>";
        // A page in UTF-8 (decoded in place) and one in windows-1252 (decoded to a copy).
        let latin1: Vec<u8> = html.chars().map(|c| c as u8).collect();
        for (bytes, ct) in [
            (html.as_bytes().to_vec(), "text/html"),
            (latin1, "text/html; charset=windows-1252"),
        ] {
            let detailed = scrape(&f, rules, &page(bytes.clone(), ct), now()).expect("scrape");
            let mut p = page(bytes, ct);
            let lean = scrape_releasing(&f, rules, &mut p, now()).expect("scrape");
            assert!(p.bytes.is_empty());
            assert_eq!(lean.items, detailed.items);
            assert_eq!(lean.items.len(), 2);
            assert_eq!(lean.items[0].title(), Some("Caf\u{e9} 1"));
            assert_eq!((lean.duplicates, detailed.duplicates), (1, 1));
            assert!(lean.date_texts.is_empty() && lean.entry_index.is_empty());
            assert_eq!(
                detailed.date_texts,
                vec![Some("2025-12-30".to_string()), None]
            );
            assert_eq!(detailed.entry_index, vec![0, 1]);
        }
    }
}

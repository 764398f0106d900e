//! Reading feeds that sites already publish (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.x)
//! into [`NewItem`]s, so they can be stored, merged and re-published like scraped pages.
//!
//! Upstream feeds are written by every kind of software, and feed readers have taught their
//! authors that almost anything goes: missing `version` attributes, Atom 0.3's old namespace
//! and element names, `type="text/plain"` where Atom wants `text`, bare `&` in text, relative
//! links, dates in any shape, a lone `<media:thumbnail>`. pagefeed's readers expect the same
//! items they would see had they subscribed to the upstream feed directly, so this module
//! tolerates what readers tolerate.
//!
//! The parsing itself is done by `feed-rs`, which maps all formats onto one model. Around it:
//!
//! * **Bytes to text.** The encoding comes from a byte-order mark, else the XML declaration,
//!   else the HTTP charset, else UTF-8 (and undeclared bytes that are not UTF-8 are read as
//!   windows-1252). The text handed to feed-rs is always UTF-8, with the declaration saying so.
//! * **A light pre-pass over the XML** (`Scan`): the tags of the document, read with
//!   quick-xml's reader configured leniently (no end-tag matching, dangling `&` allowed), with
//!   namespaces and `xml:base` tracked on top. Where quick-xml gives up or reads a tag
//!   differently from a browser (a lone `<`, `<!x>`, a quote in `<img alt=don't>`), reading
//!   resumes after that construct as a browser would end it, so unescaped HTML and other
//!   malformed input still gets repaired. It repairs what would make feed-rs reject or
//!   misread the whole feed (Atom 0.3 and RSS 0.90 namespaces, Atom 0.3 element names,
//!   unusual Atom `type` values, a missing RSS `version`, bare ampersands, HTML written
//!   unescaped into a description or an Atom `html` element), and it collects what feed-rs
//!   does not keep: the effective `xml:base` of each Atom entry (feed-rs applies it to links
//!   but not to content), RSS `isPermaLink`, RSS 1.0 `rdf:about`, and image candidates
//!   (feed-rs drops a `<media:thumbnail>` that has no `<media:content>` beside it).
//! * **One bad element does not fail the feed.** When feed-rs refuses an element (an unknown
//!   `type` on `<media:title>`, an unknown podcast role, ...), that element is skipped with a
//!   warning and the feed is parsed again.
//! * **JSON Feed** is normalised with serde_json first (numeric ids, a missing title, an
//!   `http:` version URL) and its item `image`, which feed-rs does not read, is kept.
//!
//! GUIDs are the feed's own (RSS `<guid>`, Atom `<id>`, JSON Feed `id`, RSS 1.0 `rdf:about`),
//! exactly as written apart from surrounding whitespace. feed-rs invents an id when there is
//! none (a hash of link and title, or a random UUID); its id generator is replaced by one that
//! returns a marker, so a missing id is detected and replaced by pagefeed's own rule, the same
//! as for scraped pages: the item's absolute link, else a `urn:uuid:` made from a stable hash
//! of title and date (older versions wrote `pagefeed:` and the hash; the history keeps those).

use std::collections::HashSet;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use feed_rs::model::{Entry, Feed, FeedType, Link, Person, Text};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use quick_xml::events::{BytesEnd, BytesStart, Event};
use quick_xml::reader::Reader;
use regex::Regex;
use url::Url;

use crate::extract::select::collapse;
use crate::extract::{dates, links, sanitize};
use crate::feed::item::{ItemParts, NewItem, invented_guid};
use crate::source::fetch::Page;

/// The channel-level facts of an upstream feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamMeta {
    pub title: Option<String>,
    pub description: Option<String>,
    /// The site's page (RSS channel link, Atom alternate link, JSON `home_page_url`), absolute
    /// http(s).
    pub link: Option<String>,
    pub language: Option<String>,
}

/// What one upstream feed gave.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub meta: UpstreamMeta,
    /// Normalised items in feed order, one per GUID (the first wins).
    pub items: Vec<NewItem>,
    /// Problems worth telling the user that do not fail the feed. They do not name the feed;
    /// the caller adds that.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("not a feed pagefeed can read (RSS, Atom or JSON Feed): {0}")]
    Parse(String),
}

/// Parse a fetched upstream feed. `page.url` is the feed's address after redirects: relative
/// links resolve against it (and against `xml:base` where the feed sets one). `now` is the
/// fetch time, used only to read dates that lack a year. Items without a readable date get
/// `published: None`. A feed without entries is valid and gives no items.
pub fn parse_upstream(page: &Page, now: DateTime<Utc>) -> Result<Upstream, UpstreamError> {
    let mut warnings = Vec::new();
    let text = decode_feed(&page.bytes, page.content_type.as_deref(), &mut warnings);
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    match text.as_bytes().first() {
        Some(b'<') => parse_xml(text, &page.url, now, warnings),
        Some(b'{') => parse_json(text, &page.url, now, warnings),
        Some(_) => Err(UpstreamError::Parse(
            "the document is neither XML nor a JSON object".to_string(),
        )),
        None => Err(UpstreamError::Parse("the document is empty".to_string())),
    }
}

// ---------------------------------------------------------------------------------------------
// Bytes to text

static XML_DECL_ENCODING: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    regex::bytes::Regex::new(
        r#"(?-u)\A\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']\s*([A-Za-z0-9._:\-]+)"#,
    )
    .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

static XML_DECL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\A<\?xml\b[^>]*?\bencoding\s*=\s*(?:"[^"]*"|'[^']*')"#)
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

/// Decode the feed's bytes: byte-order mark, else XML declaration, else HTTP charset, else
/// UTF-8. The declaration wins over the HTTP header because a feed file carries its own
/// declaration wherever it is served from, while servers often label everything UTF-8.
fn decode_feed(bytes: &[u8], content_type: Option<&str>, warnings: &mut Vec<String>) -> String {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let rest = bytes.get(bom_len..).unwrap_or_default();
        return enc.decode_without_bom_handling(rest).0.into_owned();
    }
    let declared = XML_DECL_ENCODING
        .captures(bytes.get(..1024).unwrap_or(bytes))
        .and_then(|c| c.get(1))
        .and_then(|m| Encoding::for_label(m.as_bytes()))
        .or_else(|| content_type.and_then(crate::source::decode::charset_from_content_type))
        // Bytes that reached us without a BOM in an ASCII-compatible declaration are not UTF-16.
        .map(|e| {
            if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE {
                UTF_8
            } else {
                e
            }
        });
    let enc = declared.unwrap_or(UTF_8);
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    if had_errors && declared.is_none() {
        warnings.push(
            "the feed declares no encoding and is not valid UTF-8; it was read as windows-1252"
                .to_string(),
        );
        return WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned();
    }
    text.into_owned()
}

/// The text is UTF-8 now; make its XML declaration say so, or feed-rs would decode it again.
fn declare_utf8(text: &str) -> String {
    match XML_DECL.find(text) {
        Some(m) => {
            let decl = m.as_str();
            let eq = decl.rfind('=').unwrap_or(decl.len());
            let mut out = String::with_capacity(text.len());
            out.push_str(decl.get(..eq).unwrap_or(decl));
            out.push_str("=\"UTF-8\"");
            out.push_str(text.get(m.end()..).unwrap_or_default());
            out
        }
        None => text.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Running feed-rs

/// What the id generator returns: an entry with this id had none in the feed. It contains NUL
/// characters, which XML cannot carry, so no real id is ever equal to it.
const NO_ID: &str = "\u{0}pagefeed:no-id\u{0}";

/// How many elements feed-rs may refuse before the feed is given up.
const MAX_SKIPPED: usize = 16;

enum Failure {
    Feed(ParseFeedError),
    Panic,
}

/// One feed-rs run on `doc`. A fresh parser every time: a feed-rs parser that has failed
/// mid-entry keeps state that makes its next run panic. Returns the feed and the date texts
/// that could not be read.
fn run_feed_rs(doc: &[u8], base: &Url, now: DateTime<Utc>) -> (Result<Feed, Failure>, Vec<String>) {
    let bad_dates = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&bad_dates);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .id_generator(|_, _, _| NO_ID.to_string())
        .sanitize_content(false)
        .timestamp_parser(move |text| {
            let parsed = parse_feed_date(text, now);
            if parsed.is_none()
                && !text.trim().is_empty()
                && let Ok(mut v) = sink.lock()
            {
                v.push(collapse(std::iter::once(text)));
            }
            parsed
        })
        .build();
    // Upstream bytes are untrusted input; a panic in the parser must not end the whole run.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| parser.parse(doc)))
        .map_err(|_| Failure::Panic)
        .and_then(|r| r.map_err(Failure::Feed));
    let bad = bad_dates.lock().map(|v| v.clone()).unwrap_or_default();
    (result, bad)
}

/// Dates as feeds write them: RFC 3339 (Atom, JSON Feed), RFC 2822 (RSS), and whatever else
/// pagefeed's page-date reader understands (wrong weekdays, missing zones, ISO dates without a
/// time, month names). A date without a zone is UTC. Relative forms ("yesterday") are not
/// dates a feed should carry, and would drift with every fetch, so they are not read.
fn parse_feed_date(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(t) {
        return Some(d.with_timezone(&Utc));
    }
    dates::parse_date(t, &[], chrono_tz::Tz::UTC, now)
        .filter(|d| !d.relative)
        .map(|d| d.instant)
}

fn error_position(e: &ParseFeedError) -> Option<usize> {
    match e {
        ParseFeedError::ParseError(
            ParseErrorKind::UnknownMimeType { position, .. }
            | ParseErrorKind::MissingContent { position, .. }
            | ParseErrorKind::UnknownEnumVariant { position, .. }
            | ParseErrorKind::IllegalState { position, .. },
        ) => usize::try_from(*position).ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// XML feeds

fn parse_xml(
    text: &str,
    page_url: &Url,
    now: DateTime<Utc>,
    mut warnings: Vec<String>,
) -> Result<Upstream, UpstreamError> {
    let text = declare_utf8(text);
    let scan = Scan::new(&text, page_url);
    match scan.root() {
        Root::Atom | Root::Rss | Root::Rdf => {}
        Root::None => {
            return Err(UpstreamError::Parse("no XML element found".to_string()));
        }
        Root::Other(name) => {
            return Err(UpstreamError::Parse(format!(
                "the document is <{name}>, not <rss>, <rdf:RDF> or <feed>"
            )));
        }
    }
    let edits = scan.repairs();
    // A document the pre-pass leaves as it is needs no second pass, unless feed-rs refuses
    // an element.
    let unchanged = edits.is_empty().then(|| scan.entries());
    let mut doc = apply_edits(&text, edits);
    drop(scan);

    let mut skipped = 0usize;
    let (feed, bad_dates) = loop {
        let (result, bad_dates) = run_feed_rs(doc.as_bytes(), page_url, now);
        let e = match result {
            Ok(feed) => break (feed, bad_dates),
            Err(Failure::Panic) => {
                return Err(UpstreamError::Parse(
                    "the feed parser failed on this document".to_string(),
                ));
            }
            Err(Failure::Feed(e)) => e,
        };
        let skip = match error_position(&e) {
            Some(pos) if skipped < MAX_SKIPPED => Scan::new(&doc, page_url).skip_element_at(pos),
            _ => None,
        };
        let Some((edits, name)) = skip else {
            return Err(UpstreamError::Parse(e.to_string()));
        };
        warnings.push(format!(
            "skipped <{name}> elements the feed parser could not read ({e})"
        ));
        doc = apply_edits(&doc, edits);
        skipped += 1;
    };

    let mut raw = match unchanged {
        Some(raw) if skipped == 0 => raw,
        _ => Scan::new(&doc, page_url).entries(),
    };
    if raw.len() != feed.entries.len() {
        // The pre-pass saw the entries differently from feed-rs (malformed nesting): use
        // nothing from it rather than attach one entry's facts to another.
        raw.clear();
    }
    date_warnings(&bad_dates, &mut warnings);
    Ok(build(feed, raw, None, page_url, warnings))
}

fn date_warnings(bad: &[String], warnings: &mut Vec<String>) {
    for d in bad.iter().take(3) {
        let d: String = if d.chars().count() > 60 {
            d.chars().take(60).chain(std::iter::once('…')).collect()
        } else {
            d.clone()
        };
        warnings.push(format!(
            "cannot read the date `{d}`; an entry without a readable date is dated by when it was first seen"
        ));
    }
    if bad.len() > 3 {
        warnings.push(format!("{} more dates could not be read", bad.len() - 3));
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Feed

fn parse_json(
    text: &str,
    page_url: &Url,
    now: DateTime<Utc>,
    mut warnings: Vec<String>,
) -> Result<Upstream, UpstreamError> {
    use serde_json::Value;
    let mut v: Value = serde_json::from_str(text)
        .map_err(|e| UpstreamError::Parse(format!("invalid JSON: {e}")))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(UpstreamError::Parse(
            "JSON, but not a JSON Feed".to_string(),
        ));
    };
    let is_feed = obj
        .get("version")
        .and_then(Value::as_str)
        .is_some_and(|s| s.contains("jsonfeed.org/version/"))
        || obj.get("items").is_some_and(Value::is_array);
    if !is_feed {
        return Err(UpstreamError::Parse(
            "JSON, but not a JSON Feed (no `version` or `items`)".to_string(),
        ));
    }
    // feed-rs insists on an exact version URL, a string title and string fields.
    obj.insert(
        "version".into(),
        Value::String("https://jsonfeed.org/version/1.1".into()),
    );
    if !obj.get("title").is_some_and(Value::is_string) {
        obj.insert("title".into(), Value::String(String::new()));
    }
    keep_strings(
        obj,
        &[
            "home_page_url",
            "feed_url",
            "description",
            "icon",
            "favicon",
            "language",
        ],
    );
    fix_authors(obj);
    let home_page = obj
        .get("home_page_url")
        .and_then(Value::as_str)
        .map(str::to_string);
    let items: Vec<Value> = match obj.remove("items") {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let mut raw = Vec::with_capacity(items.len());
    let mut fixed = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(mut it) = item else {
            continue;
        };
        match it.get("id") {
            Some(Value::String(_)) | None => {}
            Some(Value::Number(n)) => {
                let id = n.to_string();
                it.insert("id".into(), Value::String(id));
            }
            Some(_) => {
                it.remove("id");
            }
        }
        keep_strings(
            &mut it,
            &[
                "url",
                "external_url",
                "title",
                "content_html",
                "content_text",
                "summary",
                "image",
                "banner_image",
                "date_published",
                "date_modified",
            ],
        );
        fix_authors(&mut it);
        if let Some(tags) = it.remove("tags")
            && let Value::Array(tags) = tags
        {
            let tags: Vec<Value> = tags
                .into_iter()
                .filter_map(|t| match t {
                    Value::String(_) => Some(t),
                    Value::Number(n) => Some(Value::String(n.to_string())),
                    _ => None,
                })
                .collect();
            it.insert("tags".into(), Value::Array(tags));
        }
        if let Some(atts) = it.remove("attachments")
            && let Value::Array(atts) = atts
        {
            let atts: Vec<Value> = atts
                .into_iter()
                .filter_map(|a| {
                    let Value::Object(mut a) = a else {
                        return None;
                    };
                    if !a.get("url").is_some_and(Value::is_string) {
                        return None;
                    }
                    if !a.get("mime_type").is_some_and(Value::is_string) {
                        a.insert(
                            "mime_type".into(),
                            Value::String("application/octet-stream".into()),
                        );
                    }
                    keep_strings(&mut a, &["title"]);
                    if !a.get("size_in_bytes").is_some_and(Value::is_u64) {
                        a.remove("size_in_bytes");
                    }
                    Some(Value::Object(a))
                })
                .collect();
            it.insert("attachments".into(), Value::Array(atts));
        }
        let image = ["image", "banner_image"]
            .iter()
            .find_map(|k| it.get(*k).and_then(Value::as_str))
            .and_then(|i| links::resolve(page_url, i));
        raw.push(RawEntry {
            image,
            ..RawEntry::default()
        });
        fixed.push(Value::Object(it));
    }
    obj.insert("items".into(), Value::Array(fixed));
    let doc = serde_json::to_vec(&v).map_err(|e| UpstreamError::Parse(e.to_string()))?;
    let (result, bad_dates) = run_feed_rs(&doc, page_url, now);
    let feed = match result {
        Ok(feed) => feed,
        Err(Failure::Feed(e)) => return Err(UpstreamError::Parse(e.to_string())),
        Err(Failure::Panic) => {
            return Err(UpstreamError::Parse(
                "the feed parser failed on this document".to_string(),
            ));
        }
    };
    if raw.len() != feed.entries.len() {
        raw.clear();
    }
    date_warnings(&bad_dates, &mut warnings);
    Ok(build(feed, raw, Some(home_page), page_url, warnings))
}

/// Remove the keys among `keys` whose value is not a string.
fn keep_strings(obj: &mut serde_json::Map<String, serde_json::Value>, keys: &[&str]) {
    for k in keys {
        if obj.get(*k).is_some_and(|v| !v.is_string()) {
            obj.remove(*k);
        }
    }
}

/// `author` must be an object and `authors` an array of objects, with string `name`/`url`.
fn fix_authors(obj: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::Value;
    let fix = |a: Value| match a {
        Value::Object(mut a) => {
            keep_strings(&mut a, &["name", "url"]);
            Some(Value::Object(a))
        }
        _ => None,
    };
    if let Some(a) = obj.remove("author")
        && let Some(a) = fix(a)
    {
        obj.insert("author".into(), a);
    }
    if let Some(Value::Array(list)) = obj.remove("authors") {
        let list: Vec<Value> = list.into_iter().filter_map(fix).collect();
        obj.insert("authors".into(), Value::Array(list));
    }
}

// ---------------------------------------------------------------------------------------------
// From feed-rs's model to pagefeed's

/// What the pre-pass knows about one entry that feed-rs does not keep.
#[derive(Debug, Clone, Default)]
struct RawEntry {
    /// The entry's effective `xml:base` (from the document, the feed and the entry itself).
    base: Option<Url>,
    /// RSS `<guid isPermaLink>`: `Some(false)` only when the feed says "false".
    guid_permalink: Option<bool>,
    /// RSS 1.0 `rdf:about`.
    about: Option<String>,
    /// An image for the entry, absolute.
    image: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rss,
    Rdf,
    Atom,
    Json,
}

impl Kind {
    fn of(t: &FeedType) -> Kind {
        match t {
            FeedType::RSS0 | FeedType::RSS2 => Kind::Rss,
            FeedType::RSS1 => Kind::Rdf,
            FeedType::Atom => Kind::Atom,
            FeedType::JSON => Kind::Json,
        }
    }

    fn is_rss(self) -> bool {
        matches!(self, Kind::Rss | Kind::Rdf)
    }
}

/// `home_page` is JSON Feed's `home_page_url` (`Some` for JSON feeds): feed-rs puts it and
/// `feed_url` among the links without telling them apart.
fn build(
    feed: Feed,
    raw: Vec<RawEntry>,
    home_page: Option<Option<String>>,
    page_url: &Url,
    mut warnings: Vec<String>,
) -> Upstream {
    let kind = Kind::of(&feed.feed_type);
    let meta = UpstreamMeta {
        title: feed.title.as_ref().and_then(|t| text_of(t, kind)),
        description: feed.description.as_ref().and_then(|t| text_of(t, kind)),
        link: match home_page {
            Some(home) => home.and_then(|h| links::resolve(page_url, &h)),
            None => page_link(&feed.links, page_url),
        },
        language: feed
            .language
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string),
    };

    let mut items = Vec::with_capacity(feed.entries.len());
    let mut seen = HashSet::new();
    let mut duplicates = 0usize;
    let mut empty = 0usize;
    for (n, entry) in feed.entries.iter().enumerate() {
        let raw = raw.get(n).cloned().unwrap_or_default();
        let base = raw.base.clone().unwrap_or_else(|| page_url.clone());
        let inherited = if kind == Kind::Atom && entry.authors.is_empty() {
            &feed.authors[..]
        } else {
            &entry.authors[..]
        };
        let Some(item) = convert(entry, kind, &raw, &base, page_url, inherited) else {
            empty += 1;
            continue;
        };
        if !seen.insert(item.guid().to_string()) {
            duplicates += 1;
            continue;
        }
        items.push(item);
    }
    if duplicates > 0 {
        warnings.push(format!(
            "{duplicates} entries repeat the id of an earlier entry and were left out"
        ));
    }
    if empty > 0 {
        warnings.push(format!(
            "{empty} entries have no title, link or content and were left out"
        ));
    }
    Upstream {
        meta,
        items,
        warnings,
    }
}

fn convert(
    entry: &Entry,
    kind: Kind,
    raw: &RawEntry,
    base: &Url,
    page_url: &Url,
    authors: &[Person],
) -> Option<NewItem> {
    let title = entry.title.as_ref().and_then(|t| text_of(t, kind));
    let id = entry.id.trim();
    let original = if id.is_empty() || id == NO_ID {
        raw.about.clone().filter(|a| !a.is_empty())
    } else {
        Some(id.to_string())
    };
    let mut link = entry_link(&entry.links, kind, base);
    // RSS: a guid that is a permalink (the default) is the item's address.
    if link.is_none()
        && kind == Kind::Rss
        && raw.guid_permalink != Some(false)
        && let Some(g) = &original
    {
        link = absolute_web(g);
    }
    let (summary, summary_html) = summary_of(entry, kind, base, page_url);
    if title.is_none() && link.is_none() && summary.is_none() {
        return None;
    }
    let published = entry.published.or(entry.updated);
    let mut legacy_guid = None;
    let (guid, permalink) = match (original, &link) {
        (Some(g), _) => {
            let same = absolute_web(&g).is_some_and(|a| Some(&a) == link.as_ref());
            (g, same)
        }
        (None, Some(l)) => (l.clone(), true),
        (None, None) => {
            let date = published.map(|d| d.to_rfc3339()).unwrap_or_default();
            let body = if title.is_none() {
                summary.as_deref().unwrap_or("")
            } else {
                ""
            };
            let (guid, legacy) = invented_guid(&[title.as_deref().unwrap_or(""), &date, body]);
            legacy_guid = Some(legacy);
            (guid, false)
        }
    };
    Some(NewItem::new(&ItemParts {
        guid,
        permalink,
        title,
        link,
        summary,
        summary_html,
        authors: author_names(authors),
        categories: category_names(entry),
        image: image_of(entry, kind, raw, base),
        published,
        published_relative: false,
        legacy_guid,
    }))
}

/// `s` as an absolute http(s) URL (normalised by the URL parser), if it is one on its own.
fn absolute_web(s: &str) -> Option<String> {
    let u = Url::parse(s.trim()).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host().is_some()).then(|| u.to_string())
}

/// A link that points at a page for people: no rel, or `alternate`; not a comments link, not
/// a JSON attachment. Among several, one with an HTML type (or none) wins.
fn is_page_link(l: &Link, kind: Kind) -> bool {
    l.target.is_none()
        && l.rel
            .as_deref()
            .is_none_or(|r| r.trim().eq_ignore_ascii_case("alternate"))
        && !(kind == Kind::Json && l.media_type.is_some())
}

fn html_typed(l: &Link) -> bool {
    l.media_type
        .as_deref()
        .is_none_or(|t| t.to_ascii_lowercase().contains("html"))
}

fn entry_link(list: &[Link], kind: Kind, base: &Url) -> Option<String> {
    let pages: Vec<&Link> = list.iter().filter(|l| is_page_link(l, kind)).collect();
    pages
        .iter()
        .filter(|l| html_typed(l))
        .chain(pages.iter().filter(|l| !html_typed(l)))
        .find_map(|l| links::resolve(base, &l.href))
}

fn page_link(list: &[Link], page_url: &Url) -> Option<String> {
    entry_link(list, Kind::Atom, page_url)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Markup {
    Text,
    Html,
    /// XML that is not XHTML, base64 data, or anything else not fit to show.
    Other,
}

fn markup(essence: &str) -> Markup {
    match essence.to_ascii_lowercase().as_str() {
        "text/plain" => Markup::Text,
        // feed-rs labels Atom `xhtml` as "application/xhtml".
        "text/html" | "application/xhtml+xml" | "application/xhtml" => Markup::Html,
        _ => Markup::Other,
    }
}

/// Full content first, else the summary; HTML sanitized against its base, plain text as is.
/// RSS descriptions and encoded content are HTML whatever feed-rs labels them: that is how
/// RSS is written and read.
fn summary_of(entry: &Entry, kind: Kind, base: &Url, page_url: &Url) -> (Option<String>, bool) {
    let mut candidates: Vec<(&str, Markup, Url)> = Vec::with_capacity(2);
    if let Some(c) = &entry.content
        && let Some(body) = &c.body
    {
        let m = if kind.is_rss() {
            Markup::Html
        } else {
            markup(&c.content_type.essence().to_string())
        };
        // Atom: `xml:base` on <content> (relative to the entry's base). RSS: feed-rs puts the
        // base in effect at <content:encoded> in `src`.
        let content_base = match kind {
            Kind::Atom => entry
                .base
                .as_deref()
                .and_then(|b| base.join(b.trim()).ok())
                .unwrap_or_else(|| base.clone()),
            Kind::Rss | Kind::Rdf => c
                .src
                .as_ref()
                .and_then(|s| Url::parse(&s.href).ok())
                .unwrap_or_else(|| base.clone()),
            Kind::Json => page_url.clone(),
        };
        candidates.push((body, m, content_base));
    }
    if let Some(s) = &entry.summary {
        let m = if kind.is_rss() {
            Markup::Html
        } else {
            markup(&s.content_type.essence().to_string())
        };
        candidates.push((&s.content, m, base.clone()));
    }
    for (body, m, b) in candidates {
        let out = match m {
            Markup::Html => sanitize::clean_html(body, &b),
            Markup::Text => body.trim().to_string(),
            Markup::Other => continue,
        };
        if !out.is_empty() {
            return (Some(out), m == Markup::Html);
        }
    }
    (None, false)
}

static HTML_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)</?(?:a|abbr|b|big|br|cite|code|del|em|font|i|img|ins|kbd|mark|p|q|s|small|span|strike|strong|sub|sup|tt|u|var)\b[^<>]*>",
    )
    .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

/// A title or description as one line of text.
///
/// HTML-typed text (Atom `html`/`xhtml`) loses its tags and has entities decoded. RSS does not
/// say whether its titles are text or HTML and feeds use both, so an RSS title is read as HTML
/// when it contains common HTML tags, and otherwise only has entities decoded (for
/// double-escaped `&amp;amp;` and the HTML entities of RSS 0.91's DTD); a `<` that starts no
/// tag stays. Atom `text` and JSON Feed text are plain text and are taken literally.
fn text_of(t: &Text, kind: Kind) -> Option<String> {
    let s = t.content.as_str();
    let out = match markup(&t.content_type.essence().to_string()) {
        Markup::Html => html_to_text(s),
        _ if kind.is_rss() => {
            if HTML_TAG.is_match(s) {
                html_to_text(s)
            } else if ENTITY.is_match(s) {
                html_to_text(&s.replace('<', "&lt;"))
            } else {
                collapse(std::iter::once(s))
            }
        }
        _ => collapse(std::iter::once(s)),
    };
    (!out.is_empty()).then_some(out)
}

fn html_to_text(html: &str) -> String {
    let (frag, _) = crate::extract::parse::fragment(html);
    collapse(frag.root_element().text())
}

/// Authors' names in order, without repeats. RSS `<author>` is an address, often with the name
/// in parentheses ("jane@example.com (Jane Doe)"); the name is used when there is one, else
/// the address.
fn author_names(people: &[Person]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in people {
        let name = p
            .name
            .as_deref()
            .map(clean_name)
            .filter(|n| !n.is_empty())
            .or_else(|| p.email.as_deref().map(clean_name).filter(|e| !e.is_empty()));
        if let Some(n) = name
            && !out.contains(&n)
        {
            out.push(n);
        }
    }
    out
}

fn clean_name(s: &str) -> String {
    let mut s = s.trim();
    for (open, close) in [('(', ')'), ('"', '"'), ('<', '>'), ('[', ']')] {
        if let Some(inner) = s.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
            s = inner.trim();
        }
    }
    collapse(std::iter::once(s))
}

fn category_names(entry: &Entry) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &entry.categories {
        let name = c
            .label
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or(c.term.trim());
        let name = collapse(std::iter::once(name));
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// A Media RSS thumbnail, else what the pre-pass found (thumbnail, Media RSS image, image
/// enclosure; for JSON Feed the item's `image`), else an image among feed-rs's media and links
/// (RSS enclosure, Atom enclosure link, JSON Feed attachment).
fn image_of(entry: &Entry, kind: Kind, raw: &RawEntry, base: &Url) -> Option<String> {
    let thumbs = entry
        .media
        .iter()
        .flat_map(|m| m.thumbnails.iter())
        .map(|t| t.image.uri.clone());
    let contents = entry
        .media
        .iter()
        .flat_map(|m| m.content.iter())
        .filter(|c| c.content_type.as_ref().is_some_and(|t| t.ty() == "image"))
        .filter_map(|c| c.url.as_ref().map(|u| u.to_string()));
    let enclosures = entry
        .links
        .iter()
        .filter(|l| {
            (kind == Kind::Json || l.rel.as_deref() == Some("enclosure"))
                && l.media_type
                    .as_deref()
                    .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("image/"))
        })
        .map(|l| l.href.clone());
    thumbs
        .filter_map(|u| links::resolve(base, &u))
        .chain(raw.image.clone())
        .chain(
            contents
                .chain(enclosures)
                .filter_map(|u| links::resolve(base, &u)),
        )
        .next()
}

// ---------------------------------------------------------------------------------------------
// The XML pre-pass

const ATOM: &str = "http://www.w3.org/2005/Atom";
const ATOM_03: &str = "http://purl.org/atom/ns#";
const RSS_10: &str = "http://purl.org/rss/1.0/";
const MEDIA: &str = "http://search.yahoo.com/mrss/";
const CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";

/// Namespace names feed-rs does not know, and the ones it does that mean the same to it.
fn canonical_ns(uri: &str) -> &str {
    match uri.trim() {
        ATOM_03 => ATOM,
        // RSS 0.90, and two default namespaces some RSS 2.0 generators declare.
        "http://my.netscape.com/rdf/simple/0.9/"
        | "http://backend.userland.com/rss2"
        | "http://blogs.law.harvard.edu/tech/rss" => RSS_10,
        "http://search.yahoo.com/mrss" => MEDIA,
        _ => uri,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    Open,
    Close,
    Empty,
}

#[derive(Debug)]
struct Tag {
    start: usize,
    end: usize,
    kind: TagKind,
    name: Range<usize>,
    attrs: Vec<(Range<usize>, Range<usize>)>,
}

#[derive(Debug)]
struct Elem {
    open: usize,
    close: Option<usize>,
    parent: Option<usize>,
    /// The index of its last descendant (itself when it has none).
    last: usize,
    /// Namespace name, after [`canonical_ns`].
    ns: Option<String>,
    /// Index into [`Scan::bases`].
    base: usize,
}

enum Root {
    Atom,
    Rss,
    Rdf,
    Other(String),
    None,
}

type Edit = (Range<usize>, String);

/// A tag-level view of an XML document (from [`tokenize`]): enough structure to find entries,
/// namespaces and `xml:base`, and to rewrite names and attribute values in place. Not a
/// validating parser: feed-rs does the real parsing; this only has to agree with it on
/// well-formed input and not panic on anything else.
struct Scan<'a> {
    text: &'a str,
    tags: Vec<Tag>,
    /// Positions of the `&`s in character data that begin no reference.
    amps: Vec<usize>,
    elems: Vec<Elem>,
    /// `bases[0]` is the document's address.
    bases: Vec<Url>,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str, url: &Url) -> Self {
        let Tokens { tags, amps } = tokenize(text);
        let mut scan = Scan {
            text,
            tags,
            amps,
            elems: Vec::new(),
            bases: vec![url.clone()],
        };
        scan.build_tree();
        scan
    }

    fn s(&self, r: &Range<usize>) -> &'a str {
        self.text.get(r.clone()).unwrap_or_default()
    }

    fn qname(&self, e: usize) -> &'a str {
        self.elems
            .get(e)
            .and_then(|el| self.tags.get(el.open))
            .map(|t| self.s(&t.name))
            .unwrap_or_default()
    }

    fn local(&self, e: usize) -> &'a str {
        let q = self.qname(e);
        q.rsplit(':').next().unwrap_or(q)
    }

    fn attr(&self, e: usize, name: &str) -> Option<String> {
        self.attr_named(e, |n| n == name)
    }

    /// The (unescaped) value of the first attribute whose qualified name passes `want`.
    fn attr_named(&self, e: usize, want: impl Fn(&str) -> bool) -> Option<String> {
        let tag = self.tags.get(self.elems.get(e)?.open)?;
        tag.attrs
            .iter()
            .find(|(n, _)| want(self.s(n)))
            .map(|(_, v)| unescape(self.s(v)))
    }

    fn attr_range(&self, e: usize, name: &str) -> Option<Range<usize>> {
        let tag = self.tags.get(self.elems.get(e)?.open)?;
        tag.attrs
            .iter()
            .find(|(n, _)| self.s(n) == name)
            .map(|(_, v)| v.clone())
    }

    fn ns(&self, e: usize) -> Option<&str> {
        self.elems.get(e).and_then(|el| el.ns.as_deref())
    }

    fn children(&self, e: usize) -> impl Iterator<Item = usize> + '_ {
        let last = self.elems.get(e).map_or(e, |el| el.last);
        (e + 1..=last).filter(move |&c| self.elems.get(c).is_some_and(|el| el.parent == Some(e)))
    }

    fn build_tree(&mut self) {
        let mut stack: Vec<usize> = Vec::new();
        // (element, prefix, namespace name) for every namespace declaration in scope.
        let mut scopes: Vec<(usize, &'a str, String)> = Vec::new();
        for ti in 0..self.tags.len() {
            let Some(tag) = self.tags.get(ti) else { break };
            match tag.kind {
                TagKind::Open | TagKind::Empty => {
                    let idx = self.elems.len();
                    let parent = stack.last().copied();
                    let mut xml_base = None;
                    for (n, v) in &tag.attrs {
                        let n = self.s(n);
                        if n == "xmlns" {
                            scopes.push((idx, "", unescape(self.s(v))));
                        } else if let Some(p) = n.strip_prefix("xmlns:") {
                            scopes.push((idx, p, unescape(self.s(v))));
                        } else if n == "xml:base" {
                            xml_base = Some(unescape(self.s(v)));
                        }
                    }
                    let qname = self.s(&tag.name);
                    let prefix = qname.rsplit_once(':').map_or("", |(p, _)| p);
                    let ns = scopes
                        .iter()
                        .rev()
                        .find(|(_, p, _)| *p == prefix)
                        .map(|(_, _, u)| canonical_ns(u).to_string())
                        .filter(|u| !u.is_empty());
                    let parent_base = parent.and_then(|p| self.elems.get(p)).map_or(0, |p| p.base);
                    let base = match xml_base.and_then(|b| {
                        self.bases
                            .get(parent_base)
                            .and_then(|p| p.join(b.trim()).ok())
                    }) {
                        Some(u) => {
                            self.bases.push(u);
                            self.bases.len() - 1
                        }
                        None => parent_base,
                    };
                    let kind = tag.kind;
                    self.elems.push(Elem {
                        open: ti,
                        close: None,
                        parent,
                        last: idx,
                        ns,
                        base,
                    });
                    if kind == TagKind::Open {
                        stack.push(idx);
                    } else {
                        while scopes.last().is_some_and(|s| s.0 >= idx) {
                            scopes.pop();
                        }
                    }
                }
                TagKind::Close => {
                    let name = self.s(&tag.name);
                    let Some(pos) = stack.iter().rposition(|&e| self.qname(e) == name) else {
                        continue; // a stray end tag
                    };
                    let last = self.elems.len().saturating_sub(1);
                    while stack.len() > pos {
                        let Some(e) = stack.pop() else { break };
                        if let Some(el) = self.elems.get_mut(e) {
                            el.last = last;
                            if stack.len() == pos {
                                el.close = Some(ti);
                            }
                        }
                        while scopes.last().is_some_and(|s| s.0 >= e) {
                            scopes.pop();
                        }
                    }
                }
            }
        }
        let last = self.elems.len().saturating_sub(1);
        for e in stack {
            if let Some(el) = self.elems.get_mut(e) {
                el.last = last;
            }
        }
    }

    fn root(&self) -> Root {
        if self.elems.is_empty() {
            return Root::None;
        }
        match self.local(0) {
            "feed" | "entry" => Root::Atom,
            "rss" => Root::Rss,
            "RDF" => Root::Rdf,
            _ => Root::Other(self.qname(0).to_string()),
        }
    }

    fn atomish(&self, e: usize) -> bool {
        self.ns(e).is_none_or(|n| n == ATOM)
    }

    fn rssish(&self, e: usize) -> bool {
        self.ns(e).is_none_or(|n| n == RSS_10)
    }

    /// The Atom entries, or RSS items, in the order feed-rs reads them.
    fn entry_elems(&self) -> Vec<usize> {
        match self.root() {
            Root::Atom if self.local(0) == "entry" => vec![0],
            Root::Atom => self
                .children(0)
                .filter(|&c| self.local(c) == "entry" && self.atomish(c))
                .collect(),
            Root::Rss => match self.children(0).find(|&c| self.local(c) == "channel") {
                Some(ch) => self
                    .children(ch)
                    .filter(|&c| self.local(c) == "item" && self.rssish(c))
                    .collect(),
                None => Vec::new(),
            },
            // feed-rs drops RSS 1.0 items without a <link>.
            Root::Rdf => self
                .children(0)
                .filter(|&c| self.local(c) == "item" && self.rssish(c))
                .filter(|&c| {
                    self.children(c)
                        .any(|l| self.local(l) == "link" && self.rssish(l) && self.has_content(l))
                })
                .collect(),
            Root::Other(_) | Root::None => Vec::new(),
        }
    }

    fn has_content(&self, e: usize) -> bool {
        let Some(el) = self.elems.get(e) else {
            return false;
        };
        match (
            self.tags.get(el.open),
            el.close.and_then(|c| self.tags.get(c)),
        ) {
            (Some(o), Some(c)) => o.end < c.start,
            _ => false,
        }
    }

    fn entries(&self) -> Vec<RawEntry> {
        self.entry_elems()
            .into_iter()
            .map(|e| {
                let guid = self
                    .children(e)
                    .find(|&c| self.local(c) == "guid" && self.rssish(c));
                RawEntry {
                    base: self
                        .elems
                        .get(e)
                        .and_then(|el| self.bases.get(el.base))
                        .cloned(),
                    guid_permalink: guid
                        .and_then(|g| self.attr(g, "isPermaLink"))
                        .and_then(|p| match p.trim().to_ascii_lowercase().as_str() {
                            "false" => Some(false),
                            "true" => Some(true),
                            _ => None,
                        }),
                    about: self
                        .attr_named(e, |n| n == "about" || n.ends_with(":about"))
                        .map(|a| a.trim().to_string()),
                    image: self.entry_image(e),
                }
            })
            .collect()
    }

    /// Media RSS thumbnail, else Media RSS image content, else an image enclosure (RSS
    /// `<enclosure>`, Atom `<link rel="enclosure">`), anywhere inside the entry.
    fn entry_image(&self, e: usize) -> Option<String> {
        let last = self.elems.get(e).map_or(e, |el| el.last);
        let is_image = |t: Option<String>| {
            t.is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("image/"))
        };
        let mut found: [Option<String>; 3] = [None, None, None];
        for d in e + 1..=last {
            let (rank, attr) = match (self.ns(d), self.local(d)) {
                (Some(MEDIA), "thumbnail") => (0, "url"),
                (Some(MEDIA), "content")
                    if self.attr(d, "medium").is_some_and(|m| m.trim() == "image")
                        || is_image(self.attr(d, "type")) =>
                {
                    (1, "url")
                }
                (None | Some(RSS_10), "enclosure") if is_image(self.attr(d, "type")) => (2, "url"),
                (_, "link")
                    if self.atomish(d)
                        && self.attr(d, "rel").is_some_and(|r| r.trim() == "enclosure")
                        && is_image(self.attr(d, "type")) =>
                {
                    (2, "href")
                }
                _ => continue,
            };
            if found.get(rank).is_some_and(Option::is_some) {
                continue;
            }
            let base = self.elems.get(d).and_then(|el| self.bases.get(el.base));
            if let (Some(base), Some(v)) = (base, self.attr(d, attr))
                && let Some(u) = links::resolve(base, &v)
                && let Some(slot) = found.get_mut(rank)
            {
                *slot = Some(u);
            }
        }
        found.into_iter().flatten().next()
    }

    /// Renaming an element makes feed-rs pass over it (and its content) as unknown.
    fn rename(&self, e: usize, local: &str) -> Vec<Edit> {
        let Some(el) = self.elems.get(e) else {
            return Vec::new();
        };
        [Some(el.open), el.close]
            .into_iter()
            .flatten()
            .filter_map(|t| self.tags.get(t))
            .map(|t| {
                let q = self.s(&t.name);
                let start = t.name.start + q.rfind(':').map_or(0, |i| i + 1);
                (start..t.name.end, local.to_string())
            })
            .collect()
    }

    /// The edits that make the document readable for feed-rs (see the module doc).
    fn repairs(&self) -> Vec<Edit> {
        let mut edits = Vec::new();
        // Namespace names feed-rs does not know.
        for tag in &self.tags {
            for (n, v) in &tag.attrs {
                let n = self.s(n);
                if n == "xmlns" || n.starts_with("xmlns:") {
                    let uri = unescape(self.s(v));
                    let canon = canonical_ns(&uri);
                    if canon != uri {
                        edits.push((v.clone(), canon.to_string()));
                    }
                }
            }
        }
        match self.root() {
            Root::Atom => self.atom_repairs(&mut edits),
            Root::Rss => {
                self.rss_version(&mut edits);
                self.rss_repairs(&mut edits);
            }
            Root::Rdf => self.rss_repairs(&mut edits),
            Root::Other(_) | Root::None => {}
        }
        // A bare `&` in text (a very common error) would stop the XML parser.
        for &i in &self.amps {
            edits.push((i..i + 1, "&amp;".to_string()));
        }
        edits
    }

    fn atom_repairs(&self, edits: &mut Vec<Edit>) {
        let atom03 = self.attr(0, "version").is_some_and(|v| v.trim() == "0.3")
            || self.tags.iter().any(|t| {
                t.attrs.iter().any(|(n, v)| {
                    let n = self.s(n);
                    (n == "xmlns" || n.starts_with("xmlns:"))
                        && unescape(self.s(v)).trim() == ATOM_03
                })
            });
        let is_entry = |e: usize| {
            self.local(e) == "entry"
                && self.atomish(e)
                && (e == 0 || self.elems.get(e).and_then(|el| el.parent) == Some(0))
        };
        for e in 1..self.elems.len() {
            let parent = self.elems.get(e).and_then(|el| el.parent);
            let in_container = parent.is_some_and(|p| p == 0 || is_entry(p));
            if !in_container || !self.atomish(e) {
                continue;
            }
            let mut local = self.local(e);
            if atom03 {
                let renamed = match local {
                    "issued" => Some("published"),
                    "modified" => Some("updated"),
                    "tagline" => Some("subtitle"),
                    "copyright" => Some("rights"),
                    _ => None,
                };
                if let Some(new) = renamed {
                    edits.extend(self.rename(e, new));
                    local = new;
                }
            }
            if !matches!(
                local,
                "title" | "subtitle" | "summary" | "content" | "rights"
            ) {
                continue;
            }
            let mode = self.attr(e, "mode").map(|m| m.trim().to_ascii_lowercase());
            if mode.as_deref() == Some("base64") {
                edits.extend(self.rename(e, "pagefeed-skipped"));
                continue;
            }
            let has_src = self.attr(e, "src").is_some();
            let range = self.attr_range(e, "type");
            let ty = range.as_ref().map(|r| unescape(self.s(r)));
            let lower = ty.as_deref().map(|t| t.trim().to_ascii_lowercase());
            // With `src`, the type is the linked document's media type: left as it is.
            let fixed = match lower.as_deref() {
                _ if has_src => None,
                None => None,
                Some(l @ ("text" | "html" | "xhtml")) => Some(l),
                Some("text/plain") => Some("text"),
                Some("text/html") => Some("html"),
                Some("application/xhtml+xml") if mode.as_deref() == Some("escaped") => Some("html"),
                Some("application/xhtml+xml") => Some("xhtml"),
                Some(_) if local != "content" => Some("text"),
                Some(l) if l.ends_with("+xml") || l.ends_with("/xml") => Some("xhtml"),
                Some(l) if l.starts_with("text/") => Some("text"),
                Some(_) => {
                    edits.extend(self.rename(e, "pagefeed-skipped"));
                    continue;
                }
            };
            if let (Some(f), Some(r), Some(t)) = (fixed, range, ty.as_deref())
                && f != t
            {
                edits.push((r, f.to_string()));
            }
            if fixed == Some("html") && !has_src {
                edits.extend(self.wrap_cdata(e));
            }
        }
    }

    /// HTML written into an element unescaped (`<description><p>Hi</p></description>`, common
    /// in RSS and in Atom `type="html"`) is lost to feed-rs, which reads such elements as text
    /// only; inside a CDATA section it is the text the feed meant.
    fn wrap_cdata(&self, e: usize) -> Vec<Edit> {
        let Some(el) = self.elems.get(e) else {
            return Vec::new();
        };
        if el.last == e {
            return Vec::new(); // no child elements: nothing to protect
        }
        let (Some(open), Some(close)) = (
            self.tags.get(el.open),
            el.close.and_then(|c| self.tags.get(c)),
        ) else {
            return Vec::new();
        };
        let inner = self.text.get(open.end..close.start).unwrap_or_default();
        if inner.contains("<![CDATA[") || inner.contains("]]>") {
            return Vec::new();
        }
        vec![
            (open.end..open.end, "<![CDATA[".to_string()),
            (close.start..close.start, "]]>".to_string()),
        ]
    }

    /// feed-rs reads `<rss>` only with version 2.0, 0.91 or 0.92 (the same parser for all).
    fn rss_version(&self, edits: &mut Vec<Edit>) {
        match self.attr_range(0, "version") {
            Some(r) => {
                if !matches!(self.s(&r).trim(), "2.0" | "0.91" | "0.92") {
                    edits.push((r, "2.0".to_string()));
                }
            }
            None => {
                if let Some(t) = self.elems.first().and_then(|el| self.tags.get(el.open)) {
                    edits.push((t.name.end..t.name.end, " version=\"2.0\"".to_string()));
                }
            }
        }
    }

    fn rss_repairs(&self, edits: &mut Vec<Edit>) {
        for e in 1..self.elems.len() {
            let container = self
                .elems
                .get(e)
                .and_then(|el| el.parent)
                .is_some_and(|p| matches!(self.local(p), "channel" | "item") && self.rssish(p));
            let texty = match (self.ns(e), self.local(e)) {
                (Some(CONTENT), "encoded") => true,
                (_, "title" | "description") => self.rssish(e),
                _ => false,
            };
            if container && texty {
                edits.extend(self.wrap_cdata(e));
            }
        }
    }

    /// The element whose start tag ends at `pos` (where feed-rs reports a refused element),
    /// renamed away; an extension element (`prefix:name`) is renamed everywhere, since one
    /// bad value is usually repeated in every entry. Returns the edits and the name.
    fn skip_element_at(&self, pos: usize) -> Option<(Vec<Edit>, String)> {
        let e = self
            .elems
            .iter()
            .position(|el| self.tags.get(el.open).is_some_and(|t| t.end == pos))?;
        let qname = self.qname(e);
        if e == 0 {
            return None;
        }
        let core = self.ns(e).is_none_or(|n| n == ATOM || n == RSS_10);
        let edits = if qname.contains(':') && !core {
            (1..self.elems.len())
                .filter(|&o| self.qname(o) == qname)
                .flat_map(|o| self.rename(o, "pagefeed-skipped"))
                .collect()
        } else {
            self.rename(e, "pagefeed-skipped")
        };
        Some((edits, qname.to_string()))
    }
}

/// Whether `s` (starting with `&`) begins an entity or character reference.
fn is_reference(s: &str) -> bool {
    let body = s.get(1..).unwrap_or_default();
    // `;` is ASCII, so its byte position is a character boundary.
    let Some(end) = body.bytes().take(40).position(|b| b == b';') else {
        return false;
    };
    let name = body.get(..end).unwrap_or_default();
    if let Some(num) = name.strip_prefix('#') {
        return match num.strip_prefix(['x', 'X']) {
            Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
            None => !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()),
        };
    }
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
}

/// Attribute values as XML means them: the five predefined entities and character references.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or_default());
        let tail = rest.get(i..).unwrap_or_default();
        let semi = tail.bytes().take(12).position(|b| b == b';');
        let decoded = semi.and_then(|j| {
            let name = tail.get(1..j)?;
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, j + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = tail.get(len..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

fn apply_edits(text: &str, mut edits: Vec<Edit>) -> String {
    if edits.is_empty() {
        return text.to_string();
    }
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len() + edits.len() * 8);
    let mut at = 0;
    for (r, new) in edits {
        if r.start < at {
            continue; // overlaps an edit already made
        }
        out.push_str(text.get(at..r.start).unwrap_or_default());
        out.push_str(&new);
        at = r.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Where `part` (a sub-slice of `whole`) starts in `whole`; `None` when it is not inside it.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let start = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    (start.checked_add(part.len())? <= whole.len()).then_some(start)
}

/// The range of `part` (a sub-slice of `whole`) in `whole`.
fn range_in(whole: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = offset_in(whole, part)?;
    Some(start..start + part.len())
}

fn find_from(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|i| from + i)
}

/// Where the start tag at `lt` ends by the rule browsers read HTML with: at the first `>`
/// that is not inside a quoted attribute value, a quote opening a value only right after
/// `=`. quick-xml also takes a quote anywhere else in a tag (`<img alt=don't>`) as opening a
/// value, which in unescaped HTML can run over the end of the element that holds it.
fn html_tag_end(b: &[u8], lt: usize) -> Option<usize> {
    let mut j = lt + 1;
    while b
        .get(j)
        .is_some_and(|&c| !c.is_ascii_whitespace() && c != b'>' && c != b'/')
    {
        j += 1;
    }
    loop {
        match *b.get(j)? {
            b'>' => return Some(j + 1),
            b'=' => {
                j += 1;
                while b.get(j).is_some_and(u8::is_ascii_whitespace) {
                    j += 1;
                }
                match b.get(j) {
                    Some(&q @ (b'"' | b'\'')) => {
                        j = j + 1 + b.get(j + 1..)?.iter().position(|&c| c == q)? + 1;
                    }
                    _ => {
                        while b
                            .get(j)
                            .is_some_and(|&c| !c.is_ascii_whitespace() && c != b'>')
                        {
                            j += 1;
                        }
                    }
                }
            }
            _ => j += 1,
        }
    }
}

/// The tags of a document and the bare `&`s of its character data, read with quick-xml's
/// reader. Comments, CDATA sections, processing instructions, the XML declaration and the
/// DOCTYPE are passed over. All positions are byte offsets at ASCII delimiters, so they are
/// valid `str` boundaries.
///
/// Feeds are often not well-formed, and the repairs exist for exactly those, so the reader is
/// lenient (no end-tag matching, dangling `&` allowed, nothing trimmed), and where it gives up
/// or reads differently from a browser, reading goes on with a fresh reader after the
/// construct, as a browser would read it (see [`Tokens::recover`]).
#[derive(Default)]
struct Tokens {
    tags: Vec<Tag>,
    /// Positions of `&`s in character data that do not begin a reference.
    amps: Vec<usize>,
}

fn tokenize(text: &str) -> Tokens {
    let mut tokens = Tokens::default();
    let mut at = 0;
    while let Some(next) = tokens.read_from(text, at) {
        if next <= at {
            break; // no progress: cannot happen, but never loop
        }
        at = next;
    }
    tokens
}

impl Tokens {
    /// Read `text` from `at` to its end (`None`), or until reading has to resume with a fresh
    /// reader at the returned position.
    fn read_from(&mut self, text: &str, mut at: usize) -> Option<usize> {
        // The reader drops a byte-order mark at its start without counting it in positions.
        while text.get(at..)?.starts_with('\u{feff}') {
            at += '\u{feff}'.len_utf8();
        }
        let mut reader = Reader::from_str(text.get(at..)?);
        let config = reader.config_mut();
        config.allow_dangling_amp = true;
        config.allow_unmatched_ends = true;
        config.check_end_names = false;
        config.check_comments = false;
        config.expand_empty_elements = false;
        config.trim_text(false);
        let pos = |p: u64| usize::try_from(p).ok().and_then(|p| p.checked_add(at));
        loop {
            let before = pos(reader.buffer_position())?;
            let event = reader.read_event();
            let after = pos(reader.buffer_position())?;
            let resume = match event {
                Ok(Event::Start(e)) => self.start_tag(text, &e, before, after, TagKind::Open),
                Ok(Event::Empty(e)) => self.start_tag(text, &e, before, after, TagKind::Empty),
                Ok(Event::End(e)) => self.end_tag(text, &e, before, after),
                // Text that begins with `&` is a dangling one: other text stops before `&`.
                Ok(Event::Text(t)) if t.starts_with(b"&") => {
                    self.amps.push(before);
                    None
                }
                Ok(Event::GeneralRef(_)) => {
                    if !is_reference(text.get(before..).unwrap_or_default()) {
                        self.amps.push(before);
                    }
                    None
                }
                Ok(Event::Eof) => return None,
                Ok(_) => None,
                // The reader has consumed the ill-formed part and can go on.
                Err(quick_xml::Error::IllFormed(_)) => None,
                // It cannot; the error is reported at the `<` of the construct.
                Err(_) => return self.recover(text, pos(reader.error_position())?, after),
            };
            if resume.is_some() {
                return resume;
            }
        }
    }

    /// A start or empty-element tag quick-xml read from `start` to `end`. Returns where to
    /// resume reading when the tag is not one.
    fn start_tag(
        &mut self,
        text: &str,
        e: &BytesStart<'_>,
        start: usize,
        end: usize,
        kind: TagKind,
    ) -> Option<usize> {
        if e.name().as_ref().is_empty() {
            // `<` followed by a space or `>`: a lone `<` in text, not markup.
            return Some(start + 1);
        }
        if e.contains(&b'>') {
            // quick-xml took a `>` as inside a quoted value; a browser may not.
            if let Some(html_end) = html_tag_end(text.as_bytes(), start).filter(|&h| h < end) {
                self.raw_start_tag(text, start, html_end);
                return Some(html_end);
            }
        }
        if e.name().as_ref().contains(&b'/') {
            // `<a/b>`: the name ends at the `/`.
            self.raw_start_tag(text, start, end);
        } else {
            self.push_start(text, e, start, end, kind);
        }
        None
    }

    fn push_start(
        &mut self,
        text: &str,
        e: &BytesStart<'_>,
        start: usize,
        end: usize,
        kind: TagKind,
    ) {
        let b = text.as_bytes();
        let qname = e.name();
        let qname = qname.as_ref();
        // The name ends at a space or `/` (see `raw_start_tag`).
        let qname = qname
            .iter()
            .position(|&c| c.is_ascii_whitespace() || c == b'/')
            .map_or(qname, |i| qname.get(..i).unwrap_or_default());
        let Some(name) = range_in(b, qname) else {
            return;
        };
        let mut attrs = Vec::new();
        let mut iter = e.html_attributes();
        iter.with_checks(false);
        for a in iter.flatten() {
            let Some(key) = range_in(b, a.key.as_ref()) else {
                continue;
            };
            // A valueless attribute (`<a b>`) has an empty value just after its name.
            let value = range_in(b, &a.value).unwrap_or(key.end..key.end);
            attrs.push((key, value));
        }
        self.tags.push(Tag {
            start,
            end,
            kind,
            name,
            attrs,
        });
    }

    /// The start tag from `start` (its `<`) to `end` (after its `>`, or the end of the text for
    /// a tag that is never closed), as a browser reads it.
    fn raw_start_tag(&mut self, text: &str, start: usize, end: usize) {
        let inner_end = if text.as_bytes().get(end.wrapping_sub(1)) == Some(&b'>') {
            end - 1
        } else {
            end
        };
        let Some(inner) = text.get(start + 1..inner_end) else {
            return;
        };
        let (inner, kind) = match inner.strip_suffix('/') {
            Some(i) if inner_end < end => (i, TagKind::Empty),
            _ => (inner, TagKind::Open),
        };
        // The name ends at a space or `/`; attributes start after either.
        let name_len = inner
            .bytes()
            .position(|c| c.is_ascii_whitespace() || c == b'/')
            .map_or(inner.len(), |i| i + 1);
        let e = BytesStart::from_content(inner, name_len);
        self.push_start(text, &e, start, end, kind);
    }

    fn end_tag(&mut self, text: &str, e: &BytesEnd<'_>, start: usize, end: usize) -> Option<usize> {
        let b = text.as_bytes();
        let mut end = end;
        let mut resume = None;
        if e.contains(&b'>') {
            // `</a title=">">`: a browser ends the tag at the first `>`.
            if let Some(gt) = find_from(b, start, b">").filter(|&g| g + 1 < end) {
                end = gt + 1;
                resume = Some(end);
            }
        }
        // The name, up to any space (`</a b>`).
        let raw = e.name();
        let raw = raw.as_ref();
        let raw = raw
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(raw, |i| raw.get(..i).unwrap_or_default());
        let name = range_in(b, raw).unwrap_or(start + 2..start + 2);
        self.tags.push(Tag {
            start,
            end,
            kind: TagKind::Close,
            name,
            attrs: Vec::new(),
        });
        resume
    }

    /// quick-xml stopped at the markup that starts at `lt`, having read up to `read_to`:
    /// decide, as a browser would, where that markup ends, and resume reading there. `None`
    /// when it runs to the end of the document.
    fn recover(&mut self, text: &str, lt: usize, read_to: usize) -> Option<usize> {
        let b = text.as_bytes();
        let rest = b.get(lt..)?;
        if rest.starts_with(b"<!--") || rest.starts_with(b"<![CDATA[") {
            // quick-xml reads these to their proper end: there is none.
            None
        } else if rest.starts_with(b"<!") {
            // `<!x ...>`, `<!-x>`, a DOCTYPE quick-xml cannot read.
            find_from(b, lt + 2, b">").map(|j| j + 1)
        } else if rest.starts_with(b"<?") {
            // `<?>` ends at its `>`; otherwise quick-xml found no `?>`.
            (read_to > lt && read_to < b.len()).then_some(read_to)
        } else if rest.starts_with(b"</") {
            // To the first `>`, or the end of the text.
            let gt = find_from(b, lt, b">");
            let end = gt.map_or(b.len(), |g| g + 1);
            let name_end = (lt + 2..gt.unwrap_or(b.len()))
                .find(|&j| {
                    b.get(j)
                        .is_some_and(|&c| c.is_ascii_whitespace() || c == b'>')
                })
                .unwrap_or(gt.unwrap_or(b.len()));
            self.tags.push(Tag {
                start: lt,
                end,
                kind: TagKind::Close,
                name: lt + 2..name_end,
                attrs: Vec::new(),
            });
            gt.map(|_| end)
        } else if rest.starts_with(b"<") {
            match rest.get(1) {
                // A lone `<` (at the end, or before a space or `>`) is text.
                None => None,
                Some(c) if c.is_ascii_whitespace() || *c == b'>' => Some(lt + 1),
                // A start tag with an unclosed quote: where a browser ends it.
                Some(_) => {
                    let end = html_tag_end(b, lt);
                    self.raw_start_tag(text, lt, end.unwrap_or(b.len()));
                    end
                }
            }
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::fetch::Validators;
    use chrono::TimeZone;

    fn page(url: &str, body: &str) -> Page {
        page_bytes(url, body.as_bytes().to_vec(), None)
    }

    fn page_bytes(url: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Page {
        Page {
            bytes,
            content_type: content_type.map(str::to_string),
            url: Url::parse(url).expect("test url"),
            validators: Validators::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("now")
    }

    fn parse(url: &str, body: &str) -> Upstream {
        parse_upstream(&page(url, body), now()).expect("parses")
    }

    fn at(s: &str) -> Option<DateTime<Utc>> {
        Some(
            DateTime::parse_from_rfc3339(s)
                .expect("test date")
                .with_timezone(&Utc),
        )
    }

    const RSS_091: &str = r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
  "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91">
  <channel>
    <title>Caf&eacute; Notes</title>
    <link>http://cafe.example.com/</link>
    <description>Notes from the caf&eacute;</description>
    <language>en-us</language>
    <item>
      <title>Opening &amp;amp; closing times</title>
      <link>http://cafe.example.com/news/hours.html</link>
      <description>We now open at &lt;b&gt;7&lt;/b&gt;.</description>
    </item>
    <item>
      <title>New menu</title>
      <link>/news/menu.html</link>
    </item>
  </channel>
</rss>
"#;

    #[test]
    fn rss_091() {
        let up = parse("http://cafe.example.com/rss.xml", RSS_091);
        assert_eq!(up.meta.title.as_deref(), Some("Café Notes"));
        assert_eq!(up.meta.description.as_deref(), Some("Notes from the café"));
        assert_eq!(up.meta.link.as_deref(), Some("http://cafe.example.com/"));
        assert_eq!(up.meta.language.as_deref(), Some("en-us"));
        assert_eq!(up.items.len(), 2);
        let a = &up.items[0];
        assert_eq!(a.guid(), "http://cafe.example.com/news/hours.html");
        assert!(a.permalink);
        assert_eq!(a.title(), Some("Opening & closing times"));
        assert_eq!(a.summary(), Some("We now open at <b>7</b>."));
        assert!(a.summary_html);
        assert_eq!(a.published, None);
        assert!(!a.published_relative);
        let b = &up.items[1];
        assert_eq!(b.link(), Some("http://cafe.example.com/news/menu.html"));
        assert_eq!(b.guid(), "http://cafe.example.com/news/menu.html");
        assert!(up.warnings.is_empty(), "{:?}", up.warnings);
    }

    const RSS_10: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF
  xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://journal.example.org/">
    <title>The Journal</title>
    <link>https://journal.example.org/</link>
    <description>Articles</description>
    <dc:language>de</dc:language>
    <items>
      <rdf:Seq>
        <rdf:li rdf:resource="https://journal.example.org/a/1"/>
        <rdf:li rdf:resource="https://journal.example.org/a/2"/>
      </rdf:Seq>
    </items>
  </channel>
  <item rdf:about="https://journal.example.org/a/1">
    <title>First article</title>
    <link>https://journal.example.org/a/1?from=rss</link>
    <description>Short &lt;i&gt;text&lt;/i&gt;</description>
    <dc:creator>Anna Beispiel</dc:creator>
    <dc:date>2024-05-01T09:30:00+02:00</dc:date>
    <dc:subject>Science</dc:subject>
  </item>
  <item rdf:about="https://journal.example.org/a/2">
    <title>Second article</title>
    <link>https://journal.example.org/a/2</link>
    <dc:creator>Bernd Muster</dc:creator>
    <dc:date>2024-05-02</dc:date>
    <content:encoded><![CDATA[<p>Full <a href="/a/2#more">text</a></p>]]></content:encoded>
  </item>
</rdf:RDF>
"#;

    #[test]
    fn rss_10_rdf() {
        let up = parse("https://journal.example.org/rss", RSS_10);
        assert_eq!(up.meta.title.as_deref(), Some("The Journal"));
        assert_eq!(
            up.meta.link.as_deref(),
            Some("https://journal.example.org/")
        );
        assert_eq!(up.meta.language.as_deref(), Some("de"));
        assert_eq!(up.items.len(), 2);
        let a = &up.items[0];
        assert_eq!(a.guid(), "https://journal.example.org/a/1");
        assert_eq!(a.link(), Some("https://journal.example.org/a/1?from=rss"));
        assert!(!a.permalink);
        assert_eq!(a.authors(), vec!["Anna Beispiel".to_string()]);
        assert_eq!(a.published, at("2024-05-01T07:30:00Z"));
        assert_eq!(a.summary(), Some("Short <i>text</i>"));
        let b = &up.items[1];
        assert_eq!(b.guid(), "https://journal.example.org/a/2");
        assert!(b.permalink);
        assert_eq!(b.published, at("2024-05-02T00:00:00Z"));
        assert_eq!(b.authors(), vec!["Bernd Muster".to_string()]);
        assert_eq!(
            b.summary(),
            Some(
                r#"<p>Full <a href="https://journal.example.org/a/2#more" rel="noopener noreferrer">text</a></p>"#
            )
        );
    }

    const RSS_20: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:atom="http://www.w3.org/2005/Atom"
  xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>Harbour News</title>
    <link>https://news.example.net/</link>
    <atom:link href="https://news.example.net/feed/" rel="self" type="application/rss+xml"/>
    <description>Daily &lt;em&gt;harbour&lt;/em&gt; news</description>
    <language>en-GB</language>
    <item>
      <title>Ferry timetable changes</title>
      <link>https://news.example.net/2024/06/ferry/</link>
      <guid isPermaLink="false">news-4711</guid>
      <pubDate>Mon, 03 Jun 2024 08:15:00 +0100</pubDate>
      <author>editor@example.net (Ed Itor)</author>
      <dc:creator>Ed Itor</dc:creator>
      <category>Transport</category>
      <category>Ferries</category>
      <description>The ferry runs later.</description>
      <content:encoded><![CDATA[<p>The <a href="timetable.pdf">new timetable</a> starts Monday.</p><img src="/img/ferry.jpg"><script>alert("x")</script>]]></content:encoded>
      <media:thumbnail url="/img/ferry-thumb.jpg" width="120" height="80"/>
    </item>
    <item>
      <title>Harbour festival</title>
      <link>https://news.example.net/2024/06/festival/</link>
      <guid>https://news.example.net/2024/06/festival/</guid>
      <pubDate>Sun, 02 Jun 2024 18:00:00 GMT</pubDate>
      <enclosure url="https://cdn.example.net/festival.jpg" type="image/jpeg" length="1234"/>
    </item>
    <item>
      <title>Without a guid</title>
      <link>https://news.example.net/2024/06/plain/</link>
    </item>
    <item>
      <description>A note with neither guid nor link nor title.</description>
      <pubDate>Sat, 01 Jun 2024 10:00:00 GMT</pubDate>
    </item>
    <item>
      <guid>https://news.example.net/2024/06/guid-only/</guid>
      <title>Guid only</title>
    </item>
  </channel>
</rss>
"#;

    #[test]
    fn rss_20_content_guids_and_images() {
        let up = parse("https://news.example.net/feed/", RSS_20);
        assert_eq!(up.meta.title.as_deref(), Some("Harbour News"));
        assert_eq!(up.meta.description.as_deref(), Some("Daily harbour news"));
        assert_eq!(up.meta.link.as_deref(), Some("https://news.example.net/"));
        assert_eq!(up.meta.language.as_deref(), Some("en-gb"));
        assert_eq!(up.items.len(), 5);

        let a = &up.items[0];
        assert_eq!(a.guid(), "news-4711");
        assert!(!a.permalink);
        assert_eq!(a.link(), Some("https://news.example.net/2024/06/ferry/"));
        assert_eq!(a.title(), Some("Ferry timetable changes"));
        assert_eq!(a.published, at("2024-06-03T07:15:00Z"));
        assert_eq!(a.authors(), vec!["Ed Itor".to_string()]);
        assert_eq!(
            a.categories(),
            vec!["Transport".to_string(), "Ferries".to_string()]
        );
        assert_eq!(
            a.image(),
            Some("https://news.example.net/img/ferry-thumb.jpg")
        );
        let s = a.summary().expect("summary");
        assert!(a.summary_html);
        assert!(
            s.contains(r#"href="https://news.example.net/feed/timetable.pdf""#),
            "{s}"
        );
        assert!(
            s.contains(r#"src="https://news.example.net/img/ferry.jpg""#),
            "{s}"
        );
        assert!(!s.contains("script") && !s.contains("alert"), "{s}");

        let b = &up.items[1];
        assert_eq!(b.guid(), "https://news.example.net/2024/06/festival/");
        assert!(b.permalink);
        assert_eq!(b.image(), Some("https://cdn.example.net/festival.jpg"));
        assert_eq!(b.published, at("2024-06-02T18:00:00Z"));

        let c = &up.items[2];
        assert_eq!(c.guid(), "https://news.example.net/2024/06/plain/");
        assert!(c.permalink);

        let d = &up.items[3];
        assert!(d.guid().starts_with("urn:uuid:"), "{}", d.guid());
        assert!(
            d.legacy_guid().is_some_and(|g| g.starts_with("pagefeed:")),
            "{:?}",
            d.legacy_guid()
        );
        assert_eq!(d.title(), None);
        assert_eq!(d.link(), None);
        assert_eq!(
            d.summary(),
            Some("A note with neither guid nor link nor title.")
        );

        let e = &up.items[4];
        assert_eq!(e.guid(), "https://news.example.net/2024/06/guid-only/");
        assert_eq!(
            e.link(),
            Some("https://news.example.net/2024/06/guid-only/")
        );
        assert!(e.permalink);
    }

    #[test]
    fn rss_item_without_guid_gets_a_stable_guid() {
        let one = parse("https://news.example.net/feed/", RSS_20);
        let two = parse("https://news.example.net/feed/", RSS_20);
        assert_eq!(one.items[3].guid(), two.items[3].guid());
        assert_eq!(one.items[2].guid(), two.items[2].guid());
        // And it does not depend on the fetch time.
        let later = parse_upstream(
            &page("https://news.example.net/feed/", RSS_20),
            now() + chrono::Duration::days(3),
        )
        .expect("parses");
        assert_eq!(one.items[3].guid(), later.items[3].guid());
        assert_ne!(one.items[3].guid(), NO_ID);
    }

    #[test]
    fn guid_permalink_false_is_not_a_link() {
        let xml = r#"<rss version="2.0"><channel><title>t</title>
<item><title>x</title><guid isPermaLink="false">https://example.org/id/1</guid></item>
</channel></rss>"#;
        let up = parse("https://example.org/feed", xml);
        assert_eq!(up.items[0].guid(), "https://example.org/id/1");
        assert_eq!(up.items[0].link(), None);
        assert!(!up.items[0].permalink);
    }

    const ATOM_10: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr" xml:base="https://blog.example.fr/">
  <title type="html">Le &lt;em&gt;Blog&lt;/em&gt;</title>
  <subtitle>Notes et billets</subtitle>
  <link rel="self" href="/atom.xml"/>
  <link rel="alternate" type="text/html" href="/"/>
  <id>tag:blog.example.fr,2024:feed</id>
  <updated>2024-07-01T10:00:00Z</updated>
  <author><name>Claire</name><email>claire@example.fr</email></author>
  <entry xml:base="/2024/07/">
    <title>Premier billet</title>
    <link href="premier"/>
    <link rel="replies" href="premier#comments"/>
    <id>tag:blog.example.fr,2024:1</id>
    <published>2024-07-01T08:00:00+02:00</published>
    <updated>2024-07-01T09:00:00+02:00</updated>
    <category term="notes" label="Notes"/>
    <category term="misc"/>
    <summary>Résumé</summary>
    <content type="xhtml">
      <div xmlns="http://www.w3.org/1999/xhtml">
        <p>Voir <a href="images/">les images</a> <img src="photo.jpg" alt="photo"/></p>
        <script>bad()</script>
      </div>
    </content>
  </entry>
  <entry>
    <title type="text">A &lt; B</title>
    <link rel="alternate" href="https://blog.example.fr/2024/06/second"/>
    <id>https://blog.example.fr/2024/06/second</id>
    <updated>2024-06-15T12:00:00Z</updated>
    <author><name>Denis</name></author>
    <content type="text">Just text &amp; more.</content>
  </entry>
</feed>
"#;

    #[test]
    fn atom_10_xhtml_and_xml_base() {
        let up = parse("https://blog.example.fr/feeds/atom.xml", ATOM_10);
        assert_eq!(up.meta.title.as_deref(), Some("Le Blog"));
        assert_eq!(up.meta.description.as_deref(), Some("Notes et billets"));
        assert_eq!(up.meta.link.as_deref(), Some("https://blog.example.fr/"));
        assert_eq!(up.meta.language.as_deref(), Some("fr"));
        assert_eq!(up.items.len(), 2);

        let a = &up.items[0];
        assert_eq!(a.guid(), "tag:blog.example.fr,2024:1");
        assert!(!a.permalink);
        assert_eq!(a.link(), Some("https://blog.example.fr/2024/07/premier"));
        assert_eq!(a.title(), Some("Premier billet"));
        assert_eq!(a.published, at("2024-07-01T06:00:00Z"));
        assert_eq!(a.authors(), vec!["Claire".to_string()]);
        assert_eq!(
            a.categories(),
            vec!["Notes".to_string(), "misc".to_string()]
        );
        let s = a.summary().expect("summary");
        assert!(a.summary_html);
        assert!(s.starts_with("<p>"), "{s}");
        assert!(!s.contains("<div"), "{s}");
        assert!(
            s.contains(r#"href="https://blog.example.fr/2024/07/images/""#),
            "{s}"
        );
        assert!(
            s.contains(r#"src="https://blog.example.fr/2024/07/photo.jpg""#),
            "{s}"
        );
        assert!(!s.contains("script") && !s.contains("bad()"), "{s}");

        let b = &up.items[1];
        assert_eq!(b.guid(), "https://blog.example.fr/2024/06/second");
        assert!(b.permalink);
        assert_eq!(b.title(), Some("A < B"));
        assert_eq!(b.published, at("2024-06-15T12:00:00Z"));
        assert_eq!(b.authors(), vec!["Denis".to_string()]);
        assert_eq!(b.summary(), Some("Just text & more."));
        assert!(!b.summary_html);
    }

    const ATOM_03: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#" xml:lang="en">
  <title mode="escaped" type="text/html">Old &lt;b&gt;Blog&lt;/b&gt;</title>
  <tagline type="text/plain">Since 2004</tagline>
  <link rel="alternate" type="text/html" href="http://old.example.com/"/>
  <modified>2004-05-01T14:00:00Z</modified>
  <author><name>Mark</name></author>
  <entry>
    <title type="text/plain" mode="escaped">First post</title>
    <link rel="alternate" type="text/html" href="http://old.example.com/2004/05/first"/>
    <id>tag:old.example.com,2004:1</id>
    <issued>2004-05-01T10:00:00-04:00</issued>
    <modified>2004-05-01T14:00:00Z</modified>
    <created>2004-04-30T10:00:00Z</created>
    <content type="application/xhtml+xml" mode="xml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Hello <a href="/x">there</a></p></div></content>
  </entry>
  <entry>
    <title>Second</title>
    <link rel="alternate" type="text/html" href="http://old.example.com/2004/05/second"/>
    <id>tag:old.example.com,2004:2</id>
    <issued>2004-05-02T10:00:00</issued>
    <modified>2004-05-03T10:00:00Z</modified>
    <summary type="text/plain">Plain summary</summary>
    <content type="image/png" mode="base64">iVBORw0KGgo=</content>
  </entry>
</feed>
"#;

    #[test]
    fn atom_03() {
        let up = parse("http://old.example.com/atom.xml", ATOM_03);
        assert_eq!(up.meta.title.as_deref(), Some("Old Blog"));
        assert_eq!(up.meta.description.as_deref(), Some("Since 2004"));
        assert_eq!(up.meta.link.as_deref(), Some("http://old.example.com/"));
        assert_eq!(up.items.len(), 2);
        let a = &up.items[0];
        assert_eq!(a.guid(), "tag:old.example.com,2004:1");
        assert_eq!(a.title(), Some("First post"));
        assert_eq!(a.link(), Some("http://old.example.com/2004/05/first"));
        assert_eq!(a.published, at("2004-05-01T14:00:00Z"));
        assert_eq!(a.authors(), vec!["Mark".to_string()]);
        assert_eq!(
            a.summary(),
            Some(
                r#"<p>Hello <a href="http://old.example.com/x" rel="noopener noreferrer">there</a></p>"#
            )
        );
        let b = &up.items[1];
        assert_eq!(b.guid(), "tag:old.example.com,2004:2");
        // No zone: read as UTC.
        assert_eq!(b.published, at("2004-05-02T10:00:00Z"));
        assert_eq!(b.summary(), Some("Plain summary"));
        assert!(!b.summary_html);
    }

    const JSON_11: &str = r#"{
  "version": "https://jsonfeed.org/version/1.1",
  "title": "Pod & Blog",
  "home_page_url": "https://pod.example.com/",
  "feed_url": "https://pod.example.com/feed.json",
  "description": "Things we like",
  "language": "en",
  "authors": [{"name": "Feed Author"}],
  "items": [
    {
      "id": "2024-001",
      "url": "/posts/one",
      "title": "One & only",
      "content_html": "<p>Hi <a href=\"/about\">us</a><script>x()</script></p>",
      "content_text": "Hi us",
      "summary": "A greeting",
      "image": "/images/one.png",
      "date_published": "2024-08-01T10:00:00-07:00",
      "date_modified": "2024-08-02T10:00:00Z",
      "authors": [{"name": "Jo"}, {"name": "Sam", "url": "https://sam.example"}, {"name": "Jo"}],
      "tags": ["rust", "feeds", "rust"]
    },
    {
      "id": 42,
      "url": "https://pod.example.com/posts/two",
      "content_text": "Plain text only",
      "date_modified": "2024-07-01T00:00:00Z"
    },
    {
      "id": "2024-001",
      "url": "https://pod.example.com/posts/dup",
      "title": "Duplicate id"
    }
  ]
}"#;

    #[test]
    fn json_feed_11() {
        let up = parse("https://pod.example.com/feed.json", JSON_11);
        assert_eq!(up.meta.title.as_deref(), Some("Pod & Blog"));
        assert_eq!(up.meta.description.as_deref(), Some("Things we like"));
        assert_eq!(up.meta.link.as_deref(), Some("https://pod.example.com/"));
        assert_eq!(up.meta.language.as_deref(), Some("en"));
        assert_eq!(up.items.len(), 2, "{:?}", up.items);
        let a = &up.items[0];
        assert_eq!(a.guid(), "2024-001");
        assert!(!a.permalink);
        assert_eq!(a.link(), Some("https://pod.example.com/posts/one"));
        assert_eq!(a.title(), Some("One & only"));
        assert_eq!(a.published, at("2024-08-01T17:00:00Z"));
        assert_eq!(a.authors(), vec!["Jo".to_string(), "Sam".to_string()]);
        assert_eq!(
            a.categories(),
            vec!["rust".to_string(), "feeds".to_string()]
        );
        assert_eq!(a.image(), Some("https://pod.example.com/images/one.png"));
        assert_eq!(
            a.summary(),
            Some(
                r#"<p>Hi <a href="https://pod.example.com/about" rel="noopener noreferrer">us</a></p>"#
            )
        );
        assert!(a.summary_html);
        let b = &up.items[1];
        assert_eq!(b.guid(), "42");
        assert_eq!(b.title(), None);
        assert_eq!(b.summary(), Some("Plain text only"));
        assert!(!b.summary_html);
        assert_eq!(b.published, at("2024-07-01T00:00:00Z"));
        // Feed-level authors stand in for an item's missing ones.
        assert_eq!(b.authors(), vec!["Feed Author".to_string()]);
        assert!(
            up.warnings.iter().any(|w| w.contains("repeat the id")),
            "{:?}",
            up.warnings
        );
    }

    #[test]
    fn garbage_is_a_parse_error() {
        for body in [
            "",
            "hello, world",
            "<html><body><p>Not a feed</p></body></html>",
            "{\"hello\": 1}",
            "{not json",
            "<rss version=\"2.0\"><channel><title>x</title><item><title>unclosed",
        ] {
            let r = parse_upstream(&page("https://example.org/feed", body), now());
            assert!(matches!(r, Err(UpstreamError::Parse(_))), "{body:?}: {r:?}");
        }
        let r = parse_upstream(
            &page("https://example.org/", "<html><p>x</p></html>"),
            now(),
        );
        let msg = r.expect_err("html").to_string();
        assert!(msg.contains("<html>"), "{msg}");
    }

    #[test]
    fn empty_feed_is_valid() {
        let up = parse(
            "https://example.org/feed",
            r#"<rss version="2.0"><channel><title>Quiet</title><link>https://example.org/</link></channel></rss>"#,
        );
        assert!(up.items.is_empty());
        assert_eq!(up.meta.title.as_deref(), Some("Quiet"));
        let up = parse(
            "https://example.org/feed.json",
            r#"{"version":"https://jsonfeed.org/version/1","title":"Quiet","items":[]}"#,
        );
        assert!(up.items.is_empty());
    }

    #[test]
    fn sloppy_rss_is_tolerated() {
        // No version attribute, a bare ampersand, an unreadable date, an extension element
        // feed-rs refuses, and a thumbnail without media:content.
        let xml = r#"<rss xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Fish & Chips</title>
<item><title>One</title><link>https://example.org/1?a=1&b=2</link><pubDate>sometime soon</pubDate>
<media:title type="fancy">x</media:title><media:thumbnail url="https://example.org/t1.jpg"/></item>
<item><title>Two</title><link>https://example.org/2</link><pubDate>Wed, 25 Aug 2012 10:00:00 EST</pubDate>
<media:title type="fancy">y</media:title></item>
</channel></rss>"#;
        let up = parse("https://example.org/feed", xml);
        assert_eq!(up.meta.title.as_deref(), Some("Fish & Chips"));
        assert_eq!(up.items.len(), 2);
        assert_eq!(up.items[0].link(), Some("https://example.org/1?a=1&b=2"));
        assert_eq!(up.items[0].published, None);
        assert_eq!(up.items[0].image(), Some("https://example.org/t1.jpg"));
        // A wrong weekday (it was a Saturday) does not lose the date.
        assert_eq!(up.items[1].published, at("2012-08-25T15:00:00Z"));
        assert!(
            up.warnings.iter().any(|w| w.contains("sometime soon")),
            "{:?}",
            up.warnings
        );
        assert!(
            up.warnings.iter().any(|w| w.contains("media:title")),
            "{:?}",
            up.warnings
        );
    }

    #[test]
    fn encodings() {
        // Declared ISO-8859-1.
        let mut bytes =
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>Caf".to_vec();
        bytes.push(0xE9);
        bytes.extend_from_slice(b"</title></channel></rss>");
        let up = parse_upstream(
            &page_bytes("https://example.org/f", bytes.clone(), None),
            now(),
        )
        .expect("latin-1");
        assert_eq!(up.meta.title.as_deref(), Some("Café"));
        // Undeclared and not UTF-8: windows-1252, with a warning.
        let decl_end = bytes
            .windows(2)
            .position(|w| w == b"?>")
            .expect("declaration")
            + 2;
        let undeclared = bytes[decl_end..].to_vec();
        let up = parse_upstream(
            &page_bytes("https://example.org/f", undeclared, None),
            now(),
        )
        .expect("guessed");
        assert_eq!(up.meta.title.as_deref(), Some("Café"));
        assert_eq!(up.warnings.len(), 1, "{:?}", up.warnings);
        // UTF-8 with a BOM.
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(
            "<rss version=\"2.0\"><channel><title>Ça</title></channel></rss>".as_bytes(),
        );
        let up =
            parse_upstream(&page_bytes("https://example.org/f", bom, None), now()).expect("bom");
        assert_eq!(up.meta.title.as_deref(), Some("Ça"));
    }

    #[test]
    fn atom_entry_ids_missing_and_duplicated() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><title>No id</title><link href="https://example.org/a"/></entry>
<entry><title>No id, no link</title><updated>2024-01-01T00:00:00Z</updated></entry>
<entry><id>x</id><title>First x</title></entry>
<entry><id>x</id><title>Second x</title></entry>
<entry><id>y</id><summary>Only a summary</summary></entry>
</feed>"#;
        let up = parse("https://example.org/atom", xml);
        let guids: Vec<&str> = up.items.iter().map(|i| i.guid()).collect();
        assert_eq!(guids.len(), 4, "{guids:?}");
        assert_eq!(guids[0], "https://example.org/a");
        assert!(guids[1].starts_with("urn:uuid:"), "{guids:?}");
        assert_eq!(guids[2], "x");
        assert_eq!(up.items[2].title(), Some("First x"));
        assert_eq!(guids[3], "y");
    }

    #[test]
    fn scan_tracks_bases_and_survives_junk() {
        let url = Url::parse("https://example.org/dir/feed").expect("url");
        let text = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b>">]><!-- <entry> --><feed xmlns="http://www.w3.org/2005/Atom" xml:base="sub/"><entry xml:base="/e/"><![CDATA[<entry>]]><id>1</id></entry><entry a='>' b=c><id>2</id></entry></feed>"#;
        let scan = Scan::new(text, &url);
        let entries = scan.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0].base.as_ref().map(Url::as_str),
            Some("https://example.org/e/")
        );
        assert_eq!(
            entries[1].base.as_ref().map(Url::as_str),
            Some("https://example.org/dir/sub/")
        );
        for junk in [
            "<",
            "<<>>",
            "</a></b>",
            "<a b=\"",
            "<!--",
            "<![CDATA[",
            "<a/><b",
            "&&;",
        ] {
            let s = Scan::new(junk, &url);
            let _ = apply_edits(junk, s.repairs());
            let _ = s.entries();
        }
    }

    #[test]
    fn unescape_and_references() {
        assert_eq!(unescape("a&amp;b&#233;&#x41;&bogus;&"), "a&béA&bogus;&");
        assert!(is_reference("&amp; x"));
        assert!(is_reference("&#123;"));
        assert!(!is_reference("&b=2"));
        assert!(!is_reference("& "));
        // Multi-byte text right after a reference.
        let long = format!("&amp;{}", "é".repeat(40));
        assert!(is_reference(&long));
        assert_eq!(unescape(&long), format!("&{}", "é".repeat(40)));
    }

    #[test]
    fn unescaped_html_and_content_variants() {
        let rss = r#"<rss version="2.0"><channel><title>t</title>
<item><title>x</title><link>https://example.org/x</link>
<description>  <p>Unescaped <a href="/y">HTML</a> &amp; more</p></description></item>
</channel></rss>"#;
        let up = parse("https://example.org/feed", rss);
        assert_eq!(
            up.items[0].summary(),
            Some(
                r#"<p>Unescaped <a href="https://example.org/y" rel="noopener noreferrer">HTML</a> &amp; more</p>"#
            )
        );
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><id>1</id><title>xml</title><content type="text/xml"><note><p>hi</p></note></content></entry>
<entry><id>2</id><title>sloppy</title><content type="html">  <p>unescaped <b>html</b></p></content></entry>
<entry><id>3</id><title type="TEXT">src</title><content src="https://a.example/3.html" type="text/html"/><summary type="html">&lt;p&gt;sum&lt;/p&gt;</summary></entry>
</feed>"#;
        let up = parse("https://a.example/atom", atom);
        assert!(up.warnings.is_empty(), "{:?}", up.warnings);
        let s: Vec<Option<&str>> = up.items.iter().map(|i| i.summary()).collect();
        assert_eq!(
            s,
            vec![
                Some("<p>hi</p>"),
                Some("<p>unescaped <b>html</b></p>"),
                Some("<p>sum</p>")
            ]
        );
        assert_eq!(up.items[2].title(), Some("src"));
    }

    #[test]
    fn utf16_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        let xml = r#"<?xml version="1.0" encoding="UTF-16"?><rss version="2.0"><channel><title>Ünï</title><item><title>é</title><link>/x</link></item></channel></rss>"#;
        for c in xml.encode_utf16() {
            bytes.extend_from_slice(&c.to_le_bytes());
        }
        let up = parse_upstream(&page_bytes("https://u.example/feed", bytes, None), now())
            .expect("utf-16");
        assert_eq!(up.meta.title.as_deref(), Some("Ünï"));
        assert_eq!(up.items[0].title(), Some("é"));
        assert_eq!(up.items[0].link(), Some("https://u.example/x"));
    }

    /// (kind, name, text) of every tag.
    fn tags_of(text: &str) -> Vec<(TagKind, &str, &str)> {
        tokenize(text)
            .tags
            .iter()
            .map(|t| {
                (
                    t.kind,
                    text.get(t.name.clone()).unwrap_or("?"),
                    text.get(t.start..t.end).unwrap_or("?"),
                )
            })
            .collect()
    }

    #[test]
    fn tokenizer_reads_on_where_quick_xml_gives_up() {
        use TagKind::{Close, Empty, Open};
        // A lone `<`, a bogus `<!x>`, an empty `<?>`, a quote that opens no value, a
        // byte-order mark where reading resumes, an end tag with a space, a name with a `/`.
        let text = "<a>1 < 2 <!x><b/><?><c alt=don't>\u{feff}<d/></a b><e/f g='h'>&</e/f><?x<i";
        assert_eq!(
            tags_of(text),
            vec![
                (Open, "a", "<a>"),
                (Empty, "b", "<b/>"),
                (Open, "c", "<c alt=don't>"),
                (Empty, "d", "<d/>"),
                (Close, "a", "</a b>"),
                (Open, "e", "<e/f g='h'>"),
                (Close, "e/f", "</e/f>"),
            ]
        );
        let tokens = tokenize(text);
        let attrs: Vec<(&str, &str)> = tokens
            .tags
            .iter()
            .flat_map(|t| t.attrs.iter())
            .map(|(k, v)| (&text[k.clone()], &text[v.clone()]))
            .collect();
        assert_eq!(attrs, vec![("alt", "don't"), ("f", ""), ("g", "h")]);
        // The `&` after `<e/f g='h'>` is bare; none other is.
        assert_eq!(tokens.amps, vec![text.find("&</e").expect("amp")]);
        // A tag whose quote never closes reaches the end of the text, as does one never
        // closed; `<` at the end is text.
        assert_eq!(tags_of("<a b=\"c>d"), vec![(Open, "a", "<a b=\"c>d")]);
        assert_eq!(
            tags_of("<a><i"),
            vec![(Open, "a", "<a>"), (Open, "i", "<i")]
        );
        assert_eq!(tags_of("<a>x<"), vec![(Open, "a", "<a>")]);
        assert_eq!(tokenize("<a>x < & y").amps, vec![7]);
        // Only a well-formed reference of at most 39 characters is one.
        let text = format!("<a>&x y; &amp; &#233; &lt &<b/>&{};</a>", "n".repeat(39));
        assert_eq!(tokenize(&text).amps, vec![3, 22, 26]);
        let text = format!("<a>&{};</a>", "n".repeat(40));
        assert_eq!(tokenize(&text).amps, vec![3]);
    }

    #[test]
    fn ampersands_that_begin_no_reference_are_escaped() {
        let rss = r#"<rss version="2.0"><channel><title>t</title>
<item><title>a &x y; b &amp; c &#233; & d&&e</title><link>https://example.org/2</link></item>
</channel></rss>"#;
        let up = parse("https://example.org/feed", rss);
        assert_eq!(up.items[0].title(), Some("a &x y; b & c é & d&&e"));
    }

    #[test]
    fn unescaped_html_with_stray_quotes_and_bogus_markup() {
        // `alt=don't` must not open a quoted value that runs on to the next apostrophe (in
        // the second item), and `<!x>` must not stop the pre-pass.
        let rss = r#"<rss version="2.0"><channel><title>t</title>
<item><title>One</title><link>https://example.org/1</link>
<description><p>Hi <img alt=don't src="/a.png"><!x></p></description></item>
<item><title>It's two</title><link>https://example.org/2</link>
<description><p>Two</p></description></item>
</channel></rss>"#;
        let up = parse("https://example.org/feed", rss);
        assert_eq!(up.items.len(), 2);
        let s = up.items[0].summary().unwrap_or_default();
        assert!(s.contains("https://example.org/a.png"), "{s}");
        assert_eq!(up.items[1].title(), Some("It's two"));
        assert_eq!(up.items[1].summary(), Some("<p>Two</p>"));
    }
}

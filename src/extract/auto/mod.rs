//! Automatic extraction: finding the lists of entries on a page that has no selectors.
//!
//! Pure: page text and the page's URL in, candidates out, best first. The sources are tried in
//! a fixed order and all candidates are ranked together:
//!
//! 1. feed links the page advertises (`<link rel="alternate" type="application/rss+xml">`, ...),
//!    reported apart from the candidates;
//! 2. schema.org JSON-LD ([`jsonld`]), 3. microdata ([`microdata`]), 4. h-entry microformats
//!    ([`hentry`]), 5. embedded JSON state such as `__NEXT_DATA__` ([`state`]),
//! 6. structural heuristics: repeated sibling elements of one shape ([`heuristic`]).
//!
//! Candidates from microdata, h-entry and the heuristics are CSS selectors: an item selector
//! and FIELD selectors, compiled by [`crate::config`] exactly as a hand-written
//! `[feeds.NAME.items]` block is, so what a candidate shows is what a build with that block
//! produces. Candidates from JSON (JSON-LD, embedded state) carry their entries.
//!
//! Everything here is deterministic: the same page gives the same candidates in the same order.

pub mod hentry;
pub mod heuristic;
pub mod jsonld;
pub mod microdata;
pub mod state;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use scraper::{ElementRef, Html, Selector};
use url::Url;

use crate::extract::select::RawEntry;

/// Where a candidate's entries come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    JsonLd,
    Microdata,
    HEntry,
    State,
    Heuristic,
}

impl Method {
    /// The name shown in `suggest`'s output and in build lines.
    pub fn name(self) -> &'static str {
        match self {
            Method::JsonLd => "json-ld",
            Method::Microdata => "microdata",
            Method::HEntry => "h-entry",
            Method::State => "embedded-json",
            Method::Heuristic => "heuristic",
        }
    }

    /// Structured data the page author wrote for machines weighs more than a guess from the
    /// page's shape.
    fn weight(self) -> f64 {
        match self {
            Method::JsonLd | Method::Microdata | Method::HEntry => 1.5,
            Method::State => 1.2,
            Method::Heuristic => 1.0,
        }
    }
}

/// One FIELD of a candidate, as it is written in the config: a selector and maybe an `attr`.
/// For JSON candidates, `selector` is the JSON key the value was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub selector: String,
    pub attr: Option<String>,
    /// `Some("next")`: the selector is evaluated on the entry's next sibling element.
    pub from: Option<&'static str>,
}

impl FieldSpec {
    pub fn css(selector: &str) -> Self {
        FieldSpec {
            selector: selector.to_string(),
            attr: None,
            from: None,
        }
    }

    pub fn attr(selector: &str, attr: &str) -> Self {
        FieldSpec {
            selector: selector.to_string(),
            attr: Some(attr.to_string()),
            from: None,
        }
    }

    /// The selector evaluated on the entry's next sibling (`from = "next"`).
    pub fn next(selector: &str) -> Self {
        FieldSpec {
            selector: selector.to_string(),
            attr: None,
            from: Some("next"),
        }
    }

    /// The value as TOML: `"h2 a"` or `{ selector = "time", attr = "datetime" }`.
    pub fn to_toml(&self) -> String {
        if self.attr.is_none() && self.from.is_none() {
            return toml_string(&self.selector);
        }
        let mut s = format!("{{ selector = {}", toml_string(&self.selector));
        if let Some(a) = &self.attr {
            s.push_str(&format!(", attr = {}", toml_string(a)));
        }
        if let Some(f) = self.from {
            s.push_str(&format!(", from = {}", toml_string(f)));
        }
        s.push_str(" }");
        s
    }

    /// The value as JSON: a string, or an object with `selector`, `attr`, `from`.
    pub fn to_json(&self) -> serde_json::Value {
        if self.attr.is_none() && self.from.is_none() {
            return serde_json::Value::String(self.selector.clone());
        }
        let mut o = serde_json::Map::new();
        o.insert("selector".into(), self.selector.clone().into());
        if let Some(a) = &self.attr {
            o.insert("attr".into(), a.clone().into());
        }
        if let Some(f) = self.from {
            o.insert("from".into(), f.into());
        }
        serde_json::Value::Object(o)
    }
}

/// A TOML basic string holding `s`.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What a candidate extracts with.
#[derive(Debug, Clone)]
pub enum Extractor {
    /// CSS selectors for the config's extract machinery.
    Selectors,
    /// Entries read from JSON in the page, in page order.
    Entries(Vec<RawEntry>),
}

/// One list of entries found on a page.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub method: Method,
    /// The item selector (for JSON candidates: the element the JSON was read from).
    pub selector: String,
    /// FIELD name and value, in the config's order (title, link, summary, authors, date).
    pub fields: Vec<(&'static str, FieldSpec)>,
    pub score: f64,
    pub extractor: Extractor,
    /// How many entries (with distinct links) the detector saw.
    pub count: usize,
    /// The entries' links as the detector resolved them (for ranking and de-duplication).
    pub links: Vec<String>,
}

impl Candidate {
    /// The `[feeds.NAME.items]` table lines (selector first, then the fields); empty for
    /// JSON candidates, which have no selectors (their feed omits the table).
    pub fn items_toml(&self) -> String {
        match self.extractor {
            Extractor::Entries(_) => String::new(),
            Extractor::Selectors => {
                let mut out = format!("selector = {}\n", toml_string(&self.selector));
                for (k, v) in &self.fields {
                    out.push_str(&format!("{k} = {}\n", v.to_toml()));
                }
                out
            }
        }
    }

    /// One line saying how the entries were found, for build lines.
    pub fn describe(&self) -> String {
        match self.extractor {
            Extractor::Entries(_) => format!("{} from `{}`", self.method.name(), self.selector),
            Extractor::Selectors => {
                let fields: Vec<String> = self
                    .fields
                    .iter()
                    .map(|(k, v)| {
                        let mut d = format!("{k} `{}`", v.selector);
                        if let Some(a) = &v.attr {
                            d.push_str(&format!("@{a}"));
                        }
                        if let Some(f) = v.from {
                            d.push_str(&format!(" (from {f})"));
                        }
                        d
                    })
                    .collect();
                format!(
                    "{}: items `{}`, {}",
                    self.method.name(),
                    self.selector,
                    fields.join(", ")
                )
            }
        }
    }
}

/// A feed the page advertises with `<link rel="alternate">`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLink {
    pub url: String,
    pub kind: String,
    pub title: Option<String>,
}

/// Everything found on one page.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub feed_links: Vec<FeedLink>,
    /// Best first.
    pub candidates: Vec<Candidate>,
}

/// What the detectors share about the page.
pub struct Page<'a> {
    pub doc: &'a Html,
    /// The base relative links resolve against.
    pub base: Url,
    /// The page's host without `www.`, for "a link of the site".
    pub host: Option<String>,
    pub now: DateTime<Utc>,
}

impl Page<'_> {
    pub fn resolve(&self, href: &str) -> Option<String> {
        crate::extract::links::resolve(&self.base, href)
    }

    pub fn same_site(&self, url: &str) -> bool {
        let Some(host) = &self.host else { return false };
        Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(strip_www))
            .is_some_and(|h| h == *host)
    }
}

fn strip_www(h: &str) -> String {
    h.trim_start_matches("www.").to_ascii_lowercase()
}

pub(crate) fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| unreachable!("static selector {s}: {e}"))
}

static BASE: LazyLock<Selector> = LazyLock::new(|| sel("base[href]"));
static ALTERNATE: LazyLock<Selector> = LazyLock::new(|| sel("link[rel][href][type]"));

/// Find the feed links and the lists of entries on `html`, fetched from `page_url`; `site_url`
/// (when given) is what relative links resolve against, as in a build. `now` reads relative
/// dates while choosing a date selector.
pub fn analyze(html: &str, page_url: &Url, site_url: Option<&Url>, now: DateTime<Utc>) -> Analysis {
    let (doc, _report) = crate::extract::parse::document(html);
    analyze_doc(&doc, page_url, site_url, now)
}

/// [`analyze`] on a parsed page.
pub fn analyze_doc(
    doc: &Html,
    page_url: &Url,
    site_url: Option<&Url>,
    now: DateTime<Utc>,
) -> Analysis {
    let base_href = doc
        .select(&BASE)
        .next()
        .and_then(|b| b.attr("href"))
        .map(str::trim);
    let base = crate::extract::links::base_url(page_url, base_href, site_url);
    let host = base.host_str().map(strip_www);
    let page = Page {
        doc,
        base,
        host,
        now,
    };
    let feed_links = feed_links(&page);
    let mut candidates: Vec<Candidate> = Vec::new();
    candidates.extend(jsonld::find(&page));
    candidates.extend(microdata::find(&page));
    candidates.extend(hentry::find(&page));
    candidates.extend(state::find(&page));
    candidates.extend(heuristic::find(&page));
    for c in &mut candidates {
        c.score *= c.method.weight();
        c.score = (c.score * 100.0).round() / 100.0;
    }
    // Best first; ties keep the sources' order, then the detectors' order (stable sort).
    candidates.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.method.cmp(&b.method))
    });
    Analysis {
        feed_links,
        candidates: dedupe(candidates),
    }
}

/// Drop candidates that find (nearly) the same entries as a better one. When the dropped one
/// comes from an earlier source (structured data the site wrote, rather than a guess from the
/// page's shape), it takes the better one's place and score.
fn dedupe(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut kept: Vec<Candidate> = Vec::new();
    for mut c in candidates {
        let same = kept.iter().position(|k| {
            if k.links.is_empty() || c.links.is_empty() {
                return false;
            }
            let shared = c.links.iter().filter(|l| k.links.contains(l)).count();
            shared.saturating_mul(10) >= c.links.len().saturating_mul(9)
                && shared.saturating_mul(10) >= k.links.len().saturating_mul(9)
        });
        match same {
            None => kept.push(c),
            Some(i) => {
                if let Some(k) = kept.get_mut(i)
                    && c.method < k.method
                {
                    c.score = k.score;
                    *k = c;
                }
            }
        }
    }
    kept
}

fn feed_links(page: &Page) -> Vec<FeedLink> {
    let mut out: Vec<FeedLink> = Vec::new();
    for l in page.doc.select(&ALTERNATE) {
        let rel_alternate = l.attr("rel").is_some_and(|r| {
            r.split_ascii_whitespace()
                .any(|t| t.eq_ignore_ascii_case("alternate"))
        });
        let kind = l.attr("type").unwrap_or("").trim().to_ascii_lowercase();
        let kind = kind.split(';').next().unwrap_or("").trim().to_string();
        let is_feed = matches!(
            kind.as_str(),
            "application/rss+xml"
                | "application/atom+xml"
                | "application/feed+json"
                | "application/json"
        );
        // A plain application/json link is a feed only when it says so.
        if !rel_alternate
            || !is_feed
            || (kind == "application/json"
                && !l
                    .attr("title")
                    .unwrap_or("")
                    .to_ascii_lowercase()
                    .contains("feed"))
        {
            continue;
        }
        let Some(url) = l.attr("href").and_then(|h| page.resolve(h.trim())) else {
            continue;
        };
        if out.iter().any(|f| f.url == url) {
            continue;
        }
        out.push(FeedLink {
            url,
            kind,
            title: l
                .attr("title")
                .map(|t| crate::extract::select::collapse(std::iter::once(t)))
                .filter(|t| !t.is_empty()),
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers the detectors share.

/// An element's text, whitespace collapsed (scripts and styles left out).
pub(crate) fn text_of(el: ElementRef) -> String {
    let mut pieces: Vec<&str> = Vec::new();
    for node in el.descendants() {
        if let Some(t) = node.value().as_text() {
            let hidden = node.ancestors().take_while(|a| a.id() != el.id()).any(|a| {
                a.value().as_element().is_some_and(|e| {
                    matches!(e.name(), "script" | "style" | "template" | "noscript")
                })
            });
            if !hidden {
                pieces.push(t);
                pieces.push(" ");
            }
        }
    }
    crate::extract::select::collapse(pieces.into_iter())
}

/// A CSS identifier that can be written as is (no escaping needed).
pub(crate) fn plain_ident(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let first_ok = first.is_ascii_alphabetic() || first == '_' || (first == '-' && s.len() > 1);
    first_ok
        && s.len() <= 60
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !s.starts_with("--")
        && !s.starts_with("-0")
        && !s
            .chars()
            .nth(1)
            .is_some_and(|c| first == '-' && c.is_ascii_digit())
}

/// A CSS string literal in double quotes.
pub(crate) fn css_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string (or the first string of an array) from JSON.
pub(crate) fn json_str(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => {
            let s = crate::extract::select::collapse(std::iter::once(s.as_str()));
            (!s.is_empty()).then_some(s)
        }
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Array(a) => a.iter().find_map(|x| json_str(Some(x))),
        serde_json::Value::Object(o) => json_str(o.get("name").or_else(|| o.get("@id"))),
        _ => None,
    }
}

/// Names from a JSON author value: a string, a Person object, or an array of those.
pub(crate) fn json_names(v: Option<&serde_json::Value>) -> Vec<String> {
    let mut out = Vec::new();
    match v {
        Some(serde_json::Value::Array(a)) => {
            for x in a {
                for n in json_names(Some(x)) {
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
        Some(serde_json::Value::Object(o)) => {
            if let Some(n) = json_str(o.get("name")) {
                out.push(n);
            }
        }
        Some(serde_json::Value::String(s)) => {
            let s = crate::extract::select::collapse(std::iter::once(s.as_str()));
            if !s.is_empty() {
                out.push(s);
            }
        }
        _ => {}
    }
    out
}

/// Score entries read from JSON or found by itemprop/h-entry selectors: how many there are
/// with distinct links, weighed by how headline-like their titles are. `None` when fewer than two distinct entries.
pub(crate) fn score_entries(page: &Page, entries: &[RawEntry]) -> Option<(f64, Vec<String>)> {
    let mut links: Vec<String> = Vec::new();
    let mut score = 0.0;
    for e in entries {
        let Some(link) = e.link().and_then(|l| page.resolve(l)) else {
            continue;
        };
        if links.contains(&link) {
            continue;
        }
        let len = e.title().map_or(0, |t| t.chars().count());
        let mut q = heuristic::headline_quality(len, e.title().unwrap_or(""));
        if e.date().is_some() {
            q *= 1.25;
        }
        score += q;
        links.push(link);
    }
    if links.len() < 2 {
        return None;
    }
    // As the heuristics score: the mean quality times the square root of the count.
    let n = f64::from(u32::try_from(links.len()).unwrap_or(u32::MAX));
    Some((score / n.sqrt(), links))
}

/// Compile an item selector and FIELDs exactly as the config compiles a hand-written
/// `[feeds.NAME.items]` table.
pub fn compile(
    selector: &str,
    fields: &[(&'static str, FieldSpec)],
) -> Result<crate::config::ItemRules, String> {
    let mut text =
        String::from("[feeds.auto]\nurl = \"https://example.invalid/\"\n[feeds.auto.items]\n");
    text.push_str(&format!("selector = {}\n", toml_string(selector)));
    for (k, v) in fields {
        text.push_str(&format!("{k} = {}\n", v.to_toml()));
    }
    let config = crate::config::parse(std::path::Path::new("suggested.toml"), &text)
        .map_err(|e| e.to_string())?;
    config
        .feeds
        .first()
        .and_then(|f| f.items())
        .cloned()
        .ok_or_else(|| "the generated block has no items table".to_string())
}

/// A candidate of CSS selectors, scored by what the config's extract machinery finds with them.
pub(crate) fn selector_candidate(
    page: &Page,
    method: Method,
    selector: String,
    fields: Vec<(&'static str, FieldSpec)>,
) -> Option<Candidate> {
    let rules = compile(&selector, &fields).ok()?;
    let ex = crate::extract::select::extract_from(page.doc, &rules);
    let (score, links) = score_entries(page, &ex.entries)?;
    Some(Candidate {
        method,
        selector,
        fields,
        score,
        extractor: Extractor::Selectors,
        count: links.len(),
        links,
    })
}

/// Of `choices`, the first selector that something in at least half of `items` matches.
pub(crate) fn common_field<'a>(items: &[ElementRef], choices: &[&'a str]) -> Option<&'a str> {
    let need = items.len().div_ceil(2);
    choices.iter().copied().find(|c| {
        Selector::parse(c).ok().is_some_and(|s| {
            items
                .iter()
                .filter(|i| i.select(&s).next().is_some())
                .count()
                >= need
        })
    })
}

/// The items of a feed without `[feeds.NAME.items]`: the page's best candidate, extracted
/// as a build with its block would (same page, same items and GUIDs). Returns the items and a
/// line saying which method and selectors were used.
pub fn scrape(
    feed: &crate::config::FeedConfig,
    page: &crate::source::fetch::Page,
    now: DateTime<Utc>,
) -> Result<(crate::extract::scrape::Scraped, String), crate::extract::scrape::ScrapeError> {
    let shown_url = crate::extract::scrape::shown_url(feed, page);
    if let Some(msg) = crate::source::sniff::not_html(page, &shown_url, "an HTML page", "url") {
        return Err(crate::extract::scrape::ScrapeError::NotHtml(msg));
    }
    let (html, _encoding) =
        crate::source::decode::decode(&page.bytes, page.content_type.as_deref());
    let (doc, report) = crate::extract::parse::document(&html);
    drop(html);
    let analysis = analyze_doc(&doc, &page.url, feed.site_url.as_ref(), now);
    let nothing = || crate::extract::scrape::ScrapeError::NothingFound {
        feed: feed.name.clone(),
        url: shown_url.clone(),
    };
    let best = analysis.candidates.into_iter().next().ok_or_else(nothing)?;
    let how = best.describe();
    let scraped = candidate_items(feed, &best, &doc, report, page, now)?;
    Ok((scraped, how))
}

/// The items `candidate` gives on a page of `feed`: for selector candidates, exactly what a
/// build with its `[feeds.NAME.items]` block produces.
pub fn candidate_items(
    feed: &crate::config::FeedConfig,
    candidate: &Candidate,
    doc: &Html,
    report: crate::extract::parse::Report,
    page: &crate::source::fetch::Page,
    now: DateTime<Utc>,
) -> Result<crate::extract::scrape::Scraped, crate::extract::scrape::ScrapeError> {
    match &candidate.extractor {
        Extractor::Selectors => {
            let rules = compile(&candidate.selector, &candidate.fields).map_err(|_| {
                crate::extract::scrape::ScrapeError::NothingFound {
                    feed: feed.name.clone(),
                    url: page.url.to_string(),
                }
            })?;
            let mut extraction = crate::extract::select::extract_from(doc, &rules);
            extraction.parse = report;
            crate::extract::scrape::normalize(
                feed,
                crate::extract::scrape::FoundBy::rules(&rules),
                extraction,
                page,
                now,
                crate::extract::scrape::Keep::Detail,
            )
        }
        Extractor::Entries(entries) => {
            let extraction = crate::extract::select::Extraction {
                page: crate::extract::select::page_info(doc),
                matched: entries.len(),
                kept: entries.len(),
                entries: entries.clone(),
                counts: crate::extract::select::FieldCounts::default(),
                parse: report,
                ..Default::default()
            };
            crate::extract::scrape::normalize(
                feed,
                crate::extract::scrape::FoundBy {
                    selector: &candidate.selector,
                    title: candidate.method.name(),
                    summary_html: false,
                },
                extraction,
                page,
                now,
                crate::extract::scrape::Keep::Detail,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn feed_links_come_resolved_and_once() {
        let html = r#"<html><head>
            <link rel="alternate" type="application/rss+xml" title="Posts" href="/feed.xml">
            <link rel="alternate" type="application/atom+xml" href="atom.xml">
            <link rel="alternate" type="application/rss+xml" href="/feed.xml">
            <link rel="stylesheet" type="text/css" href="/s.css">
            <link rel="alternate" type="application/json" href="/data.json">
            </head><body></body></html>"#;
        let a = analyze(html, &url("https://ex.org/blog/"), None, now());
        let got: Vec<(&str, &str)> = a
            .feed_links
            .iter()
            .map(|f| (f.url.as_str(), f.kind.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("https://ex.org/feed.xml", "application/rss+xml"),
                ("https://ex.org/blog/atom.xml", "application/atom+xml"),
            ]
        );
        assert_eq!(a.feed_links[0].title.as_deref(), Some("Posts"));
    }

    #[test]
    fn toml_values_are_quoted() {
        assert_eq!(toml_string("a \"b\" \\ c"), r#""a \"b\" \\ c""#);
        assert_eq!(
            FieldSpec::attr("a[title=\"x\"]", "href").to_toml(),
            r#"{ selector = "a[title=\"x\"]", attr = "href" }"#
        );
    }

    #[test]
    fn identifiers() {
        assert!(plain_ident("post-list"));
        assert!(plain_ident("_x1"));
        assert!(!plain_ident("1x"));
        assert!(!plain_ident("a:b"));
        assert!(!plain_ident("-1"));
        assert!(!plain_ident(""));
    }
}

//! `pagefeed preview` beyond the table: the list of a config's feeds, one entry shown whole
//! with the HTML element each field came from (`--entry N`), and every entry as JSON
//! (`--json`).
//!
//! The table of [`crate::preview`] cuts long values to fit a terminal; here nothing is cut but
//! the element excerpts, so a selector author can see exactly what a field took and from where.

use std::fmt::Write;

use ego_tree::iter::Edge;
use scraper::{ElementRef, Node};
use serde_json::{Value, json};

use crate::config::{Config, FeedConfig, FeedKind, Field, ItemRules};
use crate::extract::scrape::Scraped;
use crate::extract::select::{self, FIELD_NAMES};
use crate::source::fetch::Page;

/// How many characters of a matched element's outer HTML are shown.
pub const EXCERPT_CHARS: usize = 200;

/// A feed's kind as the list shows it.
fn kind(feed: &FeedConfig) -> &'static str {
    match feed.kind {
        FeedKind::Scrape { .. } => "page",
        FeedKind::Upstream { .. } => "feed",
        FeedKind::Merge { .. } => "merge",
    }
}

/// Where a feed comes from: its page or feed URL (or file), or the feeds it merges.
fn origin(feed: &FeedConfig) -> String {
    match feed.source() {
        Some(s) => s.to_string(),
        None => format!("merges {}", feed.merge_sources().join(", ")),
    }
}

/// The feeds of `config` as a table: name, kind, url.
pub fn list(config: &Config) -> String {
    let width = config
        .feeds
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(out, "{:<width$}  {:<5}  URL", "FEED", "KIND");
    for f in &config.feeds {
        let _ = writeln!(out, "{:<width$}  {:<5}  {}", f.name, kind(f), origin(f));
    }
    let _ = writeln!(
        out,
        "\n{} feeds in {}; `pagefeed preview FEED` shows what a page feed's selectors find",
        config.feeds.len(),
        config.path.display()
    );
    out
}

/// The feeds of `config` as JSON: `{"feeds": [{"name", "kind", "url", "merge"}]}`.
pub fn list_json(config: &Config) -> Value {
    let feeds: Vec<Value> = config
        .feeds
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "kind": kind(f),
                "url": f.source().map(|s| s.to_string()),
                "merge": f.merge_sources(),
            })
        })
        .collect();
    json!({ "feeds": feeds })
}

/// One field of one entry: its value as the feed will have it and the element it came from.
#[derive(Debug, Clone)]
pub struct FieldDetail {
    pub name: &'static str,
    /// The configured selector; `None` for a field the config does not set.
    pub selector: Option<String>,
    /// The value (a string, a list of strings, or null).
    pub value: Value,
    /// For `date`: the text the date was read from.
    pub text: Option<String>,
    /// The start of the outer HTML of the element the value came from.
    pub element: Option<String>,
}

/// One entry, whole.
#[derive(Debug, Clone)]
pub struct EntryDetail {
    pub guid: String,
    /// The start of the outer HTML of the element the item selector matched.
    pub element: String,
    pub fields: Vec<FieldDetail>,
}

/// The configured FIELD `name` of `rules`.
fn field_of<'a>(rules: &'a ItemRules, name: &str) -> Option<&'a Field> {
    match name {
        "title" => Some(&rules.title),
        "link" => rules.link.as_ref(),
        "summary" => rules.summary.as_ref(),
        "authors" => rules.authors.as_ref(),
        "date" => rules.date.as_ref(),
        "image" => rules.image.as_ref(),
        "categories" => rules.categories.as_ref(),
        "guid" => rules.guid.as_ref(),
        _ => None,
    }
}

/// "`h2 a` attr href", for the terminal.
fn selector_of(rules: &ItemRules, name: &str) -> Option<String> {
    let f = field_of(rules, name)?;
    let mut s = format!("`{}`", f.selector_text);
    if let Some(a) = &f.attr {
        s.push_str(&format!(" attr {a}"));
    }
    Some(s)
}

/// Every item of `scraped` with its fields and the elements they came from. `page` is the
/// page `scraped` was made from (it is parsed again, to find the elements).
pub fn details(rules: &ItemRules, page: &Page, scraped: &Scraped) -> Vec<EntryDetail> {
    let (html, _) = crate::source::decode::decode(&page.bytes, page.content_type.as_deref());
    let (doc, _) = crate::extract::parse::document(&html);
    let elements = select::entry_elements(&doc, rules);
    scraped
        .items
        .iter()
        .zip(&scraped.entry_index)
        .zip(&scraped.date_texts)
        .map(|((item, &index), date_text)| {
            let found = elements.get(index);
            let element_of = |n: usize| {
                found
                    .and_then(|e| e.fields.get(n).copied().flatten())
                    .map(|el| excerpt(el, EXCERPT_CHARS))
            };
            let text = |v: Option<&str>| v.map_or(Value::Null, |s| json!(s));
            let list = |v: crate::feed::pack::List<'_>| json!(v.collect::<Vec<_>>());
            let values: [Value; 8] = [
                text(item.title()),
                text(item.link()),
                text(item.summary()),
                list(item.authors()),
                item.published
                    .map_or(Value::Null, |d| json!(d.to_rfc3339())),
                text(item.image()),
                list(item.categories()),
                json!(item.guid()),
            ];
            let fields = FIELD_NAMES
                .iter()
                .zip(values)
                .enumerate()
                .map(|(n, (name, value))| FieldDetail {
                    name,
                    selector: selector_of(rules, name),
                    value,
                    text: (*name == "date").then(|| date_text.clone()).flatten(),
                    element: element_of(n),
                })
                .collect();
            EntryDetail {
                guid: item.guid().to_string(),
                element: found.map_or_else(String::new, |e| excerpt(e.entry, EXCERPT_CHARS)),
                fields,
            }
        })
        .collect()
}

/// `--entry N` past the entries of the page.
#[derive(Debug, thiserror::Error)]
#[error("feed {feed} has {count} entries on {url}; --entry takes a number from 1 to {count}")]
pub struct NoSuchEntry {
    pub feed: String,
    pub count: usize,
    pub url: String,
}

/// Entry `n` (1-based) whole, for the terminal.
pub fn entry(
    feed: &FeedConfig,
    rules: &ItemRules,
    scraped: &Scraped,
    details: &[EntryDetail],
    n: usize,
) -> Result<String, NoSuchEntry> {
    let Some(d) = n.checked_sub(1).and_then(|i| details.get(i)) else {
        return Err(NoSuchEntry {
            feed: feed.name.clone(),
            count: details.len(),
            url: feed
                .source()
                .map_or_else(|| scraped.site.to_string(), |s| s.to_string()),
        });
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "feed {}: entry {n} of {} (item selector `{}`)",
        feed.name,
        details.len(),
        rules.selector_text
    );
    let _ = writeln!(out, "element: {}", d.element);
    for f in &d.fields {
        let _ = writeln!(out);
        let value = match &f.value {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            Value::Array(a) if a.is_empty() => "-".to_string(),
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join(" | "),
            other => other.to_string(),
        };
        // A date in the feed's time zone, as the table shows it.
        let value = match (&f.value, f.name) {
            (Value::String(d), "date") => chrono::DateTime::parse_from_rfc3339(d)
                .map(|d| {
                    d.with_timezone(&feed.time_zone)
                        .format("%Y-%m-%d %H:%M %:z")
                        .to_string()
                })
                .unwrap_or(value),
            _ => value,
        };
        let value = value.replace('\n', "\n             ");
        let _ = writeln!(out, "{:<12} {value}", f.name);
        if let Some(t) = &f.text {
            let _ = writeln!(out, "{:<12} read from the text \"{t}\"", "");
        }
        match (&f.selector, &f.element) {
            (Some(s), Some(el)) => {
                let _ = writeln!(out, "{:<12} from {s}: {el}", "");
            }
            (Some(s), None) => {
                let _ = writeln!(out, "{:<12} {s} matched nothing in this entry", "");
            }
            (None, Some(el)) => {
                let _ = writeln!(out, "{:<12} (not configured; the first link): {el}", "");
            }
            (None, None) if f.name == "guid" => {
                let _ = writeln!(
                    out,
                    "{:<12} (not configured; the link, else made from title and date)",
                    ""
                );
            }
            (None, None) => {
                let _ = writeln!(out, "{:<12} (not configured)", "");
            }
        }
    }
    Ok(out)
}

/// Every entry with its fields, the elements they came from and each field's coverage.
pub fn json(
    feed: &FeedConfig,
    rules: &ItemRules,
    scraped: &Scraped,
    details: &[EntryDetail],
) -> Value {
    let entries: Vec<Value> = details
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let fields: serde_json::Map<String, Value> = d
                .fields
                .iter()
                .map(|f| {
                    let mut o = json!({
                        "value": f.value,
                        "selector": f.selector.as_ref().map(|_| selector_text(rules, f.name)),
                        "element": f.element,
                    });
                    if f.name == "date" {
                        o["text"] = json!(f.text);
                    }
                    (f.name.to_string(), o)
                })
                .collect();
            json!({
                "n": i + 1,
                "guid": d.guid,
                "element": d.element,
                "fields": fields,
            })
        })
        .collect();
    json!({
        "feed": feed.name,
        "url": feed.source().map(|s| s.to_string()),
        "site": scraped.site.as_str(),
        "selector": rules.selector_text,
        "matched": scraped.extraction.matched,
        "duplicates": scraped.duplicates,
        "coverage": coverage_json(rules, scraped),
        "warnings": scraped.warnings,
        "entries": entries,
    })
}

fn selector_text(rules: &ItemRules, name: &str) -> Option<String> {
    field_of(rules, name).map(|f| f.selector_text.clone())
}

/// Per field: `{"configured", "matched", "of", "share"}` over the entries the selectors kept.
pub fn coverage_json(rules: &ItemRules, scraped: &Scraped) -> Value {
    let x = &scraped.extraction;
    let c = &x.counts;
    let counts = [
        c.title,
        c.link,
        c.summary,
        c.authors,
        c.date,
        c.image,
        c.categories,
        c.guid,
    ];
    let of = x.kept;
    let map: serde_json::Map<String, Value> = FIELD_NAMES
        .iter()
        .zip(counts)
        .map(|(name, matched)| {
            let share = if of == 0 {
                0.0
            } else {
                // Counts are at most a page's entries: far below 2^52, exact in an f64.
                usize_f64(matched) / usize_f64(of)
            };
            (
                name.to_string(),
                json!({
                    "configured": *name == "title" || selector_text(rules, name).is_some(),
                    "matched": matched,
                    "of": of,
                    "share": share,
                }),
            )
        })
        .collect();
    Value::Object(map)
}

fn usize_f64(n: usize) -> f64 {
    u32::try_from(n).map_or(f64::from(u32::MAX), f64::from)
}

/// The outer HTML of `el`, cut after `max` characters (with `…`). The walk stops there, so a
/// huge element costs no more than a small one.
pub fn excerpt(el: ElementRef, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0usize;
    let mut push = |out: &mut String, s: &str| -> bool {
        for c in s.chars() {
            if count >= max {
                out.push('…');
                return false;
            }
            out.push(if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            });
            count += 1;
        }
        true
    };
    for edge in el.traverse() {
        let piece = match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(e) => {
                    let mut t = format!("<{}", e.name());
                    for (k, v) in e.attrs() {
                        t.push_str(&format!(
                            " {k}=\"{}\"",
                            v.replace('&', "&amp;").replace('"', "&quot;")
                        ));
                    }
                    t.push('>');
                    t
                }
                Node::Text(t) => {
                    let collapsed = select::collapse(std::iter::once(&**t));
                    if collapsed.is_empty() {
                        continue;
                    }
                    let lead = if t.starts_with(char::is_whitespace) {
                        " "
                    } else {
                        ""
                    };
                    let trail = if t.ends_with(char::is_whitespace) {
                        " "
                    } else {
                        ""
                    };
                    format!(
                        "{lead}{}{trail}",
                        collapsed.replace('&', "&amp;").replace('<', "&lt;")
                    )
                }
                _ => continue,
            },
            Edge::Close(node) => match node.value() {
                Node::Element(e) if !is_void(e.name()) => format!("</{}>", e.name()),
                _ => continue,
            },
        };
        if !push(&mut out, &piece) {
            break;
        }
    }
    out
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
    )
}

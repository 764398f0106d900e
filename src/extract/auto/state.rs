//! Embedded JSON state of script-rendered sites (`__NEXT_DATA__`, `window.__NUXT__`,
//! `window.__INITIAL_STATE__` and the like): the array of objects with a title and a URL that
//! holds the most of them.

use std::sync::LazyLock;

use scraper::Selector;
use serde_json::Value;

use super::{Candidate, Extractor, FieldSpec, Method, Page, json_names, json_str, sel};
use crate::extract::select::{EntryParts, RawEntry};

static SCRIPTS: LazyLock<Selector> = LazyLock::new(|| sel("script"));

const MAX_DEPTH: usize = 40;
/// JSON values visited per page at most.
const MAX_NODES: usize = 500_000;

const TITLE_KEYS: &[&str] = &["title", "headline", "name"];
const LINK_KEYS: &[&str] = &[
    "url",
    "href",
    "link",
    "permalink",
    "canonical_url",
    "canonicalUrl",
    "uri",
    "path",
];
const DATE_KEYS: &[&str] = &[
    "date",
    "datePublished",
    "published_at",
    "publishedAt",
    "pubDate",
    "created_at",
    "createdAt",
    "publishDate",
    "published",
];

/// The JSON an assignment like `window.__X__ = {...};` holds, starting at `text[at..]`.
fn json_after(text: &str, at: usize) -> Option<Value> {
    let rest = text.get(at..)?;
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    serde_json::Deserializer::from_str(rest)
        .into_iter::<Value>()
        .next()?
        .ok()
}

fn key_str(o: &serde_json::Map<String, Value>, keys: &[&str]) -> Option<(&'static str, String)> {
    keys.iter().find_map(|k| {
        let v = json_str(o.get(*k))?;
        Some((static_key(k), v))
    })
}

fn static_key(k: &str) -> &'static str {
    TITLE_KEYS
        .iter()
        .chain(LINK_KEYS)
        .chain(DATE_KEYS)
        .find(|x| **x == k)
        .copied()
        .unwrap_or("?")
}

struct Best {
    entries: Vec<RawEntry>,
    keys: (&'static str, &'static str, Option<&'static str>),
}

fn entries_of(a: &[Value]) -> Option<Best> {
    let mut out = Vec::new();
    let mut keys = None;
    for v in a {
        let Value::Object(o) = v else { continue };
        let Some((tk, title)) = key_str(o, TITLE_KEYS) else {
            continue;
        };
        let Some((lk, link)) = key_str(o, LINK_KEYS) else {
            continue;
        };
        if lk == "path" && !link.starts_with('/') {
            continue;
        }
        if !(link.starts_with("http") || link.starts_with('/')) {
            continue;
        }
        let date = key_str(o, DATE_KEYS);
        keys.get_or_insert((tk, lk, date.as_ref().map(|d| d.0)));
        out.push(RawEntry::new(&EntryParts {
            title: Some(title),
            link: Some(link),
            summary: json_str(
                o.get("description")
                    .or_else(|| o.get("excerpt"))
                    .or_else(|| o.get("summary")),
            ),
            authors: json_names(o.get("author").or_else(|| o.get("authors"))),
            date: date.map(|d| d.1),
            ..EntryParts::default()
        }));
    }
    (out.len() >= 3 && out.len().saturating_mul(2) >= a.len()).then(|| Best {
        entries: out,
        keys: keys.unwrap_or(("title", "url", None)),
    })
}

fn walk(v: &Value, depth: usize, budget: &mut usize, best: &mut Option<Best>) {
    if depth > MAX_DEPTH || *budget == 0 {
        return;
    }
    *budget -= 1;
    match v {
        Value::Array(a) => {
            if let Some(b) = entries_of(a)
                && best
                    .as_ref()
                    .is_none_or(|x| b.entries.len() > x.entries.len())
            {
                *best = Some(b);
            }
            for x in a {
                walk(x, depth + 1, budget, best);
            }
        }
        Value::Object(o) => {
            for x in o.values() {
                walk(x, depth + 1, budget, best);
            }
        }
        _ => {}
    }
}

pub fn find(page: &Page) -> Vec<Candidate> {
    let mut budget = MAX_NODES;
    let mut out = Vec::new();
    for s in page.doc.select(&SCRIPTS) {
        let text: String = s.text().collect();
        let (value, origin) = if s.attr("id") == Some("__NEXT_DATA__") {
            (
                serde_json::from_str::<Value>(text.trim()).ok(),
                "script#__NEXT_DATA__".to_string(),
            )
        } else {
            let marker = [
                "window.__NUXT__",
                "window.__INITIAL_STATE__",
                "window.__PRELOADED_STATE__",
                "window.__APP_STATE__",
                "window.__STATE__",
                "window.__DATA__",
            ]
            .iter()
            .find_map(|m| text.find(m).map(|at| (at.saturating_add(m.len()), *m)));
            match marker {
                Some((at, m)) => (json_after(&text, at), format!("script ({m})")),
                None => continue,
            }
        };
        let Some(value) = value else { continue };
        let mut best = None;
        walk(&value, 0, &mut budget, &mut best);
        let Some(best) = best else { continue };
        let Some((score, links)) = super::score_entries(page, &best.entries) else {
            continue;
        };
        let (tk, lk, dk) = best.keys;
        let mut fields = vec![("title", FieldSpec::css(tk)), ("link", FieldSpec::css(lk))];
        if let Some(d) = dk {
            fields.push(("date", FieldSpec::css(d)));
        }
        out.push(Candidate {
            method: Method::State,
            selector: origin,
            fields,
            score,
            count: links.len(),
            links,
            extractor: Extractor::Entries(best.entries),
        });
    }
    out
}

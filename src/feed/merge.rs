//! Combining feeds: deduplication across sources, filters, title prefixes.
//!
//! A merged feed is computed from its sources' histories at render time, never stored: the
//! sources already remember every item, and computing the merge again is cheap. Everything
//! here is a pure function of items, so the same histories give the same merged bytes.
//!
//! Duplicates are the same article reached twice: the same GUID, the same canonical link
//! (tracking parameters, fragments, default ports and case differences removed) or, when the
//! feed asks for it, the same normalised title. The copy with the earliest date wins (it is
//! the original more often than not); on a tie, the source listed first.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use url::Url;

use crate::config::Filters;
use crate::feed::item::{Item, ItemSource};

/// The items of one source, with how to attribute them.
pub struct SourceItems {
    pub source: ItemSource,
    pub items: Vec<Item>,
}

/// Merge `sources` (in config order) into one list, newest first, without duplicates.
/// Items that already carry a source (from a nested merge) keep it.
pub fn merge(sources: Vec<SourceItems>, dedupe_title: bool) -> Vec<Item> {
    // (source rank, position in the source's own newest-first order, item)
    let mut all: Vec<(usize, usize, Item)> = Vec::new();
    for (rank, s) in sources.into_iter().enumerate() {
        let source = std::sync::Arc::new(s.source);
        for (pos, mut item) in s.items.into_iter().enumerate() {
            if item.source.is_none() {
                item.source = Some(std::sync::Arc::clone(&source));
            }
            all.push((rank, pos, item));
        }
    }
    // Earliest first, so the first copy met of each article is the one that wins; on a tie
    // the source listed first.
    all.sort_by(|(ra, pa, a), (rb, pb, b)| {
        a.date().cmp(&b.date()).then(ra.cmp(rb)).then(pa.cmp(pb))
    });
    let mut guids = HashSet::new();
    let mut links = HashSet::new();
    let mut titles = HashSet::new();
    let mut kept = Vec::with_capacity(all.len());
    for (rank, pos, item) in all {
        let link = item.link.as_deref().map(canonical_link);
        let title = if dedupe_title {
            item.title
                .as_deref()
                .map(normalize_title)
                .filter(|t| !t.is_empty())
        } else {
            None
        };
        let dup = guids.contains(&item.guid)
            || link.as_ref().is_some_and(|l| links.contains(l))
            || title.as_ref().is_some_and(|t| titles.contains(t));
        // Every key of a dropped copy is remembered too, so a third copy that matches the
        // second by another key is dropped as well.
        guids.insert(item.guid.clone());
        if let Some(l) = link {
            links.insert(l);
        }
        if let Some(t) = title {
            titles.insert(t);
        }
        if !dup {
            kept.push((rank, pos, item));
        }
    }
    // Newest first; items of one date keep their source's order (a page's own order).
    kept.sort_by(|(ra, pa, a), (rb, pb, b)| {
        b.date().cmp(&a.date()).then(ra.cmp(rb)).then(pa.cmp(pb))
    });
    kept.into_iter().map(|(_, _, i)| i).collect()
}

/// A link reduced to what identifies the article: scheme and host lower-cased, default port,
/// fragment, `utm_*`, `fbclid` and `gclid` removed, trailing slash ignored.
pub fn canonical_link(link: &str) -> String {
    if let Some(fast) = canonical_fast(link) {
        return fast;
    }
    let Ok(mut u) = Url::parse(link) else {
        return link.trim().to_string();
    };
    u.set_fragment(None);
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !(k.starts_with("utm_") || k == "fbclid" || k == "gclid")
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(kept);
    }
    // The url crate already lower-cases scheme and host and drops default ports.
    let mut s = u.to_string();
    if s.ends_with('/') && u.query().is_none() {
        s.pop();
    }
    s
}

/// The common case without a full URL parse: an http(s) link with a lower-case host, no
/// port, query, fragment or anything in its path that URL parsing would rewrite. `None`
/// means "parse it properly".
fn canonical_fast(link: &str) -> Option<String> {
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_~/".contains(&b) || b == b'.')
        && !path.contains("/.")
        && !path.contains("//");
    if !(host_ok && path_ok) {
        return None;
    }
    Some(link.strip_suffix('/').unwrap_or(link).to_string())
}

/// A title reduced for comparison: lower case, letters and digits only, single spaces.
pub fn normalize_title(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    let mut space = false;
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        } else {
            space = true;
        }
    }
    out
}

/// Keep the first `limit` items that pass `include`, `exclude` and `max_age` (measured from
/// `now`). Items after the limit are never tested, so a long merged list costs little.
pub fn apply_filters(items: Vec<Item>, f: &Filters, now: DateTime<Utc>, limit: usize) -> Vec<Item> {
    if f.is_empty() {
        let mut items = items;
        items.truncate(limit);
        return items;
    }
    let oldest = f
        .max_age
        .and_then(|a| chrono::Duration::from_std(a).ok())
        .and_then(|a| now.checked_sub_signed(a));
    items
        .into_iter()
        .filter(|i| {
            let texts = || {
                i.title
                    .iter()
                    .chain(i.summary.iter())
                    .chain(i.authors.iter())
                    .chain(i.categories.iter())
            };
            (f.include.is_empty() || f.include.iter().any(|r| texts().any(|t| r.is_match(t))))
                && !f.exclude.iter().any(|r| texts().any(|t| r.is_match(t)))
                && oldest.is_none_or(|o| i.date() >= o)
        })
        .take(limit)
        .collect()
}

/// Prefix every title; `{source}` becomes the item's source title, or `own_title`.
pub fn apply_title_prefix(items: &mut [Item], prefix: &str, own_title: &str) {
    for i in items {
        let src = i.source.as_ref().map_or(own_title, |s| s.title.as_str());
        let p = prefix.replace("{source}", src);
        let title = crate::feed::render::display_title(i);
        i.title = Some(format!("{p}{title}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use regex::Regex;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().expect("valid")
    }

    fn item(guid: &str, link: &str, title: &str, date: i64) -> Item {
        Item {
            guid: guid.into(),
            permalink: false,
            title: Some(title.into()),
            link: Some(link.into()),
            summary: None,
            summary_html: false,
            content: None,
            authors: vec![],
            categories: vec![],
            image: None,
            published: Some(at(date)),
            updated: at(date),
            first_seen: at(date),
            source: None,
        }
    }

    fn src(name: &str, items: Vec<Item>) -> SourceItems {
        SourceItems {
            source: ItemSource {
                name: name.into(),
                title: name.to_uppercase(),
                link: format!("https://{name}.example/"),
                atom_id: format!("https://{name}.example/feed"),
                feed_url: None,
            },
            items,
        }
    }

    #[test]
    fn fast_path_agrees_with_the_parser() {
        for l in [
            "https://example.org/a/b",
            "https://example.org/a/b/",
            "http://example.org",
            "https://example.org/",
            "https://ex-ample.org/p_1~x.html",
        ] {
            let fast = canonical_fast(l).expect("fast path applies");
            let mut u = Url::parse(l).expect("url").to_string();
            if u.ends_with('/') {
                u.pop();
            }
            assert_eq!(fast, u, "{l}");
        }
        for l in [
            "https://Example.org/a",
            "https://x.org:8080/",
            "https://x.org/a/../b",
            "https://x.org/a?b=1",
        ] {
            assert_eq!(canonical_fast(l), None, "{l}");
        }
    }

    #[test]
    fn canonical_links() {
        assert_eq!(
            canonical_link("HTTPS://Example.ORG:443/a/?utm_source=x&id=3&fbclid=1#top"),
            "https://example.org/a/?id=3"
        );
        assert_eq!(
            canonical_link("http://example.org/a/"),
            "http://example.org/a"
        );
        assert_eq!(
            canonical_link("http://example.org/a?gclid=z"),
            canonical_link("http://example.org/a/")
        );
    }

    #[test]
    fn dedupe_keeps_earliest_and_attributes() {
        let a = src(
            "a",
            vec![
                item("a1", "https://x.org/story?utm_medium=rss", "Story", 200),
                item("shared", "https://a.org/s", "Shared", 300),
            ],
        );
        let b = src(
            "b",
            vec![
                item("b1", "https://x.org/story#comments", "Story (copy)", 100),
                item("shared", "https://b.org/s", "Shared", 300),
                item("b2", "https://b.org/2", "  STORY!! ", 400),
            ],
        );
        let merged = merge(vec![a, b], false);
        let got: Vec<(&str, &str)> = merged
            .iter()
            .map(|i| {
                (
                    i.guid.as_str(),
                    i.source.as_ref().map_or("", |s| s.name.as_str()),
                )
            })
            .collect();
        // b1 is earlier than a1 (same canonical link); "shared" ties on date: a listed first.
        assert_eq!(got, [("b2", "b"), ("shared", "a"), ("b1", "b")]);
        let a = src("a", vec![item("a1", "https://x.org/1", "Story", 200)]);
        let b = src("b", vec![item("b2", "https://b.org/2", "  STORY!! ", 400)]);
        let merged = merge(vec![a, b], true);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].guid, "a1");
    }

    #[test]
    fn filters_and_prefix() {
        let mut items = vec![
            item("1", "https://x/1", "Missile test", 1000),
            item("2", "https://x/2", "Sponsored: missile shop", 1000),
            item("3", "https://x/3", "Weather", 1000),
            item("4", "https://x/4", "Old nuclear story", 10),
        ];
        items[2].categories = vec!["Nuclear".into()];
        let f = Filters {
            include: vec![Regex::new("(?i)missile|nuclear").expect("re")],
            exclude: vec![Regex::new("(?i)sponsored").expect("re")],
            max_age: Some(std::time::Duration::from_secs(500)),
            ..Filters::default()
        };
        let mut kept = apply_filters(items, &f, at(1200), 10);
        let guids: Vec<_> = kept.iter().map(|i| i.guid.as_str()).collect();
        assert_eq!(guids, ["1", "3"]);
        apply_title_prefix(&mut kept, "[{source}] ", "Own");
        assert_eq!(kept[0].title.as_deref(), Some("[Own] Missile test"));
    }
}

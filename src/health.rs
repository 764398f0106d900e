//! Selector health: the rules that keep a feed from rotting silently when its site changes.
//!
//! Pure functions: they take what one page gave (the extraction, with how many entries each
//! field found a value in) and what the feed's last good run saw (its [`Coverage`]), and
//! return a [`Verdict`]: warnings to tell, and errors that fail the feed so its last good files
//! stay as they were. [`crate::refresh`] (the one-feed step of `build` and `serve`) calls
//! [`judge`] after a page is scraped and before its items are stored; a body that is no page at
//! all was already refused by [`crate::source::sniff`].

use std::collections::BTreeMap;

use crate::config::{FeedConfig, FeedKind, Field, ItemRules, Source};
use crate::extract::scrape::{GuidFrom, Scraped};

/// A single item is suspicious when the last good run had at least this many.
pub const MANY_ITEMS: usize = 5;

/// How much of a page each field covered, stored with every good run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    /// Entries found (elements the item selector matched that had a title or a link).
    pub entries: usize,
    /// Items kept after entries with the same GUID were made one.
    pub items: usize,
    /// Field name -> entries in which the field found a value.
    pub fields: BTreeMap<String, usize>,
}

impl Coverage {
    /// The share of entries `field` covered, 0.0 to 1.0.
    pub fn share(&self, field: &str) -> f64 {
        let n = self.fields.get(field).copied().unwrap_or(0);
        ratio(n, self.entries)
    }
}

fn ratio(n: usize, of: usize) -> f64 {
    if of == 0 {
        return 0.0;
    }
    // Counts of entries on one page are far below 2^52: exact as f64.
    let (n, of) = (
        u32::try_from(n).unwrap_or(u32::MAX),
        u32::try_from(of).unwrap_or(u32::MAX),
    );
    f64::from(n) / f64::from(of)
}

/// What the rules say about one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Told, and the feed is still built (each starts with `feed NAME:`).
    pub warnings: Vec<String>,
    /// Each fails the feed (without the feed's name; the caller adds it).
    pub errors: Vec<String>,
}

/// The coverage of one scraped page: the fields `rules` set, and `link` always.
pub fn coverage(scraped: &Scraped, rules: &ItemRules) -> Coverage {
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
    Coverage {
        entries: x.kept,
        items: scraped.items.len(),
        fields: fields(rules)
            .into_iter()
            .zip(counts)
            .filter(|((name, f), _)| f.is_some() || *name == "link")
            .map(|((name, _), n)| (name.to_string(), n))
            .collect(),
    }
}

/// The configured fields of `rules` with their names; `link` is there even when not set (it
/// is then the entry's first `a[href]`).
fn fields(rules: &ItemRules) -> Vec<(&'static str, Option<&Field>)> {
    vec![
        ("title", Some(&rules.title)),
        ("link", rules.link.as_ref()),
        ("summary", rules.summary.as_ref()),
        ("authors", rules.authors.as_ref()),
        ("date", rules.date.as_ref()),
        ("image", rules.image.as_ref()),
        ("categories", rules.categories.as_ref()),
        ("guid", rules.guid.as_ref()),
    ]
}

/// `` `authors` (selector `.by`) `` or, for an unset `link`, what it defaults to.
fn field_label(name: &str, field: Option<&Field>) -> String {
    match field {
        Some(f) => format!("`{name}` (selector `{}`)", f.selector_text),
        None => format!("`{name}` (not set: the entry's first `a[href]`)"),
    }
}

/// "25 of 25 entries (100%)".
fn share_text(n: usize, of: usize) -> String {
    let pct = (ratio(n, of) * 100.0).round();
    format!(
        "{n} of {of} {} ({pct}%)",
        if of == 1 { "entry" } else { "entries" }
    )
}

/// Apply the selector-health rules to one scraped page of `feed`, read from `url`, given the
/// coverage of the feed's last good run (`None` before the first).
/// For a feed extracted automatically (no selectors, so no coverage to judge): fewer entries
/// than `min_items` fails it, with the way to pin a list.
pub fn too_few_found_automatically(
    feed: &FeedConfig,
    found: usize,
    how: &str,
    url: &str,
) -> Option<String> {
    (found < feed.min_items).then(|| {
        format!(
            "automatic extraction ({how}) found {found} entries on {url}, fewer than `min_items = {}`; run `pagefeed suggest {url}` to see the lists on the page and paste one as [feeds.{}.items]",
            feed.min_items, feed.name
        )
    })
}

pub fn judge(
    feed: &FeedConfig,
    rules: &ItemRules,
    scraped: &Scraped,
    url: &str,
    last: Option<&Coverage>,
) -> Verdict {
    let mut v = Verdict::default();
    let now = coverage(scraped, rules);
    let name = &feed.name;
    let fix = "check the page, fix the selector, or mark the field optional (`optional = true` in its table)";

    // Too few entries.
    if now.items < feed.min_items {
        let dups = match scraped.duplicates {
            0 => String::new(),
            n => format!(" ({n} more were duplicates)"),
        };
        v.errors.push(format!(
            "item selector `{}` found {} {} on {url}{dups}, fewer than `min_items = {}`; check the page, or fix the item selector",
            rules.selector_text,
            now.items,
            if now.items == 1 { "entry" } else { "entries" },
            feed.min_items,
        ));
    }

    // A title that matches nothing; a field that stopped matching.
    for (field_name, field) in fields(rules) {
        let optional = field.is_some_and(|f| f.optional);
        let got = now.fields.get(field_name).copied().unwrap_or(0);
        if got > 0 || now.entries == 0 {
            continue;
        }
        let label = field_label(field_name, field);
        let msg = if field_name == "title" {
            Some(format!(
                "{label} matched none of the {} {} on {url}; {fix}",
                now.entries,
                if now.entries == 1 { "entry" } else { "entries" },
            ))
        } else {
            last.filter(|l| {
                let before = l.fields.get(field_name).copied().unwrap_or(0);
                before > 0 && before.saturating_mul(2) >= l.entries
            })
            .map(|l| {
                let before = l.fields.get(field_name).copied().unwrap_or(0);
                format!(
                    "{label} found a value in {} in the last good run, 0 of {} now, on {url}; {fix}",
                    share_text(before, l.entries),
                    now.entries,
                )
            })
        };
        let Some(msg) = msg else { continue };
        if optional {
            v.warnings.push(format!(
                "feed {name}: {msg} (optional field: the feed is built)"
            ));
        } else {
            v.errors.push(msg);
        }
    }

    // Entries that collapse into one.
    let total = now.items.saturating_add(scraped.duplicates);
    let mut collapse_note = String::new();
    let mut collapse_advice = String::new();
    if let Some(c) = &scraped.collapsed
        && c.count >= 3
        && c.count.saturating_mul(2) > total
    {
        let (what, advice) = match c.from {
            GuidFrom::Link => (
                format!("the same link `{}`", c.value),
                format!(
                    "set `link` in [feeds.{name}.items] to a selector for each entry's own link (or `guid` to a value unique to each entry)"
                ),
            ),
            GuidFrom::Guid => (
                format!(
                    "the same guid `{}` (selector `{}`)",
                    c.value,
                    rules.guid.as_ref().map_or("", |g| g.selector_text.as_str())
                ),
                format!(
                    "set `guid` in [feeds.{name}.items] to a value unique to each entry (or remove it to use each entry's link)"
                ),
            ),
            GuidFrom::Invented => (
                "no link and the same title and date".to_string(),
                format!("set `link` or `guid` in [feeds.{name}.items] so each entry has its own"),
            ),
        };
        collapse_note = format!("{} of {total} entries have {what}", c.count);
        v.warnings.push(format!(
            "feed {name}: {collapse_note} on {url} and were kept as one item; {advice}"
        ));
        collapse_advice = advice;
    }
    if let Some(l) = last
        && now.items == 1
        && l.items >= MANY_ITEMS
    {
        let (why, advice) = if collapse_note.is_empty() {
            (
                String::new(),
                "check the page, and the item, `link` and `guid` selectors".to_string(),
            )
        } else {
            (format!(" ({collapse_note})"), collapse_advice)
        };
        v.errors.push(format!(
            "{url} gave a single item where the last good run had {}{why}; {advice}",
            l.items
        ));
    }

    // URL fields that matched elements without an address.
    for (field_name, field, attrless, attr) in [
        (
            "link",
            rules.link.as_ref(),
            &scraped.extraction.link_without_attr,
            "href",
        ),
        (
            "image",
            rules.image.as_ref(),
            &scraped.extraction.image_without_attr,
            "src",
        ),
    ] {
        let Some(f) = field else { continue };
        if attrless.entries == 0 {
            continue;
        }
        let element = attrless.element.as_deref().unwrap_or("element");
        v.warnings.push(format!(
            "feed {name}: the `{field_name}` selector `{}` matched a <{element}> without `{attr}` in {} on {url}; they get no {field_name} from it (its text is not an address): select the element that has the address, or name the attribute with `{field_name} = {{ selector = \"...\", attr = \"...\" }}`",
            f.selector_text,
            share_text(attrless.entries, now.entries),
        ));
    }
    v
}

/// The warning (once) when a feed's source changed since its history was started.
pub fn source_changed(feed: &FeedConfig, key: &str, old: &str, new: &str) -> String {
    format!(
        "feed {}: `{key}` changed from {old} to {new}; starting its history anew (set `keep_history = true` to keep the old items)",
        feed.name
    )
}

/// The source a feed's history is tied to, with its config key: `("url", "https://...")`;
/// `None` for merged feeds. A local file counts by its name, so moving the folder of a config
/// does not start its feeds anew.
pub fn source_identity(feed: &FeedConfig) -> Option<(&'static str, String)> {
    let key = match feed.kind {
        FeedKind::Scrape { .. } => "url",
        FeedKind::Upstream { .. } => "feed_url",
        FeedKind::Merge { .. } => return None,
    };
    let id = match feed.source()? {
        Source::Http(u) => u.to_string(),
        Source::File(p) => format!(
            "file {}",
            p.file_name().unwrap_or(p.as_os_str()).to_string_lossy()
        ),
    };
    Some((key, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::fetch::Validators;
    use chrono::TimeZone;
    use std::path::Path;

    fn feed(items: &str, extra: &str) -> FeedConfig {
        let text = format!(
            "[feeds.t]\nurl = \"https://h.example/p\"\n{extra}\n[feeds.t.items]\n{items}\n"
        );
        let c = crate::config::parse(Path::new("t.toml"), &text).expect("config");
        c.feeds[0].clone()
    }

    fn scrape(f: &FeedConfig, html: &str) -> Scraped {
        let page = crate::source::fetch::Page {
            bytes: html.as_bytes().to_vec(),
            content_type: Some("text/html".into()),
            url: url::Url::parse("https://h.example/p").expect("url"),
            validators: Validators::default(),
        };
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        crate::extract::scrape::scrape(f, f.items().expect("items"), &page, now).expect("scrape")
    }

    fn listing(n: usize, by: bool) -> String {
        (0..n)
            .map(|i| {
                let by = if by {
                    "<span class=\"by\">Ann</span>"
                } else {
                    ""
                };
                format!("<li><a href=\"/{i}\">Entry {i}</a>{by}</li>")
            })
            .collect()
    }

    const RULES: &str = "selector = \"li\"\ntitle = \"a\"\nauthors = \".by\"";

    #[test]
    fn a_field_that_stops_matching_fails_unless_optional() {
        let f = feed(RULES, "");
        let good = scrape(&f, &listing(4, true));
        let v = judge(&f, f.items().expect("rules"), &good, "U", None);
        assert!(v.errors.is_empty() && v.warnings.is_empty(), "{v:?}");
        let last = coverage(&good, f.items().expect("rules"));
        assert_eq!(last.fields["authors"], 4);
        assert_eq!(
            last.fields.keys().collect::<Vec<_>>(),
            ["authors", "link", "title"]
        );
        let bad = scrape(&f, &listing(3, false));
        let v = judge(&f, f.items().expect("rules"), &bad, "U", Some(&last));
        assert_eq!(
            v.errors,
            vec![format!(
                "`authors` (selector `.by`) found a value in 4 of 4 entries (100%) in the last good run, 0 of 3 now, on U; check the page, fix the selector, or mark the field optional (`optional = true` in its table)"
            )]
        );
        // Below half before: no rule.
        let mut half = last.clone();
        half.fields.insert("authors".into(), 1);
        assert!(
            judge(&f, f.items().expect("rules"), &bad, "U", Some(&half))
                .errors
                .is_empty()
        );
        let f = feed(
            "selector = \"li\"\ntitle = \"a\"\nauthors = { selector = \".by\", optional = true }",
            "",
        );
        let v = judge(&f, f.items().expect("rules"), &bad, "U", Some(&last));
        assert!(v.errors.is_empty());
        assert!(v.warnings[0].starts_with("feed t: `authors`"), "{v:?}");
    }

    #[test]
    fn no_title_and_too_few_items_fail() {
        let f = feed("selector = \"li\"\ntitle = \"h3\"", "min_items = 5");
        let s = scrape(&f, &listing(3, false));
        let v = judge(&f, f.items().expect("rules"), &s, "U", None);
        assert_eq!(v.errors.len(), 2, "{v:?}");
        assert!(v.errors[0].contains("found 3 entries on U, fewer than `min_items = 5`"));
        assert!(
            v.errors[1].starts_with("`title` (selector `h3`) matched none of the 3 entries on U"),
            "{}",
            v.errors[1]
        );
    }

    #[test]
    fn collapsed_entries_are_told_and_a_single_item_fails() {
        let f = feed("selector = \"li\"\ntitle = \"b\"", "");
        let html: String = (0..6)
            .map(|i| format!("<li><b>T{i}</b><a href=\"/latest\">x</a></li>"))
            .collect();
        let s = scrape(&f, &html);
        let last = Coverage {
            entries: 6,
            items: 6,
            fields: BTreeMap::new(),
        };
        let v = judge(&f, f.items().expect("rules"), &s, "U", Some(&last));
        assert!(
            v.warnings[0].contains("6 of 6 entries have the same link `https://h.example/latest`")
                && v.warnings[0].contains("set `link`"),
            "{v:?}"
        );
        assert!(
            v.errors[0].starts_with("U gave a single item where the last good run had 6"),
            "{v:?}"
        );
        assert!(
            judge(&f, f.items().expect("rules"), &s, "U", None)
                .errors
                .is_empty()
        );
    }

    #[test]
    fn a_guid_selector_that_gives_one_value_says_to_fix_guid() {
        let f = feed("selector = \"li\"\ntitle = \"a\"\nguid = \".id\"", "");
        let html: String = (0..4)
            .map(|i| format!("<li><a href=\"/{i}\">T{i}</a><i class=\"id\">same</i></li>"))
            .collect();
        let s = scrape(&f, &html);
        let v = judge(&f, f.items().expect("rules"), &s, "U", None);
        assert_eq!(
            v.warnings,
            vec![
                "feed t: 4 of 4 entries have the same guid `same` (selector `.id`) on U and were kept as one item; set `guid` in [feeds.t.items] to a value unique to each entry (or remove it to use each entry's link)"
                    .to_string()
            ]
        );
        // Two entries of four sharing a link is no collapse.
        let f = feed("selector = \"li\"\ntitle = \"a\"", "");
        let html = "<li><a href=\"/a\">1</a></li><li><a href=\"/a\">2</a></li><li><a href=\"/b\">3</a></li><li><a href=\"/c\">4</a></li>";
        let v = judge(&f, f.items().expect("rules"), &scrape(&f, html), "U", None);
        assert!(v.warnings.is_empty(), "{v:?}");
    }
}

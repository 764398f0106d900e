//! `pagefeed preview`: what the selectors pick on the live page, without writing anything.
//!
//! Writing selectors is trial and error; this shows every entry as it would enter the
//! history (title, absolute link, the date as parsed, authors) and how many entries each
//! field matched, so a selector that matches too little stands out at once.

use std::fmt::Write;

use crate::config::{FeedConfig, ItemRules};
use crate::extract::scrape::Scraped;

/// Format `scraped` as a table for the terminal.
pub fn format(feed: &FeedConfig, rules: &ItemRules, scraped: &Scraped) -> String {
    let mut out = String::new();
    let x = &scraped.extraction;
    let _ = writeln!(
        out,
        "feed {}: item selector `{}` matched {} elements; {} entries{}",
        feed.name,
        rules.selector_text,
        x.matched,
        scraped.items.len(),
        if scraped.duplicates > 0 {
            format!(" ({} duplicates dropped)", scraped.duplicates)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "site: {}   time zone: {}",
        scraped.site, feed.time_zone
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>3}  {:<48}  {:<25}  {:<40}  AUTHORS",
        "#", "TITLE", "DATE", "LINK"
    );
    for (n, (item, date_text)) in scraped.items.iter().zip(&scraped.date_texts).enumerate() {
        let date = match (item.published, date_text) {
            (Some(d), _) => {
                let local = d
                    .with_timezone(&feed.time_zone)
                    .format("%Y-%m-%d %H:%M %:z")
                    .to_string();
                if item.published_relative {
                    format!("{local}~")
                } else {
                    local
                }
            }
            (None, Some(t)) => format!("?? {t}"),
            (None, None) => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "{:>3}  {:<48}  {:<25}  {:<40}  {}",
            n + 1,
            cut(item.title().unwrap_or("-"), 48),
            cut(&date, 25),
            cut(item.link().unwrap_or("-"), 40),
            item.authors().collect::<Vec<_>>().join(", ")
        );
    }
    let _ = writeln!(out);
    let n = x.kept;
    let c = &x.counts;
    let _ = writeln!(out, "fields matched (entries with a value, of {n}):");
    let rows: [(&str, bool, usize); 8] = [
        ("title", true, c.title),
        ("link", true, c.link),
        ("summary", rules.summary.is_some(), c.summary),
        ("authors", rules.authors.is_some(), c.authors),
        ("date", rules.date.is_some(), c.date),
        ("image", rules.image.is_some(), c.image),
        ("categories", rules.categories.is_some(), c.categories),
        ("guid", rules.guid.is_some(), c.guid),
    ];
    for (name, configured, count) in rows {
        if configured {
            let _ = writeln!(out, "  {name:<11} {count:>5}/{n}");
        } else {
            let _ = writeln!(out, "  {name:<11}     - (not configured)");
        }
    }
    let parsed = scraped
        .items
        .iter()
        .filter(|i| i.published.is_some())
        .count();
    if rules.date.is_some() {
        let _ = writeln!(
            out,
            "  dates read  {parsed:>5}/{}  (~ = relative, resolved at first sight)",
            scraped.items.len()
        );
    }
    for w in &scraped.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

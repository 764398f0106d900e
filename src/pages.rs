//! Further pages of a listing (`next_page`, `max_pages`), for `build` and `serve` alike.
//!
//! After the first page of a scraped feed is fetched, [`walk`] follows its `next_page` link to
//! the pages after it, one after another, each after the host's politeness delay and only
//! where robots.txt allows it. The walk ends at a page seen before, a page without entries,
//! or `max_pages`. A first page that did not change (a 304, or the same bytes) is not walked
//! from: the feed is unchanged. A further page that cannot be fetched or is disallowed ends
//! the walk with a warning; the pages before it still count. Each page is scraped here, as
//! the first is in [`crate::refresh`], and [`append`] joins their entries to the first page's
//! (an entry on two pages counts once, where it was first seen), so the health rules judge
//! the whole walk.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use crate::config::{FeedConfig, FeedKind, Source};
use crate::extract::next_page;
use crate::extract::scrape::{self, ScrapeError, Scraped};
use crate::feed::history::SourceState;
use crate::source::fetch::{FetchError, Fetched, Page};
use crate::source::robots::Verdict;

/// What a command provides for the walk: robots.txt, the host's turn, and the fetch.
pub trait Politeness: Send + Sync {
    /// Fetch one further page (no conditional request: only the first page has validators).
    fn fetch(&self, url: &Url) -> impl Future<Output = Result<Page, FetchError>> + Send;
    /// What robots.txt says about `url` for pagefeed.
    fn robots(&self, url: &Url) -> impl Future<Output = Verdict> + Send;
    /// Wait for the turn of `url`'s host; `crawl_delay` (the site's) raises the delay.
    fn wait(&self, url: &Url, crawl_delay: Option<Duration>) -> impl Future<Output = ()> + Send;
}

/// The pages after the first, scraped, in the order they were read.
#[derive(Debug, Default)]
pub struct Further {
    pub pages: Vec<Scraped>,
    /// Each starts with `feed NAME:`.
    pub warnings: Vec<String>,
}

/// Whether `feed` reads pages after the first.
pub fn walks(feed: &FeedConfig) -> bool {
    feed.next_page.is_some() && feed.max_pages > 1 && matches!(feed.kind, FeedKind::Scrape { .. })
}

/// Scrape one page of `feed`: with its selectors (the items only, as `refresh` scrapes the
/// first page), or automatically without them.
pub fn scrape_page(
    feed: &FeedConfig,
    page: &Page,
    now: DateTime<Utc>,
) -> Result<(Scraped, Option<String>), ScrapeError> {
    match &feed.kind {
        FeedKind::Scrape {
            items: Some(rules), ..
        } => scrape::scrape_keeping(feed, rules, page, now, scrape::Keep::Items).map(|s| (s, None)),
        _ => crate::extract::auto::scrape(feed, page, now).map(|(s, how)| (s, Some(how))),
    }
}

/// Follow `feed`'s `next_page` from its fetched first page (`first`), given what the last good
/// run stored (`prev`, to tell an unchanged first page).
pub async fn walk<P: Politeness>(
    polite: &P,
    feed: &FeedConfig,
    first: &Result<Fetched, FetchError>,
    prev: Option<&SourceState>,
    now: DateTime<Utc>,
) -> Further {
    let mut out = Further::default();
    let (Some(how), Ok(Fetched::Page(first))) = (&feed.next_page, first) else {
        return out;
    };
    if !walks(feed)
        || prev.is_some_and(|p| p.page_hash == crate::refresh::page_hash(&p.fingerprint, first))
    {
        return out;
    }
    let mut seen: HashSet<String> = HashSet::new();
    seen.insert(first.url.to_string());
    if let Some(Source::Http(u)) = feed.source() {
        seen.insert(u.to_string());
    }
    let mut current: Page = first.clone();
    // Page numbers as a reader counts them: the first page is page 1.
    let mut number = 1usize;
    while number < feed.max_pages {
        let Some(next) = next_page::find(&current, how) else {
            break;
        };
        number = number.saturating_add(1);
        if !seen.insert(next.to_string()) {
            tracing::info!(feed = %feed.name, url = %next, "next page seen before; the walk ends");
            break;
        }
        let mut crawl_delay = None;
        if !feed.ignore_robots {
            match polite.robots(&next).await {
                Verdict::Allowed { crawl_delay: d } => crawl_delay = d,
                Verdict::Disallowed { robots_url } => {
                    out.warnings.push(format!(
                        "feed {}: page {number} ({next}) is disallowed for pagefeed by {robots_url}, so it was skipped and the pages after it too; the feed has the entries of the {} before it",
                        feed.name,
                        pages_text(number),
                    ));
                    break;
                }
                Verdict::Unreachable { robots_url, reason } => {
                    out.warnings.push(format!(
                        "feed {}: page {number} ({next}) was skipped: {robots_url} could not be read ({reason}); the feed has the entries of the {} before it, and the next run asks again",
                        feed.name,
                        pages_text(number),
                    ));
                    break;
                }
            }
        }
        polite.wait(&next, crawl_delay).await;
        let page = match polite.fetch(&next).await {
            Ok(p) => p,
            Err(e) => {
                out.warnings.push(format!(
                    "feed {}: cannot fetch page {number} ({next}): {e}; the feed has the entries of the {} before it, and the next run tries again",
                    feed.name,
                    pages_text(number),
                ));
                break;
            }
        };
        // A page with no entries (or none that can be read) ends the walk quietly: listings
        // often link to an empty page after the last.
        let scraped = match scrape_page(feed, &page, now) {
            Ok((s, _)) if !s.items.is_empty() => s,
            Ok(_) | Err(_) => {
                tracing::info!(feed = %feed.name, url = %next, "next page has no entries; the walk ends");
                break;
            }
        };
        seen.insert(page.url.to_string());
        out.pages.push(scraped);
        current = page;
    }
    out
}

/// "page" or "2 pages".
fn pages_text(number: usize) -> String {
    match number.saturating_sub(1) {
        1 => "page".to_string(),
        n => format!("{n} pages"),
    }
}

/// Join the entries of further pages to the first page's: an entry whose GUID an earlier page
/// had is left out (the first wins); counts add up, so coverage is over the whole walk.
pub fn append(into: &mut Scraped, further: Vec<Scraped>) {
    if further.is_empty() {
        return;
    }
    let mut seen: HashSet<String> = into.items.iter().map(|i| i.guid().to_string()).collect();
    for page in further {
        let offset = into.extraction.kept;
        let x = page.extraction;
        let (a, b) = (&mut into.extraction.counts, &x.counts);
        a.title = a.title.saturating_add(b.title);
        a.link = a.link.saturating_add(b.link);
        a.summary = a.summary.saturating_add(b.summary);
        a.authors = a.authors.saturating_add(b.authors);
        a.date = a.date.saturating_add(b.date);
        a.image = a.image.saturating_add(b.image);
        a.categories = a.categories.saturating_add(b.categories);
        a.guid = a.guid.saturating_add(b.guid);
        into.extraction.matched = into.extraction.matched.saturating_add(x.matched);
        into.extraction.kept = into.extraction.kept.saturating_add(x.kept);
        for (l, r) in [
            (&mut into.extraction.link_without_attr, &x.link_without_attr),
            (
                &mut into.extraction.image_without_attr,
                &x.image_without_attr,
            ),
        ] {
            l.entries = l.entries.saturating_add(r.entries);
            if l.element.is_none() {
                l.element.clone_from(&r.element);
            }
        }
        into.duplicates = into.duplicates.saturating_add(page.duplicates);
        into.warnings.extend(page.warnings);
        // The per-item detail is there only when the pages were scraped with it (the first
        // page has at least one item).
        let detail = !into.date_texts.is_empty();
        let mut date_texts = page.date_texts.into_iter();
        let mut entry_index = page.entry_index.into_iter();
        for item in page.items {
            let (date_text, index) = (date_texts.next(), entry_index.next());
            if !seen.insert(item.guid().to_string()) {
                continue;
            }
            into.items.push(item);
            if let (true, Some(date_text), Some(index)) = (detail, date_text, index) {
                into.date_texts.push(date_text);
                into.entry_index.push(index.saturating_add(offset));
            }
        }
    }
}

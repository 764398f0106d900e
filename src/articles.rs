//! Full articles (`[feeds.NAME.article]`), for `build` and `serve` alike.
//!
//! Each item seen for the first time is queued in the history ([`History::queue_articles`](crate::feed::history::History::queue_articles), from
//! [`crate::refresh`]); after the refresh, [`fetch`] reads up to `max_articles_per_run` queued
//! article pages, a few at once, each after its host's politeness delay and only where
//! robots.txt allows it (a disallowed one is skipped for good with a warning, never
//! requested); [`store`] keeps what they gave. A failed fetch does not fail the feed: the item
//! is published without content and tried again on the next runs, [`ARTICLE_ATTEMPTS`] times
//! in all, then given up with a warning. Since the queue lives in the history, no article is
//! fetched twice, across builds, `serve` refreshes and restarts. Reading a page is
//! [`crate::extract::article`]; robots.txt, the host's turn and the fetch come from the
//! command, through the [`Politeness`] of [`crate::pages`].

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use url::Url;

use crate::config::FeedConfig;
use crate::extract::article;
use crate::feed::history::{
    ARTICLE_ATTEMPTS, ArticleOutcome, ArticleState, History, HistoryError, PendingArticle,
};
use crate::feed::item::NewItem;
use crate::pages::Politeness;
use crate::source::robots::Verdict;

/// How many article pages of one feed are fetched at once (the host's delay still spaces
/// requests to one host).
pub const CONCURRENCY: usize = 4;

/// The (GUID, link) of each item of `items` the history of `feed` does not hold yet, for
/// [`History::queue_articles`] once the items are stored. Only for feeds with an article table.
pub fn new_links(
    feed: &FeedConfig,
    history: &History,
    items: &[NewItem],
) -> Result<Vec<(String, String)>, HistoryError> {
    if feed.article.is_none() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for i in items {
        let Some(link) = i.link() else { continue };
        if !seen.insert(i.guid())
            || !Url::parse(link).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            || history.has_item(&feed.name, i.guid())?
            || i.legacy_guid()
                .map(|g| history.has_item(&feed.name, g))
                .transpose()?
                .unwrap_or(false)
        {
            continue;
        }
        out.push((i.guid().to_string(), link.to_string()));
    }
    Ok(out)
}

/// The article pages of `feed` to fetch this run (none without an article table).
pub fn pending(feed: &FeedConfig, history: &History) -> Result<Vec<PendingArticle>, HistoryError> {
    match &feed.article {
        Some(rules) => history.pending_articles(&feed.name, rules.max_per_run),
        None => Ok(Vec::new()),
    }
}

/// One article page's attempt, for [`store`].
#[derive(Debug)]
pub struct Attempt {
    pub article: PendingArticle,
    pub outcome: ArticleOutcome,
    /// Said about the page even when it was read (a date that could not be read, ...).
    pub notes: Vec<String>,
}

/// Fetch and read the `pending` article pages of `feed`, [`CONCURRENCY`] at once.
pub async fn fetch<P: Politeness>(
    polite: &P,
    feed: &FeedConfig,
    pending: Vec<PendingArticle>,
) -> Vec<Attempt> {
    let Some(rules) = &feed.article else {
        return Vec::new();
    };
    futures::stream::iter(pending)
        .map(|a| async move {
            let (outcome, notes) = match Url::parse(&a.link) {
                Ok(url) => one(polite, feed, rules, &url).await,
                Err(e) => (
                    ArticleOutcome::Failed(format!("not an address: {e}")),
                    Vec::new(),
                ),
            };
            Attempt {
                article: a,
                outcome,
                notes,
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

async fn one<P: Politeness>(
    polite: &P,
    feed: &FeedConfig,
    rules: &crate::config::ArticleRules,
    url: &Url,
) -> (ArticleOutcome, Vec<String>) {
    let mut crawl_delay = None;
    if !feed.ignore_robots {
        match polite.robots(url).await {
            Verdict::Allowed { crawl_delay: d } => crawl_delay = d,
            Verdict::Disallowed { robots_url } => {
                return (
                    ArticleOutcome::Disallowed(format!("disallowed for pagefeed by {robots_url}")),
                    Vec::new(),
                );
            }
            Verdict::Unreachable { robots_url, reason } => {
                return (
                    ArticleOutcome::Failed(format!("{robots_url} could not be read ({reason})")),
                    Vec::new(),
                );
            }
        }
    }
    polite.wait(url, crawl_delay).await;
    let page = match polite.fetch(url).await {
        Ok(p) => p,
        Err(e) => return (ArticleOutcome::Failed(e.to_string()), Vec::new()),
    };
    // The fetch time, as the listing's dates are read against it.
    let now = Utc::now();
    match article::read(feed, rules, &page, now) {
        Ok(a) => (
            ArticleOutcome::Read {
                content: a.content,
                published: a.published,
                authors: a.authors,
                image: a.image,
            },
            a.notes,
        ),
        Err(e) => (ArticleOutcome::Failed(e.to_string()), Vec::new()),
    }
}

/// Keep the attempts in the history; returns the warnings (each starts with `feed NAME:`).
pub fn store(
    feed: &FeedConfig,
    history: &mut History,
    attempts: Vec<Attempt>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, HistoryError> {
    let mut warnings = Vec::new();
    for a in attempts {
        let state = history.save_article(&feed.name, &a.article.guid, &a.outcome, now)?;
        let link = &a.article.link;
        let tries = a.article.attempts.saturating_add(1);
        match (&a.outcome, state) {
            (ArticleOutcome::Failed(why), ArticleState::GivenUp) => warnings.push(format!(
                "feed {}: article {link} could not be fetched ({why}); given up after {tries} attempts, the item stays without its full content",
                feed.name
            )),
            (ArticleOutcome::Failed(why), _) => warnings.push(format!(
                "feed {}: article {link} could not be fetched ({why}); the item is published without its full content and the next run tries again (attempt {tries} of {ARTICLE_ATTEMPTS})",
                feed.name
            )),
            (ArticleOutcome::Disallowed(why), _) => warnings.push(format!(
                "feed {}: article {link} was skipped: {why}; the item is published without its full content (set ignore_robots = true on the feed to fetch it anyway)",
                feed.name
            )),
            (ArticleOutcome::Read { .. }, _) => {
                for n in &a.notes {
                    warnings.push(format!("feed {}: article {link}: {n}", feed.name));
                }
            }
        }
    }
    Ok(warnings)
}

//! `pagefeed check`: is the config good, and would its feeds build?
//!
//! Without `--live` nothing leaves the machine: the config is compiled (every selector
//! parsed, every regex compiled, time zones and merge names resolved; see [`crate::config`]),
//! and file sources must exist. With `--live` each page or feed is fetched with the same client
//! as `build`, extracted as `build` would, and the entry count and each field's coverage are
//! reported with a verdict: would the feed build, or fail? Nothing is written, not even the
//! history.
//!
//! The verdict on a fetched page is [`verdict`]: the selector-health rules `build` applies
//! ([`crate::health`]), compared with the last good run when the history has one (opened
//! read-only).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use chrono::Utc;

use crate::config::{Config, FeedConfig, FeedKind, ItemRules, Source};
use crate::extract::scrape::{self, Scraped};
use crate::feed::history::History;
use crate::health::Coverage;
use crate::source::browser::Chromium;
use crate::source::fetch::Fetcher;

/// The outcome of checking one feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCheck {
    pub name: String,
    /// What was found, for the line: "page https://..., 12 entries; title 12/12, ...".
    pub summary: String,
    /// Why the feed would fail; empty when it would build.
    pub problems: Vec<String>,
    /// Worth saying, not failing.
    pub warnings: Vec<String>,
}

impl FeedCheck {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The lines for the terminal: `name: ok: summary`, or `name: FAIL: ...` with each problem.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        if self.ok() {
            let _ = writeln!(out, "{}: ok: {}", self.name, self.summary);
        } else {
            let _ = writeln!(out, "{}: FAIL: {}", self.name, self.summary);
            for p in &self.problems {
                let _ = writeln!(out, "  problem: {p}");
            }
        }
        for w in &self.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        out
    }
}

/// FEED names the config does not define.
#[derive(Debug, thiserror::Error)]
#[error("unknown feed `{}`; {config} defines: {}", unknown.join("`, `"), known.join(", "))]
pub struct UnknownFeeds {
    pub unknown: Vec<String>,
    pub known: Vec<String>,
    pub config: String,
}

/// The feeds named in `only` (all when empty), in config order.
pub fn select<'a>(
    config: &'a Config,
    only: &[String],
) -> Result<Vec<&'a FeedConfig>, UnknownFeeds> {
    if only.is_empty() {
        return Ok(config.feeds.iter().collect());
    }
    let unknown: Vec<String> = only
        .iter()
        .filter(|n| config.feed(n).is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(UnknownFeeds {
            unknown,
            known: config.feeds.iter().map(|f| f.name.clone()).collect(),
            config: config.path.display().to_string(),
        });
    }
    Ok(config
        .feeds
        .iter()
        .filter(|f| only.contains(&f.name))
        .collect())
}

/// The configured fields of `rules`, for the line.
fn fields(rules: &ItemRules) -> String {
    let mut names = vec!["title"];
    for (name, set) in [
        ("link", rules.link.is_some()),
        ("summary", rules.summary.is_some()),
        ("authors", rules.authors.is_some()),
        ("date", rules.date.is_some()),
        ("image", rules.image.is_some()),
        ("categories", rules.categories.is_some()),
        ("guid", rules.guid.is_some()),
    ] {
        if set {
            names.push(name);
        }
    }
    names.join(", ")
}

/// Check `feed` without the network: what the config says, and that a file source exists.
pub fn offline(feed: &FeedConfig) -> FeedCheck {
    let mut problems = Vec::new();
    if let Some(Source::File(path)) = feed.source() {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => problems.push(format!(
                "{} is not a file; `url` or `feed_url` must name a page or feed (a path is relative to the config's folder)",
                path.display()
            )),
            Err(e) => problems.push(format!(
                "cannot read {}: {e}; fix the path in `url` or `feed_url` (relative to the config's folder)",
                path.display()
            )),
        }
    }
    let summary = match &feed.kind {
        FeedKind::Scrape {
            source,
            items: Some(items),
        } => format!(
            "page {source}, item selector `{}`, fields {}",
            items.selector_text,
            fields(items)
        ),
        FeedKind::Scrape {
            source,
            items: None,
        } => format!("page {source}, entries found automatically (no [items] table)"),
        FeedKind::Upstream { source } => format!("feed {source}"),
        FeedKind::Merge { sources } => format!("merges {}", sources.join(", ")),
    };
    FeedCheck {
        name: feed.name.clone(),
        summary,
        problems,
        warnings: Vec::new(),
    }
}

/// Why a feed whose page (read from `url`) gave `scraped` would fail, and the warnings: the
/// selector-health rules of `build` ([`crate::health::judge`]: `min_items`, a title that
/// matches nothing, entries collapsing into one, URL fields on elements without an address).
/// `last` is the coverage of the feed's last good run, from the history (read, never written).
pub fn verdict(
    feed: &FeedConfig,
    rules: &ItemRules,
    scraped: &Scraped,
    url: &str,
    last: Option<&Coverage>,
) -> crate::health::Verdict {
    crate::health::judge(feed, rules, scraped, url, last)
}

/// The coverage of each feed's last good run, read from the history without writing to it
/// (an empty map when there is no history yet, or it cannot be read; then with a note why).
pub fn last_coverages(
    config: &Config,
    feeds: &[&FeedConfig],
) -> (HashMap<String, Coverage>, Option<String>) {
    let mut out = HashMap::new();
    let history = match History::open_read_only(&config.settings.state) {
        Ok(Some(h)) => h,
        Ok(None) => return (out, None),
        Err(e) => {
            return (
                out,
                Some(format!(
                    "cannot read the history ({e}); fields are not compared with the last good run"
                )),
            );
        }
    };
    for f in feeds {
        if let Ok(Some(c)) = crate::refresh::last_coverage(f, &history) {
            out.insert(f.name.clone(), c);
        }
    }
    (out, None)
}

/// "title 12/12, link 12/12, date 0/12" over the configured fields.
pub fn coverage_line(rules: &ItemRules, scraped: &Scraped) -> String {
    let x = &scraped.extraction;
    let c = &x.counts;
    let n = x.kept;
    let mut parts = vec![
        format!("title {}/{n}", c.title),
        format!("link {}/{n}", c.link),
    ];
    for (name, set, count) in [
        ("summary", rules.summary.is_some(), c.summary),
        ("authors", rules.authors.is_some(), c.authors),
        ("date", rules.date.is_some(), c.date),
        ("image", rules.image.is_some(), c.image),
        ("categories", rules.categories.is_some(), c.categories),
        ("guid", rules.guid.is_some(), c.guid),
    ] {
        if set {
            parts.push(format!("{name} {count}/{n}"));
        }
    }
    parts.join(", ")
}

/// Fetch and extract `feed` as `build` would, without writing anything.
/// A `render = "chromium"` feed's page is loaded in `chromium`.
pub async fn live(
    feed: &FeedConfig,
    fetcher: &Fetcher,
    chromium: &Chromium,
    last: Option<&Coverage>,
) -> FeedCheck {
    let mut check = offline(feed);
    if !check.ok() {
        return check;
    }
    let Some(source) = feed.source() else {
        // Merged feeds are judged by their sources (see `run`).
        return check;
    };
    let accept = match feed.kind {
        FeedKind::Upstream { .. } => crate::refresh::ACCEPT_FEED,
        _ => crate::refresh::ACCEPT_PAGE,
    };
    let loaded =
        crate::source::browser::load_listing(fetcher, chromium, feed, source, None, accept).await;
    let page = match loaded {
        Ok(crate::source::fetch::Fetched::Page(p)) => p,
        Ok(crate::source::fetch::Fetched::NotModified) => {
            check.problems.push(format!(
                "{source} answered 304 Not Modified to a plain request"
            ));
            return check;
        }
        Err(e) => {
            check.problems.push(format!("cannot fetch {source}: {e}"));
            return check;
        }
    };
    let now = Utc::now();
    match &feed.kind {
        FeedKind::Scrape { items: None, .. } => {
            match crate::extract::auto::scrape(feed, &page, now) {
                Ok((scraped, how)) => {
                    check.summary = format!(
                        "{} entries on {source}, found automatically by {how}",
                        scraped.items.len()
                    );
                    if let Some(msg) = crate::health::too_few_found_automatically(
                        feed,
                        scraped.items.len(),
                        &how,
                        &source.to_string(),
                    ) {
                        check.problems.push(msg);
                    }
                    check.warnings = scraped.warnings;
                }
                Err(e) => {
                    check.summary = format!("0 entries on {source}");
                    check.problems.push(e.to_string());
                }
            }
        }
        FeedKind::Scrape {
            items: Some(rules), ..
        } => match scrape::scrape(feed, rules, &page, now) {
            Ok(scraped) => {
                check.summary = format!(
                    "{} entries on {source}; {}",
                    scraped.items.len(),
                    coverage_line(rules, &scraped)
                );
                let v = verdict(feed, rules, &scraped, &source.to_string(), last);
                check.problems = v.errors;
                check.warnings = scraped.warnings;
                check.warnings.extend(v.warnings);
            }
            Err(e) => {
                check.summary = format!("0 entries on {source}");
                check.problems.push(e.to_string());
            }
        },
        FeedKind::Upstream { .. } => {
            match crate::source::sniff::not_html(&page, &source.to_string(), "a feed", "feed_url") {
                Some(msg) => {
                    check.problems.push(msg);
                }
                None => match crate::extract::upstream::parse_upstream(&page, now) {
                    // An empty feed is valid (build writes it), but worth a word.
                    Ok(up) if up.items.is_empty() => {
                        check.summary = format!("0 entries in {source}");
                        check.warnings.push(format!(
                            "feed {}: the feed {source} has no entries right now",
                            feed.name
                        ));
                    }
                    Ok(up) => {
                        check.summary = format!("{} entries in {source}", up.items.len());
                        check.warnings = up.warnings;
                    }
                    Err(e) => {
                        check.summary = format!("feed {source}");
                        check
                            .problems
                            .push(format!("cannot read the feed {source}: {e}"));
                    }
                },
            }
        }
        FeedKind::Merge { .. } => {}
    }
    check
}

/// Check the `selected` feeds of `config`, fetching them when `fetch` is given (several at
/// once, at most `settings.concurrency`). Results are in the order of `selected`. A merged
/// feed fails when a feed it merges failed in this check. Also returns notes on the run
/// (a history that could not be read).
pub async fn run(
    config: &Config,
    selected: &[&FeedConfig],
    fetcher: Option<Arc<Fetcher>>,
) -> (Vec<FeedCheck>, Vec<String>) {
    let mut notes = Vec::new();
    let mut results: Vec<FeedCheck> = match fetcher {
        None => selected.iter().map(|f| offline(f)).collect(),
        Some(fetcher) => {
            let (last, note) = last_coverages(config, selected);
            notes.extend(note);
            let last = Arc::new(last);
            let limit = Arc::new(tokio::sync::Semaphore::new(
                config.settings.concurrency.max(1),
            ));
            // One browser for the feeds with `render = "chromium"`, started by the first.
            let chromium = Arc::new(Chromium::new(&config.settings));
            let mut set = tokio::task::JoinSet::new();
            for (i, feed) in selected.iter().enumerate() {
                let feed = (*feed).clone();
                let fetcher = Arc::clone(&fetcher);
                let chromium = Arc::clone(&chromium);
                let limit = Arc::clone(&limit);
                let last = Arc::clone(&last);
                set.spawn(async move {
                    let _permit = limit.acquire().await.ok();
                    let checked = live(&feed, &fetcher, &chromium, last.get(&feed.name)).await;
                    (i, checked)
                });
            }
            let mut out: Vec<Option<FeedCheck>> = vec![None; selected.len()];
            while let Some(done) = set.join_next().await {
                if let Ok((i, c)) = done
                    && let Some(slot) = out.get_mut(i)
                {
                    *slot = Some(c);
                }
            }
            chromium.close().await;
            out.into_iter()
                .zip(selected)
                .map(|(c, f)| {
                    c.unwrap_or_else(|| FeedCheck {
                        name: f.name.clone(),
                        summary: String::new(),
                        problems: vec!["the check of this feed stopped unexpectedly".to_string()],
                        warnings: Vec::new(),
                    })
                })
                .collect()
        }
    };
    // Merged feeds after their sources (by merge depth): a failed source is a failed merge.
    let mut order: Vec<usize> = (0..selected.len()).collect();
    order.sort_by_key(|&i| selected[i].merge_depth);
    let mut failed: std::collections::HashSet<String> = results
        .iter()
        .filter(|c| !c.ok())
        .map(|c| c.name.clone())
        .collect();
    for i in order {
        let (Some(c), Some(f)) = (results.get_mut(i), selected.get(i)) else {
            continue;
        };
        for s in f.merge_sources() {
            if failed.contains(s) {
                c.problems
                    .push(format!("it merges feed {s}, which would fail"));
            }
        }
        if !c.ok() {
            failed.insert(c.name.clone());
        }
    }
    (results, notes)
}

//! `pagefeed build`: every stage in order, for each feed of the config.
//!
//! Fetches run concurrently (they wait on the network); everything after them runs one feed
//! at a time against the one history connection. A feed that fails keeps its files exactly
//! as they were and is reported; the other feeds are still built. The run holds a lock on the
//! state so two builds never interleave their writes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::Semaphore;

use crate::config::{Config, FeedConfig, FeedKind};

use crate::feed::history::{History, HistoryError, RobotsRow, SourceState};
use crate::feed::output::{self, OutputError, RunLock};
use crate::source::browser::Chromium;
use crate::source::fetch::{FetchError, Fetched, Fetcher};
use crate::source::robots::{HostSpacing, Robots, StoredFile};

use crate::refresh::{ACCEPT_FEED, ACCEPT_PAGE, FeedError, fingerprint, refresh, render_feed};
/// How many pages are fetched at once.
const FETCH_CONCURRENCY: usize = 8;
/// How long a build waits for another build holding the state lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Errors that stop the whole run.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("unknown feed `{name}`; the config {config} defines: {known}")]
    UnknownFeed {
        name: String,
        config: String,
        known: String,
    },
    #[error(transparent)]
    Lock(#[from] OutputError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// At least one file was (re)written.
    Written,
    /// Every file already held these bytes.
    Unchanged,
    /// The feed failed; its files were left alone. Holds the full message.
    Failed(String),
}

/// The result of building one feed.
#[derive(Debug, Clone)]
pub struct FeedReport {
    pub name: String,
    pub status: Status,
    /// Entries found on the page.
    pub found: usize,
    /// Items not seen before.
    pub new: usize,
    /// Items in the feed as written (or as kept, on failure).
    pub items: usize,
    /// The page was not modified since the last run (304, or the same bytes): not re-read.
    pub page_unchanged: bool,
    pub warnings: Vec<String>,
    /// For a feed without selectors: how its entries were found automatically.
    pub found_by: Option<String>,
}

impl FeedReport {
    /// The one line `build` prints for this feed.
    pub fn line(&self) -> String {
        let line = self.status_line();
        match &self.found_by {
            Some(how) => format!("{line} (found automatically by {how})"),
            None => line,
        }
    }

    fn status_line(&self) -> String {
        match &self.status {
            Status::Written if self.page_unchanged => format!(
                "{}: page not modified, {} items, written",
                self.name, self.items
            ),
            Status::Written => format!(
                "{}: {} found, {} new, {} items, written",
                self.name, self.found, self.new, self.items
            ),
            Status::Unchanged if self.page_unchanged => format!(
                "{}: page not modified, {} items, unchanged",
                self.name, self.items
            ),
            Status::Unchanged => format!(
                "{}: {} found, {} new, {} items, unchanged",
                self.name, self.found, self.new, self.items
            ),
            Status::Failed(msg) => format!("{}: FAILED: {msg}", self.name),
        }
    }
}

/// A callback run once per finished feed.
pub type OnFeed = Box<dyn Fn(&FeedReport) + Send + Sync>;

/// Options of one run.
pub struct BuildOptions {
    pub out_dir: PathBuf,
    /// Feed names to build; empty means all.
    pub only: Vec<String>,
    /// Called once per finished feed (progress display).
    pub on_feed: Option<OnFeed>,
}

/// Build the selected feeds of `config` (and the sources of selected merged feeds).
pub async fn build(config: &Config, opts: &BuildOptions) -> Result<Vec<FeedReport>, BuildError> {
    let feeds = select_feeds(config, &opts.only)?;
    let state = config.settings.state.clone();
    let _lock = RunLock::acquire(&state, LOCK_WAIT, |p| {
        eprintln!(
            "waiting for another pagefeed run to finish (lock {}) ...",
            p.display()
        );
    })?;
    // A build killed while writing left its temporary files; nobody else writes them now.
    for name in output::remove_stale_temp_files(&opts.out_dir) {
        tracing::info!(file = %name, "removed a temporary file a killed run left behind");
    }
    let mut history = History::open(&state)?;
    let fetcher = Arc::new(Fetcher::new(&config.settings)?);
    // One browser for the run's `render = "chromium"` feeds, started by the first of them.
    let chromium = Arc::new(Chromium::new(&config.settings));
    let (fetched_feeds, merged_feeds): (Vec<&FeedConfig>, Vec<&FeedConfig>) =
        feeds.into_iter().partition(|f| f.source().is_some());

    // What each feed's last good run saw: validators for a conditional request, and the
    // page hash. A feed whose config changed since then is fetched and read afresh.
    let mut previous = Vec::with_capacity(fetched_feeds.len());
    for feed in &fetched_feeds {
        let fp = fingerprint(feed);
        previous.push(
            history
                .source_state(&feed.name)?
                .filter(|st| st.fingerprint == fp),
        );
    }

    // robots.txt: the stored copies, and one fetch per host whose copy is a day old. A site's
    // Crawl-delay spaces the requests of this run to it where it is longer than host_delay.
    let stored = history
        .robots_rows()?
        .into_iter()
        .map(|r| StoredFile {
            host: r.host,
            fetched_at: r.fetched_at,
            body: r.body,
        })
        .collect();
    let robots = Arc::new(Robots::new(
        &config.settings.user_agent,
        stored,
        Utc::now().timestamp(),
    ));
    let spacing = Arc::new(HostSpacing::default());
    let host_delay = config.settings.host_delay;

    // Fetch every page concurrently; process them in config order as they are needed.
    let permits = Arc::new(Semaphore::new(FETCH_CONCURRENCY));
    let mut pending = Vec::new();
    for (feed, prev) in fetched_feeds.iter().zip(&previous) {
        let fetcher = Arc::clone(&fetcher);
        let chromium = Arc::clone(&chromium);
        let permits = Arc::clone(&permits);
        let robots = Arc::clone(&robots);
        let spacing = Arc::clone(&spacing);
        let feed_config = (*feed).clone();
        let source = feed.source().cloned();
        let accept = match feed.kind {
            FeedKind::Upstream { .. } => ACCEPT_FEED,
            _ => ACCEPT_PAGE,
        };
        let validators = prev.as_ref().map(|p| p.validators.clone());
        let prev_state = prev.clone();
        pending.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            let now = Utc::now().trunc_subsecs(0);
            let mut spaced = false;
            let fetched = match (&source, robots.check_feed(&fetcher, &feed_config).await) {
                (_, Err(e)) => Err(e),
                (Some(s), Ok(crawl_delay)) => {
                    spaced = crawl_delay.is_some();
                    // Only a site that asks for it gets its requests spaced in a build:
                    // by its Crawl-delay, or host_delay where that is longer.
                    if let (Some(d), crate::config::Source::Http(u)) = (crawl_delay, s)
                        && let Some(host) = crate::source::robots::host_key(u)
                    {
                        let d = d.max(host_delay);
                        tracing::info!(host = %host, delay = ?d, "robots.txt Crawl-delay spaces requests");
                        spacing.wait(&host, d).await;
                    }
                    crate::source::browser::load_listing(
                        &fetcher,
                        &chromium,
                        &feed_config,
                        s,
                        validators.as_ref(),
                        accept,
                    )
                    .await
                }
                (None, Ok(_)) => Err(FetchError::Request("the feed has no source".into())),
            };
            let polite = BuildPoliteness {
                fetcher: &fetcher,
                chromium: &chromium,
                feed: &feed_config,
                robots: &robots,
                spacing: &spacing,
                host_delay,
            };
            if crate::pages::walks(&feed_config)
                && !spaced
                && let Some(crate::config::Source::Http(u)) = &source
            {
                // The first page's request takes its host's turn, so the next page waits
                // `host_delay` (or the Crawl-delay) after it.
                polite.take_turn(u).await;
            }
            let further = crate::pages::walk(
                &polite,
                &feed_config,
                &fetched,
                prev_state.as_ref(),
                now,
            )
            .await;
            (fetched, further, now)
        }));
    }
    let mut reports = Vec::with_capacity(fetched_feeds.len() + merged_feeds.len());
    let mut failed: Vec<String> = Vec::new();
    let last = fetched_feeds.len().saturating_sub(1);
    for (i, ((feed, task), prev)) in fetched_feeds.iter().zip(pending).zip(previous).enumerate() {
        let (fetched, further, now) = match task.await {
            Ok(r) => r,
            Err(e) => (
                Err(FetchError::Request(format!("fetch task failed: {e}"))),
                crate::pages::Further::default(),
                Utc::now().trunc_subsecs(0),
            ),
        };
        let polite = BuildPoliteness {
            fetcher: &fetcher,
            chromium: &chromium,
            feed,
            robots: &robots,
            spacing: &spacing,
            host_delay,
        };
        let ctx = RunContext {
            config,
            history: &mut history,
            out_dir: &opts.out_dir,
            now,
            polite: Some(&polite),
            last: i == last,
        };
        let report = build_one(feed, Work::Fetched(Box::new((fetched, further, prev))), ctx).await;
        if matches!(report.status, Status::Failed(_)) {
            failed.push(feed.name.clone());
        }
        if let Some(cb) = &opts.on_feed {
            cb(&report);
        }
        reports.push(report);
    }
    chromium.close().await;
    for file in robots.fetched().await {
        history.save_robots(&RobotsRow {
            host: file.host,
            fetched_at: file.fetched_at,
            body: file.body,
        })?;
    }
    // Merged feeds after all their sources, innermost first.
    let now = Utc::now().trunc_subsecs(0);
    for feed in merge_order(&merged_feeds) {
        let ctx = RunContext {
            config,
            history: &mut history,
            out_dir: &opts.out_dir,
            now,
            polite: None,
            last: false,
        };
        let mut report = build_one(feed, Work::Merge, ctx).await;
        let broken: Vec<String> = all_sources(config, feed)
            .into_iter()
            .filter(|s| failed.contains(s))
            .collect();
        for s in broken {
            report.warnings.push(format!(
                "feed {}: source `{s}` failed this run; its last good items are kept in the merge",
                feed.name
            ));
        }
        if let Some(cb) = &opts.on_feed {
            cb(&report);
        }
        reports.push(report);
    }
    Ok(reports)
}

/// robots.txt and host spacing for the further pages of a listing in a build: the run's
/// robots.txt files, and each request to a host `host_delay` (or the site's Crawl-delay, where
/// longer) after the one before.
struct BuildPoliteness<'a> {
    fetcher: &'a Fetcher,
    chromium: &'a Chromium,
    feed: &'a FeedConfig,
    robots: &'a Robots,
    spacing: &'a HostSpacing,
    host_delay: Duration,
}

impl BuildPoliteness<'_> {
    async fn take_turn(&self, url: &url::Url) {
        if let Some(host) = crate::source::robots::host_key(url) {
            self.spacing.wait(&host, self.host_delay).await;
        }
    }
}

impl crate::pages::Politeness for BuildPoliteness<'_> {
    async fn fetch(&self, url: &url::Url) -> Result<crate::source::fetch::Page, FetchError> {
        crate::source::browser::load_page(self.fetcher, self.chromium, self.feed, url).await
    }

    async fn robots(&self, url: &url::Url) -> crate::source::robots::Verdict {
        self.robots.check(self.fetcher, url).await
    }

    async fn wait(&self, url: &url::Url, crawl_delay: Option<Duration>) {
        if let Some(host) = crate::source::robots::host_key(url) {
            let d = crawl_delay.map_or(self.host_delay, |d| d.max(self.host_delay));
            self.spacing.wait(&host, d).await;
        }
    }
}

/// The merged feeds in an order where every merged source comes before the feeds using it.
fn merge_order<'c>(merged: &[&'c FeedConfig]) -> Vec<&'c FeedConfig> {
    let mut out = merged.to_vec();
    out.sort_by_key(|f| f.merge_depth);
    out
}

/// Every feed a merged feed draws on, directly or through other merged feeds.
fn all_sources<'c>(config: &'c Config, feed: &'c FeedConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<&str> = feed.merge_sources().iter().map(String::as_str).collect();
    while let Some(name) = stack.pop() {
        if out.iter().any(|o: &String| o == name) {
            continue;
        }
        out.push(name.to_string());
        if let Some(f) = config.feed(name) {
            stack.extend(f.merge_sources().iter().map(String::as_str));
        }
    }
    out
}

/// What one feed's processing needs from the run.
struct RunContext<'r> {
    config: &'r Config,
    history: &'r mut History,
    out_dir: &'r Path,
    now: DateTime<Utc>,
    /// For the feed's article pages (`[feeds.NAME.article]`).
    polite: Option<&'r BuildPoliteness<'r>>,
    /// The last fetched feed: its history writes are the run's last (but for robots.txt).
    last: bool,
}

/// What there is to do for one feed.
enum Work {
    /// Its page or upstream feed was fetched (or not), with what the last good run saw.
    Fetched(
        Box<(
            Result<Fetched, FetchError>,
            crate::pages::Further,
            Option<SourceState>,
        )>,
    ),
    /// It merges other feeds.
    Merge,
}

fn select_feeds<'c>(
    config: &'c Config,
    only: &[String],
) -> Result<Vec<&'c FeedConfig>, BuildError> {
    if only.is_empty() {
        return Ok(config.feeds.iter().collect());
    }
    let mut names: Vec<String> = Vec::new();
    for name in only {
        let feed = config.feed(name).ok_or_else(|| BuildError::UnknownFeed {
            name: name.clone(),
            config: config.path.display().to_string(),
            known: config
                .feeds
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        names.push(name.clone());
        // A merged feed is only as fresh as its sources: refresh them too.
        names.extend(all_sources(config, feed));
    }
    Ok(config
        .feeds
        .iter()
        .filter(|f| names.contains(&f.name))
        .collect())
}

async fn build_one(feed: &FeedConfig, work: Work, ctx: RunContext<'_>) -> FeedReport {
    let mut report = FeedReport {
        name: feed.name.clone(),
        status: Status::Unchanged,
        found: 0,
        new: 0,
        items: 0,
        page_unchanged: false,
        warnings: Vec::new(),
        found_by: None,
    };
    let RunContext {
        config,
        history,
        out_dir,
        now,
        polite,
        last,
    } = ctx;
    let result = match work {
        Work::Fetched(work) => {
            let (fetched, further, prev) = *work;
            match refresh(feed, fetched, further, prev, history, now) {
                Ok(r) => {
                    report.found = r.found;
                    report.new = r.new;
                    report.page_unchanged = r.page_unchanged;
                    report.warnings = r.warnings;
                    report.found_by = r.found_by;
                    match fetch_articles(feed, history, polite, now).await {
                        Ok(w) => {
                            report.warnings.extend(w);
                            if last {
                                // The run's writes are done: copying them into the database
                                // file (and its two syncs) overlaps rendering and writing.
                                history.checkpoint_soon();
                            }
                            publish(config, feed, history, out_dir, now, &mut report)
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        Work::Merge => publish(config, feed, history, out_dir, now, &mut report),
    };
    if let Err(e) = result {
        let kept = history.count(&feed.name).unwrap_or(0);
        let files_exist = feed
            .formats
            .iter()
            .any(|f| out_dir.join(format!("{}.{}", feed.name, f.ext())).exists());
        let kept_msg = if files_exist {
            format!(
                "kept the last good feed ({} items)",
                kept.min(feed.max_items)
            )
        } else {
            "no feed was written yet".to_string()
        };
        let msg = format!("feed {}: {e}; {kept_msg}", feed.name);
        tracing::warn!(feed = %feed.name, "{msg}");
        let _ = history.record_failure(&feed.name, now, &e.to_string());
        report.items = if files_exist {
            kept.min(feed.max_items)
        } else {
            0
        };
        report.status = Status::Failed(msg);
    }
    report
}

/// The feed's queued article pages (new items' links), fetched and stored before it is
/// rendered; a failed article is a warning, never a failed feed.
async fn fetch_articles(
    feed: &FeedConfig,
    history: &mut History,
    polite: Option<&BuildPoliteness<'_>>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, FeedError> {
    let Some(polite) = polite else {
        return Ok(Vec::new());
    };
    let pending = crate::articles::pending(feed, history)?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let attempts = crate::articles::fetch(polite, feed, pending).await;
    Ok(crate::articles::store(feed, history, attempts, now)?)
}

/// Render a feed's items in every format and write the files that changed.
fn publish(
    config: &Config,
    feed: &FeedConfig,
    history: &mut History,
    out_dir: &Path,
    now: DateTime<Utc>,
    report: &mut FeedReport,
) -> Result<(), FeedError> {
    let rendered = render_feed(config, history, feed, now)?;
    report.items = rendered.items;
    if let FeedKind::Merge { .. } = feed.kind {
        report.found = rendered.items;
    }
    let files: Vec<(PathBuf, Vec<u8>)> = rendered
        .files
        .into_iter()
        .map(|(format, bytes)| {
            let path = out_dir.join(format!("{}.{}", feed.name, format.ext()));
            (path, bytes)
        })
        .collect();
    let wrote = output::write_all_if_changed(&files)?.contains(&true);
    report.status = if wrote {
        Status::Written
    } else {
        Status::Unchanged
    };
    Ok(())
}

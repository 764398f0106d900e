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

use crate::config::{Config, FeedConfig};
use crate::fetch::{FetchError, Fetcher, Page};
use crate::history::{History, HistoryError, PRUNE_FACTOR};
use crate::item::FeedMeta;
use crate::output::{self, OutputError, RunLock};
use crate::render::{self, RenderError};
use crate::scrape::{self, ScrapeError, Scraped};

/// How many pages are fetched at once.
const FETCH_CONCURRENCY: usize = 8;
/// How long a build waits for another build holding the state lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Why one feed failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot fetch {url}: {source}")]
    Fetch { url: String, source: FetchError },
    #[error(transparent)]
    Scrape(#[from] ScrapeError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Output(#[from] OutputError),
}

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
    pub warnings: Vec<String>,
}

impl FeedReport {
    /// The one line `build` prints for this feed.
    pub fn line(&self) -> String {
        match &self.status {
            Status::Written => format!(
                "{}: {} found, {} new, {} items, written",
                self.name, self.found, self.new, self.items
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

/// Build the selected feeds of `config`.
pub async fn build(config: &Config, opts: &BuildOptions) -> Result<Vec<FeedReport>, BuildError> {
    let feeds = select_feeds(config, &opts.only)?;
    let state = config.settings.state.clone();
    let _lock = RunLock::acquire(&state, LOCK_WAIT, |p| {
        eprintln!(
            "waiting for another pagefeed run to finish (lock {}) ...",
            p.display()
        );
    })?;
    let mut history = History::open(&state)?;
    let fetcher = Arc::new(Fetcher::new(&config.settings)?);

    // Fetch every page concurrently; process them in config order as they are needed.
    let permits = Arc::new(Semaphore::new(FETCH_CONCURRENCY));
    let mut pending = Vec::new();
    for feed in &feeds {
        let fetcher = Arc::clone(&fetcher);
        let permits = Arc::clone(&permits);
        let source = feed.source.clone();
        pending.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            let now = Utc::now().trunc_subsecs(0);
            (fetcher.fetch(&source).await, now)
        }));
    }
    let mut reports = Vec::with_capacity(feeds.len());
    for (feed, task) in feeds.iter().zip(pending) {
        let (fetched, now) = match task.await {
            Ok(r) => r,
            Err(e) => (
                Err(FetchError::Request(format!("fetch task failed: {e}"))),
                Utc::now().trunc_subsecs(0),
            ),
        };
        let report = build_one(
            feed,
            fetched,
            now,
            &mut history,
            &opts.out_dir,
            config.settings.base_url.as_ref(),
        );
        if let Some(cb) = &opts.on_feed {
            cb(&report);
        }
        reports.push(report);
    }
    Ok(reports)
}

fn select_feeds<'c>(
    config: &'c Config,
    only: &[String],
) -> Result<Vec<&'c FeedConfig>, BuildError> {
    if only.is_empty() {
        return Ok(config.feeds.iter().collect());
    }
    only.iter()
        .map(|name| {
            config.feed(name).ok_or_else(|| BuildError::UnknownFeed {
                name: name.clone(),
                config: config.path.display().to_string(),
                known: config
                    .feeds
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        })
        .collect()
}

fn build_one(
    feed: &FeedConfig,
    fetched: Result<Page, FetchError>,
    now: DateTime<Utc>,
    history: &mut History,
    out_dir: &Path,
    base_url: Option<&url::Url>,
) -> FeedReport {
    let mut report = FeedReport {
        name: feed.name.clone(),
        status: Status::Unchanged,
        found: 0,
        new: 0,
        items: 0,
        warnings: Vec::new(),
    };
    match process(feed, fetched, now, history, out_dir, base_url, &mut report) {
        Ok(()) => {}
        Err(e) => {
            let kept = history.count(&feed.name).unwrap_or(0);
            let files_exist = feed
                .formats
                .iter()
                .any(|f| out_dir.join(format!("{}.{}", feed.name, f.ext())).exists());
            let kept_msg = if kept > 0 && files_exist {
                format!(
                    "kept the last good feed ({} items)",
                    kept.min(feed.max_items)
                )
            } else {
                "no feed was written yet".to_string()
            };
            let msg = format!("feed {}: {e}; {kept_msg}", feed.name);
            let _ = history.record_failure(&feed.name, now, &e.to_string());
            report.items = if files_exist {
                kept.min(feed.max_items)
            } else {
                0
            };
            report.status = Status::Failed(msg);
        }
    }
    report
}

fn process(
    feed: &FeedConfig,
    fetched: Result<Page, FetchError>,
    now: DateTime<Utc>,
    history: &mut History,
    out_dir: &Path,
    base_url: Option<&url::Url>,
    report: &mut FeedReport,
) -> Result<(), FeedError> {
    let page = fetched.map_err(|source| FeedError::Fetch {
        url: feed.source.to_string(),
        source,
    })?;
    let scraped = scrape::scrape(feed, &page, now)?;
    report.found = scraped.items.len();
    report.warnings = scraped.warnings.clone();
    let stats = history.merge(
        &feed.name,
        &scraped.items,
        now,
        feed.max_items * PRUNE_FACTOR,
    )?;
    report.new = stats.new;
    let items = history.latest(&feed.name, feed.max_items)?;
    report.items = items.len();
    let meta = feed_meta(feed, &scraped, base_url);
    let mut files = Vec::with_capacity(feed.formats.len());
    for format in &feed.formats {
        files.push((format, render::render(*format, &meta, &items)?));
    }
    let mut wrote = false;
    for (format, bytes) in files {
        let path = out_dir.join(format!("{}.{}", feed.name, format.ext()));
        wrote |= output::write_if_changed(&path, &bytes)?;
    }
    report.status = if wrote {
        Status::Written
    } else {
        Status::Unchanged
    };
    Ok(())
}

/// Channel facts: the config first, then what the page says, then fallbacks.
pub fn feed_meta(feed: &FeedConfig, scraped: &Scraped, base_url: Option<&url::Url>) -> FeedMeta {
    let page = &scraped.extraction.page;
    let title = feed
        .title
        .clone()
        .or_else(|| page.title.clone())
        .unwrap_or_else(|| feed.name.clone());
    let description = feed
        .description
        .clone()
        .or_else(|| page.description.clone())
        .unwrap_or_else(|| format!("Entries of {} ({})", title, scraped.site));
    FeedMeta {
        name: feed.name.clone(),
        title,
        description,
        link: scraped.site.to_string(),
        language: feed.language.clone().or_else(|| page.language.clone()),
        time_zone: feed.time_zone,
        self_base: base_url.cloned(),
    }
}

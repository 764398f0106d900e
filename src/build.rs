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
use sha2::{Digest, Sha256};

use crate::fetch::{FetchError, Fetched, Fetcher, Page};
use crate::history::{History, HistoryError, PRUNE_FACTOR, SourceState, StoredMeta};
use crate::item::{FeedMeta, hex, stable_hash};
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
    /// The page was not modified since the last run (304, or the same bytes): not re-read.
    pub page_unchanged: bool,
    pub warnings: Vec<String>,
}

impl FeedReport {
    /// The one line `build` prints for this feed.
    pub fn line(&self) -> String {
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

    // What each feed's last good run saw: validators for a conditional request, and the
    // page hash. A feed whose config changed since then is fetched and read afresh.
    let mut previous = Vec::with_capacity(feeds.len());
    for feed in &feeds {
        let fp = fingerprint(feed);
        previous.push(
            history
                .source_state(&feed.name)?
                .filter(|st| st.fingerprint == fp),
        );
    }

    // Fetch every page concurrently; process them in config order as they are needed.
    let permits = Arc::new(Semaphore::new(FETCH_CONCURRENCY));
    let mut pending = Vec::new();
    for (feed, prev) in feeds.iter().zip(&previous) {
        let fetcher = Arc::clone(&fetcher);
        let permits = Arc::clone(&permits);
        let source = feed.source.clone();
        let validators = prev.as_ref().map(|p| p.validators.clone());
        pending.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            let now = Utc::now().trunc_subsecs(0);
            (
                fetcher.fetch_if_changed(&source, validators.as_ref()).await,
                now,
            )
        }));
    }
    let mut reports = Vec::with_capacity(feeds.len());
    for ((feed, task), prev) in feeds.iter().zip(pending).zip(previous) {
        let (fetched, now) = match task.await {
            Ok(r) => r,
            Err(e) => (
                Err(FetchError::Request(format!("fetch task failed: {e}"))),
                Utc::now().trunc_subsecs(0),
            ),
        };
        let ctx = RunContext {
            history: &mut history,
            out_dir: &opts.out_dir,
            base_url: config.settings.base_url.as_ref(),
            now,
        };
        let report = build_one(feed, fetched, prev, ctx);
        if let Some(cb) = &opts.on_feed {
            cb(&report);
        }
        reports.push(report);
    }
    Ok(reports)
}

/// A hash of everything in a feed's config that shapes its items, and of pagefeed's version.
fn fingerprint(feed: &FeedConfig) -> String {
    stable_hash(&[env!("CARGO_PKG_VERSION"), &format!("{feed:?}")])
}

/// What one feed's processing needs from the run.
struct RunContext<'r> {
    history: &'r mut History,
    out_dir: &'r Path,
    base_url: Option<&'r url::Url>,
    now: DateTime<Utc>,
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
    fetched: Result<Fetched, FetchError>,
    prev: Option<SourceState>,
    ctx: RunContext,
) -> FeedReport {
    let mut report = FeedReport {
        name: feed.name.clone(),
        status: Status::Unchanged,
        found: 0,
        new: 0,
        items: 0,
        page_unchanged: false,
        warnings: Vec::new(),
    };
    let RunContext {
        history,
        out_dir,
        base_url,
        now,
    } = ctx;
    if let Err(e) = process(
        feed,
        fetched,
        prev,
        history,
        out_dir,
        base_url,
        now,
        &mut report,
    ) {
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
        tracing::warn!(feed = %feed.name, source = %feed.source, "{msg}");
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

#[allow(clippy::too_many_arguments)]
fn process(
    feed: &FeedConfig,
    fetched: Result<Fetched, FetchError>,
    prev: Option<SourceState>,
    history: &mut History,
    out_dir: &Path,
    base_url: Option<&url::Url>,
    now: DateTime<Utc>,
    report: &mut FeedReport,
) -> Result<(), FeedError> {
    let fetched = fetched.map_err(|source| FeedError::Fetch {
        url: feed.source.to_string(),
        source,
    })?;
    // The page is the same as last time (a 304, or the same bytes read with the same
    // config): nothing to extract or store; the feed is rendered from the history as is.
    let unchanged_meta = match (&fetched, &prev) {
        (Fetched::NotModified, Some(p)) => Some(p.meta.clone()),
        (Fetched::Page(page), Some(p)) if p.page_hash == page_hash(&p.fingerprint, page) => {
            Some(p.meta.clone())
        }
        _ => None,
    };
    let meta = if let Some(stored) = unchanged_meta {
        report.page_unchanged = true;
        history.record_unchanged(&feed.name, now)?;
        meta_from_stored(feed, stored, base_url)
    } else {
        let page = match fetched {
            Fetched::Page(p) => p,
            // A 304 without a stored state cannot happen (no validators were sent); fail loud.
            Fetched::NotModified => {
                return Err(FeedError::Fetch {
                    url: feed.source.to_string(),
                    source: FetchError::Status {
                        status: 304,
                        reason: Some("Not Modified, but no earlier copy is stored".to_string()),
                    },
                });
            }
        };
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
        let meta = feed_meta(feed, &scraped, base_url);
        let fp = fingerprint(feed);
        history.save_source_state(
            &feed.name,
            &SourceState {
                page_hash: page_hash(&fp, &page),
                fingerprint: fp,
                validators: page.validators.clone(),
                meta: StoredMeta {
                    title: meta.title.clone(),
                    description: meta.description.clone(),
                    link: meta.link.clone(),
                    language: meta.language.clone(),
                },
            },
        )?;
        meta
    };
    let items = history.latest(&feed.name, feed.max_items)?;
    report.items = items.len();
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

fn page_hash(fingerprint: &str, page: &Page) -> String {
    let mut h = Sha256::new();
    h.update(fingerprint.as_bytes());
    h.update(page.content_type.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(&page.bytes);
    hex(&h.finalize())
}

fn meta_from_stored(feed: &FeedConfig, m: StoredMeta, base_url: Option<&url::Url>) -> FeedMeta {
    FeedMeta {
        name: feed.name.clone(),
        title: m.title,
        description: m.description,
        link: m.link,
        language: m.language,
        time_zone: feed.time_zone,
        self_base: base_url.cloned(),
    }
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

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

use crate::config::{Config, FeedConfig, FeedKind, Format, Source};
use sha2::{Digest, Sha256};

use crate::extract::scrape::{self, ScrapeError, Scraped};
use crate::extract::upstream::{self, UpstreamError};
use crate::feed::history::{
    History, HistoryError, MergePolicy, PRUNE_FACTOR, SourceState, StoredMeta,
};
use crate::feed::item::{FeedMeta, Item, ItemSource, NewItem, hex, stable_hash};
use crate::feed::merge;
use crate::feed::output::{self, OutputError, RunLock};
use crate::feed::render::{self, RenderError};
use crate::health;
use crate::source::fetch::{FetchError, Fetched, Fetcher, Page};

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
    /// A selector-health rule failed the page (see [`crate::health`]).
    #[error("{0}")]
    Health(String),
    #[error("{url}: {source}")]
    Upstream { url: String, source: UpstreamError },
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

    // Fetch every page concurrently; process them in config order as they are needed.
    let permits = Arc::new(Semaphore::new(FETCH_CONCURRENCY));
    let mut pending = Vec::new();
    for (feed, prev) in fetched_feeds.iter().zip(&previous) {
        let fetcher = Arc::clone(&fetcher);
        let permits = Arc::clone(&permits);
        let source = feed.source().cloned();
        let accept = match feed.kind {
            FeedKind::Upstream { .. } => ACCEPT_FEED,
            _ => ACCEPT_PAGE,
        };
        let validators = prev.as_ref().map(|p| p.validators.clone());
        pending.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            let now = Utc::now().trunc_subsecs(0);
            let fetched = match &source {
                Some(s) => {
                    fetcher
                        .fetch_if_changed(s, validators.as_ref(), accept)
                        .await
                }
                None => Err(FetchError::Request("the feed has no source".into())),
            };
            (fetched, now)
        }));
    }
    let mut reports = Vec::with_capacity(fetched_feeds.len() + merged_feeds.len());
    let mut failed: Vec<String> = Vec::new();
    for ((feed, task), prev) in fetched_feeds.iter().zip(pending).zip(previous) {
        let (fetched, now) = match task.await {
            Ok(r) => r,
            Err(e) => (
                Err(FetchError::Request(format!("fetch task failed: {e}"))),
                Utc::now().trunc_subsecs(0),
            ),
        };
        let ctx = RunContext {
            config,
            history: &mut history,
            out_dir: &opts.out_dir,
            now,
        };
        let report = build_one(feed, Work::Fetched(Box::new((fetched, prev))), ctx);
        if matches!(report.status, Status::Failed(_)) {
            failed.push(feed.name.clone());
        }
        if let Some(cb) = &opts.on_feed {
            cb(&report);
        }
        reports.push(report);
    }
    // Merged feeds after all their sources, innermost first.
    let now = Utc::now().trunc_subsecs(0);
    for feed in merge_order(&merged_feeds) {
        let ctx = RunContext {
            config,
            history: &mut history,
            out_dir: &opts.out_dir,
            now,
        };
        let mut report = build_one(feed, Work::Merge, ctx);
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

/// `Accept` for listing pages and for upstream feeds.
pub const ACCEPT_PAGE: &str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8";
pub const ACCEPT_FEED: &str = "application/rss+xml,application/atom+xml,application/feed+json,application/rdf+xml;q=0.9,application/xml;q=0.8,text/xml;q=0.8,*/*;q=0.5";

/// A hash of everything in a feed's config that shapes its items, and of pagefeed's version.
pub fn fingerprint(feed: &FeedConfig) -> String {
    stable_hash(&[
        env!("CARGO_PKG_VERSION"),
        &format!("{:?}", feed.kind),
        &format!(
            "{:?}",
            (
                &feed.site_url,
                &feed.title,
                &feed.description,
                &feed.language,
                feed.time_zone,
                &feed.date_formats
            )
        ),
    ])
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
}

/// What there is to do for one feed.
enum Work {
    /// Its page or upstream feed was fetched (or not), with what the last good run saw.
    Fetched(Box<(Result<Fetched, FetchError>, Option<SourceState>)>),
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

fn build_one(feed: &FeedConfig, work: Work, ctx: RunContext) -> FeedReport {
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
    } = ctx;
    let result = match work {
        Work::Fetched(work) => {
            let (fetched, prev) = *work;
            refresh(feed, fetched, prev, history, now).and_then(|r| {
                report.found = r.found;
                report.new = r.new;
                report.page_unchanged = r.page_unchanged;
                report.warnings = r.warnings;
                report.found_by = r.found_by;
                publish(config, feed, history, out_dir, now, &mut report)
            })
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

/// Read a fetched page or upstream feed into the history; returns the channel facts.
pub fn refresh(
    feed: &FeedConfig,
    fetched: Result<Fetched, FetchError>,
    prev: Option<SourceState>,
    history: &mut History,
    now: DateTime<Utc>,
) -> Result<Refreshed, FeedError> {
    let url = feed.source().map(|s| s.to_string()).unwrap_or_default();
    let fetched = fetched.map_err(|source| FeedError::Fetch {
        url: url.clone(),
        source,
    })?;
    // The page is the same as last time (a 304, or the same bytes read with the same
    // config): nothing to extract or store; the feed is rendered from the history as is.
    match (&fetched, &prev) {
        (Fetched::NotModified, Some(_)) => {
            history.record_unchanged(&feed.name, now)?;
            return Ok(Refreshed::page_unchanged());
        }
        (Fetched::Page(page), Some(p)) if p.page_hash == page_hash(&p.fingerprint, page) => {
            history.record_unchanged(&feed.name, now)?;
            return Ok(Refreshed::page_unchanged());
        }
        _ => {}
    }
    let page = match fetched {
        Fetched::Page(p) => p,
        // A 304 without a stored state cannot happen (no validators were sent); fail loud.
        Fetched::NotModified => {
            return Err(FeedError::Fetch {
                url,
                source: FetchError::Status {
                    status: 304,
                    reason: Some("Not Modified, but no earlier copy is stored".to_string()),
                    retry_after: None,
                },
            });
        }
    };
    let mut warnings: Vec<String>;
    let mut coverage = None;
    let mut found_by: Option<String> = None;
    let (items, meta) = match &feed.kind {
        FeedKind::Scrape { items: rules, .. } => {
            let (scraped, verdict_warnings) = match rules {
                Some(rules) => {
                    let scraped = scrape::scrape(feed, rules, &page, now)?;
                    let last = health::last_coverage(feed, history)?;
                    let verdict = health::judge(feed, rules, &scraped, &url, last.as_ref());
                    if !verdict.errors.is_empty() {
                        return Err(FeedError::Health(verdict.errors.join("; ")));
                    }
                    coverage = Some(health::coverage(&scraped, rules));
                    (scraped, verdict.warnings)
                }
                None => {
                    let (scraped, how) = crate::extract::auto::scrape(feed, &page, now)?;
                    if scraped.items.len() < feed.min_items {
                        return Err(FeedError::Health(format!(
                            "automatic extraction ({how}) found {} entries on {url}, fewer than `min_items = {}`; run `pagefeed suggest {url}` to see the lists on the page and paste one as [feeds.{}.items]",
                            scraped.items.len(),
                            feed.min_items,
                            feed.name
                        )));
                    }
                    found_by = Some(how);
                    (scraped, Vec::new())
                }
            };
            warnings = scraped.warnings.clone();
            warnings.extend(verdict_warnings);
            let meta = scraped_meta(feed, &scraped);
            (scraped.items, meta)
        }
        FeedKind::Upstream { .. } => {
            if let Some(msg) = crate::source::sniff::not_html(&page, &url, "a feed", "feed_url") {
                return Err(FeedError::Health(msg));
            }
            let up =
                upstream::parse_upstream(&page, now).map_err(|source| FeedError::Upstream {
                    url: url.clone(),
                    source,
                })?;
            let mut up = up;
            let mut w: Vec<String> = up
                .warnings
                .iter()
                .map(|w| format!("feed {}: {w}", feed.name))
                .collect();
            drop_implausible_dates(feed, &mut up.items, now, &mut w);
            warnings = w;
            let title = feed
                .title
                .clone()
                .or(up.meta.title)
                .unwrap_or_else(|| feed.name.clone());
            let meta = StoredMeta {
                description: feed
                    .description
                    .clone()
                    .or(up.meta.description)
                    .unwrap_or_else(|| format!("Items of {title}")),
                title,
                link: feed
                    .site_url
                    .as_ref()
                    .map(|u| u.to_string())
                    .or(up.meta.link)
                    .unwrap_or_else(|| page.url.to_string()),
                language: feed.language.clone().or(up.meta.language),
            };
            (up.items, meta)
        }
        FeedKind::Merge { .. } => unreachable!("merged feeds are not fetched"),
    };
    let policy = MergePolicy {
        keep: feed.max_items.saturating_mul(PRUNE_FACTOR),
        time_zone: feed.time_zone,
        future_dates: feed.future_dates,
    };
    health::tie_to_source(feed, history, &mut warnings)?;
    let stats = history.merge(&feed.name, &items, now, &policy)?;
    if let Some(c) = &coverage {
        history.save_coverage(&feed.name, c)?;
    }
    let fp = fingerprint(feed);
    history.save_source_state(
        &feed.name,
        &SourceState {
            page_hash: page_hash(&fp, &page),
            fingerprint: fp,
            validators: page.validators.clone(),
            meta,
        },
    )?;
    Ok(Refreshed {
        found: items.len(),
        new: stats.new,
        page_unchanged: false,
        warnings,
        found_by,
    })
}

/// Upstream items dated outside what feeds can carry, or (unless the feed sets
/// `future_dates`) more than two days ahead, are dated as undated ones, with a warning.
fn drop_implausible_dates(
    feed: &FeedConfig,
    items: &mut [NewItem],
    now: DateTime<Utc>,
    warnings: &mut Vec<String>,
) {
    let mut count = 0usize;
    for it in items.iter_mut() {
        let Some(p) = it.published else { continue };
        if let Err(why) = crate::extract::dates::sane(p, now, feed.future_dates) {
            count += 1;
            if count <= 3 {
                warnings.push(format!(
                    "feed {}: entry {}: its date {} {why}; it is dated as an undated entry",
                    feed.name,
                    it.title
                        .as_deref()
                        .or(it.link.as_deref())
                        .unwrap_or(&it.guid),
                    crate::extract::dates::show(p),
                ));
            }
            it.published = None;
        }
    }
    if count > 3 {
        warnings.push(format!(
            "feed {}: {} more entries with implausible dates, dated as undated entries",
            feed.name,
            count - 3
        ));
    }
}

/// What reading a fetched page or feed into the history did.
#[derive(Debug, Clone, Default)]
pub struct Refreshed {
    pub found: usize,
    pub new: usize,
    /// A 304, or the same bytes as last time: nothing was read.
    pub page_unchanged: bool,
    pub warnings: Vec<String>,
    /// For a feed without selectors: how its entries were found automatically.
    pub found_by: Option<String>,
}

impl Refreshed {
    fn page_unchanged() -> Self {
        Refreshed {
            page_unchanged: true,
            ..Refreshed::default()
        }
    }
}

/// A feed rendered in its formats, ready to write or serve.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub files: Vec<(Format, Vec<u8>)>,
    pub items: usize,
    pub meta: FeedMeta,
}

/// Render `feed` from the history (merged feeds from their sources') in all its formats.
pub fn render_feed(
    config: &Config,
    history: &History,
    feed: &FeedConfig,
    now: DateTime<Utc>,
) -> Result<Rendered, FeedError> {
    let meta = meta_from_stored(config, feed, published_meta(config, history, feed));
    let items = feed_items(config, history, feed, now)?;
    let mut files = Vec::with_capacity(feed.formats.len());
    for format in &feed.formats {
        files.push((*format, render::render(*format, &meta, &items)?));
    }
    Ok(Rendered {
        files,
        items: items.len(),
        meta,
    })
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
    let mut wrote = false;
    for (format, bytes) in rendered.files {
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

/// The items a feed publishes: from its history (or, merged, its sources'), filtered,
/// prefixed and cut to `max_items`.
fn feed_items(
    config: &Config,
    history: &History,
    feed: &FeedConfig,
    now: DateTime<Utc>,
) -> Result<Vec<Item>, HistoryError> {
    // Filters may drop items: read further back so the feed still fills up.
    let want = if feed.filters.is_empty() {
        feed.max_items
    } else {
        feed.max_items * PRUNE_FACTOR
    };
    let mut items = match &feed.kind {
        FeedKind::Merge { sources } => {
            let mut parts = Vec::with_capacity(sources.len());
            for name in sources {
                let Some(src) = config.feed(name) else {
                    continue;
                };
                let src_meta = meta_from_stored(config, src, published_meta(config, history, src));
                // A source's own filters and prefix apply: it is merged as it publishes.
                let mut src_items = feed_items(config, history, src, now)?;
                src_items.truncate(want.max(src.max_items));
                parts.push(merge::SourceItems {
                    source: item_source(src, &src_meta),
                    items: src_items,
                });
            }
            merge::merge(parts, feed.filters.dedupe_title)
        }
        _ => history.latest(&feed.name, want)?,
    };
    items = merge::apply_filters(items, &feed.filters, now, feed.max_items);
    if let Some(prefix) = &feed.filters.title_prefix {
        let own = feed.title.clone().unwrap_or_else(|| feed.name.clone());
        merge::apply_title_prefix(&mut items, prefix, &own);
    }
    Ok(items)
}

/// Channel facts of a scraped feed: the config first, then what the page says, then fallbacks.
pub fn scraped_meta(feed: &FeedConfig, scraped: &Scraped) -> StoredMeta {
    let page = &scraped.extraction.page;
    let title = feed
        .title
        .clone()
        .or_else(|| page.title.clone())
        .unwrap_or_else(|| feed.name.clone());
    StoredMeta {
        description: feed
            .description
            .clone()
            .or_else(|| page.description.clone())
            .unwrap_or_else(|| format!("Entries of {title} ({})", scraped.site)),
        title,
        link: scraped.site.to_string(),
        language: feed.language.clone().or_else(|| page.language.clone()),
    }
}

/// The full channel facts of a scraped feed, as `build` renders them.
pub fn feed_meta(feed: &FeedConfig, scraped: &Scraped, base_url: Option<&url::Url>) -> FeedMeta {
    let m = scraped_meta(feed, scraped);
    FeedMeta {
        name: feed.name.clone(),
        title: m.title,
        description: m.description,
        link: m.link,
        language: m.language,
        time_zone: feed.time_zone,
        self_base: base_url.cloned(),
        hub: None,
    }
}

/// How items of `src` are attributed in a merged feed.
fn item_source(src: &FeedConfig, meta: &FeedMeta) -> ItemSource {
    let feed_url = match (&src.kind, src.source()) {
        (FeedKind::Upstream { .. }, Some(Source::Http(u))) => Some(u.to_string()),
        _ => meta.self_url("rss"),
    };
    ItemSource {
        name: src.name.clone(),
        title: meta.title.clone(),
        link: meta.link.clone(),
        atom_id: render::feed_id(meta),
        feed_url,
    }
}

/// The channel facts of any feed as pagefeed publishes it: for a fetched feed, what its last
/// good run stored (or the config's values before it ever succeeded); for a merged feed,
/// the config's values with fallbacks from its sources.
pub fn published_meta(config: &Config, history: &History, feed: &FeedConfig) -> StoredMeta {
    let base = config.settings.base_url.as_ref().map(|u| u.to_string());
    match &feed.kind {
        FeedKind::Merge { sources } => {
            // The sources' facts are only needed for what the config leaves out.
            let needs_sources = feed.title.is_none()
                || feed.description.is_none()
                || (feed.site_url.is_none() && base.is_none());
            let metas: Vec<StoredMeta> = if needs_sources {
                sources
                    .iter()
                    .filter_map(|s| config.feed(s))
                    .map(|s| published_meta(config, history, s))
                    .collect()
            } else {
                Vec::new()
            };
            let titles: Vec<&str> = metas.iter().map(|m| m.title.as_str()).collect();
            let first_link = metas.first().map(|m| m.link.clone());
            let title = feed.title.clone().unwrap_or_else(|| titles.join(" + "));
            StoredMeta {
                description: feed
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("Items of {}, merged", titles.join(", "))),
                title,
                link: feed
                    .site_url
                    .as_ref()
                    .map(|u| u.to_string())
                    .or(base)
                    .or(first_link)
                    .unwrap_or_default(),
                language: feed.language.clone(),
            }
        }
        _ => match history.source_state(&feed.name).ok().flatten() {
            Some(st) => st.meta,
            None => {
                let title = feed.title.clone().unwrap_or_else(|| feed.name.clone());
                StoredMeta {
                    description: feed
                        .description
                        .clone()
                        .unwrap_or_else(|| format!("Items of {title}")),
                    title,
                    link: feed
                        .site_url
                        .as_ref()
                        .map(|u| u.to_string())
                        .or_else(|| match feed.source() {
                            Some(Source::Http(u)) => Some(u.to_string()),
                            _ => None,
                        })
                        .or(base)
                        .unwrap_or_default(),
                    language: feed.language.clone(),
                }
            }
        },
    }
}

fn page_hash(fingerprint: &str, page: &Page) -> String {
    let mut h = Sha256::new();
    h.update(fingerprint.as_bytes());
    h.update(page.content_type.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(&page.bytes);
    hex(&h.finalize())
}

pub fn meta_from_stored(config: &Config, feed: &FeedConfig, m: StoredMeta) -> FeedMeta {
    FeedMeta {
        name: feed.name.clone(),
        title: m.title,
        description: m.description,
        link: m.link,
        language: m.language,
        time_zone: feed.time_zone,
        self_base: config.settings.base_url.clone(),
        hub: config.settings.websub_hub.as_ref().map(|u| u.to_string()),
    }
}

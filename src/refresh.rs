//! One feed, once: fetched bytes -> items -> history -> rendered bytes.
//!
//! Both commands go through here: `build` calls [`refresh`] for each fetched feed and then
//! writes what [`render_feed`] gives; `serve` calls the same two and keeps the bytes in memory.
//! Keeping the one-feed step apart from the commands means the stages below (`source`,
//! `extract`, `health`, `feed`) never see a command, and a change to how a feed is read shows in
//! both at once. What the step owns: the failure of one feed ([`FeedError`]), the page
//! fingerprint that lets an unchanged page skip extraction, the health verdict before anything
//! is stored, and the channel facts a feed publishes.

use chrono::{DateTime, Utc};

use crate::config::{Config, FeedConfig, FeedKind, Format, Source};

use crate::extract::scrape::{self, ScrapeError, Scraped};
use crate::extract::upstream::{self, UpstreamError};
use crate::feed::history::{
    History, HistoryError, MergePolicy, PRUNE_FACTOR, SourceState, StoredMeta,
};
use crate::feed::item::{FeedMeta, Item, ItemSource, NewItem, stable_hash};
use crate::feed::merge;
use crate::feed::output::OutputError;
use crate::feed::render::{self, RenderError};
use crate::health;
use crate::source::fetch::{FetchError, Fetched, Page};

/// Why one feed failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot fetch {url}: {source}")]
    Fetch { url: String, source: FetchError },
    /// robots.txt keeps pagefeed from the page; the message names the way out.
    #[error("{0}")]
    Robots(String),
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

/// `Accept` for listing pages and for upstream feeds.
pub const ACCEPT_PAGE: &str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8";
pub const ACCEPT_FEED: &str = "application/rss+xml,application/atom+xml,application/feed+json,application/rdf+xml;q=0.9,application/xml;q=0.8,text/xml;q=0.8,*/*;q=0.5";

/// A hash of everything in a feed's config that shapes its items, and of pagefeed's version.
pub fn fingerprint(feed: &FeedConfig) -> String {
    let shape = format!(
        "{:?}",
        (
            &feed.site_url,
            &feed.title,
            &feed.description,
            &feed.language,
            feed.time_zone,
            &feed.date_formats
        )
    );
    let kind = format!("{:?}", feed.kind);
    // Only a feed that reads further pages adds them (the others' fingerprints stay).
    let pages = feed
        .next_page
        .as_ref()
        .map(|n| format!("{n:?} {}", feed.max_pages));
    let mut parts = vec![env!("CARGO_PKG_VERSION"), kind.as_str(), shape.as_str()];
    parts.extend(pages.as_deref());
    stable_hash(&parts)
}

/// Read a fetched page or upstream feed into the history, with the further pages of a
/// listing (see [`crate::pages`]); returns the channel facts.
pub fn refresh(
    feed: &FeedConfig,
    fetched: Result<Fetched, FetchError>,
    further: crate::pages::Further,
    prev: Option<SourceState>,
    history: &mut History,
    now: DateTime<Utc>,
) -> Result<Refreshed, FeedError> {
    let url = feed.source().map(|s| s.to_string()).unwrap_or_default();
    let fetched = fetched.map_err(|source| match source {
        FetchError::Robots { message, .. } => FeedError::Robots(message),
        source => FeedError::Fetch {
            url: url.clone(),
            source,
        },
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
    let mut page = match fetched {
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
    // Taken before the bytes are released (see `scrape_releasing`).
    let fp = fingerprint(feed);
    let hash = page_hash(&fp, &page);
    let mut warnings: Vec<String>;
    let mut coverage = None;
    let mut found_by: Option<String> = None;
    let (items, meta) = match &feed.kind {
        FeedKind::Scrape { items: rules, .. } => {
            let (scraped, verdict_warnings) = match rules {
                Some(rules) => {
                    let mut scraped = scrape::scrape_releasing(feed, rules, &mut page, now)?;
                    crate::pages::append(&mut scraped, further.pages);
                    let last = last_coverage(feed, history)?;
                    let verdict = health::judge(feed, rules, &scraped, &url, last.as_ref());
                    if !verdict.errors.is_empty() {
                        return Err(FeedError::Health(verdict.errors.join("; ")));
                    }
                    coverage = Some(health::coverage(&scraped, rules));
                    (scraped, verdict.warnings)
                }
                None => {
                    let (mut scraped, how) = crate::extract::auto::scrape(feed, &page, now)?;
                    crate::pages::append(&mut scraped, further.pages);
                    if let Some(msg) =
                        health::too_few_found_automatically(feed, scraped.items.len(), &how, &url)
                    {
                        return Err(FeedError::Health(msg));
                    }
                    found_by = Some(how);
                    (scraped, Vec::new())
                }
            };
            warnings = scraped.warnings.clone();
            warnings.extend(further.warnings);
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
    // The page's bytes are not needed past here: not held while the history is merged.
    let state = SourceState {
        page_hash: hash,
        fingerprint: fp,
        validators: page.validators.clone(),
        meta,
    };
    drop(page);
    tie_to_source(feed, history, &mut warnings)?;
    let articles = crate::articles::new_links(feed, history, &items)?;
    let found = items.len();
    let stats = history.merge_owned(&feed.name, items, now, &policy)?;
    history.queue_articles(&feed.name, &articles, now)?;
    if let Some(c) = &coverage {
        history.save_coverage(&feed.name, c)?;
    }
    history.save_source_state(&feed.name, &state)?;
    Ok(Refreshed {
        found,
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
                    it.title().or(it.link()).unwrap_or(it.guid()),
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

/// The whole-page change check: a fast hash (a stored SHA-256 from an older version never
/// matches, so the first run after an upgrade reads the page once; the items' content hashes
/// still compare, so no feed changes).
pub(crate) fn page_hash(fingerprint: &str, page: &Page) -> String {
    let mut h = crate::feed::fasthash::ChangeHasher::new();
    h.field(fingerprint.as_bytes());
    h.field(page.content_type.as_deref().unwrap_or("").as_bytes());
    h.raw(&page.bytes);
    h.finish()
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

/// Whether the feed's source differs from the one its history was built from (and the config
/// does not say `keep_history = true`): the history is then started anew.
fn source_changed_from(
    feed: &FeedConfig,
    history: &History,
) -> Result<Option<String>, HistoryError> {
    let Some((_, id)) = health::source_identity(feed) else {
        return Ok(None);
    };
    if feed.keep_history {
        return Ok(None);
    }
    Ok(history
        .source_identity(&feed.name)?
        .filter(|old| *old != id))
}

/// The coverage of the feed's last good run, to judge this one against; `None` when there was
/// none, or when the history is to start anew because the source changed.
pub fn last_coverage(
    feed: &FeedConfig,
    history: &History,
) -> Result<Option<health::Coverage>, HistoryError> {
    if source_changed_from(feed, history)?.is_some() {
        return Ok(None);
    }
    history.coverage(&feed.name)
}

/// Tie the feed's history to its current source, before a good run's items are stored: when
/// the source changed (and the config does not keep the history), the old items, coverage and
/// validators are dropped and a warning says so, once.
pub fn tie_to_source(
    feed: &FeedConfig,
    history: &mut History,
    warnings: &mut Vec<String>,
) -> Result<(), HistoryError> {
    let Some((key, id)) = health::source_identity(feed) else {
        return Ok(());
    };
    if let Some(old) = source_changed_from(feed, history)? {
        let dropped = history.forget(&feed.name)?;
        tracing::info!(feed = %feed.name, dropped, "source changed; history started anew");
        warnings.push(health::source_changed(feed, key, &old, &id));
    }
    history.set_source_identity(&feed.name, &id)
}

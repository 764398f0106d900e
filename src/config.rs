//! The TOML configuration: parsing, validation and compilation.
//!
//! The config is the only thing a user writes, so every mistake in it must come back as an
//! error that names the file, the line and column, the feed and the key. Parsing keeps the
//! byte spans of the values that are validated after deserialisation (selectors, regexes,
//! time zones, URLs), so those errors can point at the line too. What leaves this module is a
//! compiled [`Config`]: selectors parsed, regexes built, paths resolved against the config
//! file's folder. Later stages never see raw strings they would have to validate again.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use regex::Regex;
use scraper::Selector;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;
use url::Url;

use crate::dates;

/// A config error, already located: its `Display` is the full message for the user.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read config {path}: {source}\nhint: pass --config FILE, or run from the folder that holds config/pagefeed.toml"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Output formats a feed can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    /// File extension, also the config spelling.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Rss => "rss",
            Format::Atom => "atom",
            Format::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml",
            Format::Atom => "application/atom+xml",
            Format::Json => "application/feed+json",
        }
    }
}

/// Where a feed's page comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Http(Url),
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Http(u) => write!(f, "{u}"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Global settings, with defaults applied and paths resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub output_dir: PathBuf,
    pub state: PathBuf,
    pub base_url: Option<Url>,
    pub user_agent: String,
    pub timeout: Duration,
    pub max_page_bytes: u64,
    /// `serve`: where to listen.
    pub listen: String,
    /// `serve`: the default refresh schedule.
    pub refresh: Schedule,
    /// `serve`: fetches in flight at once, across all feeds.
    pub concurrency: usize,
    /// `serve`: at least this long between two requests to one host.
    pub host_delay: Duration,
    /// `serve`: enables `POST /feeds/<name>/refresh`.
    pub admin_token: Option<String>,
    /// A WebSub hub announced in the feeds and pinged when they change.
    pub websub_hub: Option<Url>,
}

/// When a feed is refreshed by `serve`.
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron(Box<croner::Cron>),
}

impl Schedule {
    /// The next refresh after `after`.
    pub fn next_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        match self {
            Schedule::Every(d) => {
                after + chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::hours(1))
            }
            Schedule::Cron(c) => c
                .find_next_occurrence(&after, false)
                .unwrap_or(after + chrono::Duration::hours(1)),
        }
    }

    /// The interval, or for cron the time between the next two occurrences.
    pub fn period(&self, now: chrono::DateTime<chrono::Utc>) -> Duration {
        let a = self.next_after(now);
        (self.next_after(a) - a)
            .to_std()
            .unwrap_or(Duration::from_secs(3600))
    }
}

/// Parse a schedule: an interval like `30m` or a five-field cron expression.
pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let t = text.trim();
    if t.split_whitespace().count() >= 5 {
        t.parse::<croner::Cron>()
            .map(|c| Schedule::Cron(Box::new(c)))
            .map_err(|e| format!("`{t}` is not a valid cron expression: {e}"))
    } else {
        parse_duration(t).map(Schedule::Every).map_err(|e| {
            format!("{e}; a schedule is an interval (\"30m\", \"6h\") or a cron expression (\"*/15 * * * *\")")
        })
    }
}

/// Where a field's selector is evaluated, relative to the entry element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    Item,
    Next,
    Preceding,
}

/// One compiled FIELD of the `items` table.
#[derive(Debug, Clone)]
pub struct Field {
    pub selector_text: String,
    pub selector: Selector,
    /// The selector is exactly `:scope` (or starts with it and can match the scope element).
    pub matches_scope: bool,
    pub attr: Option<String>,
    pub regex: Option<Regex>,
    pub strip: Option<Regex>,
    pub from: From,
    pub split: Option<String>,
    pub html: bool,
}

/// The compiled `items` table of a feed.
#[derive(Debug, Clone)]
pub struct ItemRules {
    pub selector_text: String,
    pub selector: Selector,
    pub title: Field,
    pub link: Option<Field>,
    pub summary: Option<Field>,
    pub authors: Option<Field>,
    pub date: Option<Field>,
    pub image: Option<Field>,
    pub categories: Option<Field>,
    pub guid: Option<Field>,
}

/// What a feed is made from.
#[derive(Debug, Clone)]
pub enum FeedKind {
    /// A listing page read with CSS selectors (`url` + `[feeds.NAME.items]`).
    Scrape {
        source: Source,
        items: Box<ItemRules>,
    },
    /// A feed the site publishes itself (`feed_url`).
    Upstream { source: Source },
    /// Other feeds of this config merged into one (`merge`).
    Merge { sources: Vec<String> },
}

/// Filters and decorations that apply to any feed's items.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// An item must match one of these (when any are given) ...
    pub include: Vec<Regex>,
    /// ... and none of these; both are tried on title, summary, authors and categories.
    pub exclude: Vec<Regex>,
    /// Items older than this are left out.
    pub max_age: Option<Duration>,
    /// Also treat items with the same normalised title as duplicates (merged feeds).
    pub dedupe_title: bool,
    /// Put before every title; `{source}` is the source feed's title.
    pub title_prefix: Option<String>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty() && self.max_age.is_none()
    }
}

/// One feed, compiled.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub name: String,
    pub kind: FeedKind,
    pub site_url: Option<Url>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub language: Option<String>,
    pub time_zone: Tz,
    pub date_formats: Vec<String>,
    pub max_items: usize,
    pub formats: Vec<Format>,
    pub filters: Filters,
    /// `serve`: this feed's own schedule (else the default).
    pub refresh: Option<Schedule>,
    /// Dates more than two days after the fetch are real (listings of upcoming events); by
    /// default such a date is read as a mistake and the item is dated as an undated one.
    pub future_dates: bool,
}

impl FeedConfig {
    /// Where the feed's page or upstream feed comes from; `None` for merged feeds.
    pub fn source(&self) -> Option<&Source> {
        match &self.kind {
            FeedKind::Scrape { source, .. } | FeedKind::Upstream { source } => Some(source),
            FeedKind::Merge { .. } => None,
        }
    }

    /// The item selectors of a scraped feed.
    pub fn items(&self) -> Option<&ItemRules> {
        match &self.kind {
            FeedKind::Scrape { items, .. } => Some(items),
            _ => None,
        }
    }

    /// The feeds a merged feed takes its items from.
    pub fn merge_sources(&self) -> &[String] {
        match &self.kind {
            FeedKind::Merge { sources } => sources,
            _ => &[],
        }
    }
}

/// The whole compiled config.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub settings: Settings,
    pub feeds: Vec<FeedConfig>,
}

impl Config {
    pub fn feed(&self, name: &str) -> Option<&FeedConfig> {
        self.feeds.iter().find(|f| f.name == name)
    }
}

// ---------------------------------------------------------------------------------------------
// Raw (deserialised) shapes. Unknown keys are errors everywhere.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    settings: RawSettings,
    #[serde(default)]
    feeds: BTreeMap<String, Spanned<RawFeed>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    output_dir: Option<Spanned<String>>,
    state: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
    user_agent: Option<String>,
    timeout: Option<Spanned<String>>,
    max_page_bytes: Option<Spanned<i64>>,
    listen: Option<Spanned<String>>,
    refresh: Option<Spanned<String>>,
    concurrency: Option<Spanned<i64>>,
    host_delay: Option<Spanned<String>>,
    admin_token: Option<Spanned<String>>,
    websub_hub: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    url: Option<Spanned<String>>,
    feed_url: Option<Spanned<String>>,
    merge: Option<Spanned<Vec<Spanned<String>>>>,
    site_url: Option<Spanned<String>>,
    title: Option<String>,
    description: Option<String>,
    language: Option<Spanned<String>>,
    time_zone: Option<Spanned<String>>,
    date_format: Option<Spanned<OneOrMany>>,
    max_items: Option<Spanned<i64>>,
    formats: Option<Spanned<Vec<Spanned<String>>>>,
    include: Option<Spanned<OneOrMany>>,
    exclude: Option<Spanned<OneOrMany>>,
    max_age: Option<Spanned<String>>,
    dedupe: Option<Spanned<String>>,
    title_prefix: Option<String>,
    refresh: Option<Spanned<String>>,
    #[serde(default)]
    future_dates: bool,
    items: Option<Spanned<RawItems>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItems {
    selector: Spanned<String>,
    title: Spanned<RawField>,
    link: Option<Spanned<RawField>>,
    summary: Option<Spanned<RawField>>,
    authors: Option<Spanned<RawField>>,
    date: Option<Spanned<RawField>>,
    image: Option<Spanned<RawField>>,
    categories: Option<Spanned<RawField>>,
    guid: Option<Spanned<RawField>>,
}

/// A FIELD: a selector string or a table.
struct RawField(RawFieldTable);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFieldTable {
    selector: String,
    attr: Option<String>,
    regex: Option<String>,
    strip: Option<String>,
    from: Option<String>,
    split: Option<String>,
    #[serde(default)]
    html: bool,
}

impl<'de> Deserialize<'de> for RawField {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = RawField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CSS selector string or a table { selector = \"...\", attr, regex, strip, from, split, html }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawField, E> {
                Ok(RawField(RawFieldTable {
                    selector: v.to_string(),
                    attr: None,
                    regex: None,
                    strip: None,
                    from: None,
                    split: None,
                    html: false,
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawField, A::Error> {
                RawFieldTable::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawField)
            }
        }
        d.deserialize_any(FieldVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Locating errors.

/// Turns byte spans into `file:line:col` and finds the table header a span sits under.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// The `[table]` header in force at `offset`, e.g. `feeds.nknews.items`.
    fn section(&self, offset: usize) -> Option<String> {
        // Include the line the offset is on: a span may start at a table header itself.
        let end = self.text[offset.min(self.text.len())..]
            .find('\n')
            .map_or(self.text.len(), |n| offset + n);
        let before = &self.text[..floor_char_boundary(self.text, end)];
        before.lines().rev().find_map(|line| {
            let t = line.trim();
            let inner = t.strip_prefix('[')?.split(']').next()?;
            Some(inner.trim_matches(['[', ' ']).to_string())
        })
    }

    fn error(&self, span: Option<std::ops::Range<usize>>, message: &str) -> ConfigError {
        let mut out = format!("config error in {}", self.path.display());
        if let Some(span) = span {
            let (line, col) = self.line_col(span.start);
            out = format!("{}:{line}:{col}: config error", self.path.display());
            if let Some(section) = self.section(span.start) {
                out.push_str(&format!(" in [{section}]"));
            }
            out.push_str(&format!(": {message}"));
            if let Some(src) = self.text.lines().nth(line - 1) {
                out.push_str(&format!("\n  {line:>4} | {src}"));
            }
        } else {
            out.push_str(&format!(": {message}"));
        }
        ConfigError::Invalid(out)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

// ---------------------------------------------------------------------------------------------
// Loading.

pub const DEFAULT_USER_AGENT: &str = concat!("pagefeed/", env!("CARGO_PKG_VERSION"));
pub const DEFAULT_MAX_ITEMS: usize = 50;
pub const DEFAULT_MAX_PAGE_BYTES: u64 = 10_000_000;

/// Read and compile the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Compile config `text`, read from `path` (used for messages and relative paths).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let loc = Locator { path, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| loc.error(e.span(), e.message()))?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };

    let s = raw.settings;
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };
    let output_dir = resolve(s.output_dir.as_ref().map_or("public", |v| v.get_ref()));
    let state = match &s.state {
        Some(v) => resolve(v.get_ref()),
        None => output_dir.join("pagefeed.db"),
    };
    let base_url = match &s.base_url {
        None => None,
        Some(v) => {
            let mut u = parse_http_url(v.get_ref())
                .map_err(|m| loc.error(Some(v.span()), &format!("base_url: {m}")))?;
            if !u.path().ends_with('/') {
                let p = format!("{}/", u.path());
                u.set_path(&p);
            }
            Some(u)
        }
    };
    let timeout = match &s.timeout {
        None => Duration::from_secs(20),
        Some(v) => parse_duration(v.get_ref())
            .map_err(|m| loc.error(Some(v.span()), &format!("timeout: {m}")))?,
    };
    let max_page_bytes = match &s.max_page_bytes {
        None => DEFAULT_MAX_PAGE_BYTES,
        Some(v) if *v.get_ref() > 0 => *v.get_ref() as u64,
        Some(v) => {
            return Err(loc.error(
                Some(v.span()),
                "max_page_bytes must be a positive number of bytes",
            ));
        }
    };
    let listen = match &s.listen {
        None => "127.0.0.1:8080".to_string(),
        Some(v) => {
            let t = v.get_ref().trim();
            if t.parse::<std::net::SocketAddr>().is_err() {
                return Err(loc.error(
                    Some(v.span()),
                    &format!(
                        "listen: `{t}` is not an address like \"127.0.0.1:8080\" or \"[::1]:8080\""
                    ),
                ));
            }
            t.to_string()
        }
    };
    let refresh = match &s.refresh {
        None => Schedule::Every(Duration::from_secs(30 * 60)),
        Some(v) => parse_schedule(v.get_ref())
            .map_err(|m| loc.error(Some(v.span()), &format!("refresh: {m}")))?,
    };
    let concurrency = match &s.concurrency {
        None => 8,
        Some(v) if (1..=1024).contains(v.get_ref()) => *v.get_ref() as usize,
        Some(v) => {
            return Err(loc.error(Some(v.span()), "concurrency must be between 1 and 1024"));
        }
    };
    let host_delay = match &s.host_delay {
        None => Duration::from_secs(1),
        Some(v) if v.get_ref().trim() == "0" || v.get_ref().trim() == "0s" => Duration::ZERO,
        Some(v) => parse_duration(v.get_ref())
            .map_err(|m| loc.error(Some(v.span()), &format!("host_delay: {m}")))?,
    };
    let admin_token = match &s.admin_token {
        None => None,
        Some(v) if v.get_ref().trim().len() < 8 => {
            return Err(loc.error(
                Some(v.span()),
                "admin_token is too short: use at least 8 characters (better: a long random string)",
            ));
        }
        Some(v) => Some(v.get_ref().trim().to_string()),
    };
    let websub_hub = match &s.websub_hub {
        None => None,
        Some(v) => Some(
            parse_http_url(v.get_ref())
                .map_err(|m| loc.error(Some(v.span()), &format!("websub_hub: {m}")))?,
        ),
    };
    let settings = Settings {
        listen,
        refresh,
        concurrency,
        host_delay,
        admin_token,
        websub_hub,
        output_dir,
        state,
        base_url,
        user_agent: s
            .user_agent
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_string()),
        timeout,
        max_page_bytes,
    };

    let mut feeds = Vec::new();
    let mut merge_spans = std::collections::HashMap::new();
    // Keep the file's order (the map sorts by name): runs, OPML and status pages follow it.
    let mut raw_feeds: Vec<(String, Spanned<RawFeed>)> = raw.feeds.into_iter().collect();
    raw_feeds.sort_by_key(|(_, f)| f.span().start);
    for (name, feed) in raw_feeds {
        let span = feed.span();
        if let Some(m) = &feed.get_ref().merge {
            merge_spans.insert(name.clone(), m.span());
        }
        feeds.push(compile_feed(&loc, &dir, &name, span, feed.into_inner())?);
    }
    check_merge_graph(&loc, &feeds, &merge_spans)?;
    Ok(Config {
        path: path.to_path_buf(),
        settings,
        feeds,
    })
}

/// Every name in a `merge` list must be a feed of the config, and no feed may reach itself.
fn check_merge_graph(
    loc: &Locator,
    feeds: &[FeedConfig],
    spans: &std::collections::HashMap<String, std::ops::Range<usize>>,
) -> Result<(), ConfigError> {
    let known: Vec<&str> = feeds.iter().map(|f| f.name.as_str()).collect();
    for f in feeds {
        for s in f.merge_sources() {
            if !known.contains(&s.as_str()) {
                return Err(loc.error(
                    spans.get(&f.name).cloned(),
                    &format!(
                        "feed {}: `merge` names `{s}`, which is not a feed of this config (feeds: {})",
                        f.name,
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    // Depth-first search from each feed; a name met again on the current path is a cycle.
    fn visit<'a>(
        feeds: &'a [FeedConfig],
        name: &'a str,
        path: &mut Vec<&'a str>,
    ) -> Result<(), Vec<&'a str>> {
        if let Some(pos) = path.iter().position(|p| *p == name) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(name);
            return Err(cycle);
        }
        let Some(f) = feeds.iter().find(|f| f.name == name) else {
            return Ok(());
        };
        path.push(name);
        for s in f.merge_sources() {
            visit(feeds, s, path)?;
        }
        path.pop();
        Ok(())
    }
    for f in feeds {
        visit(feeds, &f.name, &mut Vec::new()).map_err(|cycle| {
            loc.error(
                spans.get(&f.name).cloned(),
                &format!(
                    "feeds merge each other in a cycle: {}; a merged feed cannot contain itself",
                    cycle.join(" -> ")
                ),
            )
        })?;
    }
    Ok(())
}

fn valid_feed_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn compile_feed(
    loc: &Locator,
    dir: &Path,
    name: &str,
    span: std::ops::Range<usize>,
    raw: RawFeed,
) -> Result<FeedConfig, ConfigError> {
    let err = |span: std::ops::Range<usize>, key: &str, msg: &str| {
        loc.error(Some(span), &format!("feed {name}, key `{key}`: {msg}"))
    };
    if !valid_feed_name(name) {
        return Err(loc.error(
            Some(span),
            &format!(
                "feed name `{name}` is not allowed: use lower-case letters, digits, `_` and `-` (it becomes the file name)"
            ),
        ));
    }
    let parse_source = |v: &Spanned<String>, key: &str| -> Result<Source, ConfigError> {
        let text = v.get_ref().trim();
        if text.starts_with("http://") || text.starts_with("https://") {
            Ok(Source::Http(
                parse_http_url(text).map_err(|m| err(v.span(), key, &m))?,
            ))
        } else if text.contains("://") {
            Err(err(
                v.span(),
                key,
                "only http(s) URLs or local file paths are supported",
            ))
        } else if text.is_empty() {
            Err(err(
                v.span(),
                key,
                "is empty: give an http(s) URL or a file path",
            ))
        } else {
            let p = Path::new(text);
            Ok(Source::File(if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }))
        }
    };
    let kinds = [
        raw.url.is_some(),
        raw.feed_url.is_some(),
        raw.merge.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(loc.error(
            Some(span),
            &format!(
                "feed {name}: give exactly one of `url` (a page to scrape, with [feeds.{name}.items]), `feed_url` (a feed to republish) or `merge` (other feeds to combine)"
            ),
        ));
    }
    if raw.url.is_none()
        && let Some(items) = &raw.items
    {
        return Err(err(
            items.span(),
            "items",
            "selectors are only for scraped pages (`url`); a `feed_url` or `merge` feed has none",
        ));
    }
    let kind = if let Some(url) = &raw.url {
        let source = parse_source(url, "url")?;
        let Some(items) = &raw.items else {
            return Err(err(
                span.clone(),
                "items",
                &format!(
                    "is missing: a scraped feed needs [feeds.{name}.items] with at least `selector` and `title`"
                ),
            ));
        };
        FeedKind::Scrape {
            source,
            items: Box::new(compile_items(loc, name, items.get_ref())?),
        }
    } else if let Some(url) = &raw.feed_url {
        FeedKind::Upstream {
            source: parse_source(url, "feed_url")?,
        }
    } else if let Some(list) = &raw.merge {
        if list.get_ref().is_empty() {
            return Err(err(list.span(), "merge", "lists no feed"));
        }
        let mut sources: Vec<String> = Vec::new();
        for s in list.get_ref() {
            if s.get_ref() == name {
                return Err(err(s.span(), "merge", "a feed cannot merge itself"));
            }
            if !sources.contains(s.get_ref()) {
                sources.push(s.get_ref().clone());
            }
        }
        FeedKind::Merge { sources }
    } else {
        unreachable!("exactly one kind was checked above")
    };
    let regexes = |v: &Option<Spanned<OneOrMany>>, key: &str| -> Result<Vec<Regex>, ConfigError> {
        let Some(v) = v else {
            return Ok(Vec::new());
        };
        let list = match v.get_ref() {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(l) => l.as_slice(),
        };
        list.iter()
            .map(|r| {
                Regex::new(r).map_err(|e| err(v.span(), key, &format!("invalid regex `{r}`: {e}")))
            })
            .collect()
    };
    let filters = Filters {
        include: regexes(&raw.include, "include")?,
        exclude: regexes(&raw.exclude, "exclude")?,
        max_age: match &raw.max_age {
            None => None,
            Some(v) => Some(parse_duration(v.get_ref()).map_err(|m| err(v.span(), "max_age", &m))?),
        },
        dedupe_title: match &raw.dedupe {
            None => false,
            Some(v) if v.get_ref() == "title" => true,
            Some(v) if v.get_ref() == "guid" || v.get_ref() == "link" => false,
            Some(v) => {
                return Err(err(
                    v.span(),
                    "dedupe",
                    &format!(
                        "`{}` is not known: use \"title\" (duplicates by GUID and link are always removed)",
                        v.get_ref()
                    ),
                ));
            }
        },
        title_prefix: raw.title_prefix.clone().filter(|p| !p.is_empty()),
    };
    let refresh = match &raw.refresh {
        None => None,
        Some(v) => Some(parse_schedule(v.get_ref()).map_err(|m| err(v.span(), "refresh", &m))?),
    };
    let site_url = match &raw.site_url {
        None => None,
        Some(v) => Some(parse_http_url(v.get_ref()).map_err(|m| err(v.span(), "site_url", &m))?),
    };
    let time_zone = match &raw.time_zone {
        None => Tz::UTC,
        Some(v) => v.get_ref().parse::<Tz>().map_err(|_| {
            err(
                v.span(),
                "time_zone",
                &format!(
                    "`{}` is not an IANA time zone name (examples: \"UTC\", \"Asia/Seoul\", \"Europe/Berlin\")",
                    v.get_ref()
                ),
            )
        })?,
    };
    let date_formats = match &raw.date_format {
        None => Vec::new(),
        Some(v) => {
            let list = match v.get_ref() {
                OneOrMany::One(s) => vec![s.clone()],
                OneOrMany::Many(l) => l.clone(),
            };
            for f in &list {
                dates::validate_format(f).map_err(|m| {
                    err(
                        v.span(),
                        "date_format",
                        &format!("`{f}` is not a valid chrono format: {m}"),
                    )
                })?;
            }
            list
        }
    };
    let max_items = match &raw.max_items {
        None => DEFAULT_MAX_ITEMS,
        Some(v) if *v.get_ref() > 0 => *v.get_ref() as usize,
        Some(v) => return Err(err(v.span(), "max_items", "must be a positive number")),
    };
    let formats = match &raw.formats {
        None => Format::ALL.to_vec(),
        Some(list) => {
            let mut out = Vec::new();
            for f in list.get_ref() {
                let fmt = Format::ALL
                    .into_iter()
                    .find(|x| x.ext() == f.get_ref())
                    .ok_or_else(|| {
                        err(
                            f.span(),
                            "formats",
                            &format!(
                                "unknown format `{}`: use \"rss\", \"atom\" or \"json\"",
                                f.get_ref()
                            ),
                        )
                    })?;
                if !out.contains(&fmt) {
                    out.push(fmt);
                }
            }
            if out.is_empty() {
                return Err(err(list.span(), "formats", "lists no format"));
            }
            out
        }
    };
    let language = match &raw.language {
        None => None,
        Some(v) => {
            let l = v.get_ref().trim();
            let ok = !l.is_empty()
                && l.split('-').all(|p| {
                    !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_alphanumeric())
                });
            if !ok {
                return Err(err(
                    v.span(),
                    "language",
                    "is not a language tag like \"en\" or \"en-US\"",
                ));
            }
            Some(l.to_string())
        }
    };

    Ok(FeedConfig {
        name: name.to_string(),
        kind,
        filters,
        refresh,
        site_url,
        title: raw.title.filter(|t| !t.trim().is_empty()),
        description: raw.description.filter(|t| !t.trim().is_empty()),
        language,
        time_zone,
        date_formats,
        max_items,
        formats,
        future_dates: raw.future_dates,
    })
}

fn compile_items(loc: &Locator, name: &str, it: &RawItems) -> Result<ItemRules, ConfigError> {
    let selector = compile_selector(it.selector.get_ref()).map_err(|m| {
        loc.error(
            Some(it.selector.span()),
            &format!(
                "feed {name}, key `items.selector`: invalid CSS selector `{}`: {m}",
                it.selector.get_ref()
            ),
        )
    })?;
    let field = |key: &str, f: &Spanned<RawField>| compile_field(loc, name, key, f);
    let opt =
        |key: &str, f: &Option<Spanned<RawField>>| f.as_ref().map(|f| field(key, f)).transpose();
    Ok(ItemRules {
        selector_text: it.selector.get_ref().clone(),
        selector,
        title: field("title", &it.title)?,
        link: opt("link", &it.link)?,
        summary: opt("summary", &it.summary)?,
        authors: opt("authors", &it.authors)?,
        date: opt("date", &it.date)?,
        image: opt("image", &it.image)?,
        categories: opt("categories", &it.categories)?,
        guid: opt("guid", &it.guid)?,
    })
}

fn compile_selector(text: &str) -> Result<Selector, String> {
    if text.trim().is_empty() {
        return Err("it is empty".to_string());
    }
    Selector::parse(text).map_err(|e| e.to_string())
}

fn compile_field(
    loc: &Locator,
    feed: &str,
    key: &str,
    f: &Spanned<RawField>,
) -> Result<Field, ConfigError> {
    let span = f.span();
    let raw = &f.get_ref().0;
    let err = |msg: String| {
        loc.error(
            Some(span.clone()),
            &format!("feed {feed}, key `items.{key}`: {msg}"),
        )
    };
    let selector = compile_selector(&raw.selector)
        .map_err(|m| err(format!("invalid CSS selector `{}`: {m}", raw.selector)))?;
    let regex = |what: &str, r: &Option<String>| -> Result<Option<Regex>, ConfigError> {
        r.as_ref()
            .map(|r| Regex::new(r).map_err(|e| err(format!("invalid {what} regex `{r}`: {e}"))))
            .transpose()
    };
    let from = match raw.from.as_deref() {
        None | Some("item") => From::Item,
        Some("next") => From::Next,
        Some("preceding") => From::Preceding,
        Some(other) => {
            return Err(err(format!(
                "from = \"{other}\" is not known: use \"item\", \"next\" or \"preceding\""
            )));
        }
    };
    if raw.html && key != "summary" {
        return Err(err("html = true is only for `summary`".to_string()));
    }
    if raw.split.as_deref() == Some("") {
        return Err(err("split must not be empty".to_string()));
    }
    Ok(Field {
        selector_text: raw.selector.clone(),
        matches_scope: raw.selector.contains(":scope"),
        selector,
        attr: raw.attr.clone().filter(|a| !a.is_empty()),
        regex: regex("regex", &raw.regex)?,
        strip: regex("strip", &raw.strip)?,
        from,
        split: raw.split.clone(),
        html: raw.html,
    })
}

fn parse_http_url(text: &str) -> Result<Url, String> {
    let u = Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a valid URL: {e}"))?;
    match u.scheme() {
        "http" | "https" if u.host().is_some() => Ok(u),
        _ => Err(format!("`{text}` must be an absolute http(s) URL")),
    }
}

/// Parse a duration like `20s`, `500ms`, `30m`, `1h`, `2d` (or a bare number of seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like \"20s\", \"30m\" or \"1h\""))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("`{text}`: unknown unit; use ms, s, m, h or d")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[settings]
output_dir = "out"
base_url = "https://feeds.example.org/x"

[feeds.demo]
url = "page.html"
site_url = "https://example.org/news/"
time_zone = "Asia/Seoul"
date_format = "%d.%m.%Y"

[feeds.demo.items]
selector = "article"
title = "h3 a"
authors = { selector = ".byline", split = "|" }
"#;

    #[test]
    fn compiles_a_good_config() {
        let c = parse(Path::new("conf/p.toml"), GOOD).expect("valid");
        assert_eq!(c.settings.output_dir, Path::new("conf/out"));
        assert_eq!(c.settings.state, Path::new("conf/out/pagefeed.db"));
        assert_eq!(
            c.settings.base_url.as_ref().map(Url::as_str),
            Some("https://feeds.example.org/x/")
        );
        let f = &c.feeds[0];
        assert_eq!(
            f.source(),
            Some(&Source::File(PathBuf::from("conf/page.html")))
        );
        assert_eq!(f.time_zone, chrono_tz::Asia::Seoul);
        assert_eq!(f.date_formats, vec!["%d.%m.%Y".to_string()]);
        assert_eq!(f.formats, Format::ALL.to_vec());
        assert_eq!(
            f.items()
                .and_then(|i| i.authors.as_ref())
                .and_then(|a| a.split.as_deref()),
            Some("|")
        );
    }

    fn error_of(text: &str) -> String {
        parse(Path::new("p.toml"), text)
            .expect_err("must fail")
            .to_string()
    }

    #[test]
    fn unknown_key_names_line_and_section() {
        let e = error_of(&GOOD.replace("title = \"h3 a\"", "title = \"h3 a\"\ntitel = \"x\""));
        assert!(e.starts_with("p.toml:15:1:"), "{e}");
        assert!(e.contains("[feeds.demo.items]"), "{e}");
        assert!(e.contains("titel"), "{e}");
    }

    #[test]
    fn bad_time_zone_and_selector_are_located() {
        let e = error_of(&GOOD.replace("Asia/Seoul", "Asia/Nowhere"));
        assert!(e.starts_with("p.toml:9:13:"), "{e}");
        assert!(e.contains("feed demo, key `time_zone`"), "{e}");
        let e = error_of(&GOOD.replace("\"h3 a\"", "\"h3 >> a\""));
        assert!(e.starts_with("p.toml:14:9:"), "{e}");
        assert!(e.contains("items.title"), "{e}");
        let e = error_of(&GOOD.replace("split = \"|\"", "regex = \"(\""));
        assert!(e.contains("invalid regex"), "{e}");
    }

    #[test]
    fn bad_feed_name_is_rejected() {
        let e = error_of(&GOOD.replace("feeds.demo", "feeds.Demo"));
        assert!(e.contains("feed name `Demo`"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }
}

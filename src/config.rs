//! The TOML configuration: parsing, validation and compilation.
//!
//! The config is the only thing a user writes, so every mistake in it must come back as an
//! error that names the file, the line and column, the feed and the key. Parsing keeps the
//! byte spans of the values that are validated after deserialisation (selectors, regexes,
//! time zones, URLs), so those errors can point at the line too. What leaves this module is a
//! compiled [`Config`]: selectors parsed, regexes built, paths resolved against the config
//! file's folder. Later stages never see raw strings they would have to validate again.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use regex::{Regex, RegexBuilder};
use scraper::Selector;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;
use url::Url;

use crate::config_messages;
use crate::extract::dates;

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
    /// `serve`: enables `POST /feeds/<name>/refresh` and the feed builder (`/new`, `/api/*`).
    pub admin_token: Option<String>,
    /// `serve`: the feed builder may fetch pages on loopback, private, link-local and
    /// unique-local addresses (off: it refuses them).
    pub allow_private_hosts: bool,
    /// A WebSub hub announced in the feeds and pinged when they change.
    pub websub_hub: Option<Url>,
}

/// When a feed is refreshed by `serve`.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A fixed interval, within [`REFRESH_RANGE`].
    Every(Duration),
    /// A five-field cron expression (UTC) that fires at least once every
    /// [`REFRESH_RANGE`]`.max`.
    Cron(Box<croner::Cron>),
}

impl Schedule {
    /// The next refresh after `after`.
    pub fn next_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        let fallback = || {
            after
                .checked_add_signed(chrono::Duration::hours(1))
                .unwrap_or(after)
        };
        match self {
            Schedule::Every(d) => chrono::Duration::from_std(*d)
                .ok()
                .and_then(|d| after.checked_add_signed(d))
                .unwrap_or_else(fallback),
            // The config only accepts expressions that keep firing, so the fallback is a
            // guard, not a schedule.
            Schedule::Cron(c) => c
                .find_next_occurrence(&after, false)
                .unwrap_or_else(|_| fallback()),
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

// ---------------------------------------------------------------------------------------------
// The allowed values of every duration, count and size. README.md ("Allowed values") lists
// them too (a test keeps the two in step).

/// The allowed values of a duration key (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
    /// A good value, shown in messages: `timeout = "20s"`.
    pub example: &'static str,
}

/// The allowed values of a number key (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRange {
    pub min: i64,
    pub max: i64,
    /// A good value, shown in messages: `max_items = 50`.
    pub example: i64,
    /// Said after the range in messages, e.g. ` bytes (1 kB to 1 GB)`.
    pub unit: &'static str,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// `[settings] timeout`: one whole fetch (connect, redirects, body).
pub const TIMEOUT_RANGE: DurationRange = DurationRange {
    min: Duration::from_secs(1),
    max: Duration::from_secs(10 * MINUTE),
    example: "20s",
};
/// `refresh` as an interval (settings and feeds); a cron expression must fire at least once
/// per `max`.
pub const REFRESH_RANGE: DurationRange = DurationRange {
    min: Duration::from_secs(1),
    max: Duration::from_secs(31 * DAY),
    example: "30m",
};
/// `[settings] host_delay`.
pub const HOST_DELAY_RANGE: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: Duration::from_secs(10 * MINUTE),
    example: "1s",
};
/// A feed's `max_age`.
pub const MAX_AGE_RANGE: DurationRange = DurationRange {
    min: Duration::from_secs(MINUTE),
    max: Duration::from_secs(3650 * DAY),
    example: "30d",
};
/// A feed's `max_items` (the history keeps `PRUNE_FACTOR` times as many).
pub const MAX_ITEMS_RANGE: CountRange = CountRange {
    min: 1,
    max: 10_000,
    example: 50,
    unit: "",
};
/// A feed's `min_items`: a page with fewer entries fails the feed.
pub const MIN_ITEMS_RANGE: CountRange = CountRange {
    min: 1,
    max: 10_000,
    example: 5,
    unit: "",
};
/// A feed's `max_pages`: how many pages of a listing one run reads.
pub const MAX_PAGES_RANGE: CountRange = CountRange {
    min: 1,
    max: 100,
    example: 3,
    unit: "",
};
/// `max_articles_per_run` in a feed's `[feeds.NAME.article]`: how many article pages one run
/// fetches (the rest wait for the next run).
pub const MAX_ARTICLES_PER_RUN_RANGE: CountRange = CountRange {
    min: 1,
    max: 1000,
    example: 20,
    unit: "",
};
/// `max_articles_per_run` when the article table does not give it.
pub const DEFAULT_MAX_ARTICLES_PER_RUN: usize = 20;
/// `[settings] max_page_bytes`.
pub const MAX_PAGE_BYTES_RANGE: CountRange = CountRange {
    min: 1_000,
    max: 1_000_000_000,
    example: 10_000_000,
    unit: " bytes (1 kB to 1 GB)",
};
/// `[settings] concurrency`.
pub const CONCURRENCY_RANGE: CountRange = CountRange {
    min: 1,
    max: 1024,
    example: 8,
    unit: "",
};
/// The most memory one compiled regex (`include`, `exclude`, a field's `regex` or `strip`)
/// may take; a bigger one is a config error.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A duration as a config author writes it, in the largest unit that divides it.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 {
        if d.subsec_nanos().is_multiple_of(1_000_000) {
            return format!("{}ms", d.as_millis());
        }
        return format!("{d:?}");
    }
    match s {
        0 => "0s".to_string(),
        _ if s.is_multiple_of(DAY) => format!("{}d", s / DAY),
        _ if s.is_multiple_of(HOUR) => format!("{}h", s / HOUR),
        _ if s.is_multiple_of(MINUTE) => format!("{}m", s / MINUTE),
        _ => format!("{s}s"),
    }
}

impl DurationRange {
    /// `` `timeout` must be between 1s and 10m, like `timeout = "20s"` ``.
    fn rule(&self, key: &str) -> String {
        format!(
            "`{key}` must be between {} and {}, like `{key} = \"{}\"`",
            human(self.min),
            human(self.max),
            self.example
        )
    }

    /// The value of duration `key`, or a message with the range.
    fn check(&self, key: &str, raw: &RawDuration) -> Result<Duration, String> {
        let d = raw
            .to_duration()
            .map_err(|e| format!("{}; {e}", self.rule(key)))?;
        if d < self.min {
            return Err(format!("{}; {} is shorter", self.rule(key), raw));
        }
        if d > self.max {
            return Err(format!("{}; {} is longer", self.rule(key), raw));
        }
        Ok(d)
    }
}

impl CountRange {
    /// `` `max_items` must be between 1 and 10000, like `max_items = 50` ``.
    fn rule(&self, key: &str) -> String {
        format!(
            "`{key}` must be between {} and {}{}, like `{key} = {}`",
            self.min, self.max, self.unit, self.example
        )
    }

    /// The value of number `key` as a `T`, or a message with the range.
    fn check<T: TryFrom<i64>>(&self, key: &str, v: i64) -> Result<T, String> {
        if v < self.min {
            return Err(format!("{}; {v} is too small", self.rule(key)));
        }
        if v > self.max {
            return Err(format!("{}; {v} is too large", self.rule(key)));
        }
        T::try_from(v).map_err(|_| format!("{}; {v} is too large", self.rule(key)))
    }
}

/// Why a duration text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "`{0}` is not a duration: write a number and a unit (ms, s, m, h or d), like \"90s\" or \"1.5h\""
    )]
    NotADuration(String),
    #[error("`{text}` has the unknown unit `{unit}`: use ms, s, m, h or d")]
    UnknownUnit { text: String, unit: String },
    #[error("`{0}` is negative")]
    Negative(String),
    #[error("`{0}` is longer than any timer can count")]
    TooLong(String),
    #[error("{0} is a bare decimal number: write it as text with a unit, like \"1.5s\"")]
    Decimal(String),
}

/// Parse a duration like `20s`, `500ms`, `30m`, `1.5h`, `2d` (or a bare number of seconds),
/// with integer arithmetic: no rounding, and an overflow is an error, not a panic. Zero is a
/// duration; whether it is allowed is up to the key's range.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let t = text.trim();
    let not_a_duration = || DurationError::NotADuration(shown(text));
    if t.starts_with('-') {
        return Err(DurationError::Negative(shown(text)));
    }
    let int_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (int_digits, rest) = t.split_at(int_end);
    if int_digits.is_empty() {
        return Err(not_a_duration());
    }
    let (frac_digits, rest) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            if end == 0 {
                return Err(not_a_duration());
            }
            r.split_at(end)
        }
        None => ("", rest),
    };
    let unit_nanos: u128 = match rest.trim_start() {
        "ms" => 1_000_000,
        "" | "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3_600 * NANOS_PER_SEC,
        "d" => 86_400 * NANOS_PER_SEC,
        unit => {
            return Err(DurationError::UnknownUnit {
                text: shown(text),
                unit: shown(unit),
            });
        }
    };
    let too_long = || DurationError::TooLong(shown(text));
    let mut whole: u128 = 0;
    for b in int_digits.bytes() {
        whole = whole
            .checked_mul(10)
            .and_then(|w| w.checked_add(u128::from(b - b'0')))
            .ok_or_else(too_long)?;
    }
    // The fraction in billionths of the unit; digits past the ninth are below a nanosecond
    // for every unit up to a day, and are dropped.
    let mut billionths: u128 = 0;
    for i in 0..9 {
        let digit = frac_digits.as_bytes().get(i).map_or(0, |b| b - b'0');
        billionths = billionths * 10 + u128::from(digit);
    }
    let nanos = whole
        .checked_mul(unit_nanos)
        .and_then(|n| n.checked_add(billionths * unit_nanos / NANOS_PER_SEC))
        .ok_or_else(too_long)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| too_long())?;
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| too_long())?;
    Ok(Duration::new(secs, subsec))
}

/// Compile `refresh`: an interval in [`REFRESH_RANGE`] or a five-field cron expression that
/// fires at least once every `REFRESH_RANGE.max`.
fn compile_schedule(key: &str, raw: &RawDuration) -> Result<Schedule, String> {
    let cron_hint = "or a cron expression like `refresh = \"*/15 * * * *\"`";
    let RawDuration::Text(text) = raw else {
        return REFRESH_RANGE
            .check(key, raw)
            .map(Schedule::Every)
            .map_err(|m| format!("{m} ({cron_hint})"));
    };
    let t = text.trim();
    let fields = t.split_whitespace().count();
    if fields < 5 {
        return REFRESH_RANGE
            .check(key, raw)
            .map(Schedule::Every)
            .map_err(|m| format!("{m} ({cron_hint})"));
    }
    let shape = "a cron `refresh` has five fields: minute hour day-of-month month day-of-week (UTC), like \"*/15 * * * *\"";
    if fields != 5 {
        return Err(format!(
            "`{key}`: `{}` has {fields} fields; {shape}",
            shown(t)
        ));
    }
    let cron = t.parse::<croner::Cron>().map_err(|e| {
        format!(
            "`{key}`: `{}` is not a valid cron expression ({e}); {shape}",
            shown(t)
        )
    })?;
    check_cron_fires(&cron, REFRESH_RANGE.max).map_err(|why| {
        format!(
            "`{key}` must fire at least once every {} days; `{}` {why}",
            REFRESH_RANGE.max.as_secs() / DAY,
            shown(t)
        )
    })?;
    Ok(Schedule::Cron(Box::new(cron)))
}

/// Checks that `cron` leaves no gap longer than `max_gap` over four years (a leap-year cycle;
/// five-field expressions repeat with the calendar). Every gap longer than the step between
/// two probes contains a probe, so probing at `max_gap` steps finds any such gap. Returns the
/// reason for a message.
fn check_cron_fires(cron: &croner::Cron, max_gap: Duration) -> Result<(), String> {
    // 2024-01-01T00:00:00Z, a fixed start so the verdict does not depend on the day it runs.
    const FROM: i64 = 1_704_067_200;
    let (Some(start), Ok(step)) = (
        chrono::DateTime::<chrono::Utc>::from_timestamp(FROM, 0),
        chrono::Duration::from_std(max_gap),
    ) else {
        return Ok(());
    };
    let end = start + chrono::Duration::days(4 * 366);
    let fmt = "%Y-%m-%d %H:%M UTC";
    let mut probe = start;
    while probe < end {
        let next = cron
            .find_next_occurrence(&probe, true)
            .map_err(|_| "never fires (no date matches it)".to_string())?;
        let prev = cron
            .find_previous_occurrence(&probe, true)
            .map_err(|_| format!("does not fire in the year before {}", next.format(fmt)))?;
        if next - prev > step {
            return Err(format!(
                "leaves {} days between {} and {}",
                (next - prev).num_days(),
                prev.format(fmt),
                next.format(fmt)
            ));
        }
        probe += step;
    }
    Ok(())
}

/// `s` for a message: control and bidirectional-override characters escaped, and cut short
/// when long (a config value may be a megabyte on one line).
fn shown(s: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push_str(&format!("… ({} characters)", s.chars().count()));
            break;
        }
        let invisible = c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        if invisible {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Compile a user regex with a size limit, so a monstrous one is a config error rather than
/// seconds of compiling and megabytes of memory. The message names the problem only: the
/// caller adds the key and the pattern.
fn compile_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => format!(
                "it is too big (compiled it would take more than {} kB); use a smaller regex: fewer alternatives, smaller counted repetitions such as {{10}} instead of {{1000}}, or ASCII classes like [a-z] instead of \\w",
                limit / 1024
            ),
            regex::Error::Syntax(msg) if pattern.chars().count() > 80 || pattern.contains('\n') => msg
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .map_or_else(|| "it does not parse".to_string(), |l| l.trim_start_matches("error:").trim().to_string()),
            other => other.to_string(),
        })
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
    /// `optional = true`: the field matching nothing is a warning, not a failed feed.
    pub optional: bool,
}

/// How the link to a listing's next page is found.
#[derive(Debug, Clone)]
pub enum NextPage {
    /// `next_page = "auto"`: `<link rel="next">`, `a[rel=next]`, then a link whose text says
    /// "next" (or "older", in the page's language) or is `›` / `»`.
    Auto,
    /// `next_page = FIELD`: the field's value on the page (its `href` when no `attr` is given).
    Field(Field),
}

/// Where an article page's body is read from (`content` in `[feeds.NAME.article]`).
#[derive(Debug, Clone)]
pub enum ArticleContent {
    /// `content = "auto"`: main-content extraction (see [`crate::extract::article`]).
    Auto,
    /// `content = FIELD`: the inner HTML of the first element the field matches.
    Field(Field),
}

/// The compiled `[feeds.NAME.article]` table: each new item's link is fetched once and read
/// with these (see [`crate::articles`]).
#[derive(Debug, Clone)]
pub struct ArticleRules {
    pub content: ArticleContent,
    /// FIELDs on the article page; without one, the page's JSON-LD is asked.
    pub date: Option<Field>,
    pub authors: Option<Field>,
    pub image: Option<Field>,
    /// The most article pages one run fetches.
    pub max_per_run: usize,
}

/// `render = "chromium"`: how a page built by JavaScript is loaded (see
/// [`crate::source::browser`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Render {
    /// `wait_for`: the CSS selector the page must match before it is read; none: the item
    /// selector, or (a feed without selectors) the page's load event.
    pub wait_for: Option<String>,
}

impl Render {
    /// What the browser waits for on `feed`'s pages: `wait_for`, else the item selector.
    pub fn wait_for<'f>(&'f self, feed: &'f FeedConfig) -> Option<&'f str> {
        self.wait_for
            .as_deref()
            .or_else(|| feed.items().map(|r| r.selector_text.as_str()))
    }
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
    /// How to extract without the page's tree, when these selectors allow it
    /// (`extract::stream`).
    pub stream: Option<std::sync::Arc<crate::extract::stream::Plan>>,
}

/// What a feed is made from.
#[derive(Debug, Clone)]
pub enum FeedKind {
    /// A listing page read with CSS selectors (`url` + `[feeds.NAME.items]`); without an
    /// items table (`None`), its entries are found automatically at every build ([`crate::extract::auto`]).
    Scrape {
        source: Source,
        items: Option<Box<ItemRules>>,
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
    /// The language dates are written in (`date_locale`); else the page's `<html lang>`, else
    /// `language`.
    pub date_locale: Option<String>,
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
    /// A page with fewer entries than this fails the feed (scraped feeds).
    pub min_items: usize,
    /// Keep the history when `url` or `feed_url` changes (by default it starts anew).
    pub keep_history: bool,
    /// Fetch the page even where the site's robots.txt disallows it for pagefeed (scraped
    /// feeds; upstream feeds and local files are never subject to robots.txt).
    pub ignore_robots: bool,
    /// `next_page`: how the link to a listing's next page is found (none: one page only).
    pub next_page: Option<NextPage>,
    /// `max_pages`: the most pages of a listing one run reads (1: the first only).
    pub max_pages: usize,
    /// `[feeds.NAME.article]`: fetch each new item's page once for its full content.
    pub article: Option<ArticleRules>,
    /// `render = "chromium"`: the page and its further pages are loaded in headless Chromium
    /// and read after their scripts ran (none: fetched over HTTP).
    pub render: Option<Render>,
    /// How many levels of merged feeds are below this one: 0 for a scraped or upstream feed,
    /// 1 for a merge of those, and so on. Merged feeds are built in this order.
    pub merge_depth: usize,
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
            FeedKind::Scrape { items, .. } => items.as_deref(),
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
    user_agent: Option<Spanned<String>>,
    timeout: Option<Spanned<RawDuration>>,
    max_page_bytes: Option<Spanned<i64>>,
    listen: Option<Spanned<String>>,
    refresh: Option<Spanned<RawDuration>>,
    concurrency: Option<Spanned<i64>>,
    host_delay: Option<Spanned<RawDuration>>,
    admin_token: Option<Spanned<String>>,
    allow_private_hosts: Option<Spanned<bool>>,
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
    date_locale: Option<Spanned<String>>,
    time_zone: Option<Spanned<String>>,
    date_format: Option<Spanned<OneOrMany>>,
    max_items: Option<Spanned<i64>>,
    min_items: Option<Spanned<i64>>,
    #[serde(default)]
    keep_history: bool,
    #[serde(default)]
    ignore_robots: bool,
    next_page: Option<Spanned<RawField>>,
    max_pages: Option<Spanned<i64>>,
    render: Option<Spanned<String>>,
    wait_for: Option<Spanned<String>>,
    formats: Option<Spanned<Vec<Spanned<String>>>>,
    include: Option<Spanned<OneOrMany>>,
    exclude: Option<Spanned<OneOrMany>>,
    max_age: Option<Spanned<RawDuration>>,
    dedupe: Option<Spanned<String>>,
    title_prefix: Option<String>,
    refresh: Option<Spanned<RawDuration>>,
    #[serde(default)]
    future_dates: bool,
    items: Option<Spanned<RawItems>>,
    article: Option<Spanned<RawArticle>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArticle {
    content: Spanned<RawField>,
    date: Option<Spanned<RawField>>,
    authors: Option<Spanned<RawField>>,
    image: Option<Spanned<RawField>>,
    max_articles_per_run: Option<Spanned<i64>>,
}

/// A duration key's value: text like `"20s"`, or a bare number of seconds.
#[derive(Debug, Clone, PartialEq)]
enum RawDuration {
    Text(String),
    Seconds(i128),
    Decimal(f64),
}

impl RawDuration {
    fn to_duration(&self) -> Result<Duration, DurationError> {
        match self {
            RawDuration::Text(t) => parse_duration(t),
            RawDuration::Seconds(n) if *n < 0 => Err(DurationError::Negative(n.to_string())),
            RawDuration::Seconds(n) => u64::try_from(*n)
                .map(Duration::from_secs)
                .map_err(|_| DurationError::TooLong(n.to_string())),
            RawDuration::Decimal(x) => Err(DurationError::Decimal(x.to_string())),
        }
    }
}

impl fmt::Display for RawDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawDuration::Text(t) => write!(f, "`{}`", shown(t)),
            RawDuration::Seconds(n) => write!(f, "{n} (seconds)"),
            RawDuration::Decimal(x) => write!(f, "{x}"),
        }
    }
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like \"20s\", \"30m\" or \"1h\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(i128::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDuration, E> {
                Ok(RawDuration::Decimal(v))
            }
        }
        d.deserialize_any(DurationVisitor)
    }
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
    #[serde(default)]
    optional: bool,
}

impl<'de> Deserialize<'de> for RawField {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = RawField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CSS selector string or a table { selector = \"...\", attr, regex, strip, from, split, html, optional }")
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
                    optional: false,
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

/// Turns byte spans into `file:line:col` and finds the table header a span sits under; also
/// keeps the selectors compiled so far while the config is read.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
    /// Selectors by their text, compiled once per load: the feeds of one config often share
    /// them (a site's feeds, generated configs). A config of 1,000 feeds with the same five
    /// selectors spent 33M of its 108M start-up instructions parsing them again.
    selectors: RefCell<HashMap<String, Selector>>,
    /// The same, compiled for streaming.
    stream: RefCell<crate::extract::stream::SelCache>,
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
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |n| offset + n);
        let before = &self.text[..end];
        before.lines().rev().find_map(|line| {
            let t = line.trim().trim_start_matches('\u{feff}');
            let inner = t.strip_prefix('[')?.split(']').next()?;
            Some(shown(inner.trim_matches(['[', ' '])))
        })
    }

    /// `text` compiled, from the selectors compiled before when it is one of them.
    fn selector(&self, text: &str) -> Result<Selector, String> {
        if let Some(s) = self.selectors.borrow().get(text) {
            return Ok(s.clone());
        }
        let s = compile_selector(text)?;
        self.selectors
            .borrow_mut()
            .insert(text.to_string(), s.clone());
        Ok(s)
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
            if let Some(src) = self.text.lines().nth(line.saturating_sub(1)) {
                out.push_str(&format!("\n  {line:>4} | {}", shown(src)));
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
    parse_collecting(path, text, &mut Vec::new())
}

/// Read and compile the config file at `path`, with every feed's error rather than only the
/// first (for `pagefeed check`). An error in the file's syntax or in `[settings]` stops
/// before the feeds, so it comes alone.
pub fn load_all(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        vec![ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }]
    })?;
    let mut more = Vec::new();
    parse_collecting(path, &text, &mut more).map_err(|first| {
        let mut all = vec![first];
        all.append(&mut more);
        all
    })
}

/// [`parse`], with the errors of the feeds after the first failing one put in `more`.
fn parse_collecting(
    path: &Path,
    text: &str,
    more: &mut Vec<ConfigError>,
) -> Result<Config, ConfigError> {
    let loc = Locator {
        path,
        text,
        selectors: RefCell::default(),
        stream: RefCell::default(),
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let span = e.span();
        let section = span.as_ref().and_then(|s| loc.section(s.start));
        let message =
            config_messages::toml_message(text, span.clone(), section.as_deref(), e.message());
        loc.error(span, &message)
    })?;
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
    // A range error names the key itself; the section ([settings]) comes from the location.
    let timeout = match &s.timeout {
        None => Duration::from_secs(20),
        Some(v) => TIMEOUT_RANGE
            .check("timeout", v.get_ref())
            .map_err(|m| loc.error(Some(v.span()), &m))?,
    };
    let max_page_bytes = match &s.max_page_bytes {
        None => DEFAULT_MAX_PAGE_BYTES,
        Some(v) => MAX_PAGE_BYTES_RANGE
            .check("max_page_bytes", *v.get_ref())
            .map_err(|m| loc.error(Some(v.span()), &m))?,
    };
    let listen = match &s.listen {
        None => "127.0.0.1:8080".to_string(),
        Some(v) => {
            let t = v.get_ref().trim();
            if t.parse::<std::net::SocketAddr>().is_err() {
                return Err(loc.error(
                    Some(v.span()),
                    &format!(
                        "listen: `{}` is not an address like \"127.0.0.1:8080\" or \"[::1]:8080\"",
                        shown(t)
                    ),
                ));
            }
            t.to_string()
        }
    };
    let refresh = match &s.refresh {
        None => Schedule::Every(Duration::from_secs(30 * MINUTE)),
        Some(v) => {
            compile_schedule("refresh", v.get_ref()).map_err(|m| loc.error(Some(v.span()), &m))?
        }
    };
    let concurrency = match &s.concurrency {
        None => 8,
        Some(v) => CONCURRENCY_RANGE
            .check("concurrency", *v.get_ref())
            .map_err(|m| loc.error(Some(v.span()), &m))?,
    };
    let host_delay = match &s.host_delay {
        None => Duration::from_secs(1),
        Some(v) => HOST_DELAY_RANGE
            .check("host_delay", v.get_ref())
            .map_err(|m| loc.error(Some(v.span()), &m))?,
    };
    let user_agent = match &s.user_agent {
        None => DEFAULT_USER_AGENT.to_string(),
        Some(v) => {
            let ua = v.get_ref().trim();
            if ua.is_empty() || reqwest::header::HeaderValue::from_str(ua).is_err() {
                return Err(loc.error(
                    Some(v.span()),
                    "`user_agent` must be one line of printable text, like `user_agent = \"pagefeed (+https://example.org/bot)\"`; leave it out for the default",
                ));
            }
            ua.to_string()
        }
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
    let allow_private_hosts = s.allow_private_hosts.as_ref().is_some_and(|v| *v.get_ref());
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
        allow_private_hosts,
        websub_hub,
        output_dir,
        state,
        base_url,
        user_agent,
        timeout,
        max_page_bytes,
    };

    let mut feeds = Vec::new();
    let mut merge_spans = HashMap::new();
    // Keep the file's order (the map sorts by name): runs, OPML and status pages follow it.
    let mut raw_feeds: Vec<(String, Spanned<RawFeed>)> = raw.feeds.into_iter().collect();
    raw_feeds.sort_by_key(|(_, f)| f.span().start);
    for (name, feed) in raw_feeds {
        let span = feed.span();
        if let Some(m) = &feed.get_ref().merge {
            merge_spans.insert(name.clone(), m.span());
        }
        match compile_feed(&loc, &dir, &name, span, feed.into_inner()) {
            Ok(f) => feeds.push(f),
            Err(e) => more.push(e),
        }
    }
    if !more.is_empty() {
        return Err(more.remove(0));
    }
    check_merge_graph(&loc, &mut feeds, &merge_spans)?;
    Ok(Config {
        path: path.to_path_buf(),
        settings,
        feeds,
    })
}

/// Every name in a `merge` list must be a feed of the config, and no feed may reach itself.
/// Sets each feed's `merge_depth`. Linear in feeds and merge edges, without recursion: a
/// config of thousands of chained or diamond-shaped merges is checked at once.
fn check_merge_graph(
    loc: &Locator,
    feeds: &mut [FeedConfig],
    spans: &HashMap<String, std::ops::Range<usize>>,
) -> Result<(), ConfigError> {
    let index: HashMap<&str, usize> = feeds
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    let mut edges: Vec<Vec<usize>> = Vec::with_capacity(feeds.len());
    for f in feeds.iter() {
        let mut out = Vec::new();
        for s in f.merge_sources() {
            match index.get(s.as_str()) {
                Some(&i) => out.push(i),
                None => {
                    let known: Vec<&str> = feeds.iter().map(|f| f.name.as_str()).collect();
                    return Err(loc.error(
                        spans.get(&f.name).cloned(),
                        &format!(
                            "feed {}: `merge` names `{}`, which is not a feed of this config (feeds: {})",
                            f.name,
                            shown(s),
                            shown(&known.join(", "))
                        ),
                    ));
                }
            }
        }
        edges.push(out);
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; feeds.len()];
    let mut depth = vec![0usize; feeds.len()];
    // Depth-first from each feed in file order; the stack is the current path, each entry with
    // the index of the next source to visit. A feed met again on the path closes a cycle.
    for root in 0..feeds.len() {
        if mark[root] != Mark::New {
            continue;
        }
        mark[root] = Mark::OnPath;
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            if let Some(&src) = edges[node].get(*next) {
                *next += 1;
                match mark[src] {
                    Mark::New => {
                        mark[src] = Mark::OnPath;
                        path.push((src, 0));
                    }
                    Mark::OnPath => {
                        let from = path.iter().position(|(n, _)| *n == src).unwrap_or(0);
                        let mut cycle: Vec<&str> = path[from..]
                            .iter()
                            .map(|(n, _)| feeds[*n].name.as_str())
                            .collect();
                        cycle.push(feeds[src].name.as_str());
                        return Err(loc.error(
                            spans.get(&feeds[root].name).cloned(),
                            &format!(
                                "feeds merge each other in a cycle: {}; a merged feed cannot contain itself",
                                cycle.join(" -> ")
                            ),
                        ));
                    }
                    Mark::Done => {}
                }
            } else {
                depth[node] = edges[node]
                    .iter()
                    .map(|&s| depth[s].saturating_add(1))
                    .max()
                    .unwrap_or(0);
                mark[node] = Mark::Done;
                path.pop();
            }
        }
    }
    for (f, d) in feeds.iter_mut().zip(depth) {
        f.merge_depth = d;
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
    if !valid_feed_name(name) {
        return Err(loc.error(
            Some(span),
            &format!(
                "feed name `{}` is not allowed: use lower-case letters, digits, `_` and `-` (it becomes the file name)",
                shown(name)
            ),
        ));
    }
    let err = |span: std::ops::Range<usize>, key: &str, msg: &str| {
        loc.error(Some(span), &format!("feed {name}, key `{key}`: {msg}"))
    };
    // Range messages name the key themselves: "feed a: `refresh` must be between ...".
    let range_err = |span: std::ops::Range<usize>, msg: &str| {
        loc.error(Some(span), &format!("feed {name}: {msg}"))
    };
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
        // Without [feeds.NAME.items], the entries are found automatically.
        let items = match &raw.items {
            Some(items) => Some(Box::new(compile_items(loc, name, items.get_ref())?)),
            None => None,
        };
        FeedKind::Scrape { source, items }
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
                compile_regex(r)
                    .map_err(|e| err(v.span(), key, &format!("invalid regex `{}`: {e}", shown(r))))
            })
            .collect()
    };
    let filters = Filters {
        include: regexes(&raw.include, "include")?,
        exclude: regexes(&raw.exclude, "exclude")?,
        max_age: match &raw.max_age {
            None => None,
            Some(v) => Some(
                MAX_AGE_RANGE
                    .check("max_age", v.get_ref())
                    .map_err(|m| range_err(v.span(), &m))?,
            ),
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
                        shown(v.get_ref())
                    ),
                ));
            }
        },
        title_prefix: raw.title_prefix.clone().filter(|p| !p.is_empty()),
    };
    let refresh = match &raw.refresh {
        None => None,
        Some(v) => {
            Some(compile_schedule("refresh", v.get_ref()).map_err(|m| range_err(v.span(), &m))?)
        }
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
                    shown(v.get_ref())
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
                        &format!("`{}` is not a valid chrono format: {m}", shown(f)),
                    )
                })?;
            }
            list
        }
    };
    let max_items = match &raw.max_items {
        None => DEFAULT_MAX_ITEMS,
        Some(v) => MAX_ITEMS_RANGE
            .check("max_items", *v.get_ref())
            .map_err(|m| range_err(v.span(), &m))?,
    };
    let min_items = match &raw.min_items {
        None => 1,
        Some(v) => MIN_ITEMS_RANGE
            .check("min_items", *v.get_ref())
            .map_err(|m| range_err(v.span(), &m))?,
    };
    let max_pages = match &raw.max_pages {
        None => 1,
        Some(v) => MAX_PAGES_RANGE
            .check("max_pages", *v.get_ref())
            .map_err(|m| range_err(v.span(), &m))?,
    };
    let next_page = match &raw.next_page {
        None => None,
        Some(f) if f.get_ref().0.selector == "auto" && is_plain(&f.get_ref().0) => {
            Some(NextPage::Auto)
        }
        Some(f) => Some(NextPage::Field(compile_field(loc, name, "next_page", f)?)),
    };
    let article = match &raw.article {
        None => None,
        Some(a) if matches!(kind, FeedKind::Merge { .. }) => {
            return Err(err(
                a.span(),
                "article",
                "is only for feeds with items of their own (`url` or `feed_url`); a `merge` feed takes its sources' articles",
            ));
        }
        Some(a) => Some(compile_article(loc, name, a.get_ref())?),
    };
    let render = compile_render(&raw, &kind, &err)?;
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
                                shown(f.get_ref())
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

    let date_locale = match &raw.date_locale {
        None => None,
        Some(v) => {
            let tag = v.get_ref().trim();
            if !dates::reads_language(tag) {
                let known: Vec<&str> = std::iter::once("en").chain(dates::languages()).collect();
                return Err(err(
                    v.span(),
                    "date_locale",
                    &format!(
                        "names no language whose dates pagefeed reads; use one of {}, like `date_locale = \"de\"`",
                        known.join(", ")
                    ),
                ));
            }
            Some(tag.to_string())
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
        date_locale,
        time_zone,
        date_formats,
        max_items,
        formats,
        future_dates: raw.future_dates,
        min_items,
        keep_history: raw.keep_history,
        ignore_robots: raw.ignore_robots,
        next_page,
        max_pages,
        article,
        render,
        merge_depth: 0,
    })
}

fn compile_article(loc: &Locator, name: &str, a: &RawArticle) -> Result<ArticleRules, ConfigError> {
    let field = |key: &str, f: &Spanned<RawField>| compile_field(loc, name, key, f);
    let opt =
        |key: &str, f: &Option<Spanned<RawField>>| f.as_ref().map(|f| field(key, f)).transpose();
    let content = if a.content.get_ref().0.selector == "auto" && is_plain(&a.content.get_ref().0) {
        ArticleContent::Auto
    } else {
        ArticleContent::Field(field("article.content", &a.content)?)
    };
    let max_per_run = match &a.max_articles_per_run {
        None => DEFAULT_MAX_ARTICLES_PER_RUN,
        Some(v) => MAX_ARTICLES_PER_RUN_RANGE
            .check("max_articles_per_run", *v.get_ref())
            .map_err(|m| loc.error(Some(v.span()), &format!("feed {name}: {m}")))?,
    };
    Ok(ArticleRules {
        content,
        date: opt("article.date", &a.date)?,
        authors: opt("article.authors", &a.authors)?,
        image: opt("article.image", &a.image)?,
        max_per_run,
    })
}

fn compile_items(loc: &Locator, name: &str, it: &RawItems) -> Result<ItemRules, ConfigError> {
    let selector = loc.selector(it.selector.get_ref()).map_err(|m| {
        loc.error(
            Some(it.selector.span()),
            &format!("feed {name}, key `items.selector`: {m}"),
        )
    })?;
    let field = |key: &str, f: &Spanned<RawField>| compile_field(loc, name, key, f);
    let opt =
        |key: &str, f: &Option<Spanned<RawField>>| f.as_ref().map(|f| field(key, f)).transpose();
    let mut rules = ItemRules {
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
        stream: None,
    };
    rules.stream = crate::extract::stream::Plan::compile_with(&rules, &mut loc.stream.borrow_mut())
        .map(std::sync::Arc::new);
    Ok(rules)
}

/// `render` and `wait_for`: only for a scraped page on the web; `wait_for` only with a browser.
fn compile_render(
    raw: &RawFeed,
    kind: &FeedKind,
    err: &dyn Fn(std::ops::Range<usize>, &str, &str) -> ConfigError,
) -> Result<Option<Render>, ConfigError> {
    let render = match &raw.render {
        None => false,
        Some(v) => match v.get_ref().trim() {
            "chromium" => true,
            "none" => false,
            _ => {
                return Err(err(
                    v.span(),
                    "render",
                    "must be \"chromium\" (load the page in headless Chromium) or \"none\" (fetch it over HTTP, the default)",
                ));
            }
        },
    };
    if !render {
        if let Some(w) = &raw.wait_for {
            return Err(err(
                w.span(),
                "wait_for",
                "only applies to pages loaded in a browser: add `render = \"chromium\"` or remove it",
            ));
        }
        return Ok(None);
    }
    let span = raw.render.as_ref().map(|v| v.span()).unwrap_or_default();
    match kind {
        FeedKind::Scrape {
            source: Source::Http(_),
            ..
        } => {}
        FeedKind::Scrape { .. } => {
            return Err(err(
                span,
                "render",
                "needs a page on the web (`url = \"https://...\"`); a local file is read as it is",
            ));
        }
        _ => {
            return Err(err(
                span,
                "render",
                "is only for scraped pages (`url`); a `feed_url` or `merge` feed is not rendered",
            ));
        }
    }
    let wait_for = match &raw.wait_for {
        None => None,
        Some(w) => {
            let text = w.get_ref().trim();
            compile_selector(text).map_err(|m| err(w.span(), "wait_for", &m))?;
            Some(text.to_string())
        }
    };
    Ok(Some(Render { wait_for }))
}

/// Parse a CSS selector; the error is the whole message, with a caret under the place where
/// the selector goes wrong, in plain words.
fn compile_selector(text: &str) -> Result<Selector, String> {
    let problem = |fallback: &str| {
        let p =
            config_messages::selector_problem(text).unwrap_or(config_messages::SelectorProblem {
                at: text.len(),
                reason: fallback.to_string(),
            });
        config_messages::selector_message(text, &p)
    };
    if text.trim().is_empty() {
        return Err(problem("it is empty"));
    }
    Selector::parse(text).map_err(|_| problem("it is not a CSS selector"))
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
            &format!(
                "feed {feed}, key `{}{key}`: {msg}",
                if key == "next_page" || key.starts_with("article.") {
                    ""
                } else {
                    "items."
                }
            ),
        )
    };
    let selector = loc.selector(&raw.selector).map_err(err)?;
    let regex = |what: &str, r: &Option<String>| -> Result<Option<Regex>, ConfigError> {
        r.as_ref()
            .map(|r| {
                compile_regex(r)
                    .map_err(|e| err(format!("invalid {what} regex `{}`: {e}", shown(r))))
            })
            .transpose()
    };
    let from = match raw.from.as_deref() {
        None | Some("item") => From::Item,
        Some("next") => From::Next,
        Some("preceding") => From::Preceding,
        Some(other) => {
            return Err(err(format!(
                "from = \"{}\" is not known: use \"item\", \"next\" or \"preceding\"",
                shown(other)
            )));
        }
    };
    if raw.html && key != "summary" && key != "article.content" {
        return Err(err(
            "html = true is only for `summary` (and `article.content`, which is always HTML)"
                .to_string(),
        ));
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
        optional: raw.optional,
    })
}

/// A FIELD written as a bare selector string (no table keys set).
fn is_plain(f: &RawFieldTable) -> bool {
    f.attr.is_none()
        && f.regex.is_none()
        && f.strip.is_none()
        && f.from.is_none()
        && f.split.is_none()
        && !f.html
        && !f.optional
}

fn parse_http_url(text: &str) -> Result<Url, String> {
    let u = Url::parse(text.trim())
        .map_err(|e| format!("`{}` is not a valid URL: {e}", shown(text)))?;
    match u.scheme() {
        "http" | "https" if u.host().is_some() => Ok(u),
        _ => Err(format!("`{}` must be an absolute http(s) URL", shown(text))),
    }
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

    #[test]
    fn feeds_sharing_selectors_each_keep_their_own() {
        // Selectors are compiled once per text while a config is read: feeds that share a
        // text share the compiled selector, and every other feed still gets its own.
        let text = r#"
[feeds.a]
url = "page.html"
[feeds.a.items]
selector = "li.x"
title = "a"
date = "time"

[feeds.b]
url = "page.html"
[feeds.b.items]
selector = "li.y"
title = "b"

[feeds.c]
url = "page.html"
[feeds.c.items]
selector = "li.x"
title = "b"
date = "time"

[feeds.d]
url = "page.html"
[feeds.d.items]
selector = "li.x"
title = "a"
date = "p + time"
"#;
        let c = parse(Path::new("p.toml"), text).expect("valid");
        let page = r#"<ul><li class="x"><a>X1</a><b>Xb</b><time>2020-01-02</time></li>
            <li class="y"><a>Y1</a><b>Yb</b></li><li class="x"><a>X2</a><b>Xb2</b></li></ul>"#;
        let titles = |name: &str| {
            let rules = c.feed(name).and_then(FeedConfig::items).expect("scraped");
            let dom: Vec<String> = crate::extract::select::extract(page, rules)
                .entries
                .iter()
                .map(|e| e.title().unwrap_or("").to_string())
                .collect();
            let streamed = rules.stream.as_deref().map(|plan| {
                crate::extract::stream::extract_with(page, rules, plan)
                    .expect("streams")
                    .entries
                    .iter()
                    .map(|e| e.title().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            });
            (dom, streamed)
        };
        let both = |v: &[&str]| {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            (v.clone(), Some(v))
        };
        assert_eq!(titles("a"), both(&["X1", "X2"]));
        assert_eq!(titles("b"), both(&["Yb"]));
        assert_eq!(titles("c"), both(&["Xb", "Xb2"]));
        // A sibling combinator needs the DOM: no plan for `d`, though `a` shares its others.
        let (dom, streamed) = titles("d");
        assert_eq!((dom, streamed), (vec!["X1".into(), "X2".into()], None));
        assert!(
            c.feed("a")
                .and_then(FeedConfig::items)
                .is_some_and(|r| r.stream.is_some())
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
    fn allow_private_hosts_is_a_boolean_off_by_default() {
        let path = Path::new("p.toml");
        let feed = "[feeds.a]\nurl = \"https://example.org/\"\n";
        assert!(!parse(path, feed).unwrap().settings.allow_private_hosts);
        let on = format!("[settings]\nallow_private_hosts = true\n{feed}");
        assert!(parse(path, &on).unwrap().settings.allow_private_hosts);
        let e = error_of(&format!(
            "[settings]\nallow_private_hosts = \"yes\"\n{feed}"
        ));
        assert!(e.contains("allow_private_hosts"), "{e}");
        assert!(e.contains("true"), "{e}");
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
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 20 s "), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0.25s"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0.5ms"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("1.0000000001s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("007m"), Ok(Duration::from_secs(420)));
        // Zero parses; each key's range decides whether it is allowed.
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_refused_without_panicking() {
        use DurationError::*;
        for text in [
            "", "  ", "soon", "s", "NaN", "nan s", "inf", "+5s", ".5s", "5.s",
        ] {
            assert!(
                matches!(parse_duration(text), Err(NotADuration(_))),
                "{text:?}: {:?}",
                parse_duration(text)
            );
        }
        for text in [
            "1e300s", "5 sec", "5S", "3w", "1y", "20s5", "5 mins", "1.2.3s",
        ] {
            assert!(
                matches!(parse_duration(text), Err(UnknownUnit { .. })),
                "{text:?}: {:?}",
                parse_duration(text)
            );
        }
        assert!(matches!(parse_duration("-5s"), Err(Negative(_))));
        assert!(matches!(parse_duration(" -0.5h"), Err(Negative(_))));
        // Overflow: of u128 while reading digits, of u128 nanoseconds, and of u64 seconds.
        let too_long = [
            "9".repeat(60) + "s",
            "340282366920938463463374607431768211456".to_string(),
            "99999999999999999999d".to_string(),
            "18446744073709551616".to_string(),
            "213503982334602d".to_string(),
            "18446744073709551615d".to_string(),
        ];
        for text in &too_long {
            assert!(
                matches!(parse_duration(text), Err(TooLong(_))),
                "{text:?}: {:?}",
                parse_duration(text)
            );
        }
        // The largest values that still fit.
        assert_eq!(
            parse_duration("18446744073709551615"),
            Ok(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_duration("213503982334601d"),
            Ok(Duration::from_secs(213_503_982_334_601 * 86_400))
        );
        // A megabyte of digits is an error, in one pass, with a short message.
        let huge = "1".repeat(1_000_000);
        let e = parse_duration(&huge).expect_err("too long").to_string();
        assert!(e.len() < 300, "{e}");
    }

    /// `[settings]` with one line.
    fn settings(line: &str) -> Result<Config, String> {
        parse(Path::new("p.toml"), &format!("[settings]\n{line}\n")).map_err(|e| e.to_string())
    }

    /// [`GOOD`] with `line` added to `[feeds.demo]`.
    fn feed(line: &str) -> Result<Config, String> {
        let text = GOOD.replace(
            "date_format = \"%d.%m.%Y\"\n",
            &format!("date_format = \"%d.%m.%Y\"\n{line}\n"),
        );
        parse(Path::new("p.toml"), &text).map_err(|e| e.to_string())
    }

    /// Asserts the error for `line` is located at its value and states `rule`.
    fn assert_range_error(result: Result<Config, String>, at: &str, rule: &str, line: &str) {
        let e = match result {
            Ok(_) => panic!("`{line}` must be refused"),
            Err(e) => e,
        };
        assert!(e.starts_with(at), "`{line}`: expected {at}, got:\n{e}");
        assert!(e.contains(rule), "`{line}`: no `{rule}` in:\n{e}");
        assert!(
            e.contains(line),
            "`{line}`: the source line is not shown:\n{e}"
        );
    }

    #[test]
    fn timeout_range() {
        let ok = |line: &str| settings(line).map(|c| c.settings.timeout);
        assert_eq!(ok("timeout = \"1s\""), Ok(Duration::from_secs(1)));
        assert_eq!(ok("timeout = \"20s\""), Ok(Duration::from_secs(20)));
        assert_eq!(ok("timeout = \"10m\""), Ok(Duration::from_secs(600)));
        assert_eq!(ok("timeout = \"600\""), Ok(Duration::from_secs(600)));
        assert_eq!(ok("timeout = 30"), Ok(Duration::from_secs(30)));
        assert_eq!(ok("timeout = \"1.5s\""), Ok(Duration::from_millis(1500)));
        let rule = "`timeout` must be between 1s and 10m, like `timeout = \"20s\"`";
        for line in [
            "timeout = \"999ms\"",
            "timeout = \"0\"",
            "timeout = \"601s\"",
            "timeout = \"10.01m\"",
            "timeout = \"1d\"",
            "timeout = \"-1s\"",
            "timeout = \"1e300s\"",
            "timeout = \"99999999999999999999d\"",
            "timeout = \"18446744073709551615d\"",
            "timeout = 0",
            "timeout = -20",
            "timeout = 9223372036854775807",
            "timeout = 1.5",
            "timeout = nan",
            "timeout = inf",
        ] {
            assert_range_error(
                settings(line),
                "p.toml:2:11: config error in [settings]",
                rule,
                line,
            );
        }
        let e = settings("timeout = \"601s\"").expect_err("too long");
        assert!(e.contains("`601s` is longer"), "{e}");
        let e = settings("timeout = \"999ms\"").expect_err("too short");
        assert!(e.contains("`999ms` is shorter"), "{e}");
        let e = settings("timeout = true").expect_err("not a duration");
        assert!(
            e.starts_with("p.toml:2:11:")
                && e.contains("`timeout` is a duration in quotes, like `timeout = \"20s\"`"),
            "{e}"
        );
    }

    #[test]
    fn refresh_interval_range() {
        let every = |c: Config| match c.settings.refresh {
            Schedule::Every(d) => d,
            Schedule::Cron(_) => panic!("not an interval"),
        };
        assert_eq!(
            settings("refresh = \"1s\"").map(every),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            settings("refresh = \"31d\"").map(every),
            Ok(Duration::from_secs(31 * 86400))
        );
        assert_eq!(
            settings("refresh = 3600").map(every),
            Ok(Duration::from_secs(3600))
        );
        let rule = "`refresh` must be between 1s and 31d, like `refresh = \"30m\"`";
        for line in [
            "refresh = \"999ms\"",
            "refresh = \"0s\"",
            "refresh = \"2678401s\"",
            "refresh = \"32d\"",
            "refresh = \"18446744073709551615d\"",
            "refresh = \"99999999999999999999999999999999999999999h\"",
            "refresh = -1",
            "refresh = \"soon\"",
        ] {
            assert_range_error(
                settings(line),
                "p.toml:2:11: config error in [settings]",
                rule,
                line,
            );
            let e = settings(line).expect_err("refused");
            assert!(e.contains("cron expression like"), "{e}");
        }
        // A feed's own refresh: the feed is named too.
        let f = feed("refresh = \"6h\"").expect("valid");
        assert!(
            matches!(f.feeds[0].refresh, Some(Schedule::Every(d)) if d == Duration::from_secs(6 * 3600))
        );
        for line in ["refresh = \"32d\"", "refresh = \"99999999999999999999d\""] {
            assert_range_error(
                feed(line),
                "p.toml:11:11: config error in [feeds.demo]: feed demo: ",
                rule,
                line,
            );
        }
    }

    #[test]
    fn refresh_cron_must_fire_often_enough() {
        for cron in [
            "*/15 * * * *",
            "0 * * * *",
            "0 6 * * 1-5",
            "30 2 * * SUN",
            "0 0 1 * *",
            "0 0 28 * *",
            "0 0 30 * 1",
        ] {
            let c = settings(&format!("refresh = \"{cron}\""))
                .unwrap_or_else(|e| panic!("`{cron}`: {e}"));
            assert!(matches!(c.settings.refresh, Schedule::Cron(_)), "{cron}");
        }
        let rule = "`refresh` must fire at least once every 31 days";
        for (cron, why) in [
            ("0 0 30 2 *", "never fires"),
            ("0 0 31 4,6,9,11 *", "never fires"),
            ("0 0 29 2 *", "leaves 1461 days between"),
            (
                "0 0 31 * *",
                "leaves 60 days between 2024-01-31 00:00 UTC and 2024-03-31 00:00 UTC",
            ),
            ("0 0 1 1,7 *", "days between"),
            ("0 0 * * 5#5", "days between"),
        ] {
            let line = format!("refresh = \"{cron}\"");
            assert_range_error(settings(&line), "p.toml:2:11:", rule, &line);
            let e = settings(&line).expect_err("refused");
            assert!(e.contains(why), "{e}");
            assert_range_error(feed(&line), "p.toml:11:11:", rule, &line);
        }
        for (cron, what) in [
            ("* * * * * *", "has 6 fields"),
            ("0 0 0 1 1 * 2020", "has 7 fields"),
            ("*/0 * * * *", "not a valid cron expression"),
            (
                "99999999999999999999 * * * *",
                "not a valid cron expression",
            ),
            ("60 * * * *", "not a valid cron expression"),
            ("é é é é é", "not a valid cron expression"),
        ] {
            let e = settings(&format!("refresh = \"{cron}\"")).expect_err(cron);
            assert!(e.starts_with("p.toml:2:11:") && e.contains(what), "{e}");
            assert!(e.contains("five fields"), "{e}");
        }
    }

    #[test]
    fn host_delay_range() {
        let ok = |line: &str| settings(line).map(|c| c.settings.host_delay);
        assert_eq!(ok("host_delay = \"0\""), Ok(Duration::ZERO));
        assert_eq!(ok("host_delay = \"0s\""), Ok(Duration::ZERO));
        assert_eq!(ok("host_delay = 0"), Ok(Duration::ZERO));
        assert_eq!(ok("host_delay = \"250ms\""), Ok(Duration::from_millis(250)));
        assert_eq!(ok("host_delay = \"10m\""), Ok(Duration::from_secs(600)));
        let rule = "`host_delay` must be between 0s and 10m, like `host_delay = \"1s\"`";
        for line in [
            "host_delay = \"601s\"",
            "host_delay = \"-1s\"",
            "host_delay = \"18446744073709551615d\"",
            "host_delay = \"x\"",
        ] {
            assert_range_error(settings(line), "p.toml:2:14:", rule, line);
        }
    }

    #[test]
    fn max_age_range() {
        let ok = |line: &str| feed(line).map(|c| c.feeds[0].filters.max_age);
        assert_eq!(ok("max_age = \"1m\""), Ok(Some(Duration::from_secs(60))));
        assert_eq!(
            ok("max_age = \"30d\""),
            Ok(Some(Duration::from_secs(30 * 86400)))
        );
        assert_eq!(
            ok("max_age = \"3650d\""),
            Ok(Some(Duration::from_secs(3650 * 86400)))
        );
        let rule = "feed demo: `max_age` must be between 1m and 3650d, like `max_age = \"30d\"`";
        for line in [
            "max_age = \"59s\"",
            "max_age = \"3651d\"",
            "max_age = \"18446744073709551615d\"",
            "max_age = \"9999999999999999999999999999999999999999d\"",
            "max_age = 0",
        ] {
            assert_range_error(
                feed(line),
                "p.toml:11:11: config error in [feeds.demo]",
                rule,
                line,
            );
        }
    }

    #[test]
    fn count_ranges() {
        let items = |line: &str| feed(line).map(|c| c.feeds[0].max_items);
        assert_eq!(items("max_items = 1"), Ok(1));
        assert_eq!(items("max_items = 10000"), Ok(10_000));
        let rule = "feed demo: `max_items` must be between 1 and 10000, like `max_items = 50`";
        for line in [
            "max_items = 0",
            "max_items = -1",
            "max_items = 10001",
            "max_items = 9223372036854775807",
            "max_items = -9223372036854775808",
        ] {
            assert_range_error(feed(line), "p.toml:11:13:", rule, line);
        }
        // Past i64, TOML itself refuses the number, still located.
        let e = feed("max_items = 9223372036854775808").expect_err("too big");
        assert!(e.starts_with("p.toml:11:"), "{e}");

        let bytes = |line: &str| settings(line).map(|c| c.settings.max_page_bytes);
        assert_eq!(bytes("max_page_bytes = 1000"), Ok(1000));
        assert_eq!(bytes("max_page_bytes = 1_000_000_000"), Ok(1_000_000_000));
        let rule = "`max_page_bytes` must be between 1000 and 1000000000 bytes (1 kB to 1 GB)";
        for line in [
            "max_page_bytes = 999",
            "max_page_bytes = 0",
            "max_page_bytes = -5",
            "max_page_bytes = 1000000001",
        ] {
            assert_range_error(settings(line), "p.toml:2:18:", rule, line);
        }

        let conc = |line: &str| settings(line).map(|c| c.settings.concurrency);
        assert_eq!(conc("concurrency = 1"), Ok(1));
        assert_eq!(conc("concurrency = 1024"), Ok(1024));
        let rule = "`concurrency` must be between 1 and 1024, like `concurrency = 8`";
        for line in ["concurrency = 0", "concurrency = 1025", "concurrency = -3"] {
            assert_range_error(settings(line), "p.toml:2:15:", rule, line);
        }
        let e = settings("concurrency = 1.5").expect_err("not an integer");
        assert!(e.starts_with("p.toml:2:15:"), "{e}");
    }

    #[test]
    fn readme_lists_every_range() {
        let readme = include_str!("../README.md");
        let row = |key: &str| {
            readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{key}` |")))
                .unwrap_or_else(|| panic!("no README row for `{key}`"))
        };
        for (key, r) in [
            ("timeout", TIMEOUT_RANGE),
            ("refresh", REFRESH_RANGE),
            ("host_delay", HOST_DELAY_RANGE),
            ("max_age", MAX_AGE_RANGE),
        ] {
            let words = format!("{} to {}", human(r.min), human(r.max));
            assert!(
                row(key).contains(&words),
                "README row for `{key}` must say {words}"
            );
        }
        for (key, r) in [
            ("max_items", MAX_ITEMS_RANGE),
            ("min_items", MIN_ITEMS_RANGE),
            ("max_pages", MAX_PAGES_RANGE),
            ("max_articles_per_run", MAX_ARTICLES_PER_RUN_RANGE),
            ("max_page_bytes", MAX_PAGE_BYTES_RANGE),
            ("concurrency", CONCURRENCY_RANGE),
        ] {
            let words = format!("{} to {}", r.min, r.max);
            assert!(
                row(key).contains(&words),
                "README row for `{key}` must say {words}"
            );
        }
        assert!(readme.contains(&format!("at most {} MB", REGEX_SIZE_LIMIT >> 20)));
    }

    #[test]
    fn schedules_never_overflow() {
        let end = chrono::DateTime::<chrono::Utc>::MAX_UTC;
        for s in [
            Schedule::Every(REFRESH_RANGE.max),
            Schedule::Every(Duration::from_secs(u64::MAX)),
        ] {
            assert_eq!(s.next_after(end), end);
            let _ = s.period(end);
        }
    }

    #[test]
    fn monstrous_regexes_are_config_errors() {
        for line in [
            "include = \"a{1000}{1000}\"",
            "include = \"\\\\w{5000}\"",
            "exclude = [\"ok\", \"[\\\\p{L}a-z]{5000}\"]",
        ] {
            let e = feed(line).expect_err(line);
            assert!(e.starts_with("p.toml:11:"), "{e}");
            assert!(
                e.contains("too big") && e.contains("use a smaller regex"),
                "{e}"
            );
        }
        let e = error_of(&GOOD.replace("split = \"|\"", "regex = \"(x{1000}){1000}\""));
        assert!(e.contains("items.authors") && e.contains("too big"), "{e}");
        // Deep nesting and a long pattern: refused, with a short message.
        let deep = format!(
            "include = \"{}x{}\"",
            "(".repeat(50_000),
            ")".repeat(50_000)
        );
        let e = feed(&deep).expect_err("too deep");
        assert!(
            e.contains("nested") && e.len() < 1000,
            "{} bytes: {e:.300}",
            e.len()
        );
        // An ordinary long alternation is fine.
        let words: Vec<String> = (0..500).map(|i| format!("word{i}")).collect();
        let c = feed(&format!(
            "include = \"(?i)\\\\b({})\\\\b\"",
            words.join("|")
        ))
        .expect("fits");
        assert_eq!(c.feeds[0].filters.include.len(), 1);
    }

    #[test]
    fn odd_text_in_names_and_values_is_escaped_in_messages() {
        let e = error_of("[feeds.\"ab\\u202Ec\\nd\"]\nfeed_url = \"x.xml\"\n");
        assert!(e.contains("feed name `ab\\u{202e}c\\u{a}d`"), "{e}");
        assert_eq!(e.lines().count(), 2, "{e}");
        let e = settings("user_agent = \"bot\\r\\nX-Evil: 1\"").expect_err("two lines");
        assert!(
            e.starts_with("p.toml:2:14:") && e.contains("`user_agent`"),
            "{e}"
        );
        assert!(settings("user_agent = \"\"").is_err());
        assert_eq!(
            settings("user_agent = \"bot/1 (+https://example.org/bot)\"")
                .map(|c| c.settings.user_agent),
            Ok("bot/1 (+https://example.org/bot)".to_string())
        );
        // A byte-order mark before the first table header.
        let e = error_of("\u{feff}[feeds.a]\nx = 1\n");
        assert!(e.contains("in [feeds.a]"), "{e}");
        // A value a megabyte long on one line gives a message of a few hundred bytes.
        let e = error_of(&format!(
            "[feeds.a]\ntime_zone = \"{}\"\n",
            "é".repeat(1_000_000)
        ));
        assert!(e.len() < 1000, "{} bytes", e.len());
    }

    #[test]
    fn merge_graphs_of_any_shape_are_checked_without_recursion() {
        // A chain 20,000 feeds deep, listed innermost last.
        let mut text = String::from("[feeds.f0]\nfeed_url = \"f.xml\"\n");
        let n = 20_000;
        for i in 1..=n {
            text.push_str(&format!("[feeds.f{i}]\nmerge = [\"f{}\"]\n", i - 1));
        }
        let c = parse(Path::new("p.toml"), &text).expect("a long chain is fine");
        assert_eq!(c.feed("f0").map(|f| f.merge_depth), Some(0));
        assert_eq!(c.feed(&format!("f{n}")).map(|f| f.merge_depth), Some(n));
        // A ladder of diamonds: every level merges both feeds of the level below. Walking
        // every path would take 2^60 steps.
        let mut text =
            String::from("[feeds.a0]\nfeed_url = \"a.xml\"\n[feeds.b0]\nfeed_url = \"b.xml\"\n");
        for i in 1..=60 {
            let below = format!("[\"a{0}\", \"b{0}\"]", i - 1);
            text.push_str(&format!(
                "[feeds.a{i}]\nmerge = {below}\n[feeds.b{i}]\nmerge = {below}\n"
            ));
        }
        let c = parse(Path::new("p.toml"), &text).expect("a ladder is fine");
        assert_eq!(c.feed("b60").map(|f| f.merge_depth), Some(60));
        // A cycle at the end of a long chain is still found and named.
        let mut text = String::from("[feeds.f0]\nmerge = [\"f3000\"]\n");
        for i in 1..=3000 {
            text.push_str(&format!("[feeds.f{i}]\nmerge = [\"f{}\"]\n", i - 1));
        }
        let e = error_of(&text);
        assert!(
            e.starts_with("p.toml:2:9:") && e.contains("f0 -> f3000 -> f2999"),
            "{e:.300}"
        );
    }
}

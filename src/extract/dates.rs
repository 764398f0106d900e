//! Turning the date text found on a listing page into an instant.
//!
//! Pages write dates in many shapes: machine-readable `datetime` attributes (RFC 3339 / ISO 8601),
//! mail-style RFC 2822 stamps, English prose dates ("October 15th, 2020", "24 Mar 2026"), bare
//! clock times ("17:46") and relative phrases ("3 hours ago", "yesterday"). The selected text is
//! often wrapped in noise ("Posted on …", "Kody Kester | …"), so the built-in forms are searched
//! for anywhere inside the text rather than matched against all of it.
//!
//! The order of attempts is:
//!
//! 1. the user's `date_format` strings (chrono strftime syntax), at the start of the text or at
//!    the start of any later word, so a configured format always wins over a guess;
//! 2. whole-text forms: a 10-digit (seconds) or 13-digit (milliseconds) Unix timestamp, strict
//!    RFC 3339 and RFC 2822;
//! 3. absolute dates found anywhere (the leftmost one wins): ISO `2020-10-15[T ]17:46[:00][.123]`
//!    with an optional offset or zone name, `2020/10/15`, `2020.10.15`, `15.10.2020`,
//!    month-name dates in day-month-year, month-day-year and year-month-day order, and the
//!    `asctime` shape `Thu Oct 15 17:46:00 [UTC] 2020`; each may carry a clock time (after the
//!    date, or just before it) and a zone;
//! 4. a month-name date without a year ("Oct 15", "Thu 14 Jan 10:58 AM"), only when it is the
//!    whole text; the year is the one that puts the date closest before the fetch time;
//! 5. relative forms: "today"/"yesterday" (plus a few equivalents in other languages, so that
//!    e.g. German "gestern, 18:00 Uhr" is not mistaken for a time today), optionally with a time;
//!    "N units ago"; "just now"/"now"; and finally a lone clock time.
//!
//! A text in another language ([`parse_date_in`] with a tag: de, fr, es, it, pt, nl, ru, ja, ko,
//! zh) is first rewritten into those English forms by the data tables of `dates/locales.rs`
//! (month and weekday names, "vor 2 Tagen", "il y a 3 heures", `3時間前`, `2020년 10월 15일`,
//! day-first `15/10/2020`) and parsed; when that finds nothing, the text as written is parsed.
//!
//! Decisions worth knowing:
//!
//! * A date without a time is midnight in the feed's time zone. Text without an explicit offset
//!   is read in that zone; a local time that occurs twice (DST fall-back) takes the earlier
//!   instant, one that does not exist (spring-forward gap) is moved one hour forward.
//! * "today" and "yesterday" mean midnight (local) of the fetch day or the day before, not
//!   "now minus 24 hours": a listing that says "yesterday" gives a day, not a time.
//! * Anything that depends on the fetch time (relative phrases, a time-only value, a date
//!   without a year) is flagged `relative`, and never lies after the fetch time ("today,
//!   18:00" read at 02:00 is the fetch time: the entry exists, so it is not from the future).
//!   Such a value drifts each time it is re-read, so the caller stores it the first time it
//!   sees an entry and never resolves it again.
//! * Numeric dates with slashes are only accepted as `YYYY/MM/DD`. `10/15/2020` and `15/10/20`
//!   are ambiguous between the US and European orders and are not guessed; a user format such
//!   as `%m/%d/%Y` settles it. Dotted `15.10.2020` is accepted as day-month-year, the only
//!   order in which that notation is in common use.
//! * A lone clock time is that time on the fetch day (in the feed's zone), or on the day before
//!   when it would lie more than an hour after the fetch: a listing shows past entries, and a
//!   date in the future would be flagged by validators and pinned on top by readers. It is only
//!   taken when the text has no other digits, which would mean a date this module could not read
//!   ("15/10/2020 17:46" is None, not "today 17:46").
//! * "N units ago" subtracts exact durations for seconds to weeks and calendar months for months
//!   and years; "a few" counts as three. Future phrases ("in 2 hours") are not read.
//! * A user format's `%Z` is matched against the zone abbreviations below (EST, CEST, …); an
//!   unknown name is skipped and the time is read in the feed's zone.
//! * Only the first few kilobytes of very long inputs are examined; parsing never panics.
//! * Parsing reads what the text says; whether that is a date a feed may carry is [`sane`]'s
//!   call: only instants from 1900 to the end of 2199 (every format and reader can write and
//!   read those), and none more than two days after the fetch unless the feed lists upcoming
//!   events (`future_dates`), since a reader would pin such an item above every other.

use std::sync::LazyLock;

use chrono::format::{Fixed, Item, Parsed, StrftimeItems};
use chrono::{
    DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use regex::{Captures, Regex};

mod locales;

/// A date read from a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDate {
    pub instant: DateTime<Utc>,
    /// true when the value depended on the fetch time (relative forms like "3 hours ago", "yesterday", or a time-only "17:46"): the caller stores it once at first sight and never re-resolves it.
    pub relative: bool,
}

/// The first year a date may fall in.
pub const FIRST_YEAR: i32 = 1900;
/// The last year a date may fall in.
pub const LAST_YEAR: i32 = 2199;
/// How far after the fetch time a date may lie when the feed does not set `future_dates`.
pub const FUTURE_SLACK_HOURS: i64 = 48;

/// The earliest instant a feed carries: the start of [`FIRST_YEAR`].
pub fn earliest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1)
        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The latest instant a feed carries: the last second of [`LAST_YEAR`].
pub fn latest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|d| d.and_utc())
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Why a parsed instant is not taken as an item's date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Implausible {
    #[error("is outside the years {FIRST_YEAR} to {LAST_YEAR}")]
    OutOfRange,
    #[error(
        "is more than two days after the fetch (set `future_dates = true` on the feed if it lists upcoming events)"
    )]
    Future,
}

/// Whether `instant` may date an item fetched at `now`; see the module docs.
pub fn sane(
    instant: DateTime<Utc>,
    now: DateTime<Utc>,
    future_ok: bool,
) -> Result<DateTime<Utc>, Implausible> {
    if instant < earliest() || instant > latest() {
        return Err(Implausible::OutOfRange);
    }
    if !future_ok
        && let Some(horizon) =
            TimeDelta::try_hours(FUTURE_SLACK_HOURS).and_then(|d| now.checked_add_signed(d))
        && instant > horizon
    {
        return Err(Implausible::Future);
    }
    Ok(instant)
}

/// `instant` written for a message: RFC 3339 in UTC, for any year.
pub fn show(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Longest input examined, in bytes; a date field longer than this is mostly noise.
const MAX_INPUT: usize = 4096;

/// How many word starts a user format is tried at when the text has leading noise.
const MAX_FORMAT_STARTS: usize = 64;

/// Parse `text` (already whitespace-collapsed, may have surrounding noise words like "Posted on" or "Updated:" — try reasonably to find the date inside) as a date.
/// `formats`: user chrono format strings (strftime-like) tried FIRST, before the built-in forms; a format may contain a date only (then midnight), date+time, or with %z/%Z offset.
/// `tz`: dates without an explicit offset are read in this zone (use correct DST handling: ambiguous local times take the earliest, nonexistent ones shift forward an hour).
/// `now`: the fetch time, for relative and time-only forms.
/// Returns None when nothing parses.
pub fn parse_date(
    text: &str,
    formats: &[String],
    tz: Tz,
    now: DateTime<Utc>,
) -> Option<ParsedDate> {
    parse_date_in(text, formats, tz, now, None)
}

/// [`parse_date`] for a text in a language: `language` is a tag such as `de`, `pt-BR` or
/// `zh-CN` (see [`languages`]). The text is first rewritten into the English forms the
/// built-in patterns read ("15. Oktober 2020" -> "15. oct 2020", "il y a 3 heures" -> "3
/// hours ago", `2020年10月15日` -> `2020-10-15`, `15/10/2020` read day first) and parsed; when
/// that finds nothing, the text as written is parsed. English and unknown tags parse the text
/// as written.
pub fn parse_date_in(
    text: &str,
    formats: &[String],
    tz: Tz,
    now: DateTime<Utc>,
    language: Option<&str>,
) -> Option<ParsedDate> {
    let text = normalize(text);
    if text.is_empty() {
        return None;
    }
    let cx = Context { tz, now };
    let translated = language
        .and_then(locales::language)
        .map(|l| l.translate(&text))
        .filter(|t| !t.is_empty() && *t != text);
    let mut found = formats
        .iter()
        .find_map(|fmt| parse_with_format(&text, fmt, &cx))
        .or_else(|| {
            let t = translated.as_deref()?;
            formats
                .iter()
                .find_map(|fmt| parse_with_format(t, fmt, &cx))
                .or_else(|| parse_builtin(t, &cx))
        })
        .or_else(|| parse_builtin(&text, &cx))?;
    // A date read against the fetch time cannot lie after it: "today, 18:00" on a page
    // fetched at 02:00 is a stale page or another clock, and the entry exists now.
    if found.relative && found.instant > now {
        found.instant = now;
    }
    Some(found)
}

/// The languages whose dates [`parse_date_in`] reads besides English (primary subtags).
pub fn languages() -> impl Iterator<Item = &'static str> {
    locales::known()
}

/// Whether dates written in the language of `tag` (`de`, `pt-BR`) are read: English, or a
/// language of [`languages`].
pub fn reads_language(tag: &str) -> bool {
    locales::primary(tag) == "en" || locales::language(tag).is_some()
}

/// Checks a user `date_format` string: every `%` specifier must be one chrono knows, and the
/// format must contain at least one date or time field. The error names the offending part and
/// does not repeat the format, which the caller quotes.
pub fn validate_format(fmt: &str) -> Result<(), String> {
    if fmt.trim().is_empty() {
        return Err("the format is empty".to_string());
    }
    let mut has_field = false;
    for item in StrftimeItems::new(fmt) {
        match item {
            Item::Error => {
                let what = match first_bad_specifier(fmt) {
                    Some("%") => "a lone `%` at the end".to_string(),
                    Some(spec) => format!("the unknown specifier `{spec}`"),
                    None => "an unknown or incomplete specifier".to_string(),
                };
                return Err(format!(
                    "it has {what} (see chrono's strftime syntax; write `%%` for a literal `%`)"
                ));
            }
            Item::Numeric(..) | Item::Fixed(..) => has_field = true,
            _ => {}
        }
    }
    if has_field {
        Ok(())
    } else {
        Err("it has no date or time specifier such as %Y, %d or %H".to_string())
    }
}

/// The first `%…` specifier in `fmt` that chrono rejects on its own, for error messages.
fn first_bad_specifier(fmt: &str) -> Option<&str> {
    let mut rest = fmt;
    while let Some(at) = rest.find('%') {
        let after = rest.get(at + 1..)?;
        // Modifiers (padding flags, `.3`, `:`) come before the letter that ends a specifier.
        let len = after
            .char_indices()
            .find(|&(_, c)| !matches!(c, '-' | '_' | '#' | '.' | ':' | '0'..='9'))
            .map_or(after.len(), |(i, c)| i + c.len_utf8());
        let spec = rest.get(at..at + 1 + len)?;
        if StrftimeItems::new(spec).any(|item| matches!(item, Item::Error)) {
            return Some(spec);
        }
        rest = rest.get(at + 1 + len..)?;
    }
    None
}

/// Fetch-time context shared by the individual parsers.
struct Context {
    tz: Tz,
    now: DateTime<Utc>,
}

impl Context {
    /// The calendar date of the fetch time in the feed's zone (None only at the very ends of
    /// chrono's range, where `with_timezone` would panic).
    fn today(&self) -> Option<NaiveDate> {
        let utc = self.now.naive_utc();
        let offset = self.tz.offset_from_utc_datetime(&utc).fix();
        utc.checked_add_offset(offset).map(|local| local.date())
    }

    /// Reads a wall-clock time in the feed's zone: the earlier instant when it occurs twice,
    /// one hour later when it falls into a DST gap.
    fn local(&self, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
        if let Some(dt) = self.tz.from_local_datetime(&naive).earliest() {
            return Some(dt.with_timezone(&Utc));
        }
        let shifted = naive.checked_add_signed(TimeDelta::try_hours(1)?)?;
        self.tz
            .from_local_datetime(&shifted)
            .earliest()
            .map(|dt| dt.with_timezone(&Utc))
    }

    /// Combines the pieces of an absolute date; without a time it is midnight, without a zone
    /// it is read in the feed's zone.
    fn resolve(
        &self,
        date: NaiveDate,
        time: Option<NaiveTime>,
        zone: Option<FixedOffset>,
    ) -> Option<DateTime<Utc>> {
        let naive = date.and_time(time.unwrap_or(NaiveTime::MIN));
        match zone {
            Some(offset) => offset
                .from_local_datetime(&naive)
                .single()
                .map(|dt| dt.with_timezone(&Utc)),
            None => self.local(naive),
        }
    }
}

fn absolute(instant: DateTime<Utc>) -> ParsedDate {
    ParsedDate {
        instant,
        relative: false,
    }
}

fn relative(instant: DateTime<Utc>) -> ParsedDate {
    ParsedDate {
        instant,
        relative: true,
    }
}

/// Cuts the input to `MAX_INPUT` bytes (on a character boundary) and collapses every run of
/// whitespace, including no-break spaces, into one ASCII space.
fn normalize(text: &str) -> String {
    let mut end = text.len().min(MAX_INPUT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let clipped = text.get(..end).unwrap_or_default();
    clipped.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------------
// User formats

fn parse_with_format(text: &str, fmt: &str, cx: &Context) -> Option<ParsedDate> {
    let mut items: Vec<Item<'_>> = StrftimeItems::new(fmt).collect();
    if items.is_empty() || items.iter().any(|item| matches!(item, Item::Error)) {
        return None;
    }

    // chrono skips a `%Z` zone name without reading it. When the text holds a zone
    // abbreviation we know, replace it by its numeric offset and read that with `%z` instead.
    let substituted;
    let mut subject = text;
    let wants_name = items
        .iter()
        .any(|item| matches!(item, Item::Fixed(Fixed::TimezoneName)));
    if wants_name
        && let Some(found) = ZONE_NAME_WORD.find(text)
        && let Some(offset) = named_zone(found.as_str())
    {
        substituted = format!(
            "{}{}{}",
            &text[..found.start()],
            offset_text(offset),
            &text[found.end()..]
        );
        subject = &substituted;
        for item in &mut items {
            if matches!(item, Item::Fixed(Fixed::TimezoneName)) {
                *item = Item::Fixed(Fixed::TimezoneOffset);
            }
        }
    }

    for start in word_starts(subject).take(MAX_FORMAT_STARTS) {
        let Some(rest_of_text) = subject.get(start..) else {
            continue;
        };
        let mut parsed = Parsed::new();
        let Ok(rest) = chrono::format::parse_and_remainder(&mut parsed, rest_of_text, items.iter())
        else {
            continue;
        };
        // The match must end at a word boundary: "%Y-%m-%d" must not accept "2020-10-15T17:46".
        if rest.chars().next().is_some_and(char::is_alphanumeric) {
            continue;
        }
        if let Some(date) = from_parsed(&parsed, cx) {
            return Some(date);
        }
    }
    None
}

/// Byte offsets where a user format is tried: the start of the text and the start of every
/// later word (a word not continuing a number like "2020-10" or "1.5").
fn word_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let later = text
        .char_indices()
        .zip(text.chars().skip(1))
        .filter(|&((_, prev), cur)| {
            prev == ' '
                || (!prev.is_alphanumeric() && !"-./".contains(prev) && cur.is_alphanumeric())
        })
        .map(|((i, prev), _)| i + prev.len_utf8());
    std::iter::once(0).chain(later)
}

/// Turns chrono's parse result into an instant, filling in what the format left out:
/// no time → midnight, no year → the most recent such date, no date → today.
fn from_parsed(parsed: &Parsed, cx: &Context) -> Option<ParsedDate> {
    if let Some(seconds) = parsed.timestamp() {
        let nanos = parsed.nanosecond().unwrap_or(0);
        return DateTime::from_timestamp(seconds, nanos).map(absolute);
    }

    let time = if parsed.hour_mod_12().is_some() {
        Some(parsed_time(parsed)?)
    } else {
        None
    };

    let mut is_relative = false;
    let date = match parsed.to_naive_date() {
        Ok(date) => date,
        Err(_) => match (
            parsed.year(),
            parsed.year_mod_100(),
            parsed.month(),
            parsed.day(),
        ) {
            (None, None, Some(month), Some(day)) => {
                is_relative = true;
                infer_year(month, day, cx.today()?)?
            }
            (None, None, None, None) if time.is_some() => {
                is_relative = true;
                cx.today()?
            }
            _ => return None,
        },
    };

    let zone = match parsed.offset() {
        Some(seconds) => Some(FixedOffset::east_opt(seconds)?),
        None => None,
    };
    let instant = cx.resolve(date, time, zone)?;
    Some(ParsedDate {
        instant,
        relative: is_relative,
    })
}

/// The time of day from a chrono parse; a format with an hour but no minutes (`%H h`) means
/// the full hour.
fn parsed_time(parsed: &Parsed) -> Option<NaiveTime> {
    if let Ok(time) = parsed.to_naive_time() {
        return Some(time);
    }
    if parsed.minute().is_none() {
        let mut with_minute = parsed.clone();
        with_minute.set_minute(0).ok()?;
        return with_minute.to_naive_time().ok();
    }
    None
}

/// The date with this month and day that lies closest before `today` (a day of slack allows
/// for zone differences), for dates printed without a year.
fn infer_year(month: u32, day: u32, today: NaiveDate) -> Option<NaiveDate> {
    let latest = today.succ_opt().unwrap_or(today);
    let year = today.year();
    // Eight years back always reaches a leap year for "Feb 29".
    (year - 8..=year + 1)
        .rev()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
        .find(|date| *date <= latest)
}

// ---------------------------------------------------------------------------------------------
// Regular expressions

/// Zone abbreviations understood in dates. Several are ambiguous worldwide (CST, AST, BST);
/// they mean what they mean in RFC 2822 and in North American / European usage. IST is left out
/// (India, Ireland and Israel all use it).
const ZONES: &[(&str, i32)] = &[
    ("Z", 0),
    ("UT", 0),
    ("UTC", 0),
    ("GMT", 0),
    ("WET", 0),
    ("WEST", 1),
    ("BST", 1),
    ("CET", 1),
    ("CEST", 2),
    ("MET", 1),
    ("MEST", 2),
    ("EET", 2),
    ("EEST", 3),
    ("MSK", 3),
    ("HKT", 8),
    ("SGT", 8),
    ("AWST", 8),
    ("JST", 9),
    ("KST", 9),
    ("AEST", 10),
    ("AEDT", 11),
    ("NZST", 12),
    ("NZDT", 13),
    ("AST", -4),
    ("ADT", -3),
    ("EST", -5),
    ("EDT", -4),
    ("CST", -6),
    ("CDT", -5),
    ("MST", -7),
    ("MDT", -6),
    ("PST", -8),
    ("PDT", -7),
    ("AKST", -9),
    ("AKDT", -8),
    ("HST", -10),
];

/// The zone names as a regex alternation, longest first.
fn zone_names_alternation() -> String {
    let mut names: Vec<&str> = ZONES.iter().map(|(name, _)| *name).collect();
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    names.join("|")
}

/// A clock time: `17:46`, `17:46:05`, `17:46:05.123`, `5:46 pm`, `5 p.m.`. A bare number also
/// matches here; `parse_clock` decides whether it is a time.
const TIME: &str = r"[0-9]{1,2}(?::[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?)?(?:\s?[ap]\.?\s?m\b\.?)?";

/// A clock time that cannot be anything else: it has minutes or am/pm.
const STRICT_TIME: &str = r"[0-9]{1,2}(?::[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:\s?[ap]\.?\s?m\b\.?)?|\s?[ap]\.?\s?m\b\.?)";

const MONTH: &str = r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?";

const DAY: &str = r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?";

const WEEKDAY: &str = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?";

/// A zone after a time: `Z`, `+09:00`, `+0900`, `+09`, `UTC`, `GMT+2`, `EST`, ...
static ZONE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r"(?P<zone>(?-i:(?:UTC|GMT|UT)\s?[+-][0-9]{{1,2}}(?::?[0-9]{{2}})?|{names})|[+-][0-9]{{2}}(?::?[0-9]{{2}})?)\b",
        names = zone_names_alternation()
    )
});

/// What may follow a date: a connector, a time and a zone.
static TAIL: LazyLock<String> = LazyLock::new(|| {
    format!(
        r"(?:\s?(?:,|\bat\b|@|-|–|T|\|)?\s?(?P<time>{TIME})(?:\s?{zone})?)?",
        zone = *ZONE
    )
});

fn compile(pattern: &str) -> Regex {
    // The patterns are fixed at build time, so a failure is a programming error caught by tests.
    Regex::new(pattern).expect("built-in date pattern is valid")
}

/// The absolute-date patterns. Every one names its date parts `year`, `month` (numeric) or
/// `mon` (a name), and `day`, and may have `time` and `zone`.
static ABSOLUTE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let tail = &*TAIL;
    let zone = &*ZONE;
    vec![
        // ISO 8601 / RFC 3339, also with a space instead of T: 2020-10-15T17:46:00+09:00
        compile(&format!(
            r"(?i)\b(?P<year>[0-9]{{4}})-(?P<month>[0-9]{{1,2}})-(?P<day>[0-9]{{1,2}}){tail}"
        )),
        // 2020/10/15
        compile(&format!(
            r"(?i)\b(?P<year>[0-9]{{4}})/(?P<month>[0-9]{{1,2}})/(?P<day>[0-9]{{1,2}}){tail}"
        )),
        // 2020.10.15
        compile(&format!(
            r"(?i)\b(?P<year>[0-9]{{4}})\.(?P<month>[0-9]{{1,2}})\.(?P<day>[0-9]{{1,2}})\b{tail}"
        )),
        // 15.10.2020
        compile(&format!(
            r"(?i)\b(?P<day>[0-9]{{1,2}})\.(?P<month>[0-9]{{1,2}})\.(?P<year>[0-9]{{4}})\b{tail}"
        )),
        // October 15th, 2020 5:46 pm / Oct. 15 2020
        compile(&format!(
            r"(?i)\b{MONTH}[\s./-]*{DAY}\b(?:,\s?|[\s./-]+)(?P<year>[0-9]{{4}})\b{tail}"
        )),
        // 15 Oct 2020 17:46:00 +0900 / 15th of October, 2020 / 15-Oct-2020
        compile(&format!(
            r"(?i)\b{DAY}(?:\s?of)?[\s./-]*{MONTH}(?:,\s?|[\s./-]+)(?P<year>[0-9]{{4}})\b{tail}"
        )),
        // 2020 Oct 15 / 2020-Oct-15
        compile(&format!(
            r"(?i)\b(?P<year>[0-9]{{4}})[\s./-]+{MONTH}[\s./-]*{DAY}\b{tail}"
        )),
        // asctime and date(1): Thu Oct 15 17:46:00 2020 / Thu Oct 15 17:46:00 UTC 2020
        compile(&format!(
            r"(?i)\b{MONTH}\s{DAY}\s(?P<time>{STRICT_TIME})(?:\s{zone})?\s(?P<year>[0-9]{{4}})\b"
        )),
    ]
});

/// A clock time right before a date: "17:46, 15.10.2020", "5:46 PM · Oct 15, 2020".
static TIME_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"(?i)(?:^|[^0-9:.])(?P<time>{STRICT_TIME})(?:\s?{zone})?\s?(?:[,·|•@-]|\bon\b)?\s?$",
        zone = *ZONE
    ))
});

/// Month-name dates without a year, accepted only as the whole text.
static YEARLESS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let tail = &*TAIL;
    vec![
        compile(&format!(
            r"(?i)^(?:{WEEKDAY},?\s)?{MONTH}[\s./-]*{DAY}\b,?{tail}$"
        )),
        compile(&format!(
            r"(?i)^(?:{WEEKDAY},?\s)?{DAY}(?:\s?of)?[\s./-]*{MONTH},?{tail}$"
        )),
    ]
});

/// "today"/"yesterday" and a few equivalents, optionally with a time.
static DAY_WORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"(?i)\b(?P<word>today|day before yesterday|yesterday|heute|vorgestern|gestern|aujourd['’]hui|hoy|ayer|oggi|ieri|vandaag|gisteren|hoje|ontem)\b(?:\s?(?:,|\bat\b|\bum\b|\bà\b|@|-)?\s?(?P<time>{STRICT_TIME}))?"
    ))
});

/// One "amount unit" part of a relative phrase. A number may touch its unit ("2h"); a word
/// needs a space, or the "an d" in "and" would read as one day.
const AGO_PART: &str = r"(?:(?P<num>[0-9]+)\s?|(?P<word>an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a\s?few|few)\s)(?P<unit>seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|months?|mos?|years?|yrs?|y)\b";

/// "3 hours ago", "2h ago", "1 hour, 5 minutes ago".
static AGO: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"(?i)\b(?P<parts>(?:{AGO_PART}(?:\s?,\s?|\sand\s|\s)?)+)ago\b"
    ))
});

static AGO_ONE: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"(?i)\b{AGO_PART}")));

static JUST_NOW: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\b(?:just now|right now|moments? ago|a moment ago)\b"));

/// A lone clock time, "17:46" or "5:46 PM".
static TIME_ONLY: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"(?i)\b(?P<time>{STRICT_TIME})")));

/// A clock time as a whole, split into its parts.
static CLOCK: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)^(?P<h>[0-9]{1,2})(?::(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]+))?)?)?(?:\s?(?P<ap>[ap])\.?\s?m\.?)?$",
    )
});

/// A known zone abbreviation as a separate word, for `%Z` in user formats.
static ZONE_NAME_WORD: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"\b(?:{})\b", zone_names_alternation())));

static UNIX_TIME: LazyLock<Regex> = LazyLock::new(|| compile(r"^(?:[0-9]{10}|[0-9]{13})$"));

// ---------------------------------------------------------------------------------------------
// Built-in forms

fn parse_builtin(text: &str, cx: &Context) -> Option<ParsedDate> {
    whole_text_form(text)
        .or_else(|| leftmost_absolute(text, cx))
        .or_else(|| yearless(text, cx))
        .or_else(|| day_word(text, cx))
        .or_else(|| ago(text, cx))
        .or_else(|| just_now(text, cx))
        .or_else(|| time_only(text, cx))
}

/// Unix timestamps and the strict internet formats, which must be the whole text.
fn whole_text_form(text: &str) -> Option<ParsedDate> {
    if UNIX_TIME.is_match(text) {
        let number: i64 = text.parse().ok()?;
        let instant = if text.len() == 13 {
            DateTime::from_timestamp_millis(number)
        } else {
            DateTime::from_timestamp(number, 0)
        };
        return instant.map(absolute);
    }
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc2822(text))
        .ok()
        .map(|dt| absolute(dt.with_timezone(&Utc)))
}

/// An absolute date found in the text.
struct Found {
    start: usize,
    date: NaiveDate,
    time: Option<NaiveTime>,
    zone: Option<FixedOffset>,
}

/// Runs every absolute pattern and keeps the date that starts leftmost.
fn leftmost_absolute(text: &str, cx: &Context) -> Option<ParsedDate> {
    if let Some(date) = plain_date(text) {
        return cx.resolve(date, None, None).map(absolute);
    }
    leftmost_by_patterns(text, cx)
}

/// The plainest absolute dates as the whole text, read by their shape without a regex:
/// `2020-10-15`, `October 15, 2020`, `Oct 15, 2020`, `15 October 2020`. Listing pages mostly
/// write one of these, and the patterns (which read them the same way, see the tests) cost
/// more to build than a page's dates cost to read. Anything else is None and goes on to them.
fn plain_date(text: &str) -> Option<NaiveDate> {
    fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
        let ok = (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        if ok { s.parse().ok() } else { None }
    }
    fn month(s: &str) -> Option<u32> {
        const NAMES: [&str; 12] = [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ];
        let lower = s.to_ascii_lowercase();
        let at = NAMES.iter().position(|n| {
            *n == lower
                || (lower.len() == 3 && n.starts_with(lower.as_str()))
                || lower == "sept" && *n == "september"
        })?;
        u32::try_from(at).ok()?.checked_add(1)
    }
    let ymd = |y: &str, m: u32, d: &str| {
        let year = i32::try_from(digits(y, 4, 4)?).ok()?;
        NaiveDate::from_ymd_opt(year, m, digits(d, 1, 2)?)
    };
    if let [y, m, d] = text.split('-').collect::<Vec<_>>().as_slice() {
        return ymd(y, digits(m, 2, 2)?, d);
    }
    let [a, b, c] = text.split(' ').collect::<Vec<_>>()[..] else {
        return None;
    };
    match b.strip_suffix(',') {
        Some(day) => ymd(c, month(a)?, day),
        None => ymd(c, month(b)?, a),
    }
}

fn leftmost_by_patterns(text: &str, cx: &Context) -> Option<ParsedDate> {
    let mut found = ABSOLUTE
        .iter()
        .filter_map(|re| re.captures_iter(text).find_map(|c| found_from(&c, text)))
        .min_by_key(|found| found.start)?;
    if found.time.is_none()
        && let Some(before) = text.get(..found.start)
        && let Some(c) = TIME_BEFORE.captures(before)
        && let Some(Clock::Valid(time)) = c.name("time").map(|m| parse_clock(m.as_str()))
    {
        found.time = Some(time);
        found.zone = c.name("zone").and_then(|m| zone_offset(m.as_str()));
    }
    cx.resolve(found.date, found.time, found.zone).map(absolute)
}

/// Reads one match of an absolute pattern; None when it is not a real date.
fn found_from(c: &Captures<'_>, text: &str) -> Option<Found> {
    let year: i32 = c.name("year")?.as_str().parse().ok()?;
    let month = match (c.name("month"), c.name("mon")) {
        (Some(m), _) => m.as_str().parse().ok()?,
        (None, Some(m)) => month_number(m.as_str())?,
        (None, None) => return None,
    };
    let day: u32 = c.name("day")?.as_str().parse().ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;

    // The date must not run on into more digits ("2020-10-150").
    let date_end = ["year", "month", "mon", "day"]
        .iter()
        .filter_map(|name| c.name(name).map(|m| m.end()))
        .max()?;
    if text
        .get(date_end..)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|ch| ch.is_ascii_digit())
    {
        return None;
    }

    let (time, zone) = match c.name("time").map(|m| parse_clock(m.as_str())) {
        Some(Clock::Valid(time)) => (
            Some(time),
            c.name("zone").and_then(|m| zone_offset(m.as_str())),
        ),
        Some(Clock::Invalid) => return None,
        Some(Clock::NotATime) | None => (None, None),
    };
    Some(Found {
        start: c.get(0)?.start(),
        date,
        time,
        zone,
    })
}

/// "Oct 15", "15 October", "Thu 14 Jan 10:58:01 AM": a month-name date without a year, as the
/// whole text. The year is inferred from the fetch time, so the result is relative.
fn yearless(text: &str, cx: &Context) -> Option<ParsedDate> {
    let c = YEARLESS.iter().find_map(|re| re.captures(text))?;
    let month = month_number(c.name("mon")?.as_str())?;
    let day: u32 = c.name("day")?.as_str().parse().ok()?;
    let (time, zone) = match c.name("time").map(|m| parse_clock(m.as_str())) {
        Some(Clock::Valid(time)) => (
            Some(time),
            c.name("zone").and_then(|m| zone_offset(m.as_str())),
        ),
        Some(Clock::Invalid) => return None,
        Some(Clock::NotATime) | None => (None, None),
    };
    let date = infer_year(month, day, cx.today()?)?;
    cx.resolve(date, time, zone).map(relative)
}

/// "today", "yesterday at 5:46 pm", "gestern, 18:00 Uhr": that local day at midnight or at the
/// given time.
fn day_word(text: &str, cx: &Context) -> Option<ParsedDate> {
    let c = DAY_WORD.captures(text)?;
    let word = c.name("word")?.as_str().to_lowercase();
    let days_back = match word.as_str() {
        "yesterday" | "gestern" | "ayer" | "ieri" | "gisteren" | "ontem" => 1,
        "vorgestern" | "day before yesterday" => 2,
        _ => 0,
    };
    let date = cx
        .today()?
        .checked_sub_signed(TimeDelta::try_days(days_back)?)?;
    let time = match c.name("time").map(|m| parse_clock(m.as_str())) {
        Some(Clock::Valid(time)) => Some(time),
        Some(Clock::Invalid) => return None,
        Some(Clock::NotATime) | None => None,
    };
    cx.resolve(date, time, None).map(relative)
}

/// "3 hours ago", "an hour ago", "2h ago", "1 hour, 5 minutes ago": the fetch time minus that.
fn ago(text: &str, cx: &Context) -> Option<ParsedDate> {
    let c = AGO.captures(text)?;
    let parts = c.name("parts")?.as_str();
    let mut instant = cx.now;
    for part in AGO_ONE.captures_iter(parts) {
        let count = count_value(part.name("num").or(part.name("word"))?.as_str())?;
        let unit = part.name("unit")?.as_str().to_ascii_lowercase();
        instant = subtract(instant, count, &unit)?;
    }
    Some(relative(instant))
}

fn count_value(word: &str) -> Option<u32> {
    let word = word.to_ascii_lowercase();
    let value = match word.as_str() {
        "a" | "an" | "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        // "a few seconds ago" is moment.js's wording for anything under 45 seconds.
        w if w.ends_with("few") => 3,
        digits => digits.parse().ok()?,
    };
    Some(value)
}

fn subtract(instant: DateTime<Utc>, count: u32, unit: &str) -> Option<DateTime<Utc>> {
    // Calendar units first: "mo…" is a month, a bare "m" a minute.
    if unit.starts_with("mo") {
        return instant.checked_sub_months(Months::new(count));
    }
    if unit.starts_with('y') {
        return instant.checked_sub_months(Months::new(count.checked_mul(12)?));
    }
    let n = i64::from(count);
    let delta = match unit.chars().next()? {
        's' => TimeDelta::try_seconds(n)?,
        'm' => TimeDelta::try_minutes(n)?,
        'h' => TimeDelta::try_hours(n)?,
        'd' => TimeDelta::try_days(n)?,
        'w' => TimeDelta::try_weeks(n)?,
        _ => return None,
    };
    instant.checked_sub_signed(delta)
}

/// "just now", "moments ago", or a text that is only "now".
fn just_now(text: &str, cx: &Context) -> Option<ParsedDate> {
    let core = text.trim_matches(|ch: char| !ch.is_alphanumeric());
    if core.eq_ignore_ascii_case("now") || JUST_NOW.is_match(text) {
        Some(relative(cx.now))
    } else {
        None
    }
}

/// "17:46" or "5:46 PM" alone: that time today, or yesterday when today's would lie more than
/// an hour after the fetch (a listing read at 00:15 that says "18:00" shows last evening's
/// entry). Refused when the text has other digits, which would mean a date this parser could
/// not read ("15/10/2020 17:46").
fn time_only(text: &str, cx: &Context) -> Option<ParsedDate> {
    let m = TIME_ONLY.captures(text)?.name("time")?;
    let other_digits = text[..m.start()]
        .chars()
        .chain(text[m.end()..].chars())
        .any(|ch| ch.is_ascii_digit());
    if other_digits {
        return None;
    }
    let Clock::Valid(time) = parse_clock(m.as_str()) else {
        return None;
    };
    let today = cx.today()?;
    let at = cx.resolve(today, Some(time), None)?;
    let latest = cx.now.checked_add_signed(TimeDelta::try_hours(1)?)?;
    if at > latest {
        return cx
            .resolve(today.pred_opt()?, Some(time), None)
            .map(relative);
    }
    Some(relative(at))
}

// ---------------------------------------------------------------------------------------------
// Small pieces

/// How a matched time-like text reads.
enum Clock {
    Valid(NaiveTime),
    /// Looked like a time (had minutes or am/pm) but is not one, e.g. "25:61".
    Invalid,
    /// A bare number such as the "12" in "Jun 26, 2022 12 comments".
    NotATime,
}

fn parse_clock(text: &str) -> Clock {
    let Some(c) = CLOCK.captures(text.trim()) else {
        return Clock::NotATime;
    };
    let pm = c.name("ap").map(|m| m.as_str().eq_ignore_ascii_case("p"));
    if c.name("m").is_none() && pm.is_none() {
        return Clock::NotATime;
    }
    clock_parts(&c, pm).map_or(Clock::Invalid, Clock::Valid)
}

fn clock_parts(c: &Captures<'_>, pm: Option<bool>) -> Option<NaiveTime> {
    let number = |name: &str| -> Option<u32> {
        match c.name(name) {
            Some(m) => m.as_str().parse().ok(),
            None => Some(0),
        }
    };
    let mut hour = number("h")?;
    let minute = number("m")?;
    let second = number("s")?;
    let nanos = match c.name("f") {
        Some(m) => fraction_nanos(m.as_str())?,
        None => 0,
    };
    if let Some(pm) = pm {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    if second == 60 {
        // A leap second, as chrono represents it.
        return NaiveTime::from_hms_nano_opt(hour, minute, 59, 1_000_000_000 + nanos);
    }
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
}

/// ".5" → 500 000 000 ns; digits past nanoseconds are dropped.
fn fraction_nanos(digits: &str) -> Option<u32> {
    let kept: String = digits.chars().take(9).collect();
    let padded = format!("{kept:0<9}");
    padded.parse().ok()
}

fn month_number(name: &str) -> Option<u32> {
    let prefix: String = name
        .chars()
        .take(3)
        .collect::<String>()
        .to_ascii_lowercase();
    let month = match prefix.as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    Some(month)
}

fn named_zone(name: &str) -> Option<FixedOffset> {
    let hours = ZONES.iter().find(|(n, _)| *n == name)?.1;
    FixedOffset::east_opt(hours * 3600)
}

/// A zone as captured by `ZONE`: a name, a numeric offset, or `UTC+2`-style.
fn zone_offset(text: &str) -> Option<FixedOffset> {
    let text = text.trim();
    let numeric = match text.find(['+', '-']) {
        Some(0) => text,
        Some(sign_at) => {
            // "UTC+2", "GMT -05:00": the name must be a zero-offset one.
            if named_zone(text[..sign_at].trim())? != FixedOffset::east_opt(0)? {
                return None;
            }
            &text[sign_at..]
        }
        None => return named_zone(text),
    };
    if !numeric.is_ascii() {
        return None;
    }
    let (sign, digits) = numeric.split_at(1);
    let sign = if sign == "-" { -1 } else { 1 };
    let (hours, minutes): (i32, i32) = match digits.split_once(':') {
        Some((h, m)) => (h.parse().ok()?, m.parse().ok()?),
        None => match digits.len() {
            1 | 2 => (digits.parse().ok()?, 0),
            3 | 4 => {
                let (h, m) = digits.split_at(digits.len() - 2);
                (h.parse().ok()?, m.parse().ok()?)
            }
            _ => return None,
        },
    };
    // Real offsets lie within ±14 hours; "-18:30" after a time is a time range, not a zone.
    if hours > 14 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// `+0900` for a user format's substituted `%Z`.
fn offset_text(offset: FixedOffset) -> String {
    let seconds = offset.local_minus_utc();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_dates_read_as_the_patterns_read_them() {
        let cx = super::Context {
            tz: chrono_tz::Asia::Seoul,
            now: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("instant"),
        };
        let mut fast = 0;
        for text in [
            "2020-10-15",
            "2020-1-15",
            "2020-10-5",
            "2020-02-30",
            "October 24, 2020",
            "oct 24, 2020",
            "Sept 5, 2020",
            "Sep 5, 2020",
            "May 1, 2020",
            "24 October 2020",
            "5 jun 2020",
            "31 February 2020",
            "Octob 24, 2020",
            "October 24 2020",
            "24th October 2020",
            "October 024, 2020",
            "1 2 2020",
            "2020-10-15-1",
        ] {
            let plain = super::plain_date(text);
            fast += usize::from(plain.is_some());
            let patterns = super::leftmost_by_patterns(text, &cx);
            if let Some(date) = plain {
                assert_eq!(
                    cx.resolve(date, None, None).map(super::absolute),
                    patterns,
                    "{text}"
                );
            }
        }
        assert_eq!(fast, 9, "the plain shapes are read without the patterns");
    }

    use super::*;
    use chrono_tz::America::{Chicago, Los_Angeles, New_York};
    use chrono_tz::Europe::{Berlin, Zurich};
    use chrono_tz::UTC;

    /// The fetch time used throughout: Thursday 2020-10-15 12:00:00 UTC.
    fn now() -> DateTime<Utc> {
        utc("2020-10-15T12:00:00Z")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn parse_in(text: &str, tz: Tz) -> Option<ParsedDate> {
        parse_date(text, &[], tz, now())
    }

    #[track_caller]
    fn abs(text: &str, tz: Tz, want: &str) {
        assert_eq!(
            parse_in(text, tz),
            Some(ParsedDate {
                instant: utc(want),
                relative: false
            }),
            "input {text:?}"
        );
    }

    #[track_caller]
    fn rel(text: &str, tz: Tz, want: &str) {
        assert_eq!(
            parse_in(text, tz),
            Some(ParsedDate {
                instant: utc(want),
                relative: true
            }),
            "input {text:?}"
        );
    }

    #[track_caller]
    fn none(text: &str) {
        assert_eq!(parse_in(text, UTC), None, "input {text:?}");
    }

    #[test]
    fn sane_dates_lie_in_the_window_and_not_far_ahead() {
        let now = now();
        assert_eq!(sane(now, now, false), Ok(now));
        let ahead = now + TimeDelta::hours(47);
        assert_eq!(sane(ahead, now, false), Ok(ahead));
        let far = now + TimeDelta::hours(49);
        assert_eq!(sane(far, now, false), Err(Implausible::Future));
        assert_eq!(sane(far, now, true), Ok(far));
        assert_eq!(sane(earliest(), now, false), Ok(earliest()));
        assert_eq!(sane(latest(), now, true), Ok(latest()));
        for bad in [
            earliest() - TimeDelta::seconds(1),
            latest() + TimeDelta::seconds(1),
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::MIN_UTC,
        ] {
            assert_eq!(
                sane(bad, now, true),
                Err(Implausible::OutOfRange),
                "{bad:?}"
            );
        }
        assert!(!show(DateTime::<Utc>::MAX_UTC).is_empty());
        // Parsing still reads such dates; `sane` is the caller's filter.
        let y9999 = parse_date("9999-12-31T23:59:59Z", &[], Tz::UTC, now).map(|p| p.instant);
        assert_eq!(
            y9999.map(|d| sane(d, now, true)),
            Some(Err(Implausible::OutOfRange))
        );
        assert!(
            parse_date("3000 years ago", &[], Tz::UTC, now)
                .is_none_or(|p| sane(p.instant, now, false).is_err())
        );
        assert!(
            parse_date("99999999999999", &["%s".to_string()], Tz::UTC, now)
                .is_none_or(|p| sane(p.instant, now, false).is_err())
        );
    }

    #[test]
    fn rfc3339_and_iso() {
        abs("2020-10-15T17:46:00+09:00", UTC, "2020-10-15T08:46:00Z");
        abs("2020-10-15T17:46:00Z", UTC, "2020-10-15T17:46:00Z");
        abs("2020-10-15T17:46:00.123Z", UTC, "2020-10-15T17:46:00.123Z");
        abs(
            "2020-10-15T17:46:00.123456789Z",
            UTC,
            "2020-10-15T17:46:00.123456789Z",
        );
        abs("2020-10-15T17:46Z", UTC, "2020-10-15T17:46:00Z");
        abs("2020-10-15T17:46", UTC, "2020-10-15T17:46:00Z");
        abs("2020-10-15T17:46", Berlin, "2020-10-15T15:46:00Z");
        abs("2020-10-15T17:46:00", New_York, "2020-10-15T21:46:00Z");
        abs("2020-10-15 17:46:00", UTC, "2020-10-15T17:46:00Z");
        abs("2020-10-15T17:46:00+0900", UTC, "2020-10-15T08:46:00Z");
        abs("2020-10-15T17:46:00+09", UTC, "2020-10-15T08:46:00Z");
        abs("2020-10-15T17:46:00-05:30", UTC, "2020-10-15T23:16:00Z");
        abs("2020-10-15T17:46:00 UTC", Berlin, "2020-10-15T17:46:00Z");
        abs("2020-10-15 17:46:00 GMT", Berlin, "2020-10-15T17:46:00Z");
        abs(
            "2020-10-15 17:46:00 +0000 UTC",
            Berlin,
            "2020-10-15T17:46:00Z",
        );
        abs("2020-10-15T17:46:00 EST", UTC, "2020-10-15T22:46:00Z");
        abs("2020-10-15 17:46 UTC+2", UTC, "2020-10-15T15:46:00Z");
        abs("2020-10-15T23:59:60Z", UTC, "2020-10-15T23:59:60Z");
        abs(
            "2020-10-15T17:46:00.1234567891Z",
            UTC,
            "2020-10-15T17:46:00.123456789Z",
        );
    }

    #[test]
    fn corpus_shapes() {
        // lobste.rs span titles
        abs("2016-10-05 17:35:45 -0500", UTC, "2016-10-05T22:35:45Z");
        // Stack Overflow relativetime titles
        abs("2021-07-03 21:00:39Z", UTC, "2021-07-03T21:00:39Z");
        // craigslist datetime attributes, local time
        abs("2021-01-14 10:58", Chicago, "2021-01-14T16:58:00Z");
        // WordPress and GitHub datetime attributes
        abs("2021-12-06T14:15:27+00:00", UTC, "2021-12-06T14:15:27Z");
        abs("2019-10-21T21:18:53Z", UTC, "2019-10-21T21:18:53Z");
        // jon.bo post dates: a date alone is midnight in the feed's zone
        abs("2020-12-14", Berlin, "2020-12-13T23:00:00Z");
        abs("2020-10-15", Berlin, "2020-10-14T22:00:00Z");
        // arXiv headings
        abs("Wed, 10 Nov 2021", UTC, "2021-11-10T00:00:00Z");
        abs("Tue, 9 Nov 2021", UTC, "2021-11-09T00:00:00Z");
        abs(
            "Wed, 10 Nov 2021 (showing 3 of 3 entries)",
            UTC,
            "2021-11-10T00:00:00Z",
        );
        // ETH news and Motley Fool bylines
        abs("Jun 21, 2022", Zurich, "2022-06-20T22:00:00Z");
        abs("Jan 01, 2017", Zurich, "2016-12-31T23:00:00Z");
        abs("Jun 26, 2022", New_York, "2022-06-26T04:00:00Z");
        abs(
            "Kody Kester | Jun 26, 2022",
            New_York,
            "2022-06-26T04:00:00Z",
        );
        // Apple's security release table
        abs("24 Mar 2026", Los_Angeles, "2026-03-24T07:00:00Z");
        abs("05 Nov 2025", Los_Angeles, "2025-11-05T08:00:00Z");
        // brandonsmith.ninja datetime attributes, NK News bylines
        abs("December 15, 2020", UTC, "2020-12-15T00:00:00Z");
        abs(
            "Min Chao Choy October 15, 2020",
            UTC,
            "2020-10-15T00:00:00Z",
        );
        // Hacker News ages
        rel("3 hours ago", UTC, "2020-10-15T09:00:00Z");
        rel("46 minutes ago", UTC, "2020-10-15T11:14:00Z");
        // Stack Overflow's visible text
        rel("55 secs ago", UTC, "2020-10-15T11:59:05Z");
    }

    #[test]
    fn rfc2822() {
        abs(
            "Thu, 15 Oct 2020 17:46:00 +0900",
            UTC,
            "2020-10-15T08:46:00Z",
        );
        abs(
            "Thu, 15 Oct 2020 17:46:00 GMT",
            Berlin,
            "2020-10-15T17:46:00Z",
        );
        abs("15 Oct 2020 17:46:00 +0900", UTC, "2020-10-15T08:46:00Z");
        abs("Thu, 15 Oct 2020 17:46:00 EST", UTC, "2020-10-15T22:46:00Z");
        abs("Thu, 15 Oct 2020 17:46:00 PDT", UTC, "2020-10-16T00:46:00Z");
        abs(
            "Thu, 15 Oct 2020 17:46:00 CEST",
            UTC,
            "2020-10-15T15:46:00Z",
        );
        abs("Thu, 15 Oct 2020 17:46 -0400", UTC, "2020-10-15T21:46:00Z");
        abs("Thu, 15 Oct 2020 17:46:00", Berlin, "2020-10-15T15:46:00Z");
        abs(
            "Thu, 15 Oct 2020 17:46:00 +0000 (UTC)",
            Berlin,
            "2020-10-15T17:46:00Z",
        );
    }

    #[test]
    fn numeric_dates() {
        abs("2020-10-15", UTC, "2020-10-15T00:00:00Z");
        abs("2020/10/15", UTC, "2020-10-15T00:00:00Z");
        abs("2020/10/15 17:46", UTC, "2020-10-15T17:46:00Z");
        abs("2020.10.15", UTC, "2020-10-15T00:00:00Z");
        abs("15.10.2020", UTC, "2020-10-15T00:00:00Z");
        abs("15.10.2020, 17:46", Berlin, "2020-10-15T15:46:00Z");
        abs("2020-1-5", UTC, "2020-01-05T00:00:00Z");
        // Ambiguous day/month order is not guessed.
        none("10/15/2020");
        none("15/10/2020");
        none("15/10/20");
        none("10/15/2020 17:46");
        // Impossible dates.
        none("2020-13-01");
        none("2020-02-30");
        none("2020-10-150");
        none("2020-10-15T25:61");
    }

    #[test]
    fn month_name_dates() {
        for text in [
            "October 15, 2020",
            "Oct 15, 2020",
            "Oct. 15, 2020",
            "oct 15 2020",
            "OCTOBER 15, 2020",
            "15 October 2020",
            "15 Oct 2020",
            "15-Oct-2020",
            "15th of October, 2020",
            "Thu, 15 Oct 2020",
            "Thursday, October 15, 2020",
            "Thursday, 15 October 2020",
            "October 15th, 2020",
            "2020 Oct 15",
            "2020-Oct-15",
        ] {
            abs(text, UTC, "2020-10-15T00:00:00Z");
        }
        abs("Sept 15, 2020", UTC, "2020-09-15T00:00:00Z");
        abs("Sept. 15, 2020", UTC, "2020-09-15T00:00:00Z");
        abs("1st May 2021", UTC, "2021-05-01T00:00:00Z");
        abs("June 2nd, 2021", UTC, "2021-06-02T00:00:00Z");
        abs("July 3rd 2021", UTC, "2021-07-03T00:00:00Z");
        abs("24 Mar 2026", UTC, "2026-03-24T00:00:00Z");
        abs("Wed, 10 Nov 2021", UTC, "2021-11-10T00:00:00Z");
        none("February 30, 2020");
        none("Oct 2020");
    }

    #[test]
    fn month_name_dates_with_times() {
        abs("October 15, 2020 5:46 pm", UTC, "2020-10-15T17:46:00Z");
        abs("October 15, 2020 5:46 PM", UTC, "2020-10-15T17:46:00Z");
        abs("October 15, 2020, 5:46 p.m.", UTC, "2020-10-15T17:46:00Z");
        abs("October 15, 2020 at 17:46", UTC, "2020-10-15T17:46:00Z");
        abs("October 15, 2020 at 5pm", UTC, "2020-10-15T17:00:00Z");
        abs("October 15, 2020 12:05 am", UTC, "2020-10-15T00:05:00Z");
        abs("October 15, 2020 12:05 pm", UTC, "2020-10-15T12:05:00Z");
        abs("Oct 15, 2020 5:46 pm EDT", UTC, "2020-10-15T21:46:00Z");
        abs("Oct 15, 2020 17:46", New_York, "2020-10-15T21:46:00Z");
        abs("15 Oct 2020 - 17:46", UTC, "2020-10-15T17:46:00Z");
        abs("Thu Oct 15 17:46:00 2020", UTC, "2020-10-15T17:46:00Z");
        abs(
            "Thu Oct 15 17:46:00 UTC 2020",
            Berlin,
            "2020-10-15T17:46:00Z",
        );
        // A time written before the date.
        abs("5:46 PM · Oct 15, 2020", UTC, "2020-10-15T17:46:00Z");
        abs("17:46, 15.10.2020", Berlin, "2020-10-15T15:46:00Z");
        // A number after the date that is not a time leaves the date alone.
        abs("Jun 26, 2022 12 comments", UTC, "2022-06-26T00:00:00Z");
        // A time range is not a zone.
        abs("Oct 15, 2020 17:46-18:30", UTC, "2020-10-15T17:46:00Z");
        // Nonsense am/pm hours make the date unreadable rather than silently midnight.
        none("October 15, 2020 13:46 pm");
    }

    #[test]
    fn surrounding_noise() {
        abs("Posted on October 15, 2020", UTC, "2020-10-15T00:00:00Z");
        abs("Updated: 2020-10-15T17:46:00Z", UTC, "2020-10-15T17:46:00Z");
        abs("Published 15 Oct 2020 by Jane", UTC, "2020-10-15T00:00:00Z");
        abs("(2020-10-15)", UTC, "2020-10-15T00:00:00Z");
        // The leftmost date wins.
        abs(
            "Posted Oct 1, 2020, updated 2020-10-15",
            UTC,
            "2020-10-01T00:00:00Z",
        );
        // Absolute dates beat relative words.
        abs("today: October 1, 2020", UTC, "2020-10-01T00:00:00Z");
    }

    #[test]
    fn unix_timestamps() {
        abs("1602783960", UTC, "2020-10-15T17:46:00Z");
        abs("1602783960123", UTC, "2020-10-15T17:46:00.123Z");
        none("160278396");
        none("16027839601");
    }

    #[test]
    fn dates_without_offset_use_the_zone_with_dst() {
        // Summer and winter time in New York and Berlin.
        abs("2020-07-01 12:00", New_York, "2020-07-01T16:00:00Z");
        abs("2020-12-01 12:00", New_York, "2020-12-01T17:00:00Z");
        abs("2020-07-01 12:00", Berlin, "2020-07-01T10:00:00Z");
        abs("2020-12-01 12:00", Berlin, "2020-12-01T11:00:00Z");
        // Fall back: 01:30 happens twice in New York on 2020-11-01; the earlier (EDT) wins.
        abs("2020-11-01 01:30", New_York, "2020-11-01T05:30:00Z");
        // Berlin: 02:30 happens twice on 2020-10-25.
        abs("2020-10-25 02:30", Berlin, "2020-10-25T00:30:00Z");
        // Spring forward: 02:30 does not exist in New York on 2020-03-08; it moves to 03:30 EDT.
        abs("2020-03-08 02:30", New_York, "2020-03-08T07:30:00Z");
        // Berlin: 02:30 does not exist on 2020-03-29; 03:30 CEST.
        abs("2020-03-29 02:30", Berlin, "2020-03-29T01:30:00Z");
        // An explicit offset ignores the zone.
        abs(
            "2020-03-08T02:30:00-05:00",
            New_York,
            "2020-03-08T07:30:00Z",
        );
    }

    #[test]
    fn time_only_is_today() {
        // The fetch is at 2020-10-15T12:00:00Z.
        rel("at 9 am", UTC, "2020-10-15T09:00:00Z");
        rel("11:59", UTC, "2020-10-15T11:59:00Z");
        rel("11:46", Berlin, "2020-10-15T09:46:00Z");
        // More than an hour after the fetch: yesterday's.
        rel("17:46", UTC, "2020-10-14T17:46:00Z");
        rel("5:46 PM", UTC, "2020-10-14T17:46:00Z");
        rel("5:46pm", UTC, "2020-10-14T17:46:00Z");
        rel("17:46", Berlin, "2020-10-14T15:46:00Z");
        rel("17:46:30", New_York, "2020-10-14T21:46:30Z");
        rel("07:46:30", New_York, "2020-10-15T11:46:30Z");
        // "today" is the fetch date in the feed's zone: at 12:00 UTC it is already the 16th at +14.
        rel(
            "01:00",
            chrono_tz::Pacific::Kiritimati,
            "2020-10-15T11:00:00Z",
        );
        rel(
            "08:00",
            chrono_tz::Pacific::Kiritimati,
            "2020-10-14T18:00:00Z",
        );
        // At -11 it is 01:00 on the 15th: 17:46 there would be hours ahead, so it is the 14th's.
        rel(
            "17:46",
            chrono_tz::Pacific::Pago_Pago,
            "2020-10-15T04:46:00Z",
        );
        none("25:00");
        none("12");
        // Said to be today, but later than the fetch: the fetch time.
        rel("heute, 18:00 Uhr", UTC, "2020-10-15T12:00:00Z");
        rel("today at 12:30", UTC, "2020-10-15T12:00:00Z");
        rel("12:30", UTC, "2020-10-15T12:00:00Z");
    }

    #[test]
    fn day_words() {
        rel("today", UTC, "2020-10-15T00:00:00Z");
        rel("Today", Berlin, "2020-10-14T22:00:00Z");
        rel("yesterday", UTC, "2020-10-14T00:00:00Z");
        rel("Yesterday", New_York, "2020-10-14T04:00:00Z");
        rel("yesterday at 5:46 pm", UTC, "2020-10-14T17:46:00Z");
        rel("Today, 11:46", UTC, "2020-10-15T11:46:00Z");
        rel("Today, 17:46", UTC, "2020-10-15T12:00:00Z");
        // telepolis-style German
        rel("heute, 13:00 Uhr", Berlin, "2020-10-15T11:00:00Z");
        rel("heute, 18:00 Uhr", Berlin, "2020-10-15T12:00:00Z");
        rel("gestern, 14:00 Uhr", Berlin, "2020-10-14T12:00:00Z");
        rel("vorgestern", UTC, "2020-10-13T00:00:00Z");
    }

    #[test]
    fn ago_phrases() {
        rel("just now", UTC, "2020-10-15T12:00:00Z");
        rel("now", UTC, "2020-10-15T12:00:00Z");
        rel("Now.", UTC, "2020-10-15T12:00:00Z");
        rel("a moment ago", UTC, "2020-10-15T12:00:00Z");
        rel("3 hours ago", UTC, "2020-10-15T09:00:00Z");
        rel("an hour ago", UTC, "2020-10-15T11:00:00Z");
        rel("1 hour ago", UTC, "2020-10-15T11:00:00Z");
        rel("a minute ago", UTC, "2020-10-15T11:59:00Z");
        rel("2 days ago", UTC, "2020-10-13T12:00:00Z");
        rel("1 week ago", UTC, "2020-10-08T12:00:00Z");
        rel("3 months ago", UTC, "2020-07-15T12:00:00Z");
        rel("a year ago", UTC, "2019-10-15T12:00:00Z");
        rel("5 mins ago", UTC, "2020-10-15T11:55:00Z");
        rel("10 secs ago", UTC, "2020-10-15T11:59:50Z");
        rel("2h ago", UTC, "2020-10-15T10:00:00Z");
        rel("3d ago", UTC, "2020-10-12T12:00:00Z");
        rel("5m ago", UTC, "2020-10-15T11:55:00Z");
        rel("2mo ago", UTC, "2020-08-15T12:00:00Z");
        rel("2 yrs ago", UTC, "2018-10-15T12:00:00Z");
        rel("a few seconds ago", UTC, "2020-10-15T11:59:57Z");
        rel("two weeks ago", UTC, "2020-10-01T12:00:00Z");
        rel("1 hour, 5 minutes ago", UTC, "2020-10-15T10:55:00Z");
        rel("2 hours and 30 minutes ago", UTC, "2020-10-15T09:30:00Z");
        rel("Posted 3 Hours Ago by pg", UTC, "2020-10-15T09:00:00Z");
        // The zone does not matter for durations.
        rel("3 hours ago", Berlin, "2020-10-15T09:00:00Z");
        none("99999999999999999999 years ago");
        none("4294967295 years ago");
        none("ago");
        none("hours ago");
    }

    #[test]
    fn yearless_dates() {
        // Earlier this year.
        rel("Oct 15", UTC, "2020-10-15T00:00:00Z");
        rel("15 October", UTC, "2020-10-15T00:00:00Z");
        // A date after the fetch day is last year's.
        rel("Dec 24", UTC, "2019-12-24T00:00:00Z");
        rel("Thu 14 Jan 10:58:01 AM", Chicago, "2020-01-14T16:58:01Z");
        rel("Feb 29", UTC, "2020-02-29T00:00:00Z");
        none("Feb 30");
        // Only as the whole text.
        none("version 2 may break things");
    }

    #[test]
    fn user_formats_come_first() {
        let fmts = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let at = |text: &str, f: &[&str], tz: Tz| parse_date(text, &fmts(f), tz, now());

        // Ambiguous numeric dates settled by the user.
        assert_eq!(
            at("10/11/2020", &["%m/%d/%Y"], UTC).map(|d| d.instant),
            Some(utc("2020-10-11T00:00:00Z"))
        );
        assert_eq!(
            at("10/11/2020", &["%d/%m/%Y"], UTC).map(|d| d.instant),
            Some(utc("2020-11-10T00:00:00Z"))
        );
        // The user format wins over a built-in reading of the same text.
        assert_eq!(
            at("2020-10-11", &["%Y-%d-%m"], UTC).map(|d| d.instant),
            Some(utc("2020-11-10T00:00:00Z"))
        );
        // Date and time, read in the zone.
        assert_eq!(
            at("15/10/2020 17:46", &["%d/%m/%Y %H:%M"], Berlin),
            Some(absolute(utc("2020-10-15T15:46:00Z")))
        );
        // With %z.
        assert_eq!(
            at("15/10/2020 17:46 +0900", &["%d/%m/%Y %H:%M %z"], Berlin),
            Some(absolute(utc("2020-10-15T08:46:00Z")))
        );
        // With %Z and a known abbreviation.
        assert_eq!(
            at("15/10/2020 17:46 PDT", &["%d/%m/%Y %H:%M %Z"], Berlin),
            Some(absolute(utc("2020-10-16T00:46:00Z")))
        );
        // With %Z and an unknown one: read in the zone.
        assert_eq!(
            at("15/10/2020 17:46 XYZ", &["%d/%m/%Y %H:%M %Z"], Berlin),
            Some(absolute(utc("2020-10-15T15:46:00Z")))
        );
        // Noise before and after the date.
        assert_eq!(
            at("Posted: 15/10/2020 (edited)", &["%d/%m/%Y"], UTC),
            Some(absolute(utc("2020-10-15T00:00:00Z")))
        );
        // Hours without minutes.
        assert_eq!(
            at("15.10.2020 17h", &["%d.%m.%Y %Hh"], UTC),
            Some(absolute(utc("2020-10-15T17:00:00Z")))
        );
        // Two-digit years and 12-hour clocks.
        assert_eq!(
            at("10/15/20 5:46 PM", &["%m/%d/%y %I:%M %p"], UTC),
            Some(absolute(utc("2020-10-15T17:46:00Z")))
        );
        // A timestamp format.
        assert_eq!(
            at("ts=1602783960", &["ts=%s"], Berlin),
            Some(absolute(utc("2020-10-15T17:46:00Z")))
        );
        // Without a year the date is relative to the fetch time.
        assert_eq!(
            at("Thu 14 Jan 10:58:01 AM", &["%a %d %b %I:%M:%S %p"], Chicago),
            Some(relative(utc("2020-01-14T16:58:01Z")))
        );
        // Time only (a time after the fetch is read as the fetch time).
        assert_eq!(
            at("um 11.46 Uhr", &["um %H.%M Uhr"], Berlin),
            Some(relative(utc("2020-10-15T09:46:00Z")))
        );
        assert_eq!(
            at("um 17.46 Uhr", &["um %H.%M Uhr"], Berlin),
            Some(relative(utc("2020-10-15T12:00:00Z")))
        );
        // Formats are tried in order; a failing one falls through to the next, then built-ins.
        assert_eq!(
            at("15/10/2020", &["%Y-%m-%d", "%d/%m/%Y"], UTC).map(|d| d.instant),
            Some(utc("2020-10-15T00:00:00Z"))
        );
        assert_eq!(
            at("Oct 15, 2020", &["%d/%m/%Y"], UTC).map(|d| d.instant),
            Some(utc("2020-10-15T00:00:00Z"))
        );
        // An invalid format is ignored rather than fatal.
        assert_eq!(
            at("Oct 15, 2020", &["%Q", ""], UTC).map(|d| d.instant),
            Some(utc("2020-10-15T00:00:00Z"))
        );
        // A format must not stop in the middle of a word or number.
        assert_eq!(
            at("2020-10-15T17:46:00Z", &["%Y-%m-%d"], UTC).map(|d| d.instant),
            Some(utc("2020-10-15T17:46:00Z"))
        );
    }

    #[test]
    fn validate_formats() {
        assert!(validate_format("%Y-%m-%d").is_ok());
        assert!(validate_format("%d/%m/%Y %H:%M %z").is_ok());
        assert!(validate_format("%a, %d %b %Y %H:%M:%S %Z").is_ok());
        assert!(validate_format("100%% on %Y-%m-%d").is_ok());
        assert!(validate_format("%.3f %:z %-d %e %%").is_ok());
        assert!(validate_format("%Q").is_err_and(|m| m.contains("`%Q`")));
        assert!(validate_format("%Y-%m-%").is_err_and(|m| m.contains("lone `%`")));
        assert!(validate_format("%d.%m.%Y %é").is_err_and(|m| m.contains("`%é`")));
        assert!(validate_format("%Y %-").is_err());
        assert!(validate_format("%").is_err());
        assert!(validate_format("").is_err());
        assert!(validate_format("   ").is_err());
        assert!(validate_format("no fields").is_err());
    }

    #[test]
    fn garbage_is_none() {
        for text in [
            "",
            "   ",
            "hello world",
            "Posted by admin",
            "12 comments",
            "v1.2.3",
            "2020",
            "Oct",
            "abc 17:46 15/10",
            "-",
            "🙂",
            "ago ago ago",
        ] {
            none(text);
        }
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let long_digits = "9".repeat(100_000);
        let long_mixed = "2020-10-15 ".repeat(10_000);
        let long_unicode = "日本語テキスト🙂".repeat(5_000);
        let tricky = [
            "\u{0}",
            "\u{feff}2020-10-15",
            "２０２０-１０-１５",
            "٢٠٢٠-١٠-١٥",
            "2020-10-15T17:46:00+99:99",
            "2020-10-15T17:46:00+",
            "2020-10-15T",
            "Oct 99, 2020",
            "0000-00-00",
            "9999-12-31T23:59:59+14:00",
            "-2020-10-15",
            "+262143-01-01",
            "99999 Oct 2020",
            "Oct 15, 99999",
            "12:99",
            "99:99:99",
            "1:00 pm pm",
            "00:00 am",
            "13 pm",
            "p.m.",
            "a.m. 5",
            "GMT+99",
            "9999999999999",
            "99999999999",
            "Ünïcödé Öct 15, 2020 ✓",
            "15 ОКТ 2020",
            "heute, 99:99 Uhr",
            "in 2 hours",
        ];
        let formats: Vec<String> = ["%Y-%m-%d", "%s", "%d %b %Y %Z", "%+", "%Q"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for tz in [UTC, Berlin, New_York] {
            for text in tricky.iter().copied().chain([
                long_digits.as_str(),
                long_mixed.as_str(),
                long_unicode.as_str(),
            ]) {
                let _ = parse_date(text, &[], tz, now());
                let _ = parse_date(text, &formats, tz, now());
            }
        }
        // Extreme fetch times.
        for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            for text in [
                "3 hours ago",
                "yesterday",
                "17:46",
                "Oct 15",
                "a year ago",
                "today",
            ] {
                let _ = parse_date(text, &[], Berlin, now);
            }
        }
        // The long repetition still finds its date; a cut through a multibyte char is safe.
        assert!(parse_in(&long_mixed, UTC).is_some());
        assert_eq!(parse_in(&long_unicode, UTC), None);
    }

    #[test]
    fn token_soup_does_not_panic() {
        let tokens = [
            "2020",
            "-",
            "10",
            "15",
            "T",
            "17:46",
            ":",
            "Z",
            "+09",
            "00",
            ",",
            ".",
            "/",
            "Oct",
            "May",
            "Thu",
            "pm",
            "p.m.",
            "ago",
            "hours",
            "an",
            "and",
            "m",
            "yesterday",
            "heute",
            "now",
            "UTC",
            "EST",
            "99",
            "60",
            "th",
            "of",
            "at",
            "|",
            "🙂",
            "\u{300}",
            "٣",
            "few",
        ];
        let formats = vec!["%d %b %Y %Z".to_string(), "%b %d".to_string()];
        for a in tokens {
            for b in tokens {
                for c in ["", " ", "15", " Oct 2020"] {
                    let text = format!("{a}{b}{c}");
                    let _ = parse_date(&text, &[], Berlin, now());
                    let _ = parse_date(&text, &formats, New_York, now());
                }
            }
        }
    }

    #[test]
    fn whitespace_is_collapsed() {
        abs("Oct\u{a0}15,\n  2020", UTC, "2020-10-15T00:00:00Z");
        abs("  2020-10-15  ", UTC, "2020-10-15T00:00:00Z");
    }

    #[track_caller]
    fn lang(tag: &str, text: &str, want: &str, relative: bool) {
        assert_eq!(
            parse_date_in(text, &[], UTC, now(), Some(tag)),
            Some(ParsedDate {
                instant: utc(want),
                relative
            }),
            "{tag}: {text:?}"
        );
    }

    #[test]
    fn dates_in_ten_languages() {
        // Absolute dates, month names with and without dots and case endings.
        lang("de", "15. Oktober 2020", "2020-10-15T00:00:00Z", false);
        lang(
            "de-AT",
            "Do., 15. Jänner 2020, 18:00 Uhr",
            "2020-01-15T18:00:00Z",
            false,
        );
        lang("fr", "15 oct. 2020", "2020-10-15T00:00:00Z", false);
        lang(
            "fr",
            "jeudi 1er octobre 2020 à 18h30",
            "2020-10-01T18:30:00Z",
            false,
        );
        lang("es", "15 de octubre de 2020", "2020-10-15T00:00:00Z", false);
        lang("es", "mar., 10 mar. 2020", "2020-03-10T00:00:00Z", false);
        lang(
            "it",
            "15 ottobre 2020 alle 18:00",
            "2020-10-15T18:00:00Z",
            false,
        );
        lang("it", "3 ago 2020", "2020-08-03T00:00:00Z", false);
        lang(
            "pt-BR",
            "15 de outubro de 2020",
            "2020-10-15T00:00:00Z",
            false,
        );
        lang("nl", "15 okt. 2020 om 18:00", "2020-10-15T18:00:00Z", false);
        lang("ru", "15 октября 2020", "2020-10-15T00:00:00Z", false);
        lang(
            "ru",
            "1 марта 2020 г. в 18:00",
            "2020-03-01T18:00:00Z",
            false,
        );
        lang("ja", "2020年10月15日", "2020-10-15T00:00:00Z", false);
        lang(
            "ja",
            "2020年10月15日（木）18時30分",
            "2020-10-15T18:30:00Z",
            false,
        );
        lang("ko", "2020년 10월 15일", "2020-10-15T00:00:00Z", false);
        lang(
            "ko",
            "2020년 10월 15일 오후 3:20",
            "2020-10-15T15:20:00Z",
            false,
        );
        lang(
            "zh-CN",
            "2020年10月15日 18:00",
            "2020-10-15T18:00:00Z",
            false,
        );
        // Day first where the language writes it so; not guessed in English.
        lang("de", "03/04/2020", "2020-04-03T00:00:00Z", false);
        lang("nl", "03-04-2020", "2020-04-03T00:00:00Z", false);
        assert_eq!(
            parse_date_in("03/04/2020", &[], UTC, now(), Some("en")),
            None
        );
        // Relative phrases (the fetch time is 2020-10-15 12:00 UTC).
        lang("de", "heute, 10:00 Uhr", "2020-10-15T10:00:00Z", true);
        lang("de", "gestern", "2020-10-14T00:00:00Z", true);
        lang("de", "vorgestern", "2020-10-13T00:00:00Z", true);
        lang("de", "vor 2 Tagen", "2020-10-13T12:00:00Z", true);
        lang("fr", "il y a 3 heures", "2020-10-15T09:00:00Z", true);
        lang("fr", "hier à 18h", "2020-10-14T18:00:00Z", true);
        lang("es", "hace 5 minutos", "2020-10-15T11:55:00Z", true);
        lang("es", "ayer a las 18:00", "2020-10-14T18:00:00Z", true);
        lang("it", "un'ora fa", "2020-10-15T11:00:00Z", true);
        lang("pt", "há 2 dias", "2020-10-13T12:00:00Z", true);
        lang("nl", "3 uur geleden", "2020-10-15T09:00:00Z", true);
        lang("ru", "2 часа назад", "2020-10-15T10:00:00Z", true);
        lang("ru", "вчера в 18:00", "2020-10-14T18:00:00Z", true);
        lang("ja", "3時間前", "2020-10-15T09:00:00Z", true);
        lang("ko", "3시간 전", "2020-10-15T09:00:00Z", true);
        lang("ko", "어제", "2020-10-14T00:00:00Z", true);
        lang("zh", "昨天", "2020-10-14T00:00:00Z", true);
        lang("zh", "5分钟前", "2020-10-15T11:55:00Z", true);
        lang("zh", "10月15日 08:00", "2020-10-15T08:00:00Z", true);
        // English text on a page in another language still parses.
        lang("fr", "2020-10-15T17:46:00Z", "2020-10-15T17:46:00Z", false);
        lang("de", "Oct 15, 2020", "2020-10-15T00:00:00Z", false);
    }
}

//! `dates`: dates::parse_date_in on arbitrary text, user formats, time zones, fetch times and languages.
//!
//! Input: 2 bytes time zone index (little-endian, into chrono-tz's list), 5 bytes fetch time
//! (seconds after 1970, taken modulo the span up to 2200), then UTF-8 text (lossy): the date
//! text, followed by up to four `date_format` strings, each after a NUL byte. Formats that the
//! config would refuse (dates::validate_format) are dropped, as the config drops them.
//!
//! Checks: no panic; the same call twice gives the same answer; a date not flagged
//! `relative` does not depend on the fetch time (the same text read a year and a bit later
//! gives the same instant).

#![no_main]

use chrono::{DateTime, TimeDelta, Utc};
use libfuzzer_sys::fuzz_target;
use pagefeed::extract::dates::{languages, parse_date_in, validate_format};
use pagefeed_fuzz::PanicFilter;

/// Fetch times run from 1970 to the start of 2200: what a real machine's clock can say.
const NOW_SPAN: u64 = 7_258_118_400;

static FILTER: PanicFilter = PanicFilter {
    known: &[],
    feed_rs_caught: false,
};

fuzz_target!(|data: &[u8]| pagefeed_fuzz::run(&FILTER, || one(data)));

fn one(data: &[u8]) {
    let Some((head, rest)) = data.split_at_checked(7) else {
        return;
    };
    let tz_index = usize::from(u16::from_le_bytes([head[0], head[1]]));
    let tz = chrono_tz::TZ_VARIANTS[tz_index % chrono_tz::TZ_VARIANTS.len()];
    // The upper part of the same number picks the language: none (English) or one of the tables.
    let choice = (tz_index / chrono_tz::TZ_VARIANTS.len()) % (languages().count() + 1);
    let language = choice.checked_sub(1).and_then(|i| languages().nth(i));
    let secs =
        u64::from_le_bytes([head[2], head[3], head[4], head[5], head[6], 0, 0, 0]) % NOW_SPAN;
    let Some(now) = i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
    else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let date_text = parts.next().unwrap_or_default();
    let formats: Vec<String> = parts
        .take(4)
        .filter(|f| validate_format(f).is_ok())
        .map(str::to_string)
        .collect();

    let first = parse_date_in(date_text, &formats, tz, now, language);
    let again = parse_date_in(date_text, &formats, tz, now, language);
    assert_eq!(first, again, "parse_date is not deterministic");

    if let Some(p) = first
        && !p.relative
    {
        let later = now + TimeDelta::days(400) + TimeDelta::seconds(11_111);
        let other = parse_date_in(date_text, &formats, tz, later, language);
        match other {
            Some(o) if !o.relative => assert_eq!(
                o.instant, p.instant,
                "a date not flagged relative moved with the fetch time ({now} vs {later})"
            ),
            Some(_) => {
                panic!("the same text is an absolute date at {now} and a relative one at {later}")
            }
            None => panic!("the same text is a date at {now} and none at {later}"),
        }
    }
}

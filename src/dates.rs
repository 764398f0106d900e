//! TEMP stub until the real parser lands.
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDate {
    pub instant: DateTime<Utc>,
    pub relative: bool,
}
pub fn parse_date(
    text: &str,
    _formats: &[String],
    _tz: Tz,
    _now: DateTime<Utc>,
) -> Option<ParsedDate> {
    DateTime::parse_from_rfc3339(text).ok().map(|d| ParsedDate {
        instant: d.with_timezone(&Utc),
        relative: false,
    })
}
pub fn validate_format(_fmt: &str) -> Result<(), String> {
    Ok(())
}

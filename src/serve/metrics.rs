//! Counters for `/metrics`, in the Prometheus text exposition format (version 0.0.4).
//!
//! Per feed: fetches by outcome, 304s, failures, whether the last refresh failed, panics and
//! schedule restarts, the item count, refresh durations and the time of the last success. Per
//! HTTP status: responses served. Connections: open, the cap, shed, timed out, accept errors.
//! Feed counters sit behind one mutex (they change a few times per refresh); response and
//! connection counters are atomics, so counting a request costs one relaxed increment.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// How one refresh of a feed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchOutcome {
    /// Fetched, and the feed's bytes changed.
    Changed,
    /// Fetched (or the page hashed the same), the feed's bytes did not change.
    Unchanged,
    /// The source answered 304 Not Modified.
    NotModified,
    Failed,
}

impl FetchOutcome {
    const ALL: [FetchOutcome; 4] = [
        FetchOutcome::Changed,
        FetchOutcome::Unchanged,
        FetchOutcome::NotModified,
        FetchOutcome::Failed,
    ];

    /// The `outcome` label value.
    pub fn label(self) -> &'static str {
        match self {
            FetchOutcome::Changed => "changed",
            FetchOutcome::Unchanged => "unchanged",
            FetchOutcome::NotModified => "not_modified",
            FetchOutcome::Failed => "failed",
        }
    }

    fn index(self) -> usize {
        match self {
            FetchOutcome::Changed => 0,
            FetchOutcome::Unchanged => 1,
            FetchOutcome::NotModified => 2,
            FetchOutcome::Failed => 3,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct FeedCounters {
    fetches: [u64; 4],
    items: Option<usize>,
    duration_sum: f64,
    duration_count: u64,
    /// Unix seconds.
    last_success: Option<f64>,
    /// Whether the last refresh failed (`None` before the first).
    failed: Option<bool>,
    panics: u64,
    schedule_restarts: u64,
    /// Field -> share of entries it found a value in, in the last good run.
    coverage: BTreeMap<String, f64>,
    /// Warnings of the last refresh that read the page.
    warnings: Option<usize>,
    warnings_total: u64,
}

/// HTTP status codes 100..=599 get a counter each.
const FIRST_CODE: u16 = 100;
const CODES: usize = 500;

/// The service's counters.
#[derive(Debug)]
pub struct Metrics {
    feeds: Mutex<BTreeMap<String, FeedCounters>>,
    responses: Box<[AtomicU64]>,
    connections: AtomicU64,
    connection_limit: AtomicU64,
    shed: AtomicU64,
    header_timeouts: AtomicU64,
    accept_errors: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            feeds: Mutex::new(BTreeMap::new()),
            responses: (0..CODES).map(|_| AtomicU64::new(0)).collect(),
            connections: AtomicU64::new(0),
            connection_limit: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            header_timeouts: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        }
    }

    /// Make `feed`'s series appear (at zero) before its first refresh.
    pub fn register(&self, feed: &str) {
        self.with_feed(feed, |_| {});
    }

    fn with_feed(&self, feed: &str, f: impl FnOnce(&mut FeedCounters)) {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        match feeds.get_mut(feed) {
            Some(c) => f(c),
            None => f(feeds.entry(feed.to_string()).or_default()),
        }
    }

    /// Count one refresh of `feed` that took `seconds`. Anything but a failure also marks
    /// the time of the last success.
    pub fn fetch(&self, feed: &str, outcome: FetchOutcome, seconds: f64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.with_feed(feed, |c| {
            c.fetches[outcome.index()] += 1;
            if seconds.is_finite() && seconds >= 0.0 {
                c.duration_sum += seconds;
            }
            c.duration_count += 1;
            if outcome != FetchOutcome::Failed {
                c.last_success = Some(now);
            }
            c.failed = Some(outcome == FetchOutcome::Failed);
        });
    }

    /// Count a refresh of `feed` that panicked (count the failure with [`Metrics::fetch`]).
    pub fn panic(&self, feed: &str) {
        self.with_feed(feed, |c| c.panics += 1);
    }

    /// Count a restart of `feed`'s schedule task after it died.
    pub fn schedule_restart(&self, feed: &str) {
        self.with_feed(feed, |c| c.schedule_restarts += 1);
    }

    /// The cap on open connections.
    pub fn connection_limit(&self, n: usize) {
        self.connection_limit
            .store(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        let _ = self
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// An idle connection closed to make room at the cap.
    pub fn connection_shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed for not sending a request head in time.
    pub fn header_timeout(&self) {
        self.header_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The number of items `feed` now has.
    pub fn items(&self, feed: &str, n: usize) {
        self.with_feed(feed, |c| c.items = Some(n));
    }

    /// Set `feed`'s field coverage (from its last good run) and, when its page was read, the
    /// number of warnings that refresh gave.
    pub fn health(
        &self,
        feed: &str,
        coverage: Option<&crate::health::Coverage>,
        warnings: Option<usize>,
    ) {
        self.with_feed(feed, |c| {
            if let Some(cov) = coverage {
                c.coverage = cov
                    .fields
                    .keys()
                    .map(|field| (field.clone(), cov.share(field)))
                    .collect();
            }
            if let Some(n) = warnings {
                c.warnings = Some(n);
                c.warnings_total = c
                    .warnings_total
                    .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
            }
        });
    }

    /// Count one HTTP response with `status`.
    pub fn request(&self, status: u16) {
        if let Some(counter) = status
            .checked_sub(FIRST_CODE)
            .and_then(|i| self.responses.get(usize::from(i)))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Everything, in the Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let feeds = self
            .feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut out = String::with_capacity(1024 + feeds.len() * 1024);
        let labelled: Vec<(String, &FeedCounters)> = feeds
            .iter()
            .map(|(name, c)| (format!("feed=\"{}\"", escape_label(name)), c))
            .collect();

        header(
            &mut out,
            "pagefeed_fetches_total",
            "counter",
            "Refreshes of a feed, by outcome.",
        );
        for (feed, c) in &labelled {
            for outcome in FetchOutcome::ALL {
                let _ = writeln!(
                    out,
                    "pagefeed_fetches_total{{{feed},outcome=\"{}\"}} {}",
                    outcome.label(),
                    c.fetches[outcome.index()]
                );
            }
        }
        let simple = |out: &mut String,
                      name: &str,
                      kind: &str,
                      help: &str,
                      value: &dyn Fn(&FeedCounters) -> Option<String>| {
            header(out, name, kind, help);
            for (feed, c) in &labelled {
                if let Some(v) = value(c) {
                    let _ = writeln!(out, "{name}{{{feed}}} {v}");
                }
            }
        };
        simple(
            &mut out,
            "pagefeed_not_modified_total",
            "counter",
            "Refreshes the source answered with 304 Not Modified.",
            &|c| Some(c.fetches[FetchOutcome::NotModified.index()].to_string()),
        );
        simple(
            &mut out,
            "pagefeed_failures_total",
            "counter",
            "Refreshes that failed.",
            &|c| Some(c.fetches[FetchOutcome::Failed.index()].to_string()),
        );
        simple(
            &mut out,
            "pagefeed_feed_failed",
            "gauge",
            "1 when the feed's last refresh failed (the last good version is still served).",
            &|c| c.failed.map(|f| u8::from(f).to_string()),
        );
        simple(
            &mut out,
            "pagefeed_refresh_panics_total",
            "counter",
            "Refreshes that panicked (a bug: /healthz reports it until a refresh completes).",
            &|c| Some(c.panics.to_string()),
        );
        simple(
            &mut out,
            "pagefeed_schedule_restarts_total",
            "counter",
            "Times the feed's schedule task died and was restarted (a bug).",
            &|c| Some(c.schedule_restarts.to_string()),
        );
        simple(
            &mut out,
            "pagefeed_items",
            "gauge",
            "Items in the feed as last published.",
            &|c| c.items.map(|n| n.to_string()),
        );
        header(
            &mut out,
            "pagefeed_field_coverage",
            "gauge",
            "Share of the entries (0 to 1) in which a field found a value, in the feed's last good run.",
        );
        for (feed, c) in &labelled {
            for (field, share) in &c.coverage {
                let _ = writeln!(
                    out,
                    "pagefeed_field_coverage{{{feed},field=\"{}\"}} {}",
                    escape_label(field),
                    float(*share)
                );
            }
        }
        simple(
            &mut out,
            "pagefeed_feed_warnings",
            "gauge",
            "Warnings (selector health, dates, ...) of the feed's last refresh that read its page.",
            &|c| c.warnings.map(|n| n.to_string()),
        );
        simple(
            &mut out,
            "pagefeed_warnings_total",
            "counter",
            "Warnings of all refreshes of the feed.",
            &|c| Some(c.warnings_total.to_string()),
        );
        header(
            &mut out,
            "pagefeed_refresh_duration_seconds",
            "summary",
            "Time taken by refreshes of a feed.",
        );
        for (feed, c) in &labelled {
            let _ = writeln!(
                out,
                "pagefeed_refresh_duration_seconds_sum{{{feed}}} {}",
                float(c.duration_sum)
            );
            let _ = writeln!(
                out,
                "pagefeed_refresh_duration_seconds_count{{{feed}}} {}",
                c.duration_count
            );
        }
        simple(
            &mut out,
            "pagefeed_last_success_timestamp_seconds",
            "gauge",
            "When a refresh of the feed last succeeded, in Unix seconds.",
            &|c| c.last_success.map(float),
        );

        header(
            &mut out,
            "pagefeed_http_responses_total",
            "counter",
            "HTTP responses served, by status code.",
        );
        for (i, counter) in self.responses.iter().enumerate() {
            let n = counter.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "pagefeed_http_responses_total{{code=\"{}\"}} {n}",
                    usize::from(FIRST_CODE) + i
                );
            }
        }
        for (name, kind, help, value) in [
            (
                "pagefeed_http_connections",
                "gauge",
                "Client connections open now.",
                &self.connections,
            ),
            (
                "pagefeed_http_connections_max",
                "gauge",
                "The cap on open client connections (below the open-file limit).",
                &self.connection_limit,
            ),
            (
                "pagefeed_http_connections_shed_total",
                "counter",
                "Idle connections closed to make room for new ones at the cap.",
                &self.shed,
            ),
            (
                "pagefeed_http_header_timeouts_total",
                "counter",
                "Connections closed for not sending a complete request head in time.",
                &self.header_timeouts,
            ),
            (
                "pagefeed_http_accept_errors_total",
                "counter",
                "Failed accepts (out of file descriptors, aborted connections).",
                &self.accept_errors,
            ),
        ] {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: Rust's shortest round-trip form, with the format's spellings of the
/// non-finite values.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series_with_help_and_type() {
        let m = Metrics::new();
        m.fetch("alpha", FetchOutcome::Changed, 0.5);
        m.fetch("alpha", FetchOutcome::NotModified, 0.25);
        m.fetch("alpha", FetchOutcome::Failed, 1.0);
        m.items("alpha", 12);
        m.register("beta");
        m.request(200);
        m.request(200);
        m.request(304);
        m.request(42); // out of range: ignored
        m.request(600);
        m.panic("alpha");
        m.schedule_restart("beta");
        m.connection_limit(768);
        m.connection_opened();
        m.connection_opened();
        m.connection_closed();
        m.connection_shed();
        m.header_timeout();
        let text = m.render();

        for line in [
            "# TYPE pagefeed_fetches_total counter",
            "pagefeed_fetches_total{feed=\"alpha\",outcome=\"changed\"} 1",
            "pagefeed_fetches_total{feed=\"alpha\",outcome=\"unchanged\"} 0",
            "pagefeed_fetches_total{feed=\"alpha\",outcome=\"not_modified\"} 1",
            "pagefeed_fetches_total{feed=\"alpha\",outcome=\"failed\"} 1",
            "pagefeed_fetches_total{feed=\"beta\",outcome=\"changed\"} 0",
            "# TYPE pagefeed_not_modified_total counter",
            "pagefeed_not_modified_total{feed=\"alpha\"} 1",
            "pagefeed_failures_total{feed=\"alpha\"} 1",
            "pagefeed_failures_total{feed=\"beta\"} 0",
            "# TYPE pagefeed_items gauge",
            "pagefeed_items{feed=\"alpha\"} 12",
            "# TYPE pagefeed_refresh_duration_seconds summary",
            "pagefeed_refresh_duration_seconds_sum{feed=\"alpha\"} 1.75",
            "pagefeed_refresh_duration_seconds_count{feed=\"alpha\"} 3",
            "pagefeed_refresh_duration_seconds_count{feed=\"beta\"} 0",
            "# TYPE pagefeed_last_success_timestamp_seconds gauge",
            "pagefeed_http_responses_total{code=\"200\"} 2",
            "pagefeed_http_responses_total{code=\"304\"} 1",
            "# TYPE pagefeed_feed_failed gauge",
            "pagefeed_feed_failed{feed=\"alpha\"} 1",
            "pagefeed_refresh_panics_total{feed=\"alpha\"} 1",
            "pagefeed_refresh_panics_total{feed=\"beta\"} 0",
            "pagefeed_schedule_restarts_total{feed=\"beta\"} 1",
            "pagefeed_http_connections 1",
            "pagefeed_http_connections_max 768",
            "pagefeed_http_connections_shed_total 1",
            "pagefeed_http_header_timeouts_total 1",
            "pagefeed_http_accept_errors_total 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("pagefeed_items{feed=\"beta\"}"));
        assert!(!text.contains("pagefeed_feed_failed{feed=\"beta\"}"));
        assert!(!text.contains("last_success_timestamp_seconds{feed=\"beta\"}"));
        let ts: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("pagefeed_last_success_timestamp_seconds{feed=\"alpha\"} ")
            })
            .unwrap()
            .parse()
            .unwrap();
        assert!(ts > 1.7e9, "{ts}");

        // Every line is a comment or `name{labels} value`, and every metric has HELP and TYPE.
        for line in text.lines() {
            if line.starts_with('#') {
                assert!(
                    line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                    "{line}"
                );
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name = series.split('{').next().unwrap();
            let base = name
                .strip_suffix("_sum")
                .or_else(|| name.strip_suffix("_count"))
                .filter(|b| *b == "pagefeed_refresh_duration_seconds")
                .unwrap_or(name);
            assert!(text.contains(&format!("# HELP {base} ")), "{line}");
            assert!(text.contains(&format!("# TYPE {base} ")), "{line}");
        }
    }

    #[test]
    fn escapes_label_values() {
        let m = Metrics::new();
        m.items("we\"ird\\na\nme", 1);
        let text = m.render();
        assert!(
            text.contains("pagefeed_items{feed=\"we\\\"ird\\\\na\\nme\"} 1"),
            "{text}"
        );
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(0.1), "0.1");
    }
}

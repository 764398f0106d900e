//! When each feed is refreshed, and how politely.
//!
//! Every fetched feed (scraped or upstream) has its own task that sleeps until the feed is
//! due, refreshes it and computes the next time from the feed's schedule (an interval or a
//! cron expression) with a little jitter, so feeds configured alike do not all fire at once.
//! A slow or failing feed only ever delays itself. Across feeds, a semaphore bounds the
//! fetches in flight and a per-host gate spaces requests to one host by `host_delay`.
//! Transient failures are retried with exponential backoff, honouring `Retry-After`.
//!
//! Merged feeds have no schedule of their own: they are rendered again whenever one of their
//! sources changed. Concurrent refreshes of one feed (a schedule firing while an admin asks
//! for one) collapse into a single fetch whose outcome both get.
//!
//! A panic anywhere in a refresh (fetching, scraping, the history, rendering, in the async
//! part or the blocking task) is caught: the refresh fails with the panic's message, the
//! feed's `fault` is set for `/healthz`, the last good feed stays served and the schedule
//! goes on. A schedule task that dies anyway is restarted after a pause (doubling up to
//! `MAX_RESTART_DELAY`), and its feed's `schedule_fault` says so meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{Notify, Semaphore, broadcast, watch};

use crate::config::{Config, FeedConfig, FeedKind, Format, Source};
use crate::feed::history::{FeedRow, History};
use crate::refresh;
use crate::source::browser::Chromium;
use crate::source::fetch::{FetchError, Fetched, Fetcher};

use super::guard::{CatchUnwind, panic_message};
use super::http::RefreshOutcome;
use super::metrics::{FetchOutcome, Metrics};
use super::store::Store;
use super::websub::WebSub;

/// Retries of one scheduled refresh after a transient failure.
const MAX_RETRIES: u32 = 3;
/// The first backoff; it doubles with each retry.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// A `Retry-After` longer than this ends the retries; the next scheduled refresh waits for it.
const LONGEST_RETRY_WAIT: Duration = Duration::from_secs(300);
/// The longest a `Retry-After` postpones the next refresh: a site asking for more is asked
/// again after a day.
const LONGEST_NOT_BEFORE: Duration = Duration::from_secs(86_400);
/// The pause before a dead schedule task is restarted; it doubles up to the maximum while
/// the task keeps dying soon after each restart.
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(5);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(900);

/// The shared state of the refreshing side of `serve`.
pub struct Scheduler {
    /// Replaced when the feed builder adds a feed while serving.
    config: std::sync::RwLock<Arc<Config>>,
    /// The stop signal of the schedule tasks, for tasks started later ([`Scheduler::add_feed`]).
    stop: Mutex<Option<watch::Receiver<bool>>>,
    history: Arc<Mutex<History>>,
    fetcher: Fetcher,
    /// The process's headless browser for `render = "chromium"` feeds (started when first
    /// needed, again if it died).
    chromium: Chromium,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    websub: Option<WebSub>,
    permits: Semaphore,
    hosts: HostGate,
    robots: super::robots::ServeRobots,
    /// The refresh of each feed under way, which later calls for that feed join.
    inflight: Mutex<HashMap<String, Inflight>>,
    /// Held while a refresh publishes what it rendered; taken before the history's lock is
    /// let go (never the other way round), so feeds are published in the history's order.
    publishing: Mutex<()>,
    /// Refreshes writing to the history right now (shutdown waits for them).
    writing: AtomicUsize,
    writes_done: Notify,
    /// The earliest time the next refresh of a feed may start, after a long `Retry-After`.
    not_before: Mutex<HashMap<String, DateTime<Utc>>>,
    /// What [`Scheduler::load_stored`] read of each feed (stored data? its refresh record),
    /// taken by the feed's first schedule so start-up reads the history once, not once more
    /// per feed (and the feeds start in the config's order, not in the order their reads got
    /// the history's lock).
    start_rows: Mutex<HashMap<String, (bool, Option<FeedRow>)>>,
}

/// A refresh under way: its outcome goes to every call that joined it.
struct Inflight {
    outcome: broadcast::Sender<RefreshOutcome>,
    /// Set once it has started fetching (or, for a merged feed, reading its sources): a call
    /// that comes later would get an outcome older than itself, so it waits for this refresh
    /// to end and then runs (or joins) a newer one.
    fetching: Arc<AtomicBool>,
}

/// Spaces requests to one host by at least the configured delay.
struct HostGate {
    delay: Duration,
    next: Mutex<HashMap<String, Instant>>,
}

impl HostGate {
    /// Wait for `host`'s turn; `crawl_delay` (the site's robots.txt) raises the delay.
    async fn wait(&self, host: &str, crawl_delay: Option<Duration>) {
        if let Some(at) = self.take_turn(host, crawl_delay) {
            tokio::time::sleep_until(at.into()).await;
        }
    }

    /// Take `host`'s next turn without waiting for it: when it is (`None`: no delay applies,
    /// any time will do). The turn after it is the delay later.
    fn take_turn(&self, host: &str, crawl_delay: Option<Duration>) -> Option<Instant> {
        let delay = crawl_delay.map_or(self.delay, |d| d.max(self.delay));
        if delay.is_zero() {
            return None;
        }
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let slot = next.get(host).copied().filter(|t| *t > now).unwrap_or(now);
        next.insert(host.to_string(), slot + delay);
        Some(slot)
    }
}

/// robots.txt, the host gate and the fetch permits of `serve`, for the further pages of a
/// listing.
struct ServePoliteness<'a> {
    scheduler: &'a Scheduler,
    feed: &'a FeedConfig,
}

impl crate::pages::Politeness for ServePoliteness<'_> {
    async fn fetch(&self, url: &url::Url) -> Result<crate::source::fetch::Page, FetchError> {
        let _permit = self.scheduler.permits.acquire().await.ok();
        let s = self.scheduler;
        crate::source::browser::load_page(&s.fetcher, &s.chromium, self.feed, url).await
    }

    async fn robots(&self, url: &url::Url) -> crate::source::robots::Verdict {
        self.scheduler
            .robots
            .check(&self.scheduler.fetcher, url)
            .await
    }

    async fn wait(&self, url: &url::Url, crawl_delay: Option<Duration>) {
        self.scheduler
            .hosts
            .wait(url.host_str().unwrap_or(""), crawl_delay)
            .await;
    }
}

impl Scheduler {
    pub fn new(
        config: Arc<Config>,
        history: Arc<Mutex<History>>,
        fetcher: Fetcher,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let websub = config.settings.websub_hub.clone().map(WebSub::new);
        Scheduler {
            chromium: Chromium::new(&config.settings),
            permits: Semaphore::new(config.settings.concurrency),
            hosts: HostGate {
                delay: config.settings.host_delay,
                next: Mutex::new(HashMap::new()),
            },
            robots: super::robots::ServeRobots::new(
                &config.settings.user_agent,
                Arc::clone(&history),
            ),
            config: std::sync::RwLock::new(config),
            stop: Mutex::new(None),
            history,
            fetcher,
            store,
            metrics,
            websub,
            inflight: Mutex::new(HashMap::new()),
            publishing: Mutex::new(()),
            writing: AtomicUsize::new(0),
            writes_done: Notify::new(),
            not_before: Mutex::new(HashMap::new()),
            start_rows: Mutex::new(HashMap::new()),
        }
    }

    /// The config in force (the one `serve` started with, plus the feeds added since).
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Serve a feed configured while running: `config` is the config in force with the
    /// feed `name` added. The feed is refreshed at once (the outcome is returned) and then
    /// follows its schedule like the others.
    pub async fn add_feed(self: &Arc<Self>, config: Arc<Config>, name: &str) -> RefreshOutcome {
        let Some(feed) = config.feed(name).cloned() else {
            return failed(name, format!("unknown feed `{name}`"));
        };
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        self.store.add(&feed);
        let outcome = self.refresh(name, false).await;
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let (Some(stop), true) = (stop, feed.source().is_some()) {
            let this = Arc::clone(self);
            let name = name.to_string();
            tokio::spawn(async move { this.supervise_schedule(name, stop).await });
        }
        outcome
    }

    /// Publish every feed the history already holds, so a restart serves at once.
    pub async fn load_stored(self: &Arc<Self>) {
        let this = Arc::clone(self);
        let loaded = tokio::task::spawn_blocking(move || {
            let history = this.history.lock().unwrap_or_else(|p| p.into_inner());
            let now = Utc::now().trunc_subsecs(0);
            let mut out = Vec::new();
            let config = this.config();
            for feed in &config.feeds {
                let row = history.feed_status(&feed.name).ok().flatten();
                let coverage = history.coverage(&feed.name).ok().flatten();
                let has_data = match &feed.kind {
                    FeedKind::Merge { .. } => true,
                    _ => history.source_state(&feed.name).ok().flatten().is_some(),
                };
                let rendered = if has_data {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        refresh::render_feed(&config, &history, feed, now).ok()
                    }))
                    .map_err(|p| panic_message(p.as_ref()))
                } else {
                    Ok(None)
                };
                this.start_rows
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(feed.name.clone(), (has_data, row.clone()));
                out.push((feed.name.clone(), row, rendered, coverage));
            }
            out
        })
        .await;
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                let msg = if e.is_panic() {
                    panic_message(e.into_panic().as_ref())
                } else {
                    e.to_string()
                };
                tracing::error!(
                    "loading the stored feeds panicked: {msg}; each feed is served after its \
                     first refresh (a bug in pagefeed: please report it)"
                );
                return;
            }
        };
        for (name, row, rendered, coverage) in loaded {
            self.metrics.health(&name, coverage.as_ref(), None);
            self.store.update_status(&name, |s| s.coverage = coverage);
            let rendered = match rendered {
                Ok(r) => r,
                Err(msg) => {
                    let error = format!(
                        "rendering the stored feed panicked: {msg} (a bug in pagefeed: please \
                         report it); the feed is served after its next successful refresh"
                    );
                    tracing::error!(feed = %name, "{error}");
                    self.metrics.panic(&name);
                    let at = Utc::now().trunc_subsecs(0);
                    self.store.update_status(&name, |s| {
                        s.fault = Some(format!("{} at {}", error, at.to_rfc3339()));
                    });
                    None
                }
            };
            let since = row
                .as_ref()
                .and_then(|r| r.last_success)
                .unwrap_or_else(Utc::now);
            if let Some(r) = &rendered
                && r.items > 0
            {
                self.store.publish(&name, r, since);
                self.metrics.items(&name, r.items);
            }
            if let Some(row) = row {
                self.store.update_status(&name, |s| {
                    s.last_refresh = row.last_attempt;
                    s.last_success = row.last_success;
                    s.last_error = row.last_error.clone();
                });
            }
        }
    }

    /// Start one schedule task per fetched feed, each restarted if it dies; they stop when
    /// `stop` turns true.
    pub fn spawn_all(
        self: &Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop.clone());
        self.config()
            .feeds
            .iter()
            .filter(|f| f.source().is_some())
            .map(|f| {
                let this = Arc::clone(self);
                let name = f.name.clone();
                let stop = stop.clone();
                tokio::spawn(async move { this.supervise_schedule(name, stop).await })
            })
            .collect()
    }

    /// Run `name`'s schedule; when it panics, report it and start it again after a pause.
    async fn supervise_schedule(self: Arc<Self>, name: String, stop: watch::Receiver<bool>) {
        let run = || Arc::clone(&self).run_schedule(name.clone(), stop.clone());
        let died = |msg: &str, delay: Duration| {
            let at = Utc::now().trunc_subsecs(0);
            let error = format!(
                "the schedule task of feed {name} died: {msg} (a bug in pagefeed: please report \
                 it); restarting it in {} s",
                delay.as_secs()
            );
            tracing::error!(feed = %name, "{error}");
            self.metrics.schedule_restart(&name);
            self.store.update_status(&name, |s| {
                s.schedule_fault = Some(format!("{error} (at {})", at.to_rfc3339()));
            });
        };
        let delays = (FIRST_RESTART_DELAY, MAX_RESTART_DELAY);
        supervise(run, died, stop.clone(), delays).await;
    }

    async fn run_schedule(self: Arc<Self>, name: String, mut stop: watch::Receiver<bool>) {
        let Some(feed) = self.config().feed(&name).cloned() else {
            return;
        };
        let schedule = feed
            .refresh
            .clone()
            .unwrap_or_else(|| self.config().settings.refresh.clone());
        let mut due = self.first_due(&feed, &schedule).await;
        loop {
            if let Some(nb) = self.take_not_before(&name) {
                due = due.max(nb);
            }
            self.store
                .update_status(&name, |s| s.next_refresh = Some(due));
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            // A feed due now goes on without a trip through the timer, which would wake the
            // feeds due at start-up in no particular order.
            if !wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
            if *stop.borrow() {
                return;
            }
            // The next time is known before this refresh publishes, so the feed it serves
            // says how long it will stay fresh (Cache-Control) from its first response.
            let now = Utc::now();
            due = schedule.next_after(now) + jitter(&name, schedule.period(now));
            self.store
                .update_status(&name, |s| s.next_refresh = Some(due));
            let _ = self.refresh(&name, true).await;
            // A restarted schedule that completed a refresh works again.
            if self
                .store
                .get(&name)
                .is_some_and(|e| e.status.schedule_fault.is_some())
            {
                self.store.update_status(&name, |s| s.schedule_fault = None);
            }
        }
    }

    /// A feed never stored is due now; one whose last success is older than its period is
    /// due soon; any other at its next scheduled time.
    async fn first_due(
        &self,
        feed: &FeedConfig,
        schedule: &crate::config::Schedule,
    ) -> DateTime<Utc> {
        let read = self
            .start_rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&feed.name);
        let row = match read {
            Some(row) => row,
            None => {
                let history = Arc::clone(&self.history);
                let name = feed.name.clone();
                tokio::task::spawn_blocking(move || {
                    let h = history.lock().unwrap_or_else(|p| p.into_inner());
                    let stored = h.source_state(&name).ok().flatten().is_some();
                    (stored, h.feed_status(&name).ok().flatten())
                })
                .await
                .unwrap_or((false, None))
            }
        };
        let now = Utc::now();
        match row {
            (true, Some(r)) => match r.last_success {
                Some(last) => {
                    let next = schedule.next_after(last);
                    if next <= now {
                        now + jitter(&feed.name, Duration::from_secs(50))
                    } else {
                        next
                    }
                }
                None => now,
            },
            _ => now,
        }
    }

    fn take_not_before(&self, name: &str) -> Option<DateTime<Utc>> {
        self.not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
    }

    /// Refresh `name` now. Concurrent calls for one feed share one fetch and its outcome, as
    /// long as that fetch starts after the call: a call made while a refresh is already
    /// fetching waits for it and then gets a fetch of its own (an admin's refresh right after a
    /// scheduled one must see the page as it is now, not as it was a moment before).
    /// `retry`: retry transient failures with backoff (schedules do; admin requests do not).
    pub async fn refresh(self: &Arc<Self>, name: &str, retry: bool) -> RefreshOutcome {
        let fetching = loop {
            let (mut rx, too_old) = {
                let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
                match inflight.get(name) {
                    Some(f) => (f.outcome.subscribe(), f.fetching.load(Ordering::Acquire)),
                    None => {
                        let (outcome, _) = broadcast::channel(1);
                        let fetching = Arc::new(AtomicBool::new(false));
                        inflight.insert(
                            name.to_string(),
                            Inflight {
                                outcome,
                                fetching: Arc::clone(&fetching),
                            },
                        );
                        break fetching;
                    }
                }
            };
            let outcome = match rx.recv().await {
                Ok(o) => o,
                Err(_) => failed(name, "the refresh in progress was interrupted".into()),
            };
            if !too_old {
                return outcome;
            }
        };
        // Clean up the in-flight entry even if this future is dropped mid-way.
        struct Done<'a>(&'a Scheduler, &'a str, Option<RefreshOutcome>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                let entry = self
                    .0
                    .inflight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(self.1);
                if let (Some(entry), Some(o)) = (entry, self.2.take()) {
                    let _ = entry.outcome.send(o);
                }
            }
        }
        let mut done = Done(self, name, None);
        let started = Instant::now();
        let outcome = match CatchUnwind::new(self.refresh_uncollapsed(name, retry, &fetching)).await
        {
            Ok(o) => {
                if self
                    .store
                    .get(name)
                    .is_some_and(|e| e.status.fault.is_some())
                {
                    self.store.update_status(name, |s| s.fault = None);
                }
                o
            }
            Err(msg) => self.panicked(name, &msg, started).await,
        };
        done.2 = Some(outcome.clone());
        drop(done);
        outcome
    }

    /// Record a refresh of `name` that panicked with `msg`: a failure everywhere a failure
    /// shows, plus the fault `/healthz` reports. What is served stays as it was.
    async fn panicked(&self, name: &str, msg: &str, started: Instant) -> RefreshOutcome {
        let now = Utc::now().trunc_subsecs(0);
        let error = format!(
            "the refresh panicked: {msg} (a bug in pagefeed: please report it; the last good \
             feed is still served and the next refresh is at its usual time)"
        );
        tracing::error!(feed = %name, "feed {name}: {error}");
        self.metrics.panic(name);
        self.metrics
            .fetch(name, FetchOutcome::Failed, started.elapsed().as_secs_f64());
        self.store.update_status(name, |s| {
            s.last_refresh = Some(now);
            s.last_error = Some(error.clone());
            s.fault = Some(format!("refresh panicked at {}: {msg}", now.to_rfc3339()));
        });
        let history = Arc::clone(&self.history);
        let (feed, text) = (name.to_string(), error.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let h = history.lock().unwrap_or_else(|p| p.into_inner());
            let _ = h.record_failure(&feed, now, &text);
        })
        .await;
        failed(name, error)
    }

    /// One refresh of `name`; sets `fetching` as it starts to fetch (see [`Inflight`]).
    async fn refresh_uncollapsed(
        self: &Arc<Self>,
        name: &str,
        retry: bool,
        fetching: &AtomicBool,
    ) -> RefreshOutcome {
        let Some(feed) = self.config().feed(name).cloned() else {
            return failed(name, format!("unknown feed `{name}`"));
        };
        let Some(source) = feed.source().cloned() else {
            fetching.store(true, Ordering::Release);
            // A merged feed: render it again from its sources' histories.
            return self
                .process(&feed, None, Utc::now().trunc_subsecs(0), Instant::now())
                .await;
        };
        let started = Instant::now();
        let history = Arc::clone(&self.history);
        let fp = refresh::fingerprint(&feed);
        let fname = feed.name.clone();
        // Read while the feed waits for its turn to fetch: the page's request needs it, the
        // robots.txt's does not.
        let prev_read = tokio::task::spawn_blocking(move || {
            let h = history.lock().unwrap_or_else(|p| p.into_inner());
            h.source_state(&fname)
                .ok()
                .flatten()
                .filter(|st| st.fingerprint == fp)
        });
        let accept = match feed.kind {
            FeedKind::Upstream { .. } => refresh::ACCEPT_FEED,
            _ => refresh::ACCEPT_PAGE,
        };
        // robots.txt first: a disallowed page is never requested. Its fetch (once per host
        // and day) counts against `concurrency` like any other request. The permit then goes
        // on to the page's fetch when the host's turn is now: one request at a time either
        // way, but the feed does not queue again behind every other feed's robots.txt (at
        // start-up, the pages would all wait until every robots.txt was fetched, and their
        // processing would pile up at the end instead of running alongside the fetches).
        let permit = self.permits.acquire().await.ok();
        let verdict = self.robots.check_feed(&self.fetcher, &feed).await;
        let prev = prev_read.await.ok().flatten();
        let mut carried = permit;
        let crawl_delay = match verdict {
            Ok(d) => d,
            Err(e) => {
                drop(carried);
                let now = Utc::now().trunc_subsecs(0);
                return self
                    .process(
                        &feed,
                        Some((Err(e), crate::pages::Further::default(), prev)),
                        now,
                        started,
                    )
                    .await;
            }
        };
        let mut attempt = 0;
        let (fetched, now) = loop {
            let now = Utc::now().trunc_subsecs(0);
            if let Source::Http(u) = &source
                && let Some(at) = self
                    .hosts
                    .take_turn(u.host_str().unwrap_or(""), crawl_delay)
                && at > Instant::now()
            {
                // No permit is held while waiting for the host's turn.
                carried = None;
                tokio::time::sleep_until(at.into()).await;
            }
            let result = {
                let _permit = match carried.take() {
                    Some(p) => Some(p),
                    None => self.permits.acquire().await.ok(),
                };
                fetching.store(true, Ordering::Release);
                crate::source::browser::load_listing(
                    &self.fetcher,
                    &self.chromium,
                    &feed,
                    &source,
                    prev.as_ref().map(|p| &p.validators),
                    accept,
                )
                .await
            };
            match &result {
                Err(e) if retry && e.is_transient() && attempt < MAX_RETRIES => {
                    let backoff = FIRST_BACKOFF * 2u32.pow(attempt);
                    let wait = e.retry_after().unwrap_or(backoff);
                    if wait > LONGEST_RETRY_WAIT {
                        self.not_before
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(name.to_string(), later(now, wait.min(LONGEST_NOT_BEFORE)));
                        break (result, now);
                    }
                    tracing::info!(feed = name, error = %e, retry_in = ?wait, "transient failure; retrying");
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                _ => break (result, now),
            }
        };
        // Further pages of a listing, one after another at the host's pace.
        let polite = ServePoliteness {
            scheduler: self,
            feed: &feed,
        };
        let further = crate::pages::walk(&polite, &feed, &fetched, prev.as_ref(), now).await;
        self.process(&feed, Some((fetched, further, prev)), now, started)
            .await
    }

    /// Store what was fetched, render the feed and the merged feeds that use it, publish
    /// them, and tell the hub. `fetched` is `None` for a merged feed.
    async fn process(
        self: &Arc<Self>,
        feed: &FeedConfig,
        fetched: Option<(
            Result<Fetched, FetchError>,
            crate::pages::Further,
            Option<crate::feed::history::SourceState>,
        )>,
        now: DateTime<Utc>,
        started: Instant,
    ) -> RefreshOutcome {
        // A feed with articles is refreshed first, then its new items' article pages are
        // fetched (outside the history's lock), then they are stored and the feed rendered.
        let (fetched, pre, attempts) = match fetched {
            Some(work) if feed.article.is_some() => {
                let (pre, attempts) = self.refresh_then_articles(feed, work, now).await;
                (None, Some(pre), attempts)
            }
            other => (other, None, Vec::new()),
        };
        let this = Arc::clone(self);
        let f = feed.clone();
        // The write runs to its end even if this task is aborted (shutdown waits for it).
        let job = tokio::task::spawn_blocking(move || {
            this.writing.fetch_add(1, Ordering::SeqCst);
            let _done = WriteGuard(&this);
            let mut history = this.history.lock().unwrap_or_else(|p| p.into_inner());
            #[cfg(debug_assertions)]
            debug_fault_injection(&f.name);
            let refreshed = match (pre, fetched) {
                (Some(pre), _) => pre,
                (None, Some((fetched, further, prev))) => {
                    refresh::refresh(&f, fetched, further, prev, &mut history, now)
                        .map(Some)
                        .map_err(|e| {
                            let _ = history.record_failure(&f.name, now, &e.to_string());
                            e.to_string()
                        })
                }
                (None, None) => Ok(None),
            };
            let mut refreshed = refreshed?;
            if !attempts.is_empty() {
                match crate::articles::store(&f, &mut history, attempts, now) {
                    Ok(w) => {
                        if let Some(r) = refreshed.as_mut() {
                            r.warnings.extend(w);
                        }
                    }
                    Err(e) => {
                        let _ = history.record_failure(&f.name, now, &e.to_string());
                        return Err(e.to_string());
                    }
                }
            }
            // Render and publish here, off the async workers: compressing a large feed takes
            // milliseconds. The feeds are rendered under the history's lock, then published
            // (compressed) under the store's: it is taken before the history is let go, so
            // versions are published in the order they were rendered, while the next refresh
            // already works on the history.
            let config = this.config();
            let mut names = vec![f.name.clone()];
            names.extend(dependents(&config, &f.name));
            let rendered: Vec<(String, refresh::Rendered)> = names
                .into_iter()
                .filter_map(|name| {
                    let feed = config.feed(&name)?;
                    let r = refresh::render_feed(&config, &history, feed, now).ok()?;
                    Some((name, r))
                })
                .collect();
            let coverage = history.coverage(&f.name).ok().flatten();
            let _publishing = this.publishing.lock().unwrap_or_else(|p| p.into_inner());
            drop(history);
            let published: Vec<(String, usize, Vec<Format>)> = rendered
                .into_iter()
                .map(|(name, r)| {
                    let changed = this.store.publish(&name, &r, now);
                    (name, r.items, changed)
                })
                .collect();
            Ok((refreshed, published, coverage))
        })
        .await;
        let result = match job {
            Ok(r) => r,
            // On to `refresh`, which reports panics of every part of a refresh alike.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(format!(
                "the refresh was cancelled ({e}); the service is shutting down"
            )),
        };
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Err(error) => {
                let msg = format!(
                    "feed {}: {error}; still serving the last good feed",
                    feed.name
                );
                tracing::warn!(feed = %feed.name, url = %feed.source().map(|s| s.to_string()).unwrap_or_default(), "{msg}");
                self.metrics
                    .fetch(&feed.name, FetchOutcome::Failed, seconds);
                self.store.update_status(&feed.name, |s| {
                    s.last_refresh = Some(now);
                    s.last_error = Some(error.clone());
                });
                failed(&feed.name, error)
            }
            Ok((refreshed, published, coverage)) => {
                let mut changed_urls = Vec::new();
                let mut own_changed = false;
                let mut own_items = 0;
                for (name, items, changed) in &published {
                    self.metrics.items(name, *items);
                    if *name == feed.name {
                        own_changed = !changed.is_empty();
                        own_items = *items;
                    }
                    changed_urls.extend(self_urls(&self.config(), name, changed));
                }
                let fetch_outcome = match &refreshed {
                    Some(r) if r.page_unchanged => FetchOutcome::NotModified,
                    _ if own_changed => FetchOutcome::Changed,
                    _ => FetchOutcome::Unchanged,
                };
                if refreshed.is_some() {
                    self.metrics.fetch(&feed.name, fetch_outcome, seconds);
                }
                for w in refreshed.iter().flat_map(|r| r.warnings.iter()) {
                    tracing::warn!(feed = %feed.name, "{w}");
                }
                // A page not read again (304, same bytes) leaves the last warnings standing.
                let warnings = refreshed
                    .as_ref()
                    .filter(|r| !r.page_unchanged)
                    .map(|r| r.warnings.clone());
                self.metrics.health(
                    &feed.name,
                    coverage.as_ref(),
                    warnings.as_ref().map(Vec::len),
                );
                self.store.update_status(&feed.name, |s| {
                    s.coverage = coverage;
                    if let Some(w) = warnings {
                        s.warnings = w;
                    }
                    s.last_refresh = Some(now);
                    s.last_success = Some(now);
                    s.last_error = None;
                });
                tracing::info!(feed = %feed.name, changed = own_changed, items = own_items, seconds, "refreshed");
                if let Some(hub) = &self.websub
                    && !changed_urls.is_empty()
                {
                    hub.publish(changed_urls).await;
                }
                RefreshOutcome {
                    feed: feed.name.clone(),
                    status: if own_changed { "changed" } else { "unchanged" }.to_string(),
                    items: own_items,
                    error: None,
                }
            }
        }
    }

    /// Refresh a feed with `[feeds.NAME.article]` into the history, then fetch its queued
    /// article pages at the host's pace; the attempts are stored by [`Self::process`].
    async fn refresh_then_articles(
        self: &Arc<Self>,
        feed: &FeedConfig,
        work: (
            Result<Fetched, FetchError>,
            crate::pages::Further,
            Option<crate::feed::history::SourceState>,
        ),
        now: DateTime<Utc>,
    ) -> (
        Result<Option<refresh::Refreshed>, String>,
        Vec<crate::articles::Attempt>,
    ) {
        let this = Arc::clone(self);
        let f = feed.clone();
        let job = tokio::task::spawn_blocking(move || {
            this.writing.fetch_add(1, Ordering::SeqCst);
            let _done = WriteGuard(&this);
            let mut history = this.history.lock().unwrap_or_else(|p| p.into_inner());
            #[cfg(debug_assertions)]
            debug_fault_injection(&f.name);
            let (fetched, further, prev) = work;
            match refresh::refresh(&f, fetched, further, prev, &mut history, now) {
                Ok(r) => Ok((
                    r,
                    crate::articles::pending(&f, &history).unwrap_or_default(),
                )),
                Err(e) => {
                    let _ = history.record_failure(&f.name, now, &e.to_string());
                    Err(e.to_string())
                }
            }
        })
        .await;
        match job {
            Ok(Ok((r, pending))) => {
                let polite = ServePoliteness {
                    scheduler: self,
                    feed,
                };
                let attempts = crate::articles::fetch(&polite, feed, pending).await;
                (Ok(Some(r)), attempts)
            }
            Ok(Err(e)) => (Err(e), Vec::new()),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => (
                Err(format!(
                    "the refresh was cancelled ({e}); the service is shutting down"
                )),
                Vec::new(),
            ),
        }
    }

    /// Wait (at most `limit`) until no refresh is writing.
    /// Close the headless browser, if one was started.
    pub async fn close_browser(&self) {
        self.chromium.close().await;
    }

    pub async fn writes_finished(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.writing.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            let notified = self.writes_done.notified();
            if self.writing.load(Ordering::SeqCst) == 0 {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }
}

/// Counts a history write as finished when dropped.
struct WriteGuard<'a>(&'a Scheduler);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if self.0.writing.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.writes_done.notify_waiters();
        }
    }
}

/// Run `task` until it returns while `stop` is true. When it panics, or returns while `stop`
/// is false, tell `died` (the message, the pause before the restart), pause and run it again.
/// The pause starts at `first` and doubles up to `max`; it starts again at `first` after a
/// run that lasted longer than `max`.
async fn supervise<F, Fut>(
    mut task: F,
    mut died: impl FnMut(&str, Duration),
    mut stop: watch::Receiver<bool>,
    (first, max): (Duration, Duration),
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut delay = first;
    loop {
        let started = Instant::now();
        let msg = match CatchUnwind::new(task()).await {
            Ok(()) if *stop.borrow() => return,
            Ok(()) => "it ended without being asked to".to_string(),
            Err(msg) => msg,
        };
        if started.elapsed() > max {
            delay = first;
        }
        died(&msg, delay);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        delay = (delay * 2).min(max);
    }
}

/// `wait` after `now`, or the latest time there is when that is beyond it (a `Retry-After` of
/// a million years must not overflow).
fn later(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Test-only fault injection, compiled into debug builds only (`cargo build`/`cargo test`,
/// never `--release`): when the environment variable `PAGEFEED_DEBUG_PANIC_FILE` names a
/// file with `feed`'s name alone on a line, the refresh panics in its blocking task while it
/// holds the history. The file is read at every refresh, so a test can start and stop the
/// panics while the service runs.
#[cfg(debug_assertions)]
fn debug_fault_injection(feed: &str) {
    let Some(path) = std::env::var_os("PAGEFEED_DEBUG_PANIC_FILE") else {
        return;
    };
    let listed = std::fs::read_to_string(path).is_ok_and(|t| t.lines().any(|l| l.trim() == feed));
    if listed {
        panic!("fault injected for feed {feed} by PAGEFEED_DEBUG_PANIC_FILE");
    }
}

fn failed(name: &str, error: String) -> RefreshOutcome {
    RefreshOutcome {
        feed: name.to_string(),
        status: "failed".to_string(),
        items: 0,
        error: Some(error),
    }
}

/// The merged feeds that draw on `name`, directly or through other merged feeds, innermost
/// first.
fn dependents(config: &Config, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut frontier = vec![name.to_string()];
    while let Some(n) = frontier.pop() {
        for f in &config.feeds {
            if f.merge_sources().contains(&n) && !out.contains(&f.name) {
                out.push(f.name.clone());
                frontier.push(f.name.clone());
            }
        }
    }
    out
}

/// The public URLs of a feed's changed formats (for WebSub); none without `base_url`.
fn self_urls(config: &Config, name: &str, formats: &[Format]) -> Vec<String> {
    let Some(base) = &config.settings.base_url else {
        return Vec::new();
    };
    formats
        .iter()
        .filter(|f| matches!(f, Format::Rss | Format::Atom))
        .filter_map(|f| base.join(&format!("{name}.{}", f.ext())).ok())
        .map(|u| u.to_string())
        .collect()
}

/// A stable pseudo-random delay in [0, min(period / 10, 30 s)], different per feed and run.
fn jitter(name: &str, period: Duration) -> chrono::Duration {
    let cap = (period / 10).min(Duration::from_secs(30));
    if cap.is_zero() {
        return chrono::Duration::zero();
    }
    let seed = format!("{name}{:?}", Instant::now());
    let h = crate::feed::item::stable_hash(&[&seed]);
    let n = u64::from_str_radix(&h[..12], 16).unwrap_or(0);
    let ms = n % (cap.as_millis() as u64 + 1);
    chrono::Duration::milliseconds(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_small() {
        for _ in 0..50 {
            let j = jitter("feed", Duration::from_secs(1800));
            assert!(j >= chrono::Duration::zero() && j <= chrono::Duration::seconds(30));
        }
        assert_eq!(jitter("f", Duration::ZERO), chrono::Duration::zero());
    }

    #[tokio::test]
    async fn a_dead_task_is_reported_and_restarted_until_stopped() {
        let (stop_tx, stop_rx) = watch::channel(false);
        let runs = std::cell::Cell::new(0);
        let deaths = std::cell::RefCell::new(Vec::new());
        supervise(
            || {
                runs.set(runs.get() + 1);
                let n = runs.get();
                let stop_tx = &stop_tx;
                async move {
                    tokio::task::yield_now().await;
                    match n {
                        1 | 2 => panic!("run {n} broke"),
                        3 => {}
                        _ => {
                            let _ = stop_tx.send(true);
                        }
                    }
                }
            },
            |msg, delay| deaths.borrow_mut().push((msg.to_string(), delay)),
            stop_rx,
            (Duration::from_millis(10), Duration::from_millis(25)),
        )
        .await;
        assert_eq!(runs.get(), 4);
        assert_eq!(
            deaths.into_inner(),
            [
                ("run 1 broke".to_string(), Duration::from_millis(10)),
                ("run 2 broke".to_string(), Duration::from_millis(20)),
                (
                    "it ended without being asked to".to_string(),
                    Duration::from_millis(25)
                ),
            ]
        );

        // A stop during the pause ends it at once.
        let (stop_tx, stop_rx) = watch::channel(false);
        let supervised = supervise(
            || async { panic!("always") },
            |_, _| {
                let _ = stop_tx.send(true);
            },
            stop_rx,
            (Duration::from_secs(3600), Duration::from_secs(3600)),
        );
        let ended = tokio::time::timeout(Duration::from_secs(5), supervised).await;
        assert!(ended.is_ok());
    }

    #[test]
    fn a_huge_retry_after_does_not_overflow() {
        let now = Utc::now();
        assert_eq!(
            later(now, Duration::from_secs(60)),
            now + chrono::Duration::seconds(60)
        );
        // Within chrono's Duration but past the last representable date.
        assert_eq!(
            later(now, Duration::from_secs(9_000_000_000_000)),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(later(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[tokio::test]
    async fn host_gate_spaces_requests_to_one_host() {
        let gate = HostGate {
            delay: Duration::from_millis(1500),
            next: Mutex::new(HashMap::new()),
        };
        let start = Instant::now();
        gate.wait("a", None).await;
        gate.wait("b", None).await;
        assert!(
            start.elapsed() < Duration::from_millis(1000),
            "other hosts do not wait"
        );
        gate.wait("a", None).await;
        assert!(
            start.elapsed() >= Duration::from_millis(1500),
            "same host waits"
        );
    }

    #[tokio::test]
    async fn a_crawl_delay_longer_than_host_delay_spaces_the_host_by_it() {
        // Sleeping guarantees these lower bounds on any machine.
        let gate = HostGate {
            delay: Duration::from_millis(100),
            next: Mutex::new(HashMap::new()),
        };
        let start = Instant::now();
        gate.wait("a", Some(Duration::from_millis(300))).await;
        gate.wait("a", Some(Duration::from_millis(300))).await;
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "Crawl-delay wins"
        );
        let start = Instant::now();
        gate.wait("b", Some(Duration::from_millis(10))).await;
        gate.wait("b", Some(Duration::from_millis(10))).await;
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "host_delay wins over a shorter one"
        );
    }
}

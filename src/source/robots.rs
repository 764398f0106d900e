//! robots.txt: may pagefeed fetch a scraped page, and how slowly.
//!
//! The rules are read with the `texting_robots` crate (groups chosen by pagefeed's product
//! token with `*` as the fallback, the longest matching `Allow`/`Disallow` wins, `*` and `$` in
//! paths, `Crawl-delay`). This module adds what RFC 9309 leaves to the crawler:
//!
//! - a host is a scheme, host and port; its robots.txt is fetched at most once per run and
//!   reused for a day (the caller keeps the files in the history, see [`Robots::fetched`]);
//! - an answer of HTTP 4xx (but 429) means the site has no rules: everything is allowed;
//! - a server error (5xx), 429, a network error or a robots.txt that cannot be read means
//!   "unreachable": everything is disallowed (RFC 9309, 2.3.1.4), unless an older copy is
//!   stored, which is then used (2.4 allows a cached copy while the file is unreachable).
//!   Nothing is stored for an unreachable robots.txt, so the next run asks again.
//!
//! Upstream feeds (`feed_url`) and local files are not subject to robots.txt; callers only
//! ask about scraped `http(s)` pages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OnceCell};
use url::Url;

use crate::config::{FeedConfig, FeedKind, HOST_DELAY_RANGE, Source};
use crate::source::fetch::{FetchError, Fetcher};

/// How long a fetched robots.txt is used before it is fetched again (RFC 9309, 2.4).
pub const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The `Accept` header of a robots.txt request.
const ACCEPT_TEXT: &str = "text/plain,*/*;q=0.5";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RobotsError {
    #[error("{robots_url} cannot be read: {reason}")]
    Invalid { robots_url: String, reason: String },
}

/// One host's rules for pagefeed.
#[derive(Debug)]
pub struct Rules {
    /// `None`: the site has no robots.txt (everything is allowed).
    robot: Option<texting_robots::Robot>,
}

impl Rules {
    /// The rules of a site without a robots.txt.
    pub fn allow_all() -> Self {
        Rules { robot: None }
    }

    /// Read `body` (a robots.txt) for the crawler whose product token is `agent`.
    pub fn parse(agent: &str, body: &[u8], robots_url: &Url) -> Result<Self, RobotsError> {
        texting_robots::Robot::new(agent, body)
            .map(|r| Rules { robot: Some(r) })
            .map_err(|e| RobotsError::Invalid {
                robots_url: robots_url.to_string(),
                reason: e.to_string(),
            })
    }

    /// May `url` (on this rules' host) be fetched?
    pub fn allows(&self, url: &Url) -> bool {
        self.robot.as_ref().is_none_or(|r| r.allowed(url.as_str()))
    }

    /// The site's `Crawl-delay` for pagefeed, if it gives a usable one, at most the largest
    /// `host_delay` pagefeed accepts.
    pub fn crawl_delay(&self) -> Option<Duration> {
        let secs = self.robot.as_ref()?.delay?;
        if !secs.is_finite() || secs <= 0.0 {
            return None;
        }
        let d = Duration::try_from_secs_f32(secs).unwrap_or(HOST_DELAY_RANGE.max);
        Some(d.min(HOST_DELAY_RANGE.max))
    }
}

/// pagefeed's product token in a User-Agent: `pagefeed` in `pagefeed/0.1 (+https://…)`. The
/// token is the leading run of letters, `_` and `-` (RFC 9309, 2.2.1); `*` when there is none.
pub fn product_token(user_agent: &str) -> &str {
    let end = user_agent
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '_' || c == '-'))
        .unwrap_or(user_agent.len());
    match user_agent.get(..end) {
        Some(t) if !t.is_empty() => t,
        _ => "*",
    }
}

/// The host a URL's robots.txt belongs to: `https://example.org:443`. `None` for URLs that
/// have no robots.txt (not `http` or `https`, or without a host).
pub fn host_key(url: &Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(format!("{}://{host}:{port}", url.scheme()))
}

/// Where a URL's robots.txt is.
pub fn robots_url(url: &Url) -> Option<Url> {
    host_key(url)?;
    let mut u = url.join("/robots.txt").ok()?;
    u.set_username("").ok()?;
    u.set_password(None).ok()?;
    u.set_query(None);
    u.set_fragment(None);
    Some(u)
}

/// A host's robots.txt as last fetched (the caller keeps these between runs, in the
/// history): `body` is `None` when the site had none (HTTP 4xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// [`host_key`] of the site.
    pub host: String,
    /// When it was fetched, in Unix seconds.
    pub fetched_at: i64,
    pub body: Option<Vec<u8>>,
}

/// What asking for a robots.txt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The file (HTTP 2xx after redirects).
    Body(Vec<u8>),
    /// HTTP 4xx other than 429: the site has no rules.
    Unavailable,
    /// 5xx, 429, a network error, a file too large: why.
    Unreachable(String),
}

impl Answer {
    /// Sort the result of fetching a robots.txt.
    pub fn of(result: Result<Vec<u8>, FetchError>) -> Self {
        match result {
            Ok(body) => Answer::Body(body),
            Err(FetchError::Status { status, .. })
                if (400..500).contains(&status) && status != 429 =>
            {
                Answer::Unavailable
            }
            Err(e) => Answer::Unreachable(e.to_string()),
        }
    }
}

/// What robots.txt says about one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fetch it, no sooner than `crawl_delay` after the previous request to the host.
    Allowed { crawl_delay: Option<Duration> },
    /// The site's robots.txt disallows it for pagefeed.
    Disallowed { robots_url: String },
    /// The robots.txt could not be fetched or read, and no copy is stored: nothing on the host
    /// may be fetched this run.
    Unreachable { robots_url: String, reason: String },
}

impl Verdict {
    /// The message that fails feed `feed` whose page `url` got this verdict; `None` when allowed.
    pub fn failure(&self, feed: &str, url: &Url) -> Option<String> {
        let way_out = format!(
            "set `ignore_robots = true` in [feeds.{feed}] only if you may fetch it anyway (the site's owner agrees, or it is your site)"
        );
        match self {
            Verdict::Allowed { .. } => None,
            Verdict::Disallowed { robots_url } => Some(format!(
                "feed {feed}: {url} is disallowed for pagefeed by {robots_url}, so it was not fetched; {way_out}"
            )),
            Verdict::Unreachable { robots_url, reason } => Some(format!(
                "feed {feed}: {robots_url} could not be read ({reason}); a site whose robots.txt cannot be read disallows every page (RFC 9309), so {url} was not fetched; the next run asks again, or {way_out}"
            )),
        }
    }
}

/// One host's outcome in a run.
#[derive(Debug)]
struct HostRules {
    robots_url: String,
    rules: Result<Rules, String>,
    /// The row to store when this run fetched the file.
    fetched: Option<StoredFile>,
}

/// The robots.txt of every host a run touches: the stored copies, and one fetch per host
/// whose copy is missing or older than [`MAX_AGE`]. Shared by the run's fetch tasks.
pub struct Robots {
    agent: String,
    now: i64,
    stored: HashMap<String, StoredFile>,
    hosts: Mutex<HashMap<String, Arc<OnceCell<HostRules>>>>,
    /// Files fetched and not yet handed out by [`Robots::take_fetched`].
    pending: std::sync::Mutex<Vec<StoredFile>>,
}

impl Robots {
    /// `user_agent` is the configured one (its product token picks the group); `stored` the
    /// rows the history keeps; `now` the run's time in Unix seconds.
    pub fn new(user_agent: &str, stored: Vec<StoredFile>, now: i64) -> Self {
        Robots {
            agent: product_token(user_agent).to_string(),
            now,
            stored: stored.into_iter().map(|r| (r.host.clone(), r)).collect(),
            hosts: Mutex::new(HashMap::new()),
            pending: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// What robots.txt says about `url`, fetching the host's file with `fetcher` when no fresh
    /// copy is stored. URLs that are not `http(s)` are always allowed.
    pub async fn check(&self, fetcher: &Fetcher, url: &Url) -> Verdict {
        let (Some(host), Some(robots_url)) = (host_key(url), robots_url(url)) else {
            return Verdict::Allowed { crawl_delay: None };
        };
        let cell = {
            let mut hosts = self.hosts.lock().await;
            Arc::clone(hosts.entry(host.clone()).or_default())
        };
        let host_rules = cell
            .get_or_init(|| self.load(fetcher, host, robots_url))
            .await;
        match &host_rules.rules {
            Err(reason) => Verdict::Unreachable {
                robots_url: host_rules.robots_url.clone(),
                reason: reason.clone(),
            },
            Ok(rules) if rules.allows(url) => Verdict::Allowed {
                crawl_delay: rules.crawl_delay(),
            },
            Ok(_) => Verdict::Disallowed {
                robots_url: host_rules.robots_url.clone(),
            },
        }
    }

    async fn load(&self, fetcher: &Fetcher, host: String, robots_url: Url) -> HostRules {
        let stored = self.stored.get(&host);
        let fresh = stored.filter(|r| {
            let age = self.now.saturating_sub(r.fetched_at);
            (0..i64::try_from(MAX_AGE.as_secs()).unwrap_or(i64::MAX)).contains(&age)
        });
        if let Some(row) = fresh {
            return HostRules {
                rules: self.rules_of(row.body.as_deref(), &robots_url),
                robots_url: robots_url.to_string(),
                fetched: None,
            };
        }
        let result = fetcher
            .fetch_if_changed(&Source::Http(robots_url.clone()), None, ACCEPT_TEXT)
            .await
            .and_then(|f| match f {
                crate::source::fetch::Fetched::Page(p) => Ok(p.bytes),
                crate::source::fetch::Fetched::NotModified => Err(FetchError::Status {
                    status: 304,
                    reason: None,
                    retry_after: None,
                }),
            });
        let body = match Answer::of(result) {
            Answer::Body(b) => Some(b),
            Answer::Unavailable => None,
            Answer::Unreachable(reason) => {
                // An older copy stands in while the file is unreachable; it is not stored
                // again, so the next run asks the site again.
                let rules = match stored {
                    Some(row) => self.rules_of(row.body.as_deref(), &robots_url),
                    None => Err(reason),
                };
                return HostRules {
                    rules,
                    robots_url: robots_url.to_string(),
                    fetched: None,
                };
            }
        };
        let rules = self.rules_of(body.as_deref(), &robots_url);
        // A file that cannot be read is not stored either: it counts as unreachable.
        let fetched = rules.is_ok().then_some(StoredFile {
            host,
            fetched_at: self.now,
            body,
        });
        if let Some(f) = &fetched {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(f.clone());
        }
        HostRules {
            rules,
            robots_url: robots_url.to_string(),
            fetched,
        }
    }

    fn rules_of(&self, body: Option<&[u8]>, robots_url: &Url) -> Result<Rules, String> {
        match body {
            None => Ok(Rules::allow_all()),
            Some(b) => Rules::parse(&self.agent, b, robots_url).map_err(|e| match e {
                RobotsError::Invalid { reason, .. } => reason,
            }),
        }
    }

    /// The robots.txt files this run fetched, to be stored in the history.
    pub async fn fetched(&self) -> Vec<StoredFile> {
        let hosts = self.hosts.lock().await;
        let mut rows: Vec<StoredFile> = hosts
            .values()
            .filter_map(|c| c.get().and_then(|h| h.fetched.clone()))
            .collect();
        rows.sort_by(|a, b| a.host.cmp(&b.host));
        rows
    }

    /// The robots.txt files fetched since the last call, each handed out once: a service
    /// stores each file as it comes, and must not store every earlier one again with it.
    pub fn take_fetched(&self) -> Vec<StoredFile> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The delay between requests to a host: the configured `host_delay`, or the site's
    /// `Crawl-delay` where that is larger.
    pub fn host_delay(configured: Duration, verdict: &Verdict) -> Duration {
        match verdict {
            Verdict::Allowed {
                crawl_delay: Some(d),
            } => configured.max(*d),
            _ => configured,
        }
    }
}

impl Robots {
    /// Ask robots.txt about `feed`'s page before it is fetched: `Ok` with the site's
    /// `Crawl-delay` when it may be fetched, the error that fails the feed when not. Only
    /// scraped `http(s)` pages are asked about, and not when the feed sets `ignore_robots`.
    pub async fn check_feed(
        &self,
        fetcher: &Fetcher,
        feed: &FeedConfig,
    ) -> Result<Option<Duration>, FetchError> {
        let url = match &feed.kind {
            FeedKind::Scrape {
                source: Source::Http(url),
                ..
            } if !feed.ignore_robots => url,
            _ => return Ok(None),
        };
        let verdict = self.check(fetcher, url).await;
        match verdict.failure(&feed.name, url) {
            None => Ok(match verdict {
                Verdict::Allowed { crawl_delay } => crawl_delay,
                _ => None,
            }),
            Some(message) => Err(FetchError::Robots {
                message,
                transient: matches!(verdict, Verdict::Unreachable { .. }),
            }),
        }
    }
}

/// Spaces requests to one host: each waits until `delay` after the previous one's slot.
#[derive(Default)]
pub struct HostSpacing {
    next: Mutex<HashMap<String, tokio::time::Instant>>,
}

impl HostSpacing {
    /// Wait for `host`'s next slot, and take it; `delay` later is the slot after it.
    pub async fn wait(&self, host: &str, delay: Duration) {
        let at = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let slot = next.get(host).copied().filter(|t| *t > now).unwrap_or(now);
            next.insert(host.to_string(), slot + delay);
            slot
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    fn rules(body: &str) -> Rules {
        Rules::parse(
            "pagefeed",
            body.as_bytes(),
            &url("https://a.example/robots.txt"),
        )
        .expect("parse")
    }

    fn allows(r: &Rules, path: &str) -> bool {
        r.allows(&url(&format!("https://a.example{path}")))
    }

    #[test]
    fn the_group_of_pagefeed_wins_over_the_star_group() {
        let r = rules(
            "User-agent: *\nDisallow: /\n\nUser-agent: otherbot\nAllow: /\n\nUser-agent: PageFeed\nDisallow: /private\n",
        );
        assert!(allows(&r, "/news/"));
        assert!(!allows(&r, "/private/x"));
    }

    #[test]
    fn without_a_group_of_its_own_pagefeed_follows_star() {
        let r = rules("User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nDisallow: /news\n");
        assert!(!allows(&r, "/news/"));
        assert!(allows(&r, "/about"));
        let none = rules("User-agent: otherbot\nDisallow: /\n");
        assert!(allows(&none, "/anything"));
    }

    #[test]
    fn groups_naming_pagefeed_twice_are_combined() {
        let r = rules(
            "User-agent: pagefeed\nDisallow: /a\n\nUser-agent: *\nDisallow: /c\n\nUser-agent: pagefeed\nDisallow: /b\n",
        );
        assert!(!allows(&r, "/a"));
        assert!(!allows(&r, "/b"));
        assert!(allows(&r, "/c"));
    }

    #[test]
    fn the_longest_match_wins_and_allow_wins_a_tie() {
        let r = rules(
            "User-agent: *\nDisallow: /news\nAllow: /news/today\nDisallow: /news/today/old\n",
        );
        assert!(!allows(&r, "/news/yesterday"));
        assert!(allows(&r, "/news/today"));
        assert!(!allows(&r, "/news/today/old/1"));
        let tie = rules("User-agent: *\nDisallow: /page\nAllow: /page\n");
        assert!(allows(&tie, "/page"));
    }

    #[test]
    fn wildcards_and_end_anchors() {
        let r = rules("User-agent: *\nDisallow: /*.pdf$\nDisallow: /*?print=\n");
        assert!(!allows(&r, "/files/a.pdf"));
        assert!(allows(&r, "/files/a.pdf.html"));
        assert!(!allows(&r, "/news?print=1"));
        assert!(allows(&r, "/news?page=2"));
    }

    #[test]
    fn crawl_delay_is_read_and_bounded() {
        let r = rules("User-agent: pagefeed\nCrawl-delay: 2.5\nDisallow: /x\n");
        assert_eq!(r.crawl_delay(), Some(Duration::from_millis(2500)));
        let huge = rules("User-agent: *\nCrawl-delay: 99999999\n");
        assert_eq!(huge.crawl_delay(), Some(HOST_DELAY_RANGE.max));
        for junk in ["-3", "0", "NaN", "inf", "soon"] {
            let r = rules(&format!("User-agent: *\nCrawl-delay: {junk}\n"));
            assert_eq!(r.crawl_delay(), None, "{junk}");
        }
        assert_eq!(Rules::allow_all().crawl_delay(), None);
    }

    #[test]
    fn product_tokens() {
        assert_eq!(product_token("pagefeed/0.1.0"), "pagefeed");
        assert_eq!(
            product_token("pagefeed (+https://example.org/bot)"),
            "pagefeed"
        );
        assert_eq!(product_token("my_feed-bot/2"), "my_feed-bot");
        assert_eq!(product_token("/x"), "*");
        assert_eq!(product_token(""), "*");
    }

    #[test]
    fn hosts_are_scheme_host_and_port() {
        assert_eq!(
            host_key(&url("https://a.example/x?y")).as_deref(),
            Some("https://a.example:443")
        );
        assert_eq!(
            host_key(&url("http://a.example:8080/")).as_deref(),
            Some("http://a.example:8080")
        );
        assert_ne!(
            host_key(&url("http://a.example/")),
            host_key(&url("https://a.example/"))
        );
        assert_eq!(host_key(&url("file:///tmp/x.html")), None);
        assert_eq!(
            robots_url(&url("https://u:p@a.example:8443/news/?p=2#top")).map(String::from),
            Some("https://a.example:8443/robots.txt".to_string())
        );
    }

    #[test]
    fn answers_by_status() {
        let status = |s: u16| {
            Answer::of(Err(FetchError::Status {
                status: s,
                reason: None,
                retry_after: None,
            }))
        };
        assert_eq!(status(404), Answer::Unavailable);
        assert_eq!(status(410), Answer::Unavailable);
        assert_eq!(status(403), Answer::Unavailable);
        assert!(matches!(status(429), Answer::Unreachable(_)));
        assert!(matches!(status(500), Answer::Unreachable(_)));
        assert!(matches!(status(503), Answer::Unreachable(_)));
        assert!(matches!(
            Answer::of(Err(FetchError::Request("cannot connect".into()))),
            Answer::Unreachable(_)
        ));
        assert_eq!(Answer::of(Ok(b"x".to_vec())), Answer::Body(b"x".to_vec()));
    }

    #[test]
    fn failure_messages_name_the_feed_the_url_and_the_way_out() {
        let page = url("http://a.example/news/");
        let m = Verdict::Disallowed {
            robots_url: "http://a.example/robots.txt".into(),
        }
        .failure("news", &page)
        .expect("fails");
        for part in [
            "feed news",
            "http://a.example/news/",
            "disallowed",
            "http://a.example/robots.txt",
            "ignore_robots = true",
        ] {
            assert!(m.contains(part), "{m}");
        }
        let m = Verdict::Unreachable {
            robots_url: "http://a.example/robots.txt".into(),
            reason: "the server answered HTTP 503".into(),
        }
        .failure("news", &page)
        .expect("fails");
        assert!(
            m.contains("HTTP 503") && m.contains("ignore_robots = true"),
            "{m}"
        );
        assert_eq!(
            Verdict::Allowed { crawl_delay: None }.failure("news", &page),
            None
        );
    }

    #[test]
    fn host_delay_is_the_larger_of_the_two() {
        let slow = Verdict::Allowed {
            crawl_delay: Some(Duration::from_secs(5)),
        };
        assert_eq!(
            Robots::host_delay(Duration::from_secs(1), &slow),
            Duration::from_secs(5)
        );
        assert_eq!(
            Robots::host_delay(Duration::from_secs(9), &slow),
            Duration::from_secs(9)
        );
        assert_eq!(
            Robots::host_delay(
                Duration::from_secs(1),
                &Verdict::Allowed { crawl_delay: None }
            ),
            Duration::from_secs(1)
        );
    }

    /// A server on 127.0.0.1 answering every request with `status` and `body`, counting them.
    fn serve(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (origin, hits)
    }

    fn fetcher() -> Fetcher {
        let config = crate::config::parse(
            std::path::Path::new("p.toml"),
            "[feeds.a]\nfeed_url = \"http://127.0.0.1/\"\n",
        )
        .expect("config");
        Fetcher::new(&config.settings).expect("fetcher")
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn one_fetch_per_host_per_run_and_the_file_is_returned_for_storing() {
        let (origin, hits) = serve(
            200,
            "User-agent: pagefeed\nDisallow: /private\nCrawl-delay: 3\n",
        );
        let f = fetcher();
        let robots = Robots::new("pagefeed/0.1", Vec::new(), 1_000);
        let (a, b) = run(async {
            let a = robots.check(&f, &url(&format!("{origin}/news/"))).await;
            let b = robots.check(&f, &url(&format!("{origin}/private/1"))).await;
            (a, b)
        });
        assert_eq!(
            a,
            Verdict::Allowed {
                crawl_delay: Some(Duration::from_secs(3))
            }
        );
        assert!(matches!(b, Verdict::Disallowed { .. }), "{b:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let stored = run(robots.fetched());
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].fetched_at, 1_000);
        assert!(stored[0].host.starts_with("http://127.0.0.1:"));
        assert_eq!(robots.take_fetched(), stored, "handed out once");
        assert_eq!(robots.take_fetched(), [], "and not again");

        // The next run within a day uses the stored copy; a day later it asks again.
        let next = Robots::new("pagefeed/0.1", stored.clone(), 1_000 + 3_600);
        let v = run(next.check(&f, &url(&format!("{origin}/private/2"))));
        assert!(matches!(v, Verdict::Disallowed { .. }), "{v:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(run(next.fetched()), []);
        let later = Robots::new("pagefeed/0.1", stored, 1_000 + 86_400);
        run(later.check(&f, &url(&format!("{origin}/news/"))));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn not_found_allows_everything_and_is_stored() {
        let (origin, _) = serve(404, "no");
        let f = fetcher();
        let robots = Robots::new("pagefeed", Vec::new(), 7);
        let v = run(robots.check(&f, &url(&format!("{origin}/x"))));
        assert_eq!(v, Verdict::Allowed { crawl_delay: None });
        let stored = run(robots.fetched());
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].body, None);
    }

    #[test]
    fn a_server_error_disallows_everything_unless_an_old_copy_is_stored() {
        let (origin, _) = serve(503, "busy");
        let f = fetcher();
        let page = url(&format!("{origin}/news/"));
        let robots = Robots::new("pagefeed", Vec::new(), 100_000);
        let v = run(robots.check(&f, &page));
        match &v {
            Verdict::Unreachable { reason, .. } => assert!(reason.contains("503"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(run(robots.fetched()), [], "nothing stored for an error");

        let Some(host) = host_key(&page) else {
            panic!("host")
        };
        let old = StoredFile {
            host,
            fetched_at: 1,
            body: Some(b"User-agent: *\nDisallow: /private\n".to_vec()),
        };
        let robots = Robots::new("pagefeed", vec![old], 100_000);
        assert_eq!(
            run(robots.check(&f, &page)),
            Verdict::Allowed { crawl_delay: None }
        );
        assert_eq!(run(robots.fetched()), []);
    }

    #[test]
    fn a_network_error_disallows_everything() {
        // A port that was just free: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let f = fetcher();
        let robots = Robots::new("pagefeed", Vec::new(), 5);
        let v = run(robots.check(&f, &url(&format!("http://127.0.0.1:{port}/news/"))));
        assert!(matches!(v, Verdict::Unreachable { .. }), "{v:?}");
    }

    #[test]
    fn local_files_are_not_asked_about() {
        let f = fetcher();
        let robots = Robots::new("pagefeed", Vec::new(), 5);
        let v = run(robots.check(&f, &url("file:///tmp/page.html")));
        assert_eq!(v, Verdict::Allowed { crawl_delay: None });
    }
}

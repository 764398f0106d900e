//! Getting a page's bytes: over HTTP(S) with reqwest, or from a local file.
//!
//! This stage owns the network policy (timeout, redirect limit, compression, the size cap, the
//! User-Agent) and nothing else: it hands raw bytes and the response's `Content-Type` to the
//! decoder. A page larger than `max_page_bytes` is refused while it streams in, so a runaway
//! response never fills memory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::config::{Settings, Source};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{0}")]
    Request(String),
    #[error("the server answered HTTP {status}{}", reason.as_deref().map(|r| format!(" {r}")).unwrap_or_default())]
    Status {
        status: u16,
        reason: Option<String>,
        /// The server's `Retry-After`, for 429 and 503.
        retry_after: Option<Duration>,
    },
    #[error(
        "the page is larger than max_page_bytes ({limit} bytes); raise max_page_bytes in [settings] if it is really that big"
    )]
    TooLarge { limit: u64 },
    /// The site's robots.txt keeps pagefeed from the page (see [`super::robots`]): the whole
    /// message, naming the feed and the way out; `transient` when the robots.txt could not be
    /// read (the next run asks again).
    #[error("{message}")]
    Robots { message: String, transient: bool },
    /// Loading the page in headless Chromium failed (`render = "chromium"`, see
    /// [`super::browser`]): the whole message; `transient` when the browser itself failed
    /// (it is started again on the next run).
    #[error("{message}")]
    Browser { message: String, transient: bool },
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A fetched page, not yet decoded.
#[derive(Debug, Clone)]
pub struct Page {
    pub bytes: Vec<u8>,
    /// The `Content-Type` header, for its charset.
    pub content_type: Option<String>,
    /// The address after redirects (a `file:` URL for local files).
    pub url: Url,
    /// The response's validators, sent back on the next fetch.
    pub validators: Validators,
}

/// HTTP cache validators of a page (`ETag`, `Last-Modified`), kept between runs so the next
/// request can be conditional and cost the site nothing when the page did not change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The result of a fetch: a page, or the server's word that it did not change.
#[derive(Debug, Clone)]
pub enum Fetched {
    Page(Page),
    NotModified,
}

/// A reusable fetcher: one HTTP client (connection pool) for a whole run, built on the
/// first HTTP fetch (loading the TLS roots costs milliseconds a run of local files need not pay).
pub struct Fetcher {
    client: std::sync::OnceLock<Result<reqwest::Client, String>>,
    user_agent: String,
    timeout: Duration,
    max_bytes: u64,
}

impl Fetcher {
    pub fn new(settings: &Settings) -> Result<Self, FetchError> {
        Ok(Fetcher {
            client: std::sync::OnceLock::new(),
            user_agent: settings.user_agent.clone(),
            timeout: settings.timeout,
            max_bytes: settings.max_page_bytes,
        })
    }

    fn client(&self) -> Result<&reqwest::Client, FetchError> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .user_agent(self.user_agent.clone())
                    .timeout(self.timeout)
                    .connect_timeout(self.timeout.min(Duration::from_secs(10)))
                    .redirect(reqwest::redirect::Policy::limited(10))
                    // Keep-alive saves a handshake per refresh, but a service that fetches
                    // thousands of feeds must not hold a socket per page for ever.
                    .pool_max_idle_per_host(8)
                    .pool_idle_timeout(Duration::from_secs(90))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| FetchError::Client(e.clone()))
    }

    /// Fetch `source` unconditionally.
    pub async fn fetch(&self, source: &Source) -> Result<Page, FetchError> {
        match self
            .fetch_if_changed(
                source,
                None,
                "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
            )
            .await?
        {
            Fetched::Page(p) => Ok(p),
            // Only a conditional request can get a 304; treat a stray one as an error.
            Fetched::NotModified => Err(FetchError::Status {
                status: 304,
                reason: Some("Not Modified".to_string()),
                retry_after: None,
            }),
        }
    }

    /// Fetch `source`, conditionally when `validators` are given, asking for `accept`.
    pub async fn fetch_if_changed(
        &self,
        source: &Source,
        validators: Option<&Validators>,
        accept: &str,
    ) -> Result<Fetched, FetchError> {
        match source {
            Source::Http(url) => self.fetch_http(url, validators, accept).await,
            Source::File(path) => self.read_file(path).map(Fetched::Page),
        }
    }

    async fn fetch_http(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        accept: &str,
    ) -> Result<Fetched, FetchError> {
        let mut req = self
            .client()?
            .get(url.clone())
            .header(reqwest::header::ACCEPT, accept);
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
            }
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| FetchError::Request(describe(&e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && validators.is_some() {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return Err(FetchError::Status {
                status: status.as_u16(),
                reason: status.canonical_reason().map(str::to_string),
                retry_after,
            });
        }
        if resp.content_length().is_some_and(|n| n > self.max_bytes) {
            return Err(FetchError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let final_url = resp.url().clone();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Request(describe(&e)))?
        {
            let total = bytes.len().saturating_add(chunk.len());
            if u64::try_from(total).unwrap_or(u64::MAX) > self.max_bytes {
                return Err(FetchError::TooLarge {
                    limit: self.max_bytes,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Page(Page {
            bytes,
            content_type,
            url: final_url,
            validators,
        }))
    }

    fn read_file(&self, path: &Path) -> Result<Page, FetchError> {
        let file_err = |source| FetchError::File {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(file_err)?;
        if meta.len() > self.max_bytes {
            return Err(FetchError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let bytes = std::fs::read(path).map_err(file_err)?;
        let abs = std::path::absolute(path).map_err(file_err)?;
        let url = Url::from_file_path(&abs).map_err(|()| {
            file_err(std::io::Error::other(
                "the path cannot be written as a file: URL",
            ))
        })?;
        Ok(Page {
            bytes,
            content_type: None,
            url,
            validators: Validators::default(),
        })
    }
}

impl FetchError {
    /// Worth trying again soon: timeouts, connection failures, 5xx, 429.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Request(_) => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 429,
            FetchError::Robots { transient, .. } | FetchError::Browser { transient, .. } => {
                *transient
            }
            _ => false,
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// `Retry-After`: delay in seconds, or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// A reqwest error said briefly: what went wrong and its root cause ("Connection refused"),
/// without reqwest's wrapper text that repeats the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut root = None;
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        root = Some(s.to_string());
        src = s.source();
    }
    let what = if e.is_timeout() {
        "timed out (raise timeout in [settings] if the site is slow)"
    } else if e.is_redirect() {
        "too many redirects (more than 10)"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read"
    } else {
        "request failed"
    };
    match root {
        Some(r) if !e.is_timeout() => format!("{what}: {r}"),
        _ => what.to_string(),
    }
}

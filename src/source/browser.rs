//! Pages built by JavaScript (`render = "chromium"`): loaded in headless Chromium.
//!
//! A [`Chromium`] owns one browser process, driven over the DevTools protocol
//! (`chromiumoxide`). It is started on the first page that needs it, reused by every feed of a
//! run (each page in a tab of its own), started again if it died, and closed by [`Chromium::close`];
//! its profile is a fresh temporary directory removed with it. A page is loaded with the
//! fetcher's User-Agent, timeout and size cap, then the browser waits until the feed's
//! `wait_for` selector (by default its item selector) matches, and the rendered DOM is handed
//! on as a [`Page`] like a fetched one, so extraction, health and history do not know the
//! difference. There are no validators: a rendered page is compared by its bytes.

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use futures::StreamExt;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

use super::fetch::{FetchError, Fetched, Fetcher, Page, Validators};
use crate::config::{FeedConfig, Settings, Source};

/// Where Debian's `chromium` package puts the browser.
pub const DEFAULT_PATH: &str = "/usr/bin/chromium";
/// The environment variable naming another browser.
pub const PATH_ENV: &str = "PAGEFEED_CHROMIUM";

/// The browser's flags, exactly: headless, no connection but the page's. The protocol adds
/// its own (`--remote-debugging-port=0`, `--user-data-dir`, `--disable-extensions`).
const FLAGS: [&str; 7] = [
    "headless",
    "no-sandbox",
    "disable-gpu",
    "no-first-run",
    "disable-background-networking",
    "disable-component-update",
    "disable-sync",
];

/// How long a starting browser may take to answer, at least (a cold start on a busy machine).
const LAUNCH_FLOOR: Duration = Duration::from_secs(20);
/// How often the page is asked whether `wait_for` matches yet.
const POLL: Duration = Duration::from_millis(50);
/// How often removing a browser's profile is tried (100 ms apart).
const PROFILE_TRIES: u32 = 20;
/// How long closing a tab or the browser may take before it is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// One headless Chromium for a run (`build`) or a process (`serve`), started when first needed.
pub struct Chromium {
    path: PathBuf,
    /// The path came from [`PATH_ENV`] (said in messages).
    from_env: bool,
    user_agent: String,
    timeout: Duration,
    max_bytes: u64,
    running: Mutex<Option<Running>>,
}

/// A started browser: the protocol client, the task reading its messages, and its profile.
struct Running {
    browser: Browser,
    handler: JoinHandle<()>,
    profile: tempfile::TempDir,
}

impl Chromium {
    /// A browser with the fetcher's policy (`user_agent`, `timeout`, `max_page_bytes`), at
    /// [`PATH_ENV`] when set, else [`DEFAULT_PATH`]. Nothing is started yet.
    pub fn new(settings: &Settings) -> Self {
        let env = std::env::var_os(PATH_ENV).filter(|v| !v.is_empty());
        Chromium {
            from_env: env.is_some(),
            path: env.map_or_else(|| PathBuf::from(DEFAULT_PATH), PathBuf::from),
            user_agent: settings.user_agent.clone(),
            timeout: settings.timeout,
            max_bytes: settings.max_page_bytes,
            running: Mutex::new(None),
        }
    }

    /// Load `url`, wait until `wait_for` matches (none: the load event), and return the
    /// rendered DOM as a page.
    pub async fn render(&self, url: &Url, wait_for: Option<&str>) -> Result<Page, FetchError> {
        let tab = self.open_tab().await?;
        let result = self.load(&tab, url, wait_for).await;
        if tokio::time::timeout(CLOSE_GRACE, tab.close())
            .await
            .is_err()
        {
            tracing::warn!(url = %url, "Chromium did not close a tab in time");
        }
        result
    }

    /// Close the browser, if it was started, and remove its profile.
    pub async fn close(&self) {
        let running = self.running.lock().await.take();
        if let Some(r) = running {
            r.shut().await;
        }
    }

    /// A new tab in the running browser, started first when there is none, when it died,
    /// or when it does not open the tab (once).
    async fn open_tab(&self) -> Result<chromiumoxide::Page, FetchError> {
        let mut running = self.running.lock().await;
        let mut retried = false;
        loop {
            if let Some(r) = running.as_mut()
                && !r.alive()
            {
                tracing::warn!("Chromium has exited; starting it again");
                if let Some(dead) = running.take() {
                    dead.shut().await;
                }
            }
            let r = match running.as_mut() {
                Some(r) => r,
                None => running.insert(self.launch().await?),
            };
            let why =
                match tokio::time::timeout(self.timeout, r.browser.new_page("about:blank")).await {
                    Ok(Ok(tab)) => return Ok(tab),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "it did not answer in time".to_string(),
                };
            if retried {
                return Err(failed(format!("Chromium could not open a tab: {why}")));
            }
            tracing::warn!(error = %why, "Chromium could not open a tab; starting it again");
            if let Some(stuck) = running.take() {
                stuck.shut().await;
            }
            retried = true;
        }
    }

    async fn launch(&self) -> Result<Running, FetchError> {
        let shown = self.path.display();
        if !self.path.is_file() {
            let whence = if self.from_env {
                format!(" (from {PATH_ENV})")
            } else {
                String::new()
            };
            return Err(FetchError::Browser {
                message: format!(
                    "render = \"chromium\" needs Chromium, but there is none at {shown}{whence}: install it with `apt-get install chromium`, or set {PATH_ENV} to the browser's path"
                ),
                transient: false,
            });
        }
        let cannot_start = |why: String| FetchError::Browser {
            message: format!(
                "cannot start Chromium ({shown}): {why}; check that `{shown} --version` runs, or set {PATH_ENV} to another Chromium"
            ),
            transient: true,
        };
        let profile = tempfile::Builder::new()
            .prefix("pagefeed-chromium-")
            .tempdir()
            .map_err(|e| cannot_start(format!("no temporary profile directory: {e}")))?;
        let config = BrowserConfig::builder()
            .chrome_executable(&self.path)
            .disable_default_args()
            // The flags say `--headless` themselves, and `--no-sandbox`: nothing more is added.
            .with_head()
            .args(FLAGS)
            .user_data_dir(profile.path())
            .launch_timeout(self.timeout.max(LAUNCH_FLOOR))
            .request_timeout(self.timeout)
            .build()
            .map_err(cannot_start)?;
        let (browser, mut events) = Browser::launch(config)
            .await
            .map_err(|e| cannot_start(e.to_string()))?;
        // The protocol's messages are read by this task for as long as the browser answers;
        // an error here is the connection's (unreadable messages are skipped inside).
        let handler = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let Err(e) = event {
                    tracing::warn!(error = %e, "lost the connection to Chromium");
                    break;
                }
            }
        });
        tracing::info!(path = %shown, profile = %profile.path().display(), "started Chromium");
        Ok(Running {
            browser,
            handler,
            profile,
        })
    }

    /// Load `url` in `tab` and read its DOM, within the timeout.
    async fn load(
        &self,
        tab: &chromiumoxide::Page,
        url: &Url,
        wait_for: Option<&str>,
    ) -> Result<Page, FetchError> {
        let deadline = Instant::now() + self.timeout;
        let secs = self.timeout.as_secs_f64();
        let timed_out = || FetchError::Browser {
            message: format!(
                "timed out after {secs}s loading the page in Chromium (raise timeout in [settings] if the site is slow)"
            ),
            transient: true,
        };
        let navigate = async {
            tab.set_user_agent(self.user_agent.as_str())
                .await
                .map_err(|e| failed(format!("Chromium refused the User-Agent: {e}")))?;
            tab.goto(url.as_str())
                .await
                .map_err(|e| failed(format!("Chromium could not load the page: {e}")))?;
            // The document's own status (a frame's last request may be its favicon's).
            evaluate::<u64>(tab, NAVIGATION_STATUS).await
        };
        let status = tokio::time::timeout_at(deadline, navigate)
            .await
            .map_err(|_| timed_out())??;
        // 0: the browser does not say (an older Chromium, or a page from its cache).
        if status != 0 && !(200..300).contains(&status) {
            let status = u16::try_from(status).unwrap_or(0);
            return Err(FetchError::Status {
                status,
                reason: reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .map(str::to_string),
                retry_after: None,
            });
        }
        if let Some(selector) = wait_for {
            let quoted = serde_json::to_string(selector)
                .map_err(|e| failed(format!("cannot quote `{selector}`: {e}")))?;
            let probe = format!("document.querySelector({quoted}) !== null");
            loop {
                // An answer that does not come (a page busy in its script, or one that
                // navigates on) counts as "not yet".
                let found = matches!(
                    tokio::time::timeout_at(deadline, evaluate::<bool>(tab, &probe)).await,
                    Ok(Ok(true))
                );
                if found {
                    break;
                }
                if Instant::now() + POLL >= deadline {
                    return Err(FetchError::Browser {
                        message: format!(
                            "the page loaded in Chromium, but nothing matched `{selector}` within {secs}s: check wait_for (by default the item selector) against the page as a browser shows it, or raise timeout in [settings]"
                        ),
                        transient: false,
                    });
                }
                tokio::time::sleep(POLL).await;
            }
        }
        // The DOM's length in UTF-16 units is at most its length in UTF-8 bytes: a page over
        // the cap by that count is refused before it is copied out of the browser.
        let reading = async {
            let units: u64 = evaluate(tab, DOM_LENGTH).await?;
            if units > self.max_bytes {
                return Ok(None);
            }
            let html: String = evaluate(tab, DOM).await?;
            let final_url = tab.url().await.ok().flatten();
            Ok(Some((html, final_url)))
        };
        let Some((html, final_url)) = tokio::time::timeout_at(deadline, reading)
            .await
            .map_err(|_| timed_out())??
        else {
            return Err(FetchError::TooLarge {
                limit: self.max_bytes,
            });
        };
        if u64::try_from(html.len()).unwrap_or(u64::MAX) > self.max_bytes {
            return Err(FetchError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let url = final_url
            .and_then(|u| Url::parse(&u).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or_else(|| url.clone());
        Ok(Page {
            bytes: html.into_bytes(),
            content_type: Some("text/html; charset=utf-8".to_string()),
            url,
            validators: Validators::default(),
        })
    }
}

impl Running {
    /// The process runs and its messages are read.
    fn alive(&mut self) -> bool {
        matches!(self.browser.try_wait(), Ok(None)) && !self.handler.is_finished()
    }

    /// Close the browser (kill it when it does not close in time), stop reading its
    /// messages, and remove its profile.
    async fn shut(self) {
        let Running {
            mut browser,
            handler,
            profile,
        } = self;
        // A browser that exited by itself, or had to be killed, may leave helper processes
        // that write to its profile a moment longer.
        let exited = matches!(browser.try_wait(), Ok(Some(_)));
        let closed = !exited
            && matches!(
                tokio::time::timeout(CLOSE_GRACE, browser.close()).await,
                Ok(Ok(_))
            )
            && tokio::time::timeout(CLOSE_GRACE, browser.wait())
                .await
                .is_ok();
        if !exited && !closed {
            let _ = browser.kill().await;
            let _ = browser.wait().await;
        }
        handler.abort();
        let dir = profile.keep();
        let mut tries = 0u32;
        loop {
            tries = tries.saturating_add(1);
            let removed = match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
            if removed.is_ok() && closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if removed.is_ok() && !dir.exists() {
                break;
            }
            if tries >= PROFILE_TRIES {
                tracing::warn!(dir = %dir.display(), "cannot remove Chromium's temporary profile");
                break;
            }
        }
    }
}

/// The rendered DOM: its doctype, then `document.documentElement.outerHTML`.
const DOM: &str = "(document.doctype ? '<!DOCTYPE ' + document.doctype.name + '>' : '') + (document.documentElement ? document.documentElement.outerHTML : '')";
/// The HTTP status of the page's document (0 when unknown).
const NAVIGATION_STATUS: &str =
    "(performance.getEntriesByType('navigation')[0] || {}).responseStatus || 0";
const DOM_LENGTH: &str = "document.documentElement ? document.documentElement.outerHTML.length : 0";

async fn evaluate<T: serde::de::DeserializeOwned>(
    tab: &chromiumoxide::Page,
    expression: &str,
) -> Result<T, FetchError> {
    let params = EvaluateParams::builder()
        .expression(expression)
        .return_by_value(true)
        .build()
        .map_err(|e| failed(format!("cannot ask Chromium about the page: {e}")))?;
    tab.evaluate_expression(params)
        .await
        .map_err(|e| failed(format!("Chromium could not read the page: {e}")))?
        .into_value()
        .map_err(|e| {
            failed(format!(
                "Chromium gave an unexpected answer about the page: {e}"
            ))
        })
}

/// The page could not be loaded or read, or the browser failed: worth trying again.
fn failed(message: String) -> FetchError {
    FetchError::Browser {
        message,
        transient: true,
    }
}

/// The first page of `feed`: rendered in Chromium when the feed says `render = "chromium"`,
/// else fetched (conditionally, with `validators`) as every page is.
pub async fn load_listing(
    fetcher: &Fetcher,
    chromium: &Chromium,
    feed: &FeedConfig,
    source: &Source,
    validators: Option<&Validators>,
    accept: &str,
) -> Result<Fetched, FetchError> {
    match (&feed.render, source) {
        (Some(render), Source::Http(url)) => chromium
            .render(url, render.wait_for(feed))
            .await
            .map(Fetched::Page),
        _ => fetcher.fetch_if_changed(source, validators, accept).await,
    }
}

/// A further page of `feed`'s listing (`next_page`), rendered or fetched like its first.
pub async fn load_page(
    fetcher: &Fetcher,
    chromium: &Chromium,
    feed: &FeedConfig,
    url: &Url,
) -> Result<Page, FetchError> {
    match &feed.render {
        Some(render) => chromium.render(url, render.wait_for(feed)).await,
        None => fetcher.fetch(&Source::Http(url.clone())).await,
    }
}

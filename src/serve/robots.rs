//! robots.txt for `serve`: the run-long [`Robots`] of `build`, renewed every hour from the
//! history so each host's robots.txt is fetched again once its stored copy is a day old, and
//! every robots.txt fetched is stored at once (a restart does not ask again).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::config::FeedConfig;
use crate::feed::history::{History, RobotsRow};
use crate::source::fetch::{FetchError, Fetcher};
use crate::source::robots::{Robots, StoredFile, Verdict};

/// How long one [`Robots`] answers before the next is made from the history.
const RENEW: Duration = Duration::from_secs(3600);

pub struct ServeRobots {
    user_agent: String,
    history: Arc<Mutex<History>>,
    current: tokio::sync::Mutex<Option<(Instant, Arc<Robots>)>>,
}

impl ServeRobots {
    pub fn new(user_agent: &str, history: Arc<Mutex<History>>) -> Self {
        ServeRobots {
            user_agent: user_agent.to_string(),
            history,
            current: tokio::sync::Mutex::new(None),
        }
    }

    async fn robots(&self) -> Arc<Robots> {
        let mut current = self.current.lock().await;
        if let Some((made, r)) = current.as_ref()
            && made.elapsed() < RENEW
        {
            return Arc::clone(r);
        }
        let history = Arc::clone(&self.history);
        let rows = tokio::task::spawn_blocking(move || {
            let h = history.lock().unwrap_or_else(|p| p.into_inner());
            h.robots_rows().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the stored robots.txt files");
                Vec::new()
            })
        })
        .await
        .unwrap_or_default();
        let stored = rows
            .into_iter()
            .map(|r| StoredFile {
                host: r.host,
                fetched_at: r.fetched_at,
                body: r.body,
            })
            .collect();
        let r = Arc::new(Robots::new(
            &self.user_agent,
            stored,
            Utc::now().timestamp(),
        ));
        *current = Some((Instant::now(), Arc::clone(&r)));
        r
    }

    /// [`Robots::check_feed`], storing any robots.txt it fetched.
    pub async fn check_feed(
        &self,
        fetcher: &Fetcher,
        feed: &FeedConfig,
    ) -> Result<Option<Duration>, FetchError> {
        let robots = self.robots().await;
        let verdict = robots.check_feed(fetcher, feed).await;
        self.store_fetched(&robots);
        verdict
    }

    /// [`Robots::check`] (for a further page of a listing), storing any robots.txt it fetched.
    pub async fn check(&self, fetcher: &Fetcher, url: &url::Url) -> Verdict {
        let robots = self.robots().await;
        let verdict = robots.check(fetcher, url).await;
        self.store_fetched(&robots);
        verdict
    }

    /// Store the files `robots` fetched since the last call. The write is handed to the
    /// blocking pool and not waited for: the caller holds a fetch permit, and the history's
    /// lock may be busy with another feed's refresh. The file is stored at once all the same,
    /// and a write cut short by the process ending only means the next start asks again.
    fn store_fetched(&self, robots: &Robots) {
        let fetched = robots.take_fetched();
        if fetched.is_empty() {
            return;
        }
        let history = Arc::clone(&self.history);
        drop(tokio::task::spawn_blocking(move || {
            let h = history.lock().unwrap_or_else(|p| p.into_inner());
            for f in fetched {
                let row = RobotsRow {
                    host: f.host,
                    fetched_at: f.fetched_at,
                    body: f.body,
                };
                if let Err(e) = h.save_robots(&row) {
                    tracing::warn!(error = %e, "cannot store a robots.txt");
                }
            }
        }));
    }
}

//! `pagefeed serve`: the long-running service.
//!
//! One process refreshes every feed on its own schedule and serves the feeds from memory.
//! The pieces, each in its own file: `store` holds the published bytes of every feed
//! (precompressed, with their validators); `http` answers readers and aggregators;
//! `metrics` counts what happened; `scheduler` decides when each feed is refreshed and keeps
//! fetches polite (concurrency, per-host delay, backoff) and survives panics (`guard`);
//! `listener` accepts connections within limits (timeouts, a cap below the open-file limit);
//! `websub` tells a hub about changes; `shutdown` turns SIGINT/SIGTERM into an orderly stop;
//! `builder` is the feed builder (`/new`, `/api/*`), with `builder_safety` (which addresses it
//! fetches) and `builder_copy` (the script-free copy of a page it shows).

pub mod builder;
pub mod builder_copy;
pub mod builder_safety;
pub mod guard;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod robots;
pub mod scheduler;
pub mod shutdown;
pub mod store;
pub mod websub;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::build::LOCK_WAIT;
use crate::config::Config;
use crate::feed::history::{History, HistoryError};
use crate::feed::output::{OutputError, RunLock};
use crate::source::fetch::{FetchError, Fetcher};

use self::http::{AppState, RefreshHandle};
use self::metrics::Metrics;
use self::scheduler::Scheduler;
use self::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Lock(#[from] OutputError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(
        "cannot listen on {addr}: {source} (is another server using it? pick another with --listen)"
    )]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// How long shutdown waits for refreshes that are writing.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in progress to be answered.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Run the service until SIGINT/SIGTERM. `listen` overrides the config's address.
pub async fn run(config: Config, listen: Option<String>) -> Result<(), ServeError> {
    let config = Arc::new(config);
    let addr = listen.unwrap_or_else(|| config.settings.listen.clone());
    let _lock = RunLock::acquire(&config.settings.state, LOCK_WAIT, |p| {
        eprintln!(
            "waiting for another pagefeed run to finish (lock {}) ...",
            p.display()
        );
    })?;
    let history = Arc::new(Mutex::new(History::open(&config.settings.state)?));
    let store = Arc::new(Store::new(&config));
    let metrics = Arc::new(Metrics::new());
    let fetcher = Fetcher::new(&config.settings)?;
    let scheduler = Arc::new(Scheduler::new(
        Arc::clone(&config),
        history,
        fetcher,
        Arc::clone(&store),
        Arc::clone(&metrics),
    ));
    // Serve what the history holds before the first refresh: a restart is never empty.
    scheduler.load_stored().await;

    let tcp = listener::bind(&addr)
        .await
        .map_err(|source| ServeError::Listen {
            addr: addr.clone(),
            source,
        })?;
    // With port 0 the system picks one: say which, so scripts and tests can find it.
    let addr = tcp.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    let running = Arc::new(AtomicBool::new(true));
    let refresh: RefreshHandle = {
        let s = Arc::clone(&scheduler);
        Arc::new(move |name: String| {
            let s = Arc::clone(&s);
            Box::pin(async move { s.refresh(&name, false).await })
        })
    };
    let app = http::FeedsFirst::new(
        AppState {
            store,
            config: Arc::clone(&config),
            metrics: Arc::clone(&metrics),
            refresh,
            running: Arc::clone(&running),
        },
        builder::routes(builder::Builder::new(
            &config,
            Arc::clone(&scheduler),
            Arc::clone(&metrics),
        )),
    );
    let fd_limit = listener::open_file_limit();
    let limits = listener::Limits {
        max_connections: listener::connection_cap(fd_limit.unwrap_or(1024)),
        header_read_timeout: listener::HEADER_READ_TIMEOUT,
    };
    tracing::info!(
        max_connections = limits.max_connections,
        open_file_limit = %fd_limit.map_or_else(|| "unknown".to_string(), |n| n.to_string()),
        header_read_timeout_s = limits.header_read_timeout.as_secs(),
        "HTTP limits"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tasks = scheduler.spawn_all(stop_rx.clone());
    tracing::info!(%addr, feeds = config.feeds.len(), "serving");
    eprintln!(
        "pagefeed serve: listening on http://{addr}/ ({} feeds)",
        config.feeds.len()
    );

    let server = tokio::spawn(listener::serve(
        tcp,
        app,
        limits,
        metrics,
        stop_rx.clone(),
        DRAIN_GRACE,
    ));

    shutdown::signal().await;
    tracing::info!("shutting down: no new refreshes; finishing writes");
    eprintln!("pagefeed serve: shutting down");
    running.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    for t in tasks {
        t.abort();
    }
    scheduler.writes_finished(SHUTDOWN_GRACE).await;
    scheduler.close_browser().await;
    let _ = tokio::time::timeout(DRAIN_GRACE + Duration::from_secs(1), server).await;
    Ok(())
}

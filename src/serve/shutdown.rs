//! Turning SIGINT and SIGTERM into an orderly stop.
//!
//! On a signal the service stops taking work: schedules stop, the HTTP server stops
//! accepting connections and finishes the requests it has, and refreshes that are writing
//! to the history finish their transaction. Nothing is left half-written.

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

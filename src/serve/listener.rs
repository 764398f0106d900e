//! The HTTP listener of `serve`: accepting connections within limits that keep the service
//! answering when clients misbehave.
//!
//! - A connection must send a complete request head within [`HEADER_READ_TIMEOUT`] of being
//!   ready for one: on accept, and again after each response on a keep-alive connection. So
//!   the same clock is the idle keep-alive timeout. (hyper starts its header-read timer when
//!   the connection starts waiting for a head, not at its first byte.)
//! - At most [`connection_cap`] connections are open at once, well below the open-file limit,
//!   so the descriptors the service needs for itself (the history, fetches) are never taken.
//! - At the cap, the connections idle the longest (no request being answered, including one
//!   still sending its head; 1/64 of the cap at a time) are closed to free slots: idle clients
//!   cannot crowd out real requests. Only when every connection is in the middle of a request does accepting
//!   wait for one to finish.
//! - On shutdown, accepting stops, idle connections close at once and requests in progress
//!   are answered before their connections close.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::http::FeedsFirst;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use super::metrics::Metrics;

/// How long a connection may take to send a complete request head, counted from when it is
/// ready for one (accepted, or done with its previous response). A request head is a few
/// hundred bytes: ten seconds is ample on the slowest link, and short enough that a client
/// holding connections open without asking anything gets nowhere.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections ever open at once, whatever the open-file limit. An open connection
/// costs 11-12 KB (measured: 2,000 idle ones add 22-24 MB), so this bounds their memory near
/// 120 MB.
pub const MAX_CONNECTIONS: usize = 10_000;
/// The fewest, for a very low open-file limit.
const MIN_CONNECTIONS: usize = 16;
/// Descriptors kept for everything but client connections: the history (SQLite and its
/// journal), the run lock, outgoing fetches and the hub, the runtime. At least this many, and
/// at least a quarter of the limit.
const MIN_RESERVED_FDS: u64 = 64;

/// How long a connection asked to close while idle may take to do so before it is dropped
/// (it may be sending a head slowly, or not reading its last response).
const SHED_GRACE: Duration = Duration::from_secs(2);
/// At the cap, up to a 64th of the cap of the longest-idle connections are closing at once.
const SHED_BATCH_DIVISOR: usize = 64;
/// At the cap, how often accepting looks again for idle connections to close while it waits
/// for a slot (the ones asked may have become busy, or take their time).
const SHED_PAUSE: Duration = Duration::from_millis(100);
/// How long accepting pauses after running out of descriptors (`EMFILE`).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Connections the system may hold complete but not yet accepted. Accepting is quick, but a
/// burst of connections (many clients at once, or a flood of idle ones) overflows a short
/// queue (tokio's default is 128), and a client whose handshake is dropped retries only a
/// second later. The system caps it (`net.core.somaxconn`, 4096 on current Linux).
const LISTEN_BACKLOG: u32 = 1024;

/// Listen on `addr` (`host:port`; every address the host resolves to is tried in turn) with
/// a backlog of `LISTEN_BACKLOG`.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        };
        let bound = socket.and_then(|s| {
            #[cfg(unix)]
            s.set_reuseaddr(true)?;
            s.bind(a)?;
            s.listen(LISTEN_BACKLOG)
        });
        match bound {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the address resolves to nothing",
        )
    }))
}

/// The connection cap for an open-file limit of `fd_limit`: the limit less a reserve of a
/// quarter (at least `MIN_RESERVED_FDS`), within `MIN_CONNECTIONS`..=[`MAX_CONNECTIONS`].
pub fn connection_cap(fd_limit: u64) -> usize {
    let reserve = (fd_limit / 4).max(MIN_RESERVED_FDS);
    let room = usize::try_from(fd_limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    room.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The soft open-file limit of this process; `None` where there is none to read.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The limits the listener applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// Serve `app` on `listener` until `stop` turns true, then close idle connections, let the
/// requests in progress finish (at most `drain` long) and return.
pub async fn serve(
    listener: TcpListener,
    app: FeedsFirst,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let max = limits.max_connections.max(1);
    let shed_batch = (max / SHED_BATCH_DIVISOR).max(1);
    let permits = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry::default());
    metrics.connection_limit(max);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let service = TowerToHyperService::new(app);
    let mut last_warning: Option<Instant> = None;

    loop {
        // A free slot before accepting: at the cap, close longest-idle connections.
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let mut permit = None;
                while permit.is_none() {
                    // A few at a time, so that a flood of connections does not wait for one
                    // close per accept, but no more than that many closing at once: a
                    // connection accepted a moment ago has not been read yet and looks idle.
                    while registry.closing() < shed_batch && registry.shed_longest_idle() {
                        metrics.connection_shed();
                    }
                    tokio::select! {
                        p = Arc::clone(&permits).acquire_owned() => match p {
                            Ok(p) => permit = Some(p),
                            Err(_) => break,
                        },
                        _ = tokio::time::sleep(SHED_PAUSE) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
                match permit {
                    Some(p) => p,
                    None => break,
                }
            }
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                metrics.accept_error();
                if out_of_descriptors(&e) {
                    // The reserve was not enough (many outgoing connections?): free one.
                    if registry.shed_longest_idle() {
                        metrics.connection_shed();
                    }
                    if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        last_warning = Some(Instant::now());
                        tracing::warn!(
                            error = %e,
                            max_connections = max,
                            "cannot accept a connection: out of file descriptors; closing idle \
                             connections (raise the open-file limit, e.g. LimitNOFILE= in a \
                             systemd unit)"
                        );
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (id, close) = registry.open();
        metrics.connection_opened();
        let conn = Connection {
            id,
            registry: Arc::clone(&registry),
            metrics: Arc::clone(&metrics),
            _permit: permit,
        };
        tokio::spawn(conn.run(stream, builder.clone(), service.clone(), close));
    }

    drop(listener);
    registry.close_all();
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(drain, permits.acquire_many(all)).await;
}

fn out_of_descriptors(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on every Unix this runs on.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// One accepted connection; dropping it (however its task ends) frees its slot.
struct Connection {
    id: u64,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.remove(self.id);
        self.metrics.connection_closed();
    }
}

impl Connection {
    async fn run(
        self,
        stream: TcpStream,
        builder: http1::Builder,
        service: TowerToHyperService<FeedsFirst>,
        close: Arc<Notify>,
    ) {
        let registry = Arc::clone(&self.registry);
        let id = self.id;
        let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::start(Arc::clone(&registry), id);
            let answer = hyper::service::Service::call(&service, req);
            async move {
                let res: Result<_, Infallible> = answer.await;
                drop(busy);
                res
            }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), svc);
        tokio::pin!(conn);
        let mut closing_since: Option<tokio::time::Instant> = None;
        loop {
            let grace_over = async {
                match closing_since {
                    Some(t) => tokio::time::sleep_until(t + SHED_GRACE).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r
                        && e.is_timeout()
                    {
                        self.metrics.header_timeout();
                    }
                    return;
                }
                _ = close.notified(), if closing_since.is_none() => {
                    // Idle: closes now. Answering: finishes the response, then closes.
                    conn.as_mut().graceful_shutdown();
                    closing_since = Some(tokio::time::Instant::now());
                }
                _ = grace_over => {
                    if self.registry.is_idle(self.id) {
                        // Still sending a head, or not reading its answer: drop it.
                        return;
                    }
                    closing_since = Some(tokio::time::Instant::now());
                }
            }
        }
    }
}

/// Marks a connection busy from the start of a request until its answer is ready.
struct Busy {
    registry: Arc<Registry>,
    id: u64,
}

impl Busy {
    fn start(registry: Arc<Registry>, id: u64) -> Busy {
        registry.set_busy(id, true);
        Busy { registry, id }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.registry.set_busy(self.id, false);
    }
}

/// The open connections, and which of them are idle, oldest idle first.
#[derive(Default)]
struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// Increases with every change to idle; orders `idle`.
    clock: u64,
    conns: HashMap<u64, Slot>,
    /// Idle-since tick -> connection id.
    idle: BTreeMap<u64, u64>,
    /// Connections asked to close to make room that are still open.
    closing: usize,
    closing_all: bool,
}

struct Slot {
    /// When it became idle, as a tick of `clock`; `None` while answering, or once asked to
    /// close.
    idle_since: Option<u64>,
    /// Requests being answered (one at a time on HTTP/1.1).
    busy: u32,
    /// Asked to close to make room.
    shed: bool,
    close: Arc<Notify>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection, idle until its first request.
    fn open(&self) -> (u64, Arc<Notify>) {
        let mut g = self.lock();
        let inner = &mut *g;
        let id = inner.next_id;
        inner.next_id = inner.next_id.wrapping_add(1);
        inner.clock = inner.clock.wrapping_add(1);
        let close = Arc::new(Notify::new());
        let idle_since = if inner.closing_all {
            close.notify_one();
            None
        } else {
            inner.idle.insert(inner.clock, id);
            Some(inner.clock)
        };
        inner.conns.insert(
            id,
            Slot {
                idle_since,
                busy: 0,
                shed: false,
                close: Arc::clone(&close),
            },
        );
        (id, close)
    }

    fn remove(&self, id: u64) {
        let mut g = self.lock();
        if let Some(slot) = g.conns.remove(&id) {
            if let Some(t) = slot.idle_since {
                g.idle.remove(&t);
            }
            if slot.shed {
                g.closing = g.closing.saturating_sub(1);
            }
        }
    }

    /// Connections asked to close to make room that have not closed yet.
    fn closing(&self) -> usize {
        self.lock().closing
    }

    fn set_busy(&self, id: u64, busy: bool) {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.clock = inner.clock.wrapping_add(1);
        let tick = inner.clock;
        let Some(slot) = inner.conns.get_mut(&id) else {
            return;
        };
        if busy {
            slot.busy = slot.busy.saturating_add(1);
            if let Some(t) = slot.idle_since.take() {
                inner.idle.remove(&t);
            }
        } else {
            slot.busy = slot.busy.saturating_sub(1);
            if slot.busy == 0 && slot.idle_since.is_none() && !slot.shed && !inner.closing_all {
                slot.idle_since = Some(tick);
                inner.idle.insert(tick, id);
            }
        }
    }

    fn is_idle(&self, id: u64) -> bool {
        self.lock().conns.get(&id).is_some_and(|s| s.busy == 0)
    }

    /// Ask the connection idle the longest to close; whether there was one.
    fn shed_longest_idle(&self) -> bool {
        let mut g = self.lock();
        let inner = &mut *g;
        let Some((_, id)) = inner.idle.pop_first() else {
            return false;
        };
        if let Some(slot) = inner.conns.get_mut(&id) {
            slot.idle_since = None;
            slot.shed = true;
            inner.closing = inner.closing.saturating_add(1);
            slot.close.notify_one();
        }
        true
    }

    /// Ask every connection to close (idle ones at once, busy ones after their answer), and
    /// every connection opened from now on.
    fn close_all(&self) {
        let mut g = self.lock();
        g.closing_all = true;
        g.idle.clear();
        for slot in g.conns.values_mut() {
            slot.idle_since = None;
            slot.close.notify_one();
        }
    }

    #[cfg(test)]
    fn idle_order(&self) -> Vec<u64> {
        self.lock().idle.values().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_open_file_limit() {
        assert_eq!(connection_cap(1024), 768);
        assert_eq!(connection_cap(20_000), MAX_CONNECTIONS);
        assert_eq!(connection_cap(8_000), 6_000);
        assert_eq!(connection_cap(256), 192);
        assert_eq!(connection_cap(100), 36);
        assert_eq!(connection_cap(0), MIN_CONNECTIONS);
        assert_eq!(connection_cap(u64::MAX), MAX_CONNECTIONS);
        for limit in [80, 128, 512, 4096, 13_000, 1 << 20] {
            let cap = connection_cap(limit) as u64;
            assert!(cap + MIN_RESERVED_FDS <= limit, "{limit}: {cap}");
        }
    }

    #[test]
    fn the_longest_idle_connection_is_shed_first_and_busy_ones_never() {
        let r = Registry::default();
        let (a, close_a) = r.open();
        let (b, _) = r.open();
        let (c, close_c) = r.open();
        assert_eq!(r.idle_order(), [a, b, c]);
        // b answers a request; a answers one and is idle again, now the most recent.
        r.set_busy(b, true);
        r.set_busy(a, true);
        r.set_busy(a, false);
        assert_eq!(r.idle_order(), [c, a]);
        assert!(!r.is_idle(b) && r.is_idle(a));

        assert!(r.shed_longest_idle());
        assert_eq!(r.idle_order(), [a]);
        assert_eq!(r.closing(), 1);
        // c was told to close (the permit is stored until its task waits).
        let told = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(1), close_c.notified())
                    .await
                    .is_ok()
            });
        assert!(told);
        assert!(r.shed_longest_idle());
        assert!(!r.shed_longest_idle(), "b is busy: not shed");
        // A request that slipped in on a connection asked to close does not make it idle
        // (sheddable) again.
        r.set_busy(a, true);
        r.set_busy(a, false);
        assert!(r.idle_order().is_empty());
        drop(close_a);

        // Once b is done it can be shed.
        r.set_busy(b, false);
        assert_eq!(r.idle_order(), [b]);
        assert_eq!(r.closing(), 2);
        r.remove(b);
        r.remove(a);
        assert_eq!(r.closing(), 1, "b was not asked to close");
        r.remove(c);
        assert_eq!(r.closing(), 0);
        assert!(r.idle_order().is_empty());
        assert!(!r.shed_longest_idle());
    }

    #[test]
    fn close_all_reaches_existing_and_new_connections() {
        let r = Registry::default();
        let (a, _) = r.open();
        r.set_busy(a, true);
        r.close_all();
        r.set_busy(a, false);
        assert!(r.idle_order().is_empty(), "nothing is idle after close_all");
        let (_, close) = r.open();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        assert!(rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), close.notified())
                .await
                .is_ok()
        }));
    }
}

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

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
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
        let slot = registry.open();
        metrics.connection_opened();
        let conn = Connection {
            slot,
            registry: Arc::clone(&registry),
            metrics: Arc::clone(&metrics),
            _permit: permit,
        };
        tokio::spawn(conn.run(stream, builder.clone(), service.clone()));
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
    slot: Arc<Slot>,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.remove(&self.slot);
        self.metrics.connection_closed();
    }
}

impl Connection {
    async fn run(
        self,
        stream: TcpStream,
        builder: http1::Builder,
        service: TowerToHyperService<FeedsFirst>,
    ) {
        let slot = Arc::clone(&self.slot);
        let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::start(Arc::clone(&slot));
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
                _ = self.slot.close.notified(), if closing_since.is_none() => {
                    // Idle: closes now. Answering: finishes the response, then closes.
                    conn.as_mut().graceful_shutdown();
                    closing_since = Some(tokio::time::Instant::now());
                }
                _ = grace_over => {
                    if self.slot.is_idle() {
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
    slot: Arc<Slot>,
}

impl Busy {
    fn start(slot: Arc<Slot>) -> Busy {
        slot.set_busy(true);
        Busy { slot }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot.set_busy(false);
    }
}

/// The open connections; which of them are idle, and for how long, is read off their slots
/// only when one must be shed.
///
/// A request touches nothing but its own connection's [`Slot`] (one atomic word) and the
/// shared clock: no lock, no lookup. The mutex guards the set of open connections, taken
/// once when a connection opens and once when it closes, and when shedding scans the set for
/// the longest-idle one (only at the cap) or shutdown asks them all to close.
#[derive(Default)]
struct Registry {
    /// Ticks once as each connection opens and as each answer ends; orders idle connections.
    clock: Arc<AtomicU64>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    conns: HashMap<u64, Arc<Slot>>,
    /// Connections asked to close to make room that are still open.
    closing: usize,
    closing_all: bool,
}

/// Set in [`Slot::state`] once the connection is asked to close to make room: never idle
/// (sheddable) again, whatever it does next.
const SHED: u64 = 1 << 63;
/// Set in [`Slot::state`] while the connection answers a request; the low bits are then
/// the number of requests being answered (one at a time on HTTP/1.1).
const BUSY: u64 = 1 << 62;
/// The low bits of [`Slot::state`]: the idle-since tick, or the busy count under [`BUSY`].
const LOW: u64 = BUSY - 1;

/// One open connection, shared by its task (and its requests) and the registry.
struct Slot {
    id: u64,
    /// [`SHED`], [`BUSY`], and the low bits: while not busy, the tick of the registry's clock
    /// at which the connection became idle; while busy, the requests being answered.
    ///
    /// One word, so that shedding claims a connection with one compare-and-swap against the
    /// exact state it judged idle: a request starting at the same moment either changes the
    /// word first (the swap fails: the connection is busy and is not shed) or after (the
    /// connection was idle when asked to close; it finishes that request and closes, as one
    /// asked while answering does). Each tick is taken once, so a connection busy and idle
    /// again in between also fails the swap (it is no longer idle since the judged tick).
    /// Only the winner of the swap sets [`SHED`], so a connection is counted closing once.
    state: AtomicU64,
    clock: Arc<AtomicU64>,
    /// Tells the connection's task to close (a permit is stored until it waits).
    close: Notify,
}

/// The next tick of `clock`, within [`LOW`]. (At one tick per answer the 62 bits last far
/// longer than any process; past them ticks would start again from 0 and merely misorder
/// shedding for a while.)
fn tick(clock: &AtomicU64) -> u64 {
    clock.fetch_add(1, Ordering::Relaxed).wrapping_add(1) & LOW
}

impl Slot {
    fn set_busy(&self, busy: bool) {
        if busy {
            // Always `Some`: the update cannot fail.
            let _ = self
                .state
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                    let n = if s & BUSY == 0 {
                        1
                    } else {
                        (s & LOW).saturating_add(1).min(LOW)
                    };
                    Some((s & SHED) | BUSY | n)
                });
        } else {
            let now = tick(&self.clock);
            // `None` (not busy: nothing to end) leaves the state as it is.
            let _ = self
                .state
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                    if s & BUSY == 0 {
                        return None;
                    }
                    let n = (s & LOW).saturating_sub(1);
                    Some((s & SHED) | if n == 0 { now } else { BUSY | n })
                });
        }
    }

    /// Whether no request is being answered (including while one is still sending its head).
    fn is_idle(&self) -> bool {
        self.state.load(Ordering::Acquire) & BUSY == 0
    }
}

/// The idle-since tick of a slot's `state` if the connection may be shed: idle and not yet
/// asked to close.
fn sheddable_since(state: u64) -> Option<u64> {
    (state & (SHED | BUSY) == 0).then_some(state & LOW)
}

/// How many times shedding looks again for the longest-idle connection when the one it chose
/// changed (became busy) before it could be claimed. Each failure means a connection made
/// progress; after these, the caller tries again later (at the cap: after `SHED_PAUSE`).
const SHED_TRIES: usize = 4;

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection, idle until its first request.
    fn open(&self) -> Arc<Slot> {
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id = g.next_id.wrapping_add(1);
        let slot = Arc::new(Slot {
            id,
            state: AtomicU64::new(tick(&self.clock)),
            clock: Arc::clone(&self.clock),
            close: Notify::new(),
        });
        if g.closing_all {
            slot.close.notify_one();
        }
        g.conns.insert(id, Arc::clone(&slot));
        slot
    }

    fn remove(&self, slot: &Slot) {
        let mut g = self.lock();
        // Shedding sets `SHED` only on listed slots and under this lock: once the slot is out
        // of the list, its flag is final.
        if g.conns.remove(&slot.id).is_some() && slot.state.load(Ordering::Acquire) & SHED != 0 {
            g.closing = g.closing.saturating_sub(1);
        }
    }

    /// Connections asked to close to make room that have not closed yet.
    fn closing(&self) -> usize {
        self.lock().closing
    }

    /// Ask the connection idle the longest to close; whether there was one.
    fn shed_longest_idle(&self) -> bool {
        let mut g = self.lock();
        if g.closing_all {
            return false;
        }
        for _ in 0..SHED_TRIES {
            let oldest = g
                .conns
                .values()
                .filter_map(|slot| {
                    let state = slot.state.load(Ordering::Acquire);
                    sheddable_since(state).map(|since| (since, state, slot))
                })
                .min_by_key(|&(since, ..)| since)
                .map(|(_, state, slot)| (state, Arc::clone(slot)));
            let Some((state, slot)) = oldest else {
                return false;
            };
            // See `Slot::state`: claimed only if still idle since the same tick.
            if slot
                .state
                .compare_exchange(state, state | SHED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                g.closing = g.closing.saturating_add(1);
                slot.close.notify_one();
                return true;
            }
        }
        false
    }

    /// Ask every connection to close (idle ones at once, busy ones after their answer), and
    /// every connection opened from now on.
    fn close_all(&self) {
        let mut g = self.lock();
        g.closing_all = true;
        for slot in g.conns.values() {
            slot.close.notify_one();
        }
    }

    /// The connections that may be shed, longest idle first.
    #[cfg(test)]
    fn idle_order(&self) -> Vec<u64> {
        let g = self.lock();
        if g.closing_all {
            return Vec::new();
        }
        let mut idle: Vec<(u64, u64)> = g
            .conns
            .values()
            .filter_map(|s| sheddable_since(s.state.load(Ordering::Acquire)).map(|t| (t, s.id)))
            .collect();
        idle.sort_unstable();
        idle.into_iter().map(|(_, id)| id).collect()
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
        let a = r.open();
        let b = r.open();
        let c = r.open();
        assert_eq!(r.idle_order(), [a.id, b.id, c.id]);
        // b answers a request; a answers one and is idle again, now the most recent.
        b.set_busy(true);
        a.set_busy(true);
        a.set_busy(false);
        assert_eq!(r.idle_order(), [c.id, a.id]);
        assert!(!b.is_idle() && a.is_idle());

        assert!(r.shed_longest_idle());
        assert_eq!(r.idle_order(), [a.id]);
        assert_eq!(r.closing(), 1);
        // c was told to close (the permit is stored until its task waits).
        let told = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(1), c.close.notified())
                    .await
                    .is_ok()
            });
        assert!(told);
        assert!(r.shed_longest_idle());
        assert!(!r.shed_longest_idle(), "b is busy: not shed");
        // A request that slipped in on a connection asked to close does not make it idle
        // (sheddable) again.
        a.set_busy(true);
        a.set_busy(false);
        assert!(r.idle_order().is_empty());

        // Once b is done it can be shed.
        b.set_busy(false);
        assert_eq!(r.idle_order(), [b.id]);
        assert_eq!(r.closing(), 2);
        r.remove(&b);
        r.remove(&a);
        assert_eq!(r.closing(), 1, "b was not asked to close");
        r.remove(&c);
        assert_eq!(r.closing(), 0);
        assert!(r.idle_order().is_empty());
        assert!(!r.shed_longest_idle());
    }

    // A connection that becomes busy after shedding judged it the longest idle, but before
    // shedding claims it, is not shed (the claim fails and the next one is taken); one that
    // becomes busy just after being claimed stays claimed, counted closing once, and is not
    // idle (sheddable) again when its answer ends.
    #[test]
    fn a_connection_busy_at_the_moment_of_shedding_is_neither_lost_nor_counted_twice() {
        let r = Registry::default();
        let a = r.open();
        let b = r.open();
        // What shedding judged: a, idle since its open.
        let judged = a.state.load(Ordering::Acquire);
        assert_eq!(sheddable_since(judged), Some(judged));
        a.set_busy(true);
        assert!(
            a.state
                .compare_exchange(judged, judged | SHED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        );
        // Busy and idle again: a fresh tick, so the stale judgement still fails.
        a.set_busy(false);
        assert!(
            a.state
                .compare_exchange(judged, judged | SHED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        );
        assert_eq!(r.idle_order(), [b.id, a.id]);

        assert!(r.shed_longest_idle());
        b.set_busy(true);
        assert!(!b.is_idle());
        b.set_busy(false);
        assert_eq!(r.idle_order(), [a.id]);
        assert_eq!(r.closing(), 1);
        r.remove(&b);
        r.remove(&b);
        assert_eq!(r.closing(), 0, "removed twice, counted once");
        r.remove(&a);
        assert_eq!(r.closing(), 0);
    }

    // Many threads answering requests on their connections while shedding runs: every
    // connection shed was idle when claimed (never mid-request as far as the claim knows),
    // each is claimed at most once, and the closing count matches the ones claimed.
    #[test]
    fn shedding_races_with_requests_without_losing_or_doubling_a_connection() {
        let r = Arc::new(Registry::default());
        let slots: Vec<Arc<Slot>> = (0..8).map(|_| r.open()).collect();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = slots
            .iter()
            .map(|slot| {
                let slot = Arc::clone(slot);
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let busy = Busy::start(Arc::clone(&slot));
                        std::hint::spin_loop();
                        drop(busy);
                    }
                })
            })
            .collect();
        let mut shed = 0;
        for _ in 0..10_000 {
            if shed == slots.len() {
                break;
            }
            if r.shed_longest_idle() {
                shed += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        let marked = slots
            .iter()
            .filter(|s| s.state.load(Ordering::Acquire) & SHED != 0)
            .count();
        assert_eq!(marked, shed);
        assert_eq!(r.closing(), shed);
        assert!(slots.iter().all(|s| s.is_idle()), "every answer ended");
        // The rest, now quiet, are shed one by one, and none twice.
        while r.shed_longest_idle() {
            shed += 1;
        }
        assert_eq!(shed, slots.len());
        assert_eq!(r.closing(), slots.len());
        for s in &slots {
            r.remove(s);
        }
        assert_eq!(r.closing(), 0);
    }

    #[test]
    fn close_all_reaches_existing_and_new_connections() {
        let r = Registry::default();
        let a = r.open();
        a.set_busy(true);
        r.close_all();
        a.set_busy(false);
        assert!(r.idle_order().is_empty(), "nothing is idle after close_all");
        assert!(!r.shed_longest_idle(), "nothing is shed after close_all");
        let b = r.open();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        async fn told(s: &Slot) -> bool {
            tokio::time::timeout(Duration::from_secs(1), s.close.notified())
                .await
                .is_ok()
        }
        assert!(rt.block_on(async { told(&a).await && told(&b).await }));
    }
}

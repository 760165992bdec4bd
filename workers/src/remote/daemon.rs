//! The worker daemon: accepts a coordinator, makes it prove it holds the shared secret
//! and proves the same in turn (`channel`: every frame after the handshake is sealed),
//! runs one plan at a time with the engine, and streams its intervals back. It never keeps firing on its own: a closed
//! connection, a `Stop`, or coordinator silence longer than the dead-man time stops the
//! engine from starting calls.
//!
//! It reports what happens as `DaemonEvent`s and prints nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::channel::{self, ChannelError, Ephemeral, Keys, Transcript};
use super::lease::Leased;
use super::protocol::{
    self, FrameError, Receiver, Sender, ToCoordinator, ToWorker, WorkerTarget, MAX_AUTH_FRAME, MAX_TO_WORKER,
    PROTOCOL_VERSION,
};
use crate::chain::error_chain;
use crate::invoker::Invoker;
use crate::limits::LimitError;
use crate::{EngineEnd, EnginePlan, Halt, Stats, StopReason};

/// How long a coordinator has to authenticate and to send its plan.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may take to authenticate.
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections not yet authenticated, at most; a new one beyond it closes one of them:
/// the oldest of those that sent bytes without completing their authentication frame,
/// else the oldest. A coordinator sends its whole frame at once (after the worker's
/// greeting), so a flood that sends bytes and stalls never evicts it, and one that sends
/// nothing must open `MAX_UNAUTHENTICATED` connections within its round trip.
pub const MAX_UNAUTHENTICATED: usize = 64;
/// Connections the kernel may hold for the daemon to accept (capped by
/// `net.core.somaxconn`): a burst beyond the default 128 would drop SYNs, and a
/// coordinator whose SYN is dropped waits a second or more to try again.
const BACKLOG: u32 = 4096;
/// Connections the daemon holds at once, at most; beyond it the next wait in the
/// kernel's queue. Without a bound, a churn faster than the daemon's handshakes had it
/// accept connections until it ran out of descriptors, which ended it.
const MAX_CONNECTIONS: usize = 512;
/// How long the daemon waits after accepting failed (out of descriptors) to try again,
/// when no connection still authenticating could give way...
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);
/// ...and when one did, for it to close.
const CLOSING_PAUSE: Duration = Duration::from_millis(2);

/// A connection still authenticating: its number, the means to close it, and whether it
/// has sent bytes (of a frame it has not completed).
type Pending = (u64, tokio::sync::oneshot::Sender<()>, Arc<std::sync::atomic::AtomicBool>);

/// A connection's reading half that notes when its first bytes arrive.
struct Flagging<'a> {
    inner: &'a mut OwnedReadHalf,
    sent: &'a std::sync::atomic::AtomicBool,
}

impl tokio::io::AsyncRead for Flagging<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut *self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.sent.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }
}

/// Which pending connection gives way to a new one: the oldest that sent bytes without
/// completing its frame, else the oldest.
fn victim(pending: &std::collections::VecDeque<Pending>) -> Option<usize> {
    let stalled = pending.iter().position(|(_, _, sent)| sent.load(std::sync::atomic::Ordering::Relaxed));
    stalled.or((!pending.is_empty()).then_some(0))
}

/// One connection still authenticating (`victim`) closes, to make room; false when
/// none is left.
fn give_way(pending: &mut std::collections::VecDeque<Pending>) -> bool {
    let Some((_, gone, _)) = victim(pending).and_then(|i| pending.remove(i)) else { return false };
    let _ = gone.send(());
    true
}

/// What the daemon does, for whoever runs it to show.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonEvent {
    Refused {
        peer: SocketAddr,
        reason: String,
    },
    Running {
        peer: SocketAddr,
        calls: Option<u64>,
    },
    /// The coordinator went away or fell silent; load stopped.
    CoordinatorLost {
        peer: SocketAddr,
        reason: String,
    },
    Finished {
        peer: SocketAddr,
        calls: u64,
    },
}

pub struct Daemon {
    pub name: String,
    pub secret: Option<Vec<u8>>,
    /// The plan being run (its coordinator's address), if any.
    busy: Mutex<Option<String>>,
    /// Connections still authenticating, oldest first.
    pending: Mutex<std::collections::VecDeque<Pending>>,
    next_connection: std::sync::atomic::AtomicU64,
    events: mpsc::UnboundedSender<DaemonEvent>,
    /// Turns true on shutdown: no new coordinators, and the running plan drains.
    shutdown: watch::Receiver<bool>,
    /// The most calls in flight a plan may ask of this worker.
    max_in_flight: Option<u64>,
}

/// Who the daemon is and what it accepts.
#[derive(Debug, Clone, Default)]
pub struct DaemonConfig {
    /// The name it reports to coordinators.
    pub name: String,
    /// The shared secret coordinators must prove they hold, if any.
    pub secret: Option<Vec<u8>>,
    /// The most calls in flight a plan's share may need here.
    pub max_in_flight: Option<u64>,
}

/// Why the daemon turns a coordinator away; its text (with its sources) is the
/// `Refused` reason the coordinator is sent.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// Not a refusal: the coordinator went away (or gave way to newer connections).
    #[error("the coordinator went away")]
    Gone,
    #[error("no auth within {} s", AUTH_TIMEOUT.as_secs())]
    NoAuth,
    #[error("no plan within {} s", HANDSHAKE_TIMEOUT.as_secs())]
    NoPlan,
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("expected {expected}, got {got:?}")]
    Unexpected { expected: &'static str, got: Box<ToWorker> },
    #[error(
        "protocol version {theirs} is not this worker's {PROTOCOL_VERSION} (harness {}): run the same harness version on the coordinator and the workers",
        env!("CARGO_PKG_VERSION")
    )]
    Version { theirs: u32 },
    #[error("the coordinator sent no nonce and key for the session")]
    NoSessionKey,
    #[error("authentication failed: the coordinator does not hold this worker's secret")]
    WrongSecret,
    #[error("the session keys")]
    Keys(#[from] ChannelError),
    /// Running another coordinator's plan (its address).
    #[error("busy: running a plan for {0}; a worker runs one plan at a time")]
    Busy(String),
    #[error("shutting down")]
    ShuttingDown,
    #[error("invalid plan")]
    InvalidPlan(#[from] LimitError),
    /// The plan's share needs more calls in flight than `--max-in-flight` allows.
    #[error(
        "the plan's share needs {needs} calls in flight; this worker runs at most {max} (harness worker --max-in-flight)"
    )]
    TooManyInFlight { needs: u64, max: u64 },
    /// Reading the plan panicked: a bug, reported instead of a closed connection.
    #[error("this worker could not take the plan (it panicked: {0}); the daemon is free for the next one")]
    Panicked(String),
}

/// Frees the daemon when the plan's connection ends, however it ends.
struct Claim<'a>(&'a Mutex<Option<String>>);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl Daemon {
    /// A daemon that stops taking plans, and drains the one it runs, when `shutdown`
    /// turns true.
    pub fn new(
        config: DaemonConfig,
        events: mpsc::UnboundedSender<DaemonEvent>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Daemon> {
        let DaemonConfig { name, secret, max_in_flight } = config;
        Arc::new(Daemon {
            name,
            secret,
            busy: Mutex::new(None),
            pending: Mutex::new(std::collections::VecDeque::new()),
            next_connection: std::sync::atomic::AtomicU64::new(0),
            events,
            shutdown,
            max_in_flight,
        })
    }

    /// Serve coordinators until `plans` plans have run (forever when `None`) or until
    /// shutdown, after the running plan has reported.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, plans: Option<u64>) -> std::io::Result<()> {
        let listener = deepen(listener)?;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
        let mut connections = tokio::task::JoinSet::new();
        let mut finished = 0u64;
        let mut shutdown = self.shutdown.clone();
        let room = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            tokio::select! {
                (permit, accepted) = admit(&listener, &room) => {
                    let Some((stream, peer)) = accepted else {
                        // Out of descriptors, most likely: one still authenticating
                        // gives way, as it would to a new connection, and closes.
                        let gave_way = give_way(&mut self.pending.lock().unwrap_or_else(|p| p.into_inner()));
                        tokio::time::sleep(if gave_way { CLOSING_PAUSE } else { ACCEPT_PAUSE }).await;
                        continue;
                    };
                    let (daemon, done) = (self.clone(), done_tx.clone());
                    connections.spawn(async move {
                        let _permit = permit;
                        if daemon.handle(stream, peer).await {
                            let _ = done.send(());
                        }
                    });
                }
                Some(()) = done_rx.recv() => {
                    finished += 1;
                    if plans.is_some_and(|p| finished >= p) {
                        return Ok(());
                    }
                }
                _ = shut_down(&mut shutdown) => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        // Let the running plan drain and report (bounded by its own drain timeout).
        while connections.join_next().await.is_some() {}
        Ok(())
    }

    fn emit(&self, event: DaemonEvent) {
        let _ = self.events.send(event);
    }

    /// Tell the coordinator why not, and close; false: no plan ran.
    /// Refuse before the handshake is done: in plaintext, as no keys exist yet.
    async fn refuse(&self, wr: &mut OwnedWriteHalf, peer: SocketAddr, refusal: Refusal) -> bool {
        if !matches!(refusal, Refusal::Gone) {
            let reason = error_chain(&refusal);
            let _ = protocol::write(wr, &ToCoordinator::Refused { reason: reason.clone() }).await;
            self.emit(DaemonEvent::Refused { peer, reason });
        }
        false
    }

    /// Refuse an authenticated coordinator, sealed.
    async fn refuse_sealed(&self, tx: &mut Sender<OwnedWriteHalf>, peer: SocketAddr, refusal: Refusal) -> bool {
        if matches!(refusal, Refusal::Gone) {
            return false;
        }
        let reason = error_chain(&refusal);
        let _ = tx.send(&ToCoordinator::Refused { reason: reason.clone() }).await;
        self.emit(DaemonEvent::Refused { peer, reason });
        false
    }

    /// One coordinator connection; true when a plan ran.
    async fn handle(&self, stream: TcpStream, peer: SocketAddr) -> bool {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        // Room among the connections still authenticating: one gives way (`victim`).
        let id = self.next_connection.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (evict, evicted) = tokio::sync::oneshot::channel();
        let sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.len() >= MAX_UNAUTHENTICATED {
                give_way(&mut pending);
            }
            pending.push_back((id, evict, sent.clone()));
        }
        let authenticated = tokio::select! {
            a = self.authenticate(&mut rd, &mut wr, &sent) => a,
            _ = evicted => Err(Refusal::Gone),
        };
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).retain(|(other, _, _)| *other != id);
        let keys = match authenticated {
            Ok(keys) => keys,
            Err(refusal) => return self.refuse(&mut wr, peer, refusal).await,
        };
        let (mut tx, rx) = (Sender::new(wr, keys.to_coordinator), Receiver::new(rd, keys.to_worker));
        let claim = {
            let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
            match busy.as_ref() {
                Some(other) => Err(Refusal::Busy(other.clone())),
                None if *self.shutdown.borrow() => Err(Refusal::ShuttingDown),
                None => {
                    *busy = Some(peer.to_string());
                    Ok(Claim(&self.busy))
                }
            }
        };
        match claim {
            Err(reason) => self.refuse_sealed(&mut tx, peer, reason).await,
            // Boxed: a connection that never authenticates then costs only its handshake,
            // not the room of a whole run's state.
            Ok(_claim) => Box::pin(self.accepted(rx, tx, peer)).await,
        }
    }

    /// The daemon's side of the handshake alone, as `handle` does it before a plan:
    /// greet, check the coordinator's proof, seal the channel and send `Accepted`. The
    /// sealed halves, or `None` when the coordinator was refused (and told why) or went
    /// away. For simulated workers (`sim`) that speak the real protocol without an engine.
    pub async fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(Receiver<OwnedReadHalf>, Sender<OwnedWriteHalf>)> {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let sent = std::sync::atomic::AtomicBool::new(false);
        match self.authenticate(&mut rd, &mut wr, &sent).await {
            Ok(keys) => {
                let mut tx = Sender::new(wr, keys.to_coordinator);
                tx.send(&ToCoordinator::Accepted).await.ok()?;
                Some((Receiver::new(rd, keys.to_worker), tx))
            }
            Err(refusal) => {
                self.refuse(&mut wr, peer, refusal).await;
                None
            }
        }
    }

    /// The greeting, the coordinator's proof and the session keys, or why the
    /// coordinator is refused (`Refusal::Gone` when it went away).
    async fn authenticate(
        &self,
        rd: &mut OwnedReadHalf,
        wr: &mut OwnedWriteHalf,
        sent: &std::sync::atomic::AtomicBool,
    ) -> Result<Keys, Refusal> {
        let nonce = protocol::nonce();
        let mine = Ephemeral::new()?;
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let hello = ToCoordinator::Hello {
            protocol: PROTOCOL_VERSION,
            worker: self.name.clone(),
            nonce: nonce.clone(),
            key: Some(mine.public.clone()),
            busy,
        };
        protocol::write(wr, &hello).await.map_err(|_| Refusal::Gone)?;
        // Once bytes arrive without completing the frame, it is the first to give way.
        let mut flagged = Flagging { inner: rd, sent };
        let auth =
            tokio::time::timeout(AUTH_TIMEOUT, protocol::read::<_, ToWorker>(&mut flagged, MAX_AUTH_FRAME)).await;
        let (version, proof, theirs) = match auth {
            Ok(Ok(ToWorker::Auth { protocol, proof, nonce, key })) => (protocol, proof, nonce.zip(key)),
            Ok(Ok(other)) => return Err(Refusal::Unexpected { expected: "auth", got: Box::new(other) }),
            // Closed or reset mid-frame: nobody is left to tell why.
            Ok(Err(FrameError::Closed | FrameError::Io(_))) => return Err(Refusal::Gone),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(Refusal::NoAuth),
        };
        if version != PROTOCOL_VERSION {
            return Err(Refusal::Version { theirs: version });
        }
        let (coordinator_nonce, coordinator_key) = theirs.ok_or(Refusal::NoSessionKey)?;
        let t = Transcript { worker_nonce: nonce, worker_key: mine.public.clone(), coordinator_nonce, coordinator_key };
        if let Some(secret) = &self.secret {
            if !proof.is_some_and(|p| t.verify_coordinator_proof(secret, &p)) {
                return Err(Refusal::WrongSecret);
            }
        }
        Ok(channel::derive(mine, &t.coordinator_key, self.secret.as_deref(), &t)?)
    }

    async fn accepted(
        &self,
        mut rx: Receiver<OwnedReadHalf>,
        mut tx: Sender<OwnedWriteHalf>,
        peer: SocketAddr,
    ) -> bool {
        if tx.send(&ToCoordinator::Accepted).await.is_err() {
            return false;
        }
        let run = tokio::time::timeout(HANDSHAKE_TIMEOUT, rx.recv::<ToWorker>(MAX_TO_WORKER)).await;
        let Ok(Ok(ToWorker::Run { plan, target, start_at_ms, heartbeat_ms, dead_man_ms, grant })) = run else {
            let refusal = match run {
                Err(_) => Refusal::NoPlan,
                Ok(Err(FrameError::Closed)) => Refusal::Gone,
                Ok(Err(e)) => e.into(),
                Ok(Ok(other)) => Refusal::Unexpected { expected: "a plan", got: Box::new(other) },
            };
            return self.refuse_sealed(&mut tx, peer, refusal).await;
        };
        // Whatever the plan holds, reading it cannot take the daemon's handler down
        // unanswered: a panic here is refused as one (the engine's own are `failed`).
        let max_in_flight = self.max_in_flight;
        let calls = match guarded(|| take(&plan, max_in_flight)) {
            Ok(calls) => calls,
            Err(refusal) => return self.refuse_sealed(&mut tx, peer, refusal).await,
        };
        self.emit(DaemonEvent::Running { peer, calls });

        // Frames out go through one writer task.
        let (out, outbox) = mpsc::unbounded_channel::<ToCoordinator>();
        let writer = tokio::spawn(write_frames(tx, outbox));
        let (halt_tx, halt) = watch::channel(Halt::Go);
        let halt_tx = Arc::new(halt_tx);
        let (grant_tx, granted) = watch::channel(grant);
        let lease = Lease { granted, asks: out.clone() };
        let reader = tokio::spawn(dead_man(
            rx,
            Duration::from_millis(dead_man_ms.max(100)),
            (halt_tx.clone(), grant_tx, out.clone()),
            {
                let events = self.events.clone();
                move |reason| {
                    let _ = events.send(DaemonEvent::CoordinatorLost { peer, reason });
                }
            },
        ));
        let beats = tokio::spawn(heartbeats(out.clone(), Duration::from_millis(heartbeat_ms.max(50))));
        let on_shutdown = {
            let (mut shutdown, halt_tx) = (self.shutdown.clone(), halt_tx.clone());
            tokio::spawn(async move {
                shut_down(&mut shutdown).await;
                let _ = halt_tx.send(Halt::Drain);
            })
        };

        let calls = run_plan(plan, target, start_at_ms, halt, lease, out.clone()).await;
        for task in [beats, reader, on_shutdown] {
            task.abort();
        }
        drop(out);
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
        self.emit(DaemonEvent::Finished { peer, calls });
        true
    }
}

/// The plan's calls, if this daemon takes it: valid, and within `--max-in-flight`.
fn take(plan: &crate::EnginePlan, max_in_flight: Option<u64>) -> Result<Option<u64>, Refusal> {
    crate::limits::validate(plan)?;
    if let Some(max) = max_in_flight.filter(|m| plan.load.max_in_flight() > *m) {
        return Err(Refusal::TooManyInFlight { needs: plan.load.max_in_flight(), max });
    }
    Ok(plan.load.planned_calls())
}

/// `f`, with a panic turned into a refusal that says what it was.
fn guarded<T>(f: impl FnOnce() -> Result<T, Refusal>) -> Result<T, Refusal> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Err(Refusal::Panicked(what))
    })
}

/// The next connection, once the daemon holds fewer than `MAX_CONNECTIONS`; `None` when
/// accepting failed. No accept error ends the daemon: running out of descriptors (or
/// a connection reset before it was accepted) passes.
async fn admit(
    listener: &TcpListener,
    room: &Arc<tokio::sync::Semaphore>,
) -> (Option<tokio::sync::OwnedSemaphorePermit>, Option<(TcpStream, SocketAddr)>) {
    // Never closed, so a permit always comes.
    let permit = room.clone().acquire_owned().await.ok();
    (permit, listener.accept().await.ok())
}

/// `listener` with room for `BACKLOG` connections waiting to be accepted.
fn deepen(listener: TcpListener) -> std::io::Result<TcpListener> {
    #[cfg(unix)]
    {
        use std::os::fd::{FromRawFd, IntoRawFd};
        let fd = listener.into_std()?.into_raw_fd();
        // SAFETY: `fd` is the listening socket just released by `into_raw_fd`, owned by
        // nothing else; listening again on it only changes its backlog.
        let socket = unsafe { tokio::net::TcpSocket::from_raw_fd(fd) };
        socket.listen(BACKLOG)
    }
    #[cfg(not(unix))]
    Ok(listener)
}

/// Resolves when shutdown is asked for; never, if nobody can ask any more.
async fn shut_down(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Send every frame of `outbox` until it closes or the connection fails.
async fn write_frames(mut tx: Sender<OwnedWriteHalf>, mut outbox: mpsc::UnboundedReceiver<ToCoordinator>) {
    while let Some(m) = outbox.recv().await {
        if tx.send(&m).await.is_err() {
            break;
        }
    }
}

async fn heartbeats(out: mpsc::UnboundedSender<ToCoordinator>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if out.send(ToCoordinator::Heartbeat).is_err() {
            return;
        }
    }
}

/// The dead-man: any frame from the coordinator resets it; silence, a closed
/// connection or `Stop` halts the engine (it drains and reports). Grants extend the lease.
/// A frame that fails its integrity check stops every call at once and tells the
/// coordinator, which fails the worker: nothing it did after that counts.
async fn dead_man(
    mut rx: Receiver<OwnedReadHalf>,
    dead_man: Duration,
    (halt, grant, out): (Arc<watch::Sender<Halt>>, watch::Sender<u64>, mpsc::UnboundedSender<ToCoordinator>),
    lost: impl Fn(String),
) {
    loop {
        match tokio::time::timeout(dead_man, rx.recv::<ToWorker>(MAX_TO_WORKER)).await {
            Ok(Ok(ToWorker::Stop)) => {
                let _ = halt.send(Halt::Drain);
            }
            Ok(Ok(ToWorker::Grant { through })) => {
                grant.send_if_modified(|g| {
                    let more = through > *g;
                    *g = (*g).max(through);
                    more
                });
            }
            Ok(Ok(_)) => {}
            Ok(Err(FrameError::Tampered(e))) => {
                let _ = halt.send(Halt::Now);
                let reason = format!("the coordinator's frames: {}; stopped every call", error_chain(&e));
                let _ = out.send(ToCoordinator::Failed { reason: reason.clone() });
                return lost(reason);
            }
            Ok(Err(e)) => {
                let _ = halt.send(Halt::Drain);
                return lost(format!("coordinator connection: {}; stopped starting calls", error_chain(&e)));
            }
            Err(_) => {
                let _ = halt.send(Halt::Drain);
                let ms = dead_man.as_millis();
                return lost(format!("coordinator silent for {ms} ms (dead-man timer); stopped starting calls"));
            }
        }
    }
}

/// The worker's side of the lease: the grant so far, and where asks for more go.
struct Lease {
    granted: watch::Receiver<u64>,
    asks: mpsc::UnboundedSender<ToCoordinator>,
}

impl Lease {
    /// `target` invoked only within the grant; asks forwarded to the coordinator.
    fn wrap(self, target: Invoker) -> Leased<Invoker> {
        let (ask, mut asked) = mpsc::unbounded_channel::<u64>();
        let asks = self.asks;
        tokio::spawn(async move {
            while let Some(through) = asked.recv().await {
                if asks.send(ToCoordinator::Reserve { through }).is_err() {
                    return;
                }
            }
        });
        Leased::new(target, self.granted, ask)
    }
}

/// Wait for the agreed start, run the engine in a task of its own and forward its
/// intervals; a task that fails (a panic) is reported as `Failed`, never left hanging.
/// Returns the calls made.
async fn run_plan(
    plan: EnginePlan,
    target: WorkerTarget,
    start_at_ms: u64,
    mut halt: watch::Receiver<Halt>,
    lease: Lease,
    out: mpsc::UnboundedSender<ToCoordinator>,
) -> u64 {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let wait = Duration::from_millis(start_at_ms.saturating_sub(now_ms));
    let _ = tokio::time::timeout(wait, halt.wait_for(|h| *h != Halt::Go)).await;
    if *halt.borrow() != Halt::Go {
        let end = EngineEnd { started: 0, abandoned: 0, elapsed_s: 0.0, stop: StopReason::Cancelled };
        let _ = out.send(ToCoordinator::Done { end, totals: Stats::default() });
        return 0;
    }
    let _ = out.send(ToCoordinator::Started);
    let (events, mut intervals) = mpsc::unbounded_channel::<crate::Interval>();
    let forward = {
        let out = out.clone();
        tokio::spawn(async move {
            let mut totals = Stats::default();
            while let Some(interval) = intervals.recv().await {
                totals.merge(&interval.stats);
                let _ = out.send(ToCoordinator::Interval(interval));
            }
            totals
        })
    };
    let engine = tokio::spawn(async move {
        let target = target.invoker(plan.load.max_in_flight()).await?;
        Ok::<_, crate::invoker::InvokerError>(
            crate::engine::run(&plan, Arc::new(lease.wrap(target)), halt, events).await,
        )
    });
    let end = engine.await;
    let totals = forward.await.unwrap_or_default();
    let calls = totals.calls;
    let _ = out.send(match end {
        Ok(Ok(end)) => ToCoordinator::Done { end, totals },
        Ok(Err(e)) => ToCoordinator::Failed { reason: format!("cannot reach the function: {}", error_chain(&e)) },
        Err(e) => ToCoordinator::Failed { reason: format!("the plan's engine failed: {e}") },
    });
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_taking_a_plan_is_refused_with_what_it_was() {
        let refused = guarded::<()>(|| panic!("index {} out of range", 5)).unwrap_err();
        assert!(matches!(&refused, Refusal::Panicked(m) if m == "index 5 out of range"), "{refused:?}");
        let text = refused.to_string();
        assert!(text.contains("could not take the plan (it panicked: index 5 out of range)"), "{text}");
        assert_eq!(guarded(|| Ok::<_, Refusal>(3)).unwrap(), 3);
        let plan = crate::EnginePlan::for_tests(
            crate::LoadModel::Closed { in_flight: 8, calls: Some(20), duration_s: None },
            10,
        );
        assert_eq!(take(&plan, None).unwrap(), Some(20));
        assert!(matches!(take(&plan, Some(4)), Err(Refusal::TooManyInFlight { needs: 8, max: 4 })));
    }

    #[test]
    fn a_stalled_frame_gives_way_before_a_connection_that_sent_nothing() {
        let entry = |id: u64, sent: bool| {
            let (tx, _rx) = tokio::sync::oneshot::channel();
            (id, tx, Arc::new(std::sync::atomic::AtomicBool::new(sent)))
        };
        let mut pending: std::collections::VecDeque<Pending> = std::collections::VecDeque::new();
        assert_eq!(victim(&pending), None);
        pending.extend([entry(1, false), entry(2, false)]);
        assert_eq!(victim(&pending), Some(0), "none stalled: the oldest");
        pending.extend([entry(3, true), entry(4, true)]);
        assert_eq!(victim(&pending), Some(2), "the oldest stalled one, not the coordinator awaiting its greeting");
        assert!(give_way(&mut pending));
        assert_eq!(pending.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(), [1, 2, 4]);
        assert!(!give_way(&mut std::collections::VecDeque::new()), "none left to give way");
    }
}

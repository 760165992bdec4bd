//! The worker daemon: accepts a coordinator, proves nothing itself but makes the
//! coordinator prove it holds the shared secret, runs one plan at a time with the
//! engine, and streams its intervals back. It never keeps firing on its own: a closed
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

use super::protocol::{self, FrameError, ToCoordinator, ToWorker, WorkerTarget, MAX_TO_WORKER, PROTOCOL_VERSION};
use crate::{LambdaTarget, Stats};

/// How long a coordinator has to authenticate and to send its plan.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    events: mpsc::UnboundedSender<DaemonEvent>,
}

impl Daemon {
    pub fn new(name: String, secret: Option<Vec<u8>>, events: mpsc::UnboundedSender<DaemonEvent>) -> Arc<Daemon> {
        Arc::new(Daemon { name, secret, busy: Mutex::new(None), events })
    }

    /// Serve coordinators until `plans` plans have run (forever when `None`).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, plans: Option<u64>) -> std::io::Result<()> {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
        let mut finished = 0u64;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = accepted?;
                    let (daemon, done) = (self.clone(), done_tx.clone());
                    tokio::spawn(async move {
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
            }
        }
    }

    fn emit(&self, event: DaemonEvent) {
        let _ = self.events.send(event);
    }

    /// Tell the coordinator why not, and close; false: no plan ran.
    async fn refuse(&self, wr: &mut OwnedWriteHalf, peer: SocketAddr, reason: String) -> bool {
        let _ = protocol::write(wr, &ToCoordinator::Refused { reason: reason.clone() }).await;
        self.emit(DaemonEvent::Refused { peer, reason });
        false
    }

    /// One coordinator connection; true when a plan ran.
    async fn handle(&self, stream: TcpStream, peer: SocketAddr) -> bool {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let nonce = protocol::nonce();
        let busy = self.busy.lock().expect("not poisoned").clone();
        let hello =
            ToCoordinator::Hello { protocol: PROTOCOL_VERSION, worker: self.name.clone(), nonce: nonce.clone(), busy };
        if protocol::write(&mut wr, &hello).await.is_err() {
            return false;
        }
        let auth = tokio::time::timeout(HANDSHAKE_TIMEOUT, protocol::read::<_, ToWorker>(&mut rd, MAX_TO_WORKER)).await;
        let (version, proof) = match auth {
            Ok(Ok(ToWorker::Auth { protocol, proof })) => (protocol, proof),
            Ok(Ok(other)) => return self.refuse(&mut wr, peer, format!("expected auth, got {other:?}")).await,
            Ok(Err(FrameError::Closed)) => return false,
            Ok(Err(e)) => return self.refuse(&mut wr, peer, e.to_string()).await,
            Err(_) => return self.refuse(&mut wr, peer, "no auth within 10 s".into()).await,
        };
        if version != PROTOCOL_VERSION {
            let reason = format!(
                "protocol version {version} is not this worker's {PROTOCOL_VERSION} (harness {}): run the same harness version on the coordinator and the workers",
                env!("CARGO_PKG_VERSION")
            );
            return self.refuse(&mut wr, peer, reason).await;
        }
        if let Some(secret) = &self.secret {
            if !proof.is_some_and(|p| protocol::verify_proof(secret, &nonce, &p)) {
                let reason = "authentication failed: the coordinator does not hold this worker's secret";
                return self.refuse(&mut wr, peer, reason.into()).await;
            }
        }
        let claimed = {
            let mut busy = self.busy.lock().expect("not poisoned");
            match busy.as_ref() {
                Some(other) => Err(format!("busy: running a plan for {other}; a worker runs one plan at a time")),
                None => {
                    *busy = Some(peer.to_string());
                    Ok(())
                }
            }
        };
        if let Err(reason) = claimed {
            return self.refuse(&mut wr, peer, reason).await;
        }
        let ran = self.accepted(rd, wr, peer).await;
        *self.busy.lock().expect("not poisoned") = None;
        ran
    }

    async fn accepted(&self, mut rd: OwnedReadHalf, mut wr: OwnedWriteHalf, peer: SocketAddr) -> bool {
        if protocol::write(&mut wr, &ToCoordinator::Accepted).await.is_err() {
            return false;
        }
        let run = tokio::time::timeout(HANDSHAKE_TIMEOUT, protocol::read::<_, ToWorker>(&mut rd, MAX_TO_WORKER)).await;
        let Ok(Ok(ToWorker::Run { plan, target, start_at_ms, heartbeat_ms, dead_man_ms })) = run else {
            let reason = match run {
                Err(_) => "no plan within 10 s".to_string(),
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(other)) => format!("expected a plan, got {other:?}"),
            };
            return self.refuse(&mut wr, peer, reason).await;
        };
        self.emit(DaemonEvent::Running { peer, calls: plan.load.planned_calls() });

        // Frames out go through one writer task.
        let (out, mut outbox) = mpsc::unbounded_channel::<ToCoordinator>();
        let writer = tokio::spawn(async move {
            while let Some(m) = outbox.recv().await {
                if protocol::write(&mut wr, &m).await.is_err() {
                    break;
                }
            }
        });
        // The dead-man: any frame from the coordinator resets it; silence, a closed
        // connection or `Stop` cancels the engine.
        let (cancel_tx, cancel) = watch::channel(false);
        let dead_man = Duration::from_millis(dead_man_ms.max(100));
        let events = self.events.clone();
        let lost = move |reason: String| {
            let _ = events.send(DaemonEvent::CoordinatorLost { peer, reason });
        };
        let reader = tokio::spawn(async move {
            loop {
                match tokio::time::timeout(dead_man, protocol::read::<_, ToWorker>(&mut rd, MAX_TO_WORKER)).await {
                    Ok(Ok(ToWorker::Stop)) => {
                        let _ = cancel_tx.send(true);
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        let _ = cancel_tx.send(true);
                        return lost(format!("coordinator connection: {e}; stopped starting calls"));
                    }
                    Err(_) => {
                        let _ = cancel_tx.send(true);
                        let ms = dead_man.as_millis();
                        return lost(format!(
                            "coordinator silent for {ms} ms (dead-man timer); stopped starting calls"
                        ));
                    }
                }
            }
        });
        let beats = {
            let out = out.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(heartbeat_ms.max(50)));
                loop {
                    tick.tick().await;
                    if out.send(ToCoordinator::Heartbeat).is_err() {
                        return;
                    }
                }
            })
        };

        let max_in_flight = plan.load.max_in_flight();
        let target = match target {
            WorkerTarget::Endpoint { url, function } => LambdaTarget::local(&url, &function, max_in_flight),
            WorkerTarget::Aws { function, region, profile } => {
                LambdaTarget::aws(&function, region, profile, max_in_flight).await
            }
        };
        let mut cancelled = cancel.clone();
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let wait = Duration::from_millis(start_at_ms.saturating_sub(now_ms));
        let _ = tokio::time::timeout(wait, cancelled.wait_for(|c| *c)).await;
        let mut totals = Stats::default();
        if !*cancel.borrow() {
            let _ = out.send(ToCoordinator::Started);
            let (events, mut intervals) = mpsc::unbounded_channel();
            let engine = crate::engine::run(&plan, Arc::new(target), cancel.clone(), events);
            let forward = async {
                while let Some(interval) = intervals.recv().await {
                    totals.merge(&interval.stats);
                    let _ = out.send(ToCoordinator::Interval(interval));
                }
            };
            let (end, ()) = tokio::join!(engine, forward);
            let _ = out.send(ToCoordinator::Done { end, totals: totals.clone() });
        }
        beats.abort();
        reader.abort();
        drop(out);
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
        self.emit(DaemonEvent::Finished { peer, calls: totals.calls });
        true
    }
}

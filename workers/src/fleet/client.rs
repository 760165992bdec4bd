//! The coordinator's side of one worker connection: connect, authenticate both ways and
//! seal the channel (`channel`), send the plan, keep the worker's dead-man timer fed, and turn what comes back into
//! `WorkerEvent`s. A worker that closes the connection or falls silent for `lost_after`
//! is reported lost.

use std::time::Duration;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::channel::{self, Ephemeral, Transcript};
use super::protocol::{
    self, FrameError, Receiver, Sender, ToCoordinator, ToWorker, MAX_AUTH_FRAME, MAX_TO_COORDINATOR, PROTOCOL_VERSION,
};
use crate::{EngineEnd, Interval, Stats};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What one worker did, as the coordinator sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    Started,
    Interval(Interval),
    Done {
        end: EngineEnd,
        totals: Stats,
    },
    /// Gone: connection closed or silent; the reason in words.
    Lost(String),
    /// The worker could not run the plan.
    Failed(String),
    /// The worker may now invoke calls up to this number (sent after this event).
    Granted(u64),
}

/// What the coordinator received from one worker: frames and bytes (the coordinator's
/// cost per worker).
#[derive(Debug, Default)]
pub struct Traffic {
    pub frames: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
}

/// An authenticated connection to a worker, ready for a plan.
pub struct WorkerLink {
    /// The name the worker gave.
    pub name: String,
    pub address: String,
    /// Updated as frames arrive.
    pub traffic: std::sync::Arc<Traffic>,
    rx: Receiver<OwnedReadHalf>,
    tx: Sender<OwnedWriteHalf>,
}

impl WorkerLink {
    /// Connect to `address`, prove we hold `secret` (when the worker wants it), and
    /// have the worker prove it holds the same by sealing its acceptance.
    pub async fn connect(address: &str, secret: Option<&[u8]>) -> Result<WorkerLink, String> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| format!("worker {address}: no connection within 5 s"))?
            .map_err(|e| format!("worker {address}: cannot connect: {e} (is `harness worker` running there?)"))?;
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let hello =
            tokio::time::timeout(CONNECT_TIMEOUT, protocol::read::<_, ToCoordinator>(&mut rd, MAX_TO_COORDINATOR))
                .await
                .map_err(|_| format!("worker {address}: no greeting within 5 s (is it a harness worker?)"))?
                .map_err(|e| format!("worker {address}: bad greeting: {e} (is it a harness worker?)"))?;
        let ToCoordinator::Hello { protocol: version, worker, nonce, key, busy: _ } = hello else {
            return Err(format!("worker {address}: expected a greeting, got {hello:?}"));
        };
        if version != PROTOCOL_VERSION {
            // Said to the worker too, so that its log names both versions.
            let auth = ToWorker::Auth { protocol: PROTOCOL_VERSION, proof: None, nonce: None, key: None };
            let _ = protocol::write(&mut wr, &auth).await;
            return Err(format!(
                "worker {address} speaks protocol version {version}, this coordinator {PROTOCOL_VERSION}: run the same harness version on both"
            ));
        }
        let worker_key = key.ok_or_else(|| format!("worker {address}: its greeting has no session key"))?;
        let mine = Ephemeral::new()?;
        let t = Transcript {
            worker_nonce: nonce,
            worker_key: worker_key.clone(),
            coordinator_nonce: protocol::nonce(),
            coordinator_key: mine.public.clone(),
        };
        let auth = ToWorker::Auth {
            protocol: PROTOCOL_VERSION,
            proof: secret.map(|s| t.coordinator_proof(s)),
            nonce: Some(t.coordinator_nonce.clone()),
            key: Some(t.coordinator_key.clone()),
        };
        protocol::write(&mut wr, &auth).await.map_err(|e| format!("worker {address}: {e}"))?;
        let keys = channel::derive(mine, &worker_key, secret, &t).map_err(|e| format!("worker {address}: {e}"))?;
        let mut rx = Receiver::new(rd, keys.to_coordinator);
        let tx = Sender::new(wr, keys.to_worker);
        let answer = tokio::time::timeout(CONNECT_TIMEOUT, protocol::read_body(rx.inner(), MAX_AUTH_FRAME))
            .await
            .map_err(|_| format!("worker {address}: no answer to authentication within 5 s"))?;
        let answer = answer.and_then(|body| match rx.open_body(body.clone()) {
            Ok(opened) => protocol::parse::<ToCoordinator>(&opened),
            // Before the keys exist the worker can only refuse in plaintext; nothing else
            // unsealed is taken.
            Err(tampered) => match protocol::parse::<ToCoordinator>(&body) {
                Ok(refused @ ToCoordinator::Refused { .. }) => Ok(refused),
                _ => Err(FrameError::Tampered(format!(
                    "its answer does not open with this session's keys: it does not hold the same secret, or the handshake was altered in transit ({tampered})"
                ))),
            },
        });
        match answer {
            Ok(ToCoordinator::Accepted) => {
                Ok(WorkerLink { name: worker, address: address.to_string(), traffic: Default::default(), rx, tx })
            }
            Ok(ToCoordinator::Refused { reason }) => Err(format!("worker {address} refused: {reason}")),
            Ok(other) => Err(format!("worker {address}: unexpected {other:?}")),
            Err(e) => Err(format!("worker {address}: {e}")),
        }
    }

    /// Send `run` (a `ToWorker::Run`) and report the worker's events, tagged with
    /// `index`, until it is done, failed or lost. `stop` turning true sends `Stop`.
    pub async fn run(
        self,
        index: usize,
        run: ToWorker,
        mut stop: watch::Receiver<bool>,
        heartbeat: Duration,
        lost_after: Duration,
        events: mpsc::UnboundedSender<(usize, WorkerEvent)>,
    ) {
        let WorkerLink { mut rx, mut tx, traffic, .. } = self;
        let send = |e: WorkerEvent| {
            let _ = events.send((index, e));
        };
        if let Err(e) = tx.send(&run).await {
            return send(WorkerEvent::Lost(format!("sending the plan: {e}")));
        }
        let (grant, mut grants) = mpsc::unbounded_channel::<u64>();
        let feeder = tokio::spawn(async move {
            let mut tick = tokio::time::interval(heartbeat);
            let mut stopped = false;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if tx.send(&ToWorker::Heartbeat).await.is_err() {
                            return;
                        }
                    }
                    Some(through) = grants.recv() => {
                        if tx.send(&ToWorker::Grant { through }).await.is_err() {
                            return;
                        }
                    }
                    changed = stop.changed(), if !stopped => {
                        if changed.is_err() || *stop.borrow() {
                            stopped = true;
                            if tx.send(&ToWorker::Stop).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        loop {
            let message = tokio::time::timeout(lost_after, rx.recv::<ToCoordinator>(MAX_TO_COORDINATOR)).await;
            traffic.frames.store(rx.frames, std::sync::atomic::Ordering::Relaxed);
            traffic.bytes.store(rx.bytes, std::sync::atomic::Ordering::Relaxed);
            match message {
                Ok(Ok(ToCoordinator::Started)) => send(WorkerEvent::Started),
                Ok(Ok(ToCoordinator::Interval(i))) => send(WorkerEvent::Interval(i)),
                Ok(Ok(ToCoordinator::Heartbeat)) => {}
                Ok(Ok(ToCoordinator::Reserve { through })) => {
                    // Recorded first, so the coordinator never knows less than the worker holds.
                    send(WorkerEvent::Granted(through));
                    let _ = grant.send(through);
                }
                Ok(Ok(ToCoordinator::Done { end, totals })) => {
                    send(WorkerEvent::Done { end, totals });
                    break;
                }
                Ok(Ok(ToCoordinator::Failed { reason } | ToCoordinator::Refused { reason })) => {
                    send(WorkerEvent::Failed(reason));
                    break;
                }
                Ok(Ok(other)) => {
                    send(WorkerEvent::Lost(format!("unexpected message {other:?}")));
                    break;
                }
                Ok(Err(FrameError::Closed)) => {
                    send(WorkerEvent::Lost("connection closed before the worker finished".into()));
                    break;
                }
                Ok(Err(e)) => {
                    send(WorkerEvent::Lost(e.to_string()));
                    break;
                }
                Err(_) => {
                    send(WorkerEvent::Lost(format!("silent for {:.1} s (no heartbeat)", lost_after.as_secs_f64())));
                    break;
                }
            }
        }
        feeder.abort();
    }
}

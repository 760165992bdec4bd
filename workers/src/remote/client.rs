//! The coordinator's side of one worker connection: connect, authenticate both ways and
//! seal the channel (`channel`), send the plan, keep the worker's dead-man timer fed, and turn what comes back into
//! `WorkerEvent`s. A worker that closes the connection or falls silent for `lost_after`
//! is reported lost.

use std::time::Duration;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::channel::{self, ChannelError, Ephemeral, Transcript};
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

/// Why a worker could not be connected to. `Refused` and `Version` will not change by
/// trying again; the others may (a daemon not up yet, a network hiccup).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("worker {address}: no connection within 5 s")]
    Timeout { address: String },
    #[error("worker {address}: cannot connect (is `harness worker` running there?)")]
    Unreachable {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("worker {address}: no greeting within 5 s (is it a harness worker?)")]
    Silent { address: String },
    #[error("worker {address}: bad greeting (is it a harness worker?)")]
    BadGreeting {
        address: String,
        #[source]
        source: FrameError,
    },
    /// It speaks another protocol version (it is told so too).
    #[error(
        "worker {address} speaks protocol version {version}, this coordinator {PROTOCOL_VERSION}: run the same harness version on both"
    )]
    Version { address: String, version: u32 },
    #[error("worker {address}: its greeting has no session key")]
    NoSessionKey { address: String },
    /// The session's keys could not be made (e.g. the worker's key is not a key).
    #[error("worker {address}: the session keys")]
    Keys {
        address: String,
        #[source]
        source: ChannelError,
    },
    #[error("worker {address}: sending the authentication")]
    Send {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("worker {address}: no answer to authentication within 5 s")]
    NoAnswer { address: String },
    /// Its answer is neither sealed with this session's keys nor a plaintext refusal.
    #[error(
        "worker {address}: its answer does not open with this session's keys: it does not hold the same secret, or the handshake was altered in transit"
    )]
    NotSameKeys {
        address: String,
        #[source]
        source: ChannelError,
    },
    #[error("worker {address}: reading its answer")]
    Answer {
        address: String,
        #[source]
        source: FrameError,
    },
    /// The worker said no: a wrong or missing secret, another protocol version, busy
    /// with another plan, shutting down.
    #[error("worker {address} refused: {reason}")]
    Refused { address: String, reason: String },
    /// A message other than the one the handshake expects at this point.
    #[error("worker {address}: unexpected {got:?}")]
    Unexpected { address: String, got: Box<ToCoordinator> },
}

impl WorkerLink {
    /// Connect to `address`, prove we hold `secret` (when the worker wants it), and
    /// have the worker prove it holds the same by sealing its acceptance.
    pub async fn connect(address: &str, secret: Option<&[u8]>) -> Result<WorkerLink, ConnectError> {
        let at = || address.to_string();
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| ConnectError::Timeout { address: at() })?
            .map_err(|source| ConnectError::Unreachable { address: at(), source })?;
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let (worker, nonce, worker_key) = greeting(address, &mut rd, &mut wr).await?;
        let mine = Ephemeral::new().map_err(|source| ConnectError::Keys { address: at(), source })?;
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
        protocol::write(&mut wr, &auth).await.map_err(|source| ConnectError::Send { address: at(), source })?;
        let keys = channel::derive(mine, &worker_key, secret, &t)
            .map_err(|source| ConnectError::Keys { address: at(), source })?;
        let mut rx = Receiver::new(rd, keys.to_coordinator);
        let tx = Sender::new(wr, keys.to_worker);
        match answer(address, &mut rx).await? {
            ToCoordinator::Accepted => {
                Ok(WorkerLink { name: worker, address: at(), traffic: Default::default(), rx, tx })
            }
            ToCoordinator::Refused { reason } => Err(ConnectError::Refused { address: at(), reason }),
            other => Err(ConnectError::Unexpected { address: at(), got: Box::new(other) }),
        }
    }

    /// Send `run` (a `ToWorker::Run`) and report the worker's events, tagged with
    /// `index`, until it is done, failed or lost. `stop` turning true sends `Stop`.
    pub async fn run(
        self,
        index: usize,
        run: ToWorker,
        stop: watch::Receiver<bool>,
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
        let (grant, grants) = mpsc::unbounded_channel::<u64>();
        let feeder = tokio::spawn(feed(tx, heartbeat, grants, stop));
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
                // A worker killed with data unread in its socket closes it with a reset.
                Ok(Err(FrameError::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    send(WorkerEvent::Lost(
                        "connection closed before the worker finished (reset by the worker)".into(),
                    ));
                    break;
                }
                // A frame that fails its integrity check: the link was tampered with,
                // not lost. What came before it stands.
                Ok(Err(e @ FrameError::Tampered(_))) => {
                    send(WorkerEvent::Failed(format!(
                        "a frame from the worker failed its integrity check: {}",
                        crate::chain::error_chain(&e)
                    )));
                    break;
                }
                Ok(Err(e)) => {
                    send(WorkerEvent::Lost(crate::chain::error_chain(&e)));
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

/// Keep the worker fed until the connection fails: a heartbeat every `heartbeat`, each
/// grant as it is recorded, and `Stop` once `stop` turns true.
async fn feed(
    mut tx: Sender<OwnedWriteHalf>,
    heartbeat: Duration,
    mut grants: mpsc::UnboundedReceiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
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
}

/// The worker's greeting, of this protocol version: its name, nonce and session key.
async fn greeting(
    address: &str,
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
) -> Result<(String, String, String), ConnectError> {
    let at = || address.to_string();
    let hello = tokio::time::timeout(CONNECT_TIMEOUT, protocol::read::<_, ToCoordinator>(rd, MAX_TO_COORDINATOR))
        .await
        .map_err(|_| ConnectError::Silent { address: at() })?
        .map_err(|source| ConnectError::BadGreeting { address: at(), source })?;
    let ToCoordinator::Hello { protocol: version, worker, nonce, key, busy: _ } = hello else {
        return Err(ConnectError::Unexpected { address: at(), got: Box::new(hello) });
    };
    if version != PROTOCOL_VERSION {
        // Said to the worker too, so that its log names both versions.
        let auth = ToWorker::Auth { protocol: PROTOCOL_VERSION, proof: None, nonce: None, key: None };
        let _ = protocol::write(wr, &auth).await;
        return Err(ConnectError::Version { address: at(), version });
    }
    let key = key.ok_or_else(|| ConnectError::NoSessionKey { address: at() })?;
    Ok((worker, nonce, key))
}

/// The worker's answer to our authentication: sealed with the session's keys, or a
/// refusal in plaintext (before the keys exist the worker can only refuse in plaintext;
/// nothing else unsealed is taken).
async fn answer(address: &str, rx: &mut Receiver<OwnedReadHalf>) -> Result<ToCoordinator, ConnectError> {
    let at = || address.to_string();
    let body = tokio::time::timeout(CONNECT_TIMEOUT, protocol::read_body(rx.inner(), MAX_AUTH_FRAME))
        .await
        .map_err(|_| ConnectError::NoAnswer { address: at() })?
        .map_err(|source| ConnectError::Answer { address: at(), source })?;
    match rx.open_body(body.clone()) {
        Ok(opened) => protocol::parse(&opened).map_err(|source| ConnectError::Answer { address: at(), source }),
        Err(source) => match protocol::parse::<ToCoordinator>(&body) {
            Ok(refused @ ToCoordinator::Refused { .. }) => Ok(refused),
            _ => Err(ConnectError::NotSameKeys { address: at(), source }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_nobody_listens_on_is_unreachable_not_a_refusal() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let e = WorkerLink::connect(&address, None).await.err().expect("nothing listens there");
        // The OS says "Connection refused"; the worker said nothing, so trying again may help.
        assert!(matches!(e, ConnectError::Unreachable { .. }), "{e}");
        assert!(crate::chain::error_chain(&e).starts_with(&format!("worker {address}: cannot connect")));
    }
}

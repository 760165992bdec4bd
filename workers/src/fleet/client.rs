//! The coordinator's side of one worker connection: connect and authenticate, send the
//! plan, keep the worker's dead-man timer fed, and turn what comes back into
//! `WorkerEvent`s. A worker that closes the connection or falls silent for `lost_after`
//! is reported lost.

use std::time::Duration;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::protocol::{self, FrameError, ToCoordinator, ToWorker, MAX_TO_COORDINATOR, PROTOCOL_VERSION};
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

/// An authenticated connection to a worker, ready for a plan.
pub struct WorkerLink {
    /// The name the worker gave.
    pub name: String,
    pub address: String,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
}

impl WorkerLink {
    /// Connect to `address` and prove we hold `secret` (when the worker wants it).
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
        let ToCoordinator::Hello { protocol: version, worker, nonce, busy: _ } = hello else {
            return Err(format!("worker {address}: expected a greeting, got {hello:?}"));
        };
        let proof = secret.map(|s| protocol::proof(s, &nonce));
        protocol::write(&mut wr, &ToWorker::Auth { protocol: PROTOCOL_VERSION, proof })
            .await
            .map_err(|e| format!("worker {address}: {e}"))?;
        let answer =
            tokio::time::timeout(CONNECT_TIMEOUT, protocol::read::<_, ToCoordinator>(&mut rd, MAX_TO_COORDINATOR))
                .await
                .map_err(|_| format!("worker {address}: no answer to authentication within 5 s"))?;
        match answer {
            Ok(ToCoordinator::Accepted) => Ok(WorkerLink { name: worker, address: address.to_string(), rd, wr }),
            Ok(ToCoordinator::Refused { reason }) => Err(format!("worker {address} refused: {reason}")),
            Ok(other) => Err(format!("worker {address}: unexpected {other:?}")),
            Err(e) if version != PROTOCOL_VERSION => Err(format!(
                "worker {address} speaks protocol version {version}, this coordinator {PROTOCOL_VERSION}: {e}"
            )),
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
        let WorkerLink { mut rd, mut wr, .. } = self;
        let send = |e: WorkerEvent| {
            let _ = events.send((index, e));
        };
        if let Err(e) = protocol::write(&mut wr, &run).await {
            return send(WorkerEvent::Lost(format!("sending the plan: {e}")));
        }
        let (grant, mut grants) = mpsc::unbounded_channel::<u64>();
        let feeder = tokio::spawn(async move {
            let mut tick = tokio::time::interval(heartbeat);
            let mut stopped = false;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if protocol::write(&mut wr, &ToWorker::Heartbeat).await.is_err() {
                            return;
                        }
                    }
                    Some(through) = grants.recv() => {
                        if protocol::write(&mut wr, &ToWorker::Grant { through }).await.is_err() {
                            return;
                        }
                    }
                    changed = stop.changed(), if !stopped => {
                        if changed.is_err() || *stop.borrow() {
                            stopped = true;
                            if protocol::write(&mut wr, &ToWorker::Stop).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        loop {
            match tokio::time::timeout(lost_after, protocol::read::<_, ToCoordinator>(&mut rd, MAX_TO_COORDINATOR))
                .await
            {
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

//! Simulated workers: the daemon's side of the real protocol (the daemon's own
//! handshake, `Daemon::handshake`, and sealed frames) without an engine. Each listens on
//! its own port of 127.0.0.1, takes one plan, and streams one `Interval` a second of
//! realistic size (latency and function-duration histograms from a lognormal around
//! 20 ms, four error classes, OCC retries, about 20 hot-account rows), heartbeats in
//! between, lease asks as a worker's engine makes them, and its end report, all
//! consistent (its totals are the sum of its intervals, calls = successes + errors). No
//! call is made: it measures what following a large fleet costs a coordinator
//! (`harness-bench fleet`) and checks that the coordinator merges exactly
//! (`harness/tests/fleet_scale.rs`).
//!
//! The seconds are drawn once, up front: `variants` different intervals for each second,
//! worker `i` sending variant `i % variants`, each serialised once and sealed per
//! connection. So what the fleet sent is known exactly, whatever its size, and the
//! simulation's own cost is little more than sealing and writing.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::daemon::{Daemon, DaemonConfig};
use super::protocol::{Receiver, Sender, ToCoordinator, ToWorker, MAX_TO_WORKER};
use crate::{AccountCounts, CallRecord, EngineEnd, ErrorClass, Interval, Stats, StopReason};

/// How long a simulated worker waits for its coordinator's plan once authenticated.
const PLAN_TIMEOUT: Duration = Duration::from_secs(30);
/// The accounts the simulated transfers touch: the rows of each second's hot-account view.
const HOT_ACCOUNTS: i64 = 20;
/// Calls in flight each simulated worker reports at the end of a second (but the last).
const IN_FLIGHT: u64 = 4;

/// What the simulated fleet is.
#[derive(Debug, Clone)]
pub struct SimSpec {
    pub workers: usize,
    /// Seconds each worker streams (its plan's duration should be the same); fewer when
    /// it is told to stop.
    pub seconds: u64,
    /// Calls each worker reports a second.
    pub calls_per_second: u64,
    /// Different intervals drawn for each second (worker `i` sends variant `i % variants`).
    pub variants: usize,
    pub seed: u64,
    /// The secret coordinators must prove they hold.
    pub secret: Option<Vec<u8>>,
}

/// One second of one variant: the message as sent, and what it adds up to.
struct Drawn {
    /// `ToCoordinator::Interval(..)` as JSON.
    json: Vec<u8>,
    accounts: AccountCounts,
    /// The variant's totals over its seconds so far, this one included (packed).
    totals: Stats,
}

/// Every second every worker may send: `seconds[k][v]`.
struct Pool {
    seconds: Vec<Vec<Drawn>>,
}

impl Pool {
    fn draw(spec: &SimSpec) -> Pool {
        let variants = spec.variants.max(1);
        let mut running: Vec<Stats> = vec![Stats::default(); variants];
        let mut calls = vec![0u64; variants];
        let seconds = (0..spec.seconds)
            .map(|k| {
                (0..variants)
                    .map(|v| {
                        let mut rng = SmallRng::seed_from_u64(spec.seed ^ (k << 20) ^ v as u64);
                        let (stats, accounts) = second(&mut rng, spec.calls_per_second);
                        calls[v] += stats.calls;
                        let in_flight = if k + 1 < spec.seconds { IN_FLIGHT } else { 0 };
                        running[v].merge(&stats);
                        let interval = Interval {
                            index: k,
                            seconds: 1.0,
                            started: calls[v] + in_flight,
                            in_flight,
                            stats,
                            accounts: accounts.clone(),
                        };
                        let json =
                            serde_json::to_vec(&ToCoordinator::Interval(interval)).expect("an interval serialises");
                        let mut totals = running[v].clone();
                        totals.pack();
                        Drawn { json, accounts, totals }
                    })
                    .collect()
            })
            .collect();
        Pool { seconds }
    }

    /// What a worker of `variant` sent in its first `seconds` seconds.
    fn sent(&self, variant: usize, seconds: usize) -> (Stats, AccountCounts) {
        let Some(last) = seconds.checked_sub(1) else { return Default::default() };
        let mut accounts = AccountCounts::default();
        self.seconds[..seconds].iter().for_each(|s| accounts.merge(&s[variant].accounts));
        (self.seconds[last][variant].totals.clone(), accounts)
    }
}

/// One second of one worker's calls: their statistics and the accounts they touched.
fn second(rng: &mut SmallRng, calls: u64) -> (Stats, AccountCounts) {
    let latency = LogNormal::new((20_000f64).ln(), 0.5).expect("valid lognormal");
    let (mut stats, mut accounts) = (Stats::default(), AccountCounts::default());
    for _ in 0..calls {
        let call = call(rng, &latency);
        stats.record(&call);
        accounts.record(&call);
    }
    (stats, accounts)
}

/// One call: a lognormal latency around 20 ms, a few errors of four classes, OCC
/// retries for the calls that ran the transaction, and two of the hot accounts.
fn call(rng: &mut SmallRng, latency: &LogNormal<f64>) -> CallRecord {
    let latency_us = latency.sample(rng).clamp(1_000.0, 10e6) as u64;
    let error = match rng.random::<f64>() {
        r if r < 0.010 => Some((ErrorClass::Throttle, "TooManyRequestsException: Rate exceeded")),
        r if r < 0.020 => {
            Some((ErrorClass::Function, "OccConflict: change conflicts with another transaction (OC000)"))
        }
        r if r < 0.022 => Some((ErrorClass::Timeout, "no answer within 5 s")),
        r if r < 0.027 => Some((ErrorClass::Business, "InsufficientBalance: the payer's balance is too low")),
        _ => None,
    };
    let ran = !matches!(error, Some((ErrorClass::Throttle | ErrorClass::Timeout, _)));
    let retries = match rng.random::<f64>() {
        r if r < 0.80 => 0,
        r if r < 0.92 => 1,
        r if r < 0.97 => 2,
        _ => 3,
    };
    let payer = rng.random_range(1..=HOT_ACCOUNTS);
    let payee = 1 + (payer - 1 + rng.random_range(1..HOT_ACCOUNTS)) % HOT_ACCOUNTS;
    CallRecord {
        latency_us,
        function_us: ran.then(|| latency_us * 4 / 5),
        retries: ran.then_some(retries),
        error: error.map(|(class, message)| (class, message.to_string())),
        accounts: Some((payer, payee)),
        ..CallRecord::default()
    }
}

/// What the simulated workers sent, summed, and how each ended.
#[derive(Debug, Default)]
pub struct Sent {
    pub totals: Stats,
    pub accounts: AccountCounts,
    /// Intervals sent, over every worker.
    pub intervals: u64,
    /// Workers that ran a plan to its end and reported it (`Done`).
    pub finished: usize,
    /// What went wrong with the others, one line each.
    pub problems: Vec<String>,
}

/// Simulated workers listening, each for one plan.
pub struct SimFleet {
    /// `host:port` of every worker, in order.
    pub addresses: Vec<String>,
    pool: Arc<Pool>,
    variants: usize,
    running: tokio::task::JoinSet<(usize, Result<usize, String>)>,
}

impl SimFleet {
    /// Draw the seconds and start `spec.workers` workers, each on a port of its own.
    pub async fn start(spec: &SimSpec) -> std::io::Result<SimFleet> {
        let pool = Arc::new(Pool::draw(spec));
        let variants = spec.variants.max(1);
        let (events, _) = mpsc::unbounded_channel();
        let (_, shutdown) = watch::channel(false);
        let (mut addresses, mut running) = (Vec::new(), tokio::task::JoinSet::new());
        for i in 0..spec.workers {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            addresses.push(listener.local_addr()?.to_string());
            let config =
                DaemonConfig { name: format!("sim-{}", i + 1), secret: spec.secret.clone(), max_in_flight: None };
            let daemon = Daemon::new(config, events.clone(), shutdown.clone());
            let pool = pool.clone();
            running.spawn(async move { (i, serve(daemon, listener, pool, i % variants).await) });
        }
        Ok(SimFleet { addresses, pool, variants, running })
    }

    /// Wait for every worker to end, and sum what they sent.
    pub async fn finish(mut self) -> Sent {
        let mut sent = Sent::default();
        while let Some(joined) = self.running.join_next().await {
            let (i, outcome) = joined.unwrap_or_else(|e| (usize::MAX, Err(format!("the task failed: {e}"))));
            match outcome {
                Ok(seconds) => {
                    let (totals, accounts) = self.pool.sent(i % self.variants, seconds);
                    sent.totals.merge(&totals);
                    sent.accounts.merge(&accounts);
                    sent.intervals += seconds as u64;
                    sent.finished += 1;
                }
                Err(problem) => sent.problems.push(format!("simulated worker {}: {problem}", i.wrapping_add(1))),
            }
        }
        sent
    }
}

/// One worker: a coordinator, its plan, its seconds and its end; the seconds it sent.
async fn serve(daemon: Arc<Daemon>, listener: TcpListener, pool: Arc<Pool>, variant: usize) -> Result<usize, String> {
    let (stream, peer) = listener.accept().await.map_err(|e| format!("accepting: {e}"))?;
    drop(listener);
    let (mut rx, mut tx) =
        daemon.handshake(stream, peer).await.ok_or("the coordinator was refused or went away in the handshake")?;
    let plan = tokio::time::timeout(PLAN_TIMEOUT, rx.recv::<ToWorker>(MAX_TO_WORKER)).await;
    let Ok(Ok(ToWorker::Run { start_at_ms, heartbeat_ms, grant, .. })) = plan else {
        return Err(format!("no plan: {plan:?}"));
    };
    let (stop_tx, stop) = watch::channel(false);
    let reader = tokio::spawn(listen(rx, stop_tx));
    let timing = (start_at_ms, Duration::from_millis(heartbeat_ms.max(50)), grant.max(1));
    let seconds = seconds(&mut tx, &pool, variant, timing, stop).await.map_err(|e| format!("sending: {e}"))?;
    // The coordinator closes the connection once it has the end.
    let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
    Ok(seconds)
}

/// Take the coordinator's frames (heartbeats, grants) until it says stop or goes away.
async fn listen(mut rx: Receiver<OwnedReadHalf>, stop: watch::Sender<bool>) {
    loop {
        match rx.recv::<ToWorker>(MAX_TO_WORKER).await {
            Ok(ToWorker::Stop) => {
                let _ = stop.send(true);
            }
            Ok(_) => {}
            Err(_) => {
                let _ = stop.send(true);
                return;
            }
        }
    }
}

/// From the agreed start: `Started`, then an interval at the end of every second (a
/// lease ask before it when the calls come within half a grant of what was asked),
/// heartbeats between, and `Done`; the seconds sent.
async fn seconds(
    tx: &mut Sender<OwnedWriteHalf>,
    pool: &Pool,
    variant: usize,
    (start_at_ms, heartbeat, chunk): (u64, Duration, u64),
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<usize> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let start = Instant::now() + Duration::from_millis(start_at_ms.saturating_sub(now_ms));
    tokio::time::sleep_until(start).await;
    tx.send(&ToCoordinator::Started).await?;
    let mut beat = tokio::time::interval_at(start + heartbeat, heartbeat);
    let (mut asked, mut k) = (chunk, 0);
    while k < pool.seconds.len() && !*stop.borrow() {
        tokio::select! {
            _ = tokio::time::sleep_until(start + Duration::from_secs(k as u64 + 1)) => {
                while pool.seconds[k][variant].totals.calls + chunk / 2 >= asked {
                    asked += chunk;
                    tx.send(&ToCoordinator::Reserve { through: asked }).await?;
                }
                tx.send_json(pool.seconds[k][variant].json.clone()).await?;
                k += 1;
            }
            _ = beat.tick() => tx.send(&ToCoordinator::Heartbeat).await?,
            _ = stop.changed() => {}
        }
    }
    let (totals, _) = pool.sent(variant, k);
    let stop = if k == pool.seconds.len() { StopReason::Completed } else { StopReason::Cancelled };
    let end = EngineEnd { started: totals.calls, abandoned: 0, elapsed_s: k as f64, stop };
    tx.send(&ToCoordinator::Done { end, totals }).await?;
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_seconds_are_consistent_and_a_worker_s_totals_are_their_sum() {
        let spec = SimSpec { workers: 1, seconds: 3, calls_per_second: 2_000, variants: 2, seed: 1, secret: None };
        let pool = Pool::draw(&spec);
        let mut sum = Stats::default();
        for (k, second) in pool.seconds.iter().enumerate() {
            let Ok(ToCoordinator::Interval(i)) = serde_json::from_slice(&second[1].json) else { panic!("an interval") };
            assert_eq!((i.index, i.stats.calls), (k as u64, 2_000));
            assert_eq!(i.stats.calls, i.stats.successes + i.stats.error_count());
            assert_eq!(i.stats.errors.len(), 4, "{:?}", i.stats.errors);
            assert_eq!(i.stats.latency_us.count(), 2_000);
            assert_eq!(i.accounts.0.len(), HOT_ACCOUNTS as usize);
            assert_eq!(i.accounts, second[1].accounts);
            sum.merge(&i.stats);
            assert_eq!(i.started, sum.calls + i.in_flight, "started = finished + in flight");
        }
        assert_eq!(pool.sent(1, 3).0, sum);
        assert_eq!(pool.sent(0, 0).0.calls, 0);
        assert_ne!(pool.seconds[0][0].json, pool.seconds[0][1].json, "the variants differ");
        let median = sum.latency_us.quantile(0.5);
        assert!((17_000..23_000).contains(&median), "a lognormal around 20 ms: {median}");
    }
}

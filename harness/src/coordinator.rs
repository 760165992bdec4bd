//! The coordinator of a distributed run (`harness run` with `[workers]`): start local worker processes or connect to
//! daemons, give each its share of the plan, start them together at an agreed instant,
//! and merge what they stream back exactly (histograms are added, never averaged). A
//! worker that is lost is marked with the seconds it missed and the calls it did not
//! make; the run goes on or stops as the scenario says.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};
use workers::remote::protocol::ToWorker;
use workers::remote::{ConnectError, WorkerEvent, WorkerLink, WorkerTarget};
use workers::{EngineEnd, Halt, Interval, Stats, StopReason};

use crate::record::{Driven, Record};
use crate::scenario::{FleetSpec, OnLost, Plan, WorkerSet};
use crate::summary::{CoordinatorCost, WorkerReport, WorkerStatus};

/// Time between the plans going out and the load starting, so every worker starts at once.
const START_DELAY: Duration = Duration::from_millis(1_500);

/// Worker processes on this machine, stopped when dropped.
struct LocalWorkers {
    _children: Vec<Child>,
}

async fn spawn_local(n: usize, secret: &str) -> anyhow::Result<(LocalWorkers, Vec<String>)> {
    let (mut children, mut addresses) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut child = crate::local_stack::owned_child()?
            .args(["worker", "--listen", "127.0.0.1:0", "--plans", "1", "--exit-with-stdin"])
            .args(["--name", &format!("local-{}", i + 1)])
            .env(crate::secret::SECRET_ENV, secret)
            .stderr(Stdio::null())
            .spawn()
            .context("starting a local worker process")?;
        addresses.push(crate::local_stack::announced(&mut child, "a local worker").await?);
        children.push(child);
    }
    Ok((LocalWorkers { _children: children }, addresses))
}

/// One worker's progress through the run.
struct Seen {
    name: String,
    address: String,
    planned: Option<u64>,
    totals: Stats,
    intervals: u64,
    /// It said its engine started (the agreed instant came and it was not stopped).
    began: bool,
    /// Calls it had started by its last interval.
    last_started: u64,
    /// Calls it may invoke (the lease), recorded before each grant is sent.
    granted: u64,
    end: Option<EngineEnd>,
    lost: Option<(WorkerStatus, String)>,
    traffic: std::sync::Arc<workers::remote::client::Traffic>,
}

impl Seen {
    fn new(link: &WorkerLink, planned: Option<u64>, granted: u64) -> Seen {
        Seen {
            name: link.name.clone(),
            address: link.address.clone(),
            planned,
            totals: Stats::default(),
            intervals: 0,
            began: false,
            last_started: 0,
            granted,
            end: None,
            lost: None,
            traffic: link.traffic.clone(),
        }
    }

    fn finished(&self) -> bool {
        self.end.is_some() || self.lost.is_some()
    }

    /// Take one event of this worker's; its intervals go into `merged`.
    fn take(&mut self, event: WorkerEvent, merged: &mut BTreeMap<u64, Interval>) {
        match event {
            WorkerEvent::Started => self.began = true,
            WorkerEvent::Interval(interval) => {
                self.totals.merge(&interval.stats);
                self.intervals += 1;
                self.last_started = self.last_started.max(interval.started);
                merge_into(merged, interval);
            }
            WorkerEvent::Done { end, totals } => {
                if let Err(mismatch) = self.cross_check(&end, &totals) {
                    self.lost = Some((WorkerStatus::Failed, mismatch));
                }
                self.end = Some(end);
            }
            WorkerEvent::Granted(through) => self.granted = self.granted.max(through),
            WorkerEvent::Lost(reason) => self.lost = Some((WorkerStatus::Lost, reason)),
            WorkerEvent::Failed(reason) => self.lost = Some((WorkerStatus::Failed, reason)),
        }
    }

    /// A worker's own end against what it streamed and what it was sent: its totals
    /// must equal the sum of its intervals, it must have recorded every call it started,
    /// and started no more than its share.
    fn cross_check(&self, end: &EngineEnd, totals: &Stats) -> Result<(), String> {
        let streamed = &self.totals;
        if totals.calls != streamed.calls || totals.successes != streamed.successes || totals.errors != streamed.errors
        {
            return Err(format!(
                "its reported totals ({} calls, {} successes) differ from the sum of its intervals ({} calls, {} successes)",
                totals.calls, totals.successes, streamed.calls, streamed.successes
            ));
        }
        if end.started != streamed.calls {
            return Err(format!("it started {} calls but recorded {}", end.started, streamed.calls));
        }
        match self.planned {
            Some(p) if end.started > p => Err(format!("it started {} calls, more than its share of {p}", end.started)),
            _ => Ok(()),
        }
    }

    /// Calls it started: as it said at its end, else as its last interval said.
    fn started(&self) -> u64 {
        self.end.as_ref().map_or(self.last_started.max(self.totals.calls), |e| e.started)
    }

    /// Calls it may have started: for a worker that ended and agreed with itself, those
    /// it said; for a lost or failed one, its lease too (it cannot start a call beyond
    /// it), within its share.
    fn may_have_started(&self) -> u64 {
        let started = self.started();
        // Its own sealed word: it ended, or failed (refused the plan, or stopped on an
        // altered frame) before its engine started, so it made no call it did not report.
        let failed_first = !self.began && matches!(self.lost, Some((WorkerStatus::Failed, _)));
        if (self.end.is_some() && self.lost.is_none()) || (failed_first && self.end.is_none()) {
            return started;
        }
        let leased = self.granted.max(started);
        self.planned.map_or(leased, |p| leased.min(p.max(started)))
    }

    /// Its row of the report; `seconds` is how many seconds the run had, `load_start`
    /// the agreed instant the load began.
    fn report(self, seconds: u64, load_start: Instant) -> WorkerReport {
        let started = self.started();
        let may_have_started = self.may_have_started();
        WorkerReport {
            status: match (&self.lost, &self.end) {
                (Some((status, _)), _) => *status,
                (None, Some(end)) => end.stop.into(),
                (None, None) => WorkerStatus::Lost,
            },
            reason: self.lost.as_ref().map(|(_, r)| r.clone()),
            address: Some(self.address),
            elapsed_s: self
                .end
                .as_ref()
                .map_or(Instant::now().saturating_duration_since(load_start).as_secs_f64(), |e| e.elapsed_s),
            // Seconds after a lost worker's last interval; a worker that finished early
            // (its share was done) missed nothing.
            missed_intervals: if self.lost.is_some() { seconds.saturating_sub(self.intervals) } else { 0 },
            // Certainly not started: beyond what it may have started.
            undelivered_calls: self.planned.map(|p| p.saturating_sub(may_have_started)),
            unreported_calls: started.saturating_sub(self.totals.calls),
            // A worker that ended reported everything; one that was lost or failed may
            // have invoked any call of its lease that it never reported.
            unreported_at_most: may_have_started.saturating_sub(self.totals.calls),
            frames_received: self.traffic.frames.load(std::sync::atomic::Ordering::Relaxed),
            bytes_received: self.traffic.bytes.load(std::sync::atomic::Ordering::Relaxed),
            name: self.name,
            totals: self.totals,
        }
    }
}

/// Run the plan on the fleet: connect, split, start together, merge what comes back
/// second by second into `record`, and account for every worker.
pub async fn drive(
    plan: &Plan,
    fleet: &FleetSpec,
    target: WorkerTarget,
    secret: Option<Vec<u8>>,
    halt: watch::Receiver<Halt>,
    mut record: Record,
) -> anyhow::Result<Driven> {
    let (cpu_before, clock) = (cpu_seconds(), Instant::now());
    let (_local, links) = connect(plan, fleet, secret).await?;
    let shares =
        workers::remote::split(&plan.engine, links.len(), fleet.partition_accounts).map_err(anyhow::Error::msg)?;
    let (stop, stopped) = watch::channel(false);
    let (events, received) = mpsc::unbounded_channel();
    let mut seen = Vec::new();
    let timing = Timing::new(fleet);
    for (i, (link, share)) in links.into_iter().zip(shares).enumerate() {
        // The lease's chunk: room for two rounds of calls in flight before it asks again.
        let grant = (2 * share.load.max_in_flight()).max(256);
        seen.push(Seen::new(&link, share.load.planned_calls(), grant));
        let run = timing.run_message(share, target.clone(), grant);
        tokio::spawn(link.run(i, run, stopped.clone(), timing.heartbeat, timing.lost_after, events.clone()));
    }
    drop(events);
    let bound = START_DELAY
        + Duration::from_secs_f64(plan.engine.max_duration_s + plan.engine.drain_timeout_s)
        + 2 * timing.lost_after;
    let load_start = Instant::now() + START_DELAY;
    let cancelled = follow(&mut seen, received, halt, stop, fleet.on_lost, bound, &mut record).await;
    let (totals, intervals, accounts) = record.finish();
    let abandoned = seen.iter().filter_map(|s| s.end.as_ref()).map(|e| e.abandoned).sum();
    let started = seen.iter().map(Seen::started).sum();
    let workers: Vec<WorkerReport> = seen.into_iter().map(|s| s.report(intervals.len() as u64, load_start)).collect();
    let end = fleet_end(&workers, started, abandoned, cancelled);
    let coordinator = Some(CoordinatorCost {
        workers: workers.len() as u64,
        seconds: clock.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds() - cpu_before,
        max_rss_kib: max_rss_kib(),
        frames: workers.iter().map(|w| w.frames_received).sum(),
        bytes: workers.iter().map(|w| w.bytes_received).sum(),
    });
    Ok(Driven { end, totals, intervals, workers, accounts, coordinator })
}

/// This process's CPU time so far, user and system, seconds.
fn cpu_seconds() -> f64 {
    let usage = rusage();
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// This process's peak resident memory, KiB.
fn max_rss_kib() -> u64 {
    rusage().ru_maxrss.max(0) as u64
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage fills the struct it is given; zeroes are a valid start.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer cannot fail.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage
}

/// The local worker processes (if any) and an authenticated link to every worker.
async fn connect(
    plan: &Plan,
    fleet: &FleetSpec,
    secret: Option<Vec<u8>>,
) -> anyhow::Result<(Option<LocalWorkers>, Vec<WorkerLink>)> {
    let (local, addresses, secret) = match &fleet.workers {
        WorkerSet::Local(n) => {
            let secret = workers::remote::protocol::nonce() + &workers::remote::protocol::nonce();
            let (local, addresses) = spawn_local(*n, &secret).await?;
            (Some(local), addresses, Some(secret.into_bytes()))
        }
        WorkerSet::Remote(addresses) => (None, addresses.clone(), secret),
        WorkerSet::Dns(name_port) => (None, crate::scenario::resolve_workers(name_port).await?, secret),
        WorkerSet::Fleet(stack) => {
            let (addresses, secret) = aws_fleet(plan, stack, secret).await?;
            return Ok((None, connect_patiently(&addresses, &secret, FLEET_PATIENCE).await?));
        }
    };
    let connected =
        futures::future::join_all(addresses.iter().map(|a| WorkerLink::connect(a, secret.as_deref()))).await;
    let problems: Vec<String> =
        connected.iter().filter_map(|c| c.as_ref().err().map(|e| workers::error_chain(e))).collect();
    anyhow::ensure!(problems.is_empty(), "cannot start the run:\n  {}", problems.join("\n  "));
    Ok((local, connected.into_iter().map(Result::unwrap).collect()))
}

/// How long a fleet's instances may take to be in service, and their daemons to answer.
const FLEET_PATIENCE: Duration = Duration::from_secs(300);

/// A fleet stack's workers in service (waiting for them, bounded) and its secret (from
/// SSM unless given), with the AWS configuration of the target.
async fn aws_fleet(plan: &Plan, stack: &str, secret: Option<Vec<u8>>) -> anyhow::Result<(Vec<String>, Vec<u8>)> {
    let access = match &plan.target {
        crate::scenario::TargetSpec::Aws { access, .. } => access.clone(),
        _ => workers::target::AwsAccess::default(),
    };
    let sdk = workers::target::aws_sdk_config(access.region, access.profile).await;
    let clients = crate::fleet::Clients::new(&sdk);
    let addresses = crate::fleet::wait_for(&clients, stack, FLEET_PATIENCE, Duration::from_secs(5)).await?;
    let secret = match secret {
        Some(s) => s,
        None => crate::fleet::secret(&clients, &crate::fleet::outputs(&clients, stack).await?).await?,
    };
    Ok((addresses, secret))
}

/// Connect to every worker once all of them listen, trying again while any does not
/// (a daemon comes up a little after its instance is in service), for at most
/// `patience`. The links are made together, as a daemon waits only 10 s for its plan;
/// a refusal (a wrong secret, another version, busy) ends the wait at once.
async fn connect_patiently(addresses: &[String], secret: &[u8], patience: Duration) -> anyhow::Result<Vec<WorkerLink>> {
    let deadline = Instant::now() + patience;
    loop {
        let problems = match silent(addresses).await {
            silent if !silent.is_empty() => silent,
            _ => {
                let tries = futures::future::join_all(addresses.iter().map(|a| WorkerLink::connect(a, Some(secret))));
                let mut links = Vec::new();
                let mut problems = Vec::new();
                for t in tries.await {
                    match t {
                        Ok(link) => links.push(link),
                        // Refusals will not change.
                        Err(e @ (ConnectError::Refused { .. } | ConnectError::Version { .. })) => {
                            anyhow::bail!("cannot start the run: {}", workers::error_chain(&e))
                        }
                        Err(e) => problems.push(workers::error_chain(&e)),
                    }
                }
                if problems.is_empty() {
                    return Ok(links);
                }
                problems
            }
        };
        anyhow::ensure!(
            Instant::now() < deadline,
            "cannot start the run: workers not answering after {} s:\n  {}",
            patience.as_secs(),
            problems.join("\n  ")
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The workers not listening yet (a TCP connection, closed at once), and why.
async fn silent(addresses: &[String]) -> Vec<String> {
    async fn probe(a: &str) -> Option<String> {
        match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("worker {a}: {e}")),
            Err(_) => Some(format!("worker {a}: no connection within 5 s")),
        }
    }
    futures::future::join_all(addresses.iter().map(|a| probe(a))).await.into_iter().flatten().collect()
}

/// When the fleet starts, and how its liveness is watched.
struct Timing {
    start_at_ms: u64,
    heartbeat: Duration,
    lost_after: Duration,
}

impl Timing {
    fn new(fleet: &FleetSpec) -> Timing {
        let start_at = SystemTime::now() + START_DELAY;
        Timing {
            start_at_ms: start_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            heartbeat: Duration::from_secs_f64(fleet.heartbeat_s),
            lost_after: Duration::from_secs_f64(fleet.lost_after_s),
        }
    }

    fn run_message(&self, plan: workers::EnginePlan, target: WorkerTarget, grant: u64) -> ToWorker {
        ToWorker::Run {
            plan,
            target,
            start_at_ms: self.start_at_ms,
            heartbeat_ms: self.heartbeat.as_millis() as u64,
            dead_man_ms: self.lost_after.as_millis() as u64,
            grant,
        }
    }
}

/// Follow the workers' events until every worker has finished or is lost, merging
/// complete seconds into `record`; whether the run was cancelled.
async fn follow(
    seen: &mut [Seen],
    mut received: mpsc::UnboundedReceiver<(usize, WorkerEvent)>,
    mut halt: watch::Receiver<Halt>,
    stop: watch::Sender<bool>,
    on_lost: OnLost,
    bound: Duration,
    record: &mut Record,
) -> bool {
    let deadline = tokio::time::Instant::now() + bound;
    let mut merged: BTreeMap<u64, Interval> = BTreeMap::new();
    while seen.iter().any(|s| !s.finished()) {
        tokio::select! {
            event = received.recv() => {
                let Some((i, event)) = event else { break };
                seen[i].take(event, &mut merged);
                if let Some((status, reason)) = &seen[i].lost {
                    record.say(&format!("worker {} {}: {reason}", seen[i].name, status.name()));
                    if on_lost == OnLost::Stop {
                        let _ = stop.send(true);
                    }
                }
            }
            changed = halt.changed() => {
                let level = if changed.is_ok() { *halt.borrow() } else { Halt::Go };
                if level >= Halt::Drain {
                    let _ = stop.send(true);
                }
                if level == Halt::Now {
                    for s in seen.iter_mut().filter(|s| !s.finished()) {
                        s.lost = Some((WorkerStatus::Lost, "stopped at once by a second signal before it reported".into()));
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                for s in seen.iter_mut().filter(|s| !s.finished()) {
                    s.lost = Some((WorkerStatus::Lost, format!("no end within {:.0} s", bound.as_secs_f64())));
                }
            }
        }
        // Second k is complete once every worker still going has sent it.
        let complete = seen.iter().filter(|s| !s.finished()).map(|s| s.intervals).min().unwrap_or(u64::MAX);
        flush(&mut merged, complete, record);
    }
    flush(&mut merged, u64::MAX, record);
    let cancelled = *halt.borrow() != Halt::Go;
    cancelled
}

/// How the fleet's run ended, from its workers' reports.
fn fleet_end(workers: &[WorkerReport], started: u64, abandoned: u64, cancelled: bool) -> EngineEnd {
    EngineEnd {
        started,
        abandoned,
        elapsed_s: workers.iter().map(|w| w.elapsed_s).fold(0.0, f64::max),
        stop: if cancelled || workers.iter().any(|w| w.status == WorkerStatus::Cancelled) {
            StopReason::Cancelled
        } else if workers.iter().any(|w| w.status == WorkerStatus::TimeLimit) {
            StopReason::TimeLimit
        } else {
            StopReason::Completed
        },
    }
}

/// Add one worker's interval into the fleet's interval of the same second.
fn merge_into(merged: &mut BTreeMap<u64, Interval>, interval: Interval) {
    match merged.get_mut(&interval.index) {
        Some(m) => {
            m.seconds = m.seconds.max(interval.seconds);
            m.started += interval.started;
            m.in_flight += interval.in_flight;
            m.stats.merge(&interval.stats);
            m.accounts.merge(&interval.accounts);
        }
        None => {
            merged.insert(interval.index, interval);
        }
    }
}

/// Move the complete seconds (index < `complete`) into the run's record. Every worker
/// starts at the same instant, so their second k is the same second.
fn flush(merged: &mut BTreeMap<u64, Interval>, complete: u64, record: &mut Record) {
    while let Some(entry) = merged.first_entry() {
        if *entry.key() >= complete {
            break;
        }
        record.second(entry.remove());
    }
}

#[cfg(test)]
mod tests {
    use workers::{CallRecord, ErrorClass};

    use super::*;

    fn seen(planned: Option<u64>, calls: u64) -> Seen {
        let mut totals = Stats::default();
        for i in 0..calls {
            let error = (i % 3 == 0).then(|| (ErrorClass::Throttle, "TooManyRequestsException".to_string()));
            totals.record(&CallRecord {
                latency_us: 1_000,
                function_us: None,
                retries: None,
                error,
                late: false,
                ..CallRecord::default()
            });
        }
        Seen {
            name: "w".into(),
            address: "127.0.0.1:1".into(),
            planned,
            totals,
            intervals: 1,
            began: true,
            last_started: calls,
            granted: calls + 5,
            end: None,
            lost: None,
            traffic: Default::default(),
        }
    }

    fn end(started: u64) -> EngineEnd {
        EngineEnd { started, abandoned: 0, elapsed_s: 1.0, stop: StopReason::Completed }
    }

    #[test]
    fn a_worker_s_end_must_match_what_it_streamed_and_its_share() {
        let s = seen(Some(10), 10);
        assert!(s.cross_check(&end(10), &s.totals.clone()).is_ok());
        let fewer = seen(Some(10), 7).totals;
        assert!(s.cross_check(&end(10), &fewer).unwrap_err().contains("differ from the sum of its intervals"));
        assert!(s.cross_check(&end(12), &s.totals.clone()).unwrap_err().contains("started 12 calls but recorded 10"));
        let over = seen(Some(8), 10);
        assert!(over.cross_check(&end(10), &over.totals.clone()).unwrap_err().contains("more than its share of 8"));
        let mut merged = BTreeMap::new();
        let mut liar = seen(Some(10), 10);
        liar.take(WorkerEvent::Done { end: end(10), totals: fewer }, &mut merged);
        assert_eq!(liar.lost.as_ref().map(|l| l.0), Some(WorkerStatus::Failed));
    }

    #[test]
    fn a_lost_worker_s_calls_are_not_started_or_unreported() {
        let mut s = seen(Some(20), 7);
        s.last_started = 10; // 3 calls were in flight when it was last heard of
        s.lost = Some((WorkerStatus::Lost, "connection closed".into()));
        s.granted = 16;
        let r = s.report(5, Instant::now());
        assert_eq!((r.totals.calls, r.unreported_calls), (7, 3));
        assert_eq!(r.unreported_at_most, 9, "its lease allowed 16 calls, 7 were reported");
        assert_eq!(r.undelivered_calls, Some(4), "not started: only the 4 calls of its share beyond its lease");
    }

    #[test]
    fn a_lost_worker_s_lease_counts_within_its_share() {
        // The first grant may exceed a small share: the worker cannot start beyond it.
        let mut s = seen(Some(20), 5);
        s.granted = 256;
        s.lost = Some((WorkerStatus::Failed, "a frame failed its integrity check".into()));
        let r = s.report(5, Instant::now());
        assert_eq!((r.unreported_at_most, r.undelivered_calls), (15, Some(0)));
        // Lost before it reported anything: its whole lease may have run.
        let mut silent = seen(Some(1_000), 0);
        (silent.granted, silent.last_started) = (256, 0);
        silent.lost = Some((WorkerStatus::Lost, "connection closed".into()));
        let r = silent.report(5, Instant::now());
        assert_eq!((r.totals.calls, r.unreported_at_most, r.undelivered_calls), (0, 256, Some(744)));
        // Without a planned count the lease alone bounds it.
        let mut open = seen(None, 4);
        open.lost = Some((WorkerStatus::Lost, "connection closed".into()));
        let r = open.report(5, Instant::now());
        assert_eq!((r.unreported_at_most, r.undelivered_calls), (5, None));
    }

    #[test]
    fn a_worker_that_failed_before_its_engine_started_made_no_call() {
        let mut merged = BTreeMap::new();
        let mut refused = seen(Some(500), 0);
        refused.began = false;
        refused.take(WorkerEvent::Failed("it takes at most 2 calls in flight".into()), &mut merged);
        let r = refused.report(5, Instant::now());
        assert_eq!((r.status, r.unreported_at_most, r.undelivered_calls), (WorkerStatus::Failed, 0, Some(500)));
        // Lost before it said it started: its Started may have been lost with it.
        let mut lost = seen(Some(500), 0);
        (lost.began, lost.granted) = (false, 256);
        lost.take(WorkerEvent::Lost("connection closed".into()), &mut merged);
        assert_eq!(lost.report(5, Instant::now()).unreported_at_most, 256);
    }

    #[test]
    fn a_worker_that_ended_well_reported_every_call() {
        let mut merged = BTreeMap::new();
        let mut s = seen(Some(20), 10);
        s.granted = 64;
        let totals = s.totals.clone();
        s.take(WorkerEvent::Done { end: end(10), totals }, &mut merged);
        let r = s.report(5, Instant::now());
        assert_eq!(r.status, WorkerStatus::Completed);
        assert_eq!((r.unreported_at_most, r.unreported_calls, r.undelivered_calls), (0, 0, Some(10)));
    }
}

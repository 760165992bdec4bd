//! The coordinator of a distributed run: start local worker processes or connect to
//! daemons, give each its share of the plan, start them together at an agreed instant,
//! and merge what they stream back exactly (histograms are added, never averaged). A
//! worker that is lost is marked with the seconds it missed and the calls it did not
//! make; the run goes on or stops as the scenario says.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use workers::fleet::protocol::ToWorker;
use workers::fleet::{WorkerEvent, WorkerLink, WorkerTarget};
use workers::{EngineEnd, Interval, Stats, StopReason};

use crate::progress::Progress;
use crate::report::live::LiveFiles;
use crate::report::WorkerReport;
use crate::scenario::{FleetSpec, OnLost, Plan, WorkerSet};

/// Time between the plans going out and the load starting, so every worker starts at once.
const START_DELAY: Duration = Duration::from_millis(1_500);

/// What the fleet produced.
pub struct FleetRun {
    pub end: EngineEnd,
    pub totals: Stats,
    pub intervals: Vec<Interval>,
    pub workers: Vec<WorkerReport>,
}

/// Worker processes on this machine, stopped when dropped.
struct LocalWorkers {
    _children: Vec<Child>,
}

async fn spawn_local(n: usize, secret: &str) -> anyhow::Result<(LocalWorkers, Vec<String>)> {
    let exe = std::env::current_exe().context("finding the harness executable")?;
    let (mut children, mut addresses) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut child = Command::new(&exe)
            .args(["worker", "--listen", "127.0.0.1:0", "--plans", "1", "--exit-with-stdin"])
            .args(["--name", &format!("local-{}", i + 1)])
            .env(crate::worker::SECRET_ENV, secret)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
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
    end: Option<EngineEnd>,
    lost: Option<(&'static str, String)>,
}

impl Seen {
    fn finished(&self) -> bool {
        self.end.is_some() || self.lost.is_some()
    }
}

pub async fn drive(
    plan: &Plan,
    fleet: &FleetSpec,
    target: WorkerTarget,
    secret: Option<Vec<u8>>,
    mut cancel: watch::Receiver<bool>,
    mut live: LiveFiles,
) -> anyhow::Result<FleetRun> {
    let (_local, addresses, secret) = match &fleet.workers {
        WorkerSet::Local(n) => {
            let secret = workers::fleet::protocol::nonce() + &workers::fleet::protocol::nonce();
            let (local, addresses) = spawn_local(*n, &secret).await?;
            (Some(local), addresses, Some(secret.into_bytes()))
        }
        WorkerSet::Remote(addresses) => (None, addresses.clone(), secret),
    };
    let connected =
        futures::future::join_all(addresses.iter().map(|a| WorkerLink::connect(a, secret.as_deref()))).await;
    let problems: Vec<String> = connected.iter().filter_map(|c| c.as_ref().err().cloned()).collect();
    anyhow::ensure!(problems.is_empty(), "cannot start the run:\n  {}", problems.join("\n  "));
    let links: Vec<WorkerLink> = connected.into_iter().map(Result::unwrap).collect();
    let shares =
        workers::fleet::split(&plan.engine, links.len(), fleet.partition_accounts).map_err(anyhow::Error::msg)?;

    let start_at = SystemTime::now() + START_DELAY;
    let start_at_ms = start_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let (heartbeat, lost_after) =
        (Duration::from_secs_f64(fleet.heartbeat_s), Duration::from_secs_f64(fleet.lost_after_s));
    let (stop, stopped) = watch::channel(false);
    let (events, mut received) = mpsc::unbounded_channel();
    let mut seen = Vec::new();
    for (i, (link, share)) in links.into_iter().zip(shares).enumerate() {
        seen.push(Seen {
            name: link.name.clone(),
            address: link.address.clone(),
            planned: share.load.planned_calls(),
            totals: Stats::default(),
            intervals: 0,
            end: None,
            lost: None,
        });
        let run = ToWorker::Run {
            plan: share,
            target: target.clone(),
            start_at_ms,
            heartbeat_ms: heartbeat.as_millis() as u64,
            dead_man_ms: lost_after.as_millis() as u64,
        };
        tokio::spawn(link.run(i, run, stopped.clone(), heartbeat, lost_after, events.clone()));
    }
    drop(events);

    let bound = START_DELAY
        + Duration::from_secs_f64(plan.engine.max_duration_s + plan.engine.drain_timeout_s)
        + 2 * lost_after;
    let deadline = tokio::time::Instant::now() + bound;
    let mut progress = Progress::new(plan.engine.load.planned_calls());
    let mut merged: BTreeMap<u64, Interval> = BTreeMap::new();
    let mut totals = Stats::default();
    let mut intervals = Vec::new();
    let mut stopping = false;
    let started = Instant::now();
    while seen.iter().any(|s| !s.finished()) {
        tokio::select! {
            event = received.recv() => {
                let Some((i, event)) = event else { break };
                match event {
                    WorkerEvent::Started => {}
                    WorkerEvent::Interval(interval) => {
                        progress.update(&interval);
                        seen[i].totals.merge(&interval.stats);
                        seen[i].intervals += 1;
                        merge_into(&mut merged, interval);
                    }
                    WorkerEvent::Done { end, .. } => seen[i].end = Some(end),
                    WorkerEvent::Lost(reason) => seen[i].lost = Some(("lost", reason)),
                    WorkerEvent::Failed(reason) => seen[i].lost = Some(("failed", reason)),
                }
                if seen[i].lost.is_some() && fleet.on_lost == OnLost::Stop && !stopping {
                    stopping = true;
                    let _ = stop.send(true);
                }
            }
            _ = cancel.changed(), if !stopping => {
                stopping = true;
                let _ = stop.send(true);
            }
            _ = tokio::time::sleep_until(deadline) => {
                for s in seen.iter_mut().filter(|s| !s.finished()) {
                    s.lost = Some(("lost", format!("no end within {:.0} s", bound.as_secs_f64())));
                }
            }
        }
        // Second k is complete once every worker still going has sent it.
        let complete = seen.iter().filter(|s| !s.finished()).map(|s| s.intervals).min().unwrap_or(u64::MAX);
        flush(&mut merged, complete, &mut live, &mut totals, &mut intervals);
    }
    flush(&mut merged, u64::MAX, &mut live, &mut totals, &mut intervals);
    progress.finish();

    let seconds = intervals.len() as u64;
    let abandoned = seen.iter().filter_map(|s| s.end.as_ref()).map(|e| e.abandoned).sum::<u64>();
    let workers: Vec<WorkerReport> = seen
        .into_iter()
        .map(|s| WorkerReport {
            status: match (&s.lost, &s.end) {
                (Some((status, _)), _) => status.to_string(),
                (None, Some(end)) => end.stop.name().to_string(),
                (None, None) => "lost".into(),
            },
            reason: s.lost.as_ref().map(|(_, r)| r.clone()),
            address: Some(s.address),
            elapsed_s: s.end.as_ref().map_or(started.elapsed().as_secs_f64(), |e| e.elapsed_s),
            // Seconds after a lost worker's last interval; a worker that finished early
            // (its share was done) missed nothing.
            missed_intervals: if s.lost.is_some() { seconds.saturating_sub(s.intervals) } else { 0 },
            undelivered_calls: s.planned.map(|p| p.saturating_sub(s.totals.calls)),
            name: s.name,
            totals: s.totals,
        })
        .collect();
    let end = EngineEnd {
        started: workers.iter().map(|w| w.totals.calls).sum::<u64>() + abandoned,
        abandoned,
        elapsed_s: workers.iter().map(|w| w.elapsed_s).fold(0.0, f64::max),
        stop: if *cancel.borrow() {
            StopReason::Cancelled
        } else if workers.iter().any(|w| w.status == "time_limit") {
            StopReason::TimeLimit
        } else {
            StopReason::Completed
        },
    };
    Ok(FleetRun { end, totals, intervals, workers })
}

/// Add one worker's interval into the fleet's interval of the same second.
fn merge_into(merged: &mut BTreeMap<u64, Interval>, interval: Interval) {
    match merged.get_mut(&interval.index) {
        Some(m) => {
            m.seconds = m.seconds.max(interval.seconds);
            m.started += interval.started;
            m.in_flight += interval.in_flight;
            m.stats.merge(&interval.stats);
        }
        None => {
            merged.insert(interval.index, interval);
        }
    }
}

/// Move the complete seconds (index < `complete`) into the run's intervals and files.
/// Every worker starts at the same instant, so their second k is the same second.
fn flush(
    merged: &mut BTreeMap<u64, Interval>,
    complete: u64,
    live: &mut LiveFiles,
    totals: &mut Stats,
    intervals: &mut Vec<Interval>,
) {
    while let Some(entry) = merged.first_entry() {
        if *entry.key() >= complete {
            break;
        }
        let mut interval = entry.remove();
        if let Err(e) = live.append(&interval) {
            tracing::warn!("could not append to the run folder: {e:#}");
        }
        totals.merge(&interval.stats);
        interval.stats.pack();
        intervals.push(interval);
    }
}

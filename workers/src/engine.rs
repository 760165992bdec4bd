//! The engine: one loop that asks the load model's pacer when to start calls, runs them
//! against a target, records each finished call, and emits one `Interval` of statistics
//! per second. It prints nothing; whoever holds the receiver shows or ships the numbers.
//!
//! Every run is bounded: by the model's own count or duration, by `max_duration`, and by
//! cancellation; calls still in flight then get `drain_timeout` to finish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::load::{LoadModel, Step};
use crate::stats::{CallRecord, ErrorClass, Stats};
use crate::target::Target;
use crate::workload::Workload;

/// A call starting later than this after its intended start counts as late (open model).
pub const LATE_TOLERANCE: Duration = Duration::from_millis(5);

/// What one engine runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnginePlan {
    pub load: LoadModel,
    pub workload: Workload,
    /// Seeds the payload sampler, for repeatable runs.
    pub seed: u64,
    /// A call with no answer by then counts as a timeout.
    pub call_timeout_s: f64,
    /// Hard limit on the run, whatever the model says.
    pub max_duration_s: f64,
    /// After the last start (or cancellation), how long calls in flight may take.
    pub drain_timeout_s: f64,
}

/// One second of statistics (the last one may be shorter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// 0 for the first second of the run.
    pub index: u64,
    /// Seconds the interval covers.
    pub seconds: f64,
    /// Calls started so far, and in flight at the interval's end.
    pub started: u64,
    pub in_flight: u64,
    pub stats: Stats,
}

/// Why the engine stopped starting calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The load model started all its calls.
    Completed,
    /// `max_duration` passed first.
    TimeLimit,
    /// Cancelled (Ctrl-C, or the coordinator).
    Cancelled,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Completed => "completed",
            StopReason::TimeLimit => "time_limit",
            StopReason::Cancelled => "cancelled",
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineEnd {
    pub started: u64,
    /// Calls still in flight when the drain timeout passed; aborted, not counted.
    pub abandoned: u64,
    pub elapsed_s: f64,
    pub stop: StopReason,
}

/// Run the plan against `target`, sending an `Interval` every second on `events`.
pub async fn run<T: Target>(
    plan: &EnginePlan,
    target: Arc<T>,
    mut cancel: watch::Receiver<bool>,
    events: mpsc::UnboundedSender<Interval>,
) -> EngineEnd {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(plan.max_duration_s);
    let call_timeout = Duration::from_secs_f64(plan.call_timeout_s);
    let open = plan.load.is_open();
    let mut pacer = plan.load.pacer(start);
    let mut sampler = plan.workload.sampler(plan.seed);
    let mut calls: JoinSet<CallRecord> = JoinSet::new();
    let mut intervals = Intervals::new(start, events);
    let mut ticker = tokio::time::interval_at((start + Duration::from_secs(1)).into(), Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let stop = loop {
        if *cancel.borrow() {
            break StopReason::Cancelled;
        }
        let now = Instant::now();
        if now >= deadline {
            break StopReason::TimeLimit;
        }
        while let Some(done) = calls.try_join_next() {
            intervals.record(done);
        }
        match pacer.next(now, calls.len()) {
            Step::Start { intended } => {
                let late = open && now.saturating_duration_since(intended) > LATE_TOLERANCE;
                let payload = sampler.next_payload();
                let target = target.clone();
                calls.spawn(async move {
                    let outcome = tokio::time::timeout(call_timeout, target.invoke(payload)).await;
                    let latency_us = intended.elapsed().as_micros() as u64;
                    let (error, function_us, retries) = match &outcome {
                        Ok(o) => o.classify(),
                        Err(_) => {
                            (Some((ErrorClass::Timeout, format!("no answer within {call_timeout:?}"))), None, None)
                        }
                    };
                    CallRecord { latency_us, function_us, retries, error, late }
                });
                intervals.started += 1;
                if intervals.started % 256 == 0 {
                    tokio::task::yield_now().await; // let the ticker and completions run during long bursts
                }
            }
            Step::Done => break StopReason::Completed,
            Step::WaitUntil(t) => tokio::select! {
                _ = tokio::time::sleep_until(t.min(deadline).into()) => {}
                Some(done) = calls.join_next(), if !calls.is_empty() => intervals.record(done),
                _ = ticker.tick() => intervals.flush(calls.len()),
                _ = cancelled(&mut cancel) => {}
            },
            Step::WaitForCompletion => tokio::select! {
                Some(done) = calls.join_next() => intervals.record(done),
                _ = ticker.tick() => intervals.flush(calls.len()),
                _ = tokio::time::sleep_until(deadline.into()) => {}
                _ = cancelled(&mut cancel) => {}
            },
        }
    };

    let drain_deadline = Instant::now() + Duration::from_secs_f64(plan.drain_timeout_s);
    let mut abandoned = 0;
    while !calls.is_empty() {
        tokio::select! {
            Some(done) = calls.join_next() => intervals.record(done),
            _ = ticker.tick() => intervals.flush(calls.len()),
            _ = tokio::time::sleep_until(drain_deadline.into()) => {
                abandoned = calls.len() as u64;
                calls.abort_all();
                break;
            }
        }
    }
    intervals.flush(0);
    EngineEnd { started: intervals.started, abandoned, elapsed_s: start.elapsed().as_secs_f64(), stop }
}

/// Resolves once cancellation is requested; never, if the sender is gone.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The interval being filled, and the channel intervals go out on.
struct Intervals {
    current: Stats,
    index: u64,
    since: Instant,
    started: u64,
    events: mpsc::UnboundedSender<Interval>,
}

impl Intervals {
    fn new(start: Instant, events: mpsc::UnboundedSender<Interval>) -> Self {
        Intervals { current: Stats::default(), index: 0, since: start, started: 0, events }
    }

    fn record(&mut self, done: Result<CallRecord, tokio::task::JoinError>) {
        match done {
            Ok(record) => self.current.record(&record),
            Err(e) => self.current.record(&CallRecord {
                latency_us: 0,
                function_us: None,
                retries: None,
                error: Some((ErrorClass::Transport, format!("call task failed: {e}"))),
                late: false,
            }),
        }
    }

    fn flush(&mut self, in_flight: usize) {
        let now = Instant::now();
        let interval = Interval {
            index: self.index,
            seconds: now.duration_since(self.since).as_secs_f64(),
            started: self.started,
            in_flight: in_flight as u64,
            stats: std::mem::take(&mut self.current),
        };
        self.index += 1;
        self.since = now;
        // A receiver that went away only means nobody is watching.
        let _ = self.events.send(interval);
    }
}

//! The engine: one loop that asks the load model's pacer when to start calls, runs them
//! against a target, records each finished call, and emits one `Interval` of statistics
//! per second. It prints nothing; whoever holds the receiver shows or ships the numbers.
//!
//! Every run is bounded: by the model's own count or duration, by `max_duration`, and by
//! a halt (`Halt::Drain`); calls still in flight then get `drain_timeout` to finish, or
//! none at all after `Halt::Now`. Time is tokio's, so tests run it on a paused clock.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::accounts::AccountCounts;
use crate::load::{LoadModel, Pacer, Step};
use crate::response::Classified;
use crate::stats::{CallRecord, ErrorClass, Stats};
use crate::target::Target;
use crate::workload::{Mix, NextCall, Workload};

/// A call starting later than this after its intended start counts as late (open model).
pub const LATE_TOLERANCE: Duration = Duration::from_millis(5);

/// What one engine runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnginePlan {
    pub load: LoadModel,
    pub workload: Workload,
    /// Seeds the payload sampler, for repeatable runs.
    pub seed: u64,
    /// What the answers mean (`[response]`); plans from older coordinators: the defaults.
    #[serde(default)]
    pub response: crate::ResponseMap,
    /// Several kinds of call (`[[call]]`), chosen by weight; when given, `workload` and
    /// `response` are not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<crate::workload::CallKind>,
    /// A call with no answer by then counts as a timeout.
    pub call_timeout_s: f64,
    /// Hard limit on the run, whatever the model says.
    pub max_duration_s: f64,
    /// After the last start (or cancellation), how long calls in flight may take.
    pub drain_timeout_s: f64,
}

#[cfg(test)]
impl EnginePlan {
    /// A plan for unit tests: transfers of 1 over accounts 1..=`accounts`, seed 7, a
    /// 60 s call timeout, a 1 h time limit and a 30 s drain.
    pub(crate) fn for_tests(load: LoadModel, accounts: i32) -> EnginePlan {
        EnginePlan {
            load,
            workload: crate::Workload::transfer(1, accounts, crate::Accounts::Uniform, 1, 1),
            seed: 7,
            response: Default::default(),
            kinds: Vec::new(),
            call_timeout_s: 60.0,
            max_duration_s: 3_600.0,
            drain_timeout_s: 30.0,
        }
    }
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
    /// The accounts this second's transfers touched, and their counts (absent when none).
    #[serde(default, skip_serializing_if = "AccountCounts::is_empty")]
    pub accounts: AccountCounts,
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
    /// Calls still in flight when the drain timeout passed (or a second signal came):
    /// given up, and recorded in the statistics as `abandoned` errors.
    pub abandoned: u64,
    pub elapsed_s: f64,
    pub stop: StopReason,
}

/// How far a run has been told to stop: `Drain` stops starting calls and lets those in
/// flight finish within the drain timeout; `Now` also abandons the calls in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Halt {
    #[default]
    Go,
    Drain,
    Now,
}

/// Run the plan against `target`, sending an `Interval` every second on `events`.
pub async fn run<T: Target>(
    plan: &EnginePlan,
    target: Arc<T>,
    mut halt: watch::Receiver<Halt>,
    events: mpsc::UnboundedSender<Interval>,
) -> EngineEnd {
    let start = Instant::now();
    let mut run = Running::new(plan, start, events);
    let stop = run.start_calls(plan, &target, &mut halt).await;
    let abandoned = run.drain(Duration::from_secs_f64(plan.drain_timeout_s), &mut halt).await;
    run.intervals.flush(0);
    EngineEnd { started: run.intervals.started, abandoned, elapsed_s: start.elapsed().as_secs_f64(), stop }
}

/// A run in progress: its calls in flight, the interval being filled, the 1 s ticker.
struct Running {
    /// Each call in flight, with the kind its pacer started it for.
    calls: JoinSet<(Option<usize>, CallRecord)>,
    intervals: Intervals,
    ticker: tokio::time::Interval,
    deadline: Instant,
    /// Turned true at the drain deadline: every call still in flight gives itself up.
    abandon: watch::Sender<bool>,
}

impl Running {
    fn new(plan: &EnginePlan, start: Instant, events: mpsc::UnboundedSender<Interval>) -> Self {
        let mut ticker = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Running {
            calls: JoinSet::new(),
            intervals: Intervals::new(start, events),
            ticker,
            deadline: start + Duration::from_secs_f64(plan.max_duration_s),
            abandon: watch::channel(false).0,
        }
    }

    /// Start calls as the load model paces them until it is done, the time limit
    /// passes, or a halt is asked for.
    async fn start_calls<T: Target>(
        &mut self,
        plan: &EnginePlan,
        target: &Arc<T>,
        halt: &mut watch::Receiver<Halt>,
    ) -> StopReason {
        let call_timeout = Duration::from_secs_f64(plan.call_timeout_s);
        let open = plan.load.is_open();
        let mut pacer = plan.load.pacer(Instant::now());
        let mut mix = Mix::new(&plan.workload, &plan.response, &plan.kinds, plan.seed);
        loop {
            if *halt.borrow() != Halt::Go {
                return StopReason::Cancelled;
            }
            let now = Instant::now();
            if now >= self.deadline {
                return StopReason::TimeLimit;
            }
            while let Some(done) = self.calls.try_join_next() {
                self.intervals.record(done, &mut *pacer);
            }
            match pacer.next(now, self.calls.len()) {
                Step::Start { intended, kind: paced } => {
                    // A workload whose unique data rows are all used makes no more calls.
                    let Some(next) = mix.next_call_of(paced) else {
                        if pacer.exhausted(paced) {
                            return StopReason::Completed;
                        }
                        continue;
                    };
                    let late = open && now.saturating_duration_since(intended) > LATE_TOLERANCE;
                    let abandon = self.abandon.subscribe();
                    let NextCall { payload, response, kind, function } = next;
                    let call = Call { intended, call_timeout, late, abandon, response, kind, function };
                    let run = call.run(target.clone(), payload);
                    self.calls.spawn(async move { (paced, run.await) });
                    self.intervals.started += 1;
                    if self.intervals.started % 256 == 0 {
                        tokio::task::yield_now().await; // let the ticker and completions run during long bursts
                    }
                }
                Step::Done => return StopReason::Completed,
                Step::WaitUntil(t) => tokio::select! {
                    _ = tokio::time::sleep_until(t.min(self.deadline)) => {}
                    Some(done) = self.calls.join_next(), if !self.calls.is_empty() => self.intervals.record(done, &mut *pacer),
                    _ = self.ticker.tick() => self.intervals.flush(self.calls.len()),
                    _ = halted(halt, Halt::Drain) => {}
                },
                Step::WaitForCompletion => tokio::select! {
                    Some(done) = self.calls.join_next() => self.intervals.record(done, &mut *pacer),
                    _ = self.ticker.tick() => self.intervals.flush(self.calls.len()),
                    _ = tokio::time::sleep_until(self.deadline) => {}
                    _ = halted(halt, Halt::Drain) => {}
                },
            }
        }
    }

    /// Let the calls in flight finish within `timeout` (or until `Halt::Now`); the rest
    /// give themselves up and are recorded as abandoned. Returns how many that was.
    async fn drain(&mut self, timeout: Duration, halt: &mut watch::Receiver<Halt>) -> u64 {
        let drain_deadline = Instant::now() + timeout;
        let mut unpaced = crate::load::Unpaced;
        while !self.calls.is_empty() {
            tokio::select! {
                Some(done) = self.calls.join_next() => self.intervals.record(done, &mut unpaced),
                _ = self.ticker.tick() => self.intervals.flush(self.calls.len()),
                _ = tokio::time::sleep_until(drain_deadline) => break,
                _ = halted(halt, Halt::Now) => break,
            }
        }
        let abandoned = self.calls.len() as u64;
        let _ = self.abandon.send(true);
        while let Some(done) = self.calls.join_next().await {
            self.intervals.record(done, &mut unpaced);
        }
        abandoned
    }
}

/// One call as it was started.
struct Call {
    /// When it should have started (its latency counts from here).
    intended: Instant,
    call_timeout: Duration,
    late: bool,
    abandon: watch::Receiver<bool>,
    response: Arc<crate::ResponseMap>,
    /// Its kind's name, when the scenario has several.
    kind: Option<Arc<str>>,
    /// Its kind's own function, when not the target's.
    function: Option<Arc<str>>,
}

impl Call {
    /// Invoke with the call timeout, measured from the intended start; a call still
    /// running when told to give up is recorded as abandoned, and a target that panics
    /// as a transport error, each with its real elapsed time.
    async fn run<T: Target>(mut self, target: Arc<T>, payload: serde_json::Value) -> CallRecord {
        let accounts = payload["payer_id"].as_i64().zip(payload["payee_id"].as_i64());
        // Boxed: the target's future (1.4 KB for the lean client) is then allocated once,
        // where inline it made every spawned call's task that much larger, and was
        // copied with it on each move into the runtime.
        let invoke = std::panic::AssertUnwindSafe(tokio::time::timeout(
            self.call_timeout,
            Box::pin(target.invoke_function(self.function.take(), payload)),
        ));
        let outcome = tokio::select! {
            outcome = futures::FutureExt::catch_unwind(invoke) => Some(outcome),
            () = given_up(&mut self.abandon) => None,
        };
        let latency_us = self.intended.elapsed().as_micros() as u64;
        let mut platform = None;
        let read = match outcome {
            Some(Ok(Ok(answer))) => {
                platform = answer.report;
                self.response.classify(&answer.outcome)
            }
            Some(Ok(Err(_))) => {
                Classified::failed(ErrorClass::Timeout, format!("no answer within {:?}", self.call_timeout))
            }
            Some(Err(_)) => Classified::failed(ErrorClass::Transport, "the invoke target panicked".to_string()),
            None => Classified::failed(ErrorClass::Abandoned, "still in flight at the drain deadline".into()),
        };
        let Classified { error, function_us, retries, fields } = read;
        CallRecord {
            latency_us,
            function_us,
            retries,
            error,
            late: self.late,
            platform,
            accounts,
            fields,
            kind: self.kind,
        }
    }
}

/// Resolves once the engine gives up on the calls in flight; never, if it cannot.
async fn given_up(abandon: &mut watch::Receiver<bool>) {
    if abandon.wait_for(|a| *a).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves once a halt of at least `level` is asked for; never, if the sender is gone.
async fn halted(halt: &mut watch::Receiver<Halt>, level: Halt) {
    if halt.wait_for(|h| *h >= level).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The interval being filled, and the channel intervals go out on.
struct Intervals {
    current: Stats,
    accounts: AccountCounts,
    index: u64,
    since: Instant,
    started: u64,
    events: mpsc::UnboundedSender<Interval>,
}

impl Intervals {
    fn new(start: Instant, events: mpsc::UnboundedSender<Interval>) -> Self {
        Intervals {
            current: Stats::default(),
            accounts: AccountCounts::default(),
            index: 0,
            since: start,
            started: 0,
            events,
        }
    }

    /// Record a finished call, and tell the pacer that started it.
    fn record(&mut self, done: Result<(Option<usize>, CallRecord), tokio::task::JoinError>, pacer: &mut dyn Pacer) {
        match done {
            Ok((kind, record)) => {
                pacer.completed(kind);
                self.current.record(&record);
                self.accounts.record(&record);
            }
            // A call task catches its target's panics and is never aborted, so this is
            // only reached if the runtime shuts down under the engine.
            Err(e) => tracing::warn!("a call task ended without a record: {e}"),
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
            accounts: std::mem::take(&mut self.accounts),
        };
        self.index += 1;
        self.since = now;
        // A receiver that went away only means nobody is watching.
        let _ = self.events.send(interval);
    }
}

#[cfg(test)]
mod tests;

//! The run's summary: the data model every report format renders and `harness check`
//! reads (`summary.json` is its serialisation). A leaf: it depends on no renderer and no
//! check logic, so both can depend on it.

use serde::{Deserialize, Serialize};
use transfer::local::EnvironmentStats;
use workers::{EngineEnd, ErrorClass, Hist, Interval, Stats, StopReason};

use crate::database::Verification;
use crate::scenario::Plan;

/// Version of the summary format; bumped on incompatible changes. 2: the error
/// breakdown nested by class (summaries of version 1 are still read, as baselines too).
pub const SCHEMA_VERSION: u32 = 2;

/// Everything a run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub harness_version: String,
    pub run_id: String,
    /// UTC, whole seconds (RFC 3339 in the file).
    pub started_at: crate::clock::Timestamp,
    /// The plan as run (database passwords redacted).
    pub plan: Plan,
    pub end: EngineEnd,
    /// Each worker's own totals (one, `local`, for a single-process run).
    #[serde(default)]
    pub workers: Vec<WorkerReport>,
    /// All workers merged.
    pub totals: Stats,
    /// One entry per second of the run.
    pub intervals: Vec<Interval>,
    /// The local endpoint's (or in-process pool's) execution environments.
    pub environments: Option<EnvironmentStats>,
    /// `None` where the database is out of reach (the AWS target).
    pub verification: Option<Verification>,
    /// The scenario's thresholds, checked once at the end of the run (absent in
    /// summaries written before they were recorded).
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Where every planned call went (absent in older summaries).
    #[serde(default)]
    pub accounting: Option<Accounting>,
    /// What the run cost, each part saying where its figures came from (absent in
    /// older summaries).
    #[serde(default)]
    pub cost: Option<crate::cost::Cost>,
    /// The accounts OCC retries and conflicts piled up on (transfers only).
    #[serde(default)]
    pub hot_accounts: Option<crate::hot::HotAccounts>,
    /// What Lambda and the database themselves counted over the run's window.
    #[serde(default)]
    pub server: Option<crate::server::ServerView>,
    /// A fleet run's cost to the coordinator (none for a single-process run).
    #[serde(default)]
    pub coordinator: Option<CoordinatorCost>,
}

/// One worker's part of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    pub name: String,
    pub status: WorkerStatus,
    /// Where it ran: the daemon's address (none for the single-process run).
    #[serde(default)]
    pub address: Option<String>,
    /// Why it was lost or failed.
    #[serde(default)]
    pub reason: Option<String>,
    pub elapsed_s: f64,
    /// Seconds of the run it sent no interval for (after it was lost).
    #[serde(default)]
    pub missed_intervals: u64,
    /// Calls of its share that it certainly never started (when the load model plans a
    /// count): a lost or failed worker's share beyond its lease and what it reported.
    #[serde(default)]
    pub undelivered_calls: Option<u64>,
    /// Calls it started whose outcome never reached the coordinator (a lost worker's
    /// last calls; they may have committed).
    #[serde(default)]
    pub unreported_calls: u64,
    /// At most this many calls of a lost or failed worker's may have run unreported: its
    /// lease (the calls the coordinator allowed it, within its share) less those
    /// reported. Verification allows for them; `undelivered_calls` excludes them.
    #[serde(default)]
    pub unreported_at_most: u64,
    /// What the coordinator received from it: frames and bytes (absent in older summaries).
    #[serde(default)]
    pub frames_received: u64,
    #[serde(default)]
    pub bytes_received: u64,
    pub totals: Stats,
}

/// What a fleet run cost the coordinator, measured over the fleet's part of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CoordinatorCost {
    pub workers: u64,
    /// Wall-clock seconds from connecting the fleet to its last report.
    pub seconds: f64,
    /// CPU seconds (user + system) the coordinator process spent in that time.
    pub cpu_s: f64,
    /// The coordinator process's peak resident memory, KiB.
    pub max_rss_kib: u64,
    /// Frames and bytes received from all workers.
    pub frames: u64,
    pub bytes: u64,
}

impl WorkerReport {
    pub fn lost(&self) -> bool {
        matches!(self.status, WorkerStatus::Lost | WorkerStatus::Failed)
    }
}

/// How a worker's part of the run ended (in JSON and CSV, its snake_case name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// It started all the calls of its share.
    #[default]
    Completed,
    /// `max_duration` passed first.
    TimeLimit,
    /// It was told to stop (a signal, or the fleet stopping).
    Cancelled,
    /// Its connection closed or it fell silent before it reported its end.
    Lost,
    /// It could not run the plan (refused it, or its engine failed).
    Failed,
}

impl WorkerStatus {
    pub fn name(self) -> &'static str {
        match self {
            WorkerStatus::Completed => "completed",
            WorkerStatus::TimeLimit => "time_limit",
            WorkerStatus::Cancelled => "cancelled",
            WorkerStatus::Lost => "lost",
            WorkerStatus::Failed => "failed",
        }
    }
}

impl From<StopReason> for WorkerStatus {
    fn from(stop: StopReason) -> Self {
        match stop {
            StopReason::Completed => WorkerStatus::Completed,
            StopReason::TimeLimit => WorkerStatus::TimeLimit,
            StopReason::Cancelled => WorkerStatus::Cancelled,
        }
    }
}

/// Where every planned call went: `planned = succeeded + failed + abandoned + not
/// started + unreported` (abandoned calls are errors of class `abandoned`, counted apart
/// here), and `recorded <= started <= recorded + unreported` (every call started was
/// recorded, or may be among the unreported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    /// Calls the load model plans (none for a closed model bounded only by time).
    pub planned: Option<u64>,
    /// Calls known to have started (a lost worker's as its last report said).
    pub started: u64,
    pub succeeded: u64,
    /// Failed calls of every class but `abandoned`.
    pub failed: u64,
    pub abandoned: u64,
    /// Planned calls certainly never started (time limit, a signal, a worker stopped, or
    /// beyond a lost worker's lease).
    pub not_started: Option<u64>,
    /// Calls that may have started but whose outcome never reached the report: a lost or
    /// failed worker's lease (the calls it was allowed) less what it reported.
    pub unreported: u64,
    /// The unreported calls against what the endpoint and the database counted (only
    /// when a worker was lost or failed; absent in older summaries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation: Option<Reconciliation>,
}

/// A run with lost or failed workers, reconciled after it with what the endpoint and the
/// database counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// Invocations the endpoint counted over the run (none when the target gives none).
    pub endpoint_invocations: Option<u64>,
    /// Calls the workers reported answered by the function (they certainly reached it).
    pub reported_answered: u64,
    /// Reported calls of unknown outcome (timeouts, transport, abandoned): they may or
    /// may not have reached it.
    pub reported_unknown: u64,
    /// How many of the unreported calls reached the function by the endpoint's count:
    /// invocations less the reported calls, within 0 and `unreported` (at least: all
    /// reported calls of unknown outcome reached it; at most: none did).
    pub unreported_reached_at_least: Option<u64>,
    pub unreported_reached_at_most: Option<u64>,
    /// What the invariants were checked with: calls that may or may not have committed
    /// (reported calls of unknown outcome plus the unreported), and the successes.
    pub unknown_allowed: u64,
    pub successes: u64,
    /// The built-in transfer's history rows the run added (transfers the database
    /// committed), when verified.
    #[serde(default)]
    pub committed: Option<i64>,
}

impl Accounting {
    /// Every planned call is accounted for, and no call twice.
    pub fn holds(&self) -> bool {
        let recorded = self.succeeded + self.failed + self.abandoned;
        let planned_ok = self.planned.is_none_or(|p| p == recorded + self.unreported + self.not_started.unwrap_or(0));
        recorded <= self.started
            && self.started <= recorded + self.unreported
            && planned_ok
            && self.planned.is_none_or(|p| self.started <= p)
    }
}

impl RunReport {
    /// A run's report before its first second: its plan, id and start, nothing run.
    pub fn skeleton(plan: Plan, run_id: String, started_at: crate::clock::Timestamp) -> RunReport {
        RunReport {
            schema_version: SCHEMA_VERSION,
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id,
            started_at,
            plan,
            end: EngineEnd { started: 0, abandoned: 0, elapsed_s: 0.0, stop: StopReason::Completed },
            workers: Vec::new(),
            totals: Stats::default(),
            intervals: Vec::new(),
            environments: None,
            verification: None,
            checks: Vec::new(),
            accounting: None,
            cost: None,
            hot_accounts: None,
            server: None,
            coordinator: None,
        }
    }

    /// Where every planned call went: a lost or failed worker's calls beyond what it
    /// reported are unreported up to its lease, and not started beyond it.
    pub fn accounting(&self) -> Accounting {
        let t = &self.totals;
        let abandoned = t.errors.get(&ErrorClass::Abandoned).copied().unwrap_or(0);
        let planned = self.plan.engine.load.planned_calls();
        let leased: u64 = self
            .workers
            .iter()
            .map(|w| if w.lost() { w.unreported_at_most.max(w.unreported_calls) } else { w.unreported_calls })
            .sum();
        let unreported = leased.max(self.end.started.saturating_sub(t.calls));
        Accounting {
            planned,
            started: self.end.started,
            succeeded: t.successes,
            failed: t.error_count() - abandoned,
            abandoned,
            not_started: planned.map(|p| p.saturating_sub(t.calls + unreported)),
            unreported,
            reconciliation: self.workers.iter().any(WorkerReport::lost).then(|| self.reconciliation(unreported)),
        }
    }

    /// The unreported calls against the endpoint's invocations and the invariants' counts.
    fn reconciliation(&self, unreported: u64) -> Reconciliation {
        let t = &self.totals;
        let invocations = self.server.as_ref().and_then(|v| v.lambda.as_ref()).and_then(|l| l.invocations);
        let (answered, unknown) = (t.answered(), t.unknown_outcomes());
        let beyond = |reported: u64| invocations.map(|i| i.saturating_sub(reported).min(unreported));
        Reconciliation {
            endpoint_invocations: invocations,
            reported_answered: answered,
            reported_unknown: unknown,
            unreported_reached_at_least: beyond(answered + unknown),
            unreported_reached_at_most: beyond(answered),
            unknown_allowed: unknown + unreported,
            successes: t.successes,
            committed: self.verification.as_ref().and_then(|v| v.history_rows_added),
        }
    }

    /// Successful calls per second over the whole run.
    pub fn goodput(&self) -> f64 {
        if self.end.elapsed_s > 0.0 {
            self.totals.successes as f64 / self.end.elapsed_s
        } else {
            0.0
        }
    }

    /// Calls per second over the whole run.
    pub fn throughput(&self) -> f64 {
        if self.end.elapsed_s > 0.0 {
            self.totals.calls as f64 / self.end.elapsed_s
        } else {
            0.0
        }
    }
}

/// `part` as a percentage of `whole` (0 when there is no whole).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// One gate of `harness check` (and of the end of `harness run`): a figure, its limit,
/// the baseline's figure when compared with one, and the verdict; as people read them,
/// and (`measure`) as numbers with their unit, for programs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub value: String,
    pub limit: String,
    pub baseline: Option<String>,
    pub passed: bool,
    /// The same as numbers (none for the verification, a verdict rather than a figure;
    /// absent in older summaries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<Measure>,
}

/// A check's figures as numbers: `value op limit` must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub value: f64,
    /// `<=`, `>=` or `=`.
    pub op: String,
    pub limit: f64,
    /// The baseline's figure (for comparisons with a baseline).
    #[serde(default)]
    pub baseline: Option<f64>,
    /// `percent`, `ms`, `calls/s`, `share` (of the calls, 0 to 1) or `calls`.
    pub unit: String,
}

impl Check {
    /// The check as `harness check --format json` gives it (schemas/check.schema.json):
    /// numbers with their unit, and the text people read.
    pub fn to_json(&self) -> serde_json::Value {
        let text = serde_json::json!({"value": self.value, "limit": self.limit, "baseline": self.baseline});
        match &self.measure {
            Some(m) => serde_json::json!({
                "name": self.name, "passed": self.passed, "value": m.value, "op": m.op, "limit": m.limit,
                "baseline": m.baseline, "unit": m.unit, "text": text,
            }),
            None => serde_json::json!({
                "name": self.name, "passed": self.passed, "value": null, "op": null, "limit": null,
                "baseline": null, "unit": null, "text": text,
            }),
        }
    }
}

/// The latency of the successful calls; a summary written before it was kept separately
/// gives its all-calls latency instead.
pub fn success_latency(t: &Stats) -> &Hist {
    if t.success_latency_us.count() == 0 && t.successes > 0 {
        &t.latency_us
    } else {
        &t.success_latency_us
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;

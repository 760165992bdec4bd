//! The run's summary: the data model every report format renders and `harness check`
//! reads (`summary.json` is its serialisation). A leaf: it depends on no renderer and no
//! check logic, so both can depend on it.

use serde::{Deserialize, Serialize};
use transfer::local::EnvironmentStats;
use workers::{EngineEnd, Interval, Stats, StopReason};

use crate::database::Verification;
use crate::scenario::Plan;

/// Version of the summary format; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything a run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub harness_version: String,
    pub run_id: String,
    /// UTC, RFC 3339.
    pub started_at: String,
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
    /// Calls of its share that it never made (when the load model plans a count).
    #[serde(default)]
    pub undelivered_calls: Option<u64>,
    pub totals: Stats,
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

impl RunReport {
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
/// the baseline's figure when compared with one, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub value: String,
    pub limit: String,
    pub baseline: Option<String>,
    pub passed: bool,
}

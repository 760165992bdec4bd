//! The run's record as it arrives: every complete second (one process's, or the fleet's
//! merged) goes to the progress line, the run folder, the totals and the kept list of
//! intervals (packed, so memory stays flat however long the run). Single-process and
//! fleet runs both record through this one type.

use workers::{AccountCounts, EngineEnd, Interval, Stats};

use crate::progress::Progress;
use crate::report::live::LiveFiles;
use crate::stream::{Outputs, Second};
use crate::summary::WorkerReport;

pub struct Record {
    live: LiveFiles,
    outputs: Outputs,
    /// The scenario's name and the run's id, for the live outputs.
    names: (String, String),
    progress: Progress,
    totals: Stats,
    /// Every account's counts so far (kept apart from the intervals, which drop theirs).
    accounts: AccountCounts,
    elapsed_s: f64,
    intervals: Vec<Interval>,
    dashboard: Option<std::sync::Arc<crate::dashboard::Dashboard>>,
}

impl Record {
    pub fn new(live: LiveFiles, outputs: Outputs, names: (&str, &str), planned_calls: Option<u64>) -> Record {
        Record {
            live,
            outputs,
            names: (names.0.to_string(), names.1.to_string()),
            progress: Progress::new(planned_calls),
            totals: Stats::default(),
            accounts: AccountCounts::default(),
            elapsed_s: 0.0,
            intervals: Vec::new(),
            dashboard: None,
        }
    }

    /// Feed `dashboard` (if any) every second.
    pub fn with_dashboard(mut self, dashboard: Option<std::sync::Arc<crate::dashboard::Dashboard>>) -> Record {
        self.dashboard = dashboard;
        self
    }

    /// One complete second of the run.
    pub fn second(&mut self, mut interval: Interval) {
        self.progress.update(&interval);
        if let Err(e) = self.live.append(&interval) {
            tracing::warn!("could not append to the run folder: {e:#}");
        }
        self.totals.merge(&interval.stats);
        let (scenario, run_id) = (&self.names.0, &self.names.1);
        let second = Second { scenario, run_id, start_s: self.elapsed_s, interval: &interval, totals: &self.totals };
        if let Err(e) = self.outputs.second(&second) {
            tracing::warn!("could not write the live metrics: {e:#}");
        }
        self.elapsed_s += interval.seconds;
        self.accounts.merge(&std::mem::take(&mut interval.accounts));
        interval.stats.pack();
        self.intervals.push(interval);
        if let Some(d) = &self.dashboard {
            d.second(&self.totals, &self.intervals, self.elapsed_s);
        }
    }

    /// A line for the user now, under the progress line (e.g. a worker was lost).
    pub fn say(&self, line: &str) {
        self.progress.say(line);
    }

    /// The totals, every second, and every account's counts, once the run is over.
    pub fn finish(self) -> (Stats, Vec<Interval>, AccountCounts) {
        self.progress.finish();
        (self.totals, self.intervals, self.accounts)
    }
}

/// What the engine produced: how it ended, the merged totals, and every interval
/// (packed, so memory stays flat however long the run).
pub struct Driven {
    pub end: EngineEnd,
    pub totals: Stats,
    pub intervals: Vec<Interval>,
    pub workers: Vec<WorkerReport>,
    pub accounts: AccountCounts,
    /// A fleet run's cost to the coordinator.
    pub coordinator: Option<crate::summary::CoordinatorCost>,
}

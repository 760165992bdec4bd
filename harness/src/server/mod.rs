//! The server-side view of a run: what Lambda and the database themselves counted over
//! the run's window, shown next to what the client saw. Against AWS it comes from
//! CloudWatch (`cloudwatch`), which lags by minutes, so it may be incomplete right
//! after a run (`harness report RUN_DIR --fetch-metrics` fills it in later); on the
//! local stack, from the local endpoint's counters and PostgreSQL's own statistics
//! (`local`).

pub mod cloudwatch;
pub mod local;

use serde::{Deserialize, Serialize};

/// What Lambda counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LambdaSide {
    pub invocations: Option<u64>,
    pub errors: Option<u64>,
    pub throttles: Option<u64>,
    /// Highest concurrent executions in any period of the window.
    pub max_concurrency: Option<u64>,
    pub duration_p50_ms: Option<f64>,
    pub duration_p99_ms: Option<f64>,
    /// New execution environments (the local endpoint knows; CloudWatch does not say).
    pub cold_starts: Option<u64>,
}

/// What the database counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseSide {
    /// Committed transactions (DSQL TotalTransactions; PostgreSQL xact_commit).
    pub committed: Option<u64>,
    /// Transactions rolled back (PostgreSQL xact_rollback).
    pub rolled_back: Option<u64>,
    /// Transactions aborted on a conflict (DSQL OccConflicts; PostgreSQL's 40001 errors
    /// in its log).
    pub occ_conflicts: Option<u64>,
    /// DSQL CommitLatency (its p50), ms.
    pub commit_latency_ms: Option<f64>,
    /// DSQL TotalDPU over the window.
    pub dpus: Option<f64>,
}

/// The view, with where it came from and whether it is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    /// Where the figures came from.
    pub source: String,
    /// The window (RFC 3339 in summary.json).
    pub from: crate::clock::Timestamp,
    pub to: crate::clock::Timestamp,
    /// False while CloudWatch has not caught up with the window's end.
    pub complete: bool,
    /// What is missing or late, and what to do about it.
    #[serde(default)]
    pub notes: Vec<String>,
    pub lambda: Option<LambdaSide>,
    pub database: Option<DatabaseSide>,
}

//! The server-side view of a run: what Lambda and the database themselves counted over
//! the run's window, shown next to what the client saw. Against AWS it comes from
//! CloudWatch (`cloudwatch`), which lags by minutes, so it may be incomplete right
//! after a run (`harness report RUN_DIR --fetch-metrics` fills it in later); on the
//! local stack, from the local endpoint's counters and PostgreSQL's own statistics
//! (`local`).

pub mod cloudwatch;
pub mod local;

use serde::{Deserialize, Serialize};

/// An endpoint URL of AWS's own (a regional or FIPS endpoint, a VPC endpoint's DNS name):
/// the function runs on Lambda, and CloudWatch holds its metrics. Any other host is an
/// emulator or another Invoke API endpoint.
pub fn is_aws_endpoint(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':', '?']).next().unwrap_or("");
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    ["amazonaws.com", "amazonaws.com.cn", "api.aws"].iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// `new`, with what it lacks taken from `earlier`.
fn or_earlier<T: Clone>(new: Option<T>, earlier: Option<&T>, merge: impl Fn(T, &T) -> T) -> Option<T> {
    match (new, earlier) {
        (Some(n), Some(e)) => Some(merge(n, e)),
        (None, e) => e.cloned(),
        (n, None) => n,
    }
}

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

impl LambdaSide {
    /// These figures, the missing ones taken from `earlier`.
    fn over(self, earlier: &LambdaSide) -> LambdaSide {
        LambdaSide {
            invocations: self.invocations.or(earlier.invocations),
            errors: self.errors.or(earlier.errors),
            throttles: self.throttles.or(earlier.throttles),
            max_concurrency: self.max_concurrency.or(earlier.max_concurrency),
            duration_p50_ms: self.duration_p50_ms.or(earlier.duration_p50_ms),
            duration_p99_ms: self.duration_p99_ms.or(earlier.duration_p99_ms),
            cold_starts: self.cold_starts.or(earlier.cold_starts),
        }
    }
}

impl DatabaseSide {
    /// These figures, the missing ones taken from `earlier`.
    fn over(self, earlier: &DatabaseSide) -> DatabaseSide {
        DatabaseSide {
            committed: self.committed.or(earlier.committed),
            rolled_back: self.rolled_back.or(earlier.rolled_back),
            occ_conflicts: self.occ_conflicts.or(earlier.occ_conflicts),
            commit_latency_ms: self.commit_latency_ms.or(earlier.commit_latency_ms),
            dpus: self.dpus.or(earlier.dpus),
        }
    }
}

impl ServerView {
    /// The view of a run through the AWS target at an endpoint that is not AWS's (an
    /// emulator): CloudWatch is not asked, and the view says so.
    pub fn not_aws(endpoint_url: &str, request: &cloudwatch::Request) -> ServerView {
        ServerView {
            source: "none".into(),
            from: crate::clock::Timestamp::from_system(request.from),
            to: crate::clock::Timestamp::from_system(request.to),
            complete: false,
            notes: vec![format!(
                "CloudWatch not queried: the function was reached at {endpoint_url}, not AWS's endpoint, and CloudWatch \
                 holds only what AWS ran"
            )],
            lambda: None,
            database: None,
        }
    }

    /// No figure at all: the fetch failed.
    pub fn is_empty(&self) -> bool {
        self.lambda.is_none() && self.database.is_none()
    }

    /// A view fetched again, over the one fetched before: a figure the new fetch lacks
    /// keeps its earlier value, so a failed or partial fetch never loses what an earlier
    /// one had; complete when either was.
    pub fn over(self, earlier: &ServerView) -> ServerView {
        // A failed fetch, or a partial one after a complete one: the earlier view stands.
        if self.is_empty() || (earlier.complete && !self.complete) {
            return earlier.clone();
        }
        let complete = self.complete || earlier.complete;
        ServerView {
            lambda: or_earlier(self.lambda, earlier.lambda.as_ref(), LambdaSide::over),
            database: or_earlier(self.database, earlier.database.as_ref(), DatabaseSide::over),
            notes: if self.complete || !earlier.complete { self.notes } else { earlier.notes.clone() },
            complete,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn view(lambda: Option<LambdaSide>, database: Option<DatabaseSide>, complete: bool, note: &str) -> ServerView {
        ServerView {
            source: "CloudWatch".into(),
            from: Timestamp::from_secs(0),
            to: Timestamp::from_secs(60),
            complete,
            notes: if note.is_empty() { vec![] } else { vec![note.into()] },
            lambda,
            database,
        }
    }

    #[test]
    fn aws_endpoints_are_told_from_emulators() {
        for url in [
            "https://lambda.us-east-1.amazonaws.com",
            "https://vpce-0a1b2c-d3e4.lambda.us-east-1.vpce.amazonaws.com/",
            "https://lambda-fips.us-gov-west-1.amazonaws.com:443",
            "https://lambda.cn-north-1.amazonaws.com.cn",
            "https://lambda.us-east-1.api.aws",
        ] {
            assert!(is_aws_endpoint(url), "{url}");
        }
        for url in ["http://127.0.0.1:9001", "http://localhost:4566", "https://amazonaws.com.evil.example", "http://x"]
        {
            assert!(!is_aws_endpoint(url), "{url}");
        }
    }

    #[test]
    fn a_failed_or_partial_fetch_keeps_the_earlier_figures() {
        let lambda = LambdaSide { invocations: Some(270), throttles: Some(30), ..LambdaSide::default() };
        let database = DatabaseSide { committed: Some(270), dpus: Some(12_500.0), ..DatabaseSide::default() };
        let earlier = view(Some(lambda.clone()), Some(database.clone()), true, "");
        let failed = view(None, None, false, "CloudWatch GetMetricData: HTTP 500");
        assert_eq!(failed.over(&earlier), earlier, "a failed fetch changes nothing");
        let partial = view(Some(LambdaSide { invocations: Some(271), ..LambdaSide::default() }), None, false, "late");
        assert_eq!(partial.clone().over(&earlier), earlier, "a partial fetch does not overwrite a complete view");
        let half = view(Some(lambda.clone()), None, false, "no DSQL figures yet");
        let merged = partial.over(&half);
        assert_eq!(merged.lambda.as_ref().unwrap().invocations, Some(271), "the new figure wins");
        assert_eq!(merged.lambda.as_ref().unwrap().throttles, Some(30), "the missing one is kept");
        assert!(!merged.complete && merged.notes == ["late"], "{merged:?}");
        let complete =
            view(Some(LambdaSide { invocations: Some(272), ..lambda.clone() }), Some(database.clone()), true, "");
        let merged = complete.over(&half);
        assert_eq!(merged.lambda.as_ref().unwrap().invocations, Some(272));
        assert_eq!(merged.database, Some(database));
        assert!(merged.complete && merged.notes.is_empty(), "{merged:?}");
        let first = view(Some(lambda), None, false, "not yet available");
        assert_eq!(first.clone().over(&view(None, None, false, "x")), first, "nothing earlier to keep");
    }
}

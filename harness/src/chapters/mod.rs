//! `harness chapter N`: the workshop's chapters, each passing or failing with the
//! workshop's expectations, against the local stack (started here) or against AWS.
//!
//! 0 greeting; 1 connectivity as admin; 2 connectivity as the application role;
//! 3 one transfer and the payer's balance; 4 the 10,000-call stress run with and without
//! function retries; 5 a transfer and its history row with a UUID key; 6 load 1,000,000
//! accounts, run 1,000,000 calls, and check with EXPLAIN ANALYZE that the payer query
//! uses the `(payer_id, created_at)` index.

pub mod plan;
pub mod steps;

use serde_json::Value;
use tokio_postgres::Client;
use transfer::db::Dialect;
use workers::LambdaTarget;

use crate::cli::ChapterArgs;

/// What a chapter runs against.
pub struct Ctx<'a> {
    pub args: &'a ChapterArgs,
    pub target: LambdaTarget,
    /// The database, where we can reach it (always locally; on AWS with --dsql-endpoint).
    pub db: Option<&'a Client>,
    pub dialect: Dialect,
    /// The local database (local stack only).
    pub local: Option<&'a crate::local_stack::LocalDatabase>,
    /// Stop signals, for the chapters' load runs.
    pub signals: crate::signals::Signals,
}

/// A chapter's verdict, with what was seen.
pub struct Verdict {
    pub passed: bool,
    pub lines: Vec<String>,
}

impl Verdict {
    pub fn pass(line: impl Into<String>) -> Verdict {
        Verdict { passed: true, lines: vec![line.into()] }
    }
    pub fn fail(line: impl Into<String>) -> Verdict {
        Verdict { passed: false, lines: vec![line.into()] }
    }
}

pub const TITLES: [&str; 7] = [
    "Hello: the function answers a greeting",
    "Connect to DSQL as admin",
    "Connect as the application role",
    "One transfer",
    "The stress run: 10,000 calls at 1,000 parallel, with and without function retries",
    "Transaction history with UUID keys",
    "Scale: 1,000,000 accounts, 1,000,000 calls, and the payer index",
];

/// The response body of a call that must succeed, or why it did not.
pub fn response(answer: workers::Answer) -> Result<Value, String> {
    match answer.outcome {
        workers::Outcome::Response(v) => Ok(v),
        workers::Outcome::FunctionError { error_type, message } => {
            let p = crate::doctor::connection_problem(&error_type, &message);
            Err(format!("{}; fix: {}", p.what, p.fix))
        }
        other => Err(format!("{other:?}")),
    }
}

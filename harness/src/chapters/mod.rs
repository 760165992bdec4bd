//! `harness chapter N`: the workshop's chapters, each passing or failing with the
//! workshop's expectations, against the local stack (started here) or against AWS.
//!
//! 0 greeting; 1 connectivity as admin; 2 connectivity as the application role;
//! 3 one transfer and the payer's balance; 4 the 10,000-call stress run with and without
//! function retries; 5 a transfer and its history row with a UUID key; 6 load 1,000,000
//! accounts, run 1,000,000 calls, and check with EXPLAIN ANALYZE that the payer query
//! uses the `(payer_id, created_at)` index.

pub mod plan;
mod steps;

use std::process::ExitCode;

use serde_json::Value;
use tokio_postgres::Client;
use transfer::db::Dialect;
use transfer::local::EndpointConfig;
use transfer::RetryPolicy;
use workers::LambdaTarget;

use crate::cli::ChapterArgs;
use crate::local_stack::{LocalDatabase, LocalStack};
use crate::scenario::DataSpec;

/// What a chapter runs against.
pub struct Ctx<'a> {
    pub args: &'a ChapterArgs,
    pub target: LambdaTarget,
    /// The database, where we can reach it (always locally; on AWS with --dsql-endpoint).
    pub db: Option<&'a Client>,
    pub dialect: Dialect,
    /// The local database's URL (local stack only).
    pub local_url: Option<String>,
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

pub async fn run(args: ChapterArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.chapter <= 6, "chapter {} does not exist: the workshop has chapters 0 to 6", args.chapter);
    println!("Chapter {}: {}", args.chapter, TITLES[args.chapter as usize]);
    let signals = crate::signals::Signals::listen(30.0)?;
    let verdict = if args.aws {
        let target = LambdaTarget::aws(&args.function, args.db.region.clone(), args.db.profile.clone(), 1).await;
        let db = match args.db.dsql_if_given().await? {
            Some(target) => Some(target.connect().await?),
            None => None,
        };
        let ctx = Ctx { args: &args, target, db: db.as_ref(), dialect: Dialect::Dsql, local_url: None, signals };
        steps::chapter(&ctx).await?
    } else {
        let accounts =
            if args.chapter == 6 { args.accounts.unwrap_or(1_000_000) } else { args.accounts.unwrap_or(1_000) };
        let data = DataSpec { accounts, initial_balance: 100 };
        eprintln!("starting the local stack ({accounts} accounts)...");
        let db = LocalDatabase::start(args.db.database_url.clone(), data, true, true).await?;
        let url = db.url.clone();
        let stack = LocalStack::start(db, EndpointConfig::default(), RetryPolicy::Unlimited).await?;
        let target = LambdaTarget::local(stack.url(), &args.function, 16);
        let ctx = Ctx {
            args: &args,
            target,
            db: Some(&stack.db.client),
            dialect: Dialect::Postgres,
            local_url: Some(url),
            signals,
        };
        let verdict = steps::chapter(&ctx).await;
        stack.stop().await?;
        verdict?
    };
    for line in &verdict.lines {
        println!("  {line}");
    }
    println!("Chapter {}: {}", args.chapter, if verdict.passed { "PASS" } else { "FAIL" });
    Ok(if verdict.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The response body of a call that must succeed, or why it did not.
pub fn response(outcome: workers::Outcome) -> Result<Value, String> {
    match outcome {
        workers::Outcome::Response(v) => Ok(v),
        workers::Outcome::FunctionError { error_type, message } => {
            let p = crate::doctor::connection_problem(&error_type, &message);
            Err(format!("{}; fix: {}", p.what, p.fix))
        }
        other => Err(format!("{other:?}")),
    }
}

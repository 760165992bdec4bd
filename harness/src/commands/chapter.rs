//! `harness chapter N`: one of the workshop's chapters, on the local stack or on AWS.

use std::process::ExitCode;

use transfer::db::Dialect;
use transfer::local::EndpointConfig;
use transfer::RetryPolicy;
use workers::LambdaTarget;

use crate::chapters::{steps, Ctx, TITLES};
use crate::cli::ChapterArgs;
use crate::local_stack::{LocalDatabase, LocalDb, LocalStack};
use crate::scenario::DataSpec;

pub async fn run(args: ChapterArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.chapter <= 6, "chapter {} does not exist: the workshop has chapters 0 to 6", args.chapter);
    println!("Chapter {}: {}", args.chapter, TITLES[args.chapter as usize]);
    let signals = crate::signals::Signals::listen(30.0)?;
    let verdict = if args.aws {
        let target = LambdaTarget::aws(&args.function, &args.db.aws_access(), 1).await;
        let db = match args.db.dsql_if_given().await? {
            Some(target) => Some(target.connect().await?),
            None => None,
        };
        let ctx = Ctx { args: &args, target, db: db.as_ref(), dialect: Dialect::Dsql, local: None, signals };
        steps::chapter(&ctx).await?
    } else {
        let accounts =
            crate::cli::accounts_flag(args.accounts.unwrap_or(if args.chapter == 6 { 1_000_000 } else { 1_000 }))?;
        let data = DataSpec { accounts, initial_balance: 100 };
        eprintln!("starting the local stack ({accounts} accounts)...");
        let db = LocalDatabase::start(args.db.database_url.clone(), data, true, true, LocalDb::Dsql).await?;
        let stack = LocalStack::start(db, EndpointConfig::default(), RetryPolicy::Unlimited).await?;
        let target = LambdaTarget::local(stack.url(), &args.function, 16);
        let ctx = Ctx {
            args: &args,
            target,
            db: Some(&stack.db.client),
            dialect: stack.db.dialect(),
            local: Some(&stack.db),
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

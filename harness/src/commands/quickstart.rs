//! `harness quickstart`: the workshop's chapters 0, 1, 3 and 5 on the local stack, then a
//! built-in burst of transfers run through the same pipeline as `harness run`: the same
//! engine, progress line, verification and run folder. Nothing here of its own but the
//! built-in plan.

use std::process::ExitCode;

use transfer::local::endpoint::DEFAULT_FUNCTION;
use transfer::local::EndpointConfig;
use workers::LambdaTarget;

use crate::chapters::{steps, Ctx, TITLES};
use crate::cli::{accounts_flag, ChapterArgs, DbArgs, QuickstartArgs};
use crate::local_stack::{LocalDatabase, LocalStack};
use crate::scenario::{self, DataSpec, Overrides};
use crate::signals::Signals;

/// The burst: a closed model whose calls, calls in flight and accounts come from the flags.
const BURST: &str = "name = \"quickstart\"\n[load]\nmodel = \"closed\"\nin_flight = 20\ncalls = 200\n";

/// The chapters quickstart runs, in order.
const CHAPTERS: [u8; 4] = [0, 1, 3, 5];

pub async fn run(args: QuickstartArgs) -> anyhow::Result<ExitCode> {
    let data = DataSpec { accounts: accounts_flag(args.accounts)?, initial_balance: 100 };
    // The burst's plan first, so that a bad flag is refused before anything starts.
    let overrides = Overrides {
        accounts: Some(args.accounts),
        calls: Some(args.calls),
        in_flight: Some(args.parallel),
        retry_policy: Some(args.retry_policy.to_string()),
        ..Overrides::default()
    };
    let mut plan = scenario::parse("quickstart", BURST, &overrides)?;
    let signals = Signals::listen(plan.engine.drain_timeout_s)?;
    eprintln!("starting the local stack ({} accounts)...", data.accounts);
    let db = LocalDatabase::start(args.database_url.clone(), data, false, true, plan.local.database).await?;
    let url = db.url.clone();
    let stack = LocalStack::start(db, EndpointConfig::default(), args.retry_policy).await?;
    let chapter_args = ChapterArgs {
        chapter: 0,
        aws: false,
        function: DEFAULT_FUNCTION.to_string(),
        db: DbArgs { database_url: Some(url.clone()), ..DbArgs::default() },
        role: "myapp".into(),
        arn: None,
        accounts: Some(args.accounts),
        calls: None,
        parallel: None,
        results: args.results.clone(),
    };
    let mut chapters_passed = true;
    for chapter in CHAPTERS {
        let args = ChapterArgs { chapter, ..chapter_args.clone() };
        let target = LambdaTarget::local(stack.url(), DEFAULT_FUNCTION, 1);
        let ctx = Ctx {
            args: &args,
            target,
            db: Some(&stack.db.client),
            dialect: stack.db.dialect(),
            local: Some(&stack.db),
            signals: signals.clone(),
        };
        let verdict = steps::chapter(&ctx).await?;
        println!("Chapter {chapter} ({}): {}", TITLES[chapter as usize], if verdict.passed { "PASS" } else { "FAIL" });
        for line in &verdict.lines {
            println!("  {line}");
        }
        chapters_passed &= verdict.passed;
    }
    // The database stays up for the burst (the pipeline starts its own endpoint).
    let _db = stack.stop().await?;

    if let scenario::TargetSpec::Local { database_url, .. } = &mut plan.target {
        *database_url = Some(url);
    }
    println!("\nBurst: {} transfers at {} in flight", args.calls, args.parallel);
    let finished = crate::pipeline::execute(plan, &args.results, Default::default(), &signals).await?;
    finished.print()?;
    Ok(if chapters_passed { finished.exit } else { ExitCode::from(1) })
}

//! `harness quickstart`: the workshop's chapters 0, 1, 3 and 5 and a burst of transfers
//! on the local stack, through the real aws-sdk-lambda client.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use futures::stream::{self, StreamExt};
use serde_json::json;
use transfer::local::EndpointConfig;
use workers::{LambdaTarget, Outcome};

use crate::cli::QuickstartArgs;
use crate::local_stack::{LocalDatabase, LocalStack};
use crate::scenario::DataSpec;
use transfer::schema;

const INITIAL_BALANCE: i32 = 100;

pub async fn run(args: QuickstartArgs) -> anyhow::Result<ExitCode> {
    if args.accounts < 2 {
        bail!("--accounts must be at least 2 (a transfer needs two accounts), got {}", args.accounts);
    }
    if args.parallel == 0 {
        bail!("--parallel must be at least 1");
    }
    eprintln!("starting the local stack ({} accounts)...", args.accounts);
    let data = DataSpec { accounts: args.accounts, initial_balance: INITIAL_BALANCE };
    let db = LocalDatabase::start(args.database_url.clone(), data, false, false).await?;
    let stack = LocalStack::start(db, EndpointConfig::default(), args.retry_policy).await?;
    let before = schema::totals(&stack.db.client).await?;
    let target = LambdaTarget::local(stack.url(), &EndpointConfig::default().function_name, args.parallel as u64);
    println!("local Lambda endpoint: {} | database: {}", stack.url(), transfer::db::redact(&stack.db.url));

    let result = chapters(&target, &args).await;
    let after = schema::totals(&stack.db.client).await?;
    let stats = stack.stats().await?;
    stack.stop().await?;
    let committed = result?;

    println!(
        "cold starts: {} | environments: {} | invocations: {}",
        stats.cold_starts, stats.max_environments, stats.invocations
    );
    let conserved = after.balance_sum == before.balance_sum && after.min_balance.unwrap_or(0) >= 0;
    let history_ok = after.history_rows - before.history_rows == committed;
    println!(
        "verify: sum of balances {} (expected {}), lowest balance {}, history rows +{} for {} committed transfers: {}",
        after.balance_sum,
        before.balance_sum,
        after.min_balance.unwrap_or(0),
        after.history_rows - before.history_rows,
        committed,
        if conserved && history_ok { "PASS" } else { "FAIL" }
    );
    Ok(if conserved && history_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Returns the number of committed transfers.
async fn chapters(target: &LambdaTarget, args: &QuickstartArgs) -> anyhow::Result<i64> {
    let greeting = expect_response(target.call(&json!({"op":"greeting","name":"DAT401"})).await, "chapter 0")?;
    println!("chapter 0 (greeting):     {greeting}");
    let connected = expect_response(target.call(&json!({"op":"connectivity","name":"DAT401"})).await, "chapter 1")?;
    println!("chapter 1 (connectivity): {connected}");
    let transfer = expect_response(target.call(&json!({"payer_id":1,"payee_id":2,"amount":10})).await, "chapter 3")?;
    println!("chapter 3 (transfer 1->2, 10): {transfer}");
    let mut committed = i64::from(transfer.get("balance").is_some());

    let started = Instant::now();
    let accounts = args.accounts;
    let outcomes: Vec<Outcome> = stream::iter(0..args.calls)
        .map(|i| {
            let payer = (i as i32 * 7) % accounts + 1;
            let payee = (payer + i as i32 % (accounts - 1)) % accounts + 1;
            let payee = if payee == payer { payer % accounts + 1 } else { payee };
            async move { target.call(&json!({"payer_id": payer, "payee_id": payee, "amount": 1})).await }
        })
        .buffer_unordered(args.parallel)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let (mut ok, mut refused, mut errors, mut retries) = (0, 0, 0, 0u64);
    for o in &outcomes {
        match o {
            Outcome::Response(v) if v.get("balance").is_some() => {
                ok += 1;
                retries += v["retries"].as_u64().unwrap_or(0);
            }
            Outcome::Response(_) => refused += 1,
            other => {
                errors += 1;
                if errors <= 3 {
                    eprintln!("error: {other:?}");
                }
            }
        }
    }
    committed += ok;
    println!(
        "burst: {} transfers at {} parallel in {:.2}s ({:.0} calls/s): {ok} committed, {refused} refused, {errors} errors, {retries} OCC retries",
        args.calls,
        args.parallel,
        elapsed.as_secs_f64(),
        args.calls as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if errors > 0 {
        bail!("{errors} of {} calls failed", args.calls);
    }
    Ok(committed)
}

fn expect_response(outcome: Outcome, what: &str) -> anyhow::Result<serde_json::Value> {
    match outcome {
        Outcome::Response(v) => Ok(v),
        other => Err(anyhow::anyhow!("{other:?}")).with_context(|| format!("{what} failed")),
    }
}

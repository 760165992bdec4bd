//! The small commands: `setup`, `verify` and `invoke`.

use std::process::ExitCode;

use anyhow::Context;
use aws_sdk_lambda::primitives::Blob;
use workers::LambdaTarget;

use crate::cli::{InvokeArgs, ReportArgs, SetupArgs, VerifyArgs};
use crate::database;
use crate::report::{console::Console, Render};
use crate::scenario::DataSpec;

pub async fn setup(args: SetupArgs) -> anyhow::Result<ExitCode> {
    let data = args.data.spec()?;
    let started = std::time::Instant::now();
    database::setup(&args.database_url, data, args.reset, true).await?;
    println!(
        "set up {} accounts of {}{} in {:.1}s",
        data.accounts,
        data.initial_balance,
        if args.reset { " (balances restored, history cleared)" } else { "" },
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let data = args.data.spec()?;
    let client = database::connect(&args.database_url).await?;
    let v = database::verify(&client, data).await?;
    println!("Verification: {}", v.summary());
    Ok(if v.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// One call, printed like `aws lambda invoke`: the response metadata, then the payload.
pub async fn invoke(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    serde_json::from_str::<serde_json::Value>(&args.payload)
        .with_context(|| format!("--payload is not JSON: {}", args.payload))?;
    let target = match &args.endpoint_url {
        Some(url) => LambdaTarget::local(url, &args.function, 1),
        None => LambdaTarget::aws(&args.function, args.region.clone(), args.profile.clone(), 1).await,
    };
    let out = target
        .client()
        .invoke()
        .function_name(&args.function)
        .payload(Blob::new(args.payload.as_bytes()))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(workers::target::describe_sdk_error(&e)))
        .with_context(|| format!("invoking {}", args.function))?;
    let mut meta = serde_json::json!({ "StatusCode": out.status_code() });
    if let Some(e) = out.function_error() {
        meta["FunctionError"] = e.into();
    }
    if let Some(v) = out.executed_version() {
        meta["ExecutedVersion"] = v.into();
    }
    println!("{}", serde_json::to_string_pretty(&meta)?);
    let payload = out.payload().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned()).unwrap_or_default();
    println!("{payload}");
    Ok(if out.function_error().is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

impl crate::cli::DataArgs {
    pub fn spec(&self) -> anyhow::Result<DataSpec> {
        anyhow::ensure!(self.accounts >= 2, "--accounts must be at least 2, got {}", self.accounts);
        anyhow::ensure!(self.initial_balance >= 0, "--initial-balance must be >= 0, got {}", self.initial_balance);
        Ok(DataSpec { accounts: self.accounts, initial_balance: self.initial_balance })
    }
}

/// Re-render a run folder's files and STATS from its `summary.json`.
pub async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let report = crate::report::json::read(&args.run_dir.join("summary.json"))?;
    crate::report::write_derived(&args.run_dir, &report)?;
    print!("{}", String::from_utf8(Console.render(&report)?)?);
    Ok(ExitCode::SUCCESS)
}

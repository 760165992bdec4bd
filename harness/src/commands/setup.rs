//! `harness setup`: create the schema and load the accounts.

use std::process::ExitCode;

use crate::cli::SetupArgs;
use crate::database;

pub async fn run(args: SetupArgs) -> anyhow::Result<ExitCode> {
    let data = args.data.spec()?;
    let started = std::time::Instant::now();
    database::setup(&args.db.target().await?, data, args.reset, true).await?;
    println!(
        "set up {} accounts of {}{} in {:.1}s",
        data.accounts,
        data.initial_balance,
        if args.reset { " (balances restored, history cleared)" } else { "" },
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

//! `harness setup`: create the schema and load the accounts, or a scenario's own data.

use std::process::ExitCode;

use crate::cli::SetupArgs;
use crate::database::{self, DataSetup};
use crate::scenario::{self, Overrides};

pub async fn run(args: SetupArgs) -> anyhow::Result<ExitCode> {
    let data = match &args.scenario {
        Some(path) => DataSetup::of(&scenario::load(path, &Overrides::default())?),
        None => DataSetup::from(args.data.spec()?),
    };
    let started = std::time::Instant::now();
    database::setup(&args.db.target().await?, &data, args.reset, true).await?;
    let seconds = started.elapsed().as_secs_f64();
    if data.custom.is_custom() {
        let rows: i64 = data.custom.loads.iter().map(|l| l.rows).sum();
        let statements = data.custom.setup.as_ref().map_or(0, |f| f.statements.len());
        let reset = if args.reset { " (reset)" } else { "" };
        println!("set up the scenario's data{reset}: {statements} statements, {rows} rows loaded in {seconds:.1}s");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "set up {} accounts of {}{} in {seconds:.1}s",
        data.spec.accounts,
        data.spec.initial_balance,
        if args.reset { " (balances restored, history cleared)" } else { "" },
    );
    Ok(ExitCode::SUCCESS)
}

//! `harness verify`: check the data, as after a run: a scenario's invariants or the
//! built-in list (without a run's counts: those that need them are skipped).

use std::process::ExitCode;

use crate::cli::{Format, VerifyArgs};
use crate::database::{self, Checks};
use crate::scenario::{self, Overrides};

pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let checks = match &args.scenario {
        Some(path) => Checks::of_plan(&scenario::load(path, &Overrides::default())?),
        None => Checks::builtin(args.data.spec()?),
    };
    let client = args.db.target().await?.connect().await;
    let v = database::verify_connected(client, &checks, None).await;
    match args.format {
        Format::Table => {
            println!("Verification: {}", v.summary());
            for line in v.lines() {
                println!("  {line}");
            }
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
    }
    Ok(if v.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

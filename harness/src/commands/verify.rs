//! `harness verify`: check the data, as after a run.

use std::process::ExitCode;

use crate::cli::VerifyArgs;
use crate::database;

pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let data = args.data.spec()?;
    let client = args.db.target().await?.connect().await?;
    let v = database::verify(&client, data).await?;
    println!("Verification: {}", v.summary());
    Ok(if v.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

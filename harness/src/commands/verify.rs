//! `harness verify`: check the data, as after a run.

use std::process::ExitCode;

use crate::cli::{Format, VerifyArgs};
use crate::database;

pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let data = args.data.spec()?;
    let client = args.db.target().await?.connect().await?;
    let v = database::verify(&client, data).await?;
    match args.format {
        Format::Table => println!("Verification: {}", v.summary()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
    }
    Ok(if v.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

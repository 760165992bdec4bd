//! One file per subcommand, each `pub async fn run(args) -> anyhow::Result<ExitCode>`:
//! it turns its flags into domain values, calls the domain modules, and prints. The
//! domain modules (pipeline, coordinator, local_stack, database, chapters, doctor,
//! check, report) hold no command plumbing.

mod chapter;
mod check;
mod completions;
mod doctor;
mod fleet;
mod invoke;
mod local_lambda_child;
mod quickstart;
mod report;
mod run;
mod setup;
mod setup_role;
mod verify;
pub mod worker;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::Command;

/// Run one subcommand.
pub async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run::run(args).await,
        Command::Setup(args) => setup::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::SetupRole(args) => setup_role::run(args).await,
        Command::Invoke(args) => invoke::run(args).await,
        Command::Report(args) => report::run(args).await,
        Command::Check(args) => check::run(args).await,
        Command::Chapter(args) => chapter::run(args).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Quickstart(args) => quickstart::run(args).await,
        Command::Worker(args) => worker::run(args).await,
        Command::Fleet(args) => fleet::run(args).await,
        Command::Completions(args) => completions::completions(args),
        Command::Man => completions::man(),
        Command::LocalLambdaChild(args) => local_lambda_child::run(args).await,
    }
}

/// `path` opened for appending (a step summary collects several), and the path.
fn append_to(path: &Path) -> anyhow::Result<(std::fs::File, PathBuf)> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening --summary-md {}", path.display()))?;
    Ok((file, path.to_path_buf()))
}

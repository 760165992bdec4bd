//! `harness`: load tests for transactional Lambda functions on Aurora DSQL.
//! parse -> validate into a plan -> run -> report; each command in its own module.

mod chapters;
mod check;
mod cli;
mod commands;
mod coordinator;
mod database;
mod doctor;
mod local_stack;
mod progress;
mod quickstart;
mod record;
mod report;
mod roles;
mod run;
mod scenario;
mod signals;
mod worker;

/// The SDK's per-call work is allocation-heavy; mimalloc costs less CPU than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HARNESS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli::Cli::parse().command {
        cli::Command::Run(args) => run::run(args).await,
        cli::Command::Setup(args) => commands::setup(args).await,
        cli::Command::Verify(args) => commands::verify(args).await,
        cli::Command::SetupRole(args) => commands::setup_role(args).await,
        cli::Command::Invoke(args) => commands::invoke(args).await,
        cli::Command::Report(args) => commands::report(args).await,
        cli::Command::Check(args) => commands::check(args),
        cli::Command::Chapter(args) => chapters::run(args).await,
        cli::Command::Doctor(args) => doctor::command::run(args).await,
        cli::Command::Quickstart(args) => quickstart::run(args).await,
        cli::Command::Worker(args) => worker::run(args).await,
        cli::Command::LocalLambdaChild(args) => local_stack::serve_child(args).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::from(2)
    })
}

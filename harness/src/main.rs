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
mod pipeline;
mod progress;
mod record;
mod report;
mod roles;
mod scenario;
mod secret;
mod signals;
mod stream;
mod summary;

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
    let result = commands::dispatch(cli::Cli::parse().command).await;
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::from(2)
    })
}

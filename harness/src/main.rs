//! `harness`: load tests for transactional Lambda functions on Aurora DSQL.
//! parse -> validate into a plan -> run -> report; each command in its own module.

mod chapters;
mod check;
mod cli;
mod clock;
mod cluster;
mod commands;
mod coordinator;
mod cost;
mod dashboard;
mod database;
mod doctor;
mod fleet;
mod hosted;
mod hot;
mod invariants;
mod local_stack;
mod pipeline;
mod prices;
mod progress;
mod record;
mod report;
mod roles;
mod run_dir;
mod scenario;
mod secret;
mod server;
mod signals;
mod stream;
mod summary;

/// The SDK's per-call work is allocation-heavy; mimalloc costs less CPU than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    logging(&cli);
    let result = commands::dispatch(cli.command).await;
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::from(2)
    })
}

/// Logs on stderr: RUST_LOG (or HARNESS_LOG) filters, default warnings (the worker
/// daemon, which has no other output: info); text or JSON lines. The AWS SDK's own
/// warnings (a credential provider that found nothing, a config file not there) are
/// left out by default: the harness says what failed and what to do in one line.
fn logging(cli: &cli::Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match cli.command {
        cli::Command::Worker(_) => "info,aws_config=error,aws_runtime=error",
        _ => "warn,aws_config=error,aws_runtime=error",
    };
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_from_env("HARNESS_LOG"))
        .unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        cli::LogFormat::Text => logs.with_ansi(ansi).init(),
        cli::LogFormat::Json => logs.json().init(),
    }
}

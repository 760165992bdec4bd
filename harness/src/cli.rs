//! The command line.

use clap::{Args, Parser, Subcommand};
use transfer::RetryPolicy;

/// Load tests for transactional AWS Lambda functions on Aurora DSQL, modelled on the
/// DAT401 workshop: throughput, latency, errors and OCC retries you can trust.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the local stack (PostgreSQL and the local Lambda endpoint), run the
    /// workshop's first chapters and a small burst of transfers through the real
    /// aws-sdk-lambda client, verify that money was conserved, and tear it all down.
    Quickstart(QuickstartArgs),
}

#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Accounts to create (ids 1..=N), each with 100.
    #[arg(long, default_value_t = 1000)]
    pub accounts: i32,
    /// Transfers in the burst.
    #[arg(long, default_value_t = 200)]
    pub calls: usize,
    /// Calls in flight during the burst.
    #[arg(long, default_value_t = 20)]
    pub parallel: usize,
    /// The function's OCC retry policy: `unlimited`, `none`, or `backoff:MAX[:BASE_MS[:CAP_MS]]`.
    #[arg(long, default_value = "unlimited")]
    pub retry_policy: RetryPolicy,
    /// Use this PostgreSQL instead of starting a throwaway one (its accounts table is
    /// created and filled if missing).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

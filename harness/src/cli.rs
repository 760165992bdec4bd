//! The command line. Flags become the same validated types as a scenario file.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use transfer::RetryPolicy;

use crate::scenario::Overrides;

/// Load tests for transactional AWS Lambda functions on Aurora DSQL, modelled on the
/// DAT401 workshop: throughput, latency, errors and OCC retries you can trust.
///
/// Logs go to stderr, filtered by RUST_LOG (or HARNESS_LOG), e.g. RUST_LOG=harness=debug;
/// the default is warnings only (the worker daemon: info). Common flags also read
/// HARNESS_* environment variables, shown as [env: ...] in each command's --help.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr: `text` for people, `json` (one object per line) for log
    /// collectors on fleet nodes.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "HARNESS_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a load scenario (scenarios/*.toml): on the local target it starts PostgreSQL
    /// and the local Lambda endpoint, loads the accounts, runs with live progress,
    /// verifies the data, writes results/<run-id>/summary.json and prints the STATS.
    /// With [workers] (or --workers / --worker) the load comes from several worker processes.
    /// SIGINT, SIGTERM or SIGHUP: stop starting calls, drain, report and tear down; a
    /// second signal skips the drain.
    /// Exit status: 0 every planned call started and every check passed; 1 verification
    /// failed or could not run, a threshold failed (without [thresholds], more than 1% of
    /// the calls failed other than as `thresholds.expected` says), a worker was lost or
    /// failed, the calls do not add up, or not every planned call started (unless
    /// limits.allow_incomplete); 2 bad input or set-up failure; 130/143/129 stopped by SIGINT/SIGTERM/SIGHUP, with the report written.
    Run(RunArgs),
    /// Create the schema and load accounts (parallel batched inserts); safe to re-run.
    Setup(SetupArgs),
    /// Create a database role for the application (the workshop's `myapp`), grant it the
    /// tables, map an IAM role ARN to it (AWS IAM GRANT on DSQL), and show the mappings.
    SetupRole(SetupRoleArgs),
    /// Check the data: money conserved, no negative balance, history consistent with
    /// every balance. Exit status 0 on pass, 1 on fail.
    Verify(VerifyArgs),
    /// Invoke the function once and print the response like `aws lambda invoke`.
    Invoke(InvokeArgs),
    /// Re-render a run folder (timeseries.csv, errors.csv, latency.hlog and the STATS)
    /// from its summary.json.
    Report(ReportArgs),
    /// Check, in order, what a run against AWS needs and say what to fix: credentials and
    /// region, the function (a DryRun invoke), its database connection (its connectivity
    /// check), and the schema. Exit status 0 when all pass, 1 otherwise.
    Doctor(DoctorArgs),
    /// Run one of the workshop's chapters (0-6) and pass or fail with its expectations,
    /// on the local stack (started here) or, with --aws, against the deployed function.
    Chapter(ChapterArgs),
    /// Gate a run for CI: check it against the scenario's [thresholds] and, with
    /// --baseline, against an earlier run; print a table of every check.
    /// Exit status: 0 all passed, 1 a check failed, 2 bad input.
    Check(CheckArgs),
    /// Start the local stack, run the workshop's chapters 0, 1, 3 and 5, then a burst of
    /// transfers through the same pipeline as `run` (the real aws-sdk-lambda client,
    /// progress, verification, a run folder), and tear down.
    Quickstart(QuickstartArgs),
    /// Run a worker daemon: it takes a plan from a coordinator (`harness run` with
    /// [workers] addresses or --worker), runs its share of the load and streams the
    /// statistics back. Listens on loopback unless told otherwise; beyond loopback it
    /// needs a shared secret (--secret-file or HARNESS_WORKER_SECRET). SIGTERM or SIGHUP:
    /// it takes no new plan, lets the running one drain and report, and exits 0.
    Worker(WorkerArgs),
    /// A fleet of worker daemons on EC2 Auto Scaling (deploy/fleet.json), through
    /// CloudFormation: `up` creates or updates it (and its secret in SSM), `status` shows
    /// its workers, `down` deletes it; `harness run --fleet STACK` uses it.
    Fleet(FleetArgs),
    /// Print a shell completion script, e.g. `harness completions bash > /etc/bash_completion.d/harness`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), e.g. `harness man > harness.1 && man ./harness.1`.
    Man,
    /// The local Lambda endpoint as a child process of `run` (internal).
    #[command(hide = true)]
    LocalLambdaChild(LocalLambdaArgs),
}

#[derive(Args, Debug)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub action: FleetAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum FleetAction {
    /// Create the fleet's stack (or update it, e.g. to another --size) and wait for it.
    Up(FleetUpArgs),
    /// The stack's status, and its workers: in service (with their addresses), pending, leaving.
    Status(FleetStackArgs),
    /// Delete the stack and its secret, and wait until they are gone.
    Down(FleetStackArgs),
}

#[derive(Args, Debug, Clone)]
pub struct FleetStackArgs {
    /// The fleet's CloudFormation stack name.
    #[arg(long, env = "HARNESS_FLEET")]
    pub stack: String,
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// How long to wait for CloudFormation, minutes.
    #[arg(long, default_value_t = 20)]
    pub wait_minutes: u64,
}

#[derive(Args, Debug)]
pub struct FleetUpArgs {
    #[command(flatten)]
    pub stack: FleetStackArgs,
    /// Worker nodes (0 to 200).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=200))]
    pub size: u32,
    /// The VPC of the workers and the coordinator.
    #[arg(long)]
    pub vpc: String,
    /// Subnets for the workers, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub subnets: Vec<String>,
    /// The coordinator's security group: the only source admitted on the worker port.
    #[arg(long)]
    pub coordinator_sg: String,
    /// The function under test (unqualified ARN): all the workers may invoke.
    #[arg(long)]
    pub function_arn: String,
    /// Where the nodes download the harness binary (https, e.g. an S3 presigned URL).
    #[arg(long)]
    pub harness_url: String,
    /// Instance type (default in deploy/fleet.json: c7g.large, arm64).
    #[arg(long)]
    pub instance_type: Option<String>,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Address to listen on, e.g. 127.0.0.1:7700 or 0.0.0.0:7700 (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:7700", env = "HARNESS_WORKER_LISTEN")]
    pub listen: std::net::SocketAddr,
    /// A file holding the shared secret coordinators must prove they hold.
    #[arg(long, env = "HARNESS_WORKER_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// The name this worker reports (default: host name and port).
    #[arg(long, env = "HARNESS_WORKER_NAME")]
    pub name: Option<String>,
    /// Exit after this many plans (default: serve until stopped).
    #[arg(long)]
    pub plans: Option<u64>,
    /// Refuse plans whose share needs more calls in flight than this (protects a small node).
    #[arg(long)]
    pub max_in_flight: Option<u64>,
    /// Exit when stdin closes (for workers started by a coordinator).
    #[arg(long, hide = true)]
    pub exit_with_stdin: bool,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct LocalLambdaArgs {
    /// The endpoint's configuration as JSON (`local_stack::ChildConfig`, written by `run`).
    #[arg(long)]
    pub config: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The scenario file (see scenarios/README.md).
    pub scenario: PathBuf,
    /// Where run folders are created.
    #[arg(long, default_value = "results", env = "HARNESS_RESULTS")]
    pub results: PathBuf,
    /// Restore every balance and clear the history before the run (with --database-url).
    #[arg(long)]
    pub reset: bool,
    /// A file holding the worker daemons' shared secret (or set HARNESS_WORKER_SECRET).
    #[arg(long, env = "HARNESS_WORKER_SECRET_FILE")]
    pub worker_secret_file: Option<PathBuf>,
    /// Also write a Markdown summary of the run and its checks here (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, env = "HARNESS_SUMMARY_MD")]
    pub summary_md: Option<PathBuf>,
    /// Stream every second's figures while the run goes: `json=FILE` (one JSON object per
    /// line) or `emf=FILE` (CloudWatch Embedded Metric Format); FILE `-` is standard
    /// output. Repeatable.
    #[arg(long, value_name = "KIND=FILE")]
    pub out: Vec<crate::stream::OutSpec>,
    /// Serve Prometheus metrics at /metrics on this address during the run, e.g.
    /// 127.0.0.1:9464 (port 0 picks a free one; the address is printed): OpenMetrics
    /// text when the scrape asks for it, the classic text format otherwise.
    #[arg(long, value_name = "ADDR", env = "HARNESS_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// With --metrics-listen: keep serving the final figures this long after the run,
    /// once the report is written, so a scrape every 15 s sees them (Ctrl-C stops it).
    #[arg(long, value_name = "SECS", default_value_t = 35, env = "HARNESS_METRICS_LINGER")]
    pub metrics_linger: u64,
    /// Serve the run's report page live on this address while the run lasts (without a
    /// value 127.0.0.1:5665, as k6's dashboard; port 0 picks a free one; the address is
    /// printed): its charts and figures redrawn every second, for one process or a
    /// fleet, and report.html itself once the run is over.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:5665", env = "HARNESS_DASHBOARD")]
    pub dashboard: Option<std::net::SocketAddr>,
    /// Push the final figures to this Prometheus Pushgateway after the run (PUT
    /// URL/metrics/job/harness/instance/RUN_ID), e.g. http://localhost:9091.
    #[arg(long, value_name = "URL", env = "HARNESS_METRICS_PUSH")]
    pub metrics_push: Option<crate::stream::prometheus::PushUrl>,
    #[command(flatten)]
    pub overrides: Overrides,
}

/// The data set, for `setup` and `verify`.
#[derive(Args, Debug)]
pub struct DataArgs {
    /// Accounts 1..=N.
    #[arg(long, default_value_t = 1000)]
    pub accounts: i64,
    /// Each account's opening balance.
    #[arg(long, default_value_t = 100)]
    pub initial_balance: i32,
}

/// Which database: a PostgreSQL URL, or a DSQL cluster (IAM token auth).
#[derive(Args, Debug, Clone, Default)]
pub struct DbArgs {
    /// A PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", conflicts_with = "dsql_endpoint")]
    pub database_url: Option<String>,
    /// An Aurora DSQL cluster's host name (<id>.dsql.<region>.on.aws), or HOST:PORT of a
    /// local DSQL front (its CA in PGSSLROOTCERT).
    #[arg(long)]
    pub dsql_endpoint: Option<String>,
    /// AWS region (otherwise from the AWS configuration).
    #[arg(long)]
    pub region: Option<String>,
    /// AWS profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// The database role to connect as on DSQL (`admin` uses the admin token).
    #[arg(long, default_value = "admin")]
    pub dsql_user: String,
}

/// `harness setup-role`: the application role and its IAM mapping.
#[derive(Args, Debug)]
pub struct SetupRoleArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The database role to create (the workshop's `myapp`).
    #[arg(long, default_value = "myapp")]
    pub role: String,
    /// The IAM role ARN allowed to connect as it (the function's execution role).
    #[arg(long)]
    pub arn: String,
}

#[derive(Args, Debug)]
pub struct SetupArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Also restore every balance and clear the history (with --scenario: run its
    /// data.reset file).
    #[arg(long)]
    pub reset: bool,
    /// Set up the data of this scenario's [data] (its setup file, loads and values)
    /// instead of the built-in accounts.
    #[arg(long, conflicts_with_all = ["accounts", "initial_balance"])]
    pub scenario: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// How to print the result: `table` for people, `json` for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Check this scenario's [[verify]] invariants (or the built-in list) with its
    /// [data] values; those that need a run's counts are skipped.
    #[arg(long, conflicts_with_all = ["accounts", "initial_balance"])]
    pub scenario: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run folder, e.g. results/20261129-101500-ch04-10k.
    pub run_dir: PathBuf,
    /// Fetch the server-side view of an AWS run again from CloudWatch (Lambda's and
    /// DSQL's metrics over the run's window, which arrive minutes late), and with it the
    /// database's cost; summary.json and every report are updated. A figure the fetch
    /// does not bring back keeps its earlier value; a failed fetch changes nothing and
    /// exits 1.
    #[arg(long)]
    pub fetch_metrics: bool,
    /// Draw this run's curves and figures beside the run's in report.html (grey,
    /// dashed): a run folder or a summary.json.
    #[arg(long, value_name = "RUN")]
    pub baseline: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ChapterArgs {
    /// The chapter: 0 greeting, 1 connect as admin, 2 the application role, 3 a transfer,
    /// 4 the stress run, 5 history with UUIDs, 6 scale and the payer index.
    pub chapter: u8,
    /// Against the function deployed on AWS instead of the local stack.
    #[arg(long)]
    pub aws: bool,
    /// Function name or ARN.
    #[arg(long, default_value = transfer::local::endpoint::DEFAULT_FUNCTION)]
    pub function: String,
    /// Locally, --database-url replaces the throwaway PostgreSQL; with --aws,
    /// --dsql-endpoint names the cluster whose balances, history and plans are checked,
    /// and --region / --profile also select the function's region and credentials.
    #[command(flatten)]
    pub db: DbArgs,
    /// Chapter 2: the application role.
    #[arg(long, default_value = "myapp")]
    pub role: String,
    /// Chapter 2: the IAM role ARN to map to it (the function's execution role).
    #[arg(long)]
    pub arn: Option<String>,
    /// Chapters 4 and 6: accounts (default 1,000 and 1,000,000).
    #[arg(long)]
    pub accounts: Option<i64>,
    /// Chapters 4 and 6: calls (default 10,000 and 1,000,000).
    #[arg(long)]
    pub calls: Option<i64>,
    /// Chapters 4 and 6: calls in parallel (default 1,000 and 10,000).
    #[arg(long)]
    pub parallel: Option<i64>,
    /// Where the runs of chapters 4 and 6 write their folders.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Function name or ARN.
    #[arg(long, default_value = transfer::local::endpoint::DEFAULT_FUNCTION)]
    pub function: String,
    /// A local endpoint instead of AWS Lambda (e.g. from `local-lambda`).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// The database whose schema check 5 reads (skipped when none is given); --region
    /// and --profile also select the Lambda region and credentials.
    #[command(flatten)]
    pub db: DbArgs,
    /// The number of accounts the schema should hold.
    #[arg(long)]
    pub accounts: Option<i64>,
    /// A scenario whose calls in flight the concurrency quotas are checked against.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// How to print the checks: `table` for people, `json` for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The run to check: a run folder or its summary.json.
    pub run: PathBuf,
    /// Earlier runs to compare with (docs/gate.md): run folders, summary.json files, or a
    /// results folder (its last --history runs of the same scenario). Latency percentiles
    /// with their confidence intervals against the history's spread, throughput, and the
    /// shift of the latency distribution.
    #[arg(long, num_args = 1.., value_name = "RUN|RESULTS")]
    pub baseline: Vec<PathBuf>,
    /// How many of the latest baseline runs to compare with.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub history: usize,
    /// Take the thresholds from this scenario file instead of the run's own scenario.
    #[arg(long)]
    pub thresholds: Option<PathBuf>,
    /// Against the baseline: percent slower or lower that still passes
    /// (thresholds.baseline_tolerance_pct; default 25).
    #[arg(long)]
    pub tolerance_pct: Option<f64>,
    /// Against the baseline: the share of calls (0..1) that may move to a slower latency
    /// beyond sampling noise (thresholds.max_latency_shift; default 0.25).
    #[arg(long)]
    pub max_shift: Option<f64>,
    /// Also write the checks as JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Record these checks in the run's summary.json and re-render its files, so that
    /// report.html shows them (with the baseline's figures).
    #[arg(long)]
    pub update_report: bool,
    /// Also write the checks as a Markdown summary here (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long)]
    pub summary_md: Option<PathBuf>,
    /// How to print the checks: `table` for people, `json` for programs (numbers with their
    /// units; schemas/check.schema.json).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct InvokeArgs {
    /// The JSON payload, e.g. '{"payer_id":1,"payee_id":2,"amount":10}'.
    #[arg(long, default_value = r#"{"payer_id":1,"payee_id":2,"amount":10}"#)]
    pub payload: String,
    /// Function name or ARN.
    #[arg(long, default_value = transfer::local::endpoint::DEFAULT_FUNCTION)]
    pub function: String,
    /// Any Invoke API endpoint (`local-lambda`, `cargo lambda watch`, SAM local,
    /// LocalStack), with placeholder credentials; omit for AWS.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// AWS region (otherwise from the AWS configuration).
    #[arg(long)]
    pub region: Option<String>,
    /// AWS profile.
    #[arg(long)]
    pub profile: Option<String>,
}

#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Accounts to create (ids 1..=N), each with 100.
    #[arg(long, default_value_t = 1000)]
    pub accounts: i64,
    /// Transfers in the burst.
    #[arg(long, default_value_t = 200)]
    pub calls: i64,
    /// Calls in flight during the burst.
    #[arg(long, default_value_t = 20)]
    pub parallel: i64,
    /// The function's OCC retry policy: `unlimited`, `none`, or `backoff:MAX[:BASE_MS[:CAP_MS]]`.
    #[arg(long, default_value = "unlimited")]
    pub retry_policy: RetryPolicy,
    /// Use this PostgreSQL instead of starting a throwaway one.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the burst's run folder is written.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
}

impl DataArgs {
    pub fn spec(&self) -> anyhow::Result<crate::scenario::DataSpec> {
        let accounts = accounts_flag(self.accounts)?;
        anyhow::ensure!(self.initial_balance >= 0, "--initial-balance must be >= 0, got {}", self.initial_balance);
        Ok(crate::scenario::DataSpec { accounts, initial_balance: self.initial_balance })
    }
}

impl DbArgs {
    /// The database these flags name.
    pub async fn target(&self) -> anyhow::Result<crate::database::DbTarget> {
        self.target_if_given().await?.context("give --database-url (or DATABASE_URL) or --dsql-endpoint")
    }

    /// The database these flags name, if they name one.
    pub async fn target_if_given(&self) -> anyhow::Result<Option<crate::database::DbTarget>> {
        match &self.database_url {
            Some(url) => Ok(Some(crate::database::DbTarget::Url(url.clone()))),
            None => self.dsql_if_given().await,
        }
    }

    /// The AWS region and profile these flags name, for the Lambda client.
    pub fn aws_access(&self) -> workers::target::AwsAccess {
        workers::target::AwsAccess { region: self.region.clone(), profile: self.profile.clone(), endpoint_url: None }
    }

    /// The DSQL cluster of --dsql-endpoint, if given, with credentials and region from
    /// the AWS configuration (or --region and --profile).
    pub async fn dsql_if_given(&self) -> anyhow::Result<Option<crate::database::DbTarget>> {
        let Some(host) = &self.dsql_endpoint else { return Ok(None) };
        let sdk = workers::target::aws_sdk_config(self.region.clone(), self.profile.clone()).await;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .context("--dsql-endpoint needs a region: pass --region or set AWS_REGION")?;
        crate::database::DbTarget::dsql(host, region, self.dsql_user.clone(), sdk).map(Some).context("--dsql-endpoint")
    }
}

/// `--accounts N` as an account count: 2 to 2^31-1 (ids are PostgreSQL integers).
pub fn accounts_flag(n: i64) -> anyhow::Result<i32> {
    match i32::try_from(n) {
        Ok(n) if n >= 2 => Ok(n),
        _ => anyhow::bail!("--accounts must be between 2 and {}, got {n}", i32::MAX),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

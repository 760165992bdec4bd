//! `local-lambda`: serve the transfer function on the real Lambda Invoke API, locally.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use transfer::db::Database;
use transfer::local::endpoint::{DEFAULT_ENVIRONMENTS, DEFAULT_FUNCTION};
use transfer::local::environments::Lifecycle;
use transfer::local::{Endpoint, EndpointConfig, LocalPostgres, Overflow, PgOptions};
use transfer::{schema, Function, RetryPolicy};

/// Serve the transfer function on the AWS Lambda Invoke API
/// (POST /2015-03-31/functions/NAME/invocations), for aws-sdk-lambda or the AWS CLI
/// with --endpoint-url.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// The function name callers invoke.
    #[arg(long, default_value = DEFAULT_FUNCTION)]
    function_name: String,
    /// Maximum concurrent execution environments, each with its own database connection.
    #[arg(long, default_value_t = DEFAULT_ENVIRONMENTS)]
    environments: usize,
    /// Beyond that: `queue` (wait for a free environment) or `throttle` (429, as AWS).
    #[arg(long, default_value = "queue")]
    overflow: Overflow,
    /// Function timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// The memory size REPORT lines state, MB.
    #[arg(long, default_value_t = transfer::local::endpoint::DEFAULT_MEMORY_MB)]
    memory_size: u64,
    /// Start-up cost of each cold start, milliseconds (reported as Init Duration).
    #[arg(long, default_value_t = transfer::local::endpoint::DEFAULT_INIT_COST.as_millis() as u64)]
    init_cost_ms: u64,
    /// Seconds an idle environment lives before it is reclaimed (0: never).
    #[arg(long, default_value_t = transfer::local::endpoint::DEFAULT_IDLE_RECLAIM.as_secs())]
    idle_reclaim: u64,
    /// The function's reserved concurrency: below --environments (the account's
    /// concurrency), it is the limit, and throttles give its reason.
    #[arg(long)]
    reserved_concurrency: Option<usize>,
    /// OCC retry policy: `unlimited`, `none`, or `backoff:MAX[:BASE_MS[:CAP_MS]]`.
    #[arg(long, default_value = "unlimited")]
    retry_policy: RetryPolicy,
    /// PostgreSQL to use; omit it to start a throwaway local PostgreSQL.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// With a throwaway PostgreSQL: accounts to create (ids 1..=N).
    #[arg(long, default_value_t = 1000)]
    accounts: i32,
    /// With a throwaway PostgreSQL: each account's opening balance.
    #[arg(long, default_value_t = 100)]
    initial_balance: i32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    anyhow::ensure!(args.timeout > 0.0, "--timeout must be > 0 seconds, got {}", args.timeout);
    let mut _postgres = None;
    let url = match args.database_url.clone() {
        Some(url) => url,
        None => {
            let pg = LocalPostgres::start_async(PgOptions::default()).await?;
            let url = pg.url();
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            schema::create(&client, transfer::db::Dialect::Postgres).await.context("creating the schema")?;
            schema::load_accounts(&client, 1..=args.accounts, args.initial_balance)
                .await
                .context("loading accounts")?;
            eprintln!("started PostgreSQL with {} accounts: DATABASE_URL={url}", args.accounts);
            _postgres = Some(pg);
            url
        }
    };
    let db = Database::Local { url };
    let config = EndpointConfig {
        listen: args.listen,
        allow_non_loopback: false,
        function_name: args.function_name.clone(),
        environments: args.environments,
        overflow: args.overflow,
        timeout: Duration::from_secs_f64(args.timeout),
        memory_size_mb: args.memory_size,
        lifecycle: Lifecycle {
            init_cost: Duration::from_millis(args.init_cost_ms),
            idle_reclaim: (args.idle_reclaim > 0).then(|| Duration::from_secs(args.idle_reclaim)),
            reserved: args.reserved_concurrency,
        },
        added_duration: Duration::ZERO,
    };
    let policy = args.retry_policy;
    // Ctrl-C, SIGTERM (systemd, `timeout`, Kubernetes) or SIGHUP: let the calls in
    // flight finish, then stop the server and remove the throwaway PostgreSQL. Listened
    // for before the "serving" line, so a signal sent as soon as it appears is caught.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let endpoint = Endpoint::start(config, move || Function::new(db.clone(), policy))
        .await
        .with_context(|| format!("cannot serve on --listen {}", args.listen))?;
    eprintln!(
        "serving function {} on {} ({} environments, overflow {}, retry policy {policy}); Ctrl-C or SIGTERM stops",
        args.function_name,
        endpoint.url(),
        args.environments,
        args.overflow
    );
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
        _ = hangup.recv() => {}
    }
    let stats = endpoint.stats();
    endpoint.shutdown().await?;
    eprintln!("{}", serde_json::to_string(&stats)?);
    Ok(())
}

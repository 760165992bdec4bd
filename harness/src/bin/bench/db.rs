//! `harness-bench db`: the local stack end to end against pgbench, on one throwaway
//! PostgreSQL: pgbench running the function's transfer transaction (REPEATABLE READ,
//! the same three statements, prepared, retried on serialization failures with
//! `--max-tries`), then the harness driving the same transaction in-process and through
//! the local Invoke endpoint (a separate process, as `harness run` starts it), each at
//! the same number of database connections over the same accounts for the same time.
//! Transactions per second are committed transfers per second of wall time.

use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{bail, Context};
use transfer::db::{Database, Dialect};
use transfer::local::{LocalPostgres, PgOptions};
use transfer::{Function, RetryPolicy};
use workers::lean::{InvokeClient, Invoker};
use workers::{Accounts, EnginePlan, InProcessTarget, LoadModel, Op, Target, Workload};

const ACCOUNTS: i32 = 10_000;
/// Large enough that no transfer is refused for want of money during a run.
const BALANCE: i32 = 1_000_000_000;
const SECONDS: u64 = 10;

/// The transfer transaction as a pgbench script: what `transfer::run` does per attempt.
const SCRIPT: &str = r"\set payer random(1, :accounts)
\set offset random(1, :accounts - 1)
\set payee 1 + ((:payer - 1 + :offset) % :accounts)
BEGIN ISOLATION LEVEL REPEATABLE READ;
UPDATE accounts SET balance = balance - 1 WHERE id = :payer RETURNING balance \gset
\if :balance < 0
ROLLBACK;
\else
UPDATE accounts SET balance = balance + 1 WHERE id = :payee;
INSERT INTO transactions (payer_id, payee_id, amount) VALUES (:payer, :payee, 1);
COMMIT;
\endif
";

pub fn run() -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let rt = tokio::runtime::Runtime::new()?;
    let pg = LocalPostgres::start(&PgOptions::default())?;
    let url = pg.url();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        transfer::schema::create(&client, Dialect::Postgres).await?;
        transfer::schema::load_accounts(&client, 1..=ACCOUNTS, BALANCE).await?;
        anyhow::Ok(())
    })?;
    let pgbench = pgbench_path(&pg)?;
    println!(
        "The transfer transaction on one throwaway PostgreSQL ({ACCOUNTS} accounts, {SECONDS} s each, REPEATABLE READ, retried on conflicts)\n"
    );
    println!("{:<44} {:>11} {:>10} {:>8}", "client", "connections", "TPS", "vs pgbench");
    for connections in [16usize, 64] {
        let base = pgbench_tps(&pgbench, &url, connections)?;
        println!("{:<44} {connections:>11} {base:>10.0} {:>8}", "pgbench (-M prepared, --max-tries)", "1.00");
        let here = rt.block_on(harness_tps(&url, connections, Via::InProcess))?;
        println!("{:<44} {connections:>11} {here:>10.0} {:>8.2}", "harness, in-process target", here / base);
        for client in [InvokeClient::Sdk, InvokeClient::Lean] {
            let endpoint = EndpointProcess::start(&url, connections)?;
            let tps = rt.block_on(harness_tps(&url, connections, Via::Endpoint(endpoint.url.clone(), client)))?;
            let name = format!("harness, local Invoke endpoint ({} client)", client.name());
            println!("{name:<44} {connections:>11} {tps:>10.0} {:>8.2}", tps / base);
        }
        println!();
    }
    Ok(())
}

fn pgbench_path(pg: &LocalPostgres) -> anyhow::Result<std::path::PathBuf> {
    let path = pg.bindir().join("pgbench");
    if !path.exists() {
        bail!("pgbench is not beside the PostgreSQL binaries ({}); install postgresql", path.display());
    }
    Ok(path)
}

/// pgbench's TPS (without connection time) for the transfer script.
fn pgbench_tps(pgbench: &std::path::Path, url: &str, connections: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("transfer.sql");
    std::fs::write(&script, SCRIPT)?;
    let out = Command::new(pgbench)
        .args(["-n", "-M", "prepared", "--max-tries=1000", "-j", "2"])
        .arg(format!("-c{connections}"))
        .arg(format!("-T{SECONDS}"))
        .arg(format!("-Daccounts={ACCOUNTS}"))
        .arg("-f")
        .arg(&script)
        .arg(url)
        .output()
        .context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("pgbench failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = ")?.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no tps in pgbench's output:\n{stdout}"))
}

enum Via {
    InProcess,
    Endpoint(String, InvokeClient),
}

/// Committed transfers per second through the harness engine, `connections` calls in
/// flight (so as many database connections as execution environments).
async fn harness_tps(url: &str, connections: usize, via: Via) -> anyhow::Result<f64> {
    let plan = EnginePlan {
        load: LoadModel::Closed { in_flight: connections as u64, calls: None, duration_s: Some(SECONDS as f64) },
        workload: Workload {
            op: Op::Transfer,
            first_account: 1,
            last_account: ACCOUNTS,
            accounts: Accounts::Uniform,
            amount_min: 1,
            amount_max: 1,
        },
        seed: 7,
        call_timeout_s: 60.0,
        max_duration_s: SECONDS as f64 + 60.0,
        drain_timeout_s: 30.0,
    };
    match via {
        Via::InProcess => {
            let db = Database::Local { url: url.to_string() };
            let target = Arc::new(InProcessTarget::new(connections, db, RetryPolicy::Unlimited));
            drive(&plan, target).await
        }
        Via::Endpoint(endpoint, client) => {
            let target =
                Invoker::local(client, &endpoint, "reinvent-dat401", connections as u64).map_err(anyhow::Error::msg)?;
            drive(&plan, Arc::new(target)).await
        }
    }
}

async fn drive<T: Target>(plan: &EnginePlan, target: Arc<T>) -> anyhow::Result<f64> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (_go, halt) = tokio::sync::watch::channel(workers::Halt::Go);
    let engine = workers::engine::run(plan, target, halt, tx);
    let sum = async {
        let mut s = workers::Stats::default();
        while let Some(i) = rx.recv().await {
            s.merge(&i.stats);
        }
        s
    };
    let (end, stats) = tokio::join!(engine, sum);
    if stats.error_count() > 0 {
        for (message, n) in &stats.error_messages {
            eprintln!("  {n} x {message}");
        }
    }
    Ok(stats.successes as f64 / end.elapsed_s.max(1e-9))
}

/// The local Invoke endpoint in a process of its own (`harness-bench endpoint`), as
/// `harness run` runs it; killed when dropped.
struct EndpointProcess {
    child: std::process::Child,
    url: String,
}

impl EndpointProcess {
    fn start(db_url: &str, environments: usize) -> anyhow::Result<EndpointProcess> {
        use std::io::BufRead;
        let mut child = Command::new(std::env::current_exe()?)
            .args(["endpoint", db_url, &environments.to_string()])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("endpoint stdout")?).read_line(&mut line)?;
        let url = line.trim().strip_prefix("listening on ").context("the endpoint's first line")?.to_string();
        Ok(EndpointProcess { child, url })
    }
}

impl Drop for EndpointProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `harness-bench endpoint DB_URL ENVIRONMENTS`: serve the function until killed.
pub fn serve_endpoint(db_url: &str, environments: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let config = transfer::local::EndpointConfig { environments, ..Default::default() };
        let db = Database::Local { url: db_url.to_string() };
        let endpoint =
            transfer::local::Endpoint::start(config, move || Function::new(db.clone(), RetryPolicy::Unlimited)).await?;
        println!("listening on {}", endpoint.url());
        std::future::pending::<()>().await;
        anyhow::Ok(())
    })
}

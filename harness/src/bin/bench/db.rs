//! `harness-bench db`: the local stack end to end against pgbench, on one throwaway
//! PostgreSQL: pgbench running the function's transfer transaction (REPEATABLE READ,
//! the same three statements, retried on serialization failures with `--max-tries`),
//! once with its defaults (the simple query protocol, one thread) and once at its
//! fastest (prepared statements, as the function's, and a thread per core); then the harness
//! driving the same transaction in-process and through the local Invoke endpoint (a
//! separate process, as `harness run` starts it), each at the same number of database
//! connections over the same accounts for the same time. Both harness paths run in both
//! database modes: the function connected to the PostgreSQL itself, and (the `DSQL:`
//! rows) through the local DSQL front before the same cluster, as `harness run` does with
//! `[local] database = "dsql"`: TLS, an IAM token per connection (as `admin`), optimistic
//! concurrency with conflicts at COMMIT, and the transaction's plain `BEGIN` (the front
//! runs it at REPEATABLE READ). Transactions per second are committed transfers per
//! second of wall time; the ratios are against each pgbench.

use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{bail, Context};
use transfer::db::{Database, Dialect};
use transfer::local::dsql::{Access, DsqlFront, FrontConfig};
use transfer::local::{LocalPostgres, PgOptions};
use transfer::{Function, RetryPolicy};
use workers::invoker::{InvokeClient, Invoker};
use workers::{Accounts, EnginePlan, InProcessTarget, LoadModel, Target, Workload};

use crate::{exit_when_stdin_closes, Owned};

const ACCOUNTS: i32 = 10_000;
/// Large enough that no transfer is refused for want of money during a run.
const BALANCE: i32 = 1_000_000_000;
const SECONDS: u64 = 10;
/// Samples of each client, taken in alternation so that drift hits every client alike.
const SAMPLES: usize = 3;

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
    // Declared after the cluster, so dropped before it.
    let front = rt.block_on(Front::start(&pg))?;
    let bench = Bench { pgbench: PgbenchTool::new(&pg)?, url, dsql: front.access.clone() };
    print_header();
    for connections in [16usize, 64] {
        let mut samples = vec![Vec::new(); PHASES.len()];
        for _ in 0..SAMPLES {
            for (phase, tps) in PHASES.iter().zip(&mut samples) {
                rt.block_on(reset(&bench.url))?;
                tps.push(phase.measure(&rt, &bench, connections)?);
            }
        }
        print_group(connections, &samples);
    }
    Ok(())
}

/// The table's width for the client's name.
const NAME_WIDTH: usize = 50;

fn print_header() {
    println!(
        "The transfer transaction on one throwaway PostgreSQL ({ACCOUNTS} accounts, REPEATABLE READ, retried on conflicts)"
    );
    println!(
        "DSQL: the function through the local DSQL front before the same PostgreSQL (TLS, IAM token as admin, OCC at COMMIT)"
    );
    println!(
        "{SAMPLES} alternating samples of {SECONDS} s per client, each from the same state (history truncated, tables vacuumed, a checkpoint); TPS as median [min-max], ratios of medians"
    );
    println!(
        "The harness holds {PER_CONNECTION} calls in flight per database connection unless the row says otherwise\n"
    );
    println!("{:<NAME_WIDTH$} {:>5} {:>20} {:>12} {:>12}", "client", "conns", "TPS", "vs defaults", "vs prepared");
}

/// The local DSQL front before the benchmark's PostgreSQL, its CA in a directory of its
/// own, and the way through it that the function is given.
struct Front {
    access: Access,
    // In this order: the front stops before its CA's directory goes.
    _front: DsqlFront,
    _dir: tempfile::TempDir,
}

impl Front {
    /// Start it (on the current runtime, which serves its sessions from then on) and
    /// check that the accounts can be read through it.
    async fn start(pg: &LocalPostgres) -> anyhow::Result<Front> {
        let dir = tempfile::Builder::new().prefix("harness-bench-dsql-").tempdir()?;
        let front = DsqlFront::start(FrontConfig::local(pg.port(), dir.path().to_path_buf()))
            .await
            .context("starting the local DSQL front")?;
        let access = Access::admin(front.addr().port(), front.ca_path().into());
        let client = access.target().connect().await.context("connecting through the local DSQL front")?;
        let accounts: i64 = client.query_one("SELECT count(*) FROM accounts", &[]).await?.get(0);
        if accounts != i64::from(ACCOUNTS) {
            bail!("the local DSQL front shows {accounts} accounts, not {ACCOUNTS}");
        }
        Ok(Front { access, _front: front, _dir: dir })
    }
}

/// What the samples reach: the PostgreSQL (directly, and through the DSQL front) and pgbench.
struct Bench {
    url: String,
    /// The function's way through the DSQL front.
    dsql: Access,
    pgbench: PgbenchTool,
}

impl Bench {
    /// How the function reaches the database in mode `db`.
    fn database(&self, db: Db) -> Database {
        match db {
            Db::Postgres => Database::Local { url: self.url.clone() },
            Db::Dsql => Database::Dsql(self.dsql.target()),
        }
    }

    /// What the endpoint process is told besides the URL: the front's access in DSQL mode.
    fn access(&self, db: Db) -> Option<&Access> {
        (db == Db::Dsql).then_some(&self.dsql)
    }
}

/// How the function reaches the database.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Db {
    /// The PostgreSQL itself, by URL.
    Postgres,
    /// Through the local DSQL front before it.
    Dsql,
}

impl Db {
    /// What a row's name starts with.
    fn prefix(self) -> &'static str {
        match self {
            Db::Postgres => "",
            Db::Dsql => "DSQL: ",
        }
    }
}

/// One group of rows: each phase's median [min-max] and its ratios to both pgbenches.
fn print_group(connections: usize, samples: &[Vec<f64>]) {
    let medians: Vec<f64> = samples.iter().map(|s| median(s)).collect();
    let (defaults, prepared) = (medians[0], medians[1]);
    for ((phase, tps), m) in PHASES.iter().zip(samples).zip(&medians) {
        let (lo, hi) = (tps.iter().copied().fold(f64::MAX, f64::min), tps.iter().copied().fold(0.0, f64::max));
        let spread = format!("{m:.0} [{lo:.0}-{hi:.0}]");
        println!(
            "{:<NAME_WIDTH$} {connections:>5} {spread:>20} {:>12.2} {:>12.2}",
            phase.name(connections),
            m / defaults,
            m / prepared
        );
    }
    println!();
}

/// What is measured, in the order of each round: both pgbench configurations first, so
/// that the ratios' references are the first two rows.
#[derive(Clone, Copy)]
enum Phase {
    Pgbench(Pgbench),
    /// The harness's in-process target, the function reaching the database so.
    InProcess(Db),
    /// Through the local endpoint with this client, so many calls per environment.
    Endpoint(Db, InvokeClient, usize),
}

/// Calls the harness keeps in flight per database connection (execution environment):
/// two, so that an environment that finishes a call finds the next one waiting, as a
/// pgbench connection has its next transaction at hand; with one, each connection idles
/// while the answer travels back to the harness and the next call comes (the last row).
const PER_CONNECTION: usize = 2;

/// The DSQL rows last: the in-process target, and the endpoint as `harness run` drives
/// it (the lean client, two calls per environment).
const PHASES: [Phase; 8] = [
    Phase::Pgbench(Pgbench::Defaults),
    Phase::Pgbench(Pgbench::Prepared),
    Phase::InProcess(Db::Postgres),
    Phase::Endpoint(Db::Postgres, InvokeClient::Sdk, PER_CONNECTION),
    Phase::Endpoint(Db::Postgres, InvokeClient::Lean, PER_CONNECTION),
    Phase::Endpoint(Db::Postgres, InvokeClient::Lean, 1),
    Phase::InProcess(Db::Dsql),
    Phase::Endpoint(Db::Dsql, InvokeClient::Lean, PER_CONNECTION),
];

impl Phase {
    fn name(&self, connections: usize) -> String {
        match self {
            Phase::Pgbench(Pgbench::Defaults) => "pgbench (defaults: simple protocol, 1 thread)".into(),
            Phase::Pgbench(Pgbench::Prepared) => format!("pgbench (-M prepared, -j {})", threads(connections)),
            Phase::InProcess(db) => format!("{}harness, in-process target", db.prefix()),
            Phase::Endpoint(db, client, PER_CONNECTION) => {
                format!("{}harness, local Invoke endpoint ({} client)", db.prefix(), client.name())
            }
            Phase::Endpoint(db, client, n) => {
                format!("  {}the same, {n} call per environment ({})", db.prefix(), client.name())
            }
        }
    }

    /// One sample: committed transfers per second.
    fn measure(&self, rt: &tokio::runtime::Runtime, bench: &Bench, connections: usize) -> anyhow::Result<f64> {
        match *self {
            Phase::Pgbench(how) => pgbench_tps(&bench.pgbench, &bench.url, connections, how),
            Phase::InProcess(db) => {
                let via = Via::InProcess(bench.database(db));
                rt.block_on(harness_tps(connections, PER_CONNECTION, via))
            }
            Phase::Endpoint(db, client, per_connection) => {
                let endpoint = EndpointProcess::start(&bench.url, bench.access(db), connections)?;
                let via = Via::Endpoint(endpoint.url.clone(), client);
                rt.block_on(harness_tps(connections, per_connection, via))
            }
        }
    }
}

/// A pgbench thread per core (pgbench wants no more threads than connections).
fn threads(connections: usize) -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(connections)
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// The same starting point for every sample, as pgbench gives its own tables: the
/// history emptied (its indexes grow with every transfer), the accounts vacuumed (every
/// transfer leaves two dead row versions), and a checkpoint, so none falls inside a sample.
async fn reset(url: &str) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let conn = tokio::spawn(conn);
    client.batch_execute("TRUNCATE transactions").await?;
    client.batch_execute("VACUUM ANALYZE accounts").await?;
    client.batch_execute("VACUUM ANALYZE transactions").await?;
    client.batch_execute("CHECKPOINT").await?;
    drop(client);
    let _ = conn.await;
    Ok(())
}

/// pgbench beside the PostgreSQL binaries, and the transfer script written once.
struct PgbenchTool {
    program: std::path::PathBuf,
    script: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl PgbenchTool {
    fn new(pg: &LocalPostgres) -> anyhow::Result<PgbenchTool> {
        let program = pg.bindir().join("pgbench");
        if !program.exists() {
            bail!("pgbench is not beside the PostgreSQL binaries ({}); install postgresql", program.display());
        }
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("transfer.sql");
        std::fs::write(&script, SCRIPT)?;
        Ok(PgbenchTool { program, script, _dir: dir })
    }
}

/// How pgbench runs the script.
#[derive(Clone, Copy)]
enum Pgbench {
    /// pgbench's defaults: the simple query protocol (every statement parsed and planned
    /// anew) and one thread for all connections; the configuration the targets were
    /// first measured against.
    Defaults,
    /// Its fastest: prepared statements (as the function's) and a thread per core.
    Prepared,
}

/// pgbench's TPS (without connection time) for the transfer script.
fn pgbench_tps(pgbench: &PgbenchTool, url: &str, connections: usize, how: Pgbench) -> anyhow::Result<f64> {
    let mut cmd = Command::new(&pgbench.program);
    cmd.args(["-n", "--max-tries=1000"]);
    if let Pgbench::Prepared = how {
        cmd.args(["-M", "prepared", "-j", &threads(connections).to_string()]);
    }
    let out = cmd
        .arg(format!("-c{connections}"))
        .arg(format!("-T{SECONDS}"))
        .arg(format!("-Daccounts={ACCOUNTS}"))
        .arg("-f")
        .arg(&pgbench.script)
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
    /// The in-process target, its function on this database.
    InProcess(Database),
    Endpoint(String, InvokeClient),
}

/// Committed transfers per second through the harness engine: `connections` database
/// connections (execution environments), `per_connection` calls in flight for each.
async fn harness_tps(connections: usize, per_connection: usize, via: Via) -> anyhow::Result<f64> {
    let plan = EnginePlan {
        load: LoadModel::Closed {
            in_flight: (connections * per_connection) as u64,
            calls: None,
            duration_s: Some(SECONDS as f64),
        },
        workload: Workload::transfer(1, ACCOUNTS, Accounts::Uniform, 1, 1),
        seed: 7,
        response: Default::default(),
        kinds: Vec::new(),
        call_timeout_s: 60.0,
        max_duration_s: SECONDS as f64 + 60.0,
        drain_timeout_s: 30.0,
    };
    match via {
        Via::InProcess(db) => {
            let target = Arc::new(InProcessTarget::new(connections, db, RetryPolicy::Unlimited));
            drive(&plan, target).await
        }
        Via::Endpoint(endpoint, client) => {
            let target = Invoker::local(client, &endpoint, "reinvent-dat401", connections as u64)?;
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
        for (class, message, n) in stats.error_messages.iter() {
            eprintln!("  {n} x {}: {message}", class.name());
        }
    }
    Ok(stats.successes as f64 / end.elapsed_s.max(1e-9))
}

/// The local Invoke endpoint in a process of its own (`harness-bench endpoint`), as
/// `harness run` runs it; gone when dropped or when the benchmark is.
struct EndpointProcess {
    _child: Owned,
    url: String,
}

impl EndpointProcess {
    /// Its function on `db_url`, or through the DSQL front with `dsql`.
    fn start(db_url: &str, dsql: Option<&Access>, environments: usize) -> anyhow::Result<EndpointProcess> {
        use std::io::BufRead;
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["endpoint", db_url, &environments.to_string()]);
        if let Some(access) = dsql {
            command.arg(serde_json::to_string(access)?);
        }
        let mut child = Owned::spawn(command.stdout(Stdio::piped()))?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout().context("endpoint stdout")?).read_line(&mut line)?;
        let url = line.trim().strip_prefix("listening on ").context("the endpoint's first line")?.to_string();
        Ok(EndpointProcess { _child: child, url })
    }
}

/// `harness-bench endpoint DB_URL ENVIRONMENTS [ACCESS]`: serve the function until stdin
/// closes; with ACCESS (an `Access` as JSON), the function goes through that DSQL front.
pub fn serve_endpoint(db_url: &str, environments: usize, dsql: Option<&str>) -> anyhow::Result<()> {
    exit_when_stdin_closes();
    let dsql: Option<Access> = dsql.map(serde_json::from_str).transpose().context("the DSQL access (JSON)")?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let config = transfer::local::EndpointConfig { environments, ..Default::default() };
        let db = match dsql {
            Some(access) => Database::Dsql(access.target()),
            None => Database::Local { url: db_url.to_string() },
        };
        let endpoint =
            transfer::local::Endpoint::start(config, move || Function::new(db.clone(), RetryPolicy::Unlimited)).await?;
        println!("listening on {}", endpoint.url());
        std::future::pending::<()>().await;
        anyhow::Ok(())
    })
}

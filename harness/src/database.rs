//! Set-up and verification of the accounts database (`harness setup`, `harness verify`,
//! and the same steps inside `harness run`).

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};
use transfer::db::{redact, Dialect, DsqlTarget};
use transfer::schema::{self, LOAD_BATCH};
use workers::Op;

pub use crate::invariants::verification::Verification;
use crate::invariants::{builtin, judge, measure_all, Invariant, Number, RunContext, Values};
use crate::scenario::{DataPlan, DataSpec, LoadSpec, Plan, SqlFile};

/// Connections used to load accounts in parallel.
pub const LOAD_CONNECTIONS: usize = 4;
/// Rows each loader takes at a time (split into `LOAD_BATCH`-row transactions).
const CHUNK: i32 = 10 * LOAD_BATCH;

/// The database to set up or check: a PostgreSQL URL, or a DSQL cluster reached with
/// an IAM token (the admin token for `admin`).
#[derive(Debug, Clone)]
pub enum DbTarget {
    Url(String),
    Dsql(DsqlTarget),
}

/// New connections are opened at most this often: DSQL allows 100 per second.
const CONNECT_SPACING: std::time::Duration = std::time::Duration::from_millis(20);

impl DbTarget {
    pub async fn connect(&self) -> anyhow::Result<Client> {
        match self {
            DbTarget::Url(url) => connect(url).await,
            DbTarget::Dsql(target) => target.connect().await.map_err(|e| anyhow::anyhow!("{e}")),
        }
    }

    /// A new connection, tried again for up to `patience` (the server may be restarting).
    pub async fn reconnect(&self, patience: std::time::Duration) -> anyhow::Result<Client> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.connect().await {
                Ok(client) => return Ok(client),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(e.context(format!("the database did not come back within {} s", patience.as_secs())))
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
            }
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            DbTarget::Url(_) => Dialect::Postgres,
            DbTarget::Dsql(_) => Dialect::Dsql,
        }
    }

    /// A DSQL cluster at `endpoint` (`HOST` or `HOST:PORT`) as `user`, its tokens signed
    /// with `sdk`'s credentials for `region`; the CA in `PGSSLROOTCERT` (as libpq reads
    /// it: a local DSQL front's) trusted besides the public ones.
    pub fn dsql(endpoint: &str, region: String, user: String, sdk: aws_config::SdkConfig) -> anyhow::Result<DbTarget> {
        let (host, port) = transfer::db::dsql::host_port(endpoint).map_err(anyhow::Error::msg)?;
        let target = DsqlTarget::new(host, region, user).with_port(port);
        let target = match std::env::var_os("PGSSLROOTCERT").filter(|v| !v.is_empty()) {
            Some(ca) => target.with_ca(ca.into()),
            None => target,
        };
        Ok(DbTarget::Dsql(target.with_sdk_config(sdk)))
    }
}

pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, conn) =
        tokio_postgres::connect(url, NoTls).await.with_context(|| format!("cannot connect to {}", redact(url)))?;
    tokio::spawn(conn);
    Ok(client)
}

/// What set-up creates: the built-in accounts, or the scenario's own schema and rows.
#[derive(Debug, Clone)]
pub struct DataSetup {
    pub spec: DataSpec,
    pub custom: DataPlan,
}

impl From<DataSpec> for DataSetup {
    fn from(spec: DataSpec) -> DataSetup {
        DataSetup { spec, custom: DataPlan::default() }
    }
}

impl DataSetup {
    /// The data a plan sets up.
    pub fn of(plan: &Plan) -> DataSetup {
        DataSetup { spec: plan.data, custom: plan.data_setup.clone() }
    }
}

/// Set up the data, with a progress bar on stderr when `show_progress`; safe to re-run.
/// The built-in accounts: create the schema and load the missing accounts (`reset` also
/// restores every balance and clears the history). The scenario's own: its setup
/// statements, its reset statements when `reset`, then its loads.
pub async fn setup(db: &DbTarget, data: &DataSetup, reset: bool, show_progress: bool) -> anyhow::Result<()> {
    let custom = &data.custom;
    if !custom.is_custom() {
        return setup_accounts(db, data.spec, reset, show_progress).await;
    }
    let client = db.connect().await?;
    if let Some(file) = &custom.setup {
        run_statements(&client, file).await?;
    }
    if reset {
        let file = custom.reset.as_ref().context(
            "the data cannot be reset: the scenario's [data] has its own setup but no reset file (data.reset)",
        )?;
        run_statements(&client, file).await?;
    }
    for (n, load) in custom.loads.iter().enumerate() {
        load_rows(db, load, &format!("data.load {}", n + 1), show_progress).await?;
    }
    Ok(())
}

/// The built-in accounts: the schema, and the missing accounts.
async fn setup_accounts(db: &DbTarget, data: DataSpec, reset: bool, show_progress: bool) -> anyhow::Result<()> {
    let client = db.connect().await?;
    schema::create(&client, db.dialect()).await.context("creating the schema")?;
    let present: i64 =
        client.query_one("SELECT count(*) FROM accounts WHERE id BETWEEN 1 AND $1", &[&data.accounts]).await?.get(0);
    if present < data.accounts as i64 {
        load(db, data, present, show_progress).await?;
    }
    if reset {
        schema::reset(&client, db.dialect(), data.accounts, data.initial_balance).await.context("resetting")?;
    }
    Ok(())
}

/// Each statement of `file` in order, each its own transaction (DSQL allows one DDL
/// statement per transaction, and no DDL mixed with DML). A `CREATE INDEX ASYNC`
/// answers with a job, which is waited for.
async fn run_statements(client: &Client, file: &SqlFile) -> anyhow::Result<()> {
    for (n, statement) in file.statements.iter().enumerate() {
        run_statement(client, statement).await.map_err(|e| {
            let start: String = statement.chars().take(60).collect();
            anyhow::anyhow!(
                "{}: statement {} ({start}...): {}",
                file.path,
                n + 1,
                transfer::error::describe_db_error(&e)
            )
        })?;
    }
    Ok(())
}

async fn run_statement(client: &Client, statement: &str) -> Result<(), tokio_postgres::Error> {
    let job = client.simple_query(statement).await?.into_iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) if row.columns().iter().any(|c| c.name() == "job_id") => {
            row.get("job_id").map(str::to_string)
        }
        _ => None,
    });
    if let Some(job) = job.filter(|_| statement.to_ascii_uppercase().contains(" ASYNC ")) {
        client.batch_execute(&schema::wait_statements(&job).0).await?;
    }
    Ok(())
}

fn progress(len: u64, what: &str, show: bool) -> ProgressBar {
    let bar = if show { ProgressBar::new(len) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"))
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

async fn load(db: &DbTarget, data: DataSpec, present: i64, show_progress: bool) -> anyhow::Result<()> {
    let bar = progress(data.accounts as u64, "loading accounts", show_progress);
    bar.set_position(present as u64);
    let next = Arc::new(AtomicI32::new(1));
    let loaders = (0..LOAD_CONNECTIONS).map(|i| {
        let (next, bar) = (next.clone(), bar.clone());
        async move {
            tokio::time::sleep(CONNECT_SPACING * i as u32).await;
            let client = db.connect().await?;
            loop {
                let first = next.fetch_add(CHUNK, Ordering::Relaxed);
                if first > data.accounts || first < 1 {
                    return anyhow::Ok(());
                }
                let last = first.saturating_add(CHUNK - 1).min(data.accounts);
                let inserted = schema::load_accounts(&client, first..=last, data.initial_balance)
                    .await
                    .with_context(|| format!("inserting accounts {first}..={last}"))?;
                bar.inc(inserted);
            }
        }
    });
    futures::future::try_join_all(loaders).await?;
    bar.finish_and_clear();
    Ok(())
}

/// A `[[data.load]]`: its statement over `1..=rows`, one transaction per batch, from
/// `LOAD_CONNECTIONS` connections opened `CONNECT_SPACING` apart.
async fn load_rows(db: &DbTarget, load: &LoadSpec, what: &str, show_progress: bool) -> anyhow::Result<()> {
    let bar = progress(load.rows as u64, &format!("loading {what}"), show_progress);
    let next = Arc::new(AtomicI64::new(1));
    let loaders = (0..LOAD_CONNECTIONS).map(|i| {
        let (next, bar) = (next.clone(), bar.clone());
        async move {
            tokio::time::sleep(CONNECT_SPACING * i as u32).await;
            let client = db.connect().await?;
            let statement = client
                .prepare(&load.sql)
                .await
                .map_err(|e| anyhow::anyhow!("{what}: {}", transfer::error::describe_db_error(&e)))?;
            anyhow::ensure!(
                statement.params().len() == 2,
                "{what}: the statement takes {} parameters; it must take two, $1 and $2",
                statement.params().len()
            );
            loop {
                let first = next.fetch_add(load.batch, Ordering::Relaxed);
                if first > load.rows {
                    return anyhow::Ok(());
                }
                let last = (first + load.batch - 1).min(load.rows);
                let params = [bind(&statement.params()[0], first, what)?, bind(&statement.params()[1], last, what)?];
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
                client.execute(&statement, &refs).await.map_err(|e| {
                    anyhow::anyhow!("{what}: rows {first}..={last}: {}", transfer::error::describe_db_error(&e))
                })?;
                bar.inc((last - first + 1) as u64);
            }
        }
    });
    futures::future::try_join_all(loaders).await?;
    bar.finish_and_clear();
    Ok(())
}

/// A row number as the parameter's integer type.
fn bind(ty: &Type, v: i64, what: &str) -> anyhow::Result<Box<dyn ToSql + Sync + Send>> {
    let too_big = || anyhow::anyhow!("{what}: row {v} does not fit the parameter's type {ty}");
    Ok(match *ty {
        Type::INT2 => Box::new(i16::try_from(v).map_err(|_| too_big())?),
        Type::INT4 => Box::new(i32::try_from(v).map_err(|_| too_big())?),
        Type::INT8 => Box::new(v),
        _ => anyhow::bail!("{what}: $1 and $2 are row numbers, but a parameter is {ty}: write $1::int or $1::bigint"),
    })
}

/// What verification checks: the invariants, and the values their bounds use.
#[derive(Debug, Clone)]
pub struct Checks {
    pub invariants: Vec<Invariant>,
    pub values: Values,
    /// The built-in transfer's list.
    pub builtin: bool,
}

impl Checks {
    /// The scenario's `[[verify]]`; else for the built-in transfer the built-in list;
    /// else on the built-in accounts the list without its history rows (other calls
    /// write no history); else nothing.
    pub fn of_plan(plan: &Plan) -> Checks {
        let values = plan.data_setup.values(plan.data);
        let transfers = plan.engine.workload.op() == Some(Op::Transfer);
        if !plan.verify.is_empty() || (plan.data_setup.is_custom() && !transfers) {
            return Checks { invariants: plan.verify.clone(), values, builtin: false };
        }
        Checks { invariants: builtin::transfer(transfers), values, builtin: true }
    }

    /// The built-in list for the built-in accounts.
    pub fn builtin(data: DataSpec) -> Checks {
        Checks { invariants: builtin::transfer(true), values: DataPlan::default().values(data), builtin: true }
    }
}

/// How long one invariant's query may take before it is cancelled: DSQL's own limit on
/// a transaction, so no query a cluster would finish is cut, while a table locked by
/// another session or a database that stopped answering cannot hold verification forever.
pub const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Every invariant's value before the load, for their bounds' `before`.
pub async fn before(client: &Client, checks: &Checks) -> Vec<Result<Option<Number>, String>> {
    measure_all(client, &checks.invariants, &checks.values, QUERY_TIMEOUT).await.0
}

/// Run every invariant (those that need a run's counts are skipped without `run`); a
/// query that fails makes its invariant COULD NOT RUN and the verification fail.
pub async fn verify(client: &Client, checks: &Checks, run: Option<&RunContext>) -> Verification {
    verify_within(client, checks, run, QUERY_TIMEOUT).await
}

/// `verify` with each query given at most `limit`: one that takes longer is cancelled,
/// the rest are not run, and the verification could not run, saying so and after how long.
pub async fn verify_within(
    client: &Client,
    checks: &Checks,
    run: Option<&RunContext>,
    limit: std::time::Duration,
) -> Verification {
    let (measured, timed_out) = measure_all(client, &checks.invariants, &checks.values, limit).await;
    let results = (checks.invariants.iter().zip(measured).enumerate())
        .map(|(n, (i, m))| judge(i, n, m, &checks.values, run))
        .collect();
    let initial_balance = checks.values.get("initial_balance").copied().unwrap_or_default();
    let mut v = Verification::of(results, checks.builtin, run, initial_balance);
    if let Some(why) = timed_out {
        v.passed = false;
        v.could_not_run = Some(why);
    }
    v
}

/// `verify` on a connection, or a verification that says why it could not run.
pub async fn verify_connected(
    client: anyhow::Result<Client>,
    checks: &Checks,
    run: Option<&RunContext>,
) -> Verification {
    match client {
        Ok(client) => verify(&client, checks, run).await,
        Err(e) => {
            let mut v = Verification::could_not_run(format!("{e:#}"));
            let why = "the database is out of reach".to_string();
            v.invariants = (checks.invariants.iter().enumerate())
                .map(|(n, i)| judge(i, n, Err(why.clone()), &checks.values, run))
                .collect();
            v
        }
    }
}

#[cfg(test)]
mod tests;

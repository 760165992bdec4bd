//! Set-up and verification of the accounts database (`harness setup`, `harness verify`,
//! and the same steps inside `harness run`).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, NoTls};
use transfer::db::{redact, Dialect, DsqlTarget};
use transfer::schema::{self, LOAD_BATCH};

use crate::scenario::DataSpec;

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

    pub fn dialect(&self) -> Dialect {
        match self {
            DbTarget::Url(_) => Dialect::Postgres,
            DbTarget::Dsql(_) => Dialect::Dsql,
        }
    }
}

pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, conn) =
        tokio_postgres::connect(url, NoTls).await.with_context(|| format!("cannot connect to {}", redact(url)))?;
    tokio::spawn(conn);
    Ok(client)
}

/// Create the schema and load the accounts that are missing, in parallel batches,
/// with a progress bar on stderr when `show_progress`. Safe to re-run; `reset` also
/// restores every balance and clears the history.
pub async fn setup(db: &DbTarget, data: DataSpec, reset: bool, show_progress: bool) -> anyhow::Result<()> {
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

async fn load(db: &DbTarget, data: DataSpec, present: i64, show_progress: bool) -> anyhow::Result<()> {
    let bar = if show_progress { ProgressBar::new(data.accounts as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("loading accounts [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .expect("a valid template")
            .progress_chars("=> "),
    );
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

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    pub accounts: i64,
    pub expected_sum: i64,
    pub balance_sum: i64,
    pub min_balance: Option<i32>,
    pub history_rows: i64,
    /// Accounts whose balance does not match their opening balance plus history.
    pub inconsistent_accounts: i64,
    /// In a run: history rows added, and successful transfers seen by the client.
    pub history_rows_added: Option<i64>,
    pub successful_transfers: Option<i64>,
    /// In a run: calls that may or may not have committed (timeouts, abandoned, transport).
    #[serde(default)]
    pub unknown_outcomes: Option<i64>,
    /// Each failed check, in words.
    pub problems: Vec<String>,
    /// Why the checks could not run at all (the database stayed out of reach).
    #[serde(default)]
    pub could_not_run: Option<String>,
}

/// Money conservation, no negative balance, and history consistent with the balances.
pub async fn verify(client: &Client, data: DataSpec) -> anyhow::Result<Verification> {
    let totals = schema::totals(client).await.context("reading totals")?;
    let inconsistent =
        schema::inconsistent_accounts(client, data.initial_balance).await.context("checking the history")?;
    let expected_sum = totals.accounts * data.initial_balance as i64;
    let mut problems = Vec::new();
    if totals.accounts != data.accounts as i64 {
        problems.push(format!("{} accounts, expected {}", totals.accounts, data.accounts));
    }
    if totals.balance_sum != expected_sum {
        problems.push(format!(
            "sum of balances {} != {} accounts x {} = {expected_sum}: money was {}",
            totals.balance_sum,
            totals.accounts,
            data.initial_balance,
            if totals.balance_sum > expected_sum { "created" } else { "lost" }
        ));
    }
    if let Some(min) = totals.min_balance.filter(|m| *m < 0) {
        problems.push(format!("a balance is negative ({min})"));
    }
    if inconsistent > 0 {
        problems.push(format!("{inconsistent} accounts do not match their opening balance plus their history"));
    }
    Ok(Verification {
        passed: problems.is_empty(),
        accounts: totals.accounts,
        expected_sum,
        balance_sum: totals.balance_sum,
        min_balance: totals.min_balance,
        history_rows: totals.history_rows,
        inconsistent_accounts: inconsistent,
        history_rows_added: None,
        successful_transfers: None,
        unknown_outcomes: None,
        problems,
        could_not_run: None,
    })
}

impl Verification {
    /// The verification of a run whose database could not be read, and why.
    pub fn could_not_run(why: String) -> Verification {
        Verification {
            passed: false,
            accounts: 0,
            expected_sum: 0,
            balance_sum: 0,
            min_balance: None,
            history_rows: 0,
            inconsistent_accounts: 0,
            history_rows_added: None,
            successful_transfers: None,
            unknown_outcomes: None,
            problems: vec![format!("could not run: {why}")],
            could_not_run: Some(why),
        }
    }

    /// In a run: every successful transfer left exactly one history row. Calls whose
    /// outcome the client never saw (`unknown`: timed out, abandoned, transport failure)
    /// may have committed too, so up to that many more rows are consistent.
    pub fn check_run(&mut self, history_before: i64, successes: i64, unknown: i64) {
        let added = self.history_rows - history_before;
        self.history_rows_added = Some(added);
        self.successful_transfers = Some(successes);
        self.unknown_outcomes = Some(unknown);
        if added < successes || added > successes + unknown {
            let allowance =
                if unknown > 0 { format!(" (plus up to {unknown} calls of unknown outcome)") } else { String::new() };
            self.problems
                .push(format!("{added} history rows were added for {successes} successful transfers{allowance}"));
            self.passed = false;
        }
    }

    /// One line for the console.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.could_not_run {
            return format!("COULD NOT RUN: {why}");
        }
        if self.passed {
            let run = match (self.history_rows_added, self.successful_transfers, self.unknown_outcomes) {
                (Some(a), Some(s), Some(u)) if u > 0 => {
                    format!("; {a} history rows for {s} successful transfers and {u} calls of unknown outcome")
                }
                (Some(a), Some(s), _) => format!("; {a} history rows for {s} successful transfers"),
                _ => String::new(),
            };
            format!(
                "PASS (sum of balances {} = {} accounts x {}; no negative balance; history matches every balance{run})",
                self.balance_sum,
                self.accounts,
                if self.accounts > 0 { self.expected_sum / self.accounts } else { 0 }
            )
        } else {
            format!("FAIL: {}", self.problems.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verification;

    fn passed(history_rows: i64) -> Verification {
        Verification {
            passed: true,
            accounts: 10,
            expected_sum: 1000,
            balance_sum: 1000,
            min_balance: Some(0),
            history_rows,
            inconsistent_accounts: 0,
            history_rows_added: None,
            successful_transfers: None,
            unknown_outcomes: None,
            problems: vec![],
            could_not_run: None,
        }
    }

    #[test]
    fn calls_of_unknown_outcome_may_have_committed() {
        let mut v = passed(130);
        v.check_run(100, 29, 1);
        assert!(v.passed, "29 successes + 1 abandoned call that committed: {v:?}");
        let mut v = passed(131);
        v.check_run(100, 29, 1);
        assert!(!v.passed);
        assert_eq!(
            v.problems,
            ["31 history rows were added for 29 successful transfers (plus up to 1 calls of unknown outcome)"]
        );
        let mut v = passed(128);
        v.check_run(100, 29, 5);
        assert!(!v.passed, "a successful transfer without its history row is always a failure");
    }
}

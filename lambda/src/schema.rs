//! The schema and the account data, in one place for the tests and the harness:
//! `accounts (id, balance)`, `transactions` with a UUID key and the two
//! `(payer_id, created_at)` / `(payee_id, created_at)` indexes of the workshop.

use std::ops::RangeInclusive;

use tokio_postgres::{Client, Error};

use crate::db::Dialect;

/// Rows per insert transaction: well under DSQL's 3,000-row limit.
pub const LOAD_BATCH: i32 = 1_000;

/// The DDL, one statement each (DSQL allows one DDL statement per transaction).
pub fn ddl(dialect: Dialect) -> [&'static str; 4] {
    let tables = [
        "CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY, balance INT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS transactions (id UUID DEFAULT gen_random_uuid() PRIMARY KEY, \
         payer_id INT NOT NULL, payee_id INT NOT NULL, amount INT NOT NULL, \
         created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    ];
    match dialect {
        Dialect::Postgres => [
            tables[0],
            tables[1],
            "CREATE INDEX IF NOT EXISTS idx_transactions_payer ON transactions (payer_id, created_at)",
            "CREATE INDEX IF NOT EXISTS idx_transactions_payee ON transactions (payee_id, created_at)",
        ],
        Dialect::Dsql => [
            tables[0],
            tables[1],
            "CREATE INDEX ASYNC IF NOT EXISTS idx_transactions_payer ON transactions (payer_id, created_at)",
            "CREATE INDEX ASYNC IF NOT EXISTS idx_transactions_payee ON transactions (payee_id, created_at)",
        ],
    }
}

/// Why the schema could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{}", crate::error::describe_db_error(.0))]
    Db(#[from] Error),
    /// A `CREATE INDEX ASYNC` job that did not succeed.
    #[error("building {index} (DSQL job {job}) ended {status}: {details}")]
    IndexBuild { index: String, job: String, status: String, details: String },
}

/// Create the tables and indexes, one statement per transaction; safe to re-run. On
/// DSQL an index is built by an asynchronous job: wait for it, and report a failure.
pub async fn create(client: &Client, dialect: Dialect) -> Result<(), SchemaError> {
    for statement in ddl(dialect) {
        if dialect == Dialect::Dsql && statement.contains(" ASYNC ") {
            create_index_async(client, statement).await?;
        } else {
            client.batch_execute(statement).await?;
        }
    }
    Ok(())
}

/// `CREATE INDEX ASYNC` answers with a `job_id` (none when the index exists already);
/// `CALL sys.wait_for_job(id)` blocks until the job ends, and `sys.jobs` tells how.
async fn create_index_async(client: &Client, statement: &str) -> Result<(), SchemaError> {
    let index = statement.split_whitespace().find(|w| w.starts_with("idx_")).unwrap_or("index").to_string();
    let job = client.simple_query(statement).await?.into_iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get("job_id").map(str::to_string),
        _ => None,
    });
    let Some(job) = job else { return Ok(()) };
    let (wait, status) = wait_statements(&job);
    client.batch_execute(&wait).await?;
    let row = client.query_opt(status, &[&job]).await?;
    let (state, details): (String, Option<String>) = match row {
        Some(r) => (r.get(0), r.get(1)),
        None => return Ok(()),
    };
    if state.eq_ignore_ascii_case("completed") || state.eq_ignore_ascii_case("succeeded") {
        return Ok(());
    }
    Err(SchemaError::IndexBuild { index, job, status: state, details: details.unwrap_or_default() })
}

/// The statements that wait for a DSQL job and read its outcome.
pub fn wait_statements(job: &str) -> (String, &'static str) {
    let quoted = job.replace('\'', "''");
    (
        format!("CALL sys.wait_for_job('{quoted}')"),
        "SELECT status::text, details::text FROM sys.jobs WHERE job_id = $1::text",
    )
}

/// Insert the accounts in `ids` with `balance`, in batches of `LOAD_BATCH` rows, each
/// its own transaction; existing ids are left alone. Returns the rows inserted.
pub async fn load_accounts(client: &Client, ids: RangeInclusive<i32>, balance: i32) -> Result<u64, Error> {
    let insert = client
        .prepare(
            "INSERT INTO accounts (id, balance) SELECT id, $3 FROM generate_series($1::int, $2::int) AS id \
             ON CONFLICT (id) DO NOTHING",
        )
        .await?;
    let mut inserted = 0;
    for (first, last) in batches(ids) {
        inserted += client.execute(&insert, &[&first, &last, &balance]).await?;
    }
    Ok(inserted)
}

/// `ids` cut into consecutive `(first, last)` ranges of at most `LOAD_BATCH` ids.
fn batches(ids: RangeInclusive<i32>) -> impl Iterator<Item = (i32, i32)> {
    let (start, end) = (*ids.start(), *ids.end());
    (start..=end).step_by(LOAD_BATCH as usize).map(move |first| (first, first.saturating_add(LOAD_BATCH - 1).min(end)))
}

/// What the verification reads: account count, the sum and minimum of balances, and
/// the number of history rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub accounts: i64,
    pub balance_sum: i64,
    pub min_balance: Option<i32>,
    pub history_rows: i64,
}

/// Read the totals in one snapshot.
pub async fn totals(client: &Client) -> Result<Totals, Error> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM accounts), (SELECT coalesce(sum(balance), 0)::bigint FROM accounts), \
             (SELECT min(balance) FROM accounts), (SELECT count(*) FROM transactions)",
            &[],
        )
        .await?;
    Ok(Totals { accounts: row.get(0), balance_sum: row.get(1), min_balance: row.get(2), history_rows: row.get(3) })
}

/// Restore every balance in `1..=accounts` to `balance` and clear the history, in
/// batches small enough for DSQL's 3,000-row transaction limit.
pub async fn reset(client: &Client, dialect: Dialect, accounts: i32, balance: i32) -> Result<(), Error> {
    let restore =
        client.prepare("UPDATE accounts SET balance = $3 WHERE id BETWEEN $1 AND $2 AND balance <> $3").await?;
    for (first, last) in batches(1..=accounts) {
        client.execute(&restore, &[&first, &last, &balance]).await?;
    }
    match dialect {
        Dialect::Postgres => client.batch_execute("TRUNCATE transactions").await,
        Dialect::Dsql => {
            // No TRUNCATE on DSQL: delete in bounded batches.
            let delete = "DELETE FROM transactions WHERE id IN (SELECT id FROM transactions LIMIT 1000)";
            while client.execute(delete, &[]).await? > 0 {}
            Ok(())
        }
    }
}

/// Accounts whose balance differs from `initial` plus what the history says they
/// received minus what they paid. Zero when every committed transfer left its row.
pub async fn inconsistent_accounts(client: &Client, initial: i32) -> Result<i64, Error> {
    let row = client
        .query_one(
            "WITH flows AS (SELECT payer_id AS id, -amount::bigint AS delta FROM transactions \
                            UNION ALL SELECT payee_id, amount::bigint FROM transactions), \
                  net AS (SELECT id, sum(delta) AS delta FROM flows GROUP BY id) \
             SELECT count(*) FROM accounts a LEFT JOIN net n ON n.id = a.id \
             WHERE a.balance::bigint <> $1::bigint + coalesce(n.delta, 0)",
            &[&(initial as i64)],
        )
        .await?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::{batches, LOAD_BATCH};

    #[test]
    fn dsql_indexes_are_built_asynchronously_and_waited_for() {
        let ddl = super::ddl(crate::db::Dialect::Dsql);
        assert!(ddl[2].starts_with("CREATE INDEX ASYNC IF NOT EXISTS idx_transactions_payer"));
        let (wait, status) = super::wait_statements("ab12'x");
        assert_eq!(wait, "CALL sys.wait_for_job('ab12''x')");
        assert!(status.contains("FROM sys.jobs"));
        assert!(super::ddl(crate::db::Dialect::Postgres).iter().all(|s| !s.contains("ASYNC")));
    }

    #[test]
    #[allow(clippy::reversed_empty_ranges)] // an empty range on purpose
    fn batches_cover_the_range_once() {
        assert_eq!(batches(1..=2_500).collect::<Vec<_>>(), [(1, 1_000), (1_001, 2_000), (2_001, 2_500)]);
        assert_eq!(batches(5..=5).collect::<Vec<_>>(), [(5, 5)]);
        assert_eq!(batches(3..=2).count(), 0);
        let top = i32::MAX - LOAD_BATCH - 5;
        assert_eq!(batches(top..=i32::MAX).last(), Some((top + LOAD_BATCH, i32::MAX)));
    }
}

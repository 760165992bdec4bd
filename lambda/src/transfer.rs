//! The transfer transaction and its OCC retry loop.
//!
//! One transaction: debit the payer with `RETURNING balance`, refuse if the payer is
//! missing or would go negative, credit the payee, refuse if missing, record the
//! history row, commit. A refusal rolls back. A conflict rolls back and, if the
//! policy allows, runs the whole transaction again from `BEGIN`.

use tokio_postgres::Error as DbError;

use crate::db::Connection;
use crate::request::Transfer;
use crate::retry::{is_occ_conflict, RetryPolicy};
use crate::FunctionError;

pub const PAYER_NOT_FOUND: &str = "Payer account not found";
pub const PAYEE_NOT_FOUND: &str = "Payee account not found";
pub const INSUFFICIENT_BALANCE: &str = "Insufficient balance";

/// How a transfer ended, when it ended without a function error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed; the payer's new balance.
    Committed { balance: i32 },
    /// Rolled back for a business reason (one of the messages above).
    Refused { reason: &'static str },
}

/// Run the transfer under the retry policy; returns the outcome and the retries spent.
pub async fn run(conn: &Connection, t: &Transfer, policy: &RetryPolicy) -> Result<(Outcome, u32), FunctionError> {
    let mut retries = 0u32;
    loop {
        match attempt(conn, t).await {
            Ok(outcome) => return Ok((outcome, retries)),
            Err(Failed { err, at_commit: true }) if err.as_db_error().is_none() => {
                return Err(FunctionError::commit_unknown(&err, retries))
            }
            Err(Failed { err: e, .. }) if is_occ_conflict(&e) => match policy.delay_before(retries + 1) {
                Some(delay) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    retries += 1;
                }
                None => return Err(FunctionError::from_db(&e, retries)),
            },
            Err(Failed { err, .. }) => return Err(FunctionError::from_db(&err, retries)),
        }
    }
}

/// Why an attempt failed, and whether it was at COMMIT.
struct Failed {
    err: DbError,
    at_commit: bool,
}

impl From<DbError> for Failed {
    fn from(err: DbError) -> Self {
        Failed { err, at_commit: false }
    }
}

/// One attempt, from BEGIN to COMMIT or ROLLBACK.
async fn attempt(conn: &Connection, t: &Transfer) -> Result<Outcome, Failed> {
    let client = &conn.client;
    client.batch_execute(conn.dialect.begin()).await?;
    match body(conn, t).await {
        Ok(committed @ Outcome::Committed { .. }) => {
            // Without an answer from the server, the COMMIT may or may not have happened.
            client.batch_execute("COMMIT").await.map_err(|err| Failed { err, at_commit: true })?;
            Ok(committed)
        }
        Ok(refused) => {
            client.batch_execute("ROLLBACK").await?;
            Ok(refused)
        }
        Err(e) => {
            // The transaction is already aborted; a failed ROLLBACK means the
            // connection is gone, which the next invocation notices and replaces.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e.into())
        }
    }
}

async fn body(conn: &Connection, t: &Transfer) -> Result<Outcome, DbError> {
    let (client, s) = (&conn.client, &conn.statements);
    let rows = client.query(&s.debit, &[&t.amount, &t.payer_id]).await?;
    let Some(row) = rows.first() else {
        return Ok(Outcome::Refused { reason: PAYER_NOT_FOUND });
    };
    let balance: i32 = row.get(0);
    if balance < 0 {
        return Ok(Outcome::Refused { reason: INSUFFICIENT_BALANCE });
    }
    if client.execute(&s.credit, &[&t.amount, &t.payee_id]).await? == 0 {
        return Ok(Outcome::Refused { reason: PAYEE_NOT_FOUND });
    }
    client.execute(&s.history, &[&t.payer_id, &t.payee_id, &t.amount]).await?;
    Ok(Outcome::Committed { balance })
}

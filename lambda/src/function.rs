//! One execution environment of the function: a handler with its own database
//! connection, opened on the first invocation that needs it.

use std::time::Instant;

use serde_json::Value;

use crate::db::{Connection, Database};
use crate::request::Request;
use crate::response::{GreetingResponse, TransferResponse};
use crate::transfer::{self, Outcome};
use crate::{FunctionError, RetryPolicy};

/// The function as one Lambda execution environment sees it: one invocation at a time.
pub struct Function {
    db: Database,
    policy: RetryPolicy,
    conn: Option<Connection>,
}

impl Function {
    pub fn new(db: Database, policy: RetryPolicy) -> Self {
        Function { db, policy, conn: None }
    }

    /// Handle one payload: a response body, or a function error.
    pub async fn invoke(&mut self, payload: Value) -> Result<Value, FunctionError> {
        let start = Instant::now();
        match Request::from_value(payload)? {
            Request::Greeting { name } => to_json(GreetingResponse { greeting: format!("Hello {name}!") }),
            Request::Connectivity { name } => {
                let conn = self.connection().await?;
                conn.client.simple_query("SELECT 1").await.map_err(|e| FunctionError::from_db(&e, 0))?;
                let product = conn.dialect.product();
                to_json(GreetingResponse { greeting: format!("Hello {name}, connected to {product} successfully!") })
            }
            Request::Transfer(t) => {
                let policy = self.policy;
                let conn = self.connection().await?;
                let (outcome, retries) = transfer::run(conn, &t, &policy).await?;
                let elapsed = start.elapsed();
                let (balance, error) = match outcome {
                    Outcome::Committed { balance } => (Some(balance), None),
                    Outcome::Refused { reason } => (None, Some(reason.to_string())),
                };
                to_json(TransferResponse {
                    balance,
                    error,
                    duration: elapsed.as_millis() as u64,
                    duration_us: elapsed.as_micros() as u64,
                    retries,
                })
            }
        }
    }

    /// The open connection, (re)opened when missing, closed or too old.
    async fn connection(&mut self) -> Result<&Connection, FunctionError> {
        if self.conn.as_ref().is_none_or(Connection::needs_replacing) {
            self.conn = None;
            self.conn = Some(self.db.connect().await?);
        }
        Ok(self.conn.as_ref().expect("connection was just opened"))
    }
}

fn to_json<T: serde::Serialize>(v: T) -> Result<Value, FunctionError> {
    serde_json::to_value(v).map_err(|e| FunctionError::new("Runtime.SerializationError", e.to_string()))
}

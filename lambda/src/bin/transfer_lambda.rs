//! The AWS Lambda entry point. Configuration comes from the function's environment:
//! `CLUSTER_ENDPOINT`, `AWS_REGION` and `DB_USER` (default `admin`) for DSQL, or
//! `DATABASE_URL` for PostgreSQL; `RETRY_POLICY` (default `unlimited`).

use std::sync::Arc;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tokio::sync::Mutex;
use transfer::db::Database;
use transfer::{Function, RetryPolicy};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).json().init();
    let db = Database::from_env()?;
    let policy: RetryPolicy = match std::env::var("RETRY_POLICY") {
        Ok(s) if !s.is_empty() => s.parse()?,
        _ => RetryPolicy::default(),
    };
    // A Lambda instance serves one invocation at a time, so the lock is never contended;
    // it only carries the connection from one invocation to the next.
    let function = Arc::new(Mutex::new(Function::new(db, policy)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let function = function.clone();
        async move { function.lock().await.invoke(event.payload).await.map_err(Diagnostic::from) }
    }))
    .await
}

//! The local stack: a PostgreSQL (throwaway, or given by URL) with the schema and
//! accounts, and the local Lambda endpoint in front of the function. Dropping it tears
//! down what it started.

use anyhow::Context;
use tokio_postgres::NoTls;
use transfer::db::{Database, Dialect};
use transfer::local::{Endpoint, EndpointConfig, LocalPostgres, PgOptions};
use transfer::{schema, Function, RetryPolicy};

pub struct LocalStack {
    pub endpoint: Endpoint,
    pub database_url: String,
    pub db: tokio_postgres::Client,
    // Declared last: the cluster outlives the endpoint's connections.
    _postgres: Option<LocalPostgres>,
}

pub struct StackOptions {
    pub database_url: Option<String>,
    pub accounts: i32,
    pub initial_balance: i32,
    pub retry_policy: RetryPolicy,
    pub endpoint: EndpointConfig,
}

impl LocalStack {
    pub async fn start(opts: StackOptions) -> anyhow::Result<LocalStack> {
        let (postgres, url) = match opts.database_url {
            Some(url) => (None, url),
            None => {
                let pg = LocalPostgres::start_async(PgOptions::default())
                    .await
                    .context("starting a local PostgreSQL")?;
                let url = pg.url();
                (Some(pg), url)
            }
        };
        let (db, conn) = tokio_postgres::connect(&url, NoTls)
            .await
            .with_context(|| format!("connecting to {}", transfer::db::redact(&url)))?;
        tokio::spawn(conn);
        schema::create(&db, Dialect::Postgres)
            .await
            .context("creating the schema")?;
        schema::load_accounts(&db, 1..=opts.accounts, opts.initial_balance)
            .await
            .context("loading accounts")?;
        let database = Database::Local { url: url.clone() };
        let policy = opts.retry_policy;
        let endpoint = Endpoint::start(opts.endpoint, move || {
            Function::new(database.clone(), policy)
        })
        .await
        .context("starting the local Lambda endpoint")?;
        Ok(LocalStack {
            endpoint,
            database_url: url,
            db,
            _postgres: postgres,
        })
    }

    pub async fn totals(&self) -> anyhow::Result<schema::Totals> {
        schema::totals(&self.db).await.context("reading totals")
    }

    /// Stop the endpoint, then the database (if we started it).
    pub async fn stop(self) -> anyhow::Result<()> {
        let LocalStack {
            endpoint,
            db,
            _postgres,
            ..
        } = self;
        endpoint
            .shutdown()
            .await
            .context("stopping the local Lambda endpoint")?;
        drop(db);
        drop(_postgres);
        Ok(())
    }
}

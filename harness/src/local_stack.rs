//! The local stack: a PostgreSQL (throwaway, or given by URL) set up with the schema and
//! accounts, optionally fronted by the local Lambda endpoint. Stopping (or dropping) it
//! tears down what it started.

use anyhow::Context;
use transfer::db::Database;
use transfer::local::{Endpoint, EndpointConfig, LocalPostgres, PgOptions};
use transfer::{Function, RetryPolicy};

use crate::database;
use crate::scenario::DataSpec;

/// The accounts database, set up and connected.
pub struct LocalDatabase {
    pub url: String,
    pub client: tokio_postgres::Client,
    // Declared last: dropped after the client, stopping the throwaway cluster.
    _postgres: Option<LocalPostgres>,
}

impl LocalDatabase {
    /// Use `url`, or start a throwaway PostgreSQL; then create the schema and load the
    /// missing accounts (`reset` also restores balances and clears the history).
    pub async fn start(url: Option<String>, data: DataSpec, reset: bool, show_progress: bool) -> anyhow::Result<Self> {
        let (postgres, url) = match url {
            Some(url) => (None, url),
            None => {
                let pg =
                    LocalPostgres::start_async(PgOptions::default()).await.context("starting a local PostgreSQL")?;
                let url = pg.url();
                (Some(pg), url)
            }
        };
        database::setup(&url, data, reset, show_progress).await?;
        let client = database::connect(&url).await?;
        Ok(LocalDatabase { url, client, _postgres: postgres })
    }

    pub fn database(&self) -> Database {
        Database::Local { url: self.url.clone() }
    }
}

/// The database and the local Lambda endpoint in front of the function.
pub struct LocalStack {
    pub endpoint: Endpoint,
    // Declared last: the endpoint's connections close before the database stops.
    pub db: LocalDatabase,
}

impl LocalStack {
    pub async fn start(db: LocalDatabase, config: EndpointConfig, policy: RetryPolicy) -> anyhow::Result<Self> {
        let database = db.database();
        let endpoint = Endpoint::start(config, move || Function::new(database.clone(), policy))
            .await
            .context("starting the local Lambda endpoint")?;
        Ok(LocalStack { endpoint, db })
    }

    /// Stop the endpoint (letting calls in flight finish), then the database if ours.
    pub async fn stop(self) -> anyhow::Result<LocalDatabase> {
        self.endpoint.shutdown().await.context("stopping the local Lambda endpoint")?;
        Ok(self.db)
    }
}

//! Shared fixtures: a throwaway PostgreSQL with the schema and accounts loaded.

use tokio_postgres::{Client, NoTls};
use transfer::db::{Database, Dialect};
use transfer::local::{LocalPostgres, PgOptions};
use transfer::schema::{self, Totals};

pub struct TestDb {
    pub url: String,
    pub client: Client,
    // Dropped last: stops and removes the cluster.
    _pg: LocalPostgres,
}

impl TestDb {
    /// A new cluster with accounts 1..=`accounts`, each holding `balance`.
    pub async fn new(accounts: i32, balance: i32) -> TestDb {
        let pg = LocalPostgres::start_async(PgOptions::default()).await.expect("start a local PostgreSQL");
        let url = pg.url();
        let client = connect(&url).await;
        schema::create(&client, Dialect::Postgres).await.expect("create the schema");
        let loaded = schema::load_accounts(&client, 1..=accounts, balance).await.expect("load accounts");
        assert_eq!(loaded, accounts as u64);
        TestDb { url, client, _pg: pg }
    }

    pub fn database(&self) -> Database {
        Database::Local { url: self.url.clone() }
    }

    pub async fn totals(&self) -> Totals {
        schema::totals(&self.client).await.expect("read totals")
    }

    pub async fn balance(&self, id: i32) -> i32 {
        self.client.query_one("SELECT balance FROM accounts WHERE id = $1", &[&id]).await.unwrap().get(0)
    }
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect to the local PostgreSQL");
    tokio::spawn(conn);
    client
}

/// An aws-sdk-lambda client of a local endpoint: placeholder credentials, no retries.
pub fn lambda_client(url: &str) -> aws_sdk_lambda::Client {
    use aws_sdk_lambda::config::{BehaviorVersion, Region};
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new("AKIDLOCAL", "not-a-secret", None, None, "test"))
        .endpoint_url(url)
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

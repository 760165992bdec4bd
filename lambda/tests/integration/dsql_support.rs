//! A local DSQL front over its own throwaway PostgreSQL, and clients that log in to it
//! as a DSQL client does: TLS verified against the stack's CA, an IAM token as password.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_async::time::{SharedTimeSource, StaticTimeSource, SystemTimeSource};
use tokio_postgres::{Client, NoTls};
use transfer::db::DsqlTarget;
use transfer::local::dsql::{DsqlFront, FrontConfig, Limits};
use transfer::local::{LocalPostgres, PgOptions};

/// The access key whose identity is granted `myapp` in the tests.
pub const APP_KEY: &str = "AKIDLOCALAPP";
pub const APP_ARN: &str = "arn:aws:iam::000000000000:role/local-function";
pub const HOST: &str = "localhost";

pub struct Front {
    pub front: DsqlFront,
    pub pg: LocalPostgres,
    _dir: tempfile::TempDir,
}

impl Front {
    pub async fn start() -> Front {
        Front::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> Front {
        let pg = LocalPostgres::start_async(PgOptions::default()).await.expect("start a local PostgreSQL");
        let dir = tempfile::tempdir().unwrap();
        let config = FrontConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            backend_port: pg.port(),
            hosts: vec![HOST.to_string(), "127.0.0.1".to_string()],
            dir: dir.path().to_path_buf(),
            limits,
            identities: HashMap::from([(APP_KEY.to_string(), APP_ARN.to_string())]),
        };
        let front = DsqlFront::start(config).await.expect("start the DSQL front");
        Front { front, pg, _dir: dir }
    }

    pub fn port(&self) -> u16 {
        self.front.addr().port()
    }

    /// A DSQL client of this front, as `user`, signing with `key`.
    pub fn target(&self, user: &str, key: &str) -> DsqlTarget {
        DsqlTarget::new(HOST.into(), "us-east-1".into(), user.into())
            .with_port(self.port())
            .with_ca(self.front.ca_path().to_path_buf())
            .with_sdk_config(sdk(key, None))
    }

    pub async fn admin(&self) -> Client {
        self.target("admin", "AKIDLOCALADMIN").connect().await.expect("admin logs in")
    }

    /// A plain connection to the PostgreSQL behind the front (for the comparisons).
    pub async fn plain(&self) -> Client {
        let (client, conn) = tokio_postgres::connect(&self.pg.url(), NoTls).await.unwrap();
        tokio::spawn(conn);
        client
    }

    /// `t (id int primary key, v int)` with rows 1..=n holding 100.
    pub async fn table(&self, n: i32) -> Client {
        let admin = self.admin().await;
        admin.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)").await.unwrap();
        // Loaded beside the front: some tests set a row limit below `n`.
        let plain = self.plain().await;
        plain.execute("INSERT INTO t SELECT i, 100 FROM generate_series(1, $1) i", &[&n]).await.unwrap();
        admin
    }
}

/// Static credentials for `key`, signing at `at` (default: now).
pub fn sdk(key: &str, at: Option<SystemTime>) -> SdkConfig {
    let credentials = Credentials::new(key, "secret", None, None, "test");
    let time = match at {
        Some(at) => SharedTimeSource::new(StaticTimeSource::new(at)),
        None => SharedTimeSource::new(SystemTimeSource::new()),
    };
    SdkConfig::builder().credentials_provider(SharedCredentialsProvider::new(credentials)).time_source(time).build()
}

/// SQLSTATE and message of a database error.
pub fn db_error(e: &tokio_postgres::Error) -> (String, String) {
    match e.as_db_error() {
        Some(db) => (db.code().code().to_string(), db.message().to_string()),
        None => (String::new(), e.to_string()),
    }
}

/// A statement that must answer (not wait): bounded so a wait fails the test instead
/// of hanging it.
pub async fn answers<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f).await.expect("the statement waited instead of answering")
}

/// Wait until some session of the plain PostgreSQL waits on a lock (bounded).
pub async fn until_lock_wait(plain: &Client) {
    for _ in 0..2_000 {
        let waiting: i64 = plain
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'", &[])
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no session came to wait on a lock");
}

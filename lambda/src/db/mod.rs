//! The function's database connection: a local PostgreSQL by URL, or an Aurora DSQL
//! cluster with an IAM token as password over verified TLS. One connection per
//! execution environment; it is recycled before DSQL's 60-minute connection limit.

pub mod dsql;

use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, Statement};

use crate::error::{describe_db_error, FunctionError, CONNECTION_ERROR};

pub use dsql::DsqlTarget;

/// Connections older than this are closed and reopened before the next invocation
/// (DSQL ends connections at 60 minutes).
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(50 * 60);

/// Where the function's data lives.
#[derive(Debug, Clone)]
pub enum Database {
    /// A PostgreSQL URL (`postgres://user@127.0.0.1:5432/db`), no TLS.
    Local { url: String },
    /// An Aurora DSQL cluster.
    Dsql(DsqlTarget),
}

/// What differs in SQL between the two backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: transfers run at REPEATABLE READ, so concurrent writes raise 40001.
    Postgres,
    /// DSQL: snapshot isolation is the only level; `BEGIN` alone.
    Dsql,
}

impl Dialect {
    /// The statement that opens a transfer's transaction.
    pub fn begin(self) -> &'static str {
        match self {
            Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ",
            Dialect::Dsql => "BEGIN",
        }
    }

    /// How the connectivity check names the backend.
    pub fn product(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Dsql => "DSQL",
        }
    }
}

/// The function's environment names no database it can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `CLUSTER_ENDPOINT` without a region to sign the DSQL token for.
    #[error("{ENV_CLUSTER_ENDPOINT} is set but AWS_REGION is not: set the cluster's region")]
    NoRegion,
    #[error(
        "no database configured: set {ENV_DATABASE_URL} (local PostgreSQL) or {ENV_CLUSTER_ENDPOINT} and AWS_REGION (Aurora DSQL)"
    )]
    NoDatabase,
}

/// The environment variables the function reads.
pub const ENV_DATABASE_URL: &str = "DATABASE_URL";
pub const ENV_CLUSTER_ENDPOINT: &str = "CLUSTER_ENDPOINT";
pub const ENV_DB_USER: &str = "DB_USER";

impl Database {
    /// `DATABASE_URL` selects a local PostgreSQL; otherwise `CLUSTER_ENDPOINT` (with
    /// `AWS_REGION` and `DB_USER`, default `admin`) selects DSQL.
    pub fn from_env() -> Result<Database, ConfigError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(url) = var(ENV_DATABASE_URL) {
            return Ok(Database::Local { url });
        }
        if let Some(endpoint) = var(ENV_CLUSTER_ENDPOINT) {
            let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).ok_or(ConfigError::NoRegion)?;
            let user = var(ENV_DB_USER).unwrap_or_else(|| "admin".to_string());
            let target = DsqlTarget::new(endpoint, region, user);
            // A CA to trust besides the public ones, as libpq reads it (the local DSQL front's).
            let target = match var("PGSSLROOTCERT") {
                Some(ca) => target.with_ca(ca.into()),
                None => target,
            };
            return Ok(Database::Dsql(target));
        }
        Err(ConfigError::NoDatabase)
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Database::Local { .. } => Dialect::Postgres,
            Database::Dsql(_) => Dialect::Dsql,
        }
    }

    /// Open a new connection and prepare the transfer's statements.
    pub async fn connect(&self) -> Result<Connection, FunctionError> {
        let client = match self {
            Database::Local { url } => {
                let (client, conn) =
                    tokio_postgres::connect(url, NoTls).await.map_err(|e| connect_error(&redact(url), &e))?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("database connection ended: {e}");
                    }
                });
                client
            }
            Database::Dsql(target) => target.connect().await?,
        };
        Connection::new(client, self.dialect()).await
    }
}

fn connect_error(place: &str, e: &tokio_postgres::Error) -> FunctionError {
    FunctionError::new(CONNECTION_ERROR, format!("cannot connect to {place}: {}", describe_db_error(e)))
}

/// Ask the server to cancel what `client`'s connection is running (a plain cancel
/// request, which a connection over TLS does not take), for at most 5 s; then run a
/// statement or two of its own, so that a cancel arriving after the statement it meant
/// has ended lands on those and not on the connection's next real one. `Err` says why
/// no cancel was made.
pub async fn cancel_running(client: &Client) -> Result<(), String> {
    let token = client.cancel_token();
    match tokio::time::timeout(Duration::from_secs(5), token.cancel_query(NoTls)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("no cancel request: {e}")),
        Err(_) => return Err("the cancel request got no answer".into()),
    }
    for _ in 0..2 {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), client.simple_query("SELECT 1")).await {
            break;
        }
    }
    Ok(())
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The statements of a transfer, prepared once per connection.
pub struct Statements {
    pub debit: Statement,
    pub credit: Statement,
    pub history: Statement,
}

/// One open connection with its prepared statements.
pub struct Connection {
    pub client: Client,
    pub statements: Statements,
    pub dialect: Dialect,
    opened: Instant,
}

impl Connection {
    async fn new(client: Client, dialect: Dialect) -> Result<Connection, FunctionError> {
        let prep = |sql: &'static str| {
            let client = &client;
            async move { client.prepare(sql).await.map_err(|e| FunctionError::from_db(&e, 0)) }
        };
        let statements = Statements {
            debit: prep("UPDATE accounts SET balance = balance - $1 WHERE id = $2 RETURNING balance").await?,
            credit: prep("UPDATE accounts SET balance = balance + $1 WHERE id = $2").await?,
            history: prep("INSERT INTO transactions (payer_id, payee_id, amount) VALUES ($1, $2, $3)").await?,
        };
        Ok(Connection { client, statements, dialect, opened: Instant::now() })
    }

    /// Closed by the server, or too old to keep.
    pub fn needs_replacing(&self) -> bool {
        self.client.is_closed() || self.opened.elapsed() >= MAX_CONNECTION_AGE
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(redact("postgres://u:secret@h:5432/d"), "postgres://u:***@h:5432/d");
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact("host=h user=u"), "host=h user=u");
    }
}

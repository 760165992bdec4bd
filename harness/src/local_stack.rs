//! The local stack: a PostgreSQL (throwaway, or given by URL) set up with the schema and
//! accounts, optionally fronted by the local Lambda endpoint. Stopping (or dropping) it
//! tears down what it started.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;
use transfer::db::Database;
use transfer::local::{EndpointConfig, EnvironmentStats, LocalPostgres, PgOptions};
use transfer::RetryPolicy;
use workers::Halt;

use crate::database;
use crate::scenario::DataSpec;

/// The accounts database, set up and connected.
pub struct LocalDatabase {
    pub url: String,
    pub client: tokio_postgres::Client,
    /// The server process of `client`: the harness's own session, which the server-side
    /// view does not wait for.
    pub client_pid: i32,
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
                for (root, why) in pg.removed_stale() {
                    eprintln!("removed a stale throwaway PostgreSQL at {} ({why})", root.display());
                }
                let url = pg.url();
                (Some(pg), url)
            }
        };
        database::setup(&database::DbTarget::Url(url.clone()), data, reset, show_progress).await?;
        let client = database::connect(&url).await?;
        let client_pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        Ok(LocalDatabase { url, client, client_pid, _postgres: postgres })
    }

    /// The throwaway PostgreSQL's server log (none for a database given by URL).
    pub fn server_log(&self) -> Option<std::path::PathBuf> {
        self._postgres.as_ref().map(|pg| pg.root().join("server.log"))
    }

    pub fn database(&self) -> Database {
        Database::Local { url: self.url.clone() }
    }

    /// A new connection, tried again for up to `patience` (the server may be restarting).
    pub async fn reconnect(&self, patience: Duration) -> anyhow::Result<tokio_postgres::Client> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match database::connect(&self.url).await {
                Ok(client) => return Ok(client),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(e.context(format!("the database did not come back within {} s", patience.as_secs())))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

/// The database and the local Lambda endpoint in front of the function. The endpoint
/// runs in a process of its own (this executable, `local-lambda-child`), so that its
/// sockets, CPU and memory are not the harness's: each call in flight holds a socket on
/// both sides, and 10,000 of them would not fit one process's open-file limit.
pub struct LocalStack {
    url: String,
    child: Child,
    // Closing it tells the endpoint to stop (and it stops if we die).
    stdin: Option<ChildStdin>,
    // Declared last: the endpoint's connections close before the database stops.
    pub db: LocalDatabase,
}

/// This executable as a child that lives only as long as the harness: in its own
/// process group (signals for the harness's group, from Ctrl-C at the terminal,
/// `timeout` or systemd, are the harness's to act on), with piped stdin that it watches
/// and exits on closing (which the kernel does if the harness dies, even by SIGKILL),
/// piped stdout for its `listening on` line, and killed when dropped.
pub fn owned_child() -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("finding the harness executable")?;
    let mut command = Command::new(exe);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).process_group(0).kill_on_drop(true);
    Ok(command)
}

/// The first line the endpoint and worker processes print, before the address.
pub const READY: &str = "listening on ";

/// What a child process that prints `listening on ADDR` first is listening on.
pub async fn announced(child: &mut Child, what: &str) -> anyhow::Result<String> {
    let stdout = child.stdout.take().context("the child's stdout is not piped")?;
    let line = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).lines().next_line())
        .await
        .with_context(|| format!("{what} did not start within 30 s"))??
        .with_context(|| format!("{what} exited before it was ready"))?;
    Ok(line.strip_prefix(READY).with_context(|| format!("unexpected first line from {what}: {line}"))?.to_string())
}

/// What the endpoint process runs: handed to it whole, as JSON in `--config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildConfig {
    pub database_url: String,
    pub endpoint: EndpointConfig,
    pub retry_policy: RetryPolicy,
}

impl LocalStack {
    pub async fn start(db: LocalDatabase, endpoint: EndpointConfig, retry_policy: RetryPolicy) -> anyhow::Result<Self> {
        let config = ChildConfig { database_url: db.url.clone(), endpoint, retry_policy };
        let mut child = owned_child()?
            .args(["local-lambda-child", "--config", &serde_json::to_string(&config)?])
            .spawn()
            .context("starting the local Lambda endpoint process")?;
        let url = announced(&mut child, "the local Lambda endpoint").await?;
        let stdin = child.stdin.take();
        Ok(LocalStack { url, child, stdin, db })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The endpoint's counters (`GET /_local/stats`).
    pub async fn stats(&self) -> anyhow::Result<EnvironmentStats> {
        let addr = self.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.context("connecting to the local endpoint")?;
        stream.write_all(format!("GET /_local/stats HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).context("no body in the stats response")?;
        serde_json::from_str(body).with_context(|| format!("the endpoint's stats are not JSON: {body}"))
    }

    /// Stop the endpoint (it lets calls in flight finish), then hand back the database.
    pub async fn stop(self) -> anyhow::Result<LocalDatabase> {
        let (_keep, never) = watch::channel(Halt::Go);
        let (db, stopped) = self.stop_unless(never).await;
        stopped.map(|()| db)
    }

    /// Stop the endpoint, letting calls in flight finish unless `halt` turns `Now` (then
    /// it is killed); the database comes back either way, with how the endpoint ended.
    pub async fn stop_unless(mut self, mut halt: watch::Receiver<Halt>) -> (LocalDatabase, anyhow::Result<()>) {
        drop(self.stdin.take());
        let now = async {
            if halt.wait_for(|h| *h == Halt::Now).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let ended = tokio::select! {
            status = tokio::time::timeout(Duration::from_secs(60), self.child.wait()) => match status {
                Ok(Ok(status)) if status.success() => Ok(()),
                Ok(Ok(status)) => Err(anyhow::anyhow!("the local Lambda endpoint exited with {status}")),
                Ok(Err(e)) => Err(anyhow::anyhow!("waiting for the local Lambda endpoint: {e}")),
                Err(_) => Err(anyhow::anyhow!("the local Lambda endpoint did not stop within 60 s; killed it")),
            },
            () = now => Ok(()),
        };
        let _ = self.child.kill().await;
        (self.db, ended)
    }
}

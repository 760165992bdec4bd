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
use transfer::db::{Database, Dialect};
use transfer::local::dsql::{Access, DsqlFront, FrontConfig};
use transfer::local::runtime::ProcessSpec;
use transfer::local::{EndpointConfig, EnvironmentStats, LocalPostgres, PgOptions};
use transfer::RetryPolicy;
use workers::Halt;

use crate::database;
use crate::hosted::{process_spec, Reach};
use crate::scenario::HostedFunction;
pub use crate::scenario::LocalDb;

/// The role the function logs in as on the local DSQL front (the workshop's chapter 2).
pub const FUNCTION_ROLE: &str = "myapp";

/// The accounts database, set up and connected.
pub struct LocalDatabase {
    /// The PostgreSQL's own URL (behind the front, in DSQL mode).
    pub url: String,
    /// How the harness connects: through the front as `admin`, or to `url`.
    pub target: database::DbTarget,
    pub client: tokio_postgres::Client,
    /// The server process of `client`: the harness's own session, which the server-side
    /// view does not wait for.
    pub client_pid: i32,
    /// The DSQL front (DSQL mode), dropped before the cluster.
    pub front: Option<DsqlFront>,
    _front_dir: Option<tempfile::TempDir>,
    // Declared last: dropped after the client, stopping the throwaway cluster.
    _postgres: Option<LocalPostgres>,
}

impl LocalDatabase {
    /// Use `url`, or start a throwaway PostgreSQL; in DSQL mode start the front before
    /// it; then create the schema and load the missing accounts (`reset` also restores
    /// balances and clears the history), and in DSQL mode the function's role.
    pub async fn start(
        url: Option<String>,
        data: impl Into<database::DataSetup>,
        reset: bool,
        show_progress: bool,
        mode: LocalDb,
    ) -> anyhow::Result<Self> {
        LocalDatabase::start_on(url, data, reset, show_progress, (mode, None)).await
    }

    /// `start`, with the DSQL front on `port` of a loopback address of its own when
    /// given (functions that hard-code DSQL's port 5432 find it there).
    pub async fn start_on(
        url: Option<String>,
        data: impl Into<database::DataSetup>,
        reset: bool,
        show_progress: bool,
        (mode, front_port): (LocalDb, Option<u16>),
    ) -> anyhow::Result<Self> {
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
        let (front, front_dir, target) = match mode {
            LocalDb::Postgres => (None, None, database::DbTarget::Url(url.clone())),
            LocalDb::Dsql => {
                let (front, dir) = start_front(&url, postgres.as_ref().map(|pg| pg.root()), front_port).await?;
                let admin = Access::admin(front.addr().port(), front.ca_path().into());
                let target = database::DbTarget::Dsql(Access { host: front.addr().ip().to_string(), ..admin }.target());
                (Some(front), Some(dir), target)
            }
        };
        database::setup(&target, &data.into(), reset, show_progress).await?;
        let client = target.connect().await?;
        if mode == LocalDb::Dsql {
            crate::roles::setup(&client, Dialect::Dsql, FUNCTION_ROLE, transfer::local::dsql::access::FUNCTION_ARN)
                .await
                .context("creating the function's role on the local DSQL")?;
        }
        let client_pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        Ok(LocalDatabase { url, target, client, client_pid, front, _front_dir: front_dir, _postgres: postgres })
    }

    /// The server processes of the harness's own sessions (and the front's), which the
    /// server-side view does not wait for.
    pub fn own_pids(&self) -> Vec<i32> {
        let mut pids = vec![self.client_pid];
        pids.extend(self.front.as_ref().map(|f| f.admin_pid()));
        pids
    }

    /// Where the server-side view counts OCC conflicts.
    pub fn conflict_source<'a>(&self, log: Option<&'a std::path::Path>) -> crate::server::local::ConflictSource<'a> {
        match &self.front {
            Some(f) => crate::server::local::ConflictSource::Front(f.oc000() + f.oc001()),
            None => crate::server::local::ConflictSource::Log(log),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.target.dialect()
    }

    /// How the function (as `role`) reaches the database.
    pub fn function_database(&self, role: &str) -> Database {
        match self.function_access(role) {
            Some(access) => Database::Dsql(access.target()),
            None => Database::Local { url: self.url.clone() },
        }
    }

    /// The function's way through the front, in DSQL mode.
    pub fn function_access(&self, role: &str) -> Option<Access> {
        self.front.as_ref().map(|f| Access {
            host: f.addr().ip().to_string(),
            ..Access::function(f.addr().port(), f.ca_path().into(), role)
        })
    }

    /// The throwaway PostgreSQL's server log (none for a database given by URL).
    pub fn server_log(&self) -> Option<std::path::PathBuf> {
        self._postgres.as_ref().map(|pg| pg.root().join("server.log"))
    }

    /// How the function reaches the database, as the local stack runs it.
    pub fn database(&self) -> Database {
        self.function_database(FUNCTION_ROLE)
    }

    /// A new connection, tried again for up to `patience` (the server may be restarting).
    pub async fn reconnect(&self, patience: Duration) -> anyhow::Result<tokio_postgres::Client> {
        self.target.reconnect(patience).await
    }
}

/// A DSQL front before the PostgreSQL at `url` (which must trust its superuser on
/// loopback, as the throwaway cluster does), its CA in a directory of its own: inside
/// the throwaway cluster's (`inside`), which its watchdog removes even if we are
/// killed, or else in the temporary directory. On `port` of a loopback address of its
/// own when given, else on any port of 127.0.0.1.
async fn start_front(
    url: &str,
    inside: Option<&std::path::Path>,
    port: Option<u16>,
) -> anyhow::Result<(DsqlFront, tempfile::TempDir)> {
    let config: tokio_postgres::Config =
        url.parse().with_context(|| format!("{} is not a PostgreSQL URL", transfer::db::redact(url)))?;
    let backend = config.get_ports().first().copied().unwrap_or(5432);
    let mut dir = tempfile::Builder::new();
    dir.prefix("harness-dsql-");
    let dir = match inside {
        Some(root) => dir.tempdir_in(root),
        None => dir.tempdir(),
    }
    .context("a directory for the local DSQL CA")?;
    const HINT: &str = "starting the local DSQL front (set [local] database = \"postgres\" for plain PostgreSQL)";
    let config = FrontConfig::local(backend, dir.path().to_path_buf());
    let Some(port) = port else {
        return Ok((DsqlFront::start(config).await.context(HINT)?, dir));
    };
    let mut last = None;
    for ip in own_loopback_addresses() {
        let config = FrontConfig { listen: (ip, port).into(), hosts: vec![ip.to_string()], ..config.clone() };
        match DsqlFront::start(config).await {
            Ok(front) => return Ok((front, dir)),
            Err(e) => last = Some(e),
        }
    }
    let last = last.map_or(String::new(), |e| e.to_string());
    Err(anyhow::anyhow!(
        "no loopback address of ours had port {port} free ({last}): is something listening on *:{port} (a \
         PostgreSQL, a port Docker publishes)? Stop it, or set local.function.database_port to another port"
    ))
    .context(HINT)
}

/// A few addresses of 127.0.0.0/8 (all loopback on Linux) that other stacks on this
/// machine are unlikely to use at the same time: derived from the process id.
fn own_loopback_addresses() -> impl Iterator<Item = std::net::IpAddr> {
    let pid = std::process::id();
    (0..8u32).map(move |attempt| {
        let n = pid.wrapping_mul(31).wrapping_add(attempt.wrapping_mul(7919));
        let ip =
            std::net::Ipv4Addr::new(127, 10 + (n % 200) as u8, (n / 200 % 250) as u8 + 1, (n / 50_000 % 250) as u8 + 2);
        std::net::IpAddr::V4(ip)
    })
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
    /// The function's way through the local DSQL front (DSQL mode); else `database_url`.
    #[serde(default)]
    pub dsql: Option<Access>,
    pub endpoint: EndpointConfig,
    pub retry_policy: RetryPolicy,
    /// The user's function, as processes behind the Runtime API; none: the built-in one.
    #[serde(default)]
    pub function: Option<ProcessSpec>,
}

impl LocalStack {
    pub async fn start(db: LocalDatabase, endpoint: EndpointConfig, retry_policy: RetryPolicy) -> anyhow::Result<Self> {
        let dsql = db.function_access(FUNCTION_ROLE);
        let config = ChildConfig { database_url: db.url.clone(), dsql, endpoint, retry_policy, function: None };
        LocalStack::spawn(db, config).await
    }

    /// The user's function (`[local.function]`) behind the endpoint, each environment a
    /// process with its output in `logs/env-<n>.log`.
    pub async fn host(
        db: LocalDatabase,
        endpoint: EndpointConfig,
        function: &HostedFunction,
        logs: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let access = db.function_access(FUNCTION_ROLE);
        let reach = match &access {
            Some(a) => Reach::Dsql(a),
            None => Reach::Postgres(&db.url),
        };
        let spec = process_spec(function, reach, logs)?;
        let config = ChildConfig {
            database_url: db.url.clone(),
            dsql: None,
            endpoint,
            retry_policy: RetryPolicy::Unlimited,
            function: Some(spec),
        };
        LocalStack::spawn(db, config).await
    }

    async fn spawn(db: LocalDatabase, config: ChildConfig) -> anyhow::Result<Self> {
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

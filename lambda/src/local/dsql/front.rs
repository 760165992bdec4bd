//! The front's listener: it accepts connections and hands each to a session.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_postgres::{Client, NoTls};

use super::shared::{BackendAddr, Bucket, Counters, FrontConfig, Shared};
use super::sys;
use super::tls::StackTls;

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("local DSQL front: cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("local DSQL front: {0}")]
    Tls(#[from] super::tls::TlsError),
    #[error("local DSQL front: cannot reach its PostgreSQL: {0}")]
    Backend(#[from] tokio_postgres::Error),
    #[error("local DSQL front: setting up the sys schema: {0}")]
    Sys(#[from] sys::SysError),
}

/// A running front. Dropping it stops the listener and every session.
pub struct DsqlFront {
    addr: SocketAddr,
    ca: PathBuf,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl DsqlFront {
    pub async fn start(config: FrontConfig) -> Result<DsqlFront, FrontError> {
        let tls = StackTls::create(&config.dir, &config.hosts)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| FrontError::Listen { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| FrontError::Listen { addr: config.listen, source })?;
        let (backend, admin) = reach_backend(config.backend_port).await?;
        sys::bootstrap(&admin).await?;
        let admin_pid: i32 = admin.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        let burst = config.limits.connection_burst;
        let shared = Arc::new(Shared {
            tls: tokio_rustls::TlsAcceptor::from(tls.server_config()),
            config,
            backend,
            admin: tokio::sync::Mutex::new(Arc::new(admin)),
            admin_pid: AtomicI32::new(admin_pid),
            schema_version: Arc::new(AtomicU64::new(0)),
            counters: Counters::default(),
            open: AtomicUsize::new(0),
            latency_us: AtomicU64::new(0),
            bucket: Mutex::new(Bucket::full(burst)),
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        Ok(DsqlFront { addr, ca: tls.ca_path().to_path_buf(), shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate clients must trust (PGSSLROOTCERT, NODE_EXTRA_CA_CERTS).
    pub fn ca_path(&self) -> &Path {
        &self.ca
    }

    /// Add `latency` to every round trip from now on, as the network between a Lambda
    /// function and a DSQL endpoint adds it: transactions stay open longer, so more of
    /// them overlap and conflict (docs/local-dsql.md, "Conflict rates").
    pub fn set_latency(&self, latency: Duration) {
        self.shared.latency_us.store(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// The server process of the front's own `sys` session.
    pub fn admin_pid(&self) -> i32 {
        self.shared.admin_pid.load(Ordering::Relaxed)
    }

    /// How the front reaches its PostgreSQL: over its Unix socket when it found one.
    pub fn backend(&self) -> &BackendAddr {
        &self.shared.backend
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub fn oc000(&self) -> u64 {
        self.shared.counters.oc000.load(Ordering::Relaxed)
    }

    pub fn oc001(&self) -> u64 {
        self.shared.counters.oc001.load(Ordering::Relaxed)
    }
}

impl Drop for DsqlFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The way to the PostgreSQL on 127.0.0.1:`port`, and a superuser session over it.
/// Its Unix socket saves the sessions a loopback TCP stack on every statement; it is
/// used when a throwaway cluster's socket for this port leads to the same server (the
/// same `system_identifier`), else TCP (e.g. an external PostgreSQL).
async fn reach_backend(port: u16) -> Result<(BackendAddr, Client), tokio_postgres::Error> {
    let tcp = BackendAddr::tcp(port);
    let admin = connect(&tcp).await?;
    let Some(id) = system_identifier(&admin).await else { return Ok((tcp, admin)) };
    for dir in crate::local::postgres::socket_dirs_for_port(port) {
        let unix = BackendAddr { port, socket_dir: Some(dir) };
        let Ok(client) = connect(&unix).await else { continue };
        if system_identifier(&client).await == Some(id) {
            return Ok((unix, client));
        }
    }
    Ok((tcp, admin))
}

async fn connect(to: &BackendAddr) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(&to.url(), NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// The cluster's identity (made by initdb), if the server tells it.
async fn system_identifier(client: &Client) -> Option<i64> {
    client.query_one("SELECT system_identifier FROM pg_control_system()", &[]).await.ok().map(|row| row.get(0))
}

/// Accept connections; the sessions live in a JoinSet, so they end with the listener.
async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    sessions.spawn(super::login::serve(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!("local DSQL front: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::dsql::Access;
    use crate::local::postgres::{LocalPostgres, PgOptions};

    /// `inet_client_addr()`: NULL only for a session on a Unix socket.
    async fn on_unix_socket(client: &Client) -> bool {
        client.query_one("SELECT inet_client_addr() IS NULL", &[]).await.unwrap().get(0)
    }

    /// Before a throwaway cluster, the front's own session and a client's session of
    /// the backing PostgreSQL both go over the cluster's Unix socket, not loopback TCP.
    #[tokio::test]
    async fn a_front_reaches_its_throwaway_cluster_over_the_unix_socket() {
        let pg = LocalPostgres::start_async(PgOptions::default()).await.expect("start PostgreSQL");
        let dir = tempfile::tempdir().unwrap();
        let front = DsqlFront::start(FrontConfig::local(pg.port(), dir.path().into())).await.expect("start");
        assert_eq!(front.backend().socket_dir.as_deref(), Some(pg.socket_dir()));
        assert!(on_unix_socket(&front.shared.admin().await.unwrap()).await);
        let access = Access::admin(front.addr().port(), front.ca_path().to_path_buf());
        let client = access.target().connect().await.expect("admin logs in");
        assert!(on_unix_socket(&client).await);
        let plain = connect(&BackendAddr::tcp(pg.port())).await.unwrap();
        assert!(!on_unix_socket(&plain).await, "a TCP session has a client address");
    }
}

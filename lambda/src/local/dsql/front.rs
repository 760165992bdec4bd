//! The front's listener: it accepts connections and hands each to a session.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_postgres::NoTls;

use super::shared::{Bucket, Counters, FrontConfig, Shared};
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
        let (admin, conn) = tokio_postgres::connect(&config.backend_url(), NoTls).await?;
        tokio::spawn(conn);
        sys::bootstrap(&admin).await?;
        let admin_pid: i32 = admin.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        let burst = config.limits.connection_burst;
        let shared = Arc::new(Shared {
            tls: tokio_rustls::TlsAcceptor::from(tls.server_config()),
            config,
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

//! The front's settings and the state its sessions share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

/// DSQL's limits (docs, "Cluster quotas and database limits"), each settable for tests.
#[derive(Debug, Clone)]
pub struct Limits {
    pub rows_per_transaction: u64,
    pub bytes_per_transaction: u64,
    pub transaction_age: Duration,
    pub max_connections: usize,
    /// New connections per second, and the burst above it.
    pub connection_rate: f64,
    pub connection_burst: f64,
    pub connection_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rows_per_transaction: 3_000,
            bytes_per_transaction: 10 << 20,
            transaction_age: Duration::from_secs(300),
            max_connections: 10_000,
            connection_rate: 100.0,
            connection_burst: 1_000.0,
            connection_lifetime: Duration::from_secs(3_600),
        }
    }
}

/// Where the front listens and what it stands before.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    /// e.g. 127.0.0.1:0, or 127.0.0.2:5432 for functions that hard-code DSQL's port.
    pub listen: SocketAddr,
    /// The throwaway PostgreSQL's port on 127.0.0.1 (trust authentication). The front
    /// uses the cluster's Unix socket for this port instead when it finds one that
    /// leads to the same server (`DsqlFront::backend`).
    pub backend_port: u16,
    /// The names a token may be signed for; the certificate carries them too.
    pub hosts: Vec<String>,
    /// Where the CA's certificate is written (`ca.pem`).
    pub dir: PathBuf,
    pub limits: Limits,
    /// The IAM identity behind an access key id; other keys are
    /// `arn:aws:iam::000000000000:user/<key id>`.
    pub identities: HashMap<String, String>,
}

impl FrontConfig {
    /// The ARN whose `DbConnect` permission an access key's token stands for.
    pub fn arn_of(&self, access_key_id: &str) -> String {
        self.identities
            .get(access_key_id)
            .cloned()
            .unwrap_or_else(|| format!("arn:aws:iam::000000000000:user/{access_key_id}"))
    }

    /// The superuser's URL over TCP.
    pub fn backend_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.backend_port)
    }
}

/// Where the front reaches its PostgreSQL: the Unix socket in `socket_dir` when the
/// front found one that leads to the same server, else TCP on 127.0.0.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendAddr {
    pub port: u16,
    /// The directory of the server's `.s.PGSQL.<port>` socket.
    pub socket_dir: Option<PathBuf>,
}

impl BackendAddr {
    /// Over TCP only.
    pub fn tcp(port: u16) -> BackendAddr {
        BackendAddr { port, socket_dir: None }
    }

    /// The superuser's URL: the socket's directory as host (percent-encoded), or TCP.
    pub fn url(&self) -> String {
        match &self.socket_dir {
            Some(dir) => format!("postgres://postgres@{}:{}/postgres", encode_dir(dir), self.port),
            None => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
        }
    }
}

/// A socket directory as a URL host: every byte but [A-Za-z0-9_.-] percent-encoded.
fn encode_dir(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    dir.as_os_str()
        .as_bytes()
        .iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (*b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the front counted, for the server-side view.
#[derive(Debug, Default)]
pub struct Counters {
    pub oc000: AtomicU64,
    pub oc001: AtomicU64,
    pub refused: AtomicU64,
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    /// Cancel requests passed on to PostgreSQL.
    pub cancels: AtomicU64,
}

/// A token bucket for the new-connection rate.
#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn full(burst: f64) -> Bucket {
        Bucket { tokens: burst, at: Instant::now() }
    }
}

/// State every session of one front shares.
pub struct Shared {
    pub config: FrontConfig,
    /// How the sessions reach the PostgreSQL (its Unix socket when found).
    pub backend: BackendAddr,
    pub tls: tokio_rustls::TlsAcceptor,
    /// A superuser connection for `sys` (role mappings, jobs): see `admin()`.
    pub(super) admin: tokio::sync::Mutex<Arc<Client>>,
    /// Its server process (it changes when the connection is opened again).
    pub(super) admin_pid: AtomicI32,
    /// Bumped by every committed DDL: a transaction that began before it gets OC001.
    pub schema_version: Arc<AtomicU64>,
    pub counters: Counters,
    pub open: AtomicUsize,
    /// Added to every round trip, microseconds (`DsqlFront::set_latency`).
    pub(super) latency_us: AtomicU64,
    pub(super) bucket: Mutex<Bucket>,
}

impl Shared {
    /// The `sys` session, opened again if it closed (the PostgreSQL restarted).
    pub async fn admin(&self) -> Result<Arc<Client>, tokio_postgres::Error> {
        let mut admin = self.admin.lock().await;
        if admin.is_closed() {
            let (client, conn) = tokio_postgres::connect(&self.backend.url(), NoTls).await?;
            tokio::spawn(conn);
            let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
            self.admin_pid.store(pid, Ordering::Relaxed);
            *admin = Arc::new(client);
        }
        Ok(admin.clone())
    }

    /// Take a new-connection token, or say the rate is exceeded.
    pub fn admit_connection(&self) -> bool {
        let limits = &self.config.limits;
        let Ok(mut b) = self.bucket.lock() else { return false };
        let now = Instant::now();
        b.tokens =
            (b.tokens + now.duration_since(b.at).as_secs_f64() * limits.connection_rate).min(limits.connection_burst);
        b.at = now;
        if b.tokens < 1.0 {
            return false;
        }
        b.tokens -= 1.0;
        true
    }
}

//! A throwaway PostgreSQL cluster from the system's binaries: `initdb` in a directory
//! of its own, started on a free loopback port, stopped and removed on drop, and by its
//! watchdog if its owner dies without dropping it (see `watchdog`).
//!
//! PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres`
//! user (created by Debian's package). When the binaries are missing on Debian and we
//! are root, or a user with password-less sudo, `postgresql` is installed from Debian's
//! packages; otherwise the error says what to install.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod watchdog;

use watchdog::Watchdog;
pub use watchdog::{remove_stale, PREFIX};

/// Server settings for a disposable cluster: durability off, room for many connections.
const SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=300",
    "shared_buffers=128MB",
    "log_min_messages=warning",
    // Deadlocks (a->b against b->a) are retried like 40001; detect them quickly.
    "deadlock_timeout=50ms",
];

/// Why the local cluster could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH, under /usr/lib/postgresql/*/bin or in $PG_BINDIR; \
         install them (Debian/Ubuntu: `sudo apt-get install postgresql`) or set PG_BINDIR"
    )]
    NotInstalled,
    #[error("installing PostgreSQL with apt-get failed: {0}")]
    Install(String),
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error(
        "the temporary directory {0} cannot be entered by the `postgres` user the cluster runs as (we are root): \
         make it traversable (chmod o+x) or set TMPDIR to a directory that is, e.g. /tmp"
    )]
    Inaccessible(PathBuf),
    #[error("local PostgreSQL: {0}")]
    Io(#[from] std::io::Error),
}

/// Options for `LocalPostgres::start`.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Install Debian's `postgresql` package when the binaries are missing (root only).
    pub install_if_missing: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions { install_if_missing: true }
    }
}

/// A running throwaway cluster. Dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct LocalPostgres {
    root: PathBuf,
    bindir: PathBuf,
    run_as: Option<String>,
    port: u16,
    running: bool,
    /// Stale clusters of earlier owners removed before this one started, and why.
    removed_stale: Vec<(PathBuf, String)>,
    watchdog: Option<Watchdog>,
}

impl LocalPostgres {
    /// Create and start a cluster (blocking: a couple of seconds).
    pub fn start(options: &PgOptions) -> Result<LocalPostgres, PgError> {
        let bindir = match find_bindir() {
            Some(dir) => dir,
            None if options.install_if_missing && Path::new("/usr/bin/apt-get").exists() && may_install() => {
                install_debian_package()?;
                find_bindir().ok_or(PgError::NotInstalled)?
            }
            None => return Err(PgError::NotInstalled),
        };
        let run_as = if is_root() { Some(ensure_user("postgres")?) } else { None };
        let removed_stale = remove_stale(&std::env::temp_dir());
        if run_as.is_some() {
            reachable_by_others(&std::env::temp_dir())?;
        }
        let root = tempfile::Builder::new().prefix(PREFIX).tempdir()?.keep();
        let watchdog = Watchdog::start(&root, &bindir.join("pg_ctl"), run_as.as_deref());
        let mut pg = LocalPostgres { root, bindir, run_as, port: 0, running: false, removed_stale, watchdog: None };
        pg.watchdog = Some(watchdog?);
        if let Some(user) = &pg.run_as {
            let (uid, gid) = user_ids(user)?;
            std::os::unix::fs::chown(&pg.root, Some(uid), Some(gid))?;
        }
        pg.run(
            "initdb",
            &["-D", &pg.data(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
        )?;
        let mut last_error = None;
        for _ in 0..3 {
            pg.port = free_port()?;
            match pg.pg_ctl_start() {
                Ok(()) => {
                    pg.running = true;
                    return Ok(pg);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("three attempts were made"))
    }

    /// Start on a blocking thread, for async callers.
    pub async fn start_async(options: PgOptions) -> Result<LocalPostgres, PgError> {
        tokio::task::spawn_blocking(move || LocalPostgres::start(&options))
            .await
            .map_err(|e| PgError::Io(std::io::Error::other(e)))?
    }

    /// Where the server's binaries are (pgbench, psql ... beside them).
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of another database in this cluster.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stale clusters (whose owners had died) removed before this one started, and why.
    pub fn removed_stale(&self) -> &[(PathBuf, String)] {
        &self.removed_stale
    }

    /// The cluster's directory (its data directory is `data` inside it).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the server's Unix socket (`.s.PGSQL.<port>`): the root.
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// Restart the server (`pg_ctl restart -m fast`): every connection is cut.
    pub fn restart(&self) -> Result<(), PgError> {
        let log = self.root.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-m", "fast", "-w", "-t", "60", "restart"])?;
        Ok(())
    }

    /// Stop the server now (also done on drop).
    pub fn stop(&mut self) -> Result<(), PgError> {
        if self.running {
            self.running = false;
            self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"])?;
        }
        Ok(())
    }

    fn data(&self) -> String {
        self.root.join("data").display().to_string()
    }

    fn pg_ctl_start(&self) -> Result<(), PgError> {
        let mut opts = format!("-c listen_addresses=127.0.0.1 -p {} -k {}", self.port, self.root.display());
        for s in SETTINGS {
            opts.push_str(" -c ");
            opts.push_str(s);
        }
        let log = self.root.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &opts, "start"]).map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
            match e {
                PgError::Command { command, detail } => {
                    PgError::Command { command, detail: format!("{detail}\nserver log:\n{}", tail.join("\n")) }
                }
                other => other,
            }
        })?;
        Ok(())
    }

    /// Run a PostgreSQL program, as the cluster's user when we are root.
    fn run(&self, program: &str, args: &[&str]) -> Result<Output, PgError> {
        let exe = self.bindir.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).current_dir(&self.root);
        checked(cmd, &format!("{} {}", exe.display(), args.join(" ")))
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("stopping the local PostgreSQL failed: {e}");
        }
        // The watchdog stops whatever still runs and removes the directory.
        if let Some(mut w) = self.watchdog.take() {
            w.fire();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The socket directories of the throwaway clusters (this process's or another's) that
/// have a Unix socket for `port`: a client that knows only the port can find the socket
/// of the cluster listening on it, and should check it reached the same server.
pub fn socket_dirs_for_port(port: u16) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return Vec::new() };
    let socket = format!(".s.PGSQL.{port}");
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .map(|e| e.path())
        .filter(|root| root.join(&socket).exists())
        .collect()
}

/// `dir` and every directory above it can be entered by other users (`o+x`).
fn reachable_by_others(dir: &Path) -> Result<(), PgError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::fs::canonicalize(dir)?;
    for d in dir.ancestors() {
        if std::fs::metadata(d)?.permissions().mode() & 0o001 == 0 {
            return Err(PgError::Inaccessible(d.to_path_buf()));
        }
    }
    Ok(())
}

fn checked(mut cmd: Command, shown: &str) -> Result<Output, PgError> {
    let out = cmd.output().map_err(|e| PgError::Command { command: shown.to_string(), detail: e.to_string() })?;
    if out.status.success() {
        Ok(out)
    } else {
        let detail = format!("{}; {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
        Err(PgError::Command { command: shown.to_string(), detail })
    }
}

/// `$PG_BINDIR`, the directory of `initdb` on PATH, or the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PG_BINDIR").map(PathBuf::from) {
        return has_tools(&dir).then_some(dir);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("initdb"))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf));
    if let Some(dir) = on_path.filter(|d| has_tools(d)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, d)| has_tools(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// Root, or a user whose sudo needs no password (a developer's machine).
fn may_install() -> bool {
    is_root() || Command::new("sudo").args(["-n", "true"]).output().is_ok_and(|o| o.status.success())
}

/// Held while installing packages, by this process and by `scripts/install-deps.sh`:
/// parallel tests (and processes) on a fresh machine would otherwise race for apt's lock.
pub const INSTALL_LOCK: &str = "/tmp/dsql-harness-install.lock";

/// An exclusive lock on `INSTALL_LOCK`, released when dropped.
fn install_lock() -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::PermissionsExt;
    let file = match std::fs::OpenOptions::new().append(true).create(true).open(INSTALL_LOCK) {
        Ok(f) => {
            let _ = f.set_permissions(std::fs::Permissions::from_mode(0o666));
            f
        }
        // Another user's lock file: a read-only handle locks it as well.
        Err(_) => std::fs::File::open(INSTALL_LOCK)?,
    };
    file.lock()?;
    Ok(file)
}

fn install_debian_package() -> Result<(), PgError> {
    let _lock = install_lock()?;
    if find_bindir().is_some() {
        return Ok(()); // another test or process installed it while we waited
    }
    tracing::warn!("PostgreSQL is not installed: installing Debian's postgresql package (once, about a minute)");
    let apt = |args: &[&str]| {
        let mut c = Command::new(if is_root() { "apt-get" } else { "sudo" });
        if !is_root() {
            c.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        checked(c, &format!("apt-get {}", args.join(" "))).map_err(|e| PgError::Install(e.to_string()))
    };
    apt(&["update", "-qq"])?;
    apt(&["install", "-y", "-qq", "--no-install-recommends", "postgresql"])?;
    Ok(())
}

/// The effective user is root (`/proc/self` belongs to the process's user).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn ensure_user(user: &str) -> Result<String, PgError> {
    if user_ids(user).is_err() {
        let mut c = Command::new("useradd");
        c.args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]);
        checked(c, &format!("useradd {user}"))?;
    }
    Ok(user.to_string())
}

fn user_ids(user: &str) -> Result<(u32, u32), PgError> {
    let id = |flag: &str| -> Result<u32, PgError> {
        let mut c = Command::new("id");
        c.args([flag, user]);
        let out = checked(c, &format!("id {flag} {user}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| PgError::Command { command: format!("id {flag} {user}"), detail: "unexpected output".into() })
    };
    Ok((id("-u")?, id("-g")?))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

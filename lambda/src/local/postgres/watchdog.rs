//! Nothing outlives its owner: every throwaway cluster has a watchdog, a small shell
//! process (in its own process group, deaf to terminal signals) that reads a pipe whose
//! only writer is the owning process. When the owner ends, however it ends (a return,
//! a panic, SIGKILL), the kernel closes the pipe and the watchdog stops the server and
//! removes the cluster's directory.
//!
//! Should a watchdog itself be killed, the directory's `owner` file (owner and watchdog
//! process ids with their start times) lets the next cluster started on this machine
//! recognise the directory as stale, stop its server and remove it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The prefix of every throwaway cluster's directory (under the temporary directory).
pub const PREFIX: &str = "harness-pg-";

/// Stops the server and removes the directory once stdin closes.
const SCRIPT: &str = r#"trap '' INT HUP TERM
cat > /dev/null
if [ -n "$RUN_AS" ]; then
  runuser -u "$RUN_AS" -- "$PG_CTL" -D "$DATA" -m immediate -w stop
else
  "$PG_CTL" -D "$DATA" -m immediate -w stop
fi > /dev/null 2>&1
rm -rf "$ROOT"
"#;

/// A cluster's watchdog; dropping it (or the owner's death) sets it off.
#[derive(Debug)]
pub struct Watchdog {
    child: Child,
}

impl Watchdog {
    /// Watch the cluster at `root` (data in `root/data`) and record the owner.
    pub fn start(root: &Path, pg_ctl: &Path, run_as: Option<&str>) -> std::io::Result<Watchdog> {
        let child = Command::new("sh")
            .args(["-c", SCRIPT])
            .env("PG_CTL", pg_ctl)
            .env("DATA", root.join("data"))
            .env("ROOT", root)
            .env("RUN_AS", run_as.unwrap_or(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let me = std::process::id();
        let owner =
            format!("{me} {} {} {}\n", start_time(me).unwrap_or(0), child.id(), start_time(child.id()).unwrap_or(0));
        std::fs::write(root.join("owner"), owner)?;
        Ok(Watchdog { child })
    }

    /// Set it off now and wait until the server is stopped and the directory gone.
    pub fn fire(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.fire();
    }
}

/// When process `pid` started (clock ticks since boot), to tell it from a later
/// process that reuses its id.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid`, started at `started`, is still running.
fn alive(pid: u32, started: u64) -> bool {
    pid != 0 && start_time(pid).is_some_and(|t| started == 0 || t == started)
}

/// Why the cluster at `root` is stale, or `None` if it is in use or may be.
fn stale(root: &Path) -> Option<String> {
    let Ok(owner) = std::fs::read_to_string(root.join("owner")) else {
        // Being created right now, or left by a version without owner files: only an
        // old directory whose server is not running is taken as stale.
        let age = root.metadata().ok()?.modified().ok()?.elapsed().ok()?;
        let running = postmaster(root).is_some();
        return (age > Duration::from_secs(3_600) && !running).then(|| "no owner file, over an hour old".into());
    };
    let f: Vec<u64> = owner.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    let [owner, owner_started, watchdog, watchdog_started] = f[..] else { return None };
    if alive(owner as u32, owner_started) || alive(watchdog as u32, watchdog_started) {
        return None;
    }
    Some(format!("its owner, process {owner}, is gone"))
}

/// The running server of the cluster at `root`: the process id in
/// `data/postmaster.pid`, if that process runs with this data directory.
fn postmaster(root: &Path) -> Option<u32> {
    let pid = std::fs::read_to_string(root.join("data/postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline).contains(&*root.to_string_lossy()).then_some(pid)
}

/// Stop the servers of stale clusters under `dir` and remove their directories; what
/// was removed and why.
pub fn remove_stale(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let root = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with(PREFIX);
        let Some(why) = ours.then(|| stale(&root)).flatten() else { continue };
        if let Some(pid) = postmaster(&root) {
            stop_server(pid);
        }
        if std::fs::remove_dir_all(&root).is_ok() {
            removed.push((root, why));
        }
    }
    removed
}

/// Immediate shutdown (SIGQUIT), then SIGKILL if it is still there after 5 s.
fn stop_server(pid: u32) {
    let pid = pid as libc::pid_t;
    // SAFETY: kill(2) with a plain process id and a signal number has no memory effects.
    unsafe { libc::kill(pid, libc::SIGQUIT) };
    for _ in 0..50 {
        if start_time(pid as u32).is_none() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

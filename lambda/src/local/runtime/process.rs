//! One environment's OS process: spawned in a process group of its own, its output
//! appended to `env-<n>.log`, and killed (the whole group, SIGKILL) when the environment
//! is discarded, dropped or the endpoint stops. On Linux the process also dies with the
//! thread that spawned it (`PR_SET_PDEATHSIG`), so a SIGKILLed endpoint leaves nothing.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The process groups alive under one launcher, so that stopping the endpoint kills
/// those still lent to an invocation too. A group is killed once: by whoever takes it
/// out of the set.
#[derive(Debug, Default)]
pub struct Groups {
    live: Mutex<Option<HashSet<i32>>>,
}

impl Groups {
    pub fn new() -> Arc<Groups> {
        Arc::new(Groups { live: Mutex::new(Some(HashSet::new())) })
    }

    /// Record a new group; false when the launcher is closed (the caller kills it).
    fn insert(&self, pgid: i32) -> bool {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.as_mut().is_some_and(|set| set.insert(pgid))
    }

    /// Kill the group when it is still recorded.
    fn kill(&self, pgid: i32) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.as_mut().is_some_and(|set| set.remove(&pgid)) {
            kill_group(pgid);
        }
    }

    /// Kill every group and refuse new ones.
    pub fn close(&self) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        for pgid in live.take().unwrap_or_default() {
            kill_group(pgid);
        }
    }

    pub fn is_closed(&self) -> bool {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: killpg only sends a signal; a group already gone answers ESRCH.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

/// What to run for one environment.
pub struct Launch<'a> {
    pub command: &'a [String],
    pub cwd: &'a Path,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

/// A running environment process; dropping it kills its group.
#[derive(Debug)]
pub struct Child {
    pid: u32,
    groups: Arc<Groups>,
    exit: watch::Receiver<Option<ExitStatus>>,
}

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot open the log file {path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
    #[error("{program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("the endpoint is stopping")]
    Closed,
    #[error("the command is empty")]
    Empty,
}

/// Spawn `launch` in a new process group, its output appended to its log file.
pub fn spawn(launch: Launch<'_>, groups: &Arc<Groups>) -> Result<Child, SpawnError> {
    let (program, args) = launch.command.split_first().ok_or(SpawnError::Empty)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&launch.log)
        .map_err(|source| SpawnError::Log { path: launch.log.clone(), source })?;
    let err = log.try_clone().map_err(|source| SpawnError::Log { path: launch.log.clone(), source })?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(launch.cwd)
        .env_clear()
        .envs(launch.env)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true);
    die_with_parent(&mut command);
    let spawn_error = |source| SpawnError::Spawn { program: program.clone(), source };
    let mut child = command.spawn().map_err(spawn_error)?;
    let pid = child.id().ok_or_else(|| spawn_error(std::io::Error::other("exited at once")))?;
    if !groups.insert(pid as i32) {
        kill_group(pid as i32);
        return Err(SpawnError::Closed);
    }
    let (tx, exit) = watch::channel(None);
    tokio::spawn(async move {
        // Reaps the process (and so frees its pid) as soon as it ends, however it ends.
        let status = child.wait().await.ok();
        let _ = tx.send(status);
    });
    Ok(Child { pid, groups: groups.clone(), exit })
}

#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: between fork and exec only async-signal-safe calls: prctl, getppid, _exit.
    unsafe {
        let parent = libc::getpid();
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut tokio::process::Command) {}

impl Child {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status once the process has ended (and been reaped).
    pub fn exited(&self) -> Option<ExitStatus> {
        *self.exit.borrow()
    }

    /// Wait until the process ends; its status (None when it could not be read).
    pub async fn wait(&mut self) -> Option<ExitStatus> {
        match self.exit.wait_for(Option::is_some).await {
            Ok(status) => *status,
            Err(_) => None,
        }
    }

    pub fn kill(&self) {
        self.groups.kill(self.pid as i32);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A process's peak resident memory, MB (`VmHWM`), while it runs.
pub fn peak_memory_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.div_ceil(1024))
}

/// An exit status as AWS words it in `Runtime exited with error: ...` (Go's wording):
/// `exit status 1`, `signal: killed`.
pub fn describe_exit(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let Some(status) = status else { return "unknown exit status".to_string() };
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let signal = status.signal().unwrap_or_default();
    let name = match signal {
        libc::SIGKILL => "killed",
        libc::SIGTERM => "terminated",
        libc::SIGSEGV => "segmentation fault",
        libc::SIGABRT => "aborted",
        libc::SIGINT => "interrupt",
        libc::SIGBUS => "bus error",
        _ => return format!("signal: {signal}"),
    };
    format!("signal: {name}")
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn exits_worded_as_aws_words_them() {
        assert_eq!(describe_exit(Some(ExitStatus::from_raw(1 << 8))), "exit status 1");
        assert_eq!(describe_exit(Some(ExitStatus::from_raw(libc::SIGKILL))), "signal: killed");
        assert_eq!(describe_exit(None), "unknown exit status");
        assert!(peak_memory_mb(std::process::id()).is_some_and(|mb| mb > 0));
    }
}

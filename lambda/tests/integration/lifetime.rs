//! The local stand-ins leave nothing behind: `local-lambda` stops cleanly on SIGTERM, and
//! a throwaway PostgreSQL whose owner is SIGKILLed is stopped and removed by its watchdog.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Cluster directories under `tmp`, and the servers running in them.
fn clusters(tmp: &Path) -> (Vec<PathBuf>, Vec<u32>) {
    let dirs: Vec<PathBuf> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(transfer::local::postgres::PREFIX))
        .map(|e| e.path())
        .collect();
    let servers = dirs
        .iter()
        .filter_map(|d| {
            std::fs::read_to_string(d.join("data/postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
        })
        .collect();
    (dirs, servers)
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

fn gone_within(limit: Duration, tmp: &Path, servers: &[u32]) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if clusters(tmp).0.is_empty() && servers.iter().all(|p| !running(*p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// `local-lambda` with its own throwaway PostgreSQL under `tmp`, once it serves.
fn serving(tmp: &Path) -> (std::process::Child, Vec<u32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_local-lambda"))
        .args(["--listen", "127.0.0.1:0", "--accounts", "10"])
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("serving function") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "local-lambda exited before serving");
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let servers = clusters(tmp).1;
    assert_eq!(servers.len(), 1, "one throwaway PostgreSQL is running");
    (child, servers)
}

#[test]
fn local_lambda_stops_cleanly_on_sigterm_and_removes_its_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, servers) = serving(tmp.path());
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit 0 on SIGTERM: {status:?}");
    assert!(gone_within(Duration::from_secs(5), tmp.path(), &servers), "left: {:?}", clusters(tmp.path()));
}

#[test]
fn a_sigkilled_owner_s_postgres_is_stopped_and_removed_by_its_watchdog() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, servers) = serving(tmp.path());
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    assert!(gone_within(Duration::from_secs(5), tmp.path(), &servers), "left: {:?}", clusters(tmp.path()));
}

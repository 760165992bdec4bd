//! What the integration tests share: running the real `harness` binary and reading the
//! run folder it writes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// What the tests need besides PostgreSQL (Chromium, Node.js with playwright-core,
/// iproute2, cfn-lint): `scripts/install-deps.sh`, run once per test binary. It installs
/// what is missing when we are root and otherwise fails saying what to install; a test
/// that needs these never skips.
pub fn provisioned() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let script = format!("{}/../scripts/install-deps.sh", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("bash").arg(&script).output().expect("run scripts/install-deps.sh");
        assert!(out.status.success(), "scripts/install-deps.sh: {}", text(&out));
    });
}

/// The one way the tests run the real `harness` binary: from the crate's folder, with no
/// DATABASE_URL from the environment.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_harness"));
    command.current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("DATABASE_URL");
    command
}

/// `harness COMMAND --dsql-endpoint ENDPOINT --region us-east-1 ARGS...` as against a
/// cluster, offline: static keys that sign tokens (no AWS configuration, no instance
/// metadata), and the local front's CA in PGSSLROOTCERT when `ca` is given.
pub fn dsql_harness(endpoint: &str, ca: Option<&Path>, args: &[&str]) -> Output {
    let mut command = command();
    command
        .args([args[0], "--dsql-endpoint", endpoint, "--region", "us-east-1"])
        .args(&args[1..])
        .env("AWS_ACCESS_KEY_ID", "AKIDOFFLINETEST")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("PGSSLROOTCERT");
    if let Some(ca) = ca {
        command.env("PGSSLROOTCERT", ca);
    }
    command.output().expect("run harness")
}

pub fn harness(args: &[&str]) -> Output {
    command().args(args).output().expect("run harness")
}

/// What a child that prints `listening on ADDR` as its first line listens on.
pub fn listening(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout piped")).read_line(&mut first).unwrap();
    first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line {first:?}")).to_string()
}

/// A worker daemon (`harness worker --exit-with-stdin`) listening on `listen` with
/// `secret`; killed when dropped, and gone with its stdin (our pipe) even if the test
/// process is killed.
pub struct WorkerDaemon {
    child: std::process::Child,
    /// What it listens on, as it announced it.
    pub address: String,
}

impl WorkerDaemon {
    pub fn start(listen: &str, secret: &str) -> WorkerDaemon {
        use std::process::Stdio;
        let mut child = command()
            .args(["worker", "--listen", listen, "--exit-with-stdin"])
            .env("HARNESS_WORKER_SECRET", secret)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a worker daemon");
        let address = listening(&mut child);
        WorkerDaemon { child, address }
    }
}

impl Drop for WorkerDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every statement of an IAM role's inline policies, in a CloudFormation template.
pub fn policy_statements(role: &Value) -> Vec<&Value> {
    role["Policies"]
        .as_array()
        .expect("the role has inline policies")
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().expect("a policy's statements"))
        .collect()
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn scenario(name: &str) -> String {
    format!("{}/../scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Run a scenario into a fresh results folder; returns the output and summary.json.
pub fn run(args: &[&str]) -> (Output, Option<Value>, tempfile::TempDir) {
    let results = tempfile::tempdir().unwrap();
    let mut all = vec!["run", "--results", results.path().to_str().unwrap()];
    all.extend_from_slice(args);
    let out = harness(&all);
    let summary = summary_in(results.path()).map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap());
    (out, summary, results)
}

pub fn summary_in(dir: &Path) -> Option<PathBuf> {
    let run = std::fs::read_dir(dir).ok()?.next()?.ok()?.path();
    Some(run.join("summary.json")).filter(|p| p.exists())
}

pub fn n(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or_else(|| panic!("{path} missing in summary"))
}

/// Start the real `harness` binary with its output piped and its temporary directory
/// (where throwaway PostgreSQL clusters go) set to `tmp`.
pub fn spawn(args: &[&str], tmp: &Path) -> std::process::Child {
    command()
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start harness")
}

/// Send `signal` (e.g. "TERM", "INT", "KILL") to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Whether process `pid` runs (a zombie, dead but not yet reaped, does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next() != Some('Z')))
        .unwrap_or(false)
}

/// Every running process descended from `pid`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found.into_iter().skip(1).filter(|p| alive(*p)).collect()
}

/// The throwaway PostgreSQL directories under `tmp`, and the servers running there.
pub fn clusters(tmp: &Path) -> (Vec<PathBuf>, Vec<u32>) {
    let dirs: Vec<PathBuf> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("harness-pg-"))
        .map(|e| e.path())
        .collect();
    let servers = dirs
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("data/postmaster.pid")).ok())
        .filter_map(|pid| pid.lines().next()?.trim().parse().ok())
        .filter(|pid| alive(*pid))
        .collect();
    (dirs, servers)
}

/// Wait up to `limit` for `done`; whether it came true.
pub fn wait_for(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    done()
}

/// Wait until the run writing under `results` has recorded `n` seconds (rows of its
/// timeseries.csv, written as the run goes).
pub fn wait_for_seconds(results: &Path, n: usize) {
    let recorded = || {
        let run = std::fs::read_dir(results).ok().and_then(|mut d| d.next()).and_then(|e| e.ok());
        let rows = run.and_then(|r| std::fs::read_to_string(r.path().join("timeseries.csv")).ok());
        rows.is_some_and(|t| t.lines().count() > n)
    };
    assert!(wait_for(std::time::Duration::from_secs(120), recorded), "the run recorded {n} seconds within 120 s");
}

/// summary.json against schemas/summary.schema.json.

pub fn validate_against_schema(summary: &serde_json::Value) {
    let schema_path = format!("{}/../schemas/summary.schema.json", env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let problems: Vec<String> =
        validator.iter_errors(summary).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(problems.is_empty(), "summary.json does not match its schema: {problems:#?}");
}

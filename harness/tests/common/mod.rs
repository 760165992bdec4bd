//! What the integration tests share: running the real `harness` binary and reading the
//! run folder it writes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .output()
        .expect("run harness")
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

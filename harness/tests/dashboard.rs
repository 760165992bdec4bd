//! `harness run --dashboard`: a real run against a scripted Invoke endpoint, its live
//! page opened in headless Chromium while the run goes (scripts/browser/
//! check-dashboard.mjs). The calls counter the page shows grows during the run, and
//! once the run is over the page shows the final report, whose calls are
//! summary.json's; from one process and from a fleet of two workers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use axum::routing::post;
use serde_json::{json, Value};

mod common;

use common::*;

/// An endpoint that answers every call after 5 ms, on a loopback port.
fn endpoint() -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = || async {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        transfer::local::api::invoked("req", json!({"retries": 0}), false, None)
    };
    let app = axum::Router::new().route("/2015-03-31/functions/{name}/invocations", post(answer));
    runtime.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), runtime)
}

/// Run a 10 s closed-model scenario with `--dashboard` and `extra`, and watch its page.
fn watched(case: &str, extra: &[&str]) {
    provisioned();
    let (url, _runtime) = endpoint();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.toml");
    let scenario = format!(
        "[target]\nkind = \"endpoint\"\nurl = \"{url}\"\nfunction = \"f\"\n\
         [load]\nmodel = \"closed\"\nin_flight = 4\nduration = \"10s\"\n\
         [workload]\ntemplate = {{ n = \"{{{{n}}}}\" }}\n\
         generators = {{ n = {{ kind = \"int\", min = 1, max = 1000000 }} }}\n"
    );
    std::fs::write(&file, scenario).unwrap();
    let results = dir.path().join("results");
    let mut child = command()
        .args(["run", file.to_str().unwrap(), "--results", results.to_str().unwrap(), "--dashboard", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    // Read every line, so the run never blocks on a full pipe; pass on the address.
    let lines = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(at) = line.strip_prefix("dashboard on ") {
                let _ = tx.send(at.to_string());
            }
            all.push(line);
        }
        all
    });
    let page = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the dashboard's address on stderr");
    assert!(page.starts_with("http://127.0.0.1:"), "{page}");
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/dashboard");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join(format!("{case}.png"));
    let script = format!("{}/../scripts/browser/check-dashboard.mjs", env!("CARGO_MANIFEST_DIR"));
    let browsed = Command::new("node").args([&script, &page, "--screenshot", shot.to_str().unwrap()]).output().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = lines.join().unwrap().join("\n");
    assert!(out.status.success(), "{stderr}\n{}", String::from_utf8_lossy(&out.stdout));
    assert!(browsed.status.success(), "{}", text(&browsed));
    let seen: Value = serde_json::from_slice(&browsed.stdout).unwrap_or_else(|_| panic!("{}", text(&browsed)));
    let summary: Value = serde_json::from_slice(&std::fs::read(summary_in(&results).unwrap()).unwrap()).unwrap();
    let calls = n(&summary, "/totals/calls");
    let counts: Vec<u64> = seen["seen"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    // Chromium may take seconds to start on a loaded machine: two readings at least.
    assert!(counts.len() >= 2, "the live counter changed during the run: {seen}");
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "and only grew: {counts:?}");
    assert!(*counts.last().unwrap() <= calls, "{counts:?} against {calls}");
    assert_eq!(seen["final"], true, "the page shows the final report: {seen}");
    let figures = &seen["figures"]["rows"];
    assert_eq!(figures[0][0], "Calls", "{figures}");
    assert_eq!(figures[0][1], calls.to_string(), "the final page's calls are summary.json's");
    assert_eq!(seen["errors"], json!([]), "no console or page errors: {seen}");
}

#[test]
fn the_live_page_follows_a_run_and_ends_on_its_report() {
    watched("one-process", &[]);
}

#[test]
fn the_live_page_follows_a_fleet() {
    watched("fleet", &["--workers", "2"]);
}

//! A coordinator following many workers (issue 28, item 3): the real `harness run`
//! against simulated workers (`workers::remote::sim`) that speak the daemon's side of the
//! real protocol, sealed with the shared secret, and stream intervals of realistic size.
//! What the run records must be exactly what the workers sent. (`harness-bench fleet`
//! measures the same at 100 to 1,000 workers; this test only checks, it times nothing.)

use std::process::Stdio;

use serde_json::Value;
use workers::remote::sim::{SimFleet, SimSpec};
use workers::Stats;

mod common;

use common::*;

const SECRET: &str = "fleet-scale-secret-0123456789";

/// A closed-model scenario of `seconds` over the simulated workers at `addresses`,
/// against an endpoint nobody calls (the simulated workers make no call); their 2.7%
/// of failed calls pass.
fn scenario(dir: &std::path::Path, addresses: &[String], seconds: u64) -> String {
    let list: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        "[target]\nkind = \"endpoint\"\nurl = \"http://127.0.0.1:9\"\nfunction = \"sim\"\n\
         [data]\naccounts = 2000\n[load]\nmodel = \"closed\"\nin_flight = {}\nduration = \"{seconds}s\"\n\
         [limits]\ndrain_timeout = \"5s\"\n[thresholds]\nmax_failed_pct = 10\n[workers]\naddresses = [{}]\n",
        4 * addresses.len(),
        list.join(", ")
    );
    let path = dir.join("fleet-scale.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn forty_simulated_workers_merge_exactly_into_the_summary() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = SimSpec {
        workers: 40,
        seconds: 3,
        calls_per_second: 150,
        variants: 7,
        seed: 28,
        secret: Some(SECRET.as_bytes().to_vec()),
    };
    let fleet = rt.block_on(SimFleet::start(&spec)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let results = dir.path().join("results");
    let coordinator = command()
        .args(["run", &scenario(dir.path(), &fleet.addresses, spec.seconds)])
        .args(["--results", results.to_str().unwrap(), "--worker-secret-file", secret_file.to_str().unwrap()])
        .env_remove("HARNESS_WORKER_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = coordinator.wait_with_output().unwrap();
    let sent = rt.block_on(fleet.finish());
    assert!(out.status.success(), "{}", text(&out));
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert_eq!((sent.finished, sent.intervals), (40, 120), "every worker streamed every second");
    let s: Value = serde_json::from_slice(&std::fs::read(summary_in(&results).unwrap()).unwrap()).unwrap();

    // Every worker completed and reported every call it sent; none was lost.
    let workers = s["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 40);
    for w in workers {
        assert_eq!(w["status"], "completed", "{w}");
        assert_eq!(n(w, "/missed_intervals") + n(w, "/unreported_calls") + n(w, "/unreported_at_most"), 0, "{w}");
        assert_eq!(n(w, "/totals/calls"), 3 * 150);
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("Workers:            40 (0 lost)"), "{}", text(&out));

    // The totals: calls, successes, errors by class and message, every histogram.
    let totals: Stats = serde_json::from_value(s["totals"].clone()).unwrap();
    assert_eq!(totals.calls, 40 * 3 * 150);
    assert_eq!(totals.calls, totals.successes + totals.error_count());
    assert_eq!(totals.errors.len(), 4, "four error classes: {:?}", totals.errors);
    assert_eq!(totals.errors, sent.totals.errors);
    assert_eq!(totals.error_messages, sent.totals.error_messages);
    assert_eq!(totals.latency_us.count(), totals.calls);
    assert_eq!(totals.latency_us, sent.totals.latency_us, "the latency histogram, merged exactly");
    assert_eq!(totals.function_us, sent.totals.function_us);
    assert_eq!(totals.retries, sent.totals.retries);
    assert_eq!(totals, sent.totals, "everything the workers sent, and nothing else");

    // The seconds add up to the totals.
    let intervals = s["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 3);
    let calls: u64 = intervals.iter().map(|i| n(i, "/stats/calls")).sum();
    assert_eq!(calls, totals.calls);

    // The hot-account rows: the 20 accounts the transfers touched, each counted exactly.
    let hot = &s["hot_accounts"];
    assert_eq!(n(hot, "/touched"), 20, "{hot:#}");
    let rows = hot["top"].as_array().unwrap();
    assert_eq!(rows.len(), 20, "{hot:#}");
    for row in rows {
        let id = row["id"].as_i64().unwrap();
        let c = sent.accounts.0[&id];
        let seen = (n(row, "/payer"), n(row, "/payee"), n(row, "/retries"), n(row, "/conflicts"));
        assert_eq!(seen, (c.payer, c.payee, c.retries, c.conflicts), "account {id}");
    }

    // What the coordinator received: at least a start, three seconds and an end from each.
    let c = &s["coordinator"];
    assert_eq!(n(c, "/workers"), 40);
    assert!(n(c, "/frames") >= 40 * 6, "{c}");
    let frames: u64 = workers.iter().map(|w| n(w, "/frames_received")).sum();
    assert_eq!(n(c, "/frames"), frames);
}

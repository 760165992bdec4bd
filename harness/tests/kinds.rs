//! Several kinds of call in one scenario (`[[call]]`), against a scripted Invoke API
//! endpoint that answers by the payload's kind and counts what it served of each: the
//! summary's per-kind statistics equal what the endpoint did, kind by kind, from one
//! process and from three workers; each kind's answers are read through its own
//! `response` table and its calls go to its own function; each kind's sequential values are sent exactly once; the kinds add
//! up to the whole; and STATS, the Markdown summary and the HTML report show the table.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use serde_json::{json, Value};
use transfer::local::api;

mod common;

use common::*;

/// What the endpoint served of one kind.
#[derive(Debug, Default, Clone, PartialEq)]
struct Served {
    calls: u64,
    successes: u64,
    function_errors: u64,
    retries: u64,
    numbers: Vec<u64>,
    /// The functions its calls named (the Invoke path's).
    functions: std::collections::BTreeSet<String>,
    /// Its calls being answered now, and the most there ever were at once.
    in_flight: u64,
    peak: u64,
}

type Seen = Arc<Mutex<BTreeMap<String, Served>>>;

/// Reads (`{"op": "read", "n"}`) succeed with `{"retries": 0}`. Writes (`{"op": "write",
/// "m"}`) answer in another shape, `{"meta": {"attempts": m % 3}}`, and every 7th fails in
/// the function with an OCC conflict. A payload's `sleep_ms` holds the answer back that
/// long, so that the calls of each kind in flight at once can be counted.
async fn answer(State(seen): State<Seen>, Path(function): Path<String>, body: axum::body::Bytes) -> Response {
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let op = payload["op"].as_str().unwrap_or("?").to_string();
    let number = payload["n"].as_u64().or(payload["m"].as_u64()).unwrap_or(u64::MAX);
    if let Some(ms) = payload["sleep_ms"].as_u64() {
        {
            let mut seen = seen.lock().unwrap();
            let s = seen.entry(op.clone()).or_default();
            s.in_flight += 1;
            s.peak = s.peak.max(s.in_flight);
        }
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        seen.lock().unwrap().get_mut(&op).unwrap().in_flight -= 1;
    }
    let mut seen = seen.lock().unwrap();
    let s = seen.entry(op.clone()).or_default();
    s.calls += 1;
    s.numbers.push(number);
    s.functions.insert(function);
    match op.as_str() {
        "write" if number % 7 == 0 => {
            s.function_errors += 1;
            let error = json!({"errorType": "OccConflict", "errorMessage": "change conflicts (OC000)"});
            api::invoked("req", error, true, None)
        }
        "write" => {
            s.successes += 1;
            s.retries += number % 3;
            api::invoked("req", json!({"meta": {"attempts": number % 3}}), false, None)
        }
        _ => {
            s.successes += 1;
            api::invoked("req", json!({"retries": 0}), false, None)
        }
    }
}

/// The endpoint on a loopback port, and what it saw.
fn start() -> (String, Seen, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seen = Seen::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app =
        axum::Router::new().route("/2015-03-31/functions/{name}/invocations", post(answer)).with_state(seen.clone());
    runtime.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen, runtime)
}

const CALLS: u64 = 2_000;

/// 80% reads, 20% writes; the writes' answers read through their own `response`.
fn scenario(url: &str) -> String {
    format!(
        "seed = 11\n[target]\nkind = \"endpoint\"\nurl = \"{url}\"\nfunction = \"bank\"\n\
         [load]\nmodel = \"closed\"\nin_flight = 12\ncalls = {CALLS}\n\
         [thresholds]\nexpected = [\"occ_conflict\"]\n\
         [[call]]\nname = \"read\"\nweight = 80\ntemplate = {{ op = \"read\", n = \"{{{{n}}}}\" }}\n\
         generators = {{ n = {{ kind = \"int\", min = 0, max = 1000000, distribution = \"sequential\" }} }}\n\
         [[call]]\nname = \"write\"\nweight = 20\ntemplate = {{ op = \"write\", m = \"{{{{m}}}}\" }}\n\
         generators = {{ m = {{ kind = \"int\", min = 0, max = 1000000, distribution = \"sequential\" }} }}\n\
         response = {{ retries = \"/meta/attempts\" }}\nfunction = \"bank-writer\"\n"
    )
}

/// One run's summary checked kind by kind against what the endpoint served.
fn kinds_match_the_endpoint(extra: &[&str]) {
    let (url, seen, _runtime) = start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kinds.toml");
    std::fs::write(&file, scenario(&url)).unwrap();
    let md = dir.path().join("summary.md");
    let mut args = vec![file.to_str().unwrap(), "--summary-md", md.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (out, summary, _results) = run(&args);
    let what = text(&out);
    assert_eq!(out.status.code(), Some(0), "the conflicts are expected: {what}");
    let s = summary.unwrap_or_else(|| panic!("{what}"));
    validate_against_schema(&s);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["read", "write"], "{what}");
    let functions = |op: &str| seen[op].functions.iter().cloned().collect::<Vec<_>>();
    assert_eq!(
        (functions("read"), functions("write")),
        (vec!["bank".into()], vec!["bank-writer".into()]),
        "own function"
    );
    let mut sum = 0;
    for (name, served) in &seen {
        let k = &s["totals"]["kinds"][name];
        assert_eq!(n(k, "/calls"), served.calls, "{name}: {what}");
        assert_eq!(n(k, "/successes"), served.successes, "{name}");
        assert_eq!(k["errors"]["function"].as_u64().unwrap_or(0), served.function_errors, "{name}");
        assert_eq!(n(k, "/total_retries"), served.retries, "{name}: read through its own response table");
        let mut numbers = served.numbers.clone();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len() as u64, served.calls, "{name}: each sequential value sent once");
        if extra.is_empty() {
            // One process draws each kind's values in order; workers interleave theirs.
            assert_eq!(numbers.last(), Some(&(served.calls - 1)), "{name}: none skipped");
        }
        sum += served.calls;
    }
    assert_eq!((sum, n(&s, "/totals/calls")), (CALLS, CALLS), "the kinds add up to the whole");
    let writes = seen["write"].calls as f64 / CALLS as f64;
    // 2,000 draws at p = 0.2: the standard deviation is 0.009; 0.05 is over 5 of them.
    assert!((writes - 0.2).abs() < 0.05, "writes are a fifth of the calls: {writes}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| stdout.lines().find(|l| l.trim_start().starts_with(&format!("{name} "))).map(str::to_owned);
    assert!(stdout.contains("By kind of call"), "{stdout}");
    let write_row = row("write").unwrap_or_else(|| panic!("a row for writes: {stdout}"));
    let cells: Vec<String> = write_row.split_whitespace().map(|c| c.replace(',', "")).collect();
    assert_eq!(cells[1], seen["write"].calls.to_string(), "{write_row}");
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.contains("| kind | calls |") && markdown.contains("| write |"), "{markdown}");
    let run_dir = std::fs::read_dir(_results.path()).unwrap().next().unwrap().unwrap().path();
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(html.contains("<table id=\"kinds\">") && html.contains("<td>read</td>"), "the HTML report's table");
    // stats.csv: a row per kind, then the whole (Locust's per-name rows and aggregate).
    let mut csv = csv::Reader::from_path(run_dir.join("stats.csv")).unwrap();
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    let by_kind: Vec<(String, String)> =
        rows.iter().map(|r| (r[col("kind")].to_string(), r[col("calls")].to_string())).collect();
    let expected = [("read", seen["read"].calls), ("write", seen["write"].calls), ("all", CALLS)];
    assert_eq!(by_kind, expected.map(|(k, n)| (k.to_string(), n.to_string())), "stats.csv");
    assert_eq!(&rows[1][col("successes")], seen["write"].successes.to_string(), "stats.csv");
}

#[test]
fn each_kind_of_call_is_reported_exactly_as_the_endpoint_served_it() {
    kinds_match_the_endpoint(&[]);
}

#[test]
fn kinds_of_call_split_across_three_workers_merge_exactly() {
    kinds_match_the_endpoint(&["--workers", "3"]);
}

/// Reads arrive at 100/s for 2 s (an open model), writes are kept 3 in flight for 150
/// calls (a closed one), both at once: each kind makes exactly its own model's calls,
/// and the writes' limit holds whatever the reads do.
fn kind_loads(url: &str) -> String {
    format!(
        "seed = 5\n[target]\nkind = \"endpoint\"\nurl = \"{url}\"\nfunction = \"bank\"\n\
         [thresholds]\nexpected = [\"occ_conflict\"]\n\
         [[call]]\nname = \"read\"\ntemplate = {{ op = \"read\", n = \"{{{{n}}}}\", sleep_ms = 30 }}\n\
         generators = {{ n = {{ kind = \"int\", min = 0, max = 1000000, distribution = \"sequential\" }} }}\n\
         load = {{ model = \"open\", rate = 100, duration = \"2s\", max_in_flight = 60 }}\n\
         [[call]]\nname = \"write\"\ntemplate = {{ op = \"write\", m = \"{{{{m}}}}\", sleep_ms = 30 }}\n\
         generators = {{ m = {{ kind = \"int\", min = 0, max = 1000000, distribution = \"sequential\" }} }}\n\
         response = {{ retries = \"/meta/attempts\" }}\n\
         load = {{ model = \"closed\", in_flight = 3, calls = 150 }}\n"
    )
}

fn each_kind_runs_its_own_load_model(extra: &[&str]) {
    let (url, seen, _runtime) = start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("loads.toml");
    std::fs::write(&file, kind_loads(&url)).unwrap();
    let mut args = vec![file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (out, summary, _results) = run(&args);
    let what = text(&out);
    assert_eq!(out.status.code(), Some(0), "{what}");
    let s = summary.unwrap_or_else(|| panic!("{what}"));
    validate_against_schema(&s);
    let seen = seen.lock().unwrap().clone();
    assert_eq!((seen["read"].calls, seen["write"].calls), (200, 150), "each kind's own model's calls: {what}");
    assert_eq!(seen["write"].peak, 3, "the closed kind keeps exactly 3 in flight, never more");
    assert!(seen["read"].peak > 0 && seen["read"].peak <= 60, "the open kind within its own cap: {:?}", seen["read"]);
    for (name, served) in &seen {
        assert_eq!(n(&s["totals"]["kinds"][name], "/calls"), served.calls, "{name}: {what}");
        assert_eq!(n(&s["totals"]["kinds"][name], "/successes"), served.successes, "{name}");
    }
    assert_eq!(n(&s, "/totals/calls"), 350);
    assert_eq!(s["plan"]["engine"]["load"]["model"], "kinds", "{}", s["plan"]["engine"]["load"]);
}

#[test]
fn each_kind_of_call_runs_its_own_load_model() {
    each_kind_runs_its_own_load_model(&[]);
}

#[test]
fn kinds_with_their_own_loads_split_across_three_workers_merge_exactly() {
    each_kind_runs_its_own_load_model(&["--workers", "3"]);
}

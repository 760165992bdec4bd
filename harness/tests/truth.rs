//! The truth suite: the harness against a scripted Invoke API endpoint whose every
//! answer is known. Call k (in the order the endpoint receives them) is throttled,
//! fails in the function after 2 OCC retries, gets a 500, hangs for good, or succeeds
//! after a scripted duration with a scripted retry count. For the closed, batches and
//! open models (the open one from 1 process and from 3 workers), every figure the harness
//! stores equals what the script did, and the endpoint's count of requests equals the
//! harness's count of calls. The same holds for a payload of the scenario's own
//! (`[workload]` template) and answers of another shape read through `[response]`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde_json::{json, Value};
use transfer::local::api;
use transfer::local::report::Invocation;
use workers::Hist;

mod common;

use common::*;

/// What call number `k` gets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Throttle,
    FunctionError,
    ServerError,
    Hang,
    /// Succeeds after this many milliseconds, reporting this many retries.
    Succeed {
        ms: u64,
        retries: u64,
    },
}

fn act(k: u64) -> Act {
    match k % 20 {
        0 => Act::Throttle,
        1 => Act::FunctionError,
        2 => Act::ServerError,
        3 if k % 100 == 3 => Act::Hang,
        _ => Act::Succeed { ms: 5 + k % 7, retries: k % 3 },
    }
}

/// The scripted endpoint on a loopback port; it counts what it serves.
struct Scripted {
    url: String,
    seen: Seen,
    _runtime: tokio::runtime::Runtime,
}

/// The REPORT line of call `k` (successes and function errors): `ms` long, billed one
/// more, 256 MB, a cold start with 20 ms of init every 40th call.
fn invocation(k: u64, ms: u64) -> Invocation<'static> {
    Invocation {
        request_id: "req",
        duration: Duration::from_millis(ms),
        init: (k % 40 == 5).then(|| Duration::from_millis(20)),
        memory_size_mb: 256,
        max_memory_used_mb: 30 + k % 3,
        status: None,
    }
}

/// What the endpoint saw: calls served, and each payload's `n` (template runs).
#[derive(Clone, Default)]
struct Seen {
    served: Arc<AtomicU64>,
    /// Answer in the template scenario's shape (`{"meta": {"attempts"}, "took_ms", "db"}`).
    shaped: bool,
    numbers: Arc<Mutex<Vec<u64>>>,
}

/// A success in the built-in shape, or in the template scenario's.
fn success(shaped: bool, ms: u64, retries: u64) -> Value {
    match shaped {
        false => json!({"balance": 1, "duration_us": ms * 1_000, "retries": retries}),
        true => json!({"meta": {"attempts": retries}, "took_ms": ms, "db": ms * 2, "rejected": null}),
    }
}

async fn answer(State(seen): State<Seen>, headers: axum::http::HeaderMap, body: axum::body::Bytes) -> Response {
    let k = seen.served.fetch_add(1, Ordering::SeqCst);
    if let Some(n) = serde_json::from_slice::<Value>(&body).ok().and_then(|p| p["n"].as_u64()) {
        seen.numbers.lock().unwrap().push(n);
    }
    let tail = headers.get("x-amz-log-type").is_some_and(|v| v == "Tail");
    let log = |ms| tail.then(|| invocation(k, ms).log_result());
    match act(k) {
        Act::Throttle => api::throttled("ConcurrentInvocationLimitExceeded"),
        Act::FunctionError => api::invoked(
            "req",
            json!({"errorType": "OccConflict", "errorMessage": "could not serialize access (40001) after 2 retries"}),
            true,
            log(3),
        ),
        Act::ServerError => {
            api::service_error(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", "boom", json!({}))
        }
        Act::Hang => {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            api::invoked("req", json!({}), false, None)
        }
        Act::Succeed { ms, retries } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            api::invoked("req", success(seen.shaped, ms, retries), false, log(ms))
        }
    }
}

impl Scripted {
    fn start(shaped: bool) -> Scripted {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let seen = Seen { shaped, ..Seen::default() };
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(answer))
            .with_state(seen.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Scripted { url: format!("http://{addr}"), seen, _runtime: runtime }
    }
}

/// What the script did for calls 0..n.
struct Expected {
    throttles: u64,
    function_errors: u64,
    server_errors: u64,
    hangs: u64,
    successes: u64,
    retries: u64,
    function_us: Hist,
    /// The template answers' `db` field (twice the duration, ms).
    db: Hist,
    /// From the REPORT lines: cold starts, billed milliseconds.
    cold_starts: u64,
    billed_ms: u64,
}

fn expected(n: u64) -> Expected {
    let mut e = Expected {
        throttles: 0,
        function_errors: 0,
        server_errors: 0,
        hangs: 0,
        successes: 0,
        retries: 0,
        function_us: Hist::default(),
        db: Hist::default(),
        cold_starts: 0,
        billed_ms: 0,
    };
    for k in 0..n {
        match act(k) {
            Act::Throttle => e.throttles += 1,
            Act::FunctionError => {
                e.function_errors += 1;
                e.retries += 2;
                e.billed_ms += invocation(k, 3).billed_ms();
                e.cold_starts += u64::from(k % 40 == 5);
            }
            Act::ServerError => e.server_errors += 1,
            Act::Hang => e.hangs += 1,
            Act::Succeed { ms, retries } => {
                e.successes += 1;
                e.retries += retries;
                e.function_us.record(ms * 1_000);
                e.db.record(ms * 2);
                e.billed_ms += invocation(k, ms).billed_ms();
                e.cold_starts += u64::from(k % 40 == 5);
            }
        }
    }
    e
}

fn class(s: &Value, name: &str) -> u64 {
    s["totals"]["errors"][name].as_u64().unwrap_or(0)
}

/// A payload of the scenario's own, and the answers' shape read through `[response]`.
const TEMPLATE: &str = "[workload]\ntemplate = { n = \"{{n}}\", sku = \"item-{{sku}}\" }\n\
    [workload.generators]\nn = { kind = \"int\", min = 0, max = 1000000, distribution = \"sequential\" }\n\
    sku = { kind = \"choice\", values = [\"a\", \"b\"] }\n\
    [response]\nretries = \"/meta/attempts\"\nrefusal = \"/rejected\"\nduration = \"/took_ms\"\n\
    duration_unit = \"ms\"\nfields = { db = \"/db\" }\n";

/// Run `load` (a `[load]` section) against a fresh scripted endpoint and check every figure.
/// The scripted endpoint's failures of every kind are what this scenario expects.
const EXPECTED: &str = "[thresholds]\nexpected = [\"business\", \"function\", \"throttle\", \"service\", \
                        \"transport\", \"timeout\", \"abandoned\"]\n";

fn truth(load: &str, extra: &[&str]) {
    truth_of(load, extra, false);
}

/// `truth`, with the built-in payload and answers or (`shaped`) the template's.
fn truth_of(load: &str, extra: &[&str], shaped: bool) {
    let endpoint = Scripted::start(shaped);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("truth.toml");
    let text = format!(
        "[target]\nkind = \"endpoint\"\nurl = \"{}\"\n{load}[limits]\ncall_timeout = \"1s\"\ndrain_timeout = \"1s\"\n{EXPECTED}{}",
        endpoint.url,
        if shaped { TEMPLATE } else { "" }
    );
    std::fs::write(&file, &text).unwrap();
    let mut args = vec![file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (out, summary, _d) = run(&args);
    let s = summary.unwrap_or_else(|| panic!("{}", common::text(&out)));
    let calls = n(&s, "/totals/calls");
    let e = expected(calls);
    let what = format!("{load}{extra:?}\n{}", common::text(&out));

    assert_eq!(endpoint.seen.served.load(Ordering::SeqCst), calls, "the endpoint served every call counted: {what}");
    if shaped {
        shaped_figures(&s, &endpoint.seen, &e, &what);
    }
    assert_eq!(planned(&s), Some(calls), "every planned call ran: {what}");
    assert_eq!(n(&s, "/totals/successes"), e.successes, "{what}");
    assert_eq!(class(&s, "throttle"), e.throttles, "{what}");
    assert_eq!(class(&s, "function"), e.function_errors, "{what}");
    assert_eq!(class(&s, "service"), e.server_errors, "{what}");
    assert_eq!(class(&s, "timeout") + class(&s, "abandoned"), e.hangs, "hung calls time out or are abandoned: {what}");
    assert_eq!(class(&s, "transport") + class(&s, "business"), 0, "{what}");
    assert_eq!(s["accounting"]["succeeded"], e.successes);
    assert_eq!(n(&s, "/accounting/not_started"), 0);
    assert_eq!(n(&s, "/totals/total_retries"), e.retries, "retries of failed calls count too: {what}");
    let retries = Hist::decode(s["totals"]["retries"].as_str().unwrap()).unwrap();
    assert_eq!(retries.count(), e.successes + e.function_errors, "over every call that ran the transaction");
    let function_us = Hist::decode(s["totals"]["function_us"].as_str().unwrap()).unwrap();
    assert_eq!(function_us, e.function_us, "the function's durations, exactly: {what}");
    let success = Hist::decode(s["totals"]["success_latency_us"].as_str().unwrap()).unwrap();
    assert_eq!(success.count(), e.successes);
    for q in [0.5, 0.9, 0.99] {
        assert!(success.quantile(q) >= e.function_us.quantile(q), "the client waits at least as long as the function");
    }
    let all = Hist::decode(s["totals"]["latency_us"].as_str().unwrap()).unwrap();
    assert_eq!(all.count(), calls);
    assert!(all.max() >= 990_000, "the hung calls took the call or drain timeout: {}", all.max());
    // What Lambda reported (the REPORT lines), exactly, merged across workers.
    let p = &s["totals"]["platform"];
    assert_eq!(p["reports"].as_u64(), Some(e.successes + e.function_errors), "{what}");
    assert_eq!(p["cold_starts"].as_u64(), Some(e.cold_starts), "{what}");
    assert_eq!(p["billed_ms_total"].as_u64(), Some(e.billed_ms), "{what}");
    assert_eq!(p["billed_mb_ms_total"].as_u64(), Some(e.billed_ms * 256), "{what}");
    assert_eq!(Hist::decode(p["init_us"].as_str().unwrap()).unwrap().count(), e.cold_starts);
    let elapsed = s["end"]["elapsed_s"].as_f64().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let goodput = format!("Goodput:            {:.0} successful calls/second", e.successes as f64 / elapsed);
    assert!(stdout.contains(&goodput), "{goodput}: {what}");
    assert!(stdout.contains(&format!("Successful:         {} (", e.successes)), "{what}");
    assert!(stdout.contains("OCC Retry Statistics (of "), "{what}");
    // Every failure was scripted, and declared expected: the default limit passes.
    let default = s["checks"].as_array().unwrap().iter().find(|c| c["name"] == "failed calls (default limit)");
    assert_eq!(default.unwrap()["value"], "0.00%", "{what}");
    assert_eq!(out.status.code(), Some(0), "every failure expected, every planned call started: {what}");
}

/// A template run: every payload's `n` once (split exactly across workers), and the
/// mapped field's histogram exactly what the script answered.
fn shaped_figures(s: &Value, seen: &Seen, e: &Expected, what: &str) {
    let mut numbers = seen.numbers.lock().unwrap().clone();
    numbers.sort_unstable();
    let calls = numbers.len() as u64;
    assert_eq!(numbers, (0..calls).collect::<Vec<_>>(), "each sequential value exactly once: {what}");
    let db = Hist::decode(s["totals"]["fields"]["db"].as_str().expect("the db field's histogram")).unwrap();
    assert_eq!(db, e.db, "the answers' db field, exactly: {what}");
}

fn planned(s: &Value) -> Option<u64> {
    s["accounting"]["planned"].as_u64()
}

#[test]
fn a_closed_run_reports_exactly_what_the_endpoint_did() {
    truth("[load]\nmodel = \"closed\"\nin_flight = 20\ncalls = 400\n", &[]);
}

#[test]
fn a_batches_run_reports_exactly_what_the_endpoint_did() {
    truth("[load]\nmodel = \"batches\"\nparallel = 25\nbatches = 16\n", &[]);
}

#[test]
fn an_open_run_reports_exactly_what_the_endpoint_did_from_one_process_and_from_three_workers() {
    let open = "[load]\nmodel = \"open\"\nrate = 150.7\nduration = \"2.5s\"\nmax_in_flight = 60\n";
    truth(open, &[]);
    truth(open, &["--workers", "3"]);
}

#[test]
fn a_ramping_open_run_reports_exactly_what_the_endpoint_did_from_one_process_and_from_two_workers() {
    // Up from 20 to 180 calls/s over 1 s (100 calls), down to 0 over 1 s (90 calls).
    let ramp = "[load]\nmodel = \"open\"\nstart_rate = 20\nstages = [{target = 180, duration = \"1s\"}, \
                {target = 0, duration = \"1s\"}]\nmax_in_flight = 60\n";
    truth(ramp, &[]);
    truth(ramp, &["--workers", "2"]);
}

#[test]
fn the_lean_client_reports_exactly_what_the_endpoint_did_from_one_process_and_from_three_workers() {
    let closed = "[load]\nmodel = \"closed\"\nin_flight = 20\ncalls = 400\n";
    truth(closed, &["--client", "lean"]);
    truth(closed, &["--client", "lean", "--workers", "3"]);
}

#[test]
fn a_template_workload_and_mapped_answers_report_exactly_what_the_endpoint_did() {
    let closed = "[load]\nmodel = \"closed\"\nin_flight = 20\ncalls = 400\n";
    truth_of(closed, &[], true);
    truth_of(closed, &["--workers", "3"], true);
}

//! A run against "AWS" with every AWS answer recorded: a loopback server stands in for
//! Lambda's Invoke and control-plane APIs and for CloudWatch's GetMetricData (RPC v2
//! CBOR), reached through the AWS configuration's own endpoint variables
//! (`AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL_CLOUDWATCH`) with placeholder
//! credentials. It proves, end to end and offline: the quota warning before the run and
//! in `harness doctor --scenario`, 429s explained by their reason, REPORT lines from the
//! log tail, a server-side view that is not yet available right after the run, and
//! `harness report --fetch-metrics` filling it in with the database's cost.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_smithy_cbor::Encoder;
use aws_smithy_types::DateTime;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::{get, post};
use serde_json::{json, Value};
use transfer::local::report::Invocation;

mod common;

use common::*;

/// What the server has answered: invocations (every 10th throttled), and GetMetricData
/// calls (the first finds nothing yet for DSQL).
#[derive(Default)]
struct Seen {
    invocations: AtomicU64,
    metric_calls: AtomicU64,
    /// The functions each connectivity call named.
    connectivity: std::sync::Mutex<Vec<String>>,
}

const THROTTLE_EVERY: u64 = 10;

async fn invoke(
    State(seen): State<Arc<Seen>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response<Body> {
    if headers.get("x-amz-invocation-type").is_some_and(|v| v == "DryRun") {
        return Response::builder().status(204).body(Body::empty()).unwrap();
    }
    if String::from_utf8_lossy(&body).contains("connectivity") {
        seen.connectivity.lock().unwrap().push(name);
        return json_answer(json!({"greeting": "connected to the recorded answers"}));
    }
    let k = seen.invocations.fetch_add(1, Ordering::SeqCst);
    if k % THROTTLE_EVERY == 0 {
        return Response::builder()
            .status(429)
            .header("x-amzn-ErrorType", "TooManyRequestsException")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"Reason": "ConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."})
                    .to_string(),
            ))
            .unwrap();
    }
    let report = Invocation {
        request_id: "0c2f5b7e-61d4-4a8e-9f3b-7d21c9e4a5b6",
        duration: std::time::Duration::from_millis(12),
        init: (k == 1).then(|| std::time::Duration::from_millis(150)),
        memory_size_mb: 512,
        max_memory_used_mb: 40,
        status: None,
    };
    let tail = headers.get("x-amz-log-type").is_some_and(|v| v == "Tail");
    let mut r = Response::builder().status(200).header("content-type", "application/json");
    if tail {
        r = r.header("X-Amz-Log-Result", report.log_result());
    }
    let body =
        json!({"balance": 90, "duration_us": 12_000, "retries": 0, "greeting": "Hello from the recorded answers"});
    r.body(Body::from(body.to_string())).unwrap()
}

fn json_answer(v: Value) -> Response<Body> {
    Response::builder().status(200).header("content-type", "application/json").body(Body::from(v.to_string())).unwrap()
}

/// GetMetricData's answer in CBOR: Lambda's values but none yet of DSQL's the first
/// time, every value the second, and an internal error from the third on.
async fn metrics(State(seen): State<Arc<Seen>>) -> Response<Body> {
    let call = seen.metric_calls.fetch_add(1, Ordering::SeqCst);
    if call >= 2 {
        let body = json!({"__type": "InternalServiceError", "message": "Internal\n  failure,\n  please retry"});
        return Response::builder()
            .status(500)
            .header("content-type", "application/cbor")
            .header("smithy-protocol", "rpc-v2-cbor")
            .body(Body::from(body.to_string()))
            .unwrap();
    }
    let first = call == 0;
    let answered = seen.invocations.load(Ordering::SeqCst);
    let throttles = answered.div_ceil(THROTTLE_EVERY);
    let values = [
        ("invocations", (answered - throttles) as f64),
        ("errors", 0.0),
        ("throttles", throttles as f64),
        ("concurrency", 100.0),
        ("duration_p50", 12.0),
        ("duration_p99", 14.5),
        ("transactions", (answered - throttles) as f64),
        ("occ_conflicts", 0.0),
        ("commit_latency", 6.0),
        ("dpus", 12_500.0),
    ];
    let mut e = Encoder::new(Vec::new());
    e.map(2).str("MetricDataResults").array(values.len());
    for (id, v) in values {
        let dsql = ["transactions", "occ_conflicts", "commit_latency", "dpus"].contains(&id);
        let have = !first || !dsql;
        e.map(4).str("Id").str(id).str("Timestamps");
        if have {
            e.array(1).timestamp(&DateTime::from_secs(1_796_000_040));
        } else {
            e.array(0);
        }
        e.str("Values");
        if have {
            e.array(1).double(v);
        } else {
            e.array(0);
        }
        e.str("StatusCode").str(if have { "Complete" } else { "PartialData" });
    }
    e.str("Messages").array(0);
    Response::builder()
        .status(200)
        .header("content-type", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor")
        .body(Body::from(e.into_writer()))
        .unwrap()
}

fn serve(runtime: &tokio::runtime::Runtime, seen: Arc<Seen>) -> String {
    let app = axum::Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route(
            "/2016-08-19/account-settings",
            get(|| async {
                json_answer(json!({"AccountLimit": {"ConcurrentExecutions": 100, "UnreservedConcurrentExecutions": 100,
                    "TotalCodeSize": 80530636800i64, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800},
                    "AccountUsage": {"TotalCodeSize": 1, "FunctionCount": 1}}))
            }),
        )
        .route("/2019-09-30/functions/{name}/concurrency", get(|| async { json_answer(json!({})) }))
        .route(
            "/2019-09-30/functions/{name}/provisioned-concurrency",
            get(|| async { json_answer(json!({"ProvisionedConcurrencyConfigs": []})) }),
        )
        .route("/service/GraniteServiceVersion20100801/operation/GetMetricData", post(metrics))
        .fallback(
            |uri: axum::http::Uri| async move { (StatusCode::NOT_FOUND, format!("no recorded answer for {uri}")) },
        )
        .with_state(seen);
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// `harness` with the AWS configuration pointed at the recorded answers.
fn aws_harness(url: &str, home: &std::path::Path, args: &[&str]) -> std::process::Output {
    command()
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "AKIDOFFLINE")
        .env("AWS_SECRET_ACCESS_KEY", "offline-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_LAMBDA", url)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap()
}

fn f(v: &Value, path: &str) -> f64 {
    v.pointer(path).and_then(Value::as_f64).unwrap_or_else(|| panic!("{path} missing in {v}"))
}

#[test]
fn an_aws_run_offline_warns_of_the_quota_explains_429s_and_fetches_its_metrics_later() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seen = Arc::new(Seen::default());
    let url = serve(&runtime, seen.clone());
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("aws.toml");
    std::fs::write(
        &scenario,
        "[target]\nkind = \"aws\"\nfunction = \"reinvent-dat401\"\ncluster_id = \"abcdefghijklmnopqrst1234\"\n\
         [load]\nmodel = \"closed\"\nin_flight = 200\ncalls = 300\n",
    )
    .unwrap();
    let scenario = scenario.to_str().unwrap();

    // The doctor: 200 calls in flight against an account whose unreserved concurrency is 100.
    let out = aws_harness(&url, dir.path(), &["doctor", "--scenario", scenario, "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    let quotas = v["checks"].as_array().unwrap().iter().find(|c| c["check"] == "concurrency quotas").unwrap();
    assert_eq!(quotas["status"], "fail", "{v}");
    assert!(quotas["detail"]
        .as_str()
        .unwrap()
        .contains("the account's unreserved concurrency (100) in us-east-1, a quota"));
    assert!(quotas["fix"].as_str().unwrap().contains("Service Quotas"));

    // The run: warned first, then every call accounted for, 429s by their reason.
    let results = dir.path().join("results");
    let out = aws_harness(&url, dir.path(), &["run", scenario, "--results", results.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains(
            "warning: the scenario keeps 200 calls in flight, beyond the account's unreserved concurrency (100)"
        ),
        "{}",
        text(&out)
    );
    let summary_path = summary_in(&results).unwrap_or_else(|| panic!("{}", text(&out)));
    let s: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    validate_against_schema(&s);
    let throttles = 300u64.div_ceil(THROTTLE_EVERY);
    assert_eq!(s["totals"]["errors"]["throttle"], throttles);
    assert!(
        stdout.contains(&format!("ConcurrentInvocationLimitExceeded: {throttles} (the account's concurrency quota")),
        "{stdout}"
    );
    // The REPORT lines of the answered calls, one cold.
    assert_eq!(n(&s, "/totals/platform/reports"), 300 - throttles);
    assert_eq!(n(&s, "/totals/platform/cold_starts"), 1);
    assert_eq!(n(&s, "/totals/platform/billed_ms_total"), (300 - throttles) * 12 + 150);
    // Right after the run CloudWatch has nothing for DSQL yet: said plainly.
    assert_eq!(s["server"]["complete"], false, "{}", s["server"]);
    assert!(s["server"]["notes"][0].as_str().unwrap().starts_with("not yet available from CloudWatch: transactions"));
    assert!(s["cost"]["database"]["usd"].is_null());
    assert!(s["cost"]["database"]["how"].as_str().unwrap().contains("--fetch-metrics"));
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");

    // Later: the metrics are in; the view completes and the database's cost appears.
    let run_dir = summary_path.parent().unwrap().to_str().unwrap().to_string();
    let out = aws_harness(&url, dir.path(), &["report", &run_dir, "--fetch-metrics"]);
    assert!(out.status.success(), "{}", text(&out));
    let s: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    validate_against_schema(&s);
    assert_eq!(s["server"]["complete"], true, "{}", s["server"]);
    assert_eq!(n(&s, "/server/lambda/throttles"), throttles);
    assert!((f(&s, "/cost/database/usd") - 12_500.0 * 8.0 / 1e6).abs() < 1e-12, "{}", s["cost"]);
    // Billed GB-s at 512 MB x $0.0000166667, plus the requests at $0.20 per million.
    let gb_s = ((300 - throttles) * 12 + 150) as f64 * 512.0 / 1024.0 / 1000.0;
    let lambda = gb_s * 0.000_016_666_7 + (300 - throttles) as f64 * 0.2 / 1e6;
    assert!((f(&s, "/cost/lambda/usd") - lambda).abs() < 1e-12, "{}", s["cost"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("Throttles:          client saw {throttles}; Lambda counted {throttles}")),
        "{stdout}"
    );
    assert!(stdout.contains("DPUs:               12500"), "{stdout}");
    assert_eq!(seen.metric_calls.load(Ordering::SeqCst), 2);

    // A fetch that fails (CloudWatch answers 500) keeps every earlier figure, fails the
    // command and says what failed in one line.
    let out = aws_harness(&url, dir.path(), &["report", &run_dir, "--fetch-metrics"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let kept: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!(kept["server"], s["server"], "the earlier view stands");
    assert_eq!(kept["cost"], s["cost"], "and the cost with it");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("not fetched")).collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(said[0].contains("GetMetricData") && said[0].len() < 600, "{}", said[0]);
    assert_eq!(seen.metric_calls.load(Ordering::SeqCst), 3);
}

/// `harness doctor --scenario` with two kinds of call, each with its own function and
/// load: each function is checked for invocation and against the quota with its own
/// kind's calls in flight, and each kind's payload is sent to its own function.
#[test]
fn the_doctor_checks_every_function_a_scenario_calls_with_its_own_calls_in_flight() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seen = Arc::new(Seen::default());
    let url = serve(&runtime, seen.clone());
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("kinds.toml");
    std::fs::write(
        &scenario,
        "[target]\nkind = \"aws\"\nfunction = \"reinvent-dat401\"\n\
         [[call]]\nname = \"read\"\nfunction = \"reader\"\ntemplate = { op = \"connectivity\", n = 1 }\n\
         load = { model = \"closed\", in_flight = 120, calls = 500 }\n\
         [[call]]\nname = \"write\"\ntemplate = { op = \"connectivity\", n = 2 }\n\
         load = { model = \"closed\", in_flight = 30, calls = 500 }\n",
    )
    .unwrap();
    let out = aws_harness(&url, dir.path(), &["doctor", "--scenario", scenario.to_str().unwrap(), "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    let of = |check: &str| -> Vec<(String, String)> {
        let found = v["checks"].as_array().unwrap().iter().filter(|c| c["check"] == check);
        found.map(|c| (c["status"].as_str().unwrap().to_string(), c["detail"].to_string())).collect()
    };
    let invoke = of("function exists and may be invoked");
    assert_eq!(invoke.len(), 2, "{v}");
    assert!(invoke[0].1.contains("reader") && invoke[1].1.contains("reinvent-dat401"), "{invoke:?}");
    let calls = of("a call with the scenario's payload");
    assert_eq!(calls.len(), 2, "{v}");
    assert!(calls[0].1.starts_with("\"kind \\\"read\\\" (reader): "), "{calls:?}");
    assert!(calls[1].1.starts_with("\"kind \\\"write\\\" (reinvent-dat401): "), "{calls:?}");
    assert_eq!(*seen.connectivity.lock().unwrap(), ["reader", "reinvent-dat401"], "each kind to its own function");
    let quotas = of("concurrency quotas");
    assert_eq!(quotas.len(), 2, "{v}");
    assert_eq!(quotas[0].0, "fail", "120 of reader's calls in flight, beyond the 100 unreserved: {quotas:?}");
    assert!(quotas[0].1.contains("reader: ") && quotas[0].1.contains("120"), "{quotas:?}");
    assert_eq!(quotas[1].0, "ok", "30 in flight to reinvent-dat401 fit: {quotas:?}");
    assert!(quotas[1].1.contains("reinvent-dat401: "), "{quotas:?}");
    assert_eq!(out.status.code(), Some(1), "a failed check fails the doctor");
}

//! What Lambda and the database saw, on the local stack: `local-lambda` answers
//! `X-Amz-Log-Type: Tail` with a REPORT line; a run prints and records the REPORT
//! figures (billed and init duration, cold starts), the cost per 1,000 transfers and
//! the hot accounts; a Zipf run shows its concentration where a uniform run of the same
//! size shows none.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod common;

use common::*;

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `local-lambda`, built beside the harness by `cargo test --workspace`.
fn local_lambda() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_harness")).with_file_name("local-lambda");
    assert!(path.exists(), "{} is missing: run `cargo test --workspace`, which builds it", path.display());
    path
}

/// One Invoke over plain HTTP/1.1, as `curl -H 'X-Amz-Log-Type: Tail'` sends it: the
/// status line and the headers, lower-cased names.
fn invoke_with_tail(addr: &str, body: &str) -> (String, Vec<(String, String)>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let request = format!(
        "POST /2015-03-31/functions/reinvent-dat401/invocations HTTP/1.1\r\nHost: {addr}\r\n\
         X-Amz-Log-Type: Tail\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let head = response.split("\r\n\r\n").next().unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    (status, headers)
}

#[test]
fn local_lambda_answers_a_tail_request_with_a_report_line() {
    let tmp = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Killed(
        Command::new(local_lambda())
            .args(["--listen", &addr, "--accounts", "10", "--memory-size", "256", "--init-cost-ms", "75"])
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = std::io::BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("serving function") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0, "local-lambda ended before serving");
    }
    let body = r#"{"payer_id":1,"payee_id":2,"amount":5}"#;
    let reports: Vec<_> = (0..2)
        .map(|_| {
            let (status, headers) = invoke_with_tail(&addr, body);
            assert!(status.starts_with("HTTP/1.1 200"), "{status}");
            let encoded = headers.iter().find(|(k, _)| k == "x-amz-log-result").map(|(_, v)| v.clone());
            workers::platform::from_log_result(&encoded.expect("X-Amz-Log-Result")).unwrap()
        })
        .collect();
    assert_eq!(reports[0].memory_size_mb, 256);
    assert!(reports[0].init_us.unwrap() >= 75_000, "a cold start with its configured cost: {:?}", reports[0]);
    assert!(reports[0].billed_ms * 1_000 >= reports[0].duration_us + reports[0].init_us.unwrap());
    assert_eq!(reports[1].init_us, None, "the second call is warm");
    assert!(reports[1].max_memory_used_mb > 0 && reports[1].status.is_none());
}

fn f(s: &Value, path: &str) -> f64 {
    s.pointer(path).and_then(Value::as_f64).unwrap_or_else(|| panic!("{path} missing"))
}

#[test]
fn a_local_run_reports_billing_cold_starts_cost_and_hot_accounts() {
    let (out, summary, dir) = run(&[&scenario("ch04-10k.toml"), "--batches", "2", "--parallel", "300"]);
    let s = summary.unwrap_or_else(|| panic!("{}", text(&out)));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    validate_against_schema(&s);
    // Every call's REPORT line, and the environments' cold starts among them.
    let p = &s["totals"]["platform"];
    assert_eq!(n(&s, "/totals/platform/reports"), 600, "{}", text(&out));
    let cold = n(&s, "/totals/platform/cold_starts");
    assert_eq!(cold, n(&s, "/environments/cold_starts"), "each new environment is one Init Duration");
    assert!(cold >= 1 && cold <= 32);
    let billed = n(&s, "/totals/platform/billed_ms_total");
    assert_eq!(n(&s, "/totals/platform/billed_mb_ms_total"), billed * 128, "128 MB, the default memory size");
    for line in ["Lambda REPORT Lines (600 of 600 calls):", "Billed Duration:", "Cold starts:", "Init Duration p50"] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    // The cost: Lambda's from the REPORT lines, by hand; the database's absent, saying why.
    let gb_s = billed as f64 * 128.0 / 1024.0 / 1000.0;
    let lambda = gb_s * 0.000_016_666_7 + 600.0 * 0.20 / 1e6;
    assert!((f(&s, "/cost/lambda/usd") - lambda).abs() < 1e-12, "{}", s["cost"]);
    assert!((f(&s, "/cost/per_1000_successful_usd") - lambda * 1000.0 / 600.0).abs() < 1e-12);
    assert!(s["cost"]["database"]["usd"].is_null());
    assert!(s["cost"]["database"]["how"].as_str().unwrap().contains("no DPUs"));
    assert!(stdout.contains("Per 1,000 successful transfers: $"), "{stdout}");
    // The hot accounts: every transfer's two accounts counted.
    let hot = &s["hot_accounts"];
    assert_eq!(hot["accounts"], 1000);
    let top = hot["top"].as_array().unwrap();
    assert_eq!(top.len(), 20);
    assert!(stdout.contains("Hot Accounts ("), "{stdout}");
    let html = std::fs::read_to_string(summary_in(dir.path()).unwrap().with_file_name("report.html")).unwrap();
    assert!(html.contains("id=\"hot-accounts\"") && html.contains("id=\"lambda\""));
    assert_eq!(p["unreadable"], 0);
    // The server-side view: the endpoint's and PostgreSQL's own counts beside the client's.
    let v = &s["server"];
    assert_eq!(v["complete"], true);
    assert_eq!(n(&s, "/server/lambda/invocations"), 600, "the endpoint ran every call");
    assert_eq!(n(&s, "/server/lambda/throttles"), 0);
    assert!(n(&s, "/server/database/committed") >= 600, "{v}");
    assert_eq!(
        n(&s, "/server/database/occ_conflicts"),
        n(&s, "/totals/total_retries"),
        "every retry the function reported was a 40001 (or 40P01) PostgreSQL logged"
    );
    assert!(stdout.contains("Invocations:        client saw 600 answered; Lambda counted 600"), "{stdout}");
    // An AWS run's view is fetched again later; a local run's has nothing to fetch.
    let run_dir = summary_in(dir.path()).unwrap().parent().unwrap().to_path_buf();
    let again = harness(&["report", run_dir.to_str().unwrap(), "--fetch-metrics"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to fetch"), "{}", text(&again));
}

/// The busiest 1%'s share of the calls and of the retries.
fn shares(zipf: &str) -> (f64, Option<f64>, String) {
    let (out, summary, dir) = run(&[&scenario("hot-accounts.toml"), "--calls", "3000", "--zipf-exponent", zipf]);
    let s = summary.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let hot = &s["hot_accounts"];
    let html = std::fs::read_to_string(summary_in(dir.path()).unwrap().with_file_name("report.html")).unwrap();
    (f(hot, "/top_1pct_call_share"), hot["top_1pct_retry_share"].as_f64(), html)
}

#[test]
fn a_zipf_run_shows_its_hot_accounts_and_a_uniform_run_of_the_same_size_none() {
    let (zipf_calls, zipf_retries, html) = shares("1.1");
    assert!(zipf_calls > 0.4, "the lowest ids take most calls: {zipf_calls}");
    assert!(zipf_retries.unwrap() > 0.5, "and most retries: {zipf_retries:?}");
    // The chart of retries by rank is drawn (a panel of the page's data, not left out),
    // and the table of the top accounts is there.
    let chart = html.find("\"id\":\"hot-accounts-chart\"").map(|at| &html[at..]);
    let head = chart.and_then(|c| c.find("\"x_label\"").map(|end| &c[..end]));
    assert!(head.is_some_and(|h| !h.contains("left_out")), "the chart of retries by rank: {head:?}");
    assert!(html.contains("<table id=\"hot-accounts\">"), "the table of the top accounts");
    let (uniform_calls, uniform_retries) = {
        let (c, r, _) = shares("0");
        (c, r)
    };
    assert!(uniform_calls < 0.1, "no concentration: {uniform_calls}");
    assert!(uniform_retries.is_none_or(|r| r < zipf_retries.unwrap()), "{uniform_retries:?}");
}

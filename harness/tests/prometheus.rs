//! Prometheus as a Prometheus user sees it: a real run on the local stack with
//! `--metrics-listen`, `--metrics-linger` and `--metrics-push` to a small HTTP server of
//! the test's. After the run has written summary.json the endpoint still serves the
//! final figures; the p99 that PromQL's `histogram_quantile` computes from the scraped
//! buckets lies within its bucket's width of summary.json's exact p99, `_count` equals
//! the calls, both content types are served as asked, and the pushed body says the
//! same. Ctrl-C ends the linger at once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

mod common;

use common::*;

const LATENCY: &str = "harness_call_latency_seconds";

/// One scrape: (content type, body).
fn scrape(port: u16, accept: Option<&str>) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("the endpoint still serves");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n{accept}\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("an HTTP answer: {text}"));
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("a content type: {head}"));
    (content_type, body.to_string())
}

/// A sample's value, by its name and labels as written (`name{a="b"}`).
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line: {l}"));
            let value = if value == "+Inf" { f64::INFINITY } else { value.parse().unwrap() };
            (name.to_string(), value)
        })
        .collect()
}

/// The latency buckets summed over the outcomes: (upper bound, cumulative count),
/// ascending, `+Inf` last.
fn buckets(s: &BTreeMap<String, f64>) -> Vec<(f64, f64)> {
    let mut by_le: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for (name, v) in s.iter().filter(|(n, _)| n.starts_with(&format!("{LATENCY}_bucket{{"))) {
        let le = name.split("le=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
        let le: f64 = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
        by_le.entry(le.to_bits()).or_insert((le, 0.0)).1 += v;
    }
    let mut out: Vec<(f64, f64)> = by_le.into_values().collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// PromQL's `histogram_quantile(q, ...)` over classic buckets, as Prometheus computes
/// it: the bucket where rank q*count falls, linear interpolation inside it (the lowest
/// bucket starts at 0; in the `+Inf` bucket, the highest finite bound). Also returns
/// that bucket's bounds.
fn histogram_quantile(q: f64, b: &[(f64, f64)]) -> (f64, f64, f64) {
    let total = b.last().unwrap().1;
    let rank = q * total;
    let i = b.iter().position(|(_, c)| *c >= rank).unwrap();
    if b[i].0.is_infinite() {
        let top = b[i - 1].0;
        return (top, top, f64::INFINITY);
    }
    let (start, below) = if i == 0 { (0.0, 0.0) } else { (b[i - 1].0, b[i - 1].1) };
    let end = b[i].0;
    let in_bucket = b[i].1 - below;
    (start + (end - start) * (rank - below) / in_bucket, start, end)
}

/// A one-request-at-a-time HTTP server standing in for a Pushgateway: every request's
/// (request line, headers, body) is sent on the channel, and answered 200.
fn pushgateway() -> (u16, mpsc::Receiver<(String, String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = BufReader::new(conn.unwrap());
            let mut line = String::new();
            conn.read_line(&mut line).unwrap();
            let mut headers = String::new();
            let mut length = 0;
            loop {
                let mut h = String::new();
                conn.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                headers.push_str(&h);
            }
            let mut body = vec![0; length];
            conn.read_exact(&mut body).unwrap();
            conn.get_mut().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
            let _ = tx.send((line.trim().to_string(), headers, String::from_utf8(body).unwrap()));
        }
    });
    (port, rx)
}

/// The bucket bounds (and the p99 in them) against summary.json's exact p99.
fn check_p99(s: &BTreeMap<String, f64>, summary: &Value, what: &str) {
    let hist = workers::Hist::decode(summary["totals"]["latency_us"].as_str().unwrap()).unwrap();
    let exact = hist.quantile(0.99) as f64 / 1e6;
    let b = buckets(s);
    assert_eq!(b.last().unwrap().1 as u64, hist.count(), "{what}: the buckets hold every call");
    let (p99, start, end) = histogram_quantile(0.99, &b);
    // The exact p99 is in the same bucket (to HDR's 0.1% resolution), so the estimate is
    // within that bucket's width of it.
    assert!(
        start <= exact * 1.001 && exact <= end * 1.001,
        "{what}: p99 {exact} s outside its bucket ({start}, {end}]"
    );
    let width = end - start;
    assert!((p99 - exact).abs() <= width + exact * 0.001, "{what}: histogram_quantile {p99} s vs exact {exact} s");
    assert!(width <= 0.25 * start.max(1e-4) + 1e-9, "{what}: the bucket ({start}, {end}] is at most 25% wide");
}

#[test]
fn a_scrape_after_the_run_and_the_push_give_its_totals_and_p99() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prom.toml");
    let load = "model = \"closed\"\nstages = [{target = 4, duration = \"1s\"}, {target = 4, duration = \"2s\"}]\n";
    std::fs::write(&file, format!("name = \"prom\"\n[data]\naccounts = 50\n[load]\n{load}")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (push_port, pushed) = pushgateway();
    let tmp =
        tempfile::Builder::new().permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755)).tempdir().unwrap();
    let results = dir.path().join("results");
    let mut child = spawn(
        &[
            "run",
            file.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
            "--metrics-listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-linger",
            "600",
            "--metrics-push",
            &format!("http://127.0.0.1:{push_port}/"),
        ],
        tmp.path(),
    );
    // The push comes after summary.json is written, and before the linger.
    let Ok((line, headers, body)) = pushed.recv_timeout(Duration::from_secs(180)) else {
        let _ = child.kill();
        panic!("no push within 180 s: {}", text(&child.wait_with_output().unwrap()))
    };
    let summary_file = summary_in(&results);
    assert!(child.try_wait().unwrap().is_none(), "the run still serves its metrics after its report");
    let summary: Value = serde_json::from_slice(&std::fs::read(summary_file.expect("summary.json")).unwrap()).unwrap();
    let calls = n(&summary, "/totals/calls");
    assert!(calls > 0, "{summary}");

    // OpenMetrics when asked for, as Prometheus asks.
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                             version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (ctype, om) = scrape(port, Some(prometheus_accept));
    assert_eq!(ctype, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(om.ends_with("# EOF\n") && om.contains("# TYPE harness_calls counter\n"), "{om}");
    assert!(om.contains(&format!("# TYPE {LATENCY} histogram\n")), "{om}");
    let s = samples(&om);
    assert_eq!(s["harness_calls_total"] as u64, calls);
    let counts: f64 = s.iter().filter(|(k, _)| k.starts_with(&format!("{LATENCY}_count{{"))).map(|(_, v)| v).sum();
    assert_eq!(counts as u64, calls, "_count over the outcomes equals the calls");
    assert_eq!(s[&format!("{LATENCY}_count{{outcome=\"success\"}}")] as u64, n(&summary, "/totals/successes"));
    check_p99(&s, &summary, "OpenMetrics scrape");

    // The classic text format otherwise, with the same figures.
    let (ctype, classic) = scrape(port, None);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!classic.contains("# EOF") && classic.contains("# TYPE harness_calls_total counter\n"), "{classic}");
    assert_eq!(buckets(&samples(&classic)), buckets(&s), "both formats carry the same buckets");
    assert_eq!(scrape(port, Some("text/plain;version=0.0.4")).0, ctype);

    // The push: the run's group, the classic format, the final figures.
    let run_id = summary["run_id"].as_str().unwrap();
    assert_eq!(line, format!("PUT /metrics/job/harness/instance/{run_id} HTTP/1.1"));
    assert!(headers.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{headers}");
    let p = samples(&body);
    assert_eq!(p["harness_calls_total"] as u64, calls, "{body}");
    assert_eq!(buckets(&p), buckets(&s), "the push carries the final buckets");
    check_p99(&p, &summary, "push");

    // Ctrl-C ends the linger at once (600 s asked for), and the run's status stands.
    signal(child.id(), "INT");
    assert!(wait_for(Duration::from_secs(60), || child.try_wait().unwrap().is_some()), "Ctrl-C ended the linger");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Serving the final metrics on http://127.0.0.1:{port}/metrics for 600s")),
        "{stderr}"
    );
}

#[test]
fn a_push_that_fails_is_reported_and_the_run_stands() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (out, summary, _dir) = run(&[&scenario("smoke.toml"), "--metrics-push", &format!("http://127.0.0.1:{closed}")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(summary.is_some(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("warning: --metrics-push http://127.0.0.1:{closed}")), "{stderr}");
    assert!(stderr.contains("could not connect"), "{stderr}");
    assert!(!stderr.contains("Serving the final metrics"), "no endpoint, no linger: {stderr}");
    let bad = harness(&["run", &scenario("smoke.toml"), "--metrics-push", "https://gw:9091"]);
    assert!(!bad.status.success() && text(&bad).contains("is not an http:// URL"), "{}", text(&bad));
}

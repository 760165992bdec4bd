//! Live metrics out: a real run on the local stack serves Prometheus metrics while it
//! goes and streams one JSON line per second; the scraped counters equal the stream's
//! cumulative figures for the same second, and the stream's last line equals the
//! run's final totals in summary.json.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use serde_json::Value;

mod common;

use common::*;

/// One scrape: (elapsed seconds, calls, successes, errors over every class).
fn scrape(port: u16) -> Option<(f64, u64, u64, u64)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\nAccept: application/openmetrics-text\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    assert!(text.contains("application/openmetrics-text"), "{text}");
    let value = |line: &str| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
    let (mut elapsed, mut calls, mut ok, mut errors) = (None, None, None, 0.0);
    for line in text.lines() {
        if line.starts_with("harness_elapsed_seconds ") {
            elapsed = Some(value(line));
        } else if line.starts_with("harness_calls_total ") {
            calls = Some(value(line) as u64);
        } else if line.starts_with("harness_successes_total ") {
            ok = Some(value(line) as u64);
        } else if line.starts_with("harness_errors_total{") {
            errors += value(line);
        }
    }
    Some((elapsed?, calls?, ok?, errors as u64))
}

#[test]
fn prometheus_and_ndjson_add_up_to_the_final_totals() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.toml");
    // A ramping closed model: up to 4 in flight, held, and down again.
    let load = "model = \"closed\"\nstages = [{target = 4, duration = \"1s\"}, {target = 4, duration = \"2s\"}, \
                {target = 0, duration = \"1s\"}]\n";
    std::fs::write(&file, format!("name = \"live\"\n[data]\naccounts = 50\n[load]\n{load}")).unwrap();
    let ndjson = dir.path().join("live.ndjson");
    let emf = dir.path().join("live.emf");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
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
            "0",
            "--out",
            &format!("json={}", ndjson.display()),
            "--out",
            &format!("emf={}", emf.display()),
        ],
        tmp.path(),
    );
    let mut scrapes = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < until {
        scrapes.extend(scrape(port));
        std::thread::sleep(Duration::from_millis(150));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let lines: Vec<Value> =
        std::fs::read_to_string(&ndjson).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Value = serde_json::from_slice(&std::fs::read(summary_in(&results).unwrap()).unwrap()).unwrap();
    validate_against_schema(&summary);
    let load = &summary["plan"]["engine"]["load"];
    assert_eq!(load["model"], "closed_ramp", "{load:#}");
    assert_eq!(lines.len(), summary["intervals"].as_array().unwrap().len(), "one line per recorded second");
    let last = &lines.last().unwrap()["total"];
    assert_eq!(last["calls"], summary["totals"]["calls"]);
    assert_eq!(last["successes"], summary["totals"]["successes"]);
    let per_second: u64 = lines.iter().map(|l| l["second"]["calls"].as_u64().unwrap()).sum();
    assert_eq!(per_second, n(&summary, "/totals/calls"), "the seconds add up to the total");

    // CloudWatch EMF: each line declares its metrics, each metric is a number on the
    // line, and the seconds' Calls add up to the run's.
    let emf: Vec<Value> =
        std::fs::read_to_string(&emf).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(emf.len(), lines.len(), "one EMF line per second");
    let mut emf_calls = 0.0;
    for line in &emf {
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "LoadHarness");
        assert_eq!(declared["Dimensions"], serde_json::json!([["Scenario"]]));
        assert_eq!(line["Scenario"], "live");
        assert!(line["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000, "milliseconds since the epoch");
        for m in declared["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} declared and given: {line}");
        }
        emf_calls += line["Calls"].as_f64().unwrap();
    }
    assert_eq!(emf_calls as u64, n(&summary, "/totals/calls"));

    let seen: Vec<_> = scrapes.iter().filter(|s| s.0 > 0.0).collect();
    assert!(seen.len() >= 2, "scraped at least two recorded seconds during the run: {scrapes:?}");
    for (elapsed, calls, ok, errors) in seen {
        let line = lines
            .iter()
            .find(|l| (l["start_s"].as_f64().unwrap() + l["seconds"].as_f64().unwrap() - elapsed).abs() < 0.0025)
            .unwrap_or_else(|| panic!("no NDJSON second ends at {elapsed}"));
        assert_eq!(line["total"]["calls"], *calls, "scraped calls at {elapsed} s");
        assert_eq!(line["total"]["successes"], *ok, "scraped successes at {elapsed} s");
        assert_eq!(line["total"]["errors"], *errors, "scraped errors at {elapsed} s");
    }
}

//! The run folder as users review it: summary.json against its JSON Schema, the CSV
//! files, the HdrHistogram log, report.html in headless Chromium, files written while
//! the run goes, and `harness check` as a CI gate.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use transfer::local::{LocalPostgres, PgOptions};

#[path = "reports/browser.rs"]
mod browser;
mod common;

use browser::{browse, left_out, scenario_file, series};
use common::*;

const DERIVED: [&str; 5] = ["timeseries.csv", "workers.csv", "errors.csv", "latency.hlog", "report.html"];

fn run_dir(results: &Path) -> PathBuf {
    summary_in(results).expect("a run folder with summary.json").parent().unwrap().to_path_buf()
}

#[test]
fn run_folder_validates_round_trips_and_re_renders_identically() {
    let (out, summary, results) =
        run(&[&scenario("ch04-no-retry.toml"), "--accounts", "10", "--parallel", "100", "--batches", "3"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary.unwrap();
    let dir = run_dir(results.path());
    let intervals = s["intervals"].as_array().unwrap();

    validate_against_schema(&s);
    let mut broken = s.clone();
    broken["totals"]["errors"]["mystery"] = 1.into();
    broken["end"]["stop"] = "exploded".into();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/../schemas/summary.schema.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap();
    let errors = jsonschema::validator_for(&schema).unwrap().iter_errors(&broken).count();
    assert!(errors >= 2, "the schema refuses an unknown error class and stop reason, found {errors} errors");

    let mut series = csv::Reader::from_path(dir.join("timeseries.csv")).unwrap();
    let header: Vec<String> = series.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header[..5], ["start_s", "seconds", "calls", "successes", "errors"]);
    assert!(header.contains(&"latency_p99_ms".to_string()) && header.contains(&"throttle".to_string()));
    let rows: Vec<csv::StringRecord> = series.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), intervals.len(), "one row per second");
    let calls: u64 = rows.iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(calls, n(&s, "/totals/calls"));

    let mut workers = csv::Reader::from_path(dir.join("workers.csv")).unwrap();
    let columns: Vec<String> = workers.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(columns[..5], ["worker", "address", "status", "seconds", "calls"]);
    let rows: Vec<csv::StringRecord> = workers.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "one local worker");
    assert_eq!((&rows[0][0], &rows[0][2]), ("local", "completed"));
    assert_eq!(rows[0][4].parse::<u64>().unwrap(), n(&s, "/totals/calls"));

    let mut errors = csv::Reader::from_path(dir.join("errors.csv")).unwrap();
    let counted: u64 = errors.records().map(|r| r.unwrap()[2].parse::<u64>().unwrap()).sum();
    assert_eq!(counted, n(&s, "/totals/errors/function"), "conflicts without retries are in errors.csv");

    // The log, read back with HdrHistogram's own reader, holds exactly the summary's histograms.
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let log = std::fs::read(dir.join("latency.hlog")).unwrap();
    let mut merged = workers::Hist::default();
    let (mut entries, mut start_time, mut base_time) = (0, None, None);
    for entry in IntervalLogIterator::new(&log) {
        match entry.expect("a valid interval log") {
            LogEntry::StartTime(t) => start_time = Some(t),
            LogEntry::BaseTime(t) => base_time = Some(t),
            LogEntry::Interval(_) => {}
        }
    }
    // The log says when the run started (seconds since the epoch), as summary.json does.
    let started = s["started_at"].as_str().unwrap();
    let epoch = std::process::Command::new("date").args(["-u", "-d", started, "+%s"]).output().unwrap();
    let epoch: u64 = String::from_utf8_lossy(&epoch.stdout).trim().parse().unwrap();
    assert_eq!(start_time.map(|t| t.as_secs()), Some(epoch), "StartTime is {started}");
    assert_eq!(base_time, start_time, "timestamps count from the run's start");
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(h) = entry.expect("a valid interval log") {
            entries += 1;
            if h.tag().map(|t| t.as_str()) == Some("latency") {
                // The log's encoding is the one summary.json uses: base64 of V2 + DEFLATE.
                merged.merge(&workers::Hist::decode(h.encoded_histogram()).expect("an HdrHistogram V2 encoding"));
            }
        }
    }
    assert_eq!(entries, 2 * intervals.len(), "a latency and a function histogram per second");
    let total = workers::Hist::decode(s["totals"]["latency_us"].as_str().unwrap()).unwrap();
    assert_eq!(merged, total, "the per-second log merges to the run's histogram");

    // `harness report` re-renders the same files from summary.json.
    let read_all = || -> Vec<Vec<u8>> { DERIVED.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect() };
    let before = read_all();
    for f in DERIVED {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let out = harness(&["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Error Breakdown:"));
    assert!(before == read_all(), "re-rendered files differ from the run's");
    old_summaries_still_read(&s, &dir);
}

/// The same run written as schema version 1 did (the error breakdown flat, keyed
/// `class: message`): `harness report` renders the same errors from it, and `harness
/// check` takes it as a baseline.
fn old_summaries_still_read(s: &Value, dir: &Path) {
    let mut old = s.clone();
    old["schema_version"] = 1.into();
    let mut flat = serde_json::Map::new();
    for (class, messages) in s["totals"]["error_messages"].as_object().unwrap() {
        for (message, count) in messages.as_object().unwrap() {
            flat.insert(format!("{class}: {message}"), count.clone());
        }
    }
    assert!(!flat.is_empty(), "the run had errors to flatten");
    old["totals"]["error_messages"] = Value::Object(flat);
    let old_dir = tempfile::tempdir().unwrap();
    std::fs::write(old_dir.path().join("summary.json"), serde_json::to_vec(&old).unwrap()).unwrap();
    let out = harness(&["report", old_dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let errors = |d: &Path| std::fs::read(d.join("errors.csv")).unwrap();
    assert_eq!(errors(old_dir.path()), errors(dir), "the same breakdown from a version 1 summary");
    let baseline = old_dir.path().join("summary.json");
    let out = harness(&["check", dir.to_str().unwrap(), "--baseline", baseline.to_str().unwrap(), "--format", "json"]);
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(verdict["baseline"], s["run_id"], "{}", text(&out));
}

#[test]
fn report_html_of_an_open_ramp_shows_the_planned_rate_offline_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let file = scenario_file(
        tmp.path(),
        "open-ramp",
        "[data]\naccounts = 100\n[load]\nmodel = \"open\"\nstart_rate = 10\nmax_in_flight = 100\nstages = [{ target = 60, duration = \"2s\" }, { rate = 60, duration = \"2s\" }]\n",
    );
    let (out, summary, results) = run(&[&file]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = run_dir(results.path());
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("https://").count(), 1, "the one URL is uPlot's banner comment");
    assert!(!html.contains("http://") && !html.contains(" src=") && !html.contains("<link"), "nothing to fetch");
    assert!(html.contains("<p id=\"verification\"><span class=\"pass\">PASS</span>"), "the verification's verdict");
    assert_eq!(html.matches("<script type=\"application/json\" id=\"report-data\">").count(), 1, "the data, once");

    let (drawn, left) = browse(&dir, "open-ramp");
    assert_eq!(series(&drawn, "planned-rate"), ["planned calls/s", "started calls/s"]);
    assert_eq!(series(&drawn, "throughput"), ["calls/s", "goodput/s"]);
    assert_eq!(series(&drawn, "latency"), ["p50", "p90", "p99", "max"]);
    assert_eq!(series(&drawn, "in-flight"), ["in flight"], "an open model plans no level in flight");
    assert!(left_out(&left, "workers").contains("one worker"), "{left:?}");
    assert!(left_out(&left, "errors").contains("no call failed"), "{left:?}");

    // timeseries.csv: the planned rate follows the ramp (22.5 calls/s on average in the
    // first second, from 10 up to 35, then 60 at the top), and the calls in flight.
    let mut csv = csv::Reader::from_path(dir.join("timeseries.csv")).unwrap();
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let (planned, in_flight) = (col("planned_rate"), col("in_flight"));
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    let rate = |k: usize| rows[k][planned].parse::<f64>().unwrap();
    assert!((rate(0) - 22.5).abs() < 1.0 && (rate(2) - 60.0).abs() < 1.0, "{rows:?}");
    assert!(rows.iter().all(|r| r[in_flight].parse::<u64>().is_ok()), "{rows:?}");
    assert_eq!(n(&summary.unwrap(), "/totals/calls"), 190);
}

#[test]
fn report_html_of_a_closed_ramp_shows_its_level_and_a_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let file = scenario_file(
        tmp.path(),
        "closed-ramp",
        "[data]\naccounts = 100\n[load]\nmodel = \"closed\"\nstages = [{ target = 8, duration = \"2s\" }, { target = 2, duration = \"2s\" }]\n",
    );
    let (out, _, results) = run(&[&file]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = run_dir(results.path());
    let (drawn, left) = browse(&dir, "closed-ramp");
    assert_eq!(series(&drawn, "in-flight"), ["in flight", "planned in flight"]);
    assert!(left_out(&left, "planned-rate").contains("ramping closed load model"), "{left:?}");
    let mut csv = csv::Reader::from_path(dir.join("timeseries.csv")).unwrap();
    let last = csv.headers().unwrap().iter().next_back().unwrap().to_string();
    assert_eq!(last, "planned_rate");
    assert!(csv.records().all(|r| r.unwrap().iter().next_back() == Some("")), "no planned rate for a closed model");

    // The same page with a baseline (here the run itself): its curves beside the run's.
    let (a, b) = (dir.to_str().unwrap(), dir.join("summary.json"));
    let out = harness(&["report", a, "--baseline", b.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let (drawn, _) = browse(&dir, "closed-ramp-baseline");
    assert_eq!(series(&drawn, "throughput"), ["calls/s", "goodput/s", "baseline calls/s", "baseline goodput/s"]);
    assert_eq!(series(&drawn, "latency")[4..], ["baseline p50", "baseline p99"]);
    assert_eq!(series(&drawn, "histogram"), ["this run", "baseline"]);
    assert!(series(&drawn, "distribution").contains(&"baseline client latency".to_string()));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<p id=\"baseline\">Baseline: "), "the page names its baseline");
}

#[test]
fn report_html_of_a_throttled_run_breaks_its_errors_down_by_class() {
    // 12 calls kept in flight on 2 environments that throttle, for 3 seconds.
    let tmp = tempfile::tempdir().unwrap();
    let file = scenario_file(
        tmp.path(),
        "throttled",
        "[data]\naccounts = 100\n[load]\nmodel = \"closed\"\nin_flight = 12\nduration = \"3s\"\n[local]\nenvironments = 2\noverflow = \"throttle\"\n",
    );
    let (out, summary, results) = run(&[&file]);
    let s = summary.unwrap_or_else(|| panic!("{}", text(&out)));
    assert!(n(&s, "/totals/errors/throttle") > 0, "{}", text(&out));
    let (drawn, _) = browse(&run_dir(results.path()), "throttled");
    assert_eq!(series(&drawn, "errors"), ["throttle/s"]);
    assert_eq!(series(&drawn, "in-flight"), ["in flight", "planned in flight"]);
}

#[test]
fn report_html_of_a_fleet_run_compares_its_workers() {
    let (out, _, results) = run(&[&scenario("smoke.toml"), "--workers", "3", "--parallel", "21", "--batches", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let (drawn, left) = browse(&run_dir(results.path()), "fleet");
    assert_eq!(series(&drawn, "workers"), ["calls"]);
    assert!(left_out(&left, "planned-rate").contains("batches load model"), "{left:?}");
}

#[test]
fn a_killed_run_leaves_the_seconds_it_ran() {
    let pg = LocalPostgres::start(&PgOptions::default()).expect("start PostgreSQL");
    let results = tempfile::tempdir().unwrap();
    let mut child = command()
        .args(["run", &scenario("hot-accounts.toml"), "--target", "in-process", "--duration", "60s"])
        .args(["--accounts", "1000", "--database-url", &pg.url(), "--results"])
        .arg(results.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rows = |dir: &Path| csv::Reader::from_path(dir.join("timeseries.csv")).map_or(0, |mut r| r.records().count());
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = loop {
        let dir = std::fs::read_dir(results.path()).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path());
        if let Some(dir) = dir.filter(|d| rows(d) >= 3) {
            break dir;
        }
        assert!(Instant::now() < deadline, "no three seconds of data within a minute");
        std::thread::sleep(Duration::from_millis(200));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!dir.join("summary.json").exists(), "killed before the end: no summary");
    assert!(rows(&dir) >= 3);
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let log = std::fs::read(dir.join("latency.hlog")).unwrap();
    let intervals = IntervalLogIterator::new(&log)
        .filter(|e| matches!(e.as_ref().expect("a valid interval log"), LogEntry::Interval(_)))
        .count();
    assert!(intervals >= 6, "two histograms per second already in latency.hlog, found {intervals}");
}

#[test]
fn check_gates_a_run_on_its_thresholds_and_a_baseline() {
    let (out, summary, results) = run(&[&scenario("smoke.toml")]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Thresholds:") && stdout.contains("PASS: 6 of 6 checks passed"), "{stdout}");
    assert!(stdout.contains("calls accounted for  100 ok + 0 failed + 0 abandoned + 0 not started"), "{stdout}");
    let dir = run_dir(results.path());
    let dir_s = dir.to_str().unwrap();

    let out = harness(&["check", dir_s, "--baseline", dir_s]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("latency shift vs baseline  0.000"), "a run is no regression of itself: {stdout}");

    // Stricter thresholds from another file fail, and say so in JUnit.
    let tmp = tempfile::tempdir().unwrap();
    let strict = tmp.path().join("strict.toml");
    std::fs::write(&strict, "[load]\nmodel = \"batches\"\nparallel = 1\nbatches = 1\n[thresholds]\nmax_p50_ms = 0.001\nmin_calls_per_s = 1000000\n").unwrap();
    let junit = tmp.path().join("junit.xml");
    let out = harness(&["check", dir_s, "--thresholds", strict.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // The two thresholds, the identity, the verification, and the default failure limit
    // (the file sets no success or failure limit of its own).
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL: 3 of 5 checks passed") && stdout.contains("failed calls (default limit)"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"5\" failures=\"2\""), "{xml}");

    // A baseline that was ten times faster: the throughput check fails.
    let mut fast = summary.unwrap();
    fast["end"]["elapsed_s"] = (fast["end"]["elapsed_s"].as_f64().unwrap() / 10.0).into();
    let baseline = tmp.path().join("baseline.json");
    std::fs::write(&baseline, serde_json::to_vec(&fast).unwrap()).unwrap();
    let out = harness(&["check", dir_s, "--baseline", baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout.lines().find(|l| l.starts_with("throughput vs baseline")).expect("a throughput row");
    assert!(row.ends_with("FAIL"), "{stdout}");

    // The run recorded its own checks; --update-report records the baseline verdict,
    // and report.html shows it.
    let recorded: Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(recorded["checks"].as_array().unwrap().len(), 6, "{}", recorded["checks"]);
    let out = harness(&["check", dir_s, "--baseline", baseline.to_str().unwrap(), "--update-report"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let recorded: Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let names: Vec<&str> = recorded["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"throughput vs baseline"), "{names:?}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("throughput vs baseline"), "report.html shows the baseline verdict");

    // For programs: the same verdict as JSON, and as Markdown appended to a step summary.
    let md = tmp.path().join("step-summary.md");
    std::fs::write(&md, "earlier step\n").unwrap();
    let out = harness(&["check", dir_s, "--format", "json", "--summary-md", md.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let verdict: Value = serde_json::from_slice(&out.stdout).expect("check --format json prints JSON");
    assert_eq!((verdict["passed"].as_bool(), verdict["checks"].as_array().map(Vec::len)), (Some(true), Some(6)));
    assert_eq!(verdict["checks"][0]["name"], "calls accounted for");
    valid_check_json(&verdict);
    // Numbers with their unit, not display strings.
    let accounted = &verdict["checks"][0];
    assert_eq!((accounted["value"].as_f64(), accounted["op"].as_str()), (Some(100.0), Some("=")), "{accounted}");
    assert_eq!((accounted["limit"].as_f64(), accounted["unit"].as_str()), (Some(100.0), Some("calls")));
    let success = verdict["checks"].as_array().unwrap().iter().find(|c| c["name"] == "success rate").unwrap();
    assert_eq!((success["value"].as_f64(), success["unit"].as_str()), (Some(100.0), Some("percent")), "{success}");
    assert_eq!(success["text"]["value"], "100.00%");
    let out = harness(&["check", dir_s, "--baseline", baseline.to_str().unwrap(), "--format", "json"]);
    let verdict: Value = serde_json::from_slice(&out.stdout).expect("check --format json prints JSON");
    valid_check_json(&verdict);
    let row = verdict["checks"].as_array().unwrap().iter().find(|c| c["name"] == "throughput vs baseline").unwrap();
    let (value, limit, was) =
        (row["value"].as_f64().unwrap(), row["limit"].as_f64().unwrap(), row["baseline"].as_f64().unwrap());
    assert!(value < limit && limit < was && row["unit"] == "calls/s" && row["op"] == ">=", "{row}");
    assert_eq!(row["passed"], false);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("earlier step\n### smoke `"), "appended, not overwritten: {md}");
    assert!(
        md.contains(
            "| calls accounted for | 100 ok + 0 failed + 0 abandoned + 0 not started | = 100 planned | - | PASS |"
        ),
        "{md}"
    );

    // stats.csv: the run in one row.
    let mut stats = csv::Reader::from_path(dir.join("stats.csv")).unwrap();
    let header: Vec<String> = stats.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<csv::StringRecord> = stats.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let field = |name: &str| rows[0][header.iter().position(|h| h == name).unwrap()].to_string();
    assert_eq!(
        (field("calls"), field("successes"), field("verification")),
        ("100".into(), "100".into(), "pass".into())
    );

    let out = harness(&["check", tmp.path().join("nothing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing"), "{}", text(&out));
}

/// `harness check --format json` against schemas/check.schema.json.
fn valid_check_json(verdict: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/../schemas/check.schema.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator.iter_errors(verdict).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}\n{verdict:#}");
    let mut broken = verdict.clone();
    broken["checks"][0]["value"] = "100 ok".into();
    assert!(!validator.is_valid(&broken), "the schema refuses a display string for a value");
}

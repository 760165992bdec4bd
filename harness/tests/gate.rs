//! The regression gate on real runs: six smoke runs of one build on the local stack
//! (real PostgreSQL, the real local Lambda endpoint), the last checked against the five
//! before as a history, passes; against runs whose latencies were cut to a tenth, and
//! a run with a second added inside every invocation, it fails. docs/gate.md describes the method.
//!
//! Five runs, not two: on a shared machine two smoke runs of one build differ by 40% in
//! p50 and throughput (batches of 20 calls that queue together, and whatever else the
//! machine runs), more than a history of two can explain; from five runs on the
//! history's spread gives a prediction bound (docs/gate.md#the-historys-bound).

use std::path::{Path, PathBuf};

use serde_json::Value;
use workers::Hist;

mod common;

use common::*;

/// `check --format json` against schemas/check.schema.json.
fn valid_check_json(verdict: &Value) {
    let path = format!("{}/../schemas/check.schema.json", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator.iter_errors(verdict).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}\n{verdict:#}");
}

/// The run folders in `results`, oldest first.
fn runs(results: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(results).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

/// The histogram with every value multiplied by `factor`, through the library.
fn scaled(h: &Hist, factor: f64) -> Hist {
    let hist = h.to_histogram();
    let mut out = Hist::default();
    for v in hist.iter_recorded() {
        let value = (hist.median_equivalent(v.value_iterated_to()) as f64 * factor) as u64;
        for _ in 0..v.count_at_value() {
            out.record(value);
        }
    }
    out
}

/// A copy of the summary at `run` with its latency histograms scaled by `factor`.
fn with_latency_scaled(run: &Path, factor: f64, to: &Path) -> PathBuf {
    let mut s: Value = serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    for field in ["latency_us", "success_latency_us"] {
        let h = Hist::decode(s["totals"][field].as_str().unwrap()).unwrap();
        s["totals"][field] = scaled(&h, factor).encode().into();
    }
    let path = to.join(format!("{}-x{factor}.json", run.file_name().unwrap().to_string_lossy()));
    std::fs::write(&path, serde_json::to_vec(&s).unwrap()).unwrap();
    path
}

fn check_json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    let out = harness(&all);
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    valid_check_json(&verdict);
    (out.status.code(), verdict)
}

fn row<'a>(verdict: &'a Value, name: &str) -> &'a Value {
    verdict["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn the_same_build_passes_against_its_history_and_a_slowdown_fails() {
    let results = tempfile::tempdir().unwrap();
    let smoke = scenario("smoke.toml");
    for _ in 0..6 {
        let out = harness(&["run", "--results", results.path().to_str().unwrap(), &smoke]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let dirs = runs(results.path());
    assert_eq!(dirs.len(), 6);
    let (last, results_s) = (dirs[5].to_str().unwrap(), results.path().to_str().unwrap());

    // The results folder as the history: the five earlier runs, not the last itself.
    let (code, verdict) = check_json(&[last, "--baseline", results_s]);
    assert_eq!(code, Some(0), "{verdict:#}");
    let names: Vec<String> = dirs[..5].iter().map(|d| d.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(verdict["baselines"], serde_json::json!(names));
    assert_eq!(verdict["baseline"], names[4]);
    for q in ["p50", "p90", "p99"] {
        let r = row(&verdict, &format!("latency {q} vs baseline"));
        let (low, value, high) = (r["interval"]["low"].as_f64(), r["value"].as_f64(), r["interval"]["high"].as_f64());
        assert!(low <= value && value <= high, "{r}");
        assert_eq!((r["history"]["runs"].as_u64(), r["compared"].as_str()), (Some(5), Some("interval.low")), "{r}");
        assert!(r["history"]["bound"].as_f64() >= r["history"]["high"].as_f64(), "{r}");
        assert_eq!(r["unit"], "ms");
    }
    // p50 of 100 calls is bounded at 99%; p99 is not (the interval ends at the slowest
    // call, with its lower coverage said).
    assert!(row(&verdict, "latency p50 vs baseline")["interval"]["confidence"].as_f64().unwrap() >= 0.99);
    assert!(row(&verdict, "latency p99 vs baseline")["interval"]["confidence"].as_f64().unwrap() < 0.99);
    assert_eq!(row(&verdict, "throughput vs baseline")["compared"], "value");

    // The same five runs named one by one, as the table shows them.
    let mut args = vec!["check", last, "--baseline"];
    args.extend(dirs[..5].iter().map(|d| d.to_str().unwrap()));
    let out = harness(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("and 4 earlier runs") && stdout.contains("(5 runs "), "{stdout}");
    assert!(stdout.contains(" (CI "), "each percentile shows its interval: {stdout}");

    // The two latest runs ten times as fast (every latency cut to a tenth): the last run
    // is ten times as slow, beyond their intervals and the tolerance. (Two, not five:
    // with five the history's spread gives a prediction bound, which on a busy machine,
    // whose smoke runs' p50 may differ fourfold, can allow ten times the mean.)
    let tmp = tempfile::tempdir().unwrap();
    let fast: Vec<PathBuf> = dirs[3..5].iter().map(|d| with_latency_scaled(d, 0.1, tmp.path())).collect();
    let mut args = vec![last, "--baseline"];
    args.extend(fast.iter().map(|p| p.to_str().unwrap()));
    let (code, verdict) = check_json(&args);
    assert_eq!((code, verdict["passed"].as_bool()), (Some(1), Some(false)), "{verdict:#}");
    for name in ["latency p50 vs baseline", "latency p90 vs baseline", "latency shift vs baseline"] {
        assert_eq!(row(&verdict, name)["passed"], false, "{name}: {verdict:#}");
    }
    let p50 = row(&verdict, "latency p50 vs baseline");
    assert!(p50["interval"]["low"].as_f64() > p50["limit"].as_f64(), "{p50}");

    // A real slowdown: a second spent inside every invocation ([local] added_latency),
    // counted in its REPORT line's duration, fails the same build's history.
    let slow = tmp.path().join("smoke-slow.toml");
    let mut toml = std::fs::read_to_string(&smoke).unwrap();
    toml.push_str("\n[local]\nadded_latency = \"1s\"\n");
    std::fs::write(&slow, toml).unwrap();
    let slow_results = tmp.path().join("slow");
    let out = harness(&["run", "--results", slow_results.to_str().unwrap(), slow.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let slow_dir = runs(&slow_results).pop().unwrap();
    let summary: Value = serde_json::from_slice(&std::fs::read(slow_dir.join("summary.json")).unwrap()).unwrap();
    validate_against_schema(&summary);
    assert_eq!(summary["plan"]["local"]["added_latency_s"], 1.0);
    let reported = Hist::decode(summary["totals"]["platform"]["duration_us"].as_str().unwrap()).unwrap();
    assert_eq!(reported.count(), 100, "a REPORT line per call");
    assert!(reported.min() >= 1_000_000, "every invocation lasted the added second: {}", reported.min());
    let (code, verdict) = check_json(&[slow_dir.to_str().unwrap(), "--baseline", results_s, "--history", "2"]);
    assert_eq!((code, verdict["baselines"].as_array().map(Vec::len)), (Some(1), Some(2)), "{verdict:#}");
    for name in ["latency p50 vs baseline", "latency shift vs baseline"] {
        assert_eq!(row(&verdict, name)["passed"], false, "{name}: {verdict:#}");
    }

    // --history 1 keeps only the latest run of the history.
    let (_, verdict) = check_json(&[last, "--baseline", results_s, "--history", "1"]);
    assert_eq!(verdict["baselines"], serde_json::json!([names[4]]), "{verdict:#}");
}

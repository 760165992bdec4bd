//! `harness check` on constructed summaries: each threshold kind passes and fails, and
//! baseline comparisons flag a real slowdown but not sampling noise.

use rand::{Rng, SeedableRng};
use workers::{CallRecord, EngineEnd, ErrorClass, Stats, StopReason};

use super::*;
use crate::database::Verification;
use crate::report::console::checks_table as table;
use crate::report::junit;
use crate::scenario::{self, Overrides};

/// A run of `calls` calls over `seconds`, latencies drawn from `latency_ms` (a uniform
/// range), `failures` of them failed, `retried` of them retried once.
fn report(calls: u64, seconds: f64, latency_ms: (f64, f64), failures: u64, retried: u64, seed: u64) -> RunReport {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut totals = Stats::default();
    for i in 0..calls {
        let latency_us = (rng.random_range(latency_ms.0..=latency_ms.1) * 1_000.0) as u64;
        totals.record(&CallRecord {
            latency_us,
            function_us: Some(latency_us / 2),
            retries: Some(u64::from(i < retried)),
            error: (i < failures).then(|| (ErrorClass::Business, "Insufficient balance".into())),
            late: false,
            ..CallRecord::default()
        });
    }
    let load = format!("[load]\nmodel = \"closed\"\nin_flight = 10\ncalls = {}\n", calls.max(100));
    let plan = scenario::parse("t.toml", &load, &Overrides::default()).unwrap();
    let started_at = crate::clock::Timestamp::parse("2026-11-29T12:00:00Z").unwrap();
    RunReport {
        harness_version: "test".into(),
        end: EngineEnd { started: calls, abandoned: 0, elapsed_s: seconds, stop: StopReason::Completed },
        totals,
        verification: Some(verification(true)),
        ..RunReport::skeleton(plan, format!("run-{seed}"), started_at)
    }
}

fn verification(passed: bool) -> Verification {
    Verification {
        passed,
        accounts: 10,
        expected_sum: 1_000,
        balance_sum: if passed { 1_000 } else { 990 },
        min_balance: Some(0),
        history_rows: 0,
        inconsistent_accounts: 0,
        history_rows_added: None,
        successful_transfers: None,
        unknown_outcomes: None,
        problems: if passed { vec![] } else { vec!["balances sum to 990, expected 1000".into()] },
        could_not_run: None,
        invariants: vec![],
        builtin: true,
    }
}

fn only(checks: &[Check], name: &str) -> Check {
    checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name:?} in {checks:?}")).clone()
}

#[test]
fn every_threshold_kind_passes_and_fails() {
    // 1,000 calls in 2 s (500 calls/s), 20..40 ms, 1% failed, 10% retried.
    let r = report(1_000, 2.0, (20.0, 40.0), 10, 100, 1);
    let pass = Thresholds {
        min_success_pct: Some(98.0),
        max_p50_ms: Some(35.0),
        max_p90_ms: Some(40.0),
        max_p99_ms: Some(41.0),
        max_p999_ms: Some(41.0),
        min_calls_per_s: Some(400.0),
        max_retried_pct: Some(15.0),
        max_late_pct: Some(0.0),
        ..Thresholds::default()
    };
    let checks = evaluate(&r, &pass, None);
    assert_eq!(checks.len(), 10, "the identity, eight thresholds and the verification: {checks:?}");
    assert!(checks.iter().all(|c| c.passed), "{}", table(&checks));
    assert_eq!(only(&checks, "success rate").value, "99.00%");
    assert_eq!(only(&checks, "throughput").value, "500.0 calls/s");

    let fail = Thresholds {
        min_success_pct: Some(99.5),
        max_p50_ms: Some(25.0),
        max_p90_ms: Some(30.0),
        max_p99_ms: Some(30.0),
        max_p999_ms: Some(30.0),
        min_calls_per_s: Some(600.0),
        max_retried_pct: Some(5.0),
        ..Thresholds::default()
    };
    let checks = evaluate(&r, &fail, None);
    let failed: Vec<&str> = checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
    assert_eq!(
        failed,
        ["success rate", "latency p50", "latency p90", "latency p99", "latency p99.9", "throughput", "calls retried"]
    );
    assert!(table(&checks).ends_with("FAIL: 2 of 9 checks passed\n"), "{}", table(&checks));
}

#[test]
fn verification_is_checked_when_run_required_when_asked() {
    let mut r = report(100, 1.0, (1.0, 2.0), 0, 0, 2);
    r.verification = Some(verification(false));
    let c = only(&evaluate(&r, &Thresholds::default(), None), "verification");
    assert!(!c.passed);
    assert!(c.value.contains("balances sum to 990"), "{c:?}");
    let names = |checks: Vec<Check>| checks.into_iter().map(|c| c.name).collect::<Vec<_>>();
    let off = Thresholds { verification: Some(false), ..Thresholds::default() };
    let always = ["calls accounted for", "failed calls (default limit)"];
    assert_eq!(names(evaluate(&r, &off, None)), always, "the identity and the default failure limit, always checked");

    r.verification = None;
    let no_verification = evaluate(&r, &Thresholds::default(), None);
    assert_eq!(names(no_verification), always, "no verification (AWS): nothing else to check");
    let required = Thresholds { verification: Some(true), ..Thresholds::default() };
    let c = only(&evaluate(&r, &required, None), "verification");
    assert_eq!((c.value.as_str(), c.passed), ("not run", false));
}

#[test]
fn a_baseline_flags_a_real_slowdown_but_not_noise() {
    let rule = BaselineRule { tolerance_pct: 25.0, max_shift: 0.1 };
    let base = report(2_000, 4.0, (10.0, 30.0), 0, 0, 3);
    // The same distribution, other samples: passes.
    let same = report(2_000, 4.2, (10.0, 30.0), 0, 0, 4);
    let checks = evaluate(&same, &Thresholds::default(), Some((std::slice::from_ref(&base), rule)));
    assert!(checks.iter().all(|c| c.passed), "{}", table(&checks));
    let p99 = only(&checks, "latency p99 vs baseline");
    assert!(p99.baseline.unwrap().starts_with(&Unit::Ms.show(ms(&base.totals.latency_us, 0.99))));
    assert_eq!(p99.measure.unwrap().baseline, Some(ms(&base.totals.latency_us, 0.99)));

    // 50% slower everywhere and half the throughput: every baseline check fails.
    let slow = report(2_000, 8.0, (15.0, 45.0), 0, 0, 5);
    let checks = evaluate(&slow, &Thresholds::default(), Some((std::slice::from_ref(&base), rule)));
    for name in [
        "latency p50 vs baseline",
        "latency p90 vs baseline",
        "latency p99 vs baseline",
        "throughput vs baseline",
        "latency shift vs baseline",
    ] {
        assert!(!only(&checks, name).passed, "{name}: {}", table(&checks));
    }

    // Only the slowest 20% of calls got slower: the percentiles below p80 stay put, the
    // shift check still sees a fifth of the calls move.
    let mut tail = report(1_600, 4.0, (10.0, 26.0), 0, 0, 6);
    tail.totals.merge(&report(400, 0.0, (60.0, 90.0), 0, 0, 7).totals);
    let checks = evaluate(&tail, &Thresholds::default(), Some((std::slice::from_ref(&base), rule)));
    assert!(only(&checks, "latency p50 vs baseline").passed, "{}", table(&checks));
    assert!(!only(&checks, "latency shift vs baseline").passed, "{}", table(&checks));
    assert!(!only(&checks, "latency p99 vs baseline").passed);
}

#[test]
fn the_shift_is_one_sided_and_allows_for_small_samples() {
    let base = report(50, 1.0, (10.0, 30.0), 0, 0, 8).totals.latency_us;
    let faster = report(50, 1.0, (1.0, 5.0), 0, 0, 9).totals.latency_us;
    assert_eq!(slower_shift(&base, &faster), 0.0, "faster is not a regression");
    assert_eq!(slower_shift(&faster, &base), 1.0, "every call slower than every baseline call");
    assert!(noise(50, 50) > 0.35 && noise(50, 50) < 0.4, "{}", noise(50, 50));
    assert!(noise(100_000, 100_000) < 0.01);
}

#[test]
fn junit_lists_every_check_and_its_failures() {
    let r = report(100, 1.0, (1.0, 2.0), 50, 0, 10);
    let checks = evaluate(&r, &Thresholds { min_success_pct: Some(90.0), ..Thresholds::default() }, None);
    let xml = junit::render("smoke <ci>", &checks);
    assert!(xml.contains("<testsuite name=\"smoke &lt;ci&gt;\" tests=\"3\" failures=\"1\">"), "{xml}");
    assert!(xml.contains("<testcase classname=\"harness.check\" name=\"success rate\"><failure message=\"value 50.00%, limit &gt;= 90.00%\"/></testcase>"), "{xml}");
    assert!(xml.contains("name=\"verification\"><system-out>value PASS, limit PASS</system-out>"), "{xml}");
}

#[test]
fn a_run_whose_calls_do_not_add_up_fails_the_identity() {
    let mut r = report(100, 1.0, (1.0, 2.0), 0, 0, 5);
    assert!(only(&evaluate(&r, &Thresholds::default(), None), "calls accounted for").passed);
    r.end.started = 103; // three calls started that no statistic holds
    let c = only(&evaluate(&r, &Thresholds::default(), None), "calls accounted for");
    assert!(!c.passed, "{c:?}");
    assert!(c.value.contains("3 unreported"), "{c:?}");
}

#[test]
fn latency_thresholds_judge_successful_calls_unless_told_otherwise() {
    // 50 fast failures (1 ms) and 50 slow successes (100 ms), of 100 planned.
    let mut r = report(0, 1.0, (1.0, 1.0), 0, 0, 6);
    for i in 0..100u64 {
        let failed = i < 50;
        r.totals.record(&CallRecord {
            latency_us: if failed { 1_000 } else { 100_000 },
            function_us: None,
            retries: None,
            error: failed.then(|| (ErrorClass::Throttle, "TooManyRequestsException".into())),
            late: false,
            ..CallRecord::default()
        });
    }
    r.end.started = 100;
    let t = Thresholds { max_p50_ms: Some(50.0), min_goodput: Some(60.0), ..Thresholds::default() };
    let checks = evaluate(&r, &t, None);
    assert!(!only(&checks, "latency p50").passed, "the successes took 100 ms: {checks:?}");
    assert!(!only(&checks, "goodput").passed, "50 successful calls/s: {checks:?}");
    let all = Thresholds { latency: Some(crate::scenario::LatencyOf::All), ..t };
    assert!(only(&evaluate(&r, &all, None), "latency p50 (all calls)").passed, "the fast failures flatter p50");
}

/// Without thresholds a run is still judged on its failed calls: above 1%, other than
/// the outcomes the scenario expects, it fails; a success floor of its own replaces it.
#[test]
fn failed_calls_have_a_default_limit_and_expected_outcomes_are_not_failures() {
    let none = Thresholds::default();
    let r = report(1_000, 2.0, (20.0, 40.0), 10, 0, 3);
    let c = only(&evaluate(&r, &none, None), "failed calls (default limit)");
    assert!(c.passed && c.value == "1.00%" && c.limit == "<= 1.00%", "{c:?}");
    let r = report(1_000, 2.0, (20.0, 40.0), 967, 0, 3);
    let c = only(&evaluate(&r, &none, None), "failed calls (default limit)");
    assert!(!c.passed && c.value == "96.70%", "a mostly failing run fails without thresholds: {c:?}");
    let business = Thresholds { expected: vec![Expected::Class(ErrorClass::Business)], ..Thresholds::default() };
    assert!(only(&evaluate(&r, &business, None), "failed calls (default limit)").passed, "expected refusals");
    let own = Thresholds { min_success_pct: Some(2.0), ..Thresholds::default() };
    assert!(evaluate(&r, &own, None).iter().all(|c| !c.name.starts_with("failed calls")));
    let set = Thresholds { max_failed_pct: Some(97.0), ..Thresholds::default() };
    assert!(only(&evaluate(&r, &set, None), "failed calls").passed);
}

/// `occ_conflict` excuses only the function errors `[response] occ_error_types` names.
#[test]
fn expected_occ_conflicts_excuse_only_conflicts() {
    let mut r = report(100, 1.0, (20.0, 40.0), 0, 0, 4);
    let conflict = format!("{}: change conflicts with another transaction (OC000)", transfer::error::OCC_CONFLICT);
    for (message, n) in [(conflict.as_str(), 30), ("Runtime.ExitError: exited", 5)] {
        for _ in 0..n {
            r.totals.record(&CallRecord {
                latency_us: 1_000,
                error: Some((ErrorClass::Function, message.to_string())),
                ..CallRecord::default()
            });
        }
    }
    let occ = Thresholds { expected: vec![Expected::OccConflict], ..Thresholds::default() };
    assert_eq!(unexpected_failures(&r, &occ), 5, "the exit errors are still failures");
    let function = Thresholds { expected: vec![Expected::OccConflict, Expected::Class(ErrorClass::Function)], ..occ };
    assert_eq!(unexpected_failures(&r, &function), 0);
    assert_eq!(unexpected_failures(&r, &Thresholds::default()), 35);
}

/// A run like `report`'s, its latencies scaled by `scale`.
fn scaled(scale: f64, seed: u64) -> RunReport {
    report(2_000, 4.0, (10.0 * scale, 30.0 * scale), 0, 0, seed)
}

#[test]
fn a_history_explains_what_one_run_cannot() {
    // A 5% effect size: the current run (20% slower than the first baseline run) fails
    // against that run alone, but the history has seen runs as slow.
    let rule = BaselineRule { tolerance_pct: 5.0, max_shift: 0.25 };
    let current = scaled(1.2, 20);
    let history = [scaled(1.0, 21), scaled(1.2, 22), scaled(1.1, 23)];
    let alone = evaluate_rows(&current, &Thresholds::default(), Some((&history[..1], rule)));
    let p50 = alone.iter().find(|r| r.check.name == "latency p50 vs baseline").unwrap();
    assert!(!p50.check.passed, "{p50:?}");
    let all = evaluate_rows(&current, &Thresholds::default(), Some((&history, rule)));
    let checks: Vec<Check> = all.iter().map(|r| r.check.clone()).collect();
    assert!(checks.iter().all(|c| c.passed), "{}", table(&checks));
    let p50 = all.iter().find(|r| r.check.name == "latency p50 vs baseline").unwrap();
    let (span, spread) = (p50.interval.unwrap(), p50.history.unwrap());
    assert!(span.low < ms(&current.totals.latency_us, 0.5) && span.confidence >= 0.99, "{span:?}");
    assert_eq!(spread.runs, 3);
    assert!(spread.low < spread.high && spread.high <= spread.bound, "{spread:?}");
    assert!(p50.check.baseline.as_deref().unwrap().contains("3 runs"), "{:?}", p50.check);
    // The gate compares the interval's low end: a value above the limit may still pass,
    // but not one whose whole interval is above it.
    let json = p50.to_json();
    assert_eq!((json["compared"].as_str(), json["history"]["runs"].as_u64()), (Some("interval.low"), Some(3)));
    assert!(json["interval"]["low"].as_f64().unwrap() <= json["limit"].as_f64().unwrap());

    // Twice as slow as anything in the history: every latency check fails.
    let slow = scaled(2.0, 24);
    let checks = evaluate(&slow, &Thresholds::default(), Some((&history, rule)));
    for name in ["latency p50 vs baseline", "latency p90 vs baseline", "latency p99 vs baseline"] {
        assert!(!only(&checks, name).passed, "{name}: {}", table(&checks));
    }
}

#[test]
fn the_history_is_the_last_runs_of_the_same_scenario_in_a_results_folder() {
    let results = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for (i, name) in ["t", "other", "t", "t", "t"].iter().enumerate() {
        let mut r = scaled(1.0, 30 + i as u64);
        r.plan.name = name.to_string();
        r.started_at = crate::clock::Timestamp::parse(&format!("2026-11-29T12:00:0{i}Z")).unwrap();
        let dir = crate::run_dir::RunDir::create(results.path(), name, r.started_at).unwrap();
        r.run_id = dir.id();
        dir.write(&r).unwrap();
        ids.push((dir.path().to_path_buf(), r));
    }
    let (current_path, current) = ids.pop().unwrap();
    let found = history::load(&[results.path().to_path_buf()], &current, &current_path, 2).unwrap();
    let found: Vec<&str> = found.iter().map(|r| r.run_id.as_str()).collect();
    // Oldest first; not the run itself, not the other scenario.
    assert_eq!(found, [ids[2].1.run_id.as_str(), ids[3].1.run_id.as_str()]);
    let all = history::load(&[results.path().to_path_buf(), ids[0].0.clone()], &current, &current_path, 10).unwrap();
    assert_eq!(all.len(), 3, "the run named twice counts once");
    let missing = results.path().join("nothing");
    let e = history::load(std::slice::from_ref(&missing), &current, &current_path, 10).unwrap_err();
    assert!(e.to_string().contains(&*missing.to_string_lossy()), "{e}");
    let mut lonely = current.clone();
    lonely.plan.name = "nobody".into();
    let e = history::load(&[results.path().to_path_buf()], &lonely, &current_path, 10).unwrap_err();
    assert!(e.to_string().contains("no run of scenario \"nobody\""), "{e}");
}

#[test]
fn from_five_runs_the_history_spread_gives_a_prediction_bound() {
    let rule = BaselineRule { tolerance_pct: 10.0, max_shift: 0.25 };
    let seconds = [4.0, 4.4, 3.6, 4.2, 3.8];
    let history: Vec<RunReport> =
        seconds.iter().zip(40..).map(|(s, seed)| report(2_000, *s, (10.0, 30.0), 0, 0, seed)).collect();
    let rows = evaluate_rows(&scaled(1.0, 50), &Thresholds::default(), Some((&history, rule)));
    let throughput = rows.iter().find(|r| r.check.name == "throughput vs baseline").unwrap();
    let spread = throughput.history.unwrap();
    // exp(mean - t(0.99, 4) * sd * sqrt(1 + 1/5)) of the logarithms of the five rates.
    let logs: Vec<f64> = seconds.iter().map(|s| (2_000.0 / s).ln()).collect();
    let mean = logs.iter().sum::<f64>() / 5.0;
    let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
    let expected = (mean - 3.747 * sd * 1.2f64.sqrt()).exp();
    assert!((spread.bound - expected).abs() < 1e-6 * expected, "{spread:?} vs {expected}");
    assert!(spread.bound < spread.low && spread.runs == 5, "{spread:?}");
    assert!((throughput.check.measure.as_ref().unwrap().limit - expected / 1.1).abs() < 1e-6 * expected);
    // Four runs: no prediction bound, the lowest rate is the bound.
    let rows = evaluate_rows(&scaled(1.0, 50), &Thresholds::default(), Some((&history[..4], rule)));
    let spread = rows.iter().find(|r| r.check.name == "throughput vs baseline").unwrap().history.unwrap();
    assert_eq!(spread.bound, spread.low);
}

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
    RunReport {
        schema_version: crate::report::SCHEMA_VERSION,
        harness_version: "test".into(),
        run_id: format!("run-{seed}"),
        started_at: crate::clock::Timestamp::parse("2026-11-29T12:00:00Z").unwrap(),
        plan,
        end: EngineEnd { started: calls, abandoned: 0, elapsed_s: seconds, stop: StopReason::Completed },
        workers: Vec::new(),
        totals,
        intervals: Vec::new(),
        environments: None,
        verification: Some(verification(true)),
        checks: Vec::new(),
        accounting: None,
        cost: None,
        hot_accounts: None,
        server: None,
        coordinator: None,
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
    let checks = evaluate(&same, &Thresholds::default(), Some((&base, rule)));
    assert!(checks.iter().all(|c| c.passed), "{}", table(&checks));
    assert_eq!(
        only(&checks, "latency p99 vs baseline").baseline.as_deref(),
        Some(&*Unit::Ms.show(ms(&base.totals.latency_us, 0.99)))
    );

    // 50% slower everywhere and half the throughput: every baseline check fails.
    let slow = report(2_000, 8.0, (15.0, 45.0), 0, 0, 5);
    let checks = evaluate(&slow, &Thresholds::default(), Some((&base, rule)));
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
    let checks = evaluate(&tail, &Thresholds::default(), Some((&base, rule)));
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

//! `harness check`: the CI gate. Every threshold of the scenario, and optionally a
//! comparison with a history of baseline runs, becomes one row (value, limit, baseline,
//! pass/fail). Baseline comparisons read the full histograms: percentiles with their
//! exact confidence intervals (`interval`) against the history's spread (`baseline`),
//! and a one-sided Kolmogorov-Smirnov distance that allows for the sampling noise of
//! the runs' sizes, so a small run does not fail on chance alone (docs/gate.md).

mod baseline;
pub mod history;
pub mod interval;
mod row;

use workers::ErrorClass;

#[cfg(test)]
use self::baseline::{noise, slower_shift};
pub use self::baseline::{BaselineRule, Row};
use self::row::{check, measured, ms, Unit};
use crate::scenario::{Expected, LatencyOf, Thresholds};
use crate::summary::{percent, success_latency, RunReport};
pub use crate::summary::{Check, Measure};

/// Every check of `report` against `t`, then against the baseline's history (earlier
/// runs, oldest first) if given.
pub fn evaluate(report: &RunReport, t: &Thresholds, baseline: Option<(&[RunReport], BaselineRule)>) -> Vec<Check> {
    evaluate_rows(report, t, baseline).into_iter().map(|r| r.check).collect()
}

/// `evaluate`, with the confidence intervals and history spreads behind the baseline
/// checks (for `check --format json`).
pub fn evaluate_rows(report: &RunReport, t: &Thresholds, baseline: Option<(&[RunReport], BaselineRule)>) -> Vec<Row> {
    let mut rows: Vec<Row> =
        thresholds(report, t).into_iter().map(|check| Row { check, interval: None, history: None }).collect();
    if let Some((history, rule)) = baseline.filter(|(h, _)| !h.is_empty()) {
        rows.extend(baseline::against_history(report, history, rule));
    }
    rows
}

/// The checks of the scenario's thresholds.
fn thresholds(report: &RunReport, t: &Thresholds) -> Vec<Check> {
    let mut out = Vec::new();
    let totals = &report.totals;
    let at_most = |name: &str, value: f64, limit: Option<f64>, unit: Unit| {
        limit.map(|l| measured(name, (value, "<=", l, None), unit, value <= l))
    };
    let at_least = |name: &str, value: f64, limit: Option<f64>, unit: Unit| {
        limit.map(|l| measured(name, (value, ">=", l, None), unit, value >= l))
    };
    out.push(accounted_for(report));
    out.extend(at_least("success rate", percent(totals.successes, totals.calls), t.min_success_pct, Unit::Pct));
    if let Some((limit, default)) = t.failed_limit() {
        let name = if default { "failed calls (default limit)" } else { "failed calls" };
        out.extend(at_most(name, percent(unexpected_failures(report, t), totals.calls), Some(limit), Unit::Pct));
    }
    let (latency, of) = match t.latency {
        Some(LatencyOf::All) => (&totals.latency_us, " (all calls)"),
        _ => (success_latency(totals), ""),
    };
    for (name, q, limit) in [
        ("latency p50", 0.5, t.max_p50_ms),
        ("latency p90", 0.9, t.max_p90_ms),
        ("latency p99", 0.99, t.max_p99_ms),
        ("latency p99.9", 0.999, t.max_p999_ms),
    ] {
        out.extend(at_most(&format!("{name}{of}"), ms(latency, q), limit, Unit::Ms));
    }
    out.extend(at_least("throughput", report.throughput(), t.min_calls_per_s, Unit::PerS));
    out.extend(at_least("goodput", report.goodput(), t.min_goodput, Unit::PerS));
    let retried = percent(totals.retried_calls, totals.retries.count());
    out.extend(at_most("calls retried", retried, t.max_retried_pct, Unit::Pct));
    out.extend(at_most("late starts", percent(totals.late_starts, totals.calls), t.max_late_pct, Unit::Pct));
    match (&report.verification, t.verification) {
        (_, Some(false)) | (None, None) => {}
        (None, Some(true)) => out.push(check("verification", "not run".into(), "PASS".into(), false)),
        (Some(v), _) => {
            let value = if v.passed { "PASS".to_string() } else { format!("FAIL ({})", v.problems.join("; ")) };
            out.push(check("verification", value, "PASS".into(), v.passed));
        }
    }
    out
}

/// Calls that failed other than as the scenario expects (`thresholds.expected`).
pub fn unexpected_failures(report: &RunReport, t: &Thresholds) -> u64 {
    let totals = &report.totals;
    let failed: u64 = totals.errors.values().sum();
    let excused = |e: &Expected| match e {
        Expected::Class(c) => totals.errors.get(c).copied().unwrap_or(0),
        // Counted with the function errors when those are all expected.
        Expected::OccConflict if t.expected.contains(&Expected::Class(ErrorClass::Function)) => 0,
        Expected::OccConflict => {
            totals.error_messages.of_types(ErrorClass::Function, &report.plan.engine.response.occ_types())
        }
    };
    failed.saturating_sub(t.expected.iter().map(excused).sum())
}

/// The identity every run must satisfy: each planned call succeeded, failed, was
/// abandoned or was not started, and each started call was recorded.
fn accounted_for(report: &RunReport) -> Check {
    let a = report.accounting();
    let value = format!(
        "{} ok + {} failed + {} abandoned + {} not started{}",
        a.succeeded,
        a.failed,
        a.abandoned,
        a.not_started.unwrap_or(0),
        if a.unreported > 0 { format!(" + {} unreported", a.unreported) } else { String::new() }
    );
    let limit = match a.planned {
        Some(p) => format!("= {p} planned"),
        None => format!("= {} started", a.started),
    };
    let counted = a.succeeded + a.failed + a.abandoned + a.not_started.unwrap_or(0) + a.unreported;
    let measure = Measure {
        value: counted as f64,
        op: "=".into(),
        limit: a.planned.unwrap_or(a.started) as f64,
        baseline: None,
        unit: "calls".into(),
    };
    Check { measure: Some(measure), ..check("calls accounted for", value, limit, a.holds()) }
}

#[cfg(test)]
mod tests;

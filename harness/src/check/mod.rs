//! `harness check`: the CI gate. Every threshold of the scenario, and optionally a
//! comparison with a baseline summary, becomes one row (value, limit, baseline,
//! pass/fail). Baseline comparisons read the full histograms: percentiles exactly, and a
//! one-sided Kolmogorov-Smirnov distance that allows for the sampling noise of the two
//! runs' sizes, so a small run does not fail on chance alone.

use workers::{ErrorClass, Hist};

use crate::scenario::{Expected, LatencyOf, Thresholds};
use crate::summary::{percent, success_latency, RunReport};
pub use crate::summary::{Check, Measure};

/// How a baseline is compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineRule {
    /// Percent slower (latency) or lower (throughput) that still passes.
    pub tolerance_pct: f64,
    /// Share of calls that may move to a slower latency, beyond sampling noise.
    pub max_shift: f64,
}

impl BaselineRule {
    pub fn from(t: &Thresholds) -> BaselineRule {
        BaselineRule {
            tolerance_pct: t.baseline_tolerance_pct.unwrap_or(Thresholds::DEFAULT_TOLERANCE_PCT),
            max_shift: t.max_latency_shift.unwrap_or(Thresholds::DEFAULT_LATENCY_SHIFT),
        }
    }
}

/// Every check of `report` against `t`, then against `baseline` if given.
pub fn evaluate(report: &RunReport, t: &Thresholds, baseline: Option<(&RunReport, BaselineRule)>) -> Vec<Check> {
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
    if let Some((base, rule)) = baseline {
        out.extend(against_baseline(report, base, rule));
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

/// Baselines compare the successful calls' latency: failing fast is no improvement.
fn against_baseline(report: &RunReport, base: &RunReport, rule: BaselineRule) -> Vec<Check> {
    let mut out = Vec::new();
    let slack = 1.0 + rule.tolerance_pct / 100.0;
    let (cur, old) = (success_latency(&report.totals), success_latency(&base.totals));
    for (name, q) in
        [("latency p50 vs baseline", 0.5), ("latency p90 vs baseline", 0.9), ("latency p99 vs baseline", 0.99)]
    {
        let (value, was) = (ms(cur, q), ms(old, q));
        let limit = was * slack;
        out.push(measured(name, (value, "<=", limit, Some(was)), Unit::Ms, value <= limit));
    }
    for (name, value, was) in [
        ("throughput vs baseline", report.throughput(), base.throughput()),
        ("goodput vs baseline", report.goodput(), base.goodput()),
    ] {
        let limit = was / slack;
        out.push(measured(name, (value, ">=", limit, Some(was)), Unit::PerS, value >= limit));
    }
    let shift = slower_shift(old, cur);
    let limit = rule.max_shift + noise(old.count(), cur.count());
    let measure = Measure { value: shift, op: "<=".into(), limit, baseline: None, unit: "share".into() };
    out.push(Check {
        baseline: Some(format!("{} calls", old.count())),
        measure: Some(measure),
        ..check("latency shift vs baseline", format!("{shift:.3}"), format!("<= {limit:.3}"), shift <= limit)
    });
    out
}

/// The one-sided Kolmogorov-Smirnov distance D+ = max over x of F_base(x) - F_cur(x):
/// the largest share of calls that became slower than some latency x. 0 when the
/// current run is as fast or faster everywhere.
pub fn slower_shift(base: &Hist, cur: &Hist) -> f64 {
    let (b, c) = (base.to_histogram(), cur.to_histogram());
    if b.is_empty() || c.is_empty() {
        return 0.0;
    }
    let steps = |h: &hdrhistogram::Histogram<u64>| -> Vec<(u64, u64)> {
        h.iter_recorded().map(|v| (h.highest_equivalent(v.value_iterated_to()), v.count_at_value())).collect()
    };
    let (sb, sc) = (steps(&b), steps(&c));
    let (nb, nc) = (b.len() as f64, c.len() as f64);
    let (mut i, mut j, mut fb, mut fc, mut d) = (0, 0, 0u64, 0u64, 0.0f64);
    while i < sb.len() || j < sc.len() {
        let x = match (sb.get(i), sc.get(j)) {
            (Some(a), Some(b)) => a.0.min(b.0),
            (Some(a), None) => a.0,
            (None, Some(b)) => b.0,
            (None, None) => unreachable!(),
        };
        while i < sb.len() && sb[i].0 == x {
            fb += sb[i].1;
            i += 1;
        }
        while j < sc.len() && sc[j].0 == x {
            fc += sc[j].1;
            j += 1;
        }
        d = d.max(fb as f64 / nb - fc as f64 / nc);
    }
    d
}

/// The one-sided two-sample critical value at a 0.1% false-alarm rate: a shift this
/// large happens by chance alone once in a thousand comparisons of equal distributions.
pub fn noise(n: u64, m: u64) -> f64 {
    if n == 0 || m == 0 {
        return 1.0;
    }
    let (n, m) = (n as f64, m as f64);
    (-(0.001f64).ln() / 2.0).sqrt() * ((n + m) / (n * m)).sqrt()
}

fn check(name: &str, value: String, limit: String, passed: bool) -> Check {
    Check { name: name.to_string(), value, limit, baseline: None, passed, measure: None }
}

/// A check of a figure against its limit (`value op limit`, and the baseline's figure),
/// in words and in numbers.
fn measured(
    name: &str,
    (value, op, limit, baseline): (f64, &str, f64, Option<f64>),
    unit: Unit,
    passed: bool,
) -> Check {
    let measure = Measure { value, op: op.into(), limit, baseline, unit: unit.name().into() };
    // JSON has no infinity: a figure that is not finite (a run of no time) has no numbers.
    let finite = [Some(value), Some(limit), baseline].into_iter().flatten().all(f64::is_finite);
    Check {
        baseline: baseline.map(|b| unit.show(b)),
        measure: finite.then_some(measure),
        ..check(name, unit.show(value), format!("{op} {}", unit.show(limit)), passed)
    }
}

fn ms(h: &Hist, q: f64) -> f64 {
    h.quantile(q) as f64 / 1_000.0
}

#[derive(Clone, Copy)]
enum Unit {
    Pct,
    Ms,
    PerS,
}

impl Unit {
    /// The unit's name in `Measure`.
    fn name(self) -> &'static str {
        match self {
            Unit::Pct => "percent",
            Unit::Ms => "ms",
            Unit::PerS => "calls/s",
        }
    }

    fn show(self, v: f64) -> String {
        match self {
            Unit::Pct => format!("{v:.2}%"),
            Unit::Ms => format!("{v:.2} ms"),
            Unit::PerS => format!("{v:.1} calls/s"),
        }
    }
}

#[cfg(test)]
mod tests;

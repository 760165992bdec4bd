//! A run against its history (one or more earlier runs of the same scenario): a figure
//! is a regression only when it is worse than the history explains, by more than the
//! tolerance. Latency percentiles carry their exact confidence intervals (see
//! `interval`), the history its run-to-run spread; docs/gate.md gives the method.

use workers::Hist;

use super::interval::{self, CONFIDENCE};
use super::row::{check, measured, ms, Unit};
use crate::scenario::Thresholds;
use crate::summary::{success_latency, Check, RunReport};

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

/// A check against the history, with the numbers behind its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub check: Check,
    /// The current run's confidence interval (latency percentiles), in the check's unit:
    /// the gate compares its low end with the limit.
    pub interval: Option<Span>,
    /// The history's figures: their range, and the bound the limit is taken from.
    pub history: Option<Spread>,
}

/// A confidence interval and its exact coverage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub low: f64,
    pub high: f64,
    pub confidence: f64,
}

/// The history's figures for one check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub runs: usize,
    /// The lowest and highest of the runs' figures.
    pub low: f64,
    pub high: f64,
    /// The highest (latency) or lowest (throughput) figure the history explains.
    pub bound: f64,
}

impl Row {
    /// The check as `harness check --format json` gives it (schemas/check.schema.json),
    /// with its interval and the history's spread where it has them.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = self.check.to_json();
        if let Some(i) = self.interval {
            v["interval"] = serde_json::json!({"low": i.low, "high": i.high, "confidence": i.confidence});
        }
        if let Some(h) = self.history {
            v["history"] = serde_json::json!({"runs": h.runs, "low": h.low, "high": h.high, "bound": h.bound});
        }
        if self.check.measure.is_some() {
            v["compared"] = (if self.interval.is_some() { "interval.low" } else { "value" }).into();
        }
        v
    }
}

/// One-sided 99% quantiles of Student's t by degrees of freedom (1..=30, then 40, 60,
/// 120, infinity): the history's prediction bound for one more run.
fn t99(df: usize) -> f64 {
    // t(0.99, 11) is 2.718 (a table value, not e).
    #[allow(clippy::approx_constant)]
    const T: [f64; 30] = [
        31.821, 6.965, 4.541, 3.747, 3.365, 3.143, 2.998, 2.896, 2.821, 2.764, 2.718, 2.681, 2.650, 2.624, 2.602,
        2.583, 2.567, 2.552, 2.539, 2.528, 2.518, 2.508, 2.500, 2.492, 2.485, 2.479, 2.473, 2.467, 2.462, 2.457,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        31..=40 => 2.423,
        41..=60 => 2.390,
        61..=120 => 2.358,
        _ => 2.326,
    }
}

/// The fewest runs whose spread gives a prediction bound: with fewer, Student's t is so
/// large (t(0.99, 2) = 6.96) that the bound would hide any regression.
pub const SPREAD_RUNS: usize = 5;

/// exp(mean + t * sd * sqrt(1 + 1/k)) of the logarithms of k >= `SPREAD_RUNS` figures
/// (`sign` -1: mean - ...): the bound of a 99% one-sided prediction interval for one
/// more run, the spread taken as a ratio (as the tolerance is); None for fewer runs or
/// a figure that is not positive.
fn predicted(values: &[f64], sign: f64) -> Option<f64> {
    let k = values.len();
    if k < SPREAD_RUNS || values.iter().any(|v| *v <= 0.0 || !v.is_finite()) {
        return None;
    }
    let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    let mean = logs.iter().sum::<f64>() / k as f64;
    let var = logs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    Some((mean + sign * t99(k - 1) * var.sqrt() * (1.0 + 1.0 / k as f64).sqrt()).exp())
}

fn spread(values: &[f64], bound: f64) -> Spread {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Spread { runs: values.len(), low, high, bound }
}

/// Every check of `report` against `history` (oldest first, at least one run).
/// Baselines compare the successful calls' latency: failing fast is no improvement.
pub fn against_history(report: &RunReport, history: &[RunReport], rule: BaselineRule) -> Vec<Row> {
    let slack = 1.0 + rule.tolerance_pct / 100.0;
    let cur = success_latency(&report.totals);
    let old: Vec<&Hist> = history.iter().map(|r| success_latency(&r.totals)).collect();
    let mut out = Vec::new();
    for (name, q) in
        [("latency p50 vs baseline", 0.5), ("latency p90 vs baseline", 0.9), ("latency p99 vs baseline", 0.99)]
    {
        out.push(percentile(name, q, cur, &old, slack));
    }
    let rated = |name: &str, rate: fn(&RunReport) -> f64| {
        let was: Vec<f64> = history.iter().map(rate).collect();
        at_least(name, rate(report), &was, slack)
    };
    out.push(rated("throughput vs baseline", RunReport::throughput));
    out.push(rated("goodput vs baseline", RunReport::goodput));
    out.push(Row { check: shift(cur, &old, rule.max_shift), interval: None, history: None });
    out
}

/// The current run's q-quantile against the history's: a regression when the low end
/// of its confidence interval is above the history's upper bound (the highest upper end
/// of the runs' intervals, or from five runs on the prediction bound of their values
/// if higher) times the tolerance.
fn percentile(name: &str, q: f64, cur: &Hist, old: &[&Hist], slack: f64) -> Row {
    let to_ms = |us: u64| us as f64 / 1_000.0;
    let span = interval::of_quantile(cur, q, CONFIDENCE).map(|i| Span {
        low: to_ms(i.low),
        high: to_ms(i.high),
        confidence: i.coverage,
    });
    let runs: Vec<&&Hist> = old.iter().filter(|h| h.count() > 0).collect();
    let values: Vec<f64> = runs.iter().map(|h| ms(h, q)).collect();
    let highs = runs.iter().filter_map(|h| interval::of_quantile(h, q, CONFIDENCE)).map(|i| to_ms(i.high));
    let bound = highs.chain(predicted(&values, 1.0)).fold(0.0, f64::max);
    let (value, limit) = (ms(cur, q), bound * slack);
    let low = span.map_or(0.0, |s| s.low);
    let was = if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 };
    let mut c = measured(name, (value, "<=", limit, Some(was)), Unit::Ms, low <= limit);
    if let Some(s) = span {
        c.value = format!("{} (CI {}-{})", c.value, Unit::Ms.number(s.low), Unit::Ms.number(s.high));
    }
    let history = (!values.is_empty()).then(|| spread(&values, bound));
    if let Some(h) = history {
        c.baseline = Some(described(Unit::Ms, was, h));
    }
    Row { check: c, interval: span, history }
}

/// A rate (calls/s) against the history's lowest (or, from five runs on, its
/// prediction bound if lower) divided by the tolerance.
fn at_least(name: &str, value: f64, was: &[f64], slack: f64) -> Row {
    let bound = was.iter().copied().chain(predicted(was, -1.0)).fold(f64::INFINITY, f64::min).max(0.0);
    let limit = bound / slack;
    let mean = was.iter().sum::<f64>() / was.len().max(1) as f64;
    let mut c = measured(name, (value, ">=", limit, Some(mean)), Unit::PerS, value >= limit);
    let history = spread(was, bound);
    c.baseline = Some(described(Unit::PerS, mean, history));
    Row { check: c, interval: None, history: Some(history) }
}

/// The baseline's figure in words: one run's figure, or the history's mean and range.
fn described(unit: Unit, was: f64, h: Spread) -> String {
    if h.runs == 1 {
        format!("{} (bound {})", unit.show(was), unit.number(h.bound))
    } else {
        let (low, high, bound) = (unit.number(h.low), unit.number(h.high), unit.number(h.bound));
        format!("{} ({} runs {low}-{high}, bound {bound})", unit.show(was), h.runs)
    }
}

/// The share of calls that became slower (one-sided Kolmogorov-Smirnov), against the
/// history run that explains the current one best: a shift is a regression only when
/// it is beyond sampling noise from every run of the history.
fn shift(cur: &Hist, old: &[&Hist], max_shift: f64) -> Check {
    let (shift, noise, calls) = old
        .iter()
        .map(|h| (slower_shift(h, cur), noise(h.count(), cur.count()), h.count()))
        .min_by(|a, b| (a.0 - a.1).total_cmp(&(b.0 - b.1)))
        .unwrap_or((0.0, 1.0, 0));
    let limit = max_shift + noise;
    let measure =
        crate::summary::Measure { value: shift, op: "<=".into(), limit, baseline: None, unit: "share".into() };
    Check {
        baseline: Some(format!("{calls} calls")),
        measure: Some(measure),
        ..check("latency shift vs baseline", format!("{shift:.3}"), format!("<= {limit:.3}"), shift <= limit)
    }
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

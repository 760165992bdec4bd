//! `--out json=FILE`: one JSON object per second (NDJSON), the second's own figures and
//! the run's cumulative counters. Latencies in milliseconds.

use serde_json::{json, Map, Value};
use workers::{ErrorClass, Stats};

use super::Second;

/// The line for one second.
pub fn line(s: &Second<'_>) -> Value {
    let i = s.interval;
    json!({
        "type": "second",
        "scenario": s.scenario,
        "run_id": s.run_id,
        "index": i.index,
        "start_s": round3(s.start_s),
        "seconds": round3(i.seconds),
        "started": i.started,
        "in_flight": i.in_flight,
        "second": counts(&i.stats),
        "latency_ms": quantiles(&i.stats.latency_us),
        "success_latency_ms": quantiles(&i.stats.success_latency_us),
        "total": counts(s.totals),
    })
}

/// Calls, successes, errors by class, OCC retries and late starts.
pub fn counts(stats: &Stats) -> Value {
    let errors: Map<String, Value> = ErrorClass::ALL
        .iter()
        .map(|c| (c.name().to_string(), stats.errors.get(c).copied().unwrap_or(0).into()))
        .collect();
    json!({
        "calls": stats.calls,
        "successes": stats.successes,
        "errors": stats.error_count(),
        "errors_by_class": errors,
        "occ_retries": stats.total_retries,
        "late_starts": stats.late_starts,
    })
}

fn quantiles(h: &workers::Hist) -> Value {
    let ms = |us: u64| round3(us as f64 / 1_000.0);
    if h.count() == 0 {
        return Value::Null;
    }
    json!({ "p50": ms(h.quantile(0.5)), "p90": ms(h.quantile(0.9)), "p99": ms(h.quantile(0.99)), "max": ms(h.max()) })
}

fn round3(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

//! CSV files: the one-second time series, and the error breakdown.

use workers::ErrorClass;

use super::{Render, RunReport};

/// `timeseries.csv`: one row per second of the run.
pub struct TimeSeries;

pub const TIMESERIES_COLUMNS: &[&str] = &[
    "start_s",
    "seconds",
    "calls",
    "successes",
    "errors",
    "business",
    "function",
    "throttle",
    "service",
    "transport",
    "timeout",
    "retries",
    "late_starts",
    "calls_per_s",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "function_p50_ms",
    "function_p99_ms",
];

impl Render for TimeSeries {
    fn render(&self, report: &RunReport) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(TIMESERIES_COLUMNS)?;
        let mut start = 0.0;
        for interval in &report.intervals {
            let s = &interval.stats;
            let ms = |us: u64| format!("{:.3}", us as f64 / 1_000.0);
            let mut row = vec![format!("{start:.3}"), format!("{:.3}", interval.seconds)];
            row.extend([s.calls, s.successes, s.error_count()].map(|n| n.to_string()));
            row.extend(ErrorClass::ALL.iter().map(|c| s.errors.get(c).copied().unwrap_or(0).to_string()));
            row.extend([s.total_retries, s.late_starts].map(|n| n.to_string()));
            row.push(format!("{:.1}", if interval.seconds > 0.0 { s.calls as f64 / interval.seconds } else { 0.0 }));
            for q in [0.5, 0.9, 0.99] {
                row.push(ms(s.latency_us.quantile(q)));
            }
            row.push(ms(s.latency_us.max()));
            row.extend([0.5, 0.99].map(|q| ms(s.function_us.quantile(q))));
            w.write_record(&row)?;
            start += interval.seconds;
        }
        Ok(w.into_inner()?)
    }
}

/// `errors.csv`: every error kind with its class and count, most frequent first.
pub struct Errors;

impl Render for Errors {
    fn render(&self, report: &RunReport) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["class", "message", "count"])?;
        let mut rows: Vec<(&String, &u64)> = report.totals.error_messages.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (key, count) in rows {
            let (class, message) = key.split_once(": ").unwrap_or(("", key));
            w.write_record([class, message, &count.to_string()])?;
        }
        Ok(w.into_inner()?)
    }
}

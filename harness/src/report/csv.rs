//! CSV files: the one-second time series, per-worker totals, and the error breakdown.

use workers::{ErrorClass, Interval};

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
    "abandoned",
    "retries",
    "late_starts",
    "calls_per_s",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "function_p50_ms",
    "function_p99_ms",
    "goodput_per_s",
    "success_p50_ms",
    "success_p99_ms",
    "in_flight",
    "planned_rate",
];

impl TimeSeries {
    /// The row of one interval that starts `start_s` into the run.
    pub fn row(start_s: f64, interval: &Interval) -> Vec<String> {
        let s = &interval.stats;
        let ms = |us: u64| format!("{:.3}", us as f64 / 1_000.0);
        let mut row = vec![format!("{start_s:.3}"), format!("{:.3}", interval.seconds)];
        row.extend([s.calls, s.successes, s.error_count()].map(|n| n.to_string()));
        row.extend(ErrorClass::ALL.iter().map(|c| s.errors.get(c).copied().unwrap_or(0).to_string()));
        row.extend([s.total_retries, s.late_starts].map(|n| n.to_string()));
        row.push(format!("{:.1}", if interval.seconds > 0.0 { s.calls as f64 / interval.seconds } else { 0.0 }));
        for q in [0.5, 0.9, 0.99] {
            row.push(ms(s.latency_us.quantile(q)));
        }
        row.push(ms(s.latency_us.max()));
        row.extend([0.5, 0.99].map(|q| ms(s.function_us.quantile(q))));
        row.push(format!("{:.1}", if interval.seconds > 0.0 { s.successes as f64 / interval.seconds } else { 0.0 }));
        row.extend([0.5, 0.99].map(|q| ms(s.success_latency_us.quantile(q))));
        row.push(interval.in_flight.to_string());
        // planned_rate: filled in by the full render, which knows the load model (the
        // rows appended as the run goes leave it empty until the end rewrites the file).
        row.push(String::new());
        row
    }
}

impl Render for TimeSeries {
    fn render(&self, report: &RunReport) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(TIMESERIES_COLUMNS)?;
        let mut start = 0.0;
        let planned = super::planned::rates(&report.plan.engine.load, &report.intervals);
        for (interval, planned) in report.intervals.iter().zip(planned) {
            let mut row = Self::row(start, interval);
            if let (Some(last), Some(rate)) = (row.last_mut(), planned) {
                *last = format!("{rate:.3}");
            }
            w.write_record(row)?;
            start += interval.seconds;
        }
        Ok(w.into_inner()?)
    }
}

/// `workers.csv`: each worker's totals.
pub struct Workers;

pub const WORKER_COLUMNS: &[&str] = &[
    "worker",
    "address",
    "status",
    "seconds",
    "calls",
    "successes",
    "errors",
    "retries",
    "calls_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "missed_intervals",
    "undelivered_calls",
    "unreported_at_most",
    "reason",
];

impl Render for Workers {
    fn render(&self, report: &RunReport) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(WORKER_COLUMNS)?;
        for worker in &report.workers {
            let t = &worker.totals;
            let rate = if worker.elapsed_s > 0.0 { t.calls as f64 / worker.elapsed_s } else { 0.0 };
            let address = worker.address.clone().unwrap_or_default();
            let mut row = vec![
                worker.name.clone(),
                address,
                worker.status.name().to_string(),
                format!("{:.3}", worker.elapsed_s),
            ];
            row.extend([t.calls, t.successes, t.error_count(), t.total_retries].map(|n| n.to_string()));
            row.push(format!("{rate:.1}"));
            row.extend([0.5, 0.99].map(|q| format!("{:.3}", t.latency_us.quantile(q) as f64 / 1_000.0)));
            row.push(worker.missed_intervals.to_string());
            row.push(worker.undelivered_calls.map_or(String::new(), |n| n.to_string()));
            row.push(worker.unreported_at_most.to_string());
            row.push(worker.reason.clone().unwrap_or_default());
            w.write_record(&row)?;
        }
        Ok(w.into_inner()?)
    }
}

/// `stats.csv`: the whole run in one row (Locust's aggregate row), to collect runs into
/// one spreadsheet: append the rows of many runs under one header. With several kinds
/// of call (`[[call]]`), a row for each kind comes first, as Locust gives one per
/// request name; the run's own row is the last, of kind `all`.
pub struct Aggregate;

pub const AGGREGATE_COLUMNS: &[&str] = &[
    "run_id",
    "scenario",
    "started_at",
    "target",
    "kind",
    "seconds",
    "planned",
    "calls",
    "successes",
    "failures",
    "abandoned",
    "not_started",
    "unreported",
    "success_pct",
    "calls_per_s",
    "goodput_per_s",
    "success_p50_ms",
    "success_p90_ms",
    "success_p99_ms",
    "success_p999_ms",
    "success_max_ms",
    "all_p99_ms",
    "function_p50_ms",
    "function_p99_ms",
    "total_retries",
    "retried_pct",
    "verification",
    "checks",
];

impl Render for Aggregate {
    fn render(&self, r: &RunReport) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(AGGREGATE_COLUMNS)?;
        for (name, k) in &r.totals.kinds {
            w.write_record(aggregate_row(r, name, k, false))?;
        }
        w.write_record(aggregate_row(r, "all", &r.totals, true))?;
        Ok(w.into_inner()?)
    }
}

/// One row of `stats.csv`: of the `whole` run, or of one kind of call (whose planned,
/// not started, unreported, verification and checks columns are the run's only).
fn aggregate_row(r: &RunReport, kind: &str, t: &workers::Stats, whole: bool) -> Vec<String> {
    let a = r.accounting();
    let ms = |us: u64| format!("{:.3}", us as f64 / 1_000.0);
    let ok = crate::summary::success_latency(t);
    let only = |v: String| if whole { v } else { String::new() };
    let mut row = vec![r.run_id.clone(), r.plan.name.clone(), r.started_at.rfc3339(), r.plan.target.kind().into()];
    row.push(kind.to_string());
    row.push(format!("{:.3}", r.end.elapsed_s));
    row.push(only(a.planned.map_or(String::new(), |p| p.to_string())));
    let abandoned = t.errors.get(&workers::ErrorClass::Abandoned).copied().unwrap_or(0);
    let failed = t.error_count() - abandoned;
    row.extend([t.calls, t.successes, failed, abandoned].map(|n| n.to_string()));
    row.push(only(a.not_started.map_or(String::new(), |n| n.to_string())));
    row.push(only(a.unreported.to_string()));
    row.push(format!("{:.2}", super::percent(t.successes, t.calls)));
    let per_s = |n: u64| if r.end.elapsed_s > 0.0 { n as f64 / r.end.elapsed_s } else { 0.0 };
    row.extend([per_s(t.calls), per_s(t.successes)].map(|v| format!("{v:.1}")));
    row.extend([0.5, 0.9, 0.99, 0.999].map(|q| ms(ok.quantile(q))));
    row.push(ms(ok.max()));
    row.push(ms(t.latency_us.quantile(0.99)));
    row.extend([0.5, 0.99].map(|q| ms(t.function_us.quantile(q))));
    row.push(t.total_retries.to_string());
    row.push(format!("{:.2}", super::percent(t.retried_calls, t.retries.count())));
    row.push(only(match &r.verification {
        None => String::new(),
        Some(v) if v.could_not_run.is_some() => "could not run".into(),
        Some(v) => if v.passed { "pass" } else { "fail" }.into(),
    }));
    row.push(only(match r.checks.iter().all(|c| c.passed) {
        _ if r.checks.is_empty() => String::new(),
        true => "pass".into(),
        false => "fail".into(),
    }));
    row
}

/// `errors.csv`: every error kind with its class and count, most frequent first.
pub struct Errors;

impl Render for Errors {
    fn render(&self, report: &RunReport) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["class", "message", "count"])?;
        let mut rows: Vec<_> = report.totals.error_messages.iter().collect();
        rows.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        for (class, message, count) in rows {
            w.write_record([class.name(), message, &count.to_string()])?;
        }
        Ok(w.into_inner()?)
    }
}

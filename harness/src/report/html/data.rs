//! What the page draws, as one JSON object: the run's key figures, its latency summary
//! (percentiles with mean and standard deviation), and every chart as a panel (or the
//! line saying why it is left out). `report.html` embeds it; a live page can push the
//! same object every second and the same script redraws from it.

use serde_json::{json, Value};
use workers::Hist;

use super::{distribution, timeline};
use crate::report::{percent, RunReport};
use crate::summary::success_latency;

/// The version of the object's shape, for a page fed by another process.
pub const VERSION: u64 = 1;

/// The page's data: this run, and the baseline's curves when one is given.
pub fn page_data(r: &RunReport, baseline: Option<&RunReport>) -> Value {
    let mut panels = timeline::panels(r, baseline);
    panels.extend(distribution::panels(r, baseline));
    json!({
        "version": VERSION,
        "run": {
            "id": r.run_id,
            "scenario": r.plan.name,
            "model": timeline::model_name(&r.plan.engine.load),
            "target": r.plan.target.kind(),
            "workers": r.workers.len().max(1),
            "elapsed_s": r.end.elapsed_s,
        },
        "baseline": baseline.map(|b| json!({ "id": b.run_id, "scenario": b.plan.name })),
        "tables": [figures(r, baseline), latency_table(r, baseline)],
        "panels": panels,
    })
}

/// A table for the page: an id, a title, a header row and rows of cells (strings).
fn table(id: &str, title: &str, head: &[&str], rows: Vec<Vec<String>>) -> Value {
    json!({ "id": id, "title": title, "head": head, "rows": rows })
}

fn figures(r: &RunReport, baseline: Option<&RunReport>) -> Value {
    let one = |r: &RunReport| -> Vec<String> {
        let t = &r.totals;
        let peak = r.intervals.iter().map(|i| i.in_flight).max().unwrap_or(0);
        vec![
            t.calls.to_string(),
            format!("{} ({:.2}%)", t.successes, percent(t.successes, t.calls)),
            t.error_count().to_string(),
            format!("{:.1}", r.throughput()),
            format!("{:.1}", r.goodput()),
            format!("{:.2}", r.end.elapsed_s),
            format!(
                "{} ({:.2}%), {} retries",
                t.retried_calls,
                percent(t.retried_calls, t.retries.count()),
                t.total_retries
            ),
            t.late_starts.to_string(),
            peak.to_string(),
            r.accounting().planned.map_or("-".to_string(), |p| p.to_string()),
        ]
    };
    let names = [
        "Calls",
        "Successful",
        "Errors",
        "Throughput (calls/s)",
        "Goodput (successes/s)",
        "Seconds",
        "Calls retried",
        "Late starts",
        "Most in flight at a second's end",
        "Calls planned",
    ];
    let (mine, theirs) = (one(r), baseline.map(one));
    let rows = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut row = vec![n.to_string(), mine[i].clone()];
            row.extend(theirs.as_ref().map(|t| t[i].clone()));
            row
        })
        .collect();
    let head: &[&str] = if baseline.is_some() { &["", "this run", "baseline"] } else { &["", "this run"] };
    table("figures", "Key figures", head, rows)
}

/// A histogram's row: calls, mean, standard deviation and percentiles, in ms.
pub fn latency_row(name: &str, h: &Hist) -> Vec<String> {
    let ms = |us: f64| format!("{:.2}", us / 1_000.0);
    let sd = if h.count() > 0 { h.to_histogram().stdev() } else { 0.0 };
    let mut row = vec![name.to_string(), h.count().to_string(), ms(h.mean()), ms(sd)];
    row.extend([0.5, 0.9, 0.99, 0.999].map(|q| ms(h.quantile(q) as f64)));
    row.push(ms(h.max() as f64));
    row
}

fn latency_table(r: &RunReport, baseline: Option<&RunReport>) -> Value {
    let t = &r.totals;
    let mut rows = vec![latency_row("all calls", &t.latency_us), latency_row("successful calls", success_latency(t))];
    if t.function_us.count() > 0 {
        rows.push(latency_row("function duration", &t.function_us));
    }
    if let Some(b) = baseline {
        rows.push(latency_row("baseline: all calls", &b.totals.latency_us));
        rows.push(latency_row("baseline: successful calls", success_latency(&b.totals)));
    }
    let head = ["latency (ms)", "calls", "mean", "sd", "p50", "p90", "p99", "p99.9", "max"];
    table("latency-summary", "Latency: mean, standard deviation and percentiles", &head, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_row_has_the_mean_and_standard_deviation_beside_the_percentiles() {
        let mut h = Hist::default();
        for v in [1_000u64, 3_000] {
            h.record(v);
        }
        let row = latency_row("x", &h);
        assert_eq!(row[..4], ["x", "2", "2.00", "1.00"]);
        assert_eq!(row[8], "3.00");
    }
}

//! `report.html`: one self-contained file (inline CSS and SVG, no scripts, nothing
//! fetched) with the run's charts, tables, verification and scenario.

use std::fmt::Write;

use workers::Hist;

use super::console::Console;
use super::svg::{esc, short, BarChart, LineChart, Series};
use super::{percent, Render, RunReport};

mod lambda;

pub struct Html;

/// Quantiles of the distribution chart, drawn at x = -log10(1 - q).
const QUANTILES: [f64; 12] = [0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999];

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\
td.n{text-align:right}.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}\
pre{background:#f6f8fa;padding:10px;font-size:12px;overflow:auto}svg.chart{display:block;margin:12px 0;max-width:100%;height:auto}";

impl Render for Html {
    fn render(&self, r: &RunReport) -> anyhow::Result<Vec<u8>> {
        let t = &r.totals;
        let mut s = String::new();
        writeln!(s, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
        writeln!(s, "<title>{} · {}</title><style>{STYLE}</style></head><body>", esc(&r.plan.name), esc(&r.run_id))?;
        writeln!(s, "<h1>{} <small>{}</small></h1>", esc(&r.plan.name), esc(&r.run_id))?;
        if let Some(d) = &r.plan.description {
            writeln!(s, "<p>{}</p>", esc(d))?;
        }
        let verdict = match &r.verification {
            Some(v) if v.passed => "<span class=\"pass\">PASS</span>".to_string(),
            Some(_) => "<span class=\"fail\">FAIL</span>".to_string(),
            None => "not run (the database is out of reach)".to_string(),
        };
        writeln!(
            s,
            "<p>Started {} · harness {} · target {} · {} worker(s) · stopped: {} · verification: {verdict}</p>",
            esc(&r.started_at.rfc3339()),
            esc(&r.harness_version),
            esc(&target_name(r)),
            r.workers.len().max(1),
            r.end.stop.name()
        )?;
        key_figures(&mut s, r)?;
        kinds_table(&mut s, r)?;

        writeln!(s, "<h2>Over time</h2>")?;
        s += &throughput_chart(r).render();
        s += &latency_chart(r).render();
        writeln!(s, "<h2>Distributions</h2>")?;
        s += &distribution_chart(r).render();
        if t.retries.count() > 0 {
            s += &retries_chart(&t.retries).render();
        }
        lambda::platform_and_cost(&mut s, r)?;
        if let Some(hot) = &r.hot_accounts {
            lambda::hot_accounts(&mut s, hot)?;
        }
        writeln!(s, "<h2>Workers</h2>")?;
        let bars = r.workers.iter().map(|w| (w.name.clone(), w.totals.calls as f64)).collect();
        s += &BarChart { id: "workers", title: "Calls per worker", x_label: "worker", y_label: "calls", bars }.render();
        workers_table(&mut s, r)?;

        writeln!(s, "<h2>Errors</h2>")?;
        errors_table(&mut s, r)?;
        writeln!(s, "<h2>Verification</h2>")?;
        match &r.verification {
            Some(v) => {
                let details = v.summary();
                let details = details.trim_start_matches("PASS").trim_start_matches("FAIL").trim_start();
                writeln!(s, "<p id=\"verification\">{verdict} {}</p>", esc(details))?;
                if !v.invariants.is_empty() {
                    let items: String = v.lines().iter().map(|l| format!("<li>{}</li>", esc(l))).collect();
                    writeln!(s, "<ul id=\"invariants\">{items}</ul>")?;
                }
            }
            None => writeln!(s, "<p id=\"verification\">{verdict}</p>")?,
        }
        if !r.checks.is_empty() {
            writeln!(s, "<h2>Thresholds</h2>")?;
            writeln!(s, "<pre>{}</pre>", esc(&super::console::checks_table(&r.checks)))?;
        }
        writeln!(s, "<h2>STATS</h2><pre>{}</pre>", esc(&String::from_utf8(Console.render(r)?)?))?;
        writeln!(s, "<h2>Scenario as run</h2><pre>{}</pre>", esc(&serde_json::to_string_pretty(&r.plan)?))?;
        writeln!(s, "</body></html>")?;
        Ok(s.into_bytes())
    }
}

fn target_name(r: &RunReport) -> String {
    r.plan.target.kind().to_string()
}

fn key_figures(s: &mut String, r: &RunReport) -> std::fmt::Result {
    let t = &r.totals;
    let ms = |us: u64| format!("{:.2} ms", us as f64 / 1_000.0);
    let rows = [
        ("Calls", t.calls.to_string()),
        ("Successful", format!("{} ({:.2}%)", t.successes, percent(t.successes, t.calls))),
        ("Errors", t.error_count().to_string()),
        ("Throughput", format!("{:.1} calls/s over {:.2} s", r.throughput(), r.end.elapsed_s)),
        (
            "Latency p50 / p90 / p99",
            format!(
                "{} / {} / {}",
                ms(t.latency_us.quantile(0.5)),
                ms(t.latency_us.quantile(0.9)),
                ms(t.latency_us.quantile(0.99))
            ),
        ),
        ("Latency p99.9 / max", format!("{} / {}", ms(t.latency_us.quantile(0.999)), ms(t.latency_us.max()))),
        (
            "Calls retried",
            format!(
                "{} ({:.2}%), {} retries in all",
                t.retried_calls,
                percent(t.retried_calls, t.retries.count()),
                t.total_retries
            ),
        ),
        ("Late starts", t.late_starts.to_string()),
    ];
    writeln!(s, "<table id=\"figures\">")?;
    for (k, v) in rows {
        writeln!(s, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v))?;
    }
    writeln!(s, "</table>")
}

/// At most this many points per time chart: longer runs are drawn from buckets of
/// whole seconds, their histograms merged exactly, so a 24-hour run's page stays as
/// small and fast as a 12-minute one's (the exact per-second data stays in
/// summary.json, timeseries.csv and latency.hlog).
pub const MAX_POINTS: usize = 720;

/// Consecutive seconds merged: where the bucket ends (seconds into the run), how many
/// seconds it covers, its counts and its latency histogram (merged exactly).
pub struct Bucket {
    pub end_s: f64,
    pub seconds: f64,
    pub successes: u64,
    pub errors: u64,
    pub latency_us: Hist,
}

/// The run's seconds in at most `MAX_POINTS` buckets of equal counts of seconds.
pub fn buckets(intervals: &[workers::Interval]) -> Vec<Bucket> {
    let per = intervals.len().div_ceil(MAX_POINTS).max(1);
    let mut end_s = 0.0;
    intervals
        .chunks(per)
        .map(|chunk| {
            let (mut seconds, mut successes, mut errors, mut latency_us) = (0.0, 0, 0, Hist::default());
            for i in chunk {
                seconds += i.seconds;
                successes += i.stats.successes;
                errors += i.stats.error_count();
                latency_us.merge(&i.stats.latency_us);
            }
            end_s += seconds;
            Bucket { end_s, seconds, successes, errors, latency_us }
        })
        .collect()
}

fn per_second(r: &RunReport, f: impl Fn(&Bucket) -> f64) -> Vec<(f64, f64)> {
    buckets(&r.intervals).iter().map(|b| (b.end_s, f(b))).collect()
}

fn at_second(x: f64) -> String {
    format!("{x:.0} s")
}

fn throughput_chart(r: &RunReport) -> LineChart<'static> {
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    LineChart {
        id: "throughput",
        title: "Throughput and errors",
        x_label: "seconds into the run",
        y_label: "calls per second",
        series: vec![
            Series { name: "successes/s".into(), points: per_second(r, |b| rate(b.successes, b.seconds)) },
            Series { name: "errors/s".into(), points: per_second(r, |b| rate(b.errors, b.seconds)) },
        ],
        x_ticks: None,
        x_name: at_second,
    }
}

fn latency_chart(r: &RunReport) -> LineChart<'static> {
    let q = |q: f64| move |b: &Bucket| b.latency_us.quantile(q) as f64 / 1_000.0;
    LineChart {
        id: "latency",
        title: "Client latency percentiles per second",
        x_label: "seconds into the run",
        y_label: "milliseconds",
        series: vec![
            Series { name: "p50".into(), points: per_second(r, q(0.5)) },
            Series { name: "p90".into(), points: per_second(r, q(0.9)) },
            Series { name: "p99".into(), points: per_second(r, q(0.99)) },
            Series { name: "max".into(), points: per_second(r, q(1.0)) },
        ],
        x_ticks: None,
        x_name: at_second,
    }
}

fn distribution_chart(r: &RunReport) -> LineChart<'static> {
    let curve = |h: &Hist| -> Vec<(f64, f64)> {
        if h.count() == 0 {
            return Vec::new();
        }
        QUANTILES.iter().map(|&q| (-(1.0 - q).log10(), h.quantile(q) as f64 / 1_000.0)).collect()
    };
    let mut series = vec![Series { name: "client latency".into(), points: curve(&r.totals.latency_us) }];
    if r.totals.function_us.count() > 0 {
        series.push(Series { name: "function duration".into(), points: curve(&r.totals.function_us) });
    }
    let labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
    LineChart {
        id: "distribution",
        title: "Latency by percentile (log scale)",
        x_label: "percentile",
        y_label: "milliseconds",
        series,
        x_ticks: Some(labels.iter().enumerate().map(|(i, l)| (i as f64, l.to_string())).collect()),
        x_name: |x| format!("p{}", short(100.0 * (1.0 - 10f64.powf(-x)))),
    }
}

fn retries_chart(retries: &Hist) -> BarChart<'static> {
    const MAX_BARS: u64 = 20;
    let h = retries.to_histogram();
    let mut bars: Vec<(String, f64)> = Vec::new();
    let mut beyond = 0u64;
    for v in h.iter_recorded() {
        let n = h.highest_equivalent(v.value_iterated_to());
        if n < MAX_BARS {
            bars.push((n.to_string(), v.count_at_value() as f64));
        } else {
            beyond += v.count_at_value();
        }
    }
    if beyond > 0 {
        bars.push((format!(">={MAX_BARS}"), beyond as f64));
    }
    BarChart { id: "retries", title: "OCC retries per call", x_label: "retries", y_label: "calls", bars }
}

fn workers_table(s: &mut String, r: &RunReport) -> std::fmt::Result {
    writeln!(s, "<table id=\"workers-table\"><tr><th>worker</th><th>status</th><th>calls</th><th>successes</th><th>errors</th><th>retries</th><th>p50 ms</th><th>p99 ms</th></tr>")?;
    for w in &r.workers {
        let t = &w.totals;
        let ms = |q: f64| format!("{:.2}", t.latency_us.quantile(q) as f64 / 1_000.0);
        writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&w.name),
            esc(w.status.name()),
            t.calls,
            t.successes,
            t.error_count(),
            t.total_retries,
            ms(0.5),
            ms(0.99)
        )?;
    }
    writeln!(s, "</table>")
}

/// Each kind of call's figures, when the scenario has several.
fn kinds_table(s: &mut String, r: &RunReport) -> std::fmt::Result {
    let rows = super::kinds::rows(r);
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(s, "<h2>By kind of call</h2>\n<table id=\"kinds\"><tr>")?;
    for h in super::kinds::HEADERS {
        write!(s, "<th>{h}</th>")?;
    }
    writeln!(s, "</tr>")?;
    for row in rows.iter().map(super::console::kind_cells) {
        write!(s, "<tr><td>{}</td>", esc(&row[0]))?;
        for c in &row[1..] {
            write!(s, "<td class=\"n\">{}</td>", esc(c))?;
        }
        writeln!(s, "</tr>")?;
    }
    writeln!(s, "</table>")
}

fn errors_table(s: &mut String, r: &RunReport) -> std::fmt::Result {
    if r.totals.error_messages.is_empty() {
        return writeln!(s, "<p id=\"errors\">No errors.</p>");
    }
    let mut rows: Vec<_> = r.totals.error_messages.iter().collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    writeln!(s, "<table id=\"errors\"><tr><th>class</th><th>message</th><th>count</th></tr>")?;
    for (class, message, n) in rows {
        writeln!(s, "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>", class.name(), esc(message))?;
    }
    writeln!(s, "</table>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use workers::{CallRecord, Interval, Stats};

    /// `n` one-second intervals with 1 to 3 calls each.
    fn seconds(n: u64) -> Vec<Interval> {
        (0..n)
            .map(|k| {
                let mut stats = Stats::default();
                for c in 0..(1 + k % 3) {
                    let latency_us = 1_000 + k % 5_000 + c;
                    stats.record(&CallRecord {
                        latency_us,
                        function_us: None,
                        retries: None,
                        error: None,
                        late: false,
                        ..CallRecord::default()
                    });
                }
                stats.pack();
                Interval { index: k, seconds: 1.0, started: 0, in_flight: 0, stats, accounts: Default::default() }
            })
            .collect()
    }

    #[test]
    fn long_runs_are_drawn_from_at_most_max_points_exact_buckets() {
        // 36 minutes: 2,160 seconds in 720 buckets of 3 (a day: buckets of 120).
        let run = seconds(2_160);
        let b = buckets(&run);
        assert_eq!(b.len(), MAX_POINTS);
        assert_eq!(b.iter().map(|b| b.successes).sum::<u64>(), run.iter().map(|i| i.stats.successes).sum::<u64>());
        assert_eq!(b.last().unwrap().end_s, 2_160.0);
        let mut first = Hist::default();
        run[..3].iter().for_each(|i| first.merge(&i.stats.latency_us));
        assert_eq!(b[0].latency_us, first, "a bucket's histogram is its seconds' merged exactly");
        assert_eq!(buckets(&run[..600]).len(), 600, "short runs keep every second");
    }
}

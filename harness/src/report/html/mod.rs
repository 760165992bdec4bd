//! `report.html`: one self-contained file with the run's tables and interactive charts.
//! The Rust side builds the page's data (`page_data`, one JSON object) and renders the
//! page shell around it; the inline script draws every chart from that object with uPlot
//! (vendored in `harness/assets/uplot/`, inlined: the page fetches nothing), so a live
//! page can draw the same charts from the same object pushed every second.

use std::fmt::Write;

use serde_json::Value;
use workers::{ErrorClass, Hist};

use super::console::Console;
use super::markup::escape as esc;
use super::{Render, RunReport};

mod data;
mod distribution;
mod lambda;
mod panel;
mod tables;
mod timeline;

pub use data::page_data;

pub struct Html;

/// uPlot 1.6.32 (MIT, github.com/leeoniya/uPlot), from its npm package.
const UPLOT_JS: &str = include_str!("../../../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../assets/uplot/uPlot.min.css");
const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");

impl Render for Html {
    fn render(&self, r: &RunReport) -> anyhow::Result<Vec<u8>> {
        Ok(render(r, None)?.into_bytes())
    }
}

/// The page of `r`, with the baseline's curves and figures when `baseline` is given.
pub fn render(r: &RunReport, baseline: Option<&RunReport>) -> anyhow::Result<String> {
    let mut s = String::new();
    writeln!(s, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(s, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")?;
    writeln!(
        s,
        "<title>{} · {}</title><style>{UPLOT_CSS}\n{PAGE_CSS}</style></head><body>",
        esc(&r.plan.name),
        esc(&r.run_id)
    )?;
    header(&mut s, r, baseline)?;
    writeln!(s, "<div id=\"tables\" class=\"tables\"></div>")?;
    tables::kinds_table(&mut s, r)?;
    writeln!(s, "<h2>Charts</h2><div id=\"panels\" class=\"grid\"></div><ul id=\"left-out\"></ul>")?;
    lambda::platform_and_cost(&mut s, r)?;
    lambda::hot_accounts(&mut s, r)?;
    writeln!(s, "<h2>Workers</h2>")?;
    tables::workers_table(&mut s, r)?;
    writeln!(s, "<h2>Errors</h2>")?;
    tables::errors_table(&mut s, r)?;
    tables::verification_and_checks(&mut s, r)?;
    writeln!(s, "<h2>STATS</h2><pre id=\"stats\">{}</pre>", esc(&String::from_utf8(Console.render(r)?)?))?;
    writeln!(s, "<h2>Scenario as run</h2><pre>{}</pre>", esc(&serde_json::to_string_pretty(&r.plan)?))?;
    s += &scripts(&page_data(r, baseline))?;
    writeln!(s, "</body></html>")?;
    Ok(s)
}

/// The data as an inline JSON script, uPlot and the page's script: everything a page
/// with `#tables`, `#panels` and `#left-out` needs to draw the charts from `data`.
pub fn scripts(data: &Value) -> anyhow::Result<String> {
    // `<` only occurs inside JSON strings, where `\u003c` means the same: no `</script>`.
    let json = serde_json::to_string(data)?.replace('<', "\\u003c");
    Ok(format!(
        "<script type=\"application/json\" id=\"report-data\">{json}</script>\n<script>{UPLOT_JS}</script>\n<script>{PAGE_JS}</script>\n"
    ))
}

fn header(s: &mut String, r: &RunReport, baseline: Option<&RunReport>) -> std::fmt::Result {
    writeln!(s, "<h1>{} <small>{}</small></h1>", esc(&r.plan.name), esc(&r.run_id))?;
    if let Some(d) = &r.plan.description {
        writeln!(s, "<p>{}</p>", esc(d))?;
    }
    writeln!(
        s,
        "<p>Started {} · harness {} · target {} · {} load model · {} worker(s) · stopped: {} · verification: {}</p>",
        esc(&r.started_at.rfc3339()),
        esc(&r.harness_version),
        esc(r.plan.target.kind()),
        timeline::model_name(&r.plan.engine.load),
        r.workers.len().max(1),
        r.end.stop.name(),
        tables::verdict(r)
    )?;
    if let Some(b) = baseline {
        writeln!(
            s,
            "<p id=\"baseline\">Baseline: {} ({}), drawn in grey dashes on the charts.</p>",
            esc(&b.run_id),
            esc(&b.plan.name)
        )?;
    }
    Ok(())
}

/// At most this many points per time chart: longer runs are drawn from buckets of
/// whole seconds, their histograms merged exactly, so a 24-hour run's page stays as
/// small and fast as a 12-minute one's (the exact per-second data stays in
/// summary.json, timeseries.csv and latency.hlog).
pub const MAX_POINTS: usize = 720;

/// Consecutive seconds merged: where the bucket ends (seconds into the run), how many
/// seconds it covers, its counts (errors by class), the calls started in it, the most
/// calls in flight at one of its seconds' ends, and its latency histogram (merged
/// exactly).
#[derive(Default)]
pub struct Bucket {
    pub end_s: f64,
    pub seconds: f64,
    pub calls: u64,
    pub successes: u64,
    pub errors: std::collections::BTreeMap<ErrorClass, u64>,
    pub started: u64,
    pub in_flight: u64,
    pub latency_us: Hist,
}

/// The run's seconds in at most `MAX_POINTS` buckets of equal counts of seconds.
pub fn buckets(intervals: &[workers::Interval]) -> Vec<Bucket> {
    let per = intervals.len().div_ceil(MAX_POINTS).max(1);
    let (mut end_s, mut started) = (0.0, 0);
    intervals
        .chunks(per)
        .map(|chunk| {
            let mut b = Bucket::default();
            for i in chunk {
                b.seconds += i.seconds;
                b.calls += i.stats.calls;
                b.successes += i.stats.successes;
                for (class, n) in &i.stats.errors {
                    *b.errors.entry(*class).or_default() += n;
                }
                b.in_flight = b.in_flight.max(i.in_flight);
                b.latency_us.merge(&i.stats.latency_us);
            }
            end_s += b.seconds;
            let last = chunk.last().map_or(started, |i| i.started);
            (b.end_s, b.started, started) = (end_s, last.saturating_sub(started), last);
            b
        })
        .collect()
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

//! Each kind of call's figures (`[[call]]`), one row per kind and one for the whole,
//! for every report format that shows them: the STATS block, the Markdown summary and
//! the HTML report format these same rows (`console::kind_cells`). Rows come from the
//! exactly merged per-kind statistics (`Stats::kinds`), so the kinds add up to the run.

use workers::Stats;

use crate::summary::{success_latency, RunReport};

/// The columns, in order.
pub const HEADERS: [&str; 9] = ["kind", "calls", "share", "successful", "errors", "retried", "p50", "p90", "p99"];

/// One kind's figures; latencies (microseconds) are of its successful calls.
#[derive(Debug, Clone, PartialEq)]
pub struct KindRow {
    pub name: String,
    pub calls: u64,
    /// Every call of the run, for the kind's share.
    pub of: u64,
    pub successes: u64,
    pub errors: u64,
    pub retried: u64,
    /// p50, p90, p99; `None` without a successful call.
    pub latency_us: Option<[u64; 3]>,
}

/// The table's rows, the whole last; none when the run had one kind of call.
pub fn rows(r: &RunReport) -> Vec<KindRow> {
    let t = &r.totals;
    if t.kinds.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<KindRow> = t.kinds.iter().map(|(name, k)| row(name, k, t.calls)).collect();
    out.push(row("all", t, t.calls));
    out
}

fn row(name: &str, k: &Stats, of: u64) -> KindRow {
    let ok = success_latency(k);
    KindRow {
        name: name.to_string(),
        calls: k.calls,
        of,
        successes: k.successes,
        errors: k.error_count(),
        retried: k.retried_calls,
        latency_us: (ok.count() > 0).then(|| [0.5, 0.9, 0.99].map(|q| ok.quantile(q))),
    }
}

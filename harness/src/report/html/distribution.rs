//! The charts of the whole run: the latency histogram (log-spaced bins from the HDR
//! histogram), latency by percentile, OCC retries per call, retries by account rank and
//! calls per worker; each left out, with why, when it would carry no information.

use workers::Hist;

use super::panel::{join, round, Line, Panel, Style, BLUE, GREY, ORANGE, PURPLE, RED};
use crate::summary::RunReport;

/// Bins of the latency histogram, log-spaced between the fastest and slowest call.
const BINS: usize = 40;

/// Quantiles of the distribution chart, drawn at x = -log10(1 - q).
const QUANTILES: [f64; 12] = [0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999];

fn whole(id: &'static str, title: &str, x_label: &'static str, y_label: &'static str) -> Panel {
    Panel { x_label, x_unit: "", ..Panel::over_time(id, title, y_label, "") }
}

pub fn panels(r: &RunReport, baseline: Option<&RunReport>) -> Vec<Panel> {
    vec![histogram(r, baseline), percentiles(r, baseline), retries(r), hot_accounts(r), workers(r)]
}

/// Log-spaced bin edges (µs) covering `[lo, hi]`.
fn edges(lo: u64, hi: u64) -> Vec<f64> {
    let (lo, hi) = ((lo.max(1) as f64).ln(), ((hi.max(lo) + 1) as f64).ln());
    (0..=BINS).map(|i| (lo + (hi - lo) * i as f64 / BINS as f64).exp()).collect()
}

/// The share of `h`'s calls (percent) in each bin of `edges`: each recorded value in the
/// bin its HDR bucket's middle falls in.
pub fn shares(h: &Hist, edges: &[f64]) -> Vec<Option<f64>> {
    let mut counts = vec![0u64; edges.len() - 1];
    let hdr = h.to_histogram();
    for v in hdr.iter_recorded() {
        let at = hdr.median_equivalent(v.value_iterated_to()) as f64;
        let bin = edges.partition_point(|e| *e <= at).clamp(1, counts.len()) - 1;
        counts[bin] += v.count_at_value();
    }
    let total = h.count().max(1) as f64;
    counts.iter().map(|&c| Some(round(100.0 * c as f64 / total))).collect()
}

fn histogram(r: &RunReport, baseline: Option<&RunReport>) -> Panel {
    let mut p = whole("histogram", "Latency histogram (log-spaced bins)", "client latency", "% of calls");
    (p.x_unit, p.y_unit, p.x_log) = ("ms", "%", true);
    let h = &r.totals.latency_us;
    if h.count() == 0 {
        return p.left_out("no call completed");
    }
    let base = baseline.map(|b| &b.totals.latency_us).filter(|b| b.count() > 0);
    let lo = base.map_or(h.min(), |b| b.min().min(h.min()));
    let hi = base.map_or(h.max(), |b| b.max().max(h.max()));
    let e = edges(lo, hi);
    p.x = e.windows(2).map(|w| round((w[0] * w[1]).sqrt() / 1_000.0)).collect();
    p.series.push(Line::new("this run", Style::Bars, BLUE, shares(h, &e)));
    if let Some(b) = base {
        p.series.push(Line::new("baseline", Style::Step, GREY, shares(b, &e)));
    }
    p
}

fn percentiles(r: &RunReport, baseline: Option<&RunReport>) -> Panel {
    let mut p = whole("distribution", "Latency by percentile (log scale)", "percentile", "milliseconds");
    (p.x_unit, p.y_unit) = ("percentile", "ms");
    let curve = |h: &Hist| -> Vec<Option<f64>> {
        QUANTILES.iter().map(|&q| (h.count() > 0).then(|| round(h.quantile(q) as f64 / 1_000.0))).collect()
    };
    let x: Vec<f64> = QUANTILES.iter().map(|q| round(-(1.0 - q).log10())).collect();
    let mut lines = vec![Line::new("client latency", Style::Line, BLUE, curve(&r.totals.latency_us))];
    if r.totals.function_us.count() > 0 {
        lines.push(Line::new("function duration", Style::Line, ORANGE, curve(&r.totals.function_us)));
    }
    if let Some(b) = baseline {
        lines.push(Line::new("baseline client latency", Style::Dash, GREY, curve(&b.totals.latency_us)));
    }
    (p.x, p.series) = join(&[(&x, lines)]);
    p.x_ticks = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64, l.to_string()))
        .collect();
    p
}

fn retries(r: &RunReport) -> Panel {
    const MAX_BARS: u64 = 20;
    let mut p = whole("retries", "OCC retries per call", "retries", "calls");
    let t = &r.totals;
    if t.retries.count() == 0 {
        return p.left_out(format!(
            "no call reported its OCC retries (the {} target's answers do not carry them)",
            r.plan.target.kind()
        ));
    }
    if t.total_retries == 0 {
        return p.left_out(format!(
            "no call was retried (all {} calls that reported their retries had none)",
            t.retries.count()
        ));
    }
    let h = t.retries.to_histogram();
    let mut bars = vec![0u64; MAX_BARS as usize + 1];
    for v in h.iter_recorded() {
        bars[h.highest_equivalent(v.value_iterated_to()).min(MAX_BARS) as usize] += v.count_at_value();
    }
    while bars.len() > 1 && bars.last() == Some(&0) {
        bars.pop();
    }
    p.x = (0..bars.len()).map(|i| i as f64).collect();
    p.x_ticks = (0..bars.len())
        .map(|i| (i as f64, if i as u64 == MAX_BARS { format!(">={i}") } else { i.to_string() }))
        .collect();
    p.series.push(Line::new("calls", Style::Bars, PURPLE, bars.iter().map(|&n| Some(n as f64)).collect()));
    p
}

fn hot_accounts(r: &RunReport) -> Panel {
    let mut p = whole(
        "hot-accounts-chart",
        "OCC retries by account rank (log scale)",
        "account rank (1 = most retries)",
        "retries",
    );
    p.x_log = true;
    let Some(h) = &r.hot_accounts else {
        return p.left_out("no call named the accounts it touched");
    };
    if h.account_retries == 0 {
        return p.left_out(format!("no account took part in a retried transaction ({} accounts touched)", h.touched));
    }
    p.x = h.retries_by_rank.iter().map(|[rank, _]| *rank as f64).collect();
    p.series.push(Line::new(
        "retries",
        Style::Line,
        RED,
        h.retries_by_rank.iter().map(|[_, n]| Some(*n as f64)).collect(),
    ));
    p
}

fn workers(r: &RunReport) -> Panel {
    let mut p = whole("workers", "Calls per worker", "worker", "calls");
    if r.workers.len() <= 1 {
        return p.left_out("one worker made every call");
    }
    p.x = (0..r.workers.len()).map(|i| i as f64).collect();
    p.x_ticks = r.workers.iter().enumerate().map(|(i, w)| (i as f64, w.name.clone())).collect();
    p.series.push(Line::new(
        "calls",
        Style::Bars,
        BLUE,
        r.workers.iter().map(|w| Some(w.totals.calls as f64)).collect(),
    ));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_bins_every_call_once_on_a_log_scale() {
        let mut h = Hist::default();
        for v in [1_000u64, 1_100, 2_000, 10_000, 10_500, 99_000] {
            h.record(v);
        }
        let e = edges(h.min(), h.max());
        assert_eq!(e.len(), BINS + 1);
        let ratio = e[1] / e[0];
        assert!(e.windows(2).all(|w| (w[1] / w[0] - ratio).abs() < 1e-9), "equal ratios: log-spaced");
        let s = shares(&h, &e);
        let total: f64 = s.iter().map(|v| v.unwrap()).sum();
        assert!((total - 100.0).abs() < 0.01, "every call in one bin: {total}");
        assert!(s[0].unwrap() > 0.0 && s[BINS - 1].unwrap() > 0.0, "the fastest and slowest have bins: {s:?}");
    }
}

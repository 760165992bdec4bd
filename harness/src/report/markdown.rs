//! A Markdown summary of a run and its checks, for `$GITHUB_STEP_SUMMARY` and pull-request
//! comments (`harness run --summary-md FILE`, `harness check --summary-md FILE`).

use std::fmt::Write;

use super::console::{ms, thousands};
use super::RunReport;
use crate::summary::{success_latency, Check};

/// The run's key figures, then `checks` (with the baseline's run id, if any).
pub fn render(r: &RunReport, checks: &[Check], baseline: Option<&str>) -> String {
    let mut s = String::new();
    let failed = checks.iter().filter(|c| !c.passed).count();
    let verdict = match (checks.is_empty(), failed) {
        (true, _) => String::new(),
        (false, 0) => format!(" :white_check_mark: {} checks passed", checks.len()),
        (false, n) => format!(" :x: {n} of {} checks failed", checks.len()),
    };
    let _ = writeln!(s, "### {} `{}`{verdict}\n", cell(&r.plan.name), cell(&r.run_id));
    let (t, a) = (&r.totals, r.accounting());
    let ok = success_latency(t);
    let _ = writeln!(s, "| calls | successful | failed | abandoned | calls/s | goodput/s | p50 | p99 | retried |");
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {:.2}% |\n",
        thousands(t.calls),
        thousands(a.succeeded),
        thousands(a.failed),
        thousands(a.abandoned),
        r.throughput(),
        r.goodput(),
        ms(ok.quantile(0.5)),
        ms(ok.quantile(0.99)),
        super::percent(t.retried_calls, t.retries.count())
    );
    let kinds = super::kinds::rows(r);
    if !kinds.is_empty() {
        let _ = writeln!(s, "| {} |", super::kinds::HEADERS.join(" | "));
        let _ = writeln!(s, "|---|{}", "---:|".repeat(super::kinds::HEADERS.len() - 1));
        for row in kinds.iter().map(super::console::kind_cells) {
            let _ = writeln!(s, "| {} |", row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
        }
        let _ = writeln!(s);
    }
    if let Some(v) = &r.verification {
        let _ = writeln!(s, "Verification: {}\n", cell(&v.summary()));
        for line in v.lines() {
            let _ = writeln!(s, "- {}", cell(&line));
        }
        if !v.invariants.is_empty() {
            let _ = writeln!(s);
        }
    }
    if !checks.is_empty() {
        if let Some(b) = baseline {
            let _ = writeln!(s, "Baseline: `{}`\n", cell(b));
        }
        let _ = writeln!(s, "| check | value | limit | baseline | result |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        for c in checks {
            let result = if c.passed { "PASS" } else { "**FAIL**" };
            let base = c.baseline.as_deref().unwrap_or("-");
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {result} |",
                cell(&c.name),
                cell(&c.value),
                cell(&c.limit),
                cell(base)
            );
        }
    }
    s
}

/// Text safe in a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

//! The workshop's STATS block, extended with client-latency percentiles, what Lambda
//! reported (`lambda`), cold starts, late starts, the cost and the verification result.

use std::fmt::Write;

use workers::{ErrorClass, Hist};

use super::{Render, RunReport};
use crate::summary::{success_latency, Check};

mod accounts;
mod lambda;
mod server;
pub use lambda::dollars;

pub struct Console;

impl Render for Console {
    fn render(&self, r: &RunReport) -> anyhow::Result<Vec<u8>> {
        let mut s = String::new();
        totals(&mut s, r)?;
        times(&mut s, r)?;
        lambda::platform(&mut s, &r.totals)?;
        errors(&mut s, &r.totals)?;
        lambda::throttles(&mut s, &r.totals)?;
        retries(&mut s, r)?;
        fields(&mut s, &r.totals)?;
        kinds(&mut s, r)?;
        if let Some(hot) = &r.hot_accounts {
            accounts::hot(&mut s, hot)?;
        }
        if let Some(view) = &r.server {
            server::server(&mut s, view, &r.totals)?;
        }
        if let Some(cost) = &r.cost {
            lambda::cost(&mut s, cost)?;
        }
        environments_and_workers(&mut s, r)?;
        how_it_ended(&mut s, r)?;
        match &r.verification {
            Some(v) => {
                writeln!(s, "\nVerification: {}", v.summary())?;
                for line in v.lines() {
                    writeln!(s, "  {line}")?;
                }
            }
            None => writeln!(s, "\nVerification: skipped (no database access for this target)")?,
        }
        Ok(s.into_bytes())
    }
}

/// The workshop's head: calls, successes, errors, time and throughput.
fn totals(s: &mut String, r: &RunReport) -> std::fmt::Result {
    let t = &r.totals;
    let rule = "=".repeat(60);
    writeln!(s, "\n{rule}\nSTATS\n{rule}")?;
    writeln!(s, "Total calls:        {}", thousands(t.calls))?;
    writeln!(s, "Successful:         {} ({})", thousands(t.successes), pct(t.successes, t.calls))?;
    writeln!(s, "Errors:             {} ({})", thousands(t.error_count()), pct(t.error_count(), t.calls))?;
    writeln!(s)?;
    writeln!(s, "Total time:         {:.2}s", r.end.elapsed_s)?;
    writeln!(s, "Throughput:         {:.0} calls/second", r.throughput())?;
    writeln!(s, "Goodput:            {:.0} successful calls/second", r.goodput())?;
    accounting(s, r)
}

/// The identity: where every planned call went.
fn accounting(s: &mut String, r: &RunReport) -> std::fmt::Result {
    let a = r.accounting();
    let planned = match a.planned {
        Some(p) => format!("{} planned", thousands(p)),
        None => format!("{} started", thousands(a.started)),
    };
    let mut parts = vec![format!("{} succeeded", thousands(a.succeeded)), format!("{} failed", thousands(a.failed))];
    parts.push(format!("{} abandoned", thousands(a.abandoned)));
    if let Some(n) = a.not_started {
        parts.push(format!("{} not started", thousands(n)));
    }
    if a.unreported > 0 {
        parts.push(format!("{} may have started, not reported", thousands(a.unreported)));
    }
    let verdict = if a.holds() { "" } else { "  (DOES NOT ADD UP)" };
    writeln!(s, "Calls:              {planned} = {}{verdict}", parts.join(" + "))?;
    match &a.reconciliation {
        Some(r) => reconciled(s, r, a.unreported),
        None => Ok(()),
    }
}

/// A run with lost or failed workers: its unreported calls against what the endpoint and
/// the database counted.
fn reconciled(s: &mut String, r: &crate::summary::Reconciliation, unreported: u64) -> std::fmt::Result {
    let reached = match (r.endpoint_invocations, r.unreported_reached_at_least, r.unreported_reached_at_most) {
        (Some(i), Some(lo), Some(hi)) => {
            let range = if lo == hi { thousands(hi) } else { format!("{} to {}", thousands(lo), thousands(hi)) };
            format!(
                "the endpoint counted {} invocations for {} reported answered: {range} of the {} unreported reached the function",
                thousands(i),
                thousands(r.reported_answered),
                thousands(unreported)
            )
        }
        _ => "the endpoint gave no invocation count to check the unreported calls against".into(),
    };
    writeln!(s, "Reconciled:         {reached}")?;
    if let Some(committed) = r.committed {
        writeln!(
            s,
            "                    the database added {} transfers for {} reported successes; verification allowed {} of unknown outcome",
            thousands(committed.max(0) as u64),
            thousands(r.successes),
            thousands(r.unknown_allowed)
        )?;
    }
    Ok(())
}

/// The function's execution times and the client's latency.
fn times(s: &mut String, r: &RunReport) -> std::fmt::Result {
    let t = &r.totals;
    if t.function_us.count() > 0 {
        writeln!(s, "\nLambda Execution Times:")?;
        writeln!(s, "  Min:                {}", ms(t.function_us.min()))?;
        writeln!(s, "  Max:                {}", ms(t.function_us.max()))?;
        writeln!(s, "  Avg:                {:.2}ms", t.function_us.mean() / 1_000.0)?;
        let (p50, p99) = (ms(t.function_us.quantile(0.5)), ms(t.function_us.quantile(0.99)));
        writeln!(s, "  p50 / p99:          {p50} / {p99}")?;
    }
    if t.calls > 0 {
        let from = if r.plan.engine.load.is_open() { " (from intended start)" } else { "" };
        writeln!(s, "\nClient Latency{from}:")?;
        latency(s, &t.latency_us)?;
        if t.successes < t.calls {
            writeln!(s, "  successful calls only ({} of {}):", thousands(t.successes), thousands(t.calls))?;
            latency(s, success_latency(t))?;
        }
    }
    Ok(())
}

/// Errors by class, then the ten most frequent messages.
fn errors(s: &mut String, t: &workers::Stats) -> std::fmt::Result {
    if t.error_count() == 0 {
        return Ok(());
    }
    writeln!(s, "\nError Breakdown:")?;
    let classes: Vec<String> = ErrorClass::ALL
        .iter()
        .filter_map(|c| t.errors.get(c).map(|n| format!("{} {}", c.name(), thousands(*n))))
        .collect();
    writeln!(s, "  by class: {}", classes.join(", "))?;
    let mut messages: Vec<_> = t.error_messages.iter().collect();
    messages.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    for (class, message, n) in messages.iter().take(10) {
        writeln!(s, "  {}: {message}: {}", class.name(), thousands(*n))?;
    }
    if messages.len() > 10 {
        writeln!(s, "  ... and {} more kinds (see summary.json)", messages.len() - 10)?;
    }
    Ok(())
}

/// The workshop's OCC retry statistics, and the calls that failed on a conflict (the
/// function error types `[response] occ_error_types` names).
fn retries(s: &mut String, r: &RunReport) -> std::fmt::Result {
    let t = &r.totals;
    let failed = t.error_messages.of_types(ErrorClass::Function, &r.plan.engine.response.occ_types());
    if t.retries.count() == 0 && failed == 0 {
        return Ok(());
    }
    writeln!(s, "\nOCC Retry Statistics (of {} calls that reached the database):", thousands(t.retries.count()))?;
    writeln!(s, "  Total retries:      {}", thousands(t.total_retries))?;
    writeln!(s, "  Max retries:        {}", t.retries.max())?;
    writeln!(s, "  Avg retries/call:   {:.2}", t.total_retries as f64 / t.retries.count() as f64)?;
    let retried = (thousands(t.retried_calls), pct(t.retried_calls, t.retries.count()));
    writeln!(s, "  Transactions with retries: {} ({})", retried.0, retried.1)?;
    if failed > 0 {
        writeln!(s, "  Failed on an OCC conflict: {} ({})", thousands(failed), pct(failed, t.calls))?;
    }
    Ok(())
}

/// The answers' own fields that `[response] fields` maps: count and percentiles.
fn fields(s: &mut String, t: &workers::Stats) -> std::fmt::Result {
    if t.fields.is_empty() {
        return Ok(());
    }
    writeln!(
        s,
        "
Answer Fields ([response] fields):"
    )?;
    for (name, h) in &t.fields {
        let q = |p: f64| h.quantile(p);
        writeln!(
            s,
            "  {name}: {} answers; min {} / p50 {} / p90 {} / p99 {} / max {}; mean {:.2}",
            thousands(h.count()),
            h.min(),
            q(0.5),
            q(0.9),
            q(0.99),
            h.max(),
            h.mean()
        )?;
    }
    Ok(())
}

/// Cold starts and throttles of the local endpoint; the fleet and its lost workers.
fn environments_and_workers(s: &mut String, r: &RunReport) -> std::fmt::Result {
    if let Some(env) = &r.environments {
        writeln!(s, "\nExecution environments: {} cold starts (limit {})", env.cold_starts, env.max_environments)?;
        if env.throttles > 0 || env.timeouts > 0 || env.reclaimed > 0 {
            let (t, o, r) = (env.throttles, env.timeouts, env.reclaimed);
            writeln!(s, "  throttled: {t}, timed out: {o}, reclaimed after idling: {r}")?;
        }
    }
    if r.workers.len() > 1 || r.workers.iter().any(|w| w.lost()) {
        let lost: Vec<_> = r.workers.iter().filter(|w| w.lost()).collect();
        writeln!(s, "\nWorkers:            {} ({} lost)", r.workers.len(), lost.len())?;
        if let Some(c) = &r.coordinator {
            coordinator(s, c)?;
        }
        for w in lost {
            let mut undelivered =
                w.undelivered_calls.map_or(String::new(), |n| format!(", {} calls not started", thousands(n)));
            let unreported = w.unreported_at_most.max(w.unreported_calls);
            if unreported > 0 {
                undelivered += &format!(", {} may have started, not reported", thousands(unreported));
            }
            writeln!(
                s,
                "  {} {} at {}: {}; {} seconds missed{undelivered}",
                w.status.name().to_uppercase(),
                w.name,
                w.address.as_deref().unwrap_or("-"),
                w.reason.as_deref().unwrap_or("no reason given"),
                w.missed_intervals
            )?;
        }
    }
    Ok(())
}

/// What the fleet cost the coordinator: CPU, memory, and what it received per worker.
fn coordinator(s: &mut String, c: &crate::summary::CoordinatorCost) -> std::fmt::Result {
    let per = |v: u64| v as f64 / (c.workers.max(1) as f64 * c.seconds.max(1e-9));
    writeln!(
        s,
        "  coordinator: {:.1} s CPU over {:.0} s ({:.1}% of a core), peak memory {} MiB",
        c.cpu_s,
        c.seconds,
        100.0 * c.cpu_s / c.seconds.max(1e-9),
        c.max_rss_kib / 1024
    )?;
    writeln!(
        s,
        "  received: {} frames, {} bytes ({:.1} frames and {:.0} bytes per worker per second)",
        thousands(c.frames),
        thousands(c.bytes),
        per(c.frames),
        per(c.bytes)
    )
}

/// Late starts, abandoned calls, and why the run stopped early.
fn how_it_ended(s: &mut String, r: &RunReport) -> std::fmt::Result {
    if r.totals.late_starts > 0 {
        writeln!(s, "Late starts:        {} calls could not start on schedule", thousands(r.totals.late_starts))?;
    }
    if r.end.abandoned > 0 {
        let n = thousands(r.end.abandoned);
        writeln!(s, "Abandoned:          {n} calls still in flight at the drain timeout (counted as errors)")?;
    }
    if r.totals.clamped > 0 {
        let n = thousands(r.totals.clamped);
        writeln!(s, "Clamped:            {n} latencies beyond the histograms' 1 h range, recorded at its top")?;
    }
    if r.end.stop != workers::StopReason::Completed {
        let planned = r.plan.engine.load.planned_calls().map_or("?".into(), thousands);
        let (why, started) = (stop_reason(r.end.stop), thousands(r.end.started));
        writeln!(s, "Stopped early:      {why} after {started} of {planned} planned calls")?;
    }
    Ok(())
}

/// Why a run stopped early, in words.
pub fn stop_reason(stop: workers::StopReason) -> &'static str {
    match stop {
        workers::StopReason::Completed => "completed",
        workers::StopReason::TimeLimit => "the time limit (limits.max_duration) passed",
        workers::StopReason::Cancelled => "stopped by a signal or the fleet",
    }
}

/// Each kind of call's row, and the whole's, as an aligned table.
fn kinds(s: &mut String, r: &RunReport) -> std::fmt::Result {
    let rows: Vec<[String; 9]> = super::kinds::rows(r).iter().map(kind_cells).collect();
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(s, "\nBy kind of call (latency of the successful calls):")?;
    let mut widths = super::kinds::HEADERS.map(str::len);
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in std::iter::once(super::kinds::HEADERS.map(String::from)).chain(rows) {
        let mut line = String::from(" ");
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            let pad = " ".repeat(w - c.chars().count());
            line += &if i == 0 { format!(" {c}{pad}") } else { format!("  {pad}{c}") };
        }
        writeln!(s, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A kind's row as text, for every report format.
pub fn kind_cells(k: &super::kinds::KindRow) -> [String; 9] {
    let q = |i: usize| k.latency_us.map_or_else(|| "-".to_string(), |l| ms(l[i]));
    [
        k.name.clone(),
        thousands(k.calls),
        pct(k.calls, k.of),
        thousands(k.successes),
        thousands(k.errors),
        thousands(k.retried),
        q(0),
        q(1),
        q(2),
    ]
}

fn latency(s: &mut String, h: &Hist) -> std::fmt::Result {
    writeln!(
        s,
        "  p50: {}  p90: {}  p99: {}  p99.9: {}  max: {}",
        ms(h.quantile(0.5)),
        ms(h.quantile(0.9)),
        ms(h.quantile(0.99)),
        ms(h.quantile(0.999)),
        ms(h.max())
    )
}

/// The checks as a table, one row each, and a last line with the verdict.
pub fn checks_table(checks: &[Check]) -> String {
    let headers = ["Check", "Value", "Limit", "Baseline", "Result"];
    let rows: Vec<[String; 5]> = checks
        .iter()
        .map(|c| {
            let result = if c.passed { "PASS" } else { "FAIL" };
            [c.name.clone(), c.value.clone(), c.limit.clone(), c.baseline.clone().unwrap_or("-".into()), result.into()]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, cells: [&str; 5]| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(s, "{}", padded.join("  ").trim_end());
    };
    line(&mut s, headers);
    for row in &rows {
        line(&mut s, [&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    let _ = writeln!(
        s,
        "{}: {} of {} checks passed",
        if failed == 0 { "PASS" } else { "FAIL" },
        checks.len() - failed,
        checks.len()
    );
    s
}

/// Microseconds as milliseconds with two decimals.
pub fn ms(us: u64) -> String {
    format!("{:.2}ms", us as f64 / 1_000.0)
}

pub fn pct(part: u64, whole: u64) -> String {
    format!("{:.2}%", super::percent(part, whole))
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}

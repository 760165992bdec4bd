//! What Lambda and the database saw, in the STATS block: the REPORT lines' figures,
//! 429s by their reason, and the run's cost with where each part came from.

use std::fmt::Write;

use workers::{ErrorClass, Hist, PlatformStats, Stats};

use super::{ms, pct, thousands};
use crate::cost::Cost;

/// The REPORT lines: Lambda's own duration, billed duration, cold starts, memory.
pub fn platform(s: &mut String, t: &Stats) -> std::fmt::Result {
    let Some(p) = t.platform.as_ref().filter(|p| p.reports + p.unreadable > 0) else {
        return Ok(());
    };
    writeln!(s, "\nLambda REPORT Lines ({} of {} calls):", thousands(p.reports), thousands(t.calls))?;
    if p.reports > 0 {
        writeln!(s, "  Duration:           {}", spread(&p.duration_us, ms))?;
        let billed = |v: u64| format!("{v}ms");
        writeln!(s, "  Billed Duration:    {}", spread(&p.billed_ms, billed))?;
        let gb_s = p.gb_seconds();
        writeln!(
            s,
            "  Billed in total:    {} ms ({gb_s:.3} GB-s at {} MB)",
            thousands(p.billed_ms_total),
            p.memory_size_mb
        )?;
        cold_starts(s, p)?;
        let mb = |v: u64| format!("{v} MB");
        writeln!(s, "  Max Memory Used:    {} of {} MB", spread(&p.max_memory_used_mb, mb), p.memory_size_mb)?;
    }
    for (status, n) in &p.statuses {
        writeln!(s, "  Status {status}: {}", thousands(*n))?;
    }
    if p.unreadable > 0 {
        writeln!(s, "  Unreadable log tails (no REPORT line): {}", thousands(p.unreadable))?;
    }
    Ok(())
}

fn cold_starts(s: &mut String, p: &PlatformStats) -> std::fmt::Result {
    let share = pct(p.cold_starts, p.reports);
    if p.cold_starts == 0 {
        return writeln!(s, "  Cold starts:        0");
    }
    let init = (ms(p.init_us.quantile(0.5)), ms(p.init_us.max()));
    writeln!(
        s,
        "  Cold starts:        {} ({share}), Init Duration p50 {} max {}",
        thousands(p.cold_starts),
        init.0,
        init.1
    )
}

/// `p50 X  p99 Y  max Z` in the given unit.
fn spread(h: &Hist, unit: impl Fn(u64) -> String) -> String {
    format!("p50 {}  p99 {}  max {}", unit(h.quantile(0.5)), unit(h.quantile(0.99)), unit(h.max()))
}

/// What each throttle reason means: whose limit was hit.
pub fn throttle_reason(reason: &str) -> &'static str {
    match reason {
        "ConcurrentInvocationLimitExceeded" => "the account's concurrency quota (unreserved concurrency)",
        "ReservedFunctionConcurrentInvocationLimitExceeded" => "the function's reserved concurrency",
        "FunctionInvocationRateLimitExceeded" => "the account's invocation rate (10 x concurrency per second)",
        "ReservedFunctionInvocationRateLimitExceeded" => "the function's invocation rate (10 x reserved concurrency)",
        "CallerRateLimitExceeded" => "the caller's request rate",
        "ConcurrentSnapshotCreateLimitExceeded" => "SnapStart snapshot creation",
        _ => "no reason given",
    }
}

/// 429s by their reason, and whose limit each is.
pub fn throttles(s: &mut String, t: &Stats) -> std::fmt::Result {
    if t.errors.get(&ErrorClass::Throttle).copied().unwrap_or(0) == 0 {
        return Ok(());
    }
    writeln!(s, "  429s by reason:")?;
    for (message, n) in t.error_messages.of(ErrorClass::Throttle) {
        let reason = message.strip_prefix("TooManyRequestsException: ").unwrap_or(message);
        let shown = if reason.is_empty() { "(none)" } else { reason };
        writeln!(s, "    {shown}: {} ({})", thousands(n), throttle_reason(reason))?;
    }
    Ok(())
}

/// The run's cost, each part with where it came from.
pub fn cost(s: &mut String, c: &Cost) -> std::fmt::Result {
    let p = &c.prices;
    writeln!(s, "\nCost (prices for {} {}: {}):", p.region, p.architecture.name(), p.source)?;
    let usd = |v: Option<f64>| v.map_or("-".to_string(), dollars);
    writeln!(s, "  Lambda:             {}  ({})", usd(c.lambda.usd), c.lambda.how)?;
    writeln!(s, "  Database:           {}  ({})", usd(c.database.usd), c.database.how)?;
    writeln!(s, "  Run total:          {}", dollars(c.total_usd))?;
    match c.per_1000_successful_usd {
        Some(v) => writeln!(s, "  Per 1,000 successful transfers: {}", dollars(v)),
        None => writeln!(s, "  Per 1,000 successful transfers: -"),
    }
}

/// USD with enough digits to show a fraction of a cent.
pub fn dollars(v: f64) -> String {
    if v >= 1.0 {
        format!("${v:.2}")
    } else {
        format!("${v:.6}")
    }
}

//! The report's view of what Lambda and the database saw: the REPORT lines' figures,
//! the cost with where each part came from, and the hot accounts (the top 20; the chart
//! of retries by account rank is a panel of `distribution`).

use std::fmt::Write;

use crate::report::console::dollars;
use crate::report::markup::escape as esc;
use crate::summary::RunReport;

/// The REPORT figures and the cost, as a table.
pub fn platform_and_cost(s: &mut String, r: &RunReport) -> std::fmt::Result {
    let ms = |us: u64| format!("{:.2} ms", us as f64 / 1_000.0);
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(p) = r.totals.platform.as_ref().filter(|p| p.reports > 0) {
        rows.push(("REPORT lines".into(), format!("{} of {} calls", p.reports, r.totals.calls)));
        let d = &p.duration_us;
        rows.push((
            "Lambda duration p50 / p99 / max".into(),
            format!("{} / {} / {}", ms(d.quantile(0.5)), ms(d.quantile(0.99)), ms(d.max())),
        ));
        let b = &p.billed_ms;
        rows.push((
            "Billed duration p50 / p99 / max".into(),
            format!("{} / {} / {} ms", b.quantile(0.5), b.quantile(0.99), b.max()),
        ));
        rows.push((
            "Billed in total".into(),
            format!("{} ms, {:.3} GB-s at {} MB", p.billed_ms_total, p.gb_seconds(), p.memory_size_mb),
        ));
        let init = if p.cold_starts > 0 {
            format!(", Init Duration p50 {} max {}", ms(p.init_us.quantile(0.5)), ms(p.init_us.max()))
        } else {
            String::new()
        };
        rows.push(("Cold starts".into(), format!("{}{init}", p.cold_starts)));
        rows.push((
            "Max memory used p50 / max".into(),
            format!("{} / {} MB", p.max_memory_used_mb.quantile(0.5), p.max_memory_used_mb.max()),
        ));
    }
    if let Some(c) = &r.cost {
        let usd = |v: Option<f64>| v.map_or("-".to_string(), dollars);
        rows.push((
            "Prices".into(),
            format!("{} {}, {}", c.prices.region, c.prices.architecture.name(), c.prices.source),
        ));
        rows.push(("Lambda cost".into(), format!("{} ({})", usd(c.lambda.usd), c.lambda.how)));
        rows.push(("Database cost".into(), format!("{} ({})", usd(c.database.usd), c.database.how)));
        rows.push(("Cost per 1,000 successful transfers".into(), usd(c.per_1000_successful_usd)));
    }
    writeln!(s, "<h2>What Lambda saw, and the cost</h2>")?;
    if r.totals.platform.as_ref().is_none_or(|p| p.reports == 0) {
        writeln!(
            s,
            "<p class=\"left-out\" id=\"lambda-left-out\">Lambda's figures: left out because no call brought back a REPORT line (the {} target returned no log tails).</p>",
            r.plan.target.kind()
        )?;
    }
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(s, "<div class=\"wide\"><table id=\"lambda\">")?;
    for (k, v) in rows {
        writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v))?;
    }
    writeln!(s, "</table></div>")
}

/// The share of the calls and retries the busiest accounts took, and the top 20 (left
/// out, with why, when no transfer named its accounts or none was retried).
pub fn hot_accounts(s: &mut String, r: &RunReport) -> std::fmt::Result {
    writeln!(s, "<h2>Hot accounts</h2>")?;
    let Some(h) = &r.hot_accounts else {
        return writeln!(
            s,
            "<p class=\"left-out\" id=\"hot-left-out\">Hot accounts: left out because no call named the accounts it touched.</p>"
        );
    };
    let share =
        h.top_1pct_retry_share.map_or("no retries".to_string(), |v| format!("{:.1}% of the retries", v * 100.0));
    writeln!(
        s,
        "<p id=\"hot-share\">The busiest 1% of the accounts ({} of {}) took part in {:.1}% of the calls and {share}; an even spread gives 1%.</p>",
        h.top_1pct_accounts,
        h.accounts,
        h.top_1pct_call_share * 100.0
    )?;
    if h.account_retries == 0 {
        return writeln!(
            s,
            "<p class=\"left-out\" id=\"hot-left-out\">The top 20 by retries: left out because no account took part in a retried transaction.</p>"
        );
    }
    writeln!(s, "<div class=\"wide\"><table id=\"hot-accounts\"><tr><th>rank</th><th>account</th><th>as payer</th><th>as payee</th><th>retries</th><th>conflicts</th></tr>")?;
    for (i, a) in h.top.iter().enumerate() {
        writeln!(
            s,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            i + 1,
            a.id,
            a.payer,
            a.payee,
            a.retries,
            a.conflicts
        )?;
    }
    writeln!(s, "</table></div>")
}

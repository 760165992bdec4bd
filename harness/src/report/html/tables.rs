//! The page's tables drawn on the server: each kind of call, the workers, the errors,
//! the verification and the thresholds.

use std::fmt::Write;

use crate::report::markup::escape as esc;
use crate::report::{console, kinds, RunReport};

/// Each kind of call's figures, when the scenario has several.
pub fn kinds_table(s: &mut String, r: &RunReport) -> std::fmt::Result {
    let rows = kinds::rows(r);
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(s, "<h2>By kind of call</h2>\n<div class=\"wide\"><table id=\"kinds\"><tr>")?;
    for h in kinds::HEADERS {
        write!(s, "<th>{h}</th>")?;
    }
    writeln!(s, "</tr>")?;
    for row in rows.iter().map(console::kind_cells) {
        write!(s, "<tr><td>{}</td>", esc(&row[0]))?;
        for c in &row[1..] {
            write!(s, "<td class=\"n\">{}</td>", esc(c))?;
        }
        writeln!(s, "</tr>")?;
    }
    writeln!(s, "</table></div>")
}

pub fn workers_table(s: &mut String, r: &RunReport) -> std::fmt::Result {
    writeln!(s, "<div class=\"wide\"><table id=\"workers-table\"><tr><th>worker</th><th>status</th><th>calls</th><th>successes</th><th>errors</th><th>retries</th><th>p50 ms</th><th>p99 ms</th></tr>")?;
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
    writeln!(s, "</table></div>")
}

pub fn errors_table(s: &mut String, r: &RunReport) -> std::fmt::Result {
    if r.totals.error_messages.is_empty() {
        return writeln!(s, "<p id=\"errors\">No errors.</p>");
    }
    let mut rows: Vec<_> = r.totals.error_messages.iter().collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    writeln!(s, "<div class=\"wide\"><table id=\"errors\"><tr><th>class</th><th>message</th><th>count</th></tr>")?;
    for (class, message, n) in rows {
        writeln!(s, "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>", class.name(), esc(message))?;
    }
    writeln!(s, "</table></div>")
}

/// PASS, FAIL, or why the data was not verified.
pub fn verdict(r: &RunReport) -> String {
    match &r.verification {
        Some(v) if v.passed => "<span class=\"pass\">PASS</span>".to_string(),
        Some(_) => "<span class=\"fail\">FAIL</span>".to_string(),
        None => "not run (the database is out of reach)".to_string(),
    }
}

/// The verification's verdict and invariants, then the thresholds' table.
pub fn verification_and_checks(s: &mut String, r: &RunReport) -> std::fmt::Result {
    writeln!(s, "<h2>Verification</h2>")?;
    let verdict = verdict(r);
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
        writeln!(s, "<pre>{}</pre>", esc(&console::checks_table(&r.checks)))?;
    }
    Ok(())
}

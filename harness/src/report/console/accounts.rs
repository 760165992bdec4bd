//! The hot accounts in the STATS block: the top 1%'s share of the retries, and the
//! hottest few (the top 20 are in report.html and summary.json).

use std::fmt::Write;

use super::thousands;
use crate::hot::HotAccounts;

/// Rows shown here.
const SHOWN: usize = 5;

pub fn hot(s: &mut String, h: &HotAccounts) -> std::fmt::Result {
    writeln!(
        s,
        "\nHot Accounts ({} of {} accounts took part in a transfer):",
        thousands(h.touched),
        thousands(h.accounts)
    )?;
    let even = 100.0 * h.top_1pct_accounts as f64 / h.accounts as f64;
    let calls = h.top_1pct_call_share * 100.0;
    let Some(share) = h.top_1pct_retry_share else {
        let n = thousands(h.top_1pct_accounts);
        writeln!(
            s,
            "  The busiest 1% ({n} accounts) took part in {calls:.1}% of the calls (an even spread: {even:.1}%)"
        )?;
        return writeln!(s, "  No OCC retries: no account was hot");
    };
    writeln!(
        s,
        "  The busiest 1% ({} accounts) took part in {calls:.1}% of the calls and {:.1}% of the {} retries (an even spread: {even:.1}%)",
        thousands(h.top_1pct_accounts),
        share * 100.0,
        thousands(h.account_retries / 2)
    )?;
    writeln!(
        s,
        "  {:>4}  {:>10}  {:>9}  {:>9}  {:>8}  {:>9}",
        "Rank", "Account", "As payer", "As payee", "Retries", "Conflicts"
    )?;
    for (i, a) in h.top.iter().take(SHOWN).enumerate() {
        writeln!(
            s,
            "  {:>4}  {:>10}  {:>9}  {:>9}  {:>8}  {:>9}",
            i + 1,
            a.id,
            thousands(a.payer),
            thousands(a.payee),
            thousands(a.retries),
            thousands(a.conflicts)
        )?;
    }
    if h.top.len() > SHOWN {
        writeln!(s, "  ... the top {} in report.html and summary.json", h.top.len())?;
    }
    Ok(())
}

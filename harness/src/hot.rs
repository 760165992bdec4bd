//! The hot accounts: which accounts the OCC retries and conflicts piled up on, drawn
//! from every account's counts (merged exactly across workers). Transfers touch two
//! accounts, so each transfer's retries count for both; shares are of that doubled sum.

use serde::{Deserialize, Serialize};
use workers::AccountCounts;

/// Accounts in the table.
pub const TOP: usize = 20;

/// One account's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotAccount {
    pub id: i64,
    pub payer: u64,
    pub payee: u64,
    pub retries: u64,
    pub conflicts: u64,
}

/// The hot-account view of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotAccounts {
    /// Accounts the workload draws from, and those that took part in a transfer.
    pub accounts: u64,
    pub touched: u64,
    /// Retries summed over the accounts (each transfer's retries count for both).
    pub account_retries: u64,
    /// The `TOP` accounts with the most retries (then conflicts, then calls).
    pub top: Vec<HotAccount>,
    /// The busiest 1% of the accounts by calls (at least one): how many, their share
    /// of the calls (as payer or payee), and their share of `account_retries` (none
    /// without retries). An even spread gives about 1% of each.
    pub top_1pct_accounts: u64,
    pub top_1pct_call_share: f64,
    pub top_1pct_retry_share: Option<f64>,
    /// `[rank, retries]` of the accounts ranked by retries (rank 1 the hottest), every
    /// rank up to 100 and log-spaced after, for the chart.
    pub retries_by_rank: Vec<[u64; 2]>,
}

/// The view from every account's counts, for a workload over `accounts` accounts; none
/// for runs that made no transfer.
pub fn hot_accounts(counts: &AccountCounts, accounts: u64) -> Option<HotAccounts> {
    if counts.is_empty() {
        return None;
    }
    let mut rows: Vec<HotAccount> = counts
        .0
        .iter()
        .map(|(id, c)| HotAccount {
            id: *id,
            payer: c.payer,
            payee: c.payee,
            retries: c.retries,
            conflicts: c.conflicts,
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.retries, b.conflicts, b.payer + b.payee)
            .cmp(&(a.retries, a.conflicts, a.payer + a.payee))
            .then(a.id.cmp(&b.id))
    });
    let account_retries: u64 = rows.iter().map(|r| r.retries).sum();
    let accounts = accounts.max(rows.len() as u64);
    let k = accounts.div_ceil(100).max(1);
    let mut busiest: Vec<&HotAccount> = rows.iter().collect();
    busiest.sort_by(|a, b| (b.payer + b.payee, b.retries).cmp(&(a.payer + a.payee, a.retries)).then(a.id.cmp(&b.id)));
    let busiest = &busiest[..(k as usize).min(busiest.len())];
    let calls: u64 = rows.iter().map(|r| r.payer + r.payee).sum();
    let top_calls: u64 = busiest.iter().map(|r| r.payer + r.payee).sum();
    let top_retries: u64 = busiest.iter().map(|r| r.retries).sum();
    let share = (account_retries > 0).then(|| top_retries as f64 / account_retries as f64);
    Some(HotAccounts {
        top_1pct_call_share: top_calls as f64 / calls.max(1) as f64,
        accounts,
        touched: rows.len() as u64,
        account_retries,
        retries_by_rank: by_rank(&rows),
        top: rows.into_iter().take(TOP).collect(),
        top_1pct_accounts: k,
        top_1pct_retry_share: share,
    })
}

/// Every rank up to 100, then ranks growing by 5% (and the last), with their retries.
fn by_rank(rows: &[HotAccount]) -> Vec<[u64; 2]> {
    let mut points = Vec::new();
    let mut rank = 1usize;
    while rank <= rows.len() {
        points.push([rank as u64, rows[rank - 1].retries]);
        rank = if rank < 100 { rank + 1 } else { (rank as f64 * 1.05).ceil() as usize };
    }
    if points.last().is_some_and(|p| p[0] != rows.len() as u64) {
        points.push([rows.len() as u64, rows[rows.len() - 1].retries]);
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use workers::{CallRecord, ErrorClass};

    #[test]
    fn by_hand() {
        let mut counts = AccountCounts::default();
        // Account 1 pays 2 five times with 3 retries each; 3 pays 4 once with none; 5
        // pays 6 once and fails on a conflict after 1 retry.
        let transfer = |payer, payee, retries, conflict: bool| CallRecord {
            accounts: Some((payer, payee)),
            retries: Some(retries),
            error: conflict.then(|| (ErrorClass::Function, "OccConflict: (40001)".into())),
            ..CallRecord::default()
        };
        for _ in 0..5 {
            counts.record(&transfer(1, 2, 3, false));
        }
        counts.record(&transfer(3, 4, 0, false));
        counts.record(&transfer(5, 6, 1, true));
        let h = hot_accounts(&counts, 200).unwrap();
        assert_eq!((h.accounts, h.touched, h.account_retries, h.top_1pct_accounts), (200, 6, 32, 2));
        assert_eq!(h.top[0], HotAccount { id: 1, payer: 5, payee: 0, retries: 15, conflicts: 0 });
        assert_eq!(h.top[1], HotAccount { id: 2, payer: 0, payee: 5, retries: 15, conflicts: 0 });
        assert_eq!(h.top[2], HotAccount { id: 5, payer: 1, payee: 0, retries: 1, conflicts: 1 });
        assert_eq!(h.top_1pct_call_share, 10.0 / 14.0, "accounts 1 and 2 (5 calls each), the top 1% of 200");
        assert_eq!(h.top_1pct_retry_share, Some(30.0 / 32.0));
        assert_eq!(h.retries_by_rank, [[1, 15], [2, 15], [3, 1], [4, 1], [5, 0], [6, 0]]);
        assert!(hot_accounts(&AccountCounts::default(), 10).is_none());
    }

    #[test]
    fn ranks_are_log_spaced_after_a_hundred() {
        let mut counts = AccountCounts::default();
        for id in 0..5_000i64 {
            let retries = (5_000 - id) as u64;
            counts.record(&CallRecord {
                accounts: Some((id, 100_000)),
                retries: Some(retries),
                ..CallRecord::default()
            });
        }
        let h = hot_accounts(&counts, 5_001).unwrap();
        assert_eq!(h.top[0].id, 100_000, "the payee of every transfer");
        let ranks: Vec<u64> = h.retries_by_rank.iter().map(|p| p[0]).collect();
        assert!(ranks.len() < 200 && ranks[..100] == (1..=100).collect::<Vec<_>>()[..], "{}", ranks.len());
        assert_eq!(*ranks.last().unwrap(), 5_001);
        assert!(ranks.windows(2).all(|w| w[0] < w[1]));
    }
}

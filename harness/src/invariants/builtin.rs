//! The built-in transfer's verification as invariants: money conserved, every account
//! there, no negative balance, every balance explained by the history, and one history
//! row per successful transfer (plus up to one per call of unknown outcome).

use super::expr::Expr;
use super::{Expect, Invariant, Query};

pub const BALANCE_SUM: &str = "sum of balances";
pub const ACCOUNTS: &str = "accounts";
pub const MIN_BALANCE: &str = "min balance";
pub const INCONSISTENT: &str = "accounts inconsistent with their history";
pub const HISTORY_ROWS: &str = "history rows";

fn expr(text: &str) -> Expr {
    Expr::parse(text).expect("a valid built-in expression")
}

fn sql(name: &str, sql: &str, expect: Expect) -> Invariant {
    Invariant { name: name.into(), query: Query::Sql(sql.into()), expect }
}

/// The built-in list; `history` adds the history rows' count against the run's
/// successes (only when the workload is the transfer: other calls write no history).
pub fn transfer(history: bool) -> Vec<Invariant> {
    let mut list = vec![
        sql(
            BALANCE_SUM,
            "SELECT coalesce(sum(balance), 0)::bigint FROM accounts",
            Expect::Equals(expr("accounts * initial_balance")),
        ),
        sql(ACCOUNTS, "SELECT count(*) FROM accounts", Expect::Equals(expr("accounts"))),
        sql(MIN_BALANCE, "SELECT min(balance) FROM accounts", Expect::AtLeast(Expr::int(0))),
        Invariant {
            name: INCONSISTENT.into(),
            query: Query::InconsistentAccounts,
            expect: Expect::Equals(Expr::int(0)),
        },
    ];
    if history {
        list.push(sql(
            HISTORY_ROWS,
            "SELECT count(*) FROM transactions",
            Expect::Between(expr("before + successes"), expr("before + successes + unknown")),
        ));
    }
    list
}

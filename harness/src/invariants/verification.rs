//! What a verification found: each invariant's verdict, and for the built-in transfer
//! the figures summaries have always carried (money, accounts, history).

use serde::{Deserialize, Serialize};

use super::{builtin, InvariantResult, Outcome, RunContext};

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    pub accounts: i64,
    pub expected_sum: i64,
    pub balance_sum: i64,
    pub min_balance: Option<i32>,
    pub history_rows: i64,
    /// Accounts whose balance does not match their opening balance plus history.
    pub inconsistent_accounts: i64,
    /// In a run: history rows added, and successful transfers seen by the client.
    pub history_rows_added: Option<i64>,
    pub successful_transfers: Option<i64>,
    /// In a run: calls that may or may not have committed (timeouts, abandoned, transport).
    #[serde(default)]
    pub unknown_outcomes: Option<i64>,
    /// Each failed check, in words.
    pub problems: Vec<String>,
    /// Why the checks could not run at all (the database stayed out of reach).
    #[serde(default)]
    pub could_not_run: Option<String>,
    /// Each invariant's verdict, in order (none in summaries written before them).
    #[serde(default)]
    pub invariants: Vec<InvariantResult>,
    /// The built-in transfer's list: the figures above are filled in.
    #[serde(default)]
    pub builtin: bool,
}

impl Verification {
    /// The verification of a run whose database could not be read, and why.
    pub fn could_not_run(why: String) -> Verification {
        Verification {
            passed: false,
            problems: vec![format!("could not run: {why}")],
            could_not_run: Some(why),
            ..Verification::of(Vec::new(), false, None, 0)
        }
    }

    /// The verdicts of the invariants; with `builtin` (the built-in transfer's list, its
    /// `initial_balance`) the figures read from them.
    pub fn of(
        invariants: Vec<InvariantResult>,
        builtin: bool,
        run: Option<&RunContext>,
        initial_balance: i64,
    ) -> Verification {
        let problems: Vec<String> = invariants.iter().filter(|r| !r.passed()).map(InvariantResult::line).collect();
        let mut v = Verification {
            passed: problems.is_empty(),
            accounts: 0,
            expected_sum: 0,
            balance_sum: 0,
            min_balance: None,
            history_rows: 0,
            inconsistent_accounts: 0,
            history_rows_added: None,
            successful_transfers: None,
            unknown_outcomes: None,
            problems,
            could_not_run: None,
            invariants,
            builtin,
        };
        if builtin {
            v.fill_builtin(run, initial_balance);
        }
        v
    }

    fn value(&self, name: &str) -> Option<i64> {
        let r = self.invariants.iter().find(|r| r.name == name)?;
        r.value.as_deref().and_then(|t| t.parse().ok())
    }

    fn fill_builtin(&mut self, run: Option<&RunContext>, initial_balance: i64) {
        self.accounts = self.value(builtin::ACCOUNTS).unwrap_or_default();
        self.expected_sum = self.accounts.saturating_mul(initial_balance);
        self.balance_sum = self.value(builtin::BALANCE_SUM).unwrap_or_default();
        self.min_balance = self.value(builtin::MIN_BALANCE).and_then(|m| i32::try_from(m).ok());
        self.inconsistent_accounts = self.value(builtin::INCONSISTENT).unwrap_or_default();
        self.history_rows = self.value(builtin::HISTORY_ROWS).unwrap_or_default();
        let history = self.invariants.iter().position(|r| r.name == builtin::HISTORY_ROWS);
        if let (Some(run), Some(i)) = (run, history) {
            if let Some(Ok(Some(before))) = run.before.get(i) {
                self.history_rows_added = before.integer().map(|b| self.history_rows - b);
            }
            self.successful_transfers = Some(run.counts.successes);
            self.unknown_outcomes = Some(run.counts.unknown);
        }
    }

    /// One line for the console.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.could_not_run {
            return format!("COULD NOT RUN: {why}");
        }
        if !self.passed {
            return format!("FAIL: {}", self.problems.join("; "));
        }
        if !self.builtin && self.invariants.is_empty() && self.accounts == 0 {
            return "PASS (nothing to check: the scenario's own data has no [[verify]] invariants)".into();
        }
        if !(self.builtin || self.invariants.is_empty()) {
            let skipped = self.invariants.iter().filter(|r| matches!(r.outcome, Outcome::Skipped { .. })).count();
            let held = self.invariants.len() - skipped;
            let skipped = if skipped > 0 { format!(", {skipped} skipped") } else { String::new() };
            return format!("PASS ({held} invariants hold{skipped})");
        }
        let run = match (self.history_rows_added, self.successful_transfers, self.unknown_outcomes) {
            (Some(a), Some(s), Some(u)) if u > 0 => {
                format!("; {a} history rows for {s} successful transfers and {u} calls of unknown outcome")
            }
            (Some(a), Some(s), _) => format!("; {a} history rows for {s} successful transfers"),
            _ => String::new(),
        };
        format!(
            "PASS (sum of balances {} = {} accounts x {}; no negative balance; history matches every balance{run})",
            self.balance_sum,
            self.accounts,
            if self.accounts > 0 { self.expected_sum / self.accounts } else { 0 }
        )
    }

    /// Each invariant's line, for the reports.
    pub fn lines(&self) -> Vec<String> {
        self.invariants.iter().map(InvariantResult::line).collect()
    }
}

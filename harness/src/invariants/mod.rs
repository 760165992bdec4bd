//! Invariants: what must hold in the data after a run (`[[verify]]` in a scenario, or
//! the built-in transfer's list). Each is one query returning one number, and a bound
//! on it written as small integer expressions over the data's values, the run's counts
//! and the same query's value before the load (`before`).

pub mod builtin;
pub mod expr;
mod measure;
pub mod verification;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use expr::Expr;
pub use measure::{measure_all, Number};

/// The names of the run's counts, which only a run has.
pub const RUN_COUNTS: [&str; 4] = ["calls", "successes", "failures", "unknown"];
/// The name of the query's own value just before the load.
pub const BEFORE: &str = "before";

/// The data's named integers: `accounts`, `initial_balance` and `[data.values]`.
pub type Values = BTreeMap<String, i64>;

/// One invariant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invariant {
    pub name: String,
    pub query: Query,
    pub expect: Expect,
}

/// Where an invariant's number comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// A query returning one row with one integer or numeric column (NULL allowed).
    Sql(String),
    /// `transfer::schema::inconsistent_accounts` with the value `initial_balance`.
    InconsistentAccounts,
}

/// The bound the number must keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Equals(Expr),
    AtLeast(Expr),
    AtMost(Expr),
    Between(Expr, Expr),
}

impl Expect {
    /// Its expressions.
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Expect::Equals(e) | Expect::AtLeast(e) | Expect::AtMost(e) => vec![e],
            Expect::Between(lo, hi) => vec![lo, hi],
        }
    }
}

impl Invariant {
    /// The run counts and `before` it needs, in order of first use.
    pub fn needs_run(&self) -> Vec<&str> {
        let names = self.expect.exprs().into_iter().flat_map(Expr::names);
        let mut out: Vec<&str> = Vec::new();
        for n in names.filter(|n| RUN_COUNTS.contains(n) || *n == BEFORE) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }

    /// The query as shown.
    pub fn query_text(&self) -> &str {
        match &self.query {
            Query::Sql(sql) => sql,
            Query::InconsistentAccounts => "transfer::schema::inconsistent_accounts(initial_balance)",
        }
    }
}

/// What a run did, as the invariants name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunCounts {
    /// Calls made.
    pub calls: i64,
    /// Calls that succeeded.
    pub successes: i64,
    /// `calls - successes`: business refusals and errors of every class, including the
    /// calls of unknown outcome.
    pub failures: i64,
    /// Calls that may or may not have committed (timeouts, abandoned, transport, the
    /// function's timeouts and commits of unknown outcome), plus what lost workers may
    /// have run unreported.
    pub unknown: i64,
}

impl RunCounts {
    /// The counts of a run's totals and what lost workers may have run unreported.
    pub fn of(totals: &workers::Stats, unreported: u64) -> RunCounts {
        RunCounts {
            calls: totals.calls as i64,
            successes: totals.successes as i64,
            failures: totals.calls.saturating_sub(totals.successes) as i64,
            unknown: (totals.unknown_outcomes() + unreported) as i64,
        }
    }

    fn get(&self, name: &str) -> Option<i64> {
        match name {
            "calls" => Some(self.calls),
            "successes" => Some(self.successes),
            "failures" => Some(self.failures),
            "unknown" => Some(self.unknown),
            _ => None,
        }
    }
}

/// What the verification knows of a run: its counts, and each invariant's value before
/// the load (same order as the invariants).
#[derive(Debug, Clone)]
pub struct RunContext {
    pub counts: RunCounts,
    pub before: Vec<Result<Option<Number>, String>>,
}

/// One invariant's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvariantResult {
    pub name: String,
    pub query: String,
    /// The number as the database gave it; `None` for NULL or when not measured.
    pub value: Option<String>,
    /// The bound, with each expression's value, e.g. `>= 0` or
    /// `between before + successes = 130 and before + successes + unknown = 131`.
    pub expected: String,
    pub outcome: Outcome,
}

/// How an invariant ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    /// Outside the bound by this much (`NULL` when the value was NULL).
    Fail {
        off_by: String,
    },
    /// The query (or the value before the load) failed, or a bound has no value.
    CouldNotRun {
        why: String,
    },
    /// Not checked: it needs a run's counts (`harness verify`).
    Skipped {
        why: String,
    },
}

impl InvariantResult {
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Pass | Outcome::Skipped { .. })
    }

    /// One line: `name: value, expected BOUND: PASS`, `... FAIL (off by 3)`, ...
    pub fn line(&self) -> String {
        let value = self.value.as_deref().unwrap_or("NULL");
        match &self.outcome {
            Outcome::Pass => format!("{}: {value}, expected {}: PASS", self.name, self.expected),
            Outcome::Fail { off_by } if off_by == "NULL" => {
                format!("{}: NULL, expected {}: FAIL (no value)", self.name, self.expected)
            }
            Outcome::Fail { off_by } => {
                format!("{}: {value}, expected {}: FAIL (off by {off_by})", self.name, self.expected)
            }
            Outcome::CouldNotRun { why } => format!("{}: COULD NOT RUN: {why}", self.name),
            Outcome::Skipped { why } => match &self.value {
                Some(v) => format!("{}: {v}, skipped ({why})", self.name),
                None => format!("{}: skipped ({why})", self.name),
            },
        }
    }
}

/// Judge one measured value against its invariant's bound.
pub fn judge(
    i: &Invariant,
    index: usize,
    measured: Result<Option<Number>, String>,
    values: &Values,
    run: Option<&RunContext>,
) -> InvariantResult {
    let mut result = InvariantResult {
        name: i.name.clone(),
        query: i.query_text().to_string(),
        value: None,
        expected: String::new(),
        outcome: Outcome::Pass,
    };
    if let Ok(Some(n)) = &measured {
        result.value = Some(n.text.clone());
    }
    let needs = i.needs_run();
    if needs.is_empty() {
        return bound(i, measured, &|n| values.get(n).copied(), result);
    }
    let Some(run) = run else {
        result.outcome = Outcome::Skipped { why: format!("needs a run's counts: {}", needs.join(", ")) };
        return result;
    };
    let before = if needs.contains(&BEFORE) {
        match before_value(run, index) {
            Ok(v) => Some(v),
            Err(why) => {
                result.outcome = Outcome::CouldNotRun { why };
                return result;
            }
        }
    } else {
        None
    };
    let lookup = |n: &str| if n == BEFORE { before } else { run.counts.get(n).or_else(|| values.get(n).copied()) };
    bound(i, measured, &lookup, result)
}

/// The invariant's value before the load, which its bound uses as `before`.
fn before_value(run: &RunContext, index: usize) -> Result<i64, String> {
    match run.before.get(index) {
        None => Err("its value before the load was not measured".into()),
        Some(Err(e)) => Err(format!("before the load: {e}")),
        Some(Ok(None)) => Err("its value before the load was NULL".into()),
        Some(Ok(Some(n))) => {
            n.integer().ok_or_else(|| format!("its value before the load was {}, not a 64-bit integer", n.text))
        }
    }
}

/// The bound's values, and the verdict.
fn bound(
    i: &Invariant,
    measured: Result<Option<Number>, String>,
    lookup: &dyn Fn(&str) -> Option<i64>,
    mut result: InvariantResult,
) -> InvariantResult {
    let shown = |e: &Expr| -> Result<(i64, String), String> {
        let v = e.eval(lookup).map_err(|err| format!("{e}: {err}"))?;
        Ok((v, if e.is_literal() { v.to_string() } else { format!("{e} = {v}") }))
    };
    let (lo, hi, expected) = match &i.expect {
        Expect::Equals(e) => shown(e).map(|(v, s)| (Some(v), Some(v), format!("= {s}"))),
        Expect::AtLeast(e) => shown(e).map(|(v, s)| (Some(v), None, format!(">= {s}"))),
        Expect::AtMost(e) => shown(e).map(|(v, s)| (None, Some(v), format!("<= {s}"))),
        Expect::Between(a, b) => {
            shown(a).and_then(|(l, ls)| shown(b).map(|(h, hs)| (Some(l), Some(h), format!("between {ls} and {hs}"))))
        }
    }
    .unwrap_or_else(|why| (None, None, why));
    result.expected = expected;
    if lo.is_none() && hi.is_none() {
        result.outcome = Outcome::CouldNotRun { why: result.expected.clone() };
        return result;
    }
    let value = match measured {
        Err(why) => {
            result.outcome = Outcome::CouldNotRun { why };
            return result;
        }
        Ok(None) => {
            result.outcome = Outcome::Fail { off_by: "NULL".into() };
            return result;
        }
        Ok(Some(v)) => v,
    };
    result.value = Some(value.text.clone());
    if let Some(off) = value.off_by(lo, hi) {
        result.outcome = Outcome::Fail { off_by: off };
    }
    result
}

#[cfg(test)]
mod tests;

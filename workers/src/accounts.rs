//! Per-account counts: calls as payer and as payee, the OCC retries of the transfers an
//! account took part in, and its transfers that failed on a conflict. Each second's
//! interval carries only the accounts touched in that second (what changed), as
//! `[id, payer, payee, retries, conflicts]` rows; the coordinator adds them up exactly
//! into the run's counts, from which the hot-account view is drawn.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::stats::{CallRecord, ErrorClass};

/// One account's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountCount {
    pub payer: u64,
    pub payee: u64,
    /// OCC retries of the transfers it took part in (each transfer's retries count for
    /// both of its accounts).
    pub retries: u64,
    /// Its transfers that failed on an OCC conflict (retries exhausted, or none allowed).
    pub conflicts: u64,
}

impl AccountCount {
    fn add(&mut self, other: &AccountCount) {
        self.payer += other.payer;
        self.payee += other.payee;
        self.retries += other.retries;
        self.conflicts += other.conflicts;
    }
}

/// Counts by account id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountCounts(pub HashMap<i64, AccountCount>);

impl AccountCounts {
    /// Count one finished call (transfers only; other calls have no accounts) that
    /// reached the function: answered, or failed inside it. A throttled, refused, lost
    /// or unanswered call took part in nothing.
    pub fn record(&mut self, r: &CallRecord) {
        let Some((payer, payee)) = r.accounts else { return };
        if !matches!(r.error, None | Some((ErrorClass::Business | ErrorClass::Function, _))) {
            return;
        }
        let retries = r.retries.unwrap_or(0);
        // A function error is counted as `errorType: message`; the type is the function's code.
        let conflict = matches!(&r.error, Some((ErrorClass::Function, m))
            if m.split(':').next() == Some(transfer::error::OCC_CONFLICT));
        for (id, as_payer) in [(payer, true), (payee, false)] {
            let c = self.0.entry(id).or_default();
            c.payer += u64::from(as_payer);
            c.payee += u64::from(!as_payer);
            c.retries += retries;
            c.conflicts += u64::from(conflict);
        }
    }

    /// Add `other` in: the result equals counting both sets of calls here.
    pub fn merge(&mut self, other: &AccountCounts) {
        for (id, c) in &other.0 {
            self.0.entry(*id).or_default().add(c);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for AccountCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut rows: Vec<[i64; 5]> = self
            .0
            .iter()
            .map(|(id, c)| [*id, c.payer as i64, c.payee as i64, c.retries as i64, c.conflicts as i64])
            .collect();
        rows.sort_unstable();
        rows.serialize(s)
    }
}

impl<'de> Deserialize<'de> for AccountCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rows = Vec::<[i64; 5]>::deserialize(d)?;
        let mut counts = AccountCounts::default();
        for [id, payer, payee, retries, conflicts] in rows {
            let c = AccountCount {
                payer: payer.max(0) as u64,
                payee: payee.max(0) as u64,
                retries: retries.max(0) as u64,
                conflicts: conflicts.max(0) as u64,
            };
            counts.0.entry(id).or_default().add(&c);
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(i: i64) -> CallRecord {
        let conflict = i % 17 == 0;
        CallRecord {
            latency_us: 10,
            retries: Some((i % 4) as u64),
            error: conflict.then(|| (ErrorClass::Function, "OccConflict: could not serialize".to_string())),
            accounts: Some((1 + i % 5, 1 + (i * 7 + 3) % 50)),
            ..CallRecord::default()
        }
    }

    #[test]
    fn only_calls_that_reached_the_function_take_part() {
        let mut counts = AccountCounts::default();
        for class in [ErrorClass::Throttle, ErrorClass::Service, ErrorClass::Transport, ErrorClass::Abandoned] {
            counts.record(&CallRecord {
                error: Some((class, "never ran".into())),
                accounts: Some((1, 2)),
                ..CallRecord::default()
            });
        }
        assert!(counts.is_empty(), "{counts:?}");
        let refused = (ErrorClass::Business, "Insufficient balance".to_string());
        counts.record(&CallRecord { error: Some(refused), accounts: Some((1, 2)), ..CallRecord::default() });
        counts.record(&CallRecord { accounts: Some((3, 1)), ..CallRecord::default() });
        assert_eq!(counts.0[&1], AccountCount { payer: 1, payee: 1, retries: 0, conflicts: 0 });
        assert_eq!(counts.0.len(), 3);
    }

    #[test]
    fn merged_parts_equal_the_whole_and_survive_the_wire() {
        let (mut a, mut b, mut whole) = (AccountCounts::default(), AccountCounts::default(), AccountCounts::default());
        for i in 0..2_000 {
            if i % 3 == 0 { &mut a } else { &mut b }.record(&call(i));
            whole.record(&call(i));
        }
        a.merge(&b);
        assert_eq!(a, whole);
        let text = serde_json::to_string(&whole).unwrap();
        assert!(text.starts_with("[[1,"), "compact rows: {}", &text[..40]);
        assert_eq!(serde_json::from_str::<AccountCounts>(&text).unwrap(), whole);
        let payers: u64 = whole.0.values().map(|c| c.payer).sum();
        let payees: u64 = whole.0.values().map(|c| c.payee).sum();
        assert_eq!((payers, payees), (2_000, 2_000));
        let conflicts: u64 = whole.0.values().map(|c| c.conflicts).sum();
        assert_eq!(conflicts, 2 * (0..2_000).filter(|i| i % 17 == 0).count() as u64, "both accounts of a conflict");
        let mut none = AccountCounts::default();
        none.record(&CallRecord { accounts: None, ..call(1) });
        assert!(none.is_empty(), "a greeting touches no account");
    }
}

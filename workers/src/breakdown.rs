//! The error breakdown: failed calls counted by class, then by message, with a bounded
//! number of distinct messages per class (the rest under `(other messages)`), so memory
//! and file sizes stay bounded however long the run. Nested by class in summary.json
//! (`{"function": {"OccConflict: ... (OC000)": 656}}`); the flat form of older
//! summaries (`{"function: OccConflict: ...": 656}`) is still read.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error_class::ErrorClass;

/// Distinct messages kept per error class; further ones are counted under
/// `OTHER_MESSAGES`.
pub const MESSAGES_PER_CLASS: usize = 20;

/// The bucket of the messages beyond `MESSAGES_PER_CLASS`.
pub const OTHER_MESSAGES: &str = "(other messages)";

/// Failed calls by class, then by message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Breakdown(BTreeMap<ErrorClass, BTreeMap<String, u64>>);

impl Breakdown {
    /// Count `n` calls of `class` under `message`, or under `(other messages)` once the
    /// class holds `MESSAGES_PER_CLASS` distinct messages.
    pub fn count(&mut self, class: ErrorClass, message: &str, n: u64) {
        let messages = self.0.entry(class).or_default();
        if let Some(count) = messages.get_mut(message) {
            *count += n;
            return;
        }
        let kept = messages.keys().filter(|k| *k != OTHER_MESSAGES).count();
        let key = if kept >= MESSAGES_PER_CLASS { OTHER_MESSAGES } else { message };
        *messages.entry(key.to_string()).or_default() += n;
    }

    /// Add `other`'s counts.
    pub fn merge(&mut self, other: &Breakdown) {
        for (class, message, n) in other.iter() {
            self.count(class, message, n);
        }
    }

    /// Every (class, message, count), by class then message.
    pub fn iter(&self) -> impl Iterator<Item = (ErrorClass, &str, u64)> + '_ {
        self.0.iter().flat_map(|(class, messages)| messages.iter().map(|(m, n)| (*class, m.as_str(), *n)))
    }

    /// The messages of one class.
    pub fn of(&self, class: ErrorClass) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.0.get(&class).into_iter().flat_map(|m| m.iter().map(|(k, n)| (k.as_str(), *n)))
    }

    /// No error counted.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeMap::is_empty)
    }

    /// Distinct (class, message) pairs.
    pub fn len(&self) -> usize {
        self.0.values().map(BTreeMap::len).sum()
    }

    /// Calls of `class` whose function error type (the message up to its first `:`) is
    /// one of `types`.
    pub fn of_types(&self, class: ErrorClass, types: &[&str]) -> u64 {
        self.of(class).filter(|(m, _)| types.iter().any(|t| m.split(':').next() == Some(*t))).map(|(_, n)| n).sum()
    }
}

/// Either form: nested by class, or the flat `"class: message"` keys of summaries
/// written before schema version 2.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyForm {
    Nested(BTreeMap<ErrorClass, BTreeMap<String, u64>>),
    Flat(BTreeMap<String, u64>),
}

impl<'de> Deserialize<'de> for Breakdown {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Breakdown, D::Error> {
        match AnyForm::deserialize(d)? {
            AnyForm::Nested(nested) => Ok(Breakdown(nested)),
            AnyForm::Flat(flat) => {
                let mut b = Breakdown::default();
                for (key, n) in flat {
                    let (name, message) = key.split_once(": ").unwrap_or((key.as_str(), ""));
                    let class = ErrorClass::ALL.into_iter().find(|c| c.name() == name).ok_or_else(|| {
                        serde::de::Error::custom(format!("error breakdown key {key:?} names no error class"))
                    })?;
                    b.count(class, message, n);
                }
                Ok(b)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_the_messages_per_class_and_merges_exactly() {
        let mut a = Breakdown::default();
        for i in 0..MESSAGES_PER_CLASS + 5 {
            a.count(ErrorClass::Function, &format!("E{i}"), 1);
        }
        a.count(ErrorClass::Throttle, "TooManyRequestsException: Rate", 2);
        assert_eq!(a.of(ErrorClass::Function).count(), MESSAGES_PER_CLASS + 1);
        assert_eq!(a.of(ErrorClass::Function).find(|(m, _)| *m == OTHER_MESSAGES), Some((OTHER_MESSAGES, 5)));
        let mut b = a.clone();
        b.merge(&a);
        let total: u64 = b.iter().map(|(_, _, n)| n).sum();
        assert_eq!(total, 2 * (MESSAGES_PER_CLASS as u64 + 5 + 2));
        assert_eq!(b.of(ErrorClass::Throttle).collect::<Vec<_>>(), vec![("TooManyRequestsException: Rate", 4)]);
    }

    #[test]
    fn reads_the_nested_form_and_the_flat_form_of_older_summaries() {
        let mut b = Breakdown::default();
        b.count(ErrorClass::Function, "OccConflict: change conflicts (OC000)", 3);
        b.count(ErrorClass::Business, "Insufficient balance", 1);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"business": {"Insufficient balance": 1}, "function": {"OccConflict: change conflicts (OC000)": 3}})
        );
        assert_eq!(serde_json::from_value::<Breakdown>(json).unwrap(), b);
        let flat = serde_json::json!({"function: OccConflict: change conflicts (OC000)": 3, "business: Insufficient balance": 1});
        assert_eq!(serde_json::from_value::<Breakdown>(flat).unwrap(), b);
        let wrong = serde_json::json!({"nonsense: x": 1});
        let e = serde_json::from_value::<Breakdown>(wrong).unwrap_err();
        assert!(e.to_string().contains("names no error class"), "{e}");
        assert_eq!(b.of_types(ErrorClass::Function, &["OccConflict"]), 3);
        assert_eq!(b.of_types(ErrorClass::Function, &["Occ"]), 0, "whole error types, not prefixes");
    }
}

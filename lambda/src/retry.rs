//! The OCC retry policy: which errors are retried, how often, and how long to wait.
//!
//! DSQL reports both OCC conflicts (OC000 data, OC001 schema) as SQLSTATE 40001;
//! PostgreSQL at REPEATABLE READ reports a lost update as 40001 too, and may also
//! detect a deadlock (40P01), which is retried the same way. Anything else is final.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use tokio_postgres::error::SqlState;

/// How the function answers an OCC conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Retry immediately, without limit (the workshop's chapter-4 code). The function's
    /// timeout is then the only bound.
    Unlimited,
    /// Never retry: conflicts surface as `OccConflict` function errors (the workshop's
    /// first chapter-4 run).
    Disabled,
    /// At most `max_retries` retries, waiting `min(cap, base * 2^(n-1))` scaled by a
    /// random factor in [0.5, 1] before retry n ("equal jitter").
    Backoff { max_retries: u32, base: Duration, cap: Duration },
}

/// Defaults for `backoff:N`, those of the official DSQL connector (1 ms base, 100 ms cap).
pub const DEFAULT_BASE: Duration = Duration::from_millis(1);
pub const DEFAULT_CAP: Duration = Duration::from_millis(100);

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based), or `None` to give up.
    pub fn delay_before(&self, retry: u32) -> Option<Duration> {
        match *self {
            RetryPolicy::Unlimited => Some(Duration::ZERO),
            RetryPolicy::Disabled => None,
            RetryPolicy::Backoff { max_retries, base, cap } => {
                if retry > max_retries {
                    return None;
                }
                let exp = base.saturating_mul(1u32 << (retry - 1).min(30));
                let ceiling = exp.min(cap);
                let factor: f64 = rand::rng().random_range(0.5..=1.0);
                Some(ceiling.mul_f64(factor))
            }
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::Unlimited
    }
}

/// The syntax accepted by `FromStr`, for error messages and `--help`.
pub const SYNTAX: &str = "`unlimited`, `none`, or `backoff:MAX[:BASE_MS[:CAP_MS]]` (e.g. `backoff:5:1:100`)";

/// A retry policy that does not parse: the text given and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid retry policy {text:?}: {problem}; expected {SYNTAX}")]
pub struct PolicyError {
    /// The text as given.
    pub text: String,
    pub problem: PolicyProblem,
}

/// What is wrong with a retry policy's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyProblem {
    #[error("unknown policy")]
    Unknown,
    #[error("too many fields")]
    TooManyFields,
    /// A field (`MAX`, `BASE_MS`, `CAP_MS`) that is not a whole number.
    #[error("{field} must be a whole number, got {got:?}")]
    NotWhole { field: &'static str, got: String },
    /// `MAX` is 0 or beyond `u32::MAX`.
    #[error("MAX must be at least 1 (use `none` for no retries)")]
    MaxOutOfRange,
    #[error("CAP_MS must be at least BASE_MS")]
    CapBelowBase,
}

impl FromStr for RetryPolicy {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |problem: PolicyProblem| PolicyError { text: s.to_string(), problem };
        match s.trim() {
            "unlimited" => return Ok(RetryPolicy::Unlimited),
            "none" | "disabled" => return Ok(RetryPolicy::Disabled),
            _ => {}
        }
        let Some(rest) = s.trim().strip_prefix("backoff:") else {
            return Err(bad(PolicyProblem::Unknown));
        };
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() > 3 {
            return Err(bad(PolicyProblem::TooManyFields));
        }
        let num = |i: usize, field: &'static str, default: u64| -> Result<u64, PolicyError> {
            match parts.get(i) {
                None => Ok(default),
                Some(p) => p.parse::<u64>().map_err(|_| bad(PolicyProblem::NotWhole { field, got: p.to_string() })),
            }
        };
        let max_retries = num(0, "MAX", 0)?;
        if max_retries == 0 || max_retries > u32::MAX as u64 {
            return Err(bad(PolicyProblem::MaxOutOfRange));
        }
        let base = Duration::from_millis(num(1, "BASE_MS", DEFAULT_BASE.as_millis() as u64)?);
        let cap = Duration::from_millis(num(2, "CAP_MS", DEFAULT_CAP.as_millis() as u64)?);
        if cap < base {
            return Err(bad(PolicyProblem::CapBelowBase));
        }
        Ok(RetryPolicy::Backoff { max_retries: max_retries as u32, base, cap })
    }
}

impl fmt::Display for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryPolicy::Unlimited => write!(f, "unlimited"),
            RetryPolicy::Disabled => write!(f, "none"),
            RetryPolicy::Backoff { max_retries, base, cap } => {
                write!(f, "backoff:{max_retries}:{}:{}", base.as_millis(), cap.as_millis())
            }
        }
    }
}

/// Serialised as its text (`unlimited`, `none`, `backoff:MAX:BASE_MS:CAP_MS`).
impl serde::Serialize for RetryPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RetryPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// True for the errors the policy retries: 40001 (DSQL OC000/OC001, PostgreSQL
/// serialization failure) and PostgreSQL's 40P01 deadlock.
pub fn is_occ_conflict(err: &tokio_postgres::Error) -> bool {
    matches!(err.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_policy() {
        for s in ["unlimited", "none", "backoff:5:1:100", "backoff:3:10:50"] {
            assert_eq!(s.parse::<RetryPolicy>().unwrap().to_string(), s);
        }
        assert_eq!("backoff:4".parse::<RetryPolicy>().unwrap().to_string(), "backoff:4:1:100");
    }

    #[test]
    fn refuses_bad_policies_with_the_syntax() {
        for s in ["forever", "backoff:0", "backoff:x", "backoff:3:50:10", "backoff:1:2:3:4"] {
            let e = s.parse::<RetryPolicy>().unwrap_err();
            assert_eq!(e.text, s);
            let e = e.to_string();
            assert!(e.contains(s) && e.contains("expected"), "{e}");
        }
    }

    #[test]
    fn backoff_grows_within_cap_and_gives_up() {
        let p: RetryPolicy = "backoff:6:2:10".parse().unwrap();
        let ceilings = [2, 4, 8, 10, 10, 10];
        for (i, ceiling) in ceilings.iter().enumerate() {
            let d = p.delay_before(i as u32 + 1).unwrap();
            let ceiling = Duration::from_millis(*ceiling);
            assert!(d <= ceiling && d >= ceiling / 2, "retry {}: {d:?}", i + 1);
        }
        assert_eq!(p.delay_before(7), None);
        assert_eq!(RetryPolicy::Disabled.delay_before(1), None);
        assert_eq!(RetryPolicy::Unlimited.delay_before(1000), Some(Duration::ZERO));
    }
}

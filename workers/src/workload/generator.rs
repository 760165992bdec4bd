//! Named generators: what a template's `{{name}}` is filled with, drawn once per call.
//! `Gen` is the definition, as the scenario gives it and as it travels to workers, and
//! its checks.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{formats, WorkloadError};

/// The longest text a `string` generator may make.
pub const MAX_STRING_LENGTH: u32 = 1 << 16;

/// How an `int` generator draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    #[default]
    Uniform,
    /// Rank k (1 = `min`) with probability proportional to 1/k^exponent.
    Zipf,
    /// `min`, `min + 1`, ... (worker i of n: `min + i`, `min + i + n`, ...), from `min`
    /// again after `max`.
    Sequential,
}

/// In which order a `row` generator takes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    #[default]
    RoundRobin,
    Random,
}

/// A generator's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Gen {
    Int {
        min: i64,
        max: i64,
        #[serde(default)]
        distribution: Distribution,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exponent: Option<f64>,
    },
    /// Another value than generator `of`'s value for this call, drawn as `of` draws.
    Other {
        of: String,
    },
    /// A number in `min..=max` with `scale` digits after the point.
    Decimal {
        min: f64,
        max: f64,
        scale: u32,
    },
    Uuid,
    Choice {
        values: Vec<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weights: Option<Vec<f64>>,
    },
    String {
        min_length: u32,
        max_length: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alphabet: Option<String>,
    },
    /// Now, or uniformly between `from` and `to` (RFC 3339).
    Timestamp {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// The rows of a data file (read by the coordinator; they travel in the plan).
    Row {
        file: String,
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
        #[serde(default)]
        order: Order,
        #[serde(default)]
        unique: bool,
    },
}

pub(super) const ALPHANUMERIC: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Gen {
    /// Whether `other` may draw from it: an int drawn uniformly or Zipf-skewed, with at
    /// least two values.
    fn other_source(&self) -> bool {
        matches!(self, Gen::Int { min, max, distribution, .. } if distribution != &Distribution::Sequential && max > min)
    }

    /// What is wrong with the definition, if anything; `all` are every generator.
    pub fn check(&self, name: &str, all: &[(String, Gen)]) -> Result<(), WorkloadError> {
        let bad =
            |key: &'static str, message: String| Err(WorkloadError::Generator { name: name.into(), key, message });
        match self {
            Gen::Int { min, max, .. } if min > max => bad("min", format!("min {min} is above max {max}")),
            Gen::Int { distribution: Distribution::Zipf, exponent, .. } => match exponent {
                Some(e) if e.is_finite() && (0.0..=10.0).contains(e) => Ok(()),
                Some(e) => bad("exponent", format!("exponent must be between 0 and 10, got {e}")),
                None => bad("distribution", "distribution = \"zipf\" needs an exponent (e.g. 1.1)".into()),
            },
            Gen::Int { exponent: Some(_), .. } => bad("exponent", "exponent needs distribution = \"zipf\"".into()),
            Gen::Other { of } => match all.iter().find(|(n, _)| n == of) {
                None => bad("of", format!("of = {of:?} names no generator")),
                Some((_, g)) if !g.other_source() => bad(
                    "of",
                    format!("of = {of:?} must name an int generator drawn uniformly or by zipf, with min < max"),
                ),
                Some(_) => Ok(()),
            },
            Gen::Decimal { min, max, scale } => {
                if *scale > 9 {
                    return bad("scale", format!("scale must be 0 to 9 digits, got {scale}"));
                }
                match decimal_units(*min, *max, *scale) {
                    Some(_) => Ok(()),
                    None => bad("min", format!("no number with {scale} decimals lies in {min}..={max}")),
                }
            }
            Gen::Uuid => Ok(()),
            Gen::Choice { values, weights } => check_choice(values, weights.as_deref()).or_else(|(k, m)| bad(k, m)),
            Gen::String { min_length, max_length, alphabet } => {
                if min_length > max_length || *max_length > MAX_STRING_LENGTH {
                    return bad(
                        "length",
                        format!("length must be 0 to {MAX_STRING_LENGTH}, min <= max, got {min_length}..={max_length}"),
                    );
                }
                match alphabet {
                    Some(a) if a.is_empty() => bad("alphabet", "alphabet is empty".into()),
                    _ => Ok(()),
                }
            }
            Gen::Timestamp { from, to } => match (from, to) {
                (None, None) => Ok(()),
                (Some(f), Some(t)) => {
                    let at =
                        |key: &'static str| move |message| WorkloadError::Generator { name: name.into(), key, message };
                    let f = formats::parse_rfc3339(f).map_err(at("from"))?;
                    let t = formats::parse_rfc3339(t).map_err(at("to"))?;
                    if f > t {
                        return bad("from", "from is after to".into());
                    }
                    Ok(())
                }
                (Some(_), None) => bad("from", "from needs to as well".into()),
                (None, Some(_)) => bad("to", "to needs from as well".into()),
            },
            Gen::Row { rows, columns, file, .. } => {
                if rows.is_empty() {
                    return bad("file", format!("{file} has no rows"));
                }
                if let Some(r) = rows.iter().position(|r| r.len() != columns.len()) {
                    return bad(
                        "file",
                        format!("row {} of {file} has {} fields for {} columns", r + 1, rows[r].len(), columns.len()),
                    );
                }
                Ok(())
            }
            Gen::Int { .. } => Ok(()),
        }
    }

    /// The columns of a `row` generator.
    pub fn columns(&self) -> Option<&[String]> {
        match self {
            Gen::Row { columns, .. } => Some(columns),
            _ => None,
        }
    }
}

fn check_choice(values: &[Value], weights: Option<&[f64]>) -> Result<(), (&'static str, String)> {
    if values.is_empty() {
        return Err(("values", "values is empty".into()));
    }
    match weights {
        Some(w) if w.len() != values.len() => {
            Err(("weights", format!("{} weights for {} values", w.len(), values.len())))
        }
        Some(w) if !w.iter().all(|w| w.is_finite() && *w >= 0.0) || w.iter().sum::<f64>() <= 0.0 => {
            Err(("weights", "weights must be >= 0, and not all 0".into()))
        }
        _ => Ok(()),
    }
}

/// A decimal's range as whole units of 10^-scale, if it holds any.
pub(super) fn decimal_units(min: f64, max: f64, scale: u32) -> Option<(i64, i64)> {
    let unit = 10f64.powi(scale as i32);
    let (lo, hi) = ((min * unit).ceil(), (max * unit).floor());
    (lo.is_finite() && hi.is_finite() && lo <= hi && lo.abs() < 9e15 && hi.abs() < 9e15)
        .then_some((lo as i64, hi as i64))
}

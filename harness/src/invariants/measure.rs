//! Reading an invariant's number from the database: one row, one integer or numeric
//! column (read as text, so that `numeric` sums of any size are exact), or NULL.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, SimpleQueryMessage};
use transfer::error::describe_db_error;

use super::{Invariant, Query, Values};

/// A number as the database gave it: its text, and its floor for exact comparisons
/// with integer bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Number {
    pub text: String,
    floor: i128,
    fractional: bool,
}

impl Number {
    /// `text` when it is a decimal number (an optional sign, digits, an optional
    /// fraction), as PostgreSQL writes integers and numerics.
    pub fn parse(text: &str) -> Option<Number> {
        let t = text.trim();
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let decimal = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !decimal(whole) || !decimal(fraction) {
            return None;
        }
        let whole: i128 = whole.parse().ok()?;
        let fractional = fraction.chars().any(|c| c != '0');
        let floor = match (negative, fractional) {
            (false, _) => whole,
            (true, false) => -whole,
            (true, true) => -whole - 1,
        };
        Some(Number { text: t.to_string(), floor, fractional })
    }

    pub fn of(v: i64) -> Number {
        Number { text: v.to_string(), floor: v.into(), fractional: false }
    }

    /// Its value when it is a 64-bit integer.
    pub fn integer(&self) -> Option<i64> {
        (!self.fractional).then(|| i64::try_from(self.floor).ok()).flatten()
    }

    /// How far outside `lo..=hi` it lies, if it does.
    pub fn off_by(&self, lo: Option<i64>, hi: Option<i64>) -> Option<String> {
        // Below `lo`; or above `hi`: beyond it, or a fraction past it.
        let below = lo.map(i128::from).filter(|lo| self.floor < *lo);
        let above = hi.map(i128::from).filter(|hi| self.floor > *hi || (self.fractional && self.floor == *hi));
        let bound = below.or(above)?;
        Some(if self.fractional {
            let v: f64 = self.text.parse().unwrap_or(f64::NAN);
            format!("{}", (v - bound as f64).abs())
        } else {
            (self.floor - bound).abs().to_string()
        })
    }
}

/// The invariant's number, or why it could not be read.
pub(super) async fn measure(client: &Client, i: &Invariant, values: &Values) -> Result<Option<Number>, String> {
    match &i.query {
        Query::InconsistentAccounts => {
            let initial = values.get("initial_balance").copied().unwrap_or_default();
            let initial =
                i32::try_from(initial).map_err(|_| format!("initial_balance {initial} is not a 32-bit integer"))?;
            let n =
                transfer::schema::inconsistent_accounts(client, initial).await.map_err(|e| describe_db_error(&e))?;
            Ok(Some(Number::of(n)))
        }
        Query::Sql(sql) => {
            let messages = client.simple_query(sql).await.map_err(|e| describe_db_error(&e))?;
            let rows: Vec<_> = messages
                .into_iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(row) => Some(row),
                    _ => None,
                })
                .collect();
            let [row] = rows.as_slice() else {
                return Err(format!("the query returned {} rows; it must return exactly one", rows.len()));
            };
            if row.len() != 1 {
                return Err(format!("the query returned {} columns; it must return exactly one", row.len()));
            }
            match row.get(0) {
                None => Ok(None),
                Some(text) => Number::parse(text)
                    .map(Some)
                    .ok_or_else(|| format!("the query returned {text:?}, not an integer or a numeric")),
            }
        }
    }
}

/// Every invariant's number, in order, each query given at most `limit`; and, when one
/// timed out, why the verification could not run (the queries after it are not run).
pub async fn measure_all(
    client: &Client,
    invariants: &[Invariant],
    values: &Values,
    limit: Duration,
) -> (Vec<Result<Option<Number>, String>>, Option<String>) {
    let mut out = Vec::with_capacity(invariants.len());
    let mut timed_out: Option<String> = None;
    for i in invariants {
        if let Some(first) = &timed_out {
            out.push(Err(format!("not run: the query of {first} before it timed out")));
            continue;
        }
        match within(client, limit, measure(client, i, values)).await {
            Ok(measured) => out.push(measured),
            Err(ended) => {
                out.push(Err(format!(
                    "timed out after {}: the query did not finish and {ended} (a table locked by another session, \
                     or a database that does not answer)",
                    shown(limit)
                )));
                timed_out = Some(i.name.clone());
            }
        }
    }
    let why = timed_out.map(|name| {
        format!(
            "the database did not answer within {}: the query of {name} timed out (a table locked by another \
             session, or a database that does not answer)",
            shown(limit)
        )
    });
    (out, why)
}

/// `query`'s answer, or when it took longer than `limit` how it ended: the server is
/// asked to cancel it, for at most 5 s (a cluster reached over TLS takes no plain cancel
/// request; the query is then left to end with the connection).
async fn within<T>(client: &Client, limit: Duration, query: impl std::future::Future<Output = T>) -> Result<T, String> {
    match tokio::time::timeout(limit, query).await {
        Ok(answer) => Ok(answer),
        Err(_) => match transfer::db::cancel_running(client).await {
            Ok(()) => Err("was cancelled".into()),
            Err(e) => Err(format!("was abandoned ({e})")),
        },
    }
}

/// A limit as people write it: `300 s`, `1.5 s`, `200 ms`.
fn shown(d: Duration) -> String {
    match d.as_millis() {
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms % 1_000 == 0 => format!("{} s", ms / 1_000),
        _ => format!("{} s", d.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::Number;

    #[test]
    fn numbers_compare_exactly_with_integer_bounds() {
        let n = |t: &str| Number::parse(t).unwrap();
        assert_eq!(n("-3").off_by(Some(0), None), Some("3".into()));
        assert_eq!(n("100000").off_by(Some(100000), Some(100000)), None);
        assert_eq!(n("100001").off_by(Some(100000), Some(100000)), Some("1".into()));
        assert_eq!(n("131").off_by(Some(100), Some(130)), Some("1".into()));
        assert_eq!(n("-0.5").off_by(Some(0), None), Some("0.5".into()));
        assert_eq!(n("2.5").off_by(None, Some(2)), Some("0.5".into()));
        assert_eq!(n("2.0").off_by(None, Some(2)), None);
        assert_eq!(n("1.5").off_by(Some(1), Some(2)), None);
        let big = n("123456789012345678901234567890");
        assert_eq!(big.integer(), None);
        assert!(big.off_by(None, Some(i64::MAX)).is_some());
        assert_eq!(n("-7").integer(), Some(-7));
        assert_eq!(n("-7.25").integer(), None);
        for bad in ["", "abc", "1e5", "NaN", "1.2.3", "-", "t"] {
            assert_eq!(Number::parse(bad), None, "{bad}");
        }
    }
}

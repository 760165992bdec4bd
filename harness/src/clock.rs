//! Timestamps: a UTC time in whole seconds, written and read as RFC 3339
//! (`2026-11-29T12:00:00Z`) in one place, through the AWS SDK's own date type (no
//! hand-written calendar). summary.json's `started_at`, the server-side view's window
//! and the run folder's name all come from here.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::date_time::{DateTime, Format};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC time, whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    secs: u64,
}

/// A timestamp that is not RFC 3339.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not an RFC 3339 UTC time (e.g. 2026-11-29T12:00:00Z): {why}")]
pub struct BadTimestamp {
    pub text: String,
    pub why: String,
}

impl Timestamp {
    /// Now, truncated to the second.
    pub fn now() -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }

    /// `t` truncated to the second (times before 1970 become 1970).
    pub fn from_system(t: SystemTime) -> Timestamp {
        Timestamp { secs: t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) }
    }

    /// From seconds since the Unix epoch.
    pub fn from_secs(secs: u64) -> Timestamp {
        Timestamp { secs }
    }

    /// As a `SystemTime`.
    pub fn system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.secs)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn rfc3339(self) -> String {
        let t = DateTime::from_secs(self.secs as i64);
        t.fmt(Format::DateTime).unwrap_or_else(|_| format!("@{}", self.secs))
    }

    /// `YYYYMMDD-HHMMSS`, for names (a run folder's).
    pub fn compact(self) -> String {
        let digits: String = self.rfc3339().chars().filter(|c| c.is_ascii_digit() || *c == 'T').take(15).collect();
        digits.replace('T', "-")
    }

    /// Parse RFC 3339 (fractions of a second are dropped).
    pub fn parse(text: &str) -> Result<Timestamp, BadTimestamp> {
        let bad = |why: String| BadTimestamp { text: text.to_string(), why };
        let t = DateTime::from_str(text, Format::DateTime).map_err(|e| bad(e.to_string()))?;
        let secs = u64::try_from(t.secs()).map_err(|_| bad("before 1970".into()))?;
        Ok(Timestamp { secs })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_utc_times() {
        assert_eq!(Timestamp::from_secs(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_secs(1_764_000_000).rfc3339(), "2025-11-24T16:00:00Z");
        assert_eq!(Timestamp::from_secs(951_782_400).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp::from_secs(1_764_000_000).compact(), "20251124-160000");
        for secs in [0, 951_782_400, 1_764_000_000, 4_102_444_800] {
            let t = Timestamp::from_secs(secs);
            assert_eq!(Timestamp::parse(&t.rfc3339()).unwrap(), t);
        }
        assert_eq!(Timestamp::parse("2025-11-24T16:00:00.750Z").unwrap(), Timestamp::from_secs(1_764_000_000));
        let sub = UNIX_EPOCH + Duration::from_millis(1_764_000_000_999);
        assert_eq!(Timestamp::from_system(sub), Timestamp::from_secs(1_764_000_000), "truncated, not rounded");
    }

    #[test]
    fn refuses_what_is_not_a_time_and_says_what() {
        let e = Timestamp::parse("yesterday").unwrap_err();
        assert!(e.to_string().contains("\"yesterday\" is not an RFC 3339"), "{e}");
        let json: Result<Timestamp, _> = serde_json::from_str("\"2026-13-01T00:00:00Z\"");
        assert!(json.is_err());
        let t: Timestamp = serde_json::from_str("\"2026-11-29T12:00:00Z\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2026-11-29T12:00:00Z\"");
    }
}

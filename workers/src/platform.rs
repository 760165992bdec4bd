//! What Lambda itself measured for each call: the platform's `REPORT` line, from the
//! log tail an Invoke returns when asked (`X-Amz-Log-Type: Tail`; the response's
//! `X-Amz-Log-Result` is the base64 of the last 4 KB of the invocation's log), and
//! statistics over those lines that merge exactly, as every other statistic does.
//!
//! The line, as Lambda writes it (tab-separated `Key: value` fields, decimals in ms):
//!
//! ```text
//! REPORT RequestId: 8f5c...\tDuration: 12.34 ms\tBilled Duration: 45 ms\tMemory Size: 128 MB\tMax Memory Used: 19 MB\tInit Duration: 31.52 ms\t
//! ```
//!
//! A timeout or crash adds `Status: timeout` or `Status: error` (and `Error Type: ...`).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::histogram::Hist;

/// One invocation's REPORT line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformReport {
    pub request_id: String,
    /// `Duration`, microseconds.
    pub duration_us: u64,
    /// `Billed Duration`, milliseconds.
    pub billed_ms: u64,
    /// `Memory Size`, MB.
    pub memory_size_mb: u64,
    /// `Max Memory Used`, MB.
    pub max_memory_used_mb: u64,
    /// `Init Duration`, microseconds: present on a cold start only.
    pub init_us: Option<u64>,
    /// `Status` (`timeout`, `error`), with `Error Type` when given.
    pub status: Option<String>,
}

/// A log tail without a readable REPORT line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The `X-Amz-Log-Result` header is not visible ASCII.
    #[error("X-Amz-Log-Result is not text")]
    NotText,
    #[error("X-Amz-Log-Result is not base64")]
    NotBase64(#[source] base64::DecodeError),
    #[error("the log tail has no REPORT line (truncated, or the platform wrote none)")]
    NoReportLine,
    #[error("not a REPORT line: {line:?}")]
    NotReport { line: String },
    #[error("REPORT field {field:?} has no `: `")]
    NoSeparator { field: String },
    #[error("REPORT line lacks `{key}`: {line:?}")]
    Missing { key: &'static str, line: String },
    #[error("REPORT `{key}` is not in {unit}: {line:?}")]
    WrongUnit { key: &'static str, unit: &'static str, line: String },
    #[error("REPORT `{key}` is not a decimal: {value:?}")]
    NotDecimal { key: &'static str, value: String },
    #[error("REPORT `{key}` is not a whole number: {value:?}")]
    NotWhole { key: &'static str, value: String },
}

/// The REPORT line of a base64 `X-Amz-Log-Result`.
pub fn from_log_result(encoded: &str) -> Result<PlatformReport, ReportError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(ReportError::NotBase64)?;
    from_log_tail(&String::from_utf8_lossy(&bytes))
}

/// The REPORT line of an `X-Amz-Log-Result` header.
pub fn from_log_header(value: &http::HeaderValue) -> Result<PlatformReport, ReportError> {
    from_log_result(value.to_str().map_err(|_| ReportError::NotText)?)
}

/// The last REPORT line of a log tail (later lines, e.g. `XRAY`, are skipped).
pub fn from_log_tail(tail: &str) -> Result<PlatformReport, ReportError> {
    let line = tail.lines().rev().find(|l| l.starts_with("REPORT RequestId:")).ok_or(ReportError::NoReportLine)?;
    parse_report(line)
}

/// One REPORT line.
pub fn parse_report(line: &str) -> Result<PlatformReport, ReportError> {
    let body = line.strip_prefix("REPORT ").ok_or_else(|| ReportError::NotReport { line: line.into() })?;
    let mut fields = BTreeMap::new();
    for field in body.split('\t').map(str::trim).filter(|f| !f.is_empty()) {
        let (key, value) = field.split_once(": ").ok_or_else(|| ReportError::NoSeparator { field: field.into() })?;
        fields.insert(key, value.trim());
    }
    let get =
        |key: &'static str| fields.get(key).copied().ok_or_else(|| ReportError::Missing { key, line: line.into() });
    let with_unit = |key: &'static str, unit: &'static str| -> Result<&str, ReportError> {
        get(key)?.strip_suffix(unit).map(str::trim).ok_or_else(|| ReportError::WrongUnit {
            key,
            unit: unit.trim(),
            line: line.into(),
        })
    };
    let ms = |key: &'static str| -> Result<u64, ReportError> {
        let v = with_unit(key, " ms")?;
        micros(v).ok_or_else(|| ReportError::NotDecimal { key, value: v.into() })
    };
    let whole = |key: &'static str, unit: &'static str| -> Result<u64, ReportError> {
        let v = with_unit(key, unit)?;
        v.parse().map_err(|_| ReportError::NotWhole { key, value: v.into() })
    };
    let status = fields.get("Status").map(|s| match fields.get("Error Type") {
        Some(t) => format!("{s} ({t})"),
        None => s.to_string(),
    });
    Ok(PlatformReport {
        request_id: get("RequestId")?.to_string(),
        duration_us: ms("Duration")?,
        billed_ms: whole("Billed Duration", " ms")?,
        memory_size_mb: whole("Memory Size", " MB")?,
        max_memory_used_mb: whole("Max Memory Used", " MB")?,
        init_us: fields.contains_key("Init Duration").then(|| ms("Init Duration")).transpose()?,
        status,
    })
}

/// Milliseconds as written (`12.34`, `3000`, `0.5`) in whole microseconds, exactly.
fn micros(ms: &str) -> Option<u64> {
    let (int, frac) = ms.split_once('.').unwrap_or((ms, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut frac3: String = frac.chars().take(3).collect();
    while frac3.len() < 3 {
        frac3.push('0');
    }
    int.parse::<u64>().ok()?.checked_mul(1_000)?.checked_add(frac3.parse::<u64>().ok()?)
}

/// A REPORT line as Lambda writes it (the local endpoint writes its own this way).
pub fn format_report(r: &PlatformReport) -> String {
    let ms = |us: u64| format!("{}.{:02}", us / 1_000, us % 1_000 / 10);
    let mut line = format!(
        "REPORT RequestId: {}\tDuration: {} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        r.request_id,
        ms(r.duration_us),
        r.billed_ms,
        r.memory_size_mb,
        r.max_memory_used_mb
    );
    if let Some(init) = r.init_us {
        line.push_str(&format!("Init Duration: {} ms\t", ms(init)));
    }
    if let Some(status) = &r.status {
        line.push_str(&format!("Status: {status}\t"));
    }
    line
}

/// Statistics over the calls' REPORT lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlatformStats {
    /// Calls whose answer carried a well-formed REPORT line.
    pub reports: u64,
    /// Calls whose answer carried a log tail without one (truncated, malformed).
    pub unreadable: u64,
    /// `Duration`, microseconds.
    pub duration_us: Hist,
    /// `Billed Duration`, milliseconds.
    pub billed_ms: Hist,
    /// `Init Duration` of the cold starts, microseconds.
    pub init_us: Hist,
    /// `Max Memory Used`, MB.
    pub max_memory_used_mb: Hist,
    /// Calls with an `Init Duration`: cold starts.
    pub cold_starts: u64,
    /// Sums, exact, for the cost: billed milliseconds, and billed MB-milliseconds.
    pub billed_ms_total: u64,
    pub billed_mb_ms_total: u64,
    /// The largest `Memory Size` seen, MB.
    pub memory_size_mb: u64,
    /// Calls by `Status` (`timeout`, `error (Runtime.ExitError)`).
    #[serde(default)]
    pub statuses: BTreeMap<String, u64>,
}

impl PlatformStats {
    pub fn record(&mut self, r: &PlatformReport) {
        self.reports += 1;
        self.duration_us.record(r.duration_us);
        self.billed_ms.record(r.billed_ms);
        self.max_memory_used_mb.record(r.max_memory_used_mb);
        if let Some(init) = r.init_us {
            self.init_us.record(init);
            self.cold_starts += 1;
        }
        self.billed_ms_total = self.billed_ms_total.saturating_add(r.billed_ms);
        self.billed_mb_ms_total = self.billed_mb_ms_total.saturating_add(r.billed_ms.saturating_mul(r.memory_size_mb));
        self.memory_size_mb = self.memory_size_mb.max(r.memory_size_mb);
        if let Some(s) = &r.status {
            *self.statuses.entry(s.clone()).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: &PlatformStats) {
        self.reports += other.reports;
        self.unreadable += other.unreadable;
        self.duration_us.merge(&other.duration_us);
        self.billed_ms.merge(&other.billed_ms);
        self.init_us.merge(&other.init_us);
        self.max_memory_used_mb.merge(&other.max_memory_used_mb);
        self.cold_starts += other.cold_starts;
        self.billed_ms_total = self.billed_ms_total.saturating_add(other.billed_ms_total);
        self.billed_mb_ms_total = self.billed_mb_ms_total.saturating_add(other.billed_mb_ms_total);
        self.memory_size_mb = self.memory_size_mb.max(other.memory_size_mb);
        for (k, v) in &other.statuses {
            *self.statuses.entry(k.clone()).or_default() += v;
        }
    }

    pub fn pack(&mut self) {
        self.duration_us.pack();
        self.billed_ms.pack();
        self.init_us.pack();
        self.max_memory_used_mb.pack();
    }

    /// Billed GB-seconds (Lambda's unit of compute price: MB / 1024 x seconds).
    pub fn gb_seconds(&self) -> f64 {
        self.billed_mb_ms_total as f64 / 1024.0 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLD: &str = "START RequestId: 6f0d6b8e-2a7c-4c53-9d8b-0e1f5a9c3b21 Version: $LATEST\n\
        END RequestId: 6f0d6b8e-2a7c-4c53-9d8b-0e1f5a9c3b21\n\
        REPORT RequestId: 6f0d6b8e-2a7c-4c53-9d8b-0e1f5a9c3b21\tDuration: 12.34 ms\tBilled Duration: 45 ms\tMemory Size: 128 MB\tMax Memory Used: 19 MB\tInit Duration: 31.52 ms\t\n";

    #[test]
    fn reads_cold_and_warm_lines() {
        let r = from_log_tail(COLD).unwrap();
        assert_eq!(r.request_id, "6f0d6b8e-2a7c-4c53-9d8b-0e1f5a9c3b21");
        assert_eq!((r.duration_us, r.billed_ms, r.memory_size_mb, r.max_memory_used_mb), (12_340, 45, 128, 19));
        assert_eq!(r.init_us, Some(31_520));
        let warm = "REPORT RequestId: a1\tDuration: 3.07 ms\tBilled Duration: 4 ms\tMemory Size: 1769 MB\tMax Memory Used: 48 MB\t";
        let r = parse_report(warm).unwrap();
        assert_eq!((r.duration_us, r.billed_ms, r.memory_size_mb, r.init_us), (3_070, 4, 1769, None));
        assert_eq!(format_report(&r), warm, "written as read");
        assert_eq!(parse_report(&format_report(&from_log_tail(COLD).unwrap())).unwrap(), from_log_tail(COLD).unwrap());
    }

    #[test]
    fn reads_timeouts_crashes_and_xray_lines() {
        let timeout = "2026-11-30T10:00:03.012Z a1 Task timed out after 3.00 seconds\n\
            REPORT RequestId: a1\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 512 MB\tMax Memory Used: 57 MB\tStatus: timeout\n";
        let r = from_log_tail(timeout).unwrap();
        assert_eq!((r.duration_us, r.billed_ms, r.status.as_deref()), (3_000_000, 3000, Some("timeout")));
        let crash = "REPORT RequestId: b2\tDuration: 812.5 ms\tBilled Duration: 813 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tInit Duration: 90.01 ms\tStatus: error\tError Type: Runtime.ExitError\n\
            XRAY TraceId: 1-5e1b4151-5ac6c58f5b5ab8d2c3a7b0c4\tSegmentId: 6b7ea4d3e8f5d6c2\tSampled: true\n";
        let r = from_log_tail(crash).unwrap();
        assert_eq!((r.duration_us, r.init_us), (812_500, Some(90_010)));
        assert_eq!(r.status.as_deref(), Some("error (Runtime.ExitError)"));
    }

    #[test]
    fn truncated_or_malformed_tails_are_errors() {
        // The tail is the last 4 KB: a line cut before its REPORT, or a REPORT cut short.
        assert_eq!(from_log_tail("...ed out after 3.00 seconds\nEND RequestId: a1\n"), Err(ReportError::NoReportLine));
        let cut = "REPORT RequestId: a1\tDuration: 3.07 ms\tBilled Dur";
        assert!(from_log_tail(cut).is_err());
        let no_memory = "REPORT RequestId: a1\tDuration: 3.07 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\t";
        assert!(matches!(parse_report(no_memory), Err(ReportError::Missing { key: "Max Memory Used", .. })));
        let bad = "REPORT RequestId: a1\tDuration: 3,07 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 1 MB";
        assert!(parse_report(bad).unwrap_err().to_string().contains("decimal"));
        assert!(matches!(from_log_result("not base64!"), Err(ReportError::NotBase64(_))));
        let encoded = base64::engine::general_purpose::STANDARD.encode(COLD);
        assert_eq!(from_log_result(&encoded).unwrap().init_us, Some(31_520));
    }

    #[test]
    fn statistics_merge_exactly_and_sum_billing() {
        let lines = (0..500u64).map(|i| PlatformReport {
            request_id: format!("r{i}"),
            duration_us: 1_000 + i * 13,
            billed_ms: 2 + i % 40,
            memory_size_mb: 512,
            max_memory_used_mb: 30 + i % 5,
            init_us: (i % 50 == 0).then_some(40_000 + i),
            status: (i % 99 == 0).then(|| "timeout".to_string()),
        });
        let (mut a, mut b, mut whole) = (PlatformStats::default(), PlatformStats::default(), PlatformStats::default());
        for (i, r) in lines.enumerate() {
            let part: &mut PlatformStats = if i % 3 == 0 { &mut a } else { &mut b };
            part.record(&r);
            whole.record(&r);
        }
        a.merge(&b);
        assert_eq!(a, whole);
        assert_eq!(whole.cold_starts, 10);
        let billed: u64 = (0..500u64).map(|i| 2 + i % 40).sum();
        assert_eq!(whole.billed_ms_total, billed);
        assert_eq!(whole.billed_mb_ms_total, billed * 512);
        assert!((whole.gb_seconds() - billed as f64 * 0.5 / 1000.0).abs() < 1e-9);
        assert_eq!(whole.statuses["timeout"], 6);
    }
}

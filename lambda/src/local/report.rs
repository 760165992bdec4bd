//! The platform's log lines for one invocation, as Lambda writes them, for callers that
//! ask for the log tail (`X-Amz-Log-Type: Tail`): `START`, `END` and the `REPORT` line
//! with the duration, the billed duration, the memory size and the memory used, and an
//! `Init Duration` on a cold start.

use std::time::Duration;

use base64::Engine as _;

/// What the local endpoint measured of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation<'a> {
    pub request_id: &'a str,
    /// The handler's run, from the event handed over to the response.
    pub duration: Duration,
    /// The environment's start-up, on a cold start.
    pub init: Option<Duration>,
    pub memory_size_mb: u64,
    pub max_memory_used_mb: u64,
    /// `timeout` or `error`, when the invocation did not complete.
    pub status: Option<&'a str>,
}

/// Milliseconds with two decimals, as REPORT lines write them (truncated, not rounded).
fn ms(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:02}", us / 1_000, us % 1_000 / 10)
}

impl Invocation<'_> {
    /// Billed duration as Lambda bills today: the invocation plus, on a cold start, the
    /// init phase (billed for every on-demand function since 1 August 2025, and always
    /// for custom runtimes such as Rust's), rounded up to the next millisecond.
    pub fn billed_ms(&self) -> u64 {
        let total = self.duration + self.init.unwrap_or_default();
        total.as_micros().div_ceil(1_000) as u64
    }

    /// The REPORT line (tab-separated fields, a trailing tab, as Lambda writes it).
    pub fn report_line(&self) -> String {
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            self.request_id,
            ms(self.duration),
            self.billed_ms(),
            self.memory_size_mb,
            self.max_memory_used_mb
        );
        if let Some(init) = self.init {
            line.push_str(&format!("Init Duration: {} ms\t", ms(init)));
        }
        if let Some(status) = self.status {
            line.push_str(&format!("Status: {status}\t"));
        }
        line
    }

    /// The invocation's log as its tail comes back: START, END, REPORT.
    pub fn log(&self) -> String {
        let id = self.request_id;
        format!("START RequestId: {id} Version: $LATEST\nEND RequestId: {id}\n{}\n", self.report_line())
    }

    /// `X-Amz-Log-Result`: the base64 of the log's last 4 KB.
    pub fn log_result(&self) -> String {
        let log = self.log();
        let tail = &log.as_bytes()[log.len().saturating_sub(4096)..];
        base64::engine::general_purpose::STANDARD.encode(tail)
    }
}

/// This process's resident memory, read at most every 100 ms (it is asked on every
/// invocation that wants its log tail, and changes slowly).
#[derive(Debug, Default)]
pub struct ResidentMemory {
    mb: std::sync::atomic::AtomicU64,
    read_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl ResidentMemory {
    pub fn mb(&self) -> u64 {
        use std::sync::atomic::Ordering;
        let mut read_at = self.read_at.lock().unwrap_or_else(|p| p.into_inner());
        if read_at.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
            self.mb.store(resident_mb(), Ordering::Relaxed);
            *read_at = Some(std::time::Instant::now());
        }
        self.mb.load(Ordering::Relaxed)
    }
}

/// This process's resident memory, MB (the local endpoint's `Max Memory Used`: its
/// environments share one process).
pub fn resident_mb() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(0);
    // SAFETY: sysconf reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    (pages * page).div_ceil(1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_lambda_writes_them() {
        let cold = Invocation {
            request_id: "r1",
            duration: Duration::from_micros(12_345),
            init: Some(Duration::from_micros(31_520)),
            memory_size_mb: 128,
            max_memory_used_mb: 19,
            status: None,
        };
        assert_eq!(cold.billed_ms(), 44, "12.345 + 31.52 ms, rounded up");
        assert_eq!(
            cold.report_line(),
            "REPORT RequestId: r1\tDuration: 12.34 ms\tBilled Duration: 44 ms\tMemory Size: 128 MB\tMax Memory Used: 19 MB\tInit Duration: 31.52 ms\t"
        );
        let timeout = Invocation { init: None, status: Some("timeout"), duration: Duration::from_secs(3), ..cold };
        assert_eq!(timeout.billed_ms(), 3000);
        assert!(timeout.report_line().ends_with("Max Memory Used: 19 MB\tStatus: timeout\t"));
        let decoded = base64::engine::general_purpose::STANDARD.decode(timeout.log_result()).unwrap();
        assert!(String::from_utf8(decoded).unwrap().starts_with("START RequestId: r1 Version: $LATEST\nEND"));
        assert!(resident_mb() > 0);
    }
}

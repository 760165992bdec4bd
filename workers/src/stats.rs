//! What one call produced, and statistics over many calls that merge exactly: full HDR
//! histograms and counters, never averages of percentiles. Failures are data: counted
//! by class and by message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::histogram::Hist;

/// How a call failed, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The function answered with a business error (`{"error": ...}`), e.g. insufficient balance.
    Business,
    /// The function failed (`X-Amz-Function-Error`), e.g. an OCC conflict not retried.
    Function,
    /// 429 TooManyRequestsException.
    Throttle,
    /// Any other service error (404, 400, 5xx).
    Service,
    /// No response: connection refused or reset.
    Transport,
    /// No answer within the call timeout.
    Timeout,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 6] = [
        ErrorClass::Business,
        ErrorClass::Function,
        ErrorClass::Throttle,
        ErrorClass::Service,
        ErrorClass::Transport,
        ErrorClass::Timeout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Business => "business",
            ErrorClass::Function => "function",
            ErrorClass::Throttle => "throttle",
            ErrorClass::Service => "service",
            ErrorClass::Transport => "transport",
            ErrorClass::Timeout => "timeout",
        }
    }
}

/// One finished call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// Client-side latency in microseconds (from the intended start under an open model).
    pub latency_us: u64,
    /// The function's own `duration_us` (or `duration` ms), when it reported one.
    pub function_us: Option<u64>,
    /// OCC retries the function reported.
    pub retries: Option<u64>,
    /// `None` for a success; else the class and a message to count it under.
    pub error: Option<(ErrorClass, String)>,
    /// Started later than intended by more than the lateness tolerance (open model).
    pub late: bool,
}

/// Statistics over a set of calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub calls: u64,
    pub successes: u64,
    /// Errors by class.
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Errors by `class: message`, for the error breakdown.
    pub error_messages: BTreeMap<String, u64>,
    /// Client-side latency, microseconds.
    pub latency_us: Hist,
    /// The function's reported execution time, microseconds.
    pub function_us: Hist,
    /// OCC retries per call, for calls that reported them.
    pub retries: Hist,
    pub total_retries: u64,
    /// Calls that needed at least one retry.
    pub retried_calls: u64,
    /// Calls that started late (open model: no free slot, or the scheduler fell behind).
    pub late_starts: u64,
}

impl Stats {
    pub fn record(&mut self, r: &CallRecord) {
        self.calls += 1;
        self.latency_us.record(r.latency_us);
        if let Some(us) = r.function_us {
            self.function_us.record(us);
        }
        if let Some(n) = r.retries {
            self.retries.record(n);
            self.total_retries += n;
            self.retried_calls += u64::from(n > 0);
        }
        self.late_starts += u64::from(r.late);
        match &r.error {
            None => self.successes += 1,
            Some((class, message)) => {
                *self.errors.entry(*class).or_default() += 1;
                *self.error_messages.entry(format!("{}: {message}", class.name())).or_default() += 1;
            }
        }
    }

    /// Add `other` into `self`: the result equals recording both sets of calls here.
    pub fn merge(&mut self, other: &Stats) {
        self.calls += other.calls;
        self.successes += other.successes;
        for (k, v) in &other.errors {
            *self.errors.entry(*k).or_default() += v;
        }
        for (k, v) in &other.error_messages {
            *self.error_messages.entry(k.clone()).or_default() += v;
        }
        self.latency_us.merge(&other.latency_us);
        self.function_us.merge(&other.function_us);
        self.retries.merge(&other.retries);
        self.total_retries += other.total_retries;
        self.retried_calls += other.retried_calls;
        self.late_starts += other.late_starts;
    }

    /// Compress the histograms (see `Hist::pack`); for statistics kept for the record.
    pub fn pack(&mut self) {
        self.latency_us.pack();
        self.function_us.pack();
        self.retries.pack();
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(i: u64) -> CallRecord {
        CallRecord {
            latency_us: 1_000 + i * 37 % 90_000,
            function_us: (i % 5 != 0).then_some(500 + i % 7_000),
            retries: Some(i % 4 / 3),
            error: match i % 11 {
                0 => Some((ErrorClass::Function, "OccConflict: could not serialize (40001)".into())),
                1 => Some((ErrorClass::Throttle, "ConcurrentInvocationLimitExceeded".into())),
                _ => None,
            },
            late: i % 13 == 0,
        }
    }

    #[test]
    fn merged_parts_equal_the_whole() {
        let (mut a, mut b, mut whole) = (Stats::default(), Stats::default(), Stats::default());
        for i in 0..5_000 {
            if i % 2 == 0 {
                a.record(&call(i))
            } else {
                b.record(&call(i))
            }
            whole.record(&call(i));
        }
        a.merge(&b);
        assert_eq!(a, whole);
        assert_eq!(whole.calls, whole.successes + whole.error_count());
        let json = serde_json::to_string(&whole).unwrap();
        assert_eq!(serde_json::from_str::<Stats>(&json).unwrap(), whole);
    }
}

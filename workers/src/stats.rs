//! What one call produced, and statistics over many calls that merge exactly: full HDR
//! histograms and counters, never averages of percentiles. Failures are data: counted
//! by class and by message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::breakdown::Breakdown;
pub use crate::error_class::ErrorClass;
use crate::histogram::Hist;
use crate::platform::{PlatformReport, PlatformStats, ReportError};

/// A message with what varies from call to call replaced: timestamps (`<time>`), UUIDs,
/// request ids and other long hex or digit runs (`<id>`), decimal numbers (`<n>`).
/// SQLSTATEs, error codes and short numbers stay.
pub fn normalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(generic(word).unwrap_or(word));
        word.clear();
    };
    for c in message.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The placeholder for a word that varies, if it is one.
fn generic(word: &str) -> Option<&'static str> {
    let w = word.trim_end_matches(['.', ':', '-']);
    let digits = w.chars().filter(char::is_ascii_digit).count();
    let b = w.as_bytes();
    let hexish = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-' {
        Some("<time>")
    } else if w.len() >= 8 && hexish(w) && digits >= 4 {
        Some("<id>")
    } else if w.contains('.')
        && digits > 0
        && w.chars().all(|c| c.is_ascii_digit() || c == '.')
        && w.matches('.').count() == 1
    {
        Some("<n>")
    } else {
        None
    }
}

/// One finished call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallRecord {
    /// Client-side latency in microseconds (from the intended start under an open model).
    pub latency_us: u64,
    /// The function's own `duration_us` (or `duration` ms), when it reported one.
    pub function_us: Option<u64>,
    /// OCC retries the function reported (on failures too, for calls that reached the
    /// database; `None` when the call never ran the transaction or could not say).
    pub retries: Option<u64>,
    /// `None` for a success; else the class and a message to count it under.
    pub error: Option<(ErrorClass, String)>,
    /// Started later than intended by more than the lateness tolerance (open model).
    pub late: bool,
    /// Lambda's REPORT line for the call, when its log tail was asked for and came back
    /// (`Err` when the tail came without a readable one).
    pub platform: Option<Result<PlatformReport, ReportError>>,
    /// Payer and payee of a transfer, for the per-account view.
    pub accounts: Option<(i64, i64)>,
    /// Numeric fields of the answer that `[response]` maps, by name.
    pub fields: Vec<(String, u64)>,
    /// The scenario's kind of call (`[[call]]`), when it has several.
    pub kind: Option<std::sync::Arc<str>>,
}

/// Statistics over a set of calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub calls: u64,
    pub successes: u64,
    /// Errors by class.
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Errors by class, then by message (normalised), for the error breakdown.
    pub error_messages: Breakdown,
    /// Client-side latency of every call, microseconds.
    pub latency_us: Hist,
    /// Client-side latency of the successful calls only (absent in older summaries).
    #[serde(default)]
    pub success_latency_us: Hist,
    /// The function's reported execution time, microseconds.
    pub function_us: Hist,
    /// OCC retries per call, for every call that ran the transaction and reported its
    /// retries, successful or not.
    pub retries: Hist,
    pub total_retries: u64,
    /// Calls that needed at least one retry.
    pub retried_calls: u64,
    /// Calls that started late (open model: no free slot, or the scheduler fell behind).
    pub late_starts: u64,
    /// Latencies beyond the histograms' range (`histogram::MAX_VALUE`), recorded at its top.
    #[serde(default)]
    pub clamped: u64,
    /// What Lambda measured (REPORT lines): absent when no call's log tail came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformStats>,
    /// The answers' fields that `[response]` maps, histogrammed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Hist>,
    /// The same statistics for each kind of call (`[[call]]`), by name; empty when the
    /// scenario has one kind. Every call counts in exactly one kind and in the whole.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, Stats>,
}

impl Stats {
    /// Count one call, in the whole and in its kind.
    pub fn record(&mut self, r: &CallRecord) {
        self.record_one(r);
        if let Some(kind) = &r.kind {
            match self.kinds.get_mut(&**kind) {
                Some(k) => k.record_one(r),
                None => self.kinds.entry(kind.to_string()).or_default().record_one(r),
            }
        }
    }

    fn record_one(&mut self, r: &CallRecord) {
        self.calls += 1;
        self.latency_us.record(r.latency_us);
        self.clamped += u64::from(r.latency_us > crate::histogram::MAX_VALUE);
        if let Some(us) = r.function_us {
            self.function_us.record(us);
        }
        if let Some(n) = r.retries {
            self.retries.record(n);
            self.total_retries += n;
            self.retried_calls += u64::from(n > 0);
        }
        self.late_starts += u64::from(r.late);
        for (name, v) in &r.fields {
            self.fields.entry(name.clone()).or_default().record(*v);
        }
        match &r.platform {
            None => {}
            Some(Ok(report)) => self.platform.get_or_insert_with(Default::default).record(report),
            Some(Err(_)) => self.platform.get_or_insert_with(Default::default).unreadable += 1,
        }
        match &r.error {
            None => {
                self.successes += 1;
                self.success_latency_us.record(r.latency_us);
            }
            Some((class, message)) => {
                *self.errors.entry(*class).or_default() += 1;
                self.error_messages.count(*class, &normalise(message), 1);
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
        self.error_messages.merge(&other.error_messages);
        self.latency_us.merge(&other.latency_us);
        self.success_latency_us.merge(&other.success_latency_us);
        self.function_us.merge(&other.function_us);
        self.retries.merge(&other.retries);
        self.total_retries += other.total_retries;
        self.retried_calls += other.retried_calls;
        self.late_starts += other.late_starts;
        self.clamped += other.clamped;
        if let Some(p) = &other.platform {
            self.platform.get_or_insert_with(Default::default).merge(p);
        }
        for (name, h) in &other.fields {
            self.fields.entry(name.clone()).or_default().merge(h);
        }
        for (name, k) in &other.kinds {
            self.kinds.entry(name.clone()).or_default().merge(k);
        }
    }

    /// Compress the histograms (see `Hist::pack`); for statistics kept for the record.
    pub fn pack(&mut self) {
        self.latency_us.pack();
        self.success_latency_us.pack();
        self.function_us.pack();
        self.retries.pack();
        if let Some(p) = &mut self.platform {
            p.pack();
        }
        self.fields.values_mut().for_each(Hist::pack);
        self.kinds.values_mut().for_each(Stats::pack);
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Errors of these classes.
    fn count_of(&self, classes: &[ErrorClass]) -> u64 {
        classes.iter().filter_map(|c| self.errors.get(c)).sum()
    }

    /// Calls Lambda answered: neither throttled, refused, lost in transport, nor
    /// unanswered.
    pub fn answered(&self) -> u64 {
        use ErrorClass::*;
        self.calls.saturating_sub(self.count_of(&[Throttle, Service, Transport, Timeout, Abandoned]))
    }

    /// Calls that may have committed although the client saw no success: no answer in
    /// time, no response at all, given up at the drain deadline, a function timeout (it
    /// may have been at COMMIT), and a connection lost at COMMIT.
    pub fn unknown_outcomes(&self) -> u64 {
        use ErrorClass::*;
        let maybe_committed = [transfer::error::COMMIT_UNKNOWN, transfer::error::TIMEOUT];
        self.count_of(&[Timeout, Transport, Abandoned]) + self.error_messages.of_types(Function, &maybe_committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_and_unknown_outcomes_count_what_may_have_run() {
        let mut s = Stats::default();
        let mut fail = |class: ErrorClass, message: &str, n: u64| {
            for _ in 0..n {
                s.record(&CallRecord { error: Some((class, message.into())), ..CallRecord::default() });
            }
        };
        fail(ErrorClass::Function, "CommitOutcomeUnknown: connection lost at COMMIT after 0 retries", 2);
        fail(ErrorClass::Function, "Sandbox.Timedout: Task timed out after 3.00 seconds", 3);
        fail(ErrorClass::Function, "OccConflict: change conflicts (OC000)", 5);
        fail(ErrorClass::Function, "CommitOutcomeUnknownish: not the same type", 7);
        fail(ErrorClass::Throttle, "TooManyRequestsException: Rate", 11);
        fail(ErrorClass::Transport, "connection reset", 13);
        fail(ErrorClass::Timeout, "no answer", 17);
        fail(ErrorClass::Abandoned, "given up", 19);
        fail(ErrorClass::Service, "ResourceNotFoundException", 23);
        fail(ErrorClass::Business, "Insufficient balance", 29);
        s.record(&CallRecord::default());
        assert_eq!(s.calls, 130);
        // Lambda answered the function's errors, the business refusals and the success.
        assert_eq!(s.answered(), 2 + 3 + 5 + 7 + 29 + 1);
        // Maybe committed: a lost COMMIT, a function timeout, and no answer at all.
        assert_eq!(s.unknown_outcomes(), 2 + 3 + 13 + 17 + 19);
    }

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
            fields: if i % 3 == 0 { vec![("duration".into(), i % 50)] } else { vec![] },
            kind: Some(std::sync::Arc::from(if i % 4 == 0 { "write" } else { "read" })),
            ..CallRecord::default()
        }
    }

    #[test]
    fn error_keys_stay_bounded_whatever_the_messages() {
        let mut s = Stats::default();
        for i in 0..100_000u64 {
            let message = format!(
                "2026-11-30T08:{:02}:{:02}.{:03}Z {:08x}-1607-4e2a-9c1b-{:012x} Task timed out after {}.{:02} seconds",
                i / 60 % 60,
                i % 60,
                i % 1000,
                i * 7919,
                i * 104_729,
                3 + i % 4,
                i % 100
            );
            s.record(&CallRecord {
                latency_us: 3_000_000,
                function_us: None,
                retries: None,
                error: Some((ErrorClass::Function, format!("Sandbox.Timedout: {message}"))),
                late: false,
                ..CallRecord::default()
            });
        }
        assert_eq!(s.errors[&ErrorClass::Function], 100_000);
        let keys: Vec<_> = s.error_messages.iter().map(|(c, m, _)| (c, m)).collect();
        let expected = "Sandbox.Timedout: <time> <id> Task timed out after <n> seconds";
        assert_eq!(keys, [(ErrorClass::Function, expected)], "{keys:?}");
        // Messages that share nothing: at most MESSAGES_PER_CLASS of them, then "other".
        let mut t = Stats::default();
        for i in 0..100_000u64 {
            let word: String = (0..6).map(|k| char::from(b'a' + ((i >> (3 * k)) % 26) as u8)).collect();
            t.record(&CallRecord {
                latency_us: 10,
                function_us: None,
                retries: None,
                error: Some((ErrorClass::Service, format!("Unexpected{word}"))),
                late: false,
                ..CallRecord::default()
            });
        }
        assert_eq!(t.error_messages.len(), crate::breakdown::MESSAGES_PER_CLASS + 1);
        assert_eq!(t.error_messages.iter().map(|(_, _, n)| n).sum::<u64>(), 100_000, "every error still counted");
        let other = t.error_messages.of(ErrorClass::Service).find(|(m, _)| *m == crate::breakdown::OTHER_MESSAGES);
        assert!(other.is_some_and(|(_, n)| n > 99_000), "{other:?}");
        assert_eq!(normalise("conflict (40001) after 3 retries"), "conflict (40001) after 3 retries");
        assert_eq!(
            normalise("cannot connect to 127.0.0.1:5432: Connection refused (os error 111)"),
            "cannot connect to 127.0.0.1:5432: Connection refused (os error 111)"
        );
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
        // Each kind holds exactly its own calls, and the kinds add up to the whole.
        let mut writes = Stats::default();
        (0..5_000).filter(|i| i % 4 == 0).for_each(|i| writes.record(&CallRecord { kind: None, ..call(i) }));
        assert_eq!(whole.kinds["write"], writes);
        assert_eq!(whole.kinds.values().map(|k| k.calls).sum::<u64>(), whole.calls);
        assert!(whole.kinds.values().all(|k| k.kinds.is_empty()), "no kinds within kinds");
        let json = serde_json::to_string(&whole).unwrap();
        assert_eq!(serde_json::from_str::<Stats>(&json).unwrap(), whole);
    }
}

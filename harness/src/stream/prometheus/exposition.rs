//! The run's figures as text a Prometheus server reads: the classic text format 0.0.4
//! or OpenMetrics 1.0.0 text, chosen by the scrape's `Accept` header. Everything is
//! rendered from the run's cumulative totals, so a scrape at any moment (or after the
//! run) sees counters and histogram buckets that only ever grow.
//!
//! Latency is a classic cumulative histogram, `harness_call_latency_seconds`, by
//! `outcome` (success, error), its buckets counted exactly from the run's HDR
//! histograms. The bucket bounds are the E12 series (12 per decade: 1.0, 1.2, 1.5, 1.8,
//! 2.2, 2.7, 3.3, 3.9, 4.7, 5.6, 6.8, 8.2) from 100 µs to 68 s, 71 bounds; adjacent
//! bounds are 15-25% apart (about 21% on average), so `histogram_quantile`, which
//! interpolates inside one bucket, is off by at most that bucket's width.

use std::fmt::Write;

use workers::{ErrorClass, Stats};

/// The E12 mantissas, times ten.
const E12: [u64; 12] = [10, 12, 15, 18, 22, 27, 33, 39, 47, 56, 68, 82];
/// The largest bucket bound, microseconds (68 s).
const TOP_US: u64 = 68_000_000;

/// A text format and its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text (ends with `# EOF`).
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` with a weight at least that of `text/plain`, the
    /// classic text format otherwise (and without the header).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let weight = |wanted: &str| {
            accept
                .unwrap_or("")
                .split(',')
                .filter_map(|range| {
                    let mut parts = range.split(';').map(str::trim);
                    let media = parts.next()?;
                    let q = parts.find_map(|p| p.strip_prefix("q=")).map_or(Some(1.0), |q| q.parse::<f64>().ok())?;
                    media.eq_ignore_ascii_case(wanted).then_some(q)
                })
                .fold(0.0_f64, f64::max)
        };
        let open = weight("application/openmetrics-text");
        if open > 0.0 && open >= weight("text/plain") {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// The latency bucket bounds, microseconds, ascending (`+Inf` not included).
pub fn bounds_us() -> Vec<u64> {
    (1..=6u32).flat_map(|decade| E12.iter().map(move |m| m * 10u64.pow(decade))).filter(|&us| us <= TOP_US).collect()
}

/// What one exposition shows.
pub struct Snapshot<'a> {
    /// Empty before the first recorded second (then `harness_run_info` is left out).
    pub scenario: &'a str,
    pub run_id: &'a str,
    pub elapsed_s: f64,
    pub in_flight: u64,
    pub totals: &'a Stats,
}

/// The exposition of `s` in `format`.
pub fn render(s: &Snapshot<'_>, format: Format) -> String {
    let mut w = Writer { out: String::new(), format };
    let t = s.totals;
    w.counter("harness_calls", "Calls completed", &[(&[], t.calls)]);
    w.counter("harness_successes", "Calls that succeeded", &[(&[], t.successes)]);
    let errors: Vec<([(&str, &str); 1], u64)> =
        ErrorClass::ALL.iter().map(|c| ([("class", c.name())], t.errors.get(c).copied().unwrap_or(0))).collect();
    let errors: Vec<(&[(&str, &str)], u64)> = errors.iter().map(|(l, n)| (&l[..], *n)).collect();
    w.counter("harness_errors", "Calls that failed, by error class", &errors);
    w.counter("harness_occ_retries", "OCC retries the function reported", &[(&[], t.total_retries)]);
    w.counter("harness_late_starts", "Calls started more than 5 ms after their intended time", &[(&[], t.late_starts)]);
    w.gauge("harness_in_flight", "Calls in flight at the end of the last recorded second", &[], s.in_flight as f64);
    w.gauge("harness_elapsed_seconds", "Seconds of the run recorded so far", &[], s.elapsed_s);
    latency(&mut w, t);
    if !s.run_id.is_empty() {
        w.gauge("harness_run_info", "The run being measured", &[("scenario", s.scenario), ("run_id", s.run_id)], 1.0);
    }
    if format == Format::OpenMetrics {
        w.out.push_str("# EOF\n");
    }
    w.out
}

/// Cumulative bucket counts (one per bound, then `+Inf`) and the sum in seconds.
struct Buckets {
    cumulative: Vec<u64>,
    sum_s: f64,
}

/// Count `hist`'s calls into the buckets: a value goes to the first bucket whose bound
/// is at least the highest value the HDR histogram holds equivalent to it.
fn buckets(hist: &workers::Hist, bounds: &[u64]) -> Buckets {
    let h = hist.to_histogram();
    let mut counts = vec![0u64; bounds.len() + 1];
    let mut sum_us = 0.0;
    for v in h.iter_recorded() {
        let (value, n) = (v.value_iterated_to(), v.count_at_value());
        counts[bounds.partition_point(|&b| b < value)] += n;
        sum_us += h.median_equivalent(value) as f64 * n as f64;
    }
    let cumulative = counts
        .iter()
        .scan(0u64, |acc, n| {
            *acc += n;
            Some(*acc)
        })
        .collect();
    Buckets { cumulative, sum_s: sum_us / 1e6 }
}

/// `harness_call_latency_seconds` by outcome: the errors' buckets are every call's less
/// the successes' (both histograms record the same latencies).
fn latency(w: &mut Writer, t: &Stats) {
    let bounds = bounds_us();
    let all = buckets(&t.latency_us, &bounds);
    let success = buckets(&t.success_latency_us, &bounds);
    let error = Buckets {
        cumulative: all.cumulative.iter().zip(&success.cumulative).map(|(a, s)| a.saturating_sub(*s)).collect(),
        sum_s: (all.sum_s - success.sum_s).max(0.0),
    };
    let name = "harness_call_latency_seconds";
    w.header(name, "histogram", "Client-side latency of the calls completed, by outcome");
    for (outcome, b) in [("success", &success), ("error", &error)] {
        for (i, count) in b.cumulative.iter().enumerate() {
            let le = bounds.get(i).map_or_else(|| "+Inf".to_string(), |&us| w.seconds(us));
            w.sample(&format!("{name}_bucket"), &[("outcome", outcome), ("le", &le)], &count.to_string());
        }
        let total = b.cumulative.last().copied().unwrap_or(0);
        w.sample(&format!("{name}_count"), &[("outcome", outcome)], &total.to_string());
        w.sample(&format!("{name}_sum"), &[("outcome", outcome)], &float(b.sum_s));
    }
}

struct Writer {
    out: String,
    format: Format,
}

impl Writer {
    fn header(&mut self, family: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {family} {help}.");
        let _ = writeln!(self.out, "# TYPE {family} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.out, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A counter family: OpenMetrics names the family without `_total`, the classic
    /// format names it as its samples.
    fn counter(&mut self, family: &str, help: &str, samples: &[(&[(&str, &str)], u64)]) {
        let total = format!("{family}_total");
        let header = if self.format == Format::OpenMetrics { family } else { &total };
        self.header(header, "counter", help);
        for (labels, n) in samples {
            self.sample(&total, labels, &n.to_string());
        }
    }

    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.header(name, "gauge", help);
        self.sample(name, labels, &float(value));
    }

    /// A bucket bound in seconds, exactly (`0.00012`); OpenMetrics wants a float
    /// (`1.0`), the classic format as Go's clients write it (`1`).
    fn seconds(&self, us: u64) -> String {
        let (whole, frac) = (us / 1_000_000, us % 1_000_000);
        match (frac, self.format) {
            (0, Format::OpenMetrics) => format!("{whole}.0"),
            (0, Format::Text) => whole.to_string(),
            _ => format!("{whole}.{}", format!("{frac:06}").trim_end_matches('0')),
        }
    }
}

fn float(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".into(),
        v if v == f64::INFINITY => "+Inf".into(),
        v if v == f64::NEG_INFINITY => "-Inf".into(),
        v => v.to_string(),
    }
}

/// A label value with `\`, `"` and newlines escaped, as both formats want.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_the_e12_series_from_100_us_to_68_s() {
        let b = bounds_us();
        assert_eq!((b[0], b[1], b[2], *b.last().unwrap(), b.len()), (100, 120, 150, 68_000_000, 71));
        let widest = b.windows(2).map(|w| w[1] as f64 / w[0] as f64).fold(0.0, f64::max);
        assert!(widest <= 1.25 + 1e-9, "{widest}");
    }

    #[test]
    fn prometheus_and_openmetrics_accept_headers() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;\
                          q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("text/plain;version=0.0.4")), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain, application/openmetrics-text;q=0.5")), Format::Text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;q=0")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
    }

    #[test]
    fn buckets_count_every_call_once_by_outcome() {
        let mut t = Stats::default();
        for us in [90, 100, 101, 1_500, 2_000_000, 99_000_000] {
            t.calls += 1;
            t.latency_us.record(us);
            if us != 1_500 {
                t.successes += 1;
                t.success_latency_us.record(us);
            }
        }
        let snap = Snapshot { scenario: "s\"q", run_id: "r1", elapsed_s: 2.5, in_flight: 3, totals: &t };
        let om = render(&snap, Format::OpenMetrics);
        let line = |text: &str, start: &str| text.lines().find(|l| l.starts_with(start)).map(str::to_string);
        let bucket = |outcome: &str, le: &str| {
            line(&om, &format!("harness_call_latency_seconds_bucket{{outcome=\"{outcome}\",le=\"{le}\"}} "))
                .unwrap_or_else(|| panic!("{outcome} {le}:\n{om}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(bucket("success", "0.0001"), "2", "90 and 100 µs are <= 100 µs");
        assert_eq!(bucket("success", "0.00012"), "3");
        assert_eq!(bucket("error", "0.0015"), "1");
        assert_eq!(bucket("success", "2.2"), "4");
        assert_eq!(bucket("success", "68.0"), "4");
        assert_eq!(bucket("success", "+Inf"), "5");
        assert!(om.contains("# TYPE harness_calls counter\n") && om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("harness_run_info{scenario=\"s\\\"q\",run_id=\"r1\"} 1\n"), "{om}");
        let text = render(&snap, Format::Text);
        assert!(text.contains("# TYPE harness_calls_total counter\nharness_calls_total 6\n"), "{text}");
        assert!(text.contains("le=\"68\"} 4\n") && !text.contains("# EOF"), "{text}");
    }
}

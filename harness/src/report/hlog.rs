//! `latency.hlog`: the per-second histograms as an HdrHistogram interval log, the format
//! HdrHistogram's own tools read (values in microseconds; the max column in ms). Tagged
//! `latency` (client side) and `function` (the function's reported duration). The
//! header records the run's start (`#[StartTime: ...]` and `#[BaseTime: ...]`, seconds
//! since the epoch), so interval timestamps are seconds into the run and
//! BaseTime + timestamp is the wall-clock time of each interval.

use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use workers::Interval;

use super::{Render, RunReport};

pub struct Hlog;

pub const TAGS: [&str; 2] = ["latency", "function"];

impl Hlog {
    /// The log's first comment, naming the run.
    pub fn comment(harness_version: &str, run_id: &str, started_at: &str) -> String {
        format!("harness {harness_version} run {run_id} started {started_at}")
    }

    /// The log's header lines (comments, start and base time, the column legend).
    pub fn header(comment: &str, started: SystemTime) -> anyhow::Result<Vec<u8>> {
        write(comment, started, &[], 0.0)
    }

    /// The log lines of one interval that starts `start_s` into the run.
    pub fn entries(comment: &str, started: SystemTime, start_s: f64, interval: &Interval) -> anyhow::Result<Vec<u8>> {
        let all = write(comment, started, std::slice::from_ref(interval), start_s)?;
        Ok(all[Self::header(comment, started)?.len()..].to_vec())
    }
}

impl Render for Hlog {
    fn render(&self, r: &RunReport) -> anyhow::Result<Vec<u8>> {
        let comment = Self::comment(&r.harness_version, &r.run_id, &r.started_at.rfc3339());
        write(&comment, r.started_at.system(), &r.intervals, 0.0)
    }
}

fn write(comment: &str, started: SystemTime, intervals: &[Interval], mut start: f64) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(comment)
        .add_comment("values in microseconds; timestamps in seconds since BaseTime (the run's start)")
        .with_start_time(started)
        .with_base_time(started)
        .with_max_value_divisor(1_000.0)
        .begin_log_with(&mut out, &mut serializer)?;
    for interval in intervals {
        let (at, length) = (Duration::from_secs_f64(start), Duration::from_secs_f64(interval.seconds));
        for (tag, hist) in TAGS.iter().zip([&interval.stats.latency_us, &interval.stats.function_us]) {
            log.write_histogram(&hist.to_histogram(), at, length, Tag::new(tag))
                .map_err(|e| anyhow::anyhow!("writing the {tag} histogram: {e:?}"))?;
        }
        start += interval.seconds;
    }
    drop(log);
    Ok(out)
}

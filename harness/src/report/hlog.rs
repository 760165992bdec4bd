//! `latency.hlog`: the per-second histograms as an HdrHistogram interval log, the format
//! HdrHistogram's own tools read (values in microseconds; the max column in ms). Tagged
//! `latency` (client side) and `function` (the function's reported duration).

use std::time::Duration;

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

    /// The log's header lines (comments and the column legend).
    pub fn header(comment: &str) -> anyhow::Result<Vec<u8>> {
        write(comment, &[], 0.0)
    }

    /// The log lines of one interval that starts `start_s` into the run.
    pub fn entries(comment: &str, start_s: f64, interval: &Interval) -> anyhow::Result<Vec<u8>> {
        let all = write(comment, std::slice::from_ref(interval), start_s)?;
        Ok(all[Self::header(comment)?.len()..].to_vec())
    }
}

impl Render for Hlog {
    fn render(&self, r: &RunReport) -> anyhow::Result<Vec<u8>> {
        write(&Self::comment(&r.harness_version, &r.run_id, &r.started_at), &r.intervals, 0.0)
    }
}

fn write(comment: &str, intervals: &[Interval], mut start: f64) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(comment)
        .add_comment("values in microseconds")
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

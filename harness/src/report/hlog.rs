//! `latency.hlog`: the per-second histograms as an HdrHistogram interval log, the format
//! HdrHistogram's own tools read (values in microseconds; the max column in ms). Tagged
//! `latency` (client side) and `function` (the function's reported duration).

use std::time::Duration;

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use super::{Render, RunReport};

pub struct Hlog;

pub const TAGS: [&str; 2] = ["latency", "function"];

impl Render for Hlog {
    fn render(&self, report: &RunReport) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "harness {} run {} started {}",
                report.harness_version, report.run_id, report.started_at
            ))
            .add_comment("values in microseconds")
            .with_max_value_divisor(1_000.0)
            .begin_log_with(&mut out, &mut serializer)?;
        let mut start = 0.0;
        for interval in &report.intervals {
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
}

//! The run folder written as the run goes: each second's row of `timeseries.csv` and its
//! histograms in `latency.hlog` are appended and flushed when the interval arrives, so a
//! run that is killed still leaves its data. At the end the full renderers rewrite both
//! files with the same content.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use workers::Interval;

use super::csv::{TimeSeries, TIMESERIES_COLUMNS};
use super::hlog::Hlog;

pub struct LiveFiles {
    timeseries: ::csv::Writer<File>,
    hlog: File,
    comment: String,
    started: std::time::SystemTime,
    start_s: f64,
}

impl LiveFiles {
    pub fn create(dir: &Path, hlog_comment: String, started: std::time::SystemTime) -> anyhow::Result<LiveFiles> {
        let create = |name: &str| {
            let path = dir.join(name);
            File::create(&path).with_context(|| format!("creating {}", path.display()))
        };
        let mut timeseries = ::csv::Writer::from_writer(create("timeseries.csv")?);
        timeseries.write_record(TIMESERIES_COLUMNS)?;
        timeseries.flush()?;
        let mut hlog = create("latency.hlog")?;
        hlog.write_all(&Hlog::header(&hlog_comment, started)?)?;
        Ok(LiveFiles { timeseries, hlog, comment: hlog_comment, started, start_s: 0.0 })
    }

    /// The histograms first, then the row: a second in timeseries.csv always has its
    /// histograms in latency.hlog, however abruptly the run ends.
    pub fn append(&mut self, interval: &Interval) -> anyhow::Result<()> {
        self.hlog.write_all(&Hlog::entries(&self.comment, self.started, self.start_s, interval)?)?;
        self.timeseries.write_record(TimeSeries::row(self.start_s, interval))?;
        self.timeseries.flush()?;
        self.start_s += interval.seconds;
        Ok(())
    }
}

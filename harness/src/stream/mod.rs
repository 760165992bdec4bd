//! Live metrics out: every second's merged figures streamed, while the run goes, to
//! where users already look. One module per format: NDJSON (`--out json=FILE`),
//! CloudWatch Embedded Metric Format lines (`--out emf=FILE`) and Prometheus (an
//! endpoint, `--metrics-listen ADDR`, and a Pushgateway, `--metrics-push URL`). They all see the same seconds the run folder
//! records, so their counters add up to the run's final totals.

pub mod emf;
pub mod ndjson;
pub mod prometheus;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use workers::{Interval, Stats};

/// One `--out KIND=FILE` (FILE `-` is standard output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutSpec {
    Json(PathBuf),
    Emf(PathBuf),
}

impl FromStr for OutSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, file) =
            s.split_once('=').ok_or_else(|| format!("{s:?} is not KIND=FILE, e.g. json=metrics.ndjson"))?;
        if file.is_empty() {
            return Err(format!("{s:?} names no file (use - for standard output)"));
        }
        match kind {
            "json" => Ok(OutSpec::Json(file.into())),
            "emf" => Ok(OutSpec::Emf(file.into())),
            other => Err(format!("output kind {other:?} is not one of \"json\", \"emf\"")),
        }
    }
}

/// What a live output is told about each second.
pub struct Second<'a> {
    /// The run's scenario name and id.
    pub scenario: &'a str,
    pub run_id: &'a str,
    /// Seconds from the run's start to this second's start.
    pub start_s: f64,
    pub interval: &'a Interval,
    /// Everything so far, this second included.
    pub totals: &'a Stats,
}

impl Second<'_> {
    /// Seconds recorded so far, this one included.
    pub fn elapsed_s(&self) -> f64 {
        self.start_s + self.interval.seconds
    }
}

/// The live outputs of one run.
#[derive(Default)]
pub struct Outputs {
    lines: Vec<(Format, BufWriter<Box<dyn Write + Send>>)>,
    prometheus: Option<prometheus::Exporter>,
}

enum Format {
    Json,
    Emf,
}

impl Outputs {
    /// Open every file and bind the metrics address before the run starts, so a bad one
    /// stops the run before any load.
    pub async fn open(outs: &[OutSpec], metrics: &prometheus::Config) -> anyhow::Result<Outputs> {
        let mut outputs = Outputs::default();
        for out in outs {
            let (format, path) = match out {
                OutSpec::Json(p) => (Format::Json, p),
                OutSpec::Emf(p) => (Format::Emf, p),
            };
            let sink: Box<dyn Write + Send> = if path.as_os_str() == "-" {
                Box::new(std::io::stdout())
            } else {
                Box::new(File::create(path).with_context(|| format!("--out: creating {}", path.display()))?)
            };
            outputs.lines.push((format, BufWriter::new(sink)));
        }
        if metrics.listen.is_some() || metrics.push.is_some() {
            outputs.prometheus = Some(prometheus::Exporter::open(metrics).await?);
        }
        Ok(outputs)
    }

    /// A handle on the Prometheus output that outlives these outputs (for pushing and
    /// lingering after the run), if there is one.
    pub fn prometheus(&self) -> Option<prometheus::Exporter> {
        self.prometheus.clone()
    }

    /// One complete second: a line per stream (flushed), and the endpoint's new figures.
    pub fn second(&mut self, second: &Second<'_>) -> anyhow::Result<()> {
        for (format, sink) in &mut self.lines {
            let line = match format {
                Format::Json => ndjson::line(second),
                Format::Emf => emf::line(second),
            };
            serde_json::to_writer(&mut *sink, &line)?;
            sink.write_all(b"\n")?;
            sink.flush()?;
        }
        if let Some(p) = &self.prometheus {
            p.update(second);
        }
        Ok(())
    }
}

//! The run report: built once from what the run saw, rendered per format (one module
//! each). `summary.json` carries the full histograms, so it can be re-read and merged.

pub mod console;
pub mod csv;
pub mod hlog;
pub mod html;
pub mod json;
pub mod live;
pub mod svg;

pub mod junit;
pub mod markdown;
pub mod markup;

use std::path::Path;

use anyhow::Context;

pub use crate::summary::{percent, RunReport, WorkerReport, SCHEMA_VERSION};

/// A small trait for report formats.
pub trait Render {
    fn render(&self, report: &RunReport) -> anyhow::Result<Vec<u8>>;
}

/// The files of a run folder besides `summary.json`, each from one renderer.
pub fn derived_files() -> [(&'static str, &'static dyn Render); 6] {
    [
        ("stats.csv", &csv::Aggregate),
        ("timeseries.csv", &csv::TimeSeries),
        ("workers.csv", &csv::Workers),
        ("errors.csv", &csv::Errors),
        ("latency.hlog", &hlog::Hlog),
        ("report.html", &html::Html),
    ]
}

/// Write every derived file into `dir`.
pub fn write_derived(dir: &Path, report: &RunReport) -> anyhow::Result<()> {
    for (name, renderer) in derived_files() {
        let path = dir.join(name);
        std::fs::write(&path, renderer.render(report)?).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

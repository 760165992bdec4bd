//! The run report: built once from what the run saw, rendered per format (one module
//! each). `summary.json` carries the full histograms, so it can be re-read and merged.

pub mod console;
pub mod csv;
pub mod hlog;
pub mod html;
pub mod json;
pub mod live;
pub mod planned;

pub mod junit;
pub mod kinds;
pub mod markdown;
pub mod markup;

pub use crate::summary::{percent, RunReport, WorkerReport, SCHEMA_VERSION};

/// A small trait for report formats.
pub trait Render {
    fn render(&self, report: &RunReport) -> anyhow::Result<Vec<u8>>;
}

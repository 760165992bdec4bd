//! `summary.json`: the versioned, machine-readable report, histograms included.

use super::{Render, RunReport};

pub struct Json;

impl Render for Json {
    fn render(&self, report: &RunReport) -> anyhow::Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(report)?;
        out.push(b'\n');
        Ok(out)
    }
}

/// Read a summary back (for `harness report`).
pub fn read(path: &std::path::Path) -> anyhow::Result<RunReport> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let report: RunReport =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a harness summary", path.display()))?;
    anyhow::ensure!(
        report.schema_version <= super::SCHEMA_VERSION,
        "{} has summary schema version {}, newer than this harness understands ({})",
        path.display(),
        report.schema_version,
        super::SCHEMA_VERSION
    );
    Ok(report)
}

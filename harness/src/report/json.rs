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

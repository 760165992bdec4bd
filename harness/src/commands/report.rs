//! `harness report RUN_DIR`: re-render a run folder from its summary.json.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::ReportArgs;
use crate::report::{console::Console, Render};

/// Re-render a run folder's files and STATS from its `summary.json`.
pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let report = summary(&args.run_dir)?;
    crate::report::write_derived(&args.run_dir, &report)?;
    print!("{}", String::from_utf8(Console.render(&report)?)?);
    Ok(ExitCode::SUCCESS)
}

/// A run folder or a summary.json path, read.
pub fn summary(path: &Path) -> anyhow::Result<crate::report::RunReport> {
    let file = if path.is_dir() { path.join("summary.json") } else { path.to_path_buf() };
    crate::report::json::read(&file)
}

/// The run folder of a run folder or of its summary.json.
pub fn run_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !path.is_dir() => parent.to_path_buf(),
        _ => path.to_path_buf(),
    }
}

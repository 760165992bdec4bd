//! The run folder, `results/<run-id>/`, and its one owner: created when a run starts
//! (so a bad `--results` path fails in the first second), the live files written as the
//! run goes, then `summary.json` and every file derived from it. `harness report`,
//! `harness check` and baselines open a folder (or a bare summary.json) through here.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::clock::Timestamp;
use crate::report::hlog::Hlog;
use crate::report::live::LiveFiles;
use crate::report::{json, Render, RunReport};

/// The summary's file name in a run folder.
pub const SUMMARY: &str = "summary.json";

/// A run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// `base/<UTC date>-<time>-<name>` (with `-2`, `-3`, ... when taken), created now.
    pub fn create(base: &Path, name: &str, at: Timestamp) -> anyhow::Result<RunDir> {
        let stamp = at.compact();
        for n in 1..1000 {
            let id = if n == 1 { format!("{stamp}-{name}") } else { format!("{stamp}-{name}-{n}") };
            let path = base.join(id);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(base).with_context(|| format!("creating --results {}", base.display()))?;
                    std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
                    return Ok(RunDir { path });
                }
                Err(e) => return Err(e).with_context(|| format!("creating {} (check --results)", path.display())),
            }
        }
        anyhow::bail!("too many runs named {name} in this second under {}", base.display())
    }

    /// A run folder, or the folder of a summary.json given by its path.
    pub fn open(path: &Path) -> RunDir {
        match path.parent() {
            Some(parent) if !path.is_dir() => RunDir { path: parent.to_path_buf() },
            _ => RunDir { path: path.to_path_buf() },
        }
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a hosted function's environments write their output (`env-<n>.log`).
    pub fn function_logs(&self) -> PathBuf {
        self.path.join("function")
    }

    /// The run's id: the folder's name.
    pub fn id(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// The live files (timeseries.csv and latency.hlog, appended each second).
    pub fn live(&self, version: &str, started: Timestamp) -> anyhow::Result<LiveFiles> {
        LiveFiles::create(&self.path, Hlog::comment(version, &self.id(), &started.rfc3339()), started.system())
    }

    /// Write `summary.json`, then every file derived from it.
    pub fn write(&self, report: &RunReport) -> anyhow::Result<()> {
        let summary = self.path.join(SUMMARY);
        std::fs::write(&summary, json::Json.render(report)?)
            .with_context(|| format!("writing {}", summary.display()))?;
        self.write_derived(report)
    }

    /// Write every file derived from the summary, leaving `summary.json` as it is.
    pub fn write_derived(&self, report: &RunReport) -> anyhow::Result<()> {
        for (name, renderer) in derived_files() {
            let path = self.path.join(name);
            std::fs::write(&path, renderer.render(report)?).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

/// A summary, from a run folder or a summary.json anywhere (a baseline kept elsewhere).
pub fn read(path: &Path) -> anyhow::Result<RunReport> {
    let file = if path.is_dir() { path.join(SUMMARY) } else { path.to_path_buf() };
    json::read(&file)
}

/// The files of a run folder besides `summary.json`, each from one renderer.
pub fn derived_files() -> [(&'static str, &'static dyn Render); 6] {
    use crate::report::{csv, hlog, html};
    [
        ("stats.csv", &csv::Aggregate),
        ("timeseries.csv", &csv::TimeSeries),
        ("workers.csv", &csv::Workers),
        ("errors.csv", &csv::Errors),
        ("latency.hlog", &hlog::Hlog),
        ("report.html", &html::Html),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_run_by_its_start_and_never_reuses_a_folder() {
        let base = tempfile::tempdir().unwrap();
        let results = base.path().join("nested/results");
        let at = Timestamp::from_secs(1_764_000_000);
        let first = RunDir::create(&results, "smoke", at).unwrap();
        assert_eq!(first.id(), "20251124-160000-smoke");
        let second = RunDir::create(&results, "smoke", at).unwrap();
        assert_eq!(second.id(), "20251124-160000-smoke-2");
        assert!(first.path().is_dir() && second.path().is_dir());
        assert_eq!(RunDir::open(&first.path().join(SUMMARY)), first, "a summary.json opens its folder");
        assert_eq!(RunDir::open(first.path()), first);
    }

    #[test]
    fn a_results_path_that_cannot_be_a_folder_fails_at_once_and_says_which() {
        let base = tempfile::tempdir().unwrap();
        let file = base.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let e = RunDir::create(&file, "smoke", Timestamp::now()).unwrap_err();
        assert!(format!("{e:#}").contains("a-file"), "{e:#}");
        let e = read(&base.path().join("missing")).unwrap_err();
        assert!(format!("{e:#}").contains("missing"), "{e:#}");
    }
}

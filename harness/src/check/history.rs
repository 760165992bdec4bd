//! The history a run is compared with, from `--baseline` paths: run folders, bare
//! summary.json files, and results folders (the last runs of the same scenario there).

use std::path::{Path, PathBuf};

use crate::run_dir::{self, SUMMARY};
use crate::summary::RunReport;

/// What `--baseline` named that holds no run to compare with.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("--baseline {}: no run of scenario {scenario:?} in this results folder (other than the run checked)", path.display())]
    NoRuns { path: PathBuf, scenario: String },
    #[error("--baseline {}: neither a run folder, a summary.json nor a results folder", path.display())]
    NotFound { path: PathBuf },
    #[error("--history must be at least 1")]
    ZeroHistory,
    #[error("--baseline {}: {problem:#}", path.display())]
    Read { path: PathBuf, problem: anyhow::Error },
}

/// The runs to compare `current` (read from `current_path`) with, oldest first: each
/// run folder or summary.json in `paths`, and from each results folder the last `last`
/// runs of the same scenario (not `current` itself); then the last `last` of them all.
pub fn load(
    paths: &[PathBuf],
    current: &RunReport,
    current_path: &Path,
    last: usize,
) -> Result<Vec<RunReport>, HistoryError> {
    if last == 0 {
        return Err(HistoryError::ZeroHistory);
    }
    let mut runs = Vec::new();
    for path in paths {
        if path.is_file() || path.join(SUMMARY).is_file() {
            runs.push(read(path)?);
        } else if path.is_dir() {
            let found = from_results(path, current, current_path, last)?;
            if found.is_empty() {
                return Err(HistoryError::NoRuns { path: path.clone(), scenario: current.plan.name.clone() });
            }
            runs.extend(found);
        } else {
            return Err(HistoryError::NotFound { path: path.clone() });
        }
    }
    runs.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
    runs.dedup_by(|a, b| (a.started_at, &a.run_id) == (b.started_at, &b.run_id));
    let skip = runs.len().saturating_sub(last);
    Ok(runs.split_off(skip))
}

fn read(path: &Path) -> Result<RunReport, HistoryError> {
    run_dir::read(path).map_err(|problem| HistoryError::Read { path: path.to_path_buf(), problem })
}

/// The last `last` runs of `current`'s scenario in a results folder, newest first. Run
/// folders are named from their UTC start, so the names sort by time.
fn from_results(
    dir: &Path,
    current: &RunReport,
    current_path: &Path,
    last: usize,
) -> Result<Vec<RunReport>, HistoryError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| HistoryError::Read { path: dir.to_path_buf(), problem: anyhow::Error::new(e) })?;
    let mut folders: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join(SUMMARY).is_file()).collect();
    folders.sort();
    let itself = std::fs::canonicalize(run_dir::RunDir::open(current_path).path()).ok();
    let mut found = Vec::new();
    for folder in folders.iter().rev() {
        if found.len() == last {
            break;
        }
        if itself.is_some() && std::fs::canonicalize(folder).ok() == itself {
            continue;
        }
        let run = read(folder)?;
        if run.plan.name == current.plan.name && run.run_id != current.run_id {
            found.push(run);
        }
    }
    Ok(found)
}

//! Our own runtime interface clients for Node.js and Python, embedded in the binary and
//! written under `log_dir/runtime/` when an endpoint starts. They need nothing beyond
//! node's and python3's standard libraries.

use std::path::{Path, PathBuf};

use super::RuntimeError;

/// The Node.js client (`_HANDLER` = `file.export`; CommonJS or ES modules).
pub const NODE: &str = include_str!("../../../runtimes/node/bootstrap.js");
/// The Python client (`_HANDLER` = `module.function`).
pub const PYTHON: &str = include_str!("../../../runtimes/python/bootstrap.py");
pub const NODE_FILE: &str = "bootstrap.js";
pub const PYTHON_FILE: &str = "bootstrap.py";

/// Where the clients are written: `log_dir/runtime`.
pub fn dir(log_dir: &Path) -> PathBuf {
    log_dir.join("runtime")
}

/// Create `log_dir` and write both clients into `dir(log_dir)`.
pub fn write(log_dir: &Path) -> Result<PathBuf, RuntimeError> {
    let dir = dir(log_dir);
    std::fs::create_dir_all(&dir).map_err(|source| RuntimeError::Write { path: dir.clone(), source })?;
    for (name, text) in [(NODE_FILE, NODE), (PYTHON_FILE, PYTHON)] {
        // Written aside then renamed: an environment of another endpoint sharing the
        // directory never reads half a file.
        let path = dir.join(name);
        let aside = dir.join(format!(".{name}.{:016x}", rand::random::<u64>()));
        std::fs::write(&aside, text).map_err(|source| RuntimeError::Write { path: aside.clone(), source })?;
        std::fs::rename(&aside, &path).map_err(|source| RuntimeError::Write { path, source })?;
    }
    Ok(dir)
}

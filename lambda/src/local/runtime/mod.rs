//! Execution environments that are OS processes, as AWS runs them: each polls a Lambda
//! Runtime API of its own (`AWS_LAMBDA_RUNTIME_API`), so the local endpoint hosts any
//! function: a Node.js or Python handler through our own small runtime interface
//! clients, or any `provided.al2023` `bootstrap` executable (such as `transfer-lambda`).

pub mod api;
pub mod bootstrap;
pub mod environment;
pub mod launcher;
pub mod process;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use environment::{InitFailure, ProcessEnvironment};
pub use launcher::{LaunchConfig, Launcher};

/// How to start one environment's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The function's directory: the process's working directory and `LAMBDA_TASK_ROOT`.
    pub cwd: PathBuf,
    /// The function's own environment variables; they win over the ones Lambda sets.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// `_HANDLER`, e.g. `index.handler` or `app.lambda_handler`.
    #[serde(default)]
    pub handler: Option<String>,
    /// Where `env-<n>.log` (each environment's stdout and stderr) and the embedded
    /// runtime interface clients (`runtime/bootstrap.js`, `runtime/bootstrap.py`) go.
    pub log_dir: PathBuf,
}

/// A function the local endpoint cannot host as given.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("unknown runtime {0:?}: expected nodejs* (e.g. nodejs22.x), python3* (e.g. python3.12) or provided* (provided.al2023)")]
    UnknownRuntime(String),
    #[error("runtime {0} needs a handler (e.g. index.handler for Node.js, app.lambda_handler for Python)")]
    MissingHandler(String),
    #[error("the function's command is empty")]
    EmptyCommand,
    #[error("the function's directory {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot resolve the path {path}: {source}")]
    Path { path: PathBuf, source: std::io::Error },
}

impl ProcessSpec {
    /// The command Lambda would run for `runtime`: `node <bootstrap.js>` for `nodejs*`,
    /// `python3 <bootstrap.py>` for `python3*` (our interface clients, written under
    /// `log_dir/runtime/` when the endpoint starts), `<cwd>/bootstrap` for `provided*`.
    /// Relative paths are made absolute against the current directory.
    pub fn for_runtime(
        runtime: &str,
        handler: &str,
        cwd: impl Into<PathBuf>,
        env: Vec<(String, String)>,
        log_dir: impl Into<PathBuf>,
    ) -> Result<ProcessSpec, RuntimeError> {
        let cwd = absolute(cwd.into())?;
        let log_dir = absolute(log_dir.into())?;
        let clients = bootstrap::dir(&log_dir);
        let command = if runtime.starts_with("nodejs") {
            vec!["node".to_string(), path_text(&clients.join(bootstrap::NODE_FILE))]
        } else if runtime.starts_with("python3") {
            vec!["python3".to_string(), path_text(&clients.join(bootstrap::PYTHON_FILE))]
        } else if runtime.starts_with("provided") {
            vec![path_text(&cwd.join("bootstrap"))]
        } else {
            return Err(RuntimeError::UnknownRuntime(runtime.to_string()));
        };
        let managed = !runtime.starts_with("provided");
        if managed && handler.trim().is_empty() {
            return Err(RuntimeError::MissingHandler(runtime.to_string()));
        }
        let mut vars = Vec::with_capacity(env.len() + 1);
        if managed {
            vars.push(("AWS_EXECUTION_ENV".to_string(), format!("AWS_Lambda_{runtime}")));
        }
        vars.extend(env);
        let handler = (!handler.is_empty()).then(|| handler.to_string());
        Ok(ProcessSpec { command, cwd, env: vars, handler, log_dir })
    }
}

fn absolute(path: PathBuf) -> Result<PathBuf, RuntimeError> {
    std::path::absolute(&path).map_err(|source| RuntimeError::Path { path, source })
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_for_known_runtimes() {
        let node = ProcessSpec::for_runtime("nodejs22.x", "index.handler", "/fn", vec![], "/logs").unwrap();
        assert_eq!(node.command, ["node", "/logs/runtime/bootstrap.js"]);
        assert_eq!(node.env, [("AWS_EXECUTION_ENV".to_string(), "AWS_Lambda_nodejs22.x".to_string())]);
        assert_eq!(node.handler.as_deref(), Some("index.handler"));
        let py = ProcessSpec::for_runtime("python3.12", "app.handler", "/fn", vec![], "/logs").unwrap();
        assert_eq!(py.command, ["python3", "/logs/runtime/bootstrap.py"]);
        let provided = ProcessSpec::for_runtime("provided.al2023", "", "/fn", vec![], "/logs").unwrap();
        assert_eq!(
            (provided.command, provided.handler, provided.env),
            (vec!["/fn/bootstrap".to_string()], None, vec![])
        );
        assert!(matches!(
            ProcessSpec::for_runtime("java21", "a::b", "/fn", vec![], "/l"),
            Err(RuntimeError::UnknownRuntime(r)) if r == "java21"
        ));
        assert!(matches!(
            ProcessSpec::for_runtime("nodejs20.x", "", "/fn", vec![], "/l"),
            Err(RuntimeError::MissingHandler(_))
        ));
        let json = serde_json::to_string(&node).unwrap();
        assert_eq!(serde_json::from_str::<ProcessSpec>(&json).unwrap(), node);
    }
}

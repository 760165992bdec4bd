//! Starting environments of one function: a Runtime API, then the process with the
//! variables Lambda gives it, until its first `GET next` (the cold start).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::api::RuntimeApi;
use super::environment::{InitFailure, ProcessEnvironment};
use super::process::{self, Groups, Launch};
use super::{bootstrap, ProcessSpec, RuntimeError};

/// AWS's own limit on the init phase; a slower start gets the function timeout on top,
/// as Lambda retries the init within the first invocation.
pub const INIT_LIMIT: Duration = Duration::from_secs(10);
const DEFAULT_REGION: &str = "us-east-1";
/// Variables of the endpoint's own environment a runtime needs to be found and run.
const PASSED_THROUGH: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_ROOT", "PYENV_VERSION"];

/// What the endpoint tells every environment about the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchConfig {
    pub function_name: String,
    pub function_arn: String,
    pub memory_size_mb: u64,
    /// The function timeout: the init may take [`INIT_LIMIT`] plus this.
    pub timeout: Duration,
}

/// Starts the environments of one function.
pub struct Launcher {
    spec: ProcessSpec,
    config: LaunchConfig,
    /// Environments created so far (numbers their log files).
    created: AtomicU64,
    groups: Arc<Groups>,
}

impl Launcher {
    /// Check the spec and write the runtime interface clients under its `log_dir`.
    pub fn new(spec: ProcessSpec, config: LaunchConfig) -> Result<Launcher, RuntimeError> {
        if spec.command.is_empty() {
            return Err(RuntimeError::EmptyCommand);
        }
        if !spec.cwd.is_dir() {
            return Err(RuntimeError::NotADirectory(spec.cwd.clone()));
        }
        bootstrap::write(&spec.log_dir)?;
        Ok(Launcher { spec, config, created: AtomicU64::new(0), groups: Groups::new() })
    }

    pub fn spec(&self) -> &ProcessSpec {
        &self.spec
    }

    /// `log_dir/env-<n>.log`, n counting environments from 1.
    pub fn log_path(&self, n: u64) -> PathBuf {
        self.spec.log_dir.join(format!("env-{n}.log"))
    }

    /// A new environment, ready for its first event: its Runtime API, its process, and
    /// its init (until its first `GET next`).
    pub async fn start(&self) -> Result<ProcessEnvironment, InitFailure> {
        if self.groups.is_closed() {
            return Err(InitFailure::Spawn("the endpoint is stopping".to_string()));
        }
        let n = self.created.fetch_add(1, Ordering::Relaxed) + 1;
        let api = RuntimeApi::start(self.config.function_arn.clone())
            .await
            .map_err(|e| InitFailure::Spawn(format!("cannot start the Runtime API: {e}")))?;
        let launch = Launch {
            command: &self.spec.command,
            cwd: &self.spec.cwd,
            env: self.variables(&api.addr.to_string()),
            log: self.log_path(n),
        };
        let child = process::spawn(launch, &self.groups).map_err(|e| InitFailure::Spawn(e.to_string()))?;
        ProcessEnvironment::init(api, child, INIT_LIMIT + self.config.timeout).await
    }

    /// Kill every environment's process, lent or idle, and start no more.
    pub fn close(&self) {
        self.groups.close();
    }

    /// The variables Lambda sets, then the function's own (which win).
    fn variables(&self, runtime_api: &str) -> Vec<(String, String)> {
        let spec = &self.spec;
        let config = &self.config;
        let mut vars: Vec<(String, String)> =
            PASSED_THROUGH.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))).collect();
        let region = spec
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "AWS_REGION" || k == "AWS_DEFAULT_REGION")
            .map_or(DEFAULT_REGION, |(_, v)| v.as_str());
        let task_root = spec.cwd.to_string_lossy().into_owned();
        let runtime_dir = bootstrap::dir(&spec.log_dir).to_string_lossy().into_owned();
        let set = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
            ("LAMBDA_TASK_ROOT", task_root),
            ("LAMBDA_RUNTIME_DIR", runtime_dir),
            ("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", config.memory_size_mb.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", config.function_name)),
            ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
            ("AWS_REGION", region.to_string()),
            ("AWS_DEFAULT_REGION", region.to_string()),
            ("TZ", ":UTC".to_string()),
            // Lambda has no user site: a package there would be found here only.
            ("PYTHONNOUSERSITE", "1".to_string()),
        ];
        vars.extend(set.into_iter().map(|(k, v)| (k.to_string(), v)));
        if let Some(handler) = &spec.handler {
            vars.push(("_HANDLER".to_string(), handler.clone()));
        }
        vars.extend(spec.env.iter().cloned());
        vars
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        self.close();
    }
}

/// `2026/12/07/[$LATEST]<32 hex>`, as Lambda names an environment's log stream.
fn log_stream_name() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = crate::civil::civil_from_days((secs / 86_400) as i64);
    let id: u128 = rand::random();
    format!("{y:04}/{m:02}/{d:02}/[$LATEST]{id:032x}")
}

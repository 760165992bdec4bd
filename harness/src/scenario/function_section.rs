//! `[local.function]`: the user's own function, hosted by the local endpoint through
//! the Lambda Runtime API, one process per execution environment, as AWS runs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::raw::RawFunction;
use super::{ScenarioError, Source};

/// The port a hosted function finds the database on (DSQL's), unless told otherwise.
pub const DSQL_PORT: u16 = 5432;

/// A function the local endpoint runs as processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostedFunction {
    /// A runtime the harness has an interface client for (`nodejs20.x`, `python3.12`,
    /// `provided.al2023`), with `handler`; or `command` instead.
    pub runtime: Option<String>,
    pub handler: Option<String>,
    /// Any command that speaks the Runtime API (`AWS_LAMBDA_RUNTIME_API`).
    pub command: Option<Vec<String>>,
    /// The code's directory (`LAMBDA_TASK_ROOT`), absolute.
    pub code: PathBuf,
    /// More environment variables for the function.
    pub env: BTreeMap<String, String>,
    /// The port the database listens on, on a loopback address of the stack's own.
    pub database_port: u16,
}

/// Runtimes with an interface client here, by prefix.
const RUNTIMES: [&str; 3] = ["nodejs", "python3", "provided"];

/// Variables the endpoint sets itself for every environment.
const RESERVED: [&str; 4] = ["AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_NAME"];

pub(super) fn function(src: &Source, raw: &Option<RawFunction>) -> Result<Option<HostedFunction>, ScenarioError> {
    let Some(raw) = raw else { return Ok(None) };
    let here = Path::new(src.path).parent().unwrap_or(Path::new("."));
    let (runtime, handler, command) =
        (src.f(raw.runtime.clone()), src.f(raw.handler.clone()), src.f(raw.command.clone()));
    match (&runtime, &command) {
        (Some(r), Some(_)) => {
            return Err(src.err(&r.at, "local.function: give `runtime` (with `handler`) or `command`, not both"))
        }
        (None, None) => return Err(src.err(
            src.path,
            "local.function needs `runtime` (e.g. \"nodejs20.x\", \"python3.12\", \"provided.al2023\") or `command`",
        )),
        (Some(r), None) if !RUNTIMES.iter().any(|p| r.v.starts_with(p)) => {
            return Err(src.err(
                &r.at,
                format!("local.function.runtime {:?} is not a nodejs*, python3* or provided* runtime", r.v),
            ))
        }
        (Some(r), None) if handler.is_none() && !r.v.starts_with("provided") => {
            return Err(
                src.err(&r.at, format!("local.function.runtime {:?} needs `handler` (e.g. \"index.handler\")", r.v))
            )
        }
        (None, Some(c)) if c.v.is_empty() || c.v[0].is_empty() => {
            return Err(src.err(&c.at, "local.function.command must name a program"))
        }
        _ => {}
    }
    let code = match src.f(raw.code.clone()) {
        None => here.to_path_buf(),
        Some(f) => {
            let dir = here.join(&f.v);
            if !dir.is_dir() {
                return Err(src.err(f.at, format!("local.function.code: {} is not a directory", dir.display())));
            }
            dir
        }
    };
    let code = std::path::absolute(&code).unwrap_or(code);
    let mut env = BTreeMap::new();
    for (key, value) in raw.env.iter().flatten() {
        let f = src.f(Some(value.clone())).expect("given");
        let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || RESERVED.contains(&key.as_str()) {
            let why = if valid { "is set by the endpoint itself" } else { "is not a variable name" };
            return Err(src.err(f.at, format!("local.function.env: {key:?} {why}")));
        }
        env.insert(key.clone(), f.v);
    }
    let database_port = match src.f(raw.database_port.clone()) {
        None => DSQL_PORT,
        Some(f) if (1..=65_535).contains(&f.v) => f.v as u16,
        Some(f) => return Err(src.err(f.at, format!("local.function.database_port must be 1 to 65535, got {}", f.v))),
    };
    Ok(Some(HostedFunction {
        runtime: runtime.map(|f| f.v),
        handler: handler.map(|f| f.v),
        command: command.map(|f| f.v),
        code,
        env,
        database_port,
    }))
}

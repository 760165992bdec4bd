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

#[cfg(test)]
mod tests {
    use super::super::{parse, Overrides};

    const LOAD: &str = "[load]\nmodel = \"closed\"\nin_flight = 1\ncalls = 1\n";

    fn hosted(text: &str) -> Result<Option<super::HostedFunction>, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("code")).unwrap();
        let path = dir.path().join("s.toml");
        let path = path.to_str().unwrap();
        let text = format!("{text}\n{LOAD}");
        parse(path, &text, &Overrides::default())
            .map(|p| p.local.function)
            .map_err(|e| e.to_string().replace(path, "s.toml"))
    }

    #[test]
    fn a_runtime_and_handler_or_a_command_with_the_code_beside_the_scenario() {
        let f = hosted("[local.function]\nruntime = \"python3.12\"\nhandler = \"app.handler\"\ncode = \"code\"\n")
            .unwrap()
            .unwrap();
        assert_eq!((f.runtime.as_deref(), f.handler.as_deref()), (Some("python3.12"), Some("app.handler")));
        assert!(f.code.is_absolute() && f.code.ends_with("code"), "{f:?}");
        assert_eq!(f.database_port, 5432);
        let f =
            hosted("[local.function]\ncommand = [\"./run\", \"-x\"]\nenv = { A_B = \"1\" }\ndatabase_port = 6543\n")
                .unwrap()
                .unwrap();
        assert_eq!(
            (f.command.unwrap(), f.env["A_B"].as_str(), f.database_port),
            (vec!["./run".into(), "-x".into()], "1", 6543)
        );
        assert_eq!(hosted("").unwrap(), None, "no section: the built-in function");
    }

    #[test]
    fn what_cannot_be_hosted_is_refused_where_it_is_written() {
        let e = hosted("[local.function]\nruntime = \"java21\"\nhandler = \"a.B\"\n").unwrap_err();
        assert_eq!(e, "s.toml:2:11: local.function.runtime \"java21\" is not a nodejs*, python3* or provided* runtime");
        let e = hosted("[local.function]\nruntime = \"nodejs20.x\"\n").unwrap_err();
        assert!(e.starts_with("s.toml:2:11: local.function.runtime \"nodejs20.x\" needs `handler`"), "{e}");
        let e =
            hosted("[local.function]\nruntime = \"nodejs20.x\"\nhandler = \"i.h\"\ncommand = [\"x\"]\n").unwrap_err();
        assert!(e.contains("give `runtime` (with `handler`) or `command`, not both"), "{e}");
        let e = hosted("[local.function]\ncommand = [\"x\"]\ncode = \"missing\"\n").unwrap_err();
        assert!(e.starts_with("s.toml:3:8: local.function.code: ") && e.ends_with("is not a directory"), "{e}");
        let e = hosted("[local.function]\ncommand = [\"x\"]\nenv = { AWS_LAMBDA_RUNTIME_API = \"h\" }\n").unwrap_err();
        assert!(e.contains("\"AWS_LAMBDA_RUNTIME_API\" is set by the endpoint itself"), "{e}");
        let e =
            hosted("[target]\nkind = \"aws\"\nfunction = \"f\"\n[local.function]\ncommand = [\"x\"]\n").unwrap_err();
        assert!(e.ends_with("[local.function] is hosted by the local stack only; target.kind is \"aws\""), "{e}");
    }
}

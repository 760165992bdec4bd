//! The user's function on the local stack (`[local.function]`): the process spec the
//! local endpoint runs for each execution environment, with the environment a function
//! deployed against DSQL expects: the cluster's endpoint, a region, credentials any
//! signer accepts offline, and the stack's CA to trust.

use std::path::Path;

use anyhow::Context;
use transfer::local::dsql::access::{Access, FUNCTION_KEY, LOCAL_SECRET};
use transfer::local::runtime::ProcessSpec;

use crate::scenario::HostedFunction;

/// How the function reaches the database.
pub enum Reach<'a> {
    /// Through the local DSQL front, as the application role.
    Dsql(&'a Access),
    /// Plain PostgreSQL at this URL.
    Postgres(&'a str),
}

/// The variables the stack gives the function, before its own `env`.
pub fn database_env(reach: Reach) -> Vec<(String, String)> {
    // AWS_REGION and AWS_DEFAULT_REGION are the endpoint's to set (the local stack's
    // region, us-east-1, unless the function's own `env` names another).
    let mut env: Vec<(&str, String)> =
        vec![("AWS_ACCESS_KEY_ID", FUNCTION_KEY.into()), ("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET.into())];
    match reach {
        Reach::Dsql(a) => {
            let ca = a.ca.display().to_string();
            env.extend([
                ("CLUSTER_ENDPOINT", a.host.clone()),
                ("DSQL_ENDPOINT", a.host.clone()),
                ("PGHOST", a.host.clone()),
                ("PGPORT", a.port.to_string()),
                ("PGUSER", a.user.clone()),
                ("PGDATABASE", "postgres".into()),
                ("PGSSLMODE", "verify-full".into()),
                ("PGSSLROOTCERT", ca.clone()),
                ("NODE_EXTRA_CA_CERTS", ca.clone()),
                ("HARNESS_CA_FILE", ca),
            ]);
        }
        Reach::Postgres(url) => env.push(("DATABASE_URL", url.to_string())),
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The spec of the function's processes: its runtime's interface client (or its own
/// command), the stack's variables, then the scenario's, output under `logs`.
pub fn process_spec(function: &HostedFunction, reach: Reach, logs: &Path) -> anyhow::Result<ProcessSpec> {
    std::fs::create_dir_all(logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut env = database_env(reach);
    env.extend(function.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let handler = function.handler.clone().unwrap_or_default();
    match (&function.runtime, &function.command) {
        (Some(runtime), _) => ProcessSpec::for_runtime(runtime, &handler, &function.code, env, logs)
            .with_context(|| format!("local.function: runtime {runtime}")),
        (None, Some(command)) => Ok(ProcessSpec {
            command: command.clone(),
            cwd: function.code.clone(),
            env,
            handler: function.handler.clone(),
            log_dir: logs.to_path_buf(),
        }),
        (None, None) => anyhow::bail!("local.function has neither a runtime nor a command"),
    }
}

//! Scenarios: a TOML file (documented in scenarios/README.md) plus command-line
//! overrides, validated into one `Plan`. Unknown keys, wrong types and impossible values
//! are refused before anything runs, naming the file, line and column (or the flag) and
//! what is allowed.

mod call_section;
mod cost_section;
mod data_section;
mod function_section;
mod load_section;
mod local_section;
mod raw;
mod response_section;
mod target_section;
mod thresholds;
mod verify_section;
mod workers_section;
mod workload_section;

pub use call_section::{answered_by_target, functions};
pub use data_section::{DataPlan, LoadSpec, SqlFile};
pub use thresholds::{Expected, LatencyOf, Thresholds};
pub use workers_section::{resolve as resolve_workers, FleetSpec, OnLost, WorkerSet};

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use workers::invoker::InvokeClient;
use workers::target::AwsAccess;
use workers::{Accounts, EnginePlan, LoadModel, Op, Stage, Workload};

pub use function_section::HostedFunction;
use local_section::local;
pub use local_section::{LocalDb, LocalSpec};
use raw::{DurationValue, RawScenario};

/// Where the function runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetSpec {
    /// The local stack: PostgreSQL (throwaway unless `database_url`) and the local
    /// Lambda endpoint, called through aws-sdk-lambda.
    Local { function: String, database_url: Option<String> },
    /// AWS Lambda, region and credentials from the usual AWS configuration, and the
    /// Invoke API at `endpoint_url` when given (an emulator or a VPC endpoint).
    Aws {
        function: String,
        #[serde(flatten)]
        access: AwsAccess,
        /// The DSQL cluster's identifier (`target.cluster_id`), for its CloudWatch
        /// metrics: the server-side view and the database's cost.
        #[serde(default)]
        cluster_id: Option<String>,
        /// The cluster's endpoint (`target.cluster_endpoint`, host or host:port) that
        /// `[[verify]]` runs against instead of the one `cluster_id` names: a cluster
        /// behind another name, or a local DSQL front standing in for one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cluster_endpoint: Option<String>,
    },
    /// The function called in-process against the database (no invoke path).
    InProcess { database_url: Option<String> },
    /// Any Lambda Invoke API endpoint already running (SAM local, LocalStack,
    /// `cargo lambda watch`, a test's scripted endpoint), with placeholder credentials;
    /// nothing is started and the data is not verified.
    Endpoint { url: String, function: String },
}

impl TargetSpec {
    /// The kind as the scenario names it (`target.kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            TargetSpec::Local { .. } => "local",
            TargetSpec::Aws { .. } => "aws",
            TargetSpec::InProcess { .. } => "in-process",
            TargetSpec::Endpoint { .. } => "endpoint",
        }
    }
}

/// The data set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    pub accounts: i32,
    pub initial_balance: i32,
}

/// A validated scenario: everything a run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub target: TargetSpec,
    pub data: DataSpec,
    pub local: LocalSpec,
    pub engine: EnginePlan,
    /// What `harness check` gates on; absent in summaries written before it existed.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Several workers instead of this process alone.
    #[serde(default)]
    pub workers: Option<FleetSpec>,
    /// A run cut short by `limits.max_duration` still exits 0 (`limits.allow_incomplete`).
    #[serde(default)]
    pub allow_incomplete: bool,
    /// Which client calls the Invoke API (`target.client`): the lean one (the default)
    /// or aws-sdk-lambda; summaries written before the field existed used the SDK.
    #[serde(default = "InvokeClient::legacy")]
    pub client: InvokeClient,
    /// Ask Lambda for each call's log tail and read its REPORT line (`target.log_tail`,
    /// on by default); summaries written before the field existed did not.
    #[serde(default)]
    pub log_tail: bool,
    /// `[cost]`: the prices the run's cost is computed with.
    #[serde(default)]
    pub cost: crate::prices::CostSpec,
    /// `[data]`'s own schema, rows and values, when the scenario brings them.
    #[serde(default)]
    pub data_setup: DataPlan,
    /// `[[verify]]`: the invariants checked after the run (none: the built-in list).
    #[serde(default)]
    pub verify: Vec<crate::invariants::Invariant>,
}

/// Command-line values that replace the scenario's: the only definition of these flags
/// (`harness run` flattens it into its arguments), each validated like the file's value
/// and named in errors by its flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Where the function runs (scenario: target.kind).
    #[arg(long, env = "HARNESS_TARGET", value_parser = ["local", "aws", "in-process", "endpoint"])]
    pub target: Option<String>,
    /// Function name or ARN (target.function).
    #[arg(long, env = "HARNESS_FUNCTION")]
    pub function: Option<String>,
    /// The Invoke API client: the lean one (default) or aws-sdk-lambda (target.client).
    #[arg(long, env = "HARNESS_CLIENT", value_parser = ["sdk", "lean"])]
    pub client: Option<String>,
    /// Skew payers and payees towards the lowest account ids by this Zipf exponent; 0
    /// draws them uniformly (workload.accounts and workload.zipf_exponent).
    #[arg(long, env = "HARNESS_ZIPF_EXPONENT")]
    pub zipf_exponent: Option<f64>,
    /// Ask Lambda for each call's log tail and read its REPORT line: billed and init
    /// duration, memory used, cold starts (target.log_tail; default on).
    #[arg(long, env = "HARNESS_LOG_TAIL", value_parser = ["on", "off"])]
    pub log_tail: Option<String>,
    /// An Invoke API endpoint: for target `endpoint` (target.url), or instead of AWS
    /// Lambda's regional endpoint for target `aws` (target.endpoint_url).
    #[arg(long, env = "HARNESS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Use this PostgreSQL instead of a throwaway one (target.database_url).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Number of accounts (data.accounts).
    #[arg(long)]
    pub accounts: Option<i64>,
    /// Calls per batch (load.parallel, model "batches").
    #[arg(long)]
    pub parallel: Option<i64>,
    /// Number of batches (load.batches).
    #[arg(long)]
    pub batches: Option<i64>,
    /// Calls kept in flight (load.in_flight, model "closed").
    #[arg(long)]
    pub in_flight: Option<i64>,
    /// Calls to make (load.calls, model "closed").
    #[arg(long)]
    pub calls: Option<i64>,
    /// Run length, e.g. 30s or 5m (load.duration; 1ms to 7 days).
    #[arg(long)]
    pub duration: Option<String>,
    /// Arrival rate in calls/s (load.rate, model "open").
    #[arg(long)]
    pub rate: Option<f64>,
    /// The function's OCC retry policy: `unlimited`, `none`, or `backoff:MAX[:BASE_MS[:CAP_MS]]` (local.retry_policy).
    #[arg(long)]
    pub retry_policy: Option<String>,
    /// Execution environments of the local endpoint (local.environments).
    #[arg(long)]
    pub environments: Option<i64>,
    /// Beyond them: queue the call, or answer 429 as Lambda does (local.overflow).
    #[arg(long, value_parser = ["queue", "throttle"])]
    pub overflow: Option<String>,
    /// Seed for the payload sampler (seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run the load from N local worker processes (workers.count).
    #[arg(long)]
    pub workers: Option<i64>,
    /// A worker daemon's HOST:PORT; repeat for each (workers.addresses).
    #[arg(long = "worker")]
    pub worker_addresses: Vec<String>,
    /// Every worker daemon a DNS name resolves to when the run starts, e.g. a
    /// Kubernetes headless Service: NAME:PORT (workers.dns).
    #[arg(long = "worker-dns", env = "HARNESS_WORKER_DNS")]
    pub worker_dns: Option<String>,
    /// The InService workers of a fleet stack (`harness fleet up`), found through
    /// CloudFormation, Auto Scaling and EC2; its secret from SSM unless given (workers.fleet).
    #[arg(long = "fleet", env = "HARNESS_FLEET")]
    pub fleet: Option<String>,
}

/// A scenario error: where, and what.
#[derive(Debug, thiserror::Error)]
#[error("{at}: {message}")]
pub struct ScenarioError {
    pub at: String,
    pub message: String,
}

/// A value and where it came from (`file:line:col`, or the flag).
#[derive(Debug, Clone)]
struct F<T> {
    v: T,
    at: String,
}

struct Source<'a> {
    path: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn at(&self, offset: usize) -> String {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{col}", self.path)
    }

    fn f<T>(&self, s: Option<Spanned<T>>) -> Option<F<T>> {
        s.map(|s| {
            let at = self.at(s.span().start);
            F { v: s.into_inner(), at }
        })
    }

    fn err(&self, at: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError { at: at.into(), message: message.into() }
    }
}

fn flag<T>(slot: &mut Option<F<T>>, value: Option<T>, name: &str) {
    if let Some(v) = value {
        *slot = Some(F { v, at: name.to_string() });
    }
}

/// Read and validate a scenario file with overrides.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan, ScenarioError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError { at: shown.clone(), message: format!("cannot read the scenario: {e}") })?;
    parse(&shown, &text, overrides)
}

/// Validate scenario text (`path` is only for messages).
pub fn parse(path: &str, text: &str, o: &Overrides) -> Result<Plan, ScenarioError> {
    let src = Source { path, text };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or_else(|| path.to_string(), |s| src.at(s.start));
        src.err(at, e.message().trim().to_string())
    })?;
    let name = raw.name.clone().unwrap_or_else(|| {
        Path::new(path).file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned())
    });
    let data = data(&src, &raw, o)?;
    let data_setup = data_section::parse(&src, &raw.data, data)?;
    let verify = verify_section::parse(&src, &raw.verify, &data_setup.values(data))?;
    let target = target_section::target(&src, &raw, o)?;
    let local = local(&src, &raw, o)?;
    if local.function.is_some() && !matches!(target, TargetSpec::Local { .. }) {
        let kind = target.kind();
        return Err(
            src.err(src.path, format!("[local.function] is hosted by the local stack only; target.kind is {kind:?}"))
        );
    }
    let (load, planned) = load_section::load_model(&src, &raw, o)?;
    let limits = &raw.limits;
    let secs = |v: Option<Spanned<DurationValue>>, key: &str, default: f64| -> Result<f64, ScenarioError> {
        match src.f(v) {
            None => Ok(default),
            Some(f) => f.v.seconds().map_err(|m| src.err(f.at, format!("limits.{key}: {m}"))),
        }
    };
    let default_max = planned.map_or(3_600.0, |p| (p * 2.0 + 60.0).clamp(3_600.0, workers::limits::MAX_SECONDS));
    let max_duration_s = secs(limits.max_duration.clone(), "max_duration", default_max)?;
    let call_timeout_s = secs(limits.call_timeout.clone(), "call_timeout", 60.0)?;
    // Calls in flight at the end get at least the call timeout to answer, so that a
    // hanging call ends as a timeout rather than being abandoned.
    let drain_timeout_s = secs(limits.drain_timeout.clone(), "drain_timeout", call_timeout_s.max(30.0))?;
    let mut seed = src.f(raw.seed.clone());
    flag(&mut seed, o.seed, "--seed");
    let response = response_section::response(&src, &raw.response)?;
    let (workload, kinds) = call_section::payloads(&src, (&raw, data, o), &load, &response, &target)?;
    let engine = EnginePlan {
        load,
        workload,
        seed: seed.map_or_else(rand::random, |s| s.v),
        response,
        kinds,
        call_timeout_s,
        max_duration_s,
        drain_timeout_s,
    };
    // A backstop: the same bounds a worker daemon checks, for anything derived above.
    workers::limits::validate(&engine).map_err(|m| src.err(src.path, m.to_string()))?;
    let thresholds = thresholds::parse(&src, &raw.thresholds)?;
    let workers = workers_section::parse(&src, raw.workers.clone(), o)?;
    if workers.is_some() && matches!(target, TargetSpec::InProcess { .. }) {
        return Err(src.err(
            src.path,
            "target.kind = \"in-process\" runs in this process only; use \"local\" or \"aws\" with [workers]",
        ));
    }
    if let Some((fleet, n)) = workers.as_ref().and_then(|f| Some((f, f.workers.len()?))) {
        workers::remote::split(&engine, n, fleet.partition_accounts).map_err(|m| src.err(&fleet.at, m.to_string()))?;
    }
    let allow_incomplete = limits.allow_incomplete.unwrap_or(false);
    Ok(Plan {
        name,
        description: raw.description.clone(),
        target,
        data,
        local,
        engine,
        thresholds,
        workers,
        allow_incomplete,
        client: target_section::invoke_client(&src, &raw, o)?,
        log_tail: o.log_tail.as_deref().map_or(raw.target.log_tail.unwrap_or(true), |f| f == "on"),
        cost: cost_section::cost(&src, &raw.cost)?,
        data_setup,
        verify,
    })
}

fn positive(src: &Source, f: &F<i64>, key: &str, max: i64) -> Result<i64, ScenarioError> {
    if f.v < 1 || f.v > max {
        return Err(src.err(&f.at, format!("{key} must be between 1 and {max}, got {}", f.v)));
    }
    Ok(f.v)
}

fn data(src: &Source, raw: &RawScenario, o: &Overrides) -> Result<DataSpec, ScenarioError> {
    let mut accounts = src.f(raw.data.accounts.clone());
    flag(&mut accounts, o.accounts, "--accounts");
    let accounts = match accounts {
        None => 1_000,
        Some(f) if f.v < 2 || f.v > i32::MAX as i64 => {
            return Err(src.err(f.at, format!("data.accounts must be between 2 and {}, got {}", i32::MAX, f.v)))
        }
        Some(f) => f.v as i32,
    };
    let initial_balance = match src.f(raw.data.initial_balance.clone()) {
        None => 100,
        Some(f) if f.v < 0 || f.v > 1_000_000_000 => {
            return Err(src.err(f.at, format!("data.initial_balance must be between 0 and 1000000000, got {}", f.v)))
        }
        Some(f) => f.v as i32,
    };
    Ok(DataSpec { accounts, initial_balance })
}

#[cfg(test)]
mod data_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod workload_tests;

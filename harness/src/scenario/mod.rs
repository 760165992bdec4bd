//! Scenarios: a TOML file (documented in scenarios/README.md) plus command-line
//! overrides, validated into one `Plan`. Unknown keys, wrong types and impossible values
//! are refused before anything runs, naming the file, line and column (or the flag) and
//! what is allowed.

mod cost_section;
mod local_section;
mod raw;
mod thresholds;
mod workers_section;

pub use thresholds::{LatencyOf, Thresholds};
pub use workers_section::{resolve as resolve_workers, FleetSpec, OnLost, WorkerSet};

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use workers::lean::InvokeClient;
use workers::target::AwsAccess;
use workers::{Accounts, EnginePlan, LoadModel, Op, Stage, Workload};

use local_section::local;
pub use local_section::LocalSpec;
use raw::{AmountValue, DurationValue, RawLoad, RawScenario};

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
    pub cost: crate::cost::CostSpec,
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
    let target = target(&src, &raw, o)?;
    let local = local(&src, &raw, o)?;
    let (load, planned) = load_model(&src, &raw, o)?;
    let workload = workload(&src, &raw, data, o)?;
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
    let engine = EnginePlan {
        load,
        workload,
        seed: seed.map_or_else(rand::random, |s| s.v),
        call_timeout_s,
        max_duration_s,
        drain_timeout_s,
    };
    // A backstop: the same bounds a worker daemon checks, for anything derived above.
    workers::limits::validate(&engine).map_err(|m| src.err(src.path, m))?;
    let thresholds = thresholds::parse(&src, &raw.thresholds)?;
    let workers = workers_section::parse(&src, raw.workers.clone(), o)?;
    if workers.is_some() && matches!(target, TargetSpec::InProcess { .. }) {
        return Err(src.err(
            src.path,
            "target.kind = \"in-process\" runs in this process only; use \"local\" or \"aws\" with [workers]",
        ));
    }
    if let Some((fleet, n)) = workers.as_ref().and_then(|f| Some((f, f.workers.len()?))) {
        workers::fleet::split(&engine, n, fleet.partition_accounts).map_err(|m| src.err(&fleet.at, m))?;
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
        client: invoke_client(&src, &raw, o)?,
        log_tail: o.log_tail.as_deref().map_or(raw.target.log_tail.unwrap_or(true), |f| f == "on"),
        cost: cost_section::cost(&src, &raw.cost)?,
    })
}

/// `target.client` (or `--client`): "lean" (the default) or "sdk".
fn invoke_client(src: &Source, raw: &RawScenario, o: &Overrides) -> Result<InvokeClient, ScenarioError> {
    let mut client = src.f(raw.target.client.clone());
    flag(&mut client, o.client.clone(), "--client");
    match client.as_ref().map(|c| c.v.as_str()) {
        None => Ok(InvokeClient::default()),
        Some("sdk") => Ok(InvokeClient::Sdk),
        Some("lean") => Ok(InvokeClient::Lean),
        Some(other) => {
            Err(src
                .err(&client.as_ref().unwrap().at, format!("target.client {other:?} is not one of \"sdk\", \"lean\"")))
        }
    }
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

fn target(src: &Source, raw: &RawScenario, o: &Overrides) -> Result<TargetSpec, ScenarioError> {
    let t = &raw.target;
    let mut kind = src.f(t.kind.clone());
    flag(&mut kind, o.target.clone(), "--target");
    let mut function = src.f(t.function.clone());
    flag(&mut function, o.function.clone(), "--function");
    let database_url = o.database_url.clone().or_else(|| t.database_url.clone());
    if let Some(f) = &function {
        function_name_ok(&f.v).map_err(|m| src.err(&f.at, format!("target.function: {m}")))?;
    }
    let function_name =
        function.clone().map_or_else(|| transfer::local::endpoint::DEFAULT_FUNCTION.to_string(), |f| f.v);
    match kind.as_ref().map(|k| k.v.as_str()) {
        None | Some("local") => Ok(TargetSpec::Local { function: function_name, database_url }),
        Some("in-process") => Ok(TargetSpec::InProcess { database_url }),
        Some("aws") => {
            if function.is_none() {
                let at = kind.map_or_else(|| src.path.to_string(), |k| k.at);
                return Err(src.err(at, "target.kind = \"aws\" needs target.function (a function name or ARN)"));
            }
            let mut endpoint_url = src.f(t.endpoint_url.clone());
            flag(&mut endpoint_url, o.endpoint_url.clone(), "--endpoint-url");
            if let Some(url) = &endpoint_url {
                http_url_ok(url.v.as_str()).map_err(|m| src.err(&url.at, format!("target.endpoint_url: {m}")))?;
            }
            let access = AwsAccess {
                region: t.region.clone(),
                profile: t.profile.clone(),
                endpoint_url: endpoint_url.map(|u| u.v),
            };
            Ok(TargetSpec::Aws { function: function_name, access, cluster_id: t.cluster_id.clone() })
        }
        Some("endpoint") => {
            let mut url = src.f(t.url.clone().or_else(|| t.endpoint_url.clone()));
            flag(&mut url, o.endpoint_url.clone(), "--endpoint-url");
            let Some(url) = url else {
                let at = kind.map_or_else(|| src.path.to_string(), |k| k.at);
                return Err(src.err(at, "target.kind = \"endpoint\" needs target.url, e.g. \"http://127.0.0.1:9000\""));
            };
            http_url_ok(&url.v).map_err(|m| src.err(&url.at, format!("target.url: {m}")))?;
            Ok(TargetSpec::Endpoint { url: url.v, function: function_name })
        }
        Some(other) => {
            let at = kind.as_ref().map(|k| k.at.clone()).unwrap_or_default();
            Err(src.err(
                at,
                format!("target.kind {other:?} is not one of \"local\", \"aws\", \"in-process\", \"endpoint\""),
            ))
        }
    }
}

/// An Invoke API endpoint URL: `http://` or `https://`, no white space.
fn http_url_ok(url: &str) -> Result<(), String> {
    if (url.starts_with("http://") || url.starts_with("https://")) && !url.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!("{url:?} is not an http:// or https:// URL"))
    }
}

/// A Lambda function name, partial ARN or ARN (with an optional qualifier), as the
/// Invoke API accepts them: 1 to 170 characters of letters, digits, `-_:.$`.
fn function_name_ok(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the function name is empty; give a name or ARN, e.g. \"reinvent-dat401\"".into());
    }
    if name.len() > 170 {
        return Err(format!("{} characters; a function name or ARN has at most 170", name.len()));
    }
    match name.chars().find(|c| !(c.is_ascii_alphanumeric() || "-_:.$".contains(*c))) {
        Some(c) => Err(format!("{name:?} has {c:?}; a function name or ARN has only letters, digits and -_:.$")),
        None => Ok(()),
    }
}

/// `workload.accounts` and `workload.zipf_exponent` as the file gives them.
fn file_accounts(
    src: &Source,
    accounts: Option<F<String>>,
    exponent: Option<F<f64>>,
) -> Result<Accounts, ScenarioError> {
    Ok(match (accounts, exponent) {
        (None, None) => Accounts::Uniform,
        (Some(f), None) if f.v == "uniform" => Accounts::Uniform,
        (Some(f), _) if f.v != "uniform" && f.v != "zipf" => {
            return Err(src.err(f.at, format!("workload.accounts {:?} is not one of \"uniform\", \"zipf\"", f.v)))
        }
        (Some(f), Some(_)) if f.v == "uniform" => {
            return Err(src.err(f.at, "workload.zipf_exponent needs workload.accounts = \"zipf\""))
        }
        (Some(f), None) => {
            return Err(src.err(f.at, "workload.accounts = \"zipf\" needs workload.zipf_exponent (e.g. 1.1)"))
        }
        (_, Some(e)) => {
            if !(e.v.is_finite() && e.v >= 0.0 && e.v <= 10.0) {
                return Err(src.err(e.at, format!("workload.zipf_exponent must be between 0 and 10, got {}", e.v)));
            }
            Accounts::Zipf { exponent: e.v }
        }
    })
}

/// The `[load]` keys as given (file or flag), each with its position.
struct LoadKeys {
    model: F<String>,
    parallel: Option<F<i64>>,
    batches: Option<F<i64>>,
    in_flight: Option<F<i64>>,
    calls: Option<F<i64>>,
    duration: Option<F<DurationValue>>,
    rate: Option<F<f64>>,
    stages: Option<F<Vec<Spanned<raw::RawStage>>>>,
    max_in_flight: Option<F<i64>>,
    start_rate: Option<F<f64>>,
    start_in_flight: Option<F<i64>>,
}

impl LoadKeys {
    fn read(src: &Source, section_at: &str, l: &RawLoad, o: &Overrides) -> LoadKeys {
        let mut k = LoadKeys {
            model: src.f(l.model.clone()).unwrap_or(F { v: String::new(), at: section_at.to_string() }),
            parallel: src.f(l.parallel.clone()),
            batches: src.f(l.batches.clone()),
            in_flight: src.f(l.in_flight.clone()),
            calls: src.f(l.calls.clone()),
            duration: src.f(l.duration.clone()),
            rate: src.f(l.rate.clone()),
            stages: src.f(l.stages.clone()),
            max_in_flight: src.f(l.max_in_flight.clone()),
            start_rate: src.f(l.start_rate.clone()),
            start_in_flight: src.f(l.start_in_flight.clone()),
        };
        flag(&mut k.parallel, o.parallel, "--parallel");
        flag(&mut k.batches, o.batches, "--batches");
        flag(&mut k.in_flight, o.in_flight, "--in-flight");
        flag(&mut k.calls, o.calls, "--calls");
        flag(&mut k.duration, o.duration.clone().map(DurationValue::Text), "--duration");
        flag(&mut k.rate, o.rate, "--rate");
        k
    }

    /// Keys that the chosen model does not use are refused, not silently ignored.
    fn unused(&self, src: &Source, keys: &[(&str, Option<&str>)]) -> Result<(), ScenarioError> {
        match keys.iter().find_map(|(k, at)| at.map(|a| (k, a))) {
            Some((k, at)) => Err(src.err(at, format!("load.{k} is not used by model {:?}", self.model.v))),
            None => Ok(()),
        }
    }

    /// A count the model needs, within 1..=max.
    fn need(&self, src: &Source, f: &Option<F<i64>>, key: &str, max: i64) -> Result<u64, ScenarioError> {
        match f {
            None => Err(src.err(&self.model.at, format!("model {:?} needs load.{key}", self.model.v))),
            Some(f) => Ok(positive(src, f, &format!("load.{key}"), max)? as u64),
        }
    }

    fn duration_s(&self, src: &Source) -> Result<Option<f64>, ScenarioError> {
        let d = self.duration.as_ref();
        d.map(|f| f.v.seconds().map_err(|m| src.err(&f.at, format!("load.duration: {m}")))).transpose()
    }
}

/// The load model and its planned duration in seconds, if it has one.
fn load_model(src: &Source, raw: &RawScenario, o: &Overrides) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    let Some(section) = raw.load.as_ref() else {
        return Err(src.err(src.path, "missing [load] section: set model = \"batches\", \"closed\" or \"open\""));
    };
    let k = LoadKeys::read(src, &src.at(section.span().start), section.get_ref(), o);
    match k.model.v.as_str() {
        "batches" => batches_model(src, k),
        "closed" => closed_model(src, k),
        "open" => open_model(src, k),
        "" => Err(src.err(&k.model.at, "[load] needs model = \"batches\", \"closed\" or \"open\"")),
        other => {
            Err(src.err(&k.model.at, format!("load.model {other:?} is not one of \"batches\", \"closed\", \"open\"")))
        }
    }
}

fn batches_model(src: &Source, k: LoadKeys) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    k.unused(
        src,
        &[
            ("in_flight", at(&k.in_flight)),
            ("calls", at(&k.calls)),
            ("duration", k.duration.as_ref().map(|f| f.at.as_str())),
            ("rate", k.rate.as_ref().map(|f| f.at.as_str())),
            ("stages", k.stages.as_ref().map(|f| f.at.as_str())),
            ("max_in_flight", at(&k.max_in_flight)),
            ("start_rate", k.start_rate.as_ref().map(|f| f.at.as_str())),
            ("start_in_flight", at(&k.start_in_flight)),
        ],
    )?;
    let max = workers::limits::MAX_PARALLEL as i64;
    let parallel = k.need(src, &k.parallel, "parallel", max)?;
    let batches = k.need(src, &k.batches, "batches", max)?;
    Ok((LoadModel::Batches { parallel, batches }, None))
}

fn closed_model(src: &Source, mut k: LoadKeys) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    k.unused(
        src,
        &[
            ("parallel", at(&k.parallel)),
            ("batches", at(&k.batches)),
            ("rate", k.rate.as_ref().map(|f| f.at.as_str())),
            ("max_in_flight", at(&k.max_in_flight)),
            ("start_rate", k.start_rate.as_ref().map(|f| f.at.as_str())),
        ],
    )?;
    if let Some(stages) = k.stages.take() {
        return closed_ramp(src, k, stages);
    }
    k.unused(src, &[("start_in_flight", at(&k.start_in_flight))])?;
    let in_flight = k.need(src, &k.in_flight, "in_flight", workers::limits::MAX_PARALLEL as i64)?;
    let duration_s = k.duration_s(src)?;
    let max_calls = workers::limits::MAX_CALLS as i64;
    let calls = k.calls.as_ref().map(|c| positive(src, c, "load.calls", max_calls).map(|v| v as u64)).transpose()?;
    if calls.is_none() && duration_s.is_none() {
        return Err(
            src.err(&k.model.at, "model \"closed\" needs load.calls, load.duration, or both (it stops at the first)")
        );
    }
    Ok((LoadModel::Closed { in_flight, calls, duration_s }, duration_s))
}

/// A ramping closed model: `stages = [{ target = N, duration = ".." }, ..]`, from
/// `start_in_flight` (default 0).
fn closed_ramp(
    src: &Source,
    k: LoadKeys,
    stages: F<Vec<Spanned<raw::RawStage>>>,
) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    let with_stages = "replaces it: a ramping closed model runs for its stages";
    for (key, given) in [("in_flight", at(&k.in_flight)), ("calls", at(&k.calls))] {
        if let Some(a) = given {
            return Err(
                src.err(a, format!("load.{key} is not used with load.stages: the stages' targets {with_stages}"))
            );
        }
    }
    if let Some(d) = &k.duration {
        return Err(
            src.err(&d.at, format!("load.duration is not used with load.stages: the stages' durations {with_stages}"))
        );
    }
    let max = workers::limits::MAX_PARALLEL as i64;
    let start = match &k.start_in_flight {
        None => 0,
        Some(f) if (0..=max).contains(&f.v) => f.v as u64,
        Some(f) => return Err(src.err(&f.at, format!("load.start_in_flight must be between 0 and {max}, got {}", f.v))),
    };
    if stages.v.is_empty() {
        return Err(src.err(stages.at, "load.stages is empty: give at least one {target, duration}"));
    }
    let mut levels = Vec::new();
    for st in stages.v {
        let at = src.at(st.span().start);
        let st = st.into_inner();
        if let Some(r) = &st.rate {
            return Err(
                src.err(src.at(r.span().start), "a closed model's stage takes target (calls in flight), not rate")
            );
        }
        let target = st.target.ok_or_else(|| src.err(&at, "each stage needs target (calls in flight) and duration"))?;
        let (t, t_at) = (*target.get_ref(), src.at(target.span().start));
        if !(t.fract() == 0.0 && (0.0..=max as f64).contains(&t)) {
            return Err(src.err(t_at, format!("stage target must be a whole number of calls from 0 to {max}, got {t}")));
        }
        let duration_s = st
            .duration
            .get_ref()
            .seconds()
            .map_err(|m| src.err(src.at(st.duration.span().start), format!("load.stages duration: {m}")))?;
        levels.push(workers::load::Level { target: t as u64, duration_ms: (duration_s * 1_000.0).round() as u64 });
    }
    let total = levels.iter().map(|l| l.duration_ms as f64 / 1_000.0).sum();
    let model = LoadModel::ClosedRamp { start, stages: levels };
    if model.max_in_flight() == 0 {
        return Err(src.err(&k.model.at, "load.stages never has a call in flight: give a target above 0"));
    }
    Ok((model, Some(total)))
}

fn open_model(src: &Source, k: LoadKeys) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    k.unused(
        src,
        &[
            ("parallel", at(&k.parallel)),
            ("batches", at(&k.batches)),
            ("in_flight", at(&k.in_flight)),
            ("calls", at(&k.calls)),
            ("start_in_flight", at(&k.start_in_flight)),
        ],
    )?;
    let max_in_flight = match &k.max_in_flight {
        None => 1_000,
        Some(f) => positive(src, f, "load.max_in_flight", workers::limits::MAX_PARALLEL as i64)? as u64,
    };
    let start_rate = k.start_rate.map(|f| (f.v, f.at));
    let stages = open_stages(src, &k.model, k.rate, k.duration, k.stages, start_rate)?;
    let total = stages.iter().map(|s| s.duration_s).sum();
    Ok((LoadModel::Open { stages, max_in_flight, slot: workers::load::Slot::WHOLE }, Some(total)))
}

fn at(f: &Option<F<i64>>) -> Option<&str> {
    f.as_ref().map(|f| f.at.as_str())
}

fn open_stages(
    src: &Source,
    model: &F<String>,
    rate: Option<F<f64>>,
    duration: Option<F<DurationValue>>,
    stages: Option<F<Vec<Spanned<raw::RawStage>>>>,
    start_rate: Option<(f64, String)>,
) -> Result<Vec<Stage>, ScenarioError> {
    let check_rate = |r: f64, at: &str| -> Result<f64, ScenarioError> {
        if r.is_finite() && r > 0.0 && r <= 1_000_000.0 {
            Ok(r)
        } else {
            Err(src.err(at, format!("rate must be > 0 and at most 1000000 calls/s, got {}", workers::limits::shown(r))))
        }
    };
    match (rate, duration, stages) {
        (Some(r), Some(d), None) => {
            if let Some((_, at)) = start_rate {
                return Err(src.err(at, "load.start_rate is only used with load.stages (a ramp's first target)"));
            }
            let rate = check_rate(r.v, &r.at)?;
            let duration_s = d.v.seconds().map_err(|m| src.err(&d.at, format!("load.duration: {m}")))?;
            Ok(vec![Stage { rate, duration_s, ramp_from: None }])
        }
        (None, None, Some(s)) if !s.v.is_empty() => {
            // A ramp starts where the stage before it ended (the first from start_rate, or 0).
            let mut previous = match start_rate {
                Some((r, at)) if !(r.is_finite() && (0.0..=1_000_000.0).contains(&r)) => {
                    return Err(src.err(at, format!("load.start_rate must be 0 to 1000000 calls/s, got {r}")))
                }
                Some((r, _)) => r,
                None => 0.0,
            };
            let mut out = Vec::new();
            for st in s.v {
                let at = src.at(st.span().start);
                let st = st.into_inner();
                let duration_s = st
                    .duration
                    .get_ref()
                    .seconds()
                    .map_err(|m| src.err(src.at(st.duration.span().start), format!("load.stages duration: {m}")))?;
                let stage = match (st.rate, st.target) {
                    (Some(r), None) => {
                        Stage { rate: check_rate(*r.get_ref(), &src.at(r.span().start))?, duration_s, ramp_from: None }
                    }
                    (None, Some(t)) => {
                        let (to, t_at) = (*t.get_ref(), src.at(t.span().start));
                        if !(to.is_finite() && (0.0..=1_000_000.0).contains(&to)) || to + previous <= 0.0 {
                            return Err(src.err(
                                t_at,
                                format!("stage target must be 0 to 1000000 calls/s, and a ramp from {previous} to {to} makes no calls"),
                            ));
                        }
                        Stage { rate: to, duration_s, ramp_from: Some(previous) }
                    }
                    _ => return Err(src.err(at, "each stage needs rate (constant) or target (ramp to), not both")),
                };
                previous = stage.rate;
                out.push(stage);
            }
            Ok(out)
        }
        (None, None, Some(s)) => Err(src.err(s.at, "load.stages is empty: give at least one {rate, duration}")),
        (_, _, Some(s)) => {
            Err(src.err(s.at, "load.stages replaces load.rate and load.duration: give one or the other"))
        }
        _ => Err(src.err(
            &model.at,
            "model \"open\" needs load.rate and load.duration, or load.stages = [{rate = .., duration = ..}, ..]",
        )),
    }
}

fn workload(src: &Source, raw: &RawScenario, data: DataSpec, o: &Overrides) -> Result<Workload, ScenarioError> {
    let w = &raw.workload;
    let op = match src.f(w.op.clone()) {
        None => Op::Transfer,
        Some(f) => match f.v.as_str() {
            "transfer" => Op::Transfer,
            "greeting" => Op::Greeting,
            "connectivity" => Op::Connectivity,
            other => {
                return Err(src.err(
                    f.at,
                    format!("workload.op {other:?} is not one of \"transfer\", \"greeting\", \"connectivity\""),
                ))
            }
        },
    };
    let exponent = src.f(w.zipf_exponent.clone());
    let accounts = match o.zipf_exponent {
        // The flag decides alone: 0 draws uniformly, more skews towards the lowest ids.
        Some(e) if e == 0.0 => Some(Accounts::Uniform),
        Some(e) if e.is_finite() && e > 0.0 && e <= 10.0 => Some(Accounts::Zipf { exponent: e }),
        Some(e) => return Err(src.err("--zipf-exponent", format!("must be between 0 and 10 (0: uniform), got {e}"))),
        None => None,
    };
    let accounts = match (accounts, src.f(w.accounts.clone()), exponent) {
        (Some(by_flag), ..) => by_flag,
        (None, a, e) => file_accounts(src, a, e)?,
    };
    let bound = |f: Option<F<i64>>, key: &str, default: i32| -> Result<(i32, String), ScenarioError> {
        match f {
            None => Ok((default, src.path.to_string())),
            Some(f) if f.v < 1 || f.v > data.accounts as i64 => Err(src.err(
                &f.at,
                format!(
                    "workload.{key} must be an existing account, 1 to {} (data.accounts), got {}",
                    data.accounts, f.v
                ),
            )),
            Some(f) => Ok((f.v as i32, f.at)),
        }
    };
    let (first, _) = bound(src.f(w.first_account.clone()), "first_account", 1)?;
    let (last, last_at) = bound(src.f(w.last_account.clone()), "last_account", data.accounts)?;
    if op == Op::Transfer && last <= first {
        return Err(src.err(
            last_at,
            format!("transfers need at least two accounts to draw from, but the payer range is {first}..={last}"),
        ));
    }
    let (amount_min, amount_max) = match src.f(w.amount.clone()) {
        None => (1, 1),
        Some(f) => {
            let (lo, hi) = match &f.v {
                AmountValue::One(a) => (*a, *a),
                AmountValue::Range(r) if r.len() == 2 => (r[0], r[1]),
                AmountValue::Range(_) => return Err(src.err(f.at, "workload.amount must be a number or [min, max]")),
            };
            if lo < 1 || hi < lo || hi > i32::MAX as i64 {
                return Err(src.err(f.at, format!("workload.amount must be >= 1 (and min <= max), got {lo}..={hi}")));
            }
            (lo as i32, hi as i32)
        }
    };
    Ok(Workload { op, first_account: first, last_account: last, accounts, amount_min, amount_max })
}

#[cfg(test)]
mod tests;

//! `[local]`: the local stack's knobs: the function's retry policy, and how the local
//! endpoint emulates Lambda (environments, overflow, timeout, memory size, cold-start
//! cost, idle reclaim, reserved concurrency).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use transfer::local::endpoint::{DEFAULT_IDLE_RECLAIM, DEFAULT_INIT_COST, DEFAULT_MEMORY_MB};
use transfer::local::environments::Lifecycle;
use transfer::local::{EndpointConfig, Overflow};
use transfer::RetryPolicy;

use super::function_section::{self, HostedFunction};
use super::raw::{DurationValue, RawScenario};
use super::{flag, positive, FleetSpec, Overrides, ScenarioError, Source, F};

/// What answers the local stack's SQL: DSQL's front before the PostgreSQL (the
/// default), or the PostgreSQL itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalDb {
    #[default]
    Dsql,
    Postgres,
}

impl std::str::FromStr for LocalDb {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dsql" => Ok(LocalDb::Dsql),
            "postgres" => Ok(LocalDb::Postgres),
            other => Err(format!("{other:?} is not one of \"dsql\", \"postgres\"")),
        }
    }
}

/// The local stack's knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalSpec {
    /// What answers SQL: DSQL's front before the PostgreSQL, or the PostgreSQL (absent
    /// in older summaries, whose runs were on plain PostgreSQL).
    #[serde(default = "plain_postgres")]
    pub database: LocalDb,
    /// Added by the DSQL front to every round trip during the load, seconds.
    #[serde(default)]
    pub dsql_latency_s: f64,
    /// Spent inside every invocation of the local function, seconds: a slowdown
    /// injected on purpose, e.g. to measure the regression gate (docs/gate.md).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub added_latency_s: f64,
    pub retry_policy: RetryPolicy,
    pub environments: usize,
    pub overflow: Overflow,
    pub function_timeout_s: f64,
    /// The memory size the endpoint's REPORT lines state, MB (and the cost is priced at).
    #[serde(default = "default_memory")]
    pub memory_size_mb: u64,
    /// Start-up cost of a cold start, seconds (absent in older summaries: none).
    #[serde(default)]
    pub init_cost_s: f64,
    /// An environment idle longer is reclaimed (none: never).
    #[serde(default)]
    pub idle_reclaim_s: Option<f64>,
    /// The function's reserved concurrency, when below `environments`.
    #[serde(default)]
    pub reserved_concurrency: Option<usize>,
    /// The user's own function (`[local.function]`); none: the built-in one.
    #[serde(default)]
    pub function: Option<HostedFunction>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn plain_postgres() -> LocalDb {
    LocalDb::Postgres
}

fn default_memory() -> u64 {
    DEFAULT_MEMORY_MB
}

impl LocalSpec {
    /// The local endpoint's configuration for `function`; with a fleet, listening where
    /// the workers can reach it.
    pub fn endpoint_config(&self, function: &str, fleet: Option<&FleetSpec>) -> EndpointConfig {
        let config = EndpointConfig {
            environments: self.environments,
            overflow: self.overflow,
            timeout: Duration::from_secs_f64(self.function_timeout_s),
            function_name: function.to_string(),
            memory_size_mb: self.memory_size_mb,
            lifecycle: Lifecycle {
                init_cost: Duration::from_secs_f64(self.init_cost_s),
                idle_reclaim: self.idle_reclaim_s.map(Duration::from_secs_f64),
                reserved: self.reserved_concurrency,
            },
            added_duration: Duration::from_secs_f64(self.added_latency_s),
            ..EndpointConfig::default()
        };
        match fleet.and_then(|f| f.endpoint_address) {
            Some(ip) => EndpointConfig { listen: SocketAddr::new(ip, 0), allow_non_loopback: true, ..config },
            None => config,
        }
    }
}

pub(super) fn local(src: &Source, raw: &RawScenario, o: &Overrides) -> Result<LocalSpec, ScenarioError> {
    let l = &raw.local;
    let database = match src.f(l.database.clone()) {
        None => LocalDb::default(),
        Some(f) => f.v.parse::<LocalDb>().map_err(|m| src.err(f.at, format!("local.database: {m}")))?,
    };
    let latency = src.f(l.dsql_latency.clone());
    let latency_at = latency.as_ref().map(|f| f.at.clone());
    let dsql_latency_s = seconds(src, latency, "local.dsql_latency", 1.0)?.unwrap_or(0.0);
    if let Some(at) = latency_at.filter(|_| dsql_latency_s > 0.0 && database != LocalDb::Dsql) {
        return Err(src.err(at, "local.dsql_latency needs local.database = \"dsql\" (the DSQL front adds it)"));
    }
    let added_latency_s = seconds(src, src.f(l.added_latency.clone()), "local.added_latency", 60.0)?.unwrap_or(0.0);
    let mut policy = src.f(l.retry_policy.clone());
    flag(&mut policy, o.retry_policy.clone(), "--retry-policy");
    let retry_policy = match policy {
        None => RetryPolicy::Unlimited,
        Some(f) => f.v.parse::<RetryPolicy>().map_err(|m| src.err(f.at, format!("local.retry_policy: {m}")))?,
    };
    let mut environments = src.f(l.environments.clone());
    flag(&mut environments, o.environments, "--environments");
    let environments = match environments {
        None => transfer::local::endpoint::DEFAULT_ENVIRONMENTS,
        Some(f) => positive(src, &f, "local.environments", 10_000)? as usize,
    };
    let mut overflow = src.f(l.overflow.clone());
    flag(&mut overflow, o.overflow.clone(), "--overflow");
    let overflow = match overflow {
        None => Overflow::Queue,
        Some(f) => f.v.parse::<Overflow>().map_err(|m| src.err(f.at, format!("local.overflow: {m}")))?,
    };
    let function_timeout_s = seconds(src, src.f(l.function_timeout.clone()), "local.function_timeout", 900.0)?
        .unwrap_or(transfer::local::endpoint::DEFAULT_TIMEOUT.as_secs_f64());
    let memory_size_mb = match src.f(l.memory_size.clone()) {
        None => DEFAULT_MEMORY_MB,
        // Lambda's range: 128 MB to 10,240 MB.
        Some(f) if (128..=10_240).contains(&f.v) => f.v as u64,
        Some(f) => {
            return Err(
                src.err(f.at, format!("local.memory_size must be 128 to 10240 MB (Lambda's range), got {}", f.v))
            )
        }
    };
    let function = function_section::function(src, &l.function)?;
    // Lambda's init phase is limited to 10 s. A hosted function's is its own, measured.
    let default_init = if function.is_some() { 0.0 } else { DEFAULT_INIT_COST.as_secs_f64() };
    let init_cost_s = seconds(src, src.f(l.init_cost.clone()), "local.init_cost", 10.0)?.unwrap_or(default_init);
    let idle_reclaim_s = match src.f(l.idle_reclaim.clone()) {
        None => Some(DEFAULT_IDLE_RECLAIM.as_secs_f64()),
        Some(F { v: DurationValue::Text(t), .. }) if t == "never" => None,
        Some(f) => seconds(src, Some(f), "local.idle_reclaim", f64::MAX)?,
    };
    let reserved_concurrency = match src.f(l.reserved_concurrency.clone()) {
        None => None,
        Some(f) => Some(positive(src, &f, "local.reserved_concurrency", 10_000)? as usize),
    };
    Ok(LocalSpec {
        database,
        dsql_latency_s,
        added_latency_s,
        retry_policy,
        environments,
        overflow,
        function_timeout_s,
        memory_size_mb,
        init_cost_s,
        idle_reclaim_s,
        reserved_concurrency,
        function,
    })
}

/// A duration key in seconds, at most `max`.
fn seconds(src: &Source, f: Option<F<DurationValue>>, key: &str, max: f64) -> Result<Option<f64>, ScenarioError> {
    let Some(f) = f else { return Ok(None) };
    match f.v.seconds() {
        Ok(s) if s <= max => Ok(Some(s)),
        Ok(s) => Err(src.err(f.at, format!("{key} must be at most {max} s (Lambda's limit), got {s} s"))),
        Err(m) => Err(src.err(f.at, format!("{key}: {m}"))),
    }
}

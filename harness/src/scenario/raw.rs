//! The scenario file as written: every key known (unknown keys are refused by serde),
//! every value kept with its position so validation can point at it.

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Option<Spanned<T>>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: S<u64>,
    #[serde(default)]
    pub target: RawTarget,
    #[serde(default)]
    pub data: RawData,
    #[serde(default)]
    pub verify: Vec<Spanned<RawVerify>>,
    pub load: Option<Spanned<RawLoad>>,
    #[serde(default)]
    pub workload: RawWorkload,
    #[serde(default)]
    pub local: RawLocal,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub thresholds: RawThresholds,
    pub workers: S<RawWorkers>,
    #[serde(default)]
    pub cost: RawCost,
    #[serde(default)]
    pub response: RawResponse,
    /// `[[call]]`: several kinds of call, chosen by weight.
    #[serde(default)]
    pub call: Vec<Spanned<RawCall>>,
}

/// One `[[call]]`: a kind of call with its own payload and answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    pub name: S<String>,
    pub weight: S<i64>,
    pub template: S<toml::Value>,
    pub generators: S<std::collections::BTreeMap<String, Spanned<RawGenerator>>>,
    pub response: Option<RawResponse>,
    pub function: S<String>,
    /// The kind's own load model (then every kind has one, and `[load]` is not used).
    pub load: Option<Spanned<RawLoad>>,
}

/// `[response]`: what the function's answers mean.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawResponse {
    pub retries: S<String>,
    pub refusal: S<String>,
    pub duration: S<String>,
    pub duration_unit: S<String>,
    pub occ_error_types: S<Vec<String>>,
    pub fields: Option<std::collections::BTreeMap<String, Spanned<String>>>,
}

/// `[cost]`: the prices a run's cost is computed with.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCost {
    pub region: Option<String>,
    pub architecture: S<String>,
    pub lambda_gb_second: S<f64>,
    pub lambda_per_million_requests: S<f64>,
    pub dsql_per_million_dpu: S<f64>,
}

/// `[workers]`: run the load from several worker processes or daemons.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawWorkers {
    pub count: S<i64>,
    pub addresses: S<Vec<String>>,
    pub dns: S<String>,
    pub fleet: S<String>,
    pub on_lost: S<String>,
    pub partition_accounts: Option<bool>,
    pub endpoint_address: S<String>,
    pub heartbeat: S<DurationValue>,
    pub lost_after: S<DurationValue>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub kind: S<String>,
    pub function: S<String>,
    pub url: S<String>,
    pub endpoint_url: S<String>,
    pub client: S<String>,
    pub log_tail: Option<bool>,
    pub cluster_id: Option<String>,
    pub cluster_endpoint: S<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub database_url: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    pub accounts: S<i64>,
    pub initial_balance: S<i64>,
    pub setup: S<String>,
    pub reset: S<String>,
    pub load: S<Vec<Spanned<RawDataLoad>>>,
    pub values: S<std::collections::BTreeMap<String, Spanned<i64>>>,
}

/// `[[data.load]]`: an insert run over `1..=rows` in batches, `$1`/`$2` each batch's
/// first and last.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataLoad {
    pub sql: Spanned<String>,
    pub rows: Spanned<IntOrName>,
    pub batch: S<i64>,
}

/// `rows = 1000` or `rows = "accounts"` (a value's name); a bound `0` or `"before + 1"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IntOrName {
    Int(i64),
    Name(String),
}

/// `[[verify]]`: an invariant's query and exactly one bound; each bound an integer or
/// an expression in a string.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub name: Spanned<String>,
    pub sql: Spanned<String>,
    pub equals: S<IntOrName>,
    pub at_least: S<IntOrName>,
    pub at_most: S<IntOrName>,
    pub between: S<Vec<Spanned<IntOrName>>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub model: S<String>,
    pub parallel: S<i64>,
    pub batches: S<i64>,
    pub in_flight: S<i64>,
    pub calls: S<i64>,
    pub duration: S<DurationValue>,
    pub rate: S<f64>,
    pub stages: S<Vec<Spanned<RawStage>>>,
    pub max_in_flight: S<i64>,
    pub start_rate: S<f64>,
    pub start_in_flight: S<i64>,
}

/// A stage: `rate` (open, constant) or `target` (open: the rate to ramp to; closed:
/// the calls in flight to ramp to), and its duration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub rate: Option<Spanned<f64>>,
    pub target: Option<Spanned<f64>>,
    pub duration: Spanned<DurationValue>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub op: S<String>,
    pub accounts: S<String>,
    pub zipf_exponent: S<f64>,
    pub first_account: S<i64>,
    pub last_account: S<i64>,
    pub amount: S<AmountValue>,
    /// The payload: JSON text, or a TOML table or array, with `{{name}}` holes.
    pub template: S<toml::Value>,
    pub generators: S<std::collections::BTreeMap<String, Spanned<RawGenerator>>>,
}

/// One of `[workload.generators]`: its `kind` and the keys that kind takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenerator {
    pub kind: Spanned<String>,
    pub min: S<RawNumber>,
    pub max: S<RawNumber>,
    pub distribution: S<String>,
    pub exponent: S<f64>,
    pub of: S<String>,
    pub scale: S<i64>,
    pub values: S<Vec<toml::Value>>,
    pub weights: S<Vec<f64>>,
    pub length: S<AmountValue>,
    pub alphabet: S<String>,
    pub from: S<String>,
    pub to: S<String>,
    pub file: S<String>,
    pub order: S<String>,
    pub unique: S<bool>,
}

/// An integer or a float, as the file writes it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum RawNumber {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLocal {
    pub database: S<String>,
    pub dsql_latency: S<DurationValue>,
    pub added_latency: S<DurationValue>,
    pub retry_policy: S<String>,
    pub environments: S<i64>,
    pub overflow: S<String>,
    pub function_timeout: S<DurationValue>,
    pub memory_size: S<i64>,
    pub init_cost: S<DurationValue>,
    pub idle_reclaim: S<DurationValue>,
    pub reserved_concurrency: S<i64>,
    pub function: Option<RawFunction>,
}

/// `[local.function]`: the user's function, hosted through the Runtime API.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawFunction {
    pub runtime: S<String>,
    pub handler: S<String>,
    pub command: S<Vec<String>>,
    pub code: S<String>,
    pub env: Option<std::collections::BTreeMap<String, Spanned<String>>>,
    pub database_port: S<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub allow_incomplete: Option<bool>,
    pub max_duration: S<DurationValue>,
    pub call_timeout: S<DurationValue>,
    pub drain_timeout: S<DurationValue>,
}

/// `[thresholds]`: what `harness check` (and the end of `harness run`) gates on.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    pub min_success_pct: S<f64>,
    pub max_p50_ms: S<f64>,
    pub max_p90_ms: S<f64>,
    pub max_p99_ms: S<f64>,
    pub max_p999_ms: S<f64>,
    pub min_calls_per_s: S<f64>,
    pub min_goodput: S<f64>,
    pub latency: S<String>,
    pub max_retried_pct: S<f64>,
    pub max_late_pct: S<f64>,
    pub max_failed_pct: S<f64>,
    pub expected: Option<Vec<Spanned<String>>>,
    pub verification: S<bool>,
    pub baseline_tolerance_pct: S<f64>,
    pub max_latency_shift: S<f64>,
}

/// `"30s"`, `"5m"`, `"500ms"`, `"1h"`, or a number of seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationValue {
    Seconds(f64),
    Text(String),
}

/// `amount = 1` or `amount = [1, 10]` (drawn uniformly from the range).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AmountValue {
    One(i64),
    Range(Vec<i64>),
}

impl DurationValue {
    /// Seconds, or what was wrong.
    pub fn seconds(&self) -> Result<f64, String> {
        const HELP: &str = "expected a duration like \"30s\", \"5m\", \"500ms\", \"1h\" or a number of seconds";
        let secs = match self {
            DurationValue::Seconds(s) => *s,
            DurationValue::Text(t) => {
                let t = t.trim();
                let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
                let (number, unit) = t.split_at(split);
                let n: f64 = number.parse().map_err(|_| format!("{t:?}: {HELP}"))?;
                match unit.trim() {
                    "ms" => n / 1_000.0,
                    "s" | "" => n,
                    "m" | "min" => n * 60.0,
                    "h" => n * 3_600.0,
                    _ => return Err(format!("{t:?}: unknown unit {unit:?}; {HELP}")),
                }
            }
        };
        let shown = workers::limits::shown(secs);
        if !(secs.is_finite() && secs > 0.0) {
            return Err(format!("must be a positive duration, got {shown} s"));
        }
        if secs > workers::limits::MAX_SECONDS {
            return Err(format!("must be at most 7 days ({} s), got {shown} s", workers::limits::MAX_SECONDS));
        }
        if secs < workers::limits::MIN_SECONDS {
            return Err(format!("must be at least 1ms, got {shown} s"));
        }
        Ok(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::DurationValue::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(Text("500ms".into()).seconds().unwrap(), 0.5);
        assert_eq!(Text("30s".into()).seconds().unwrap(), 30.0);
        assert_eq!(Text("5m".into()).seconds().unwrap(), 300.0);
        assert_eq!(Text("1h".into()).seconds().unwrap(), 3600.0);
        assert_eq!(Seconds(2.5).seconds().unwrap(), 2.5);
        assert!(Text("5 weeks".into()).seconds().unwrap_err().contains("unknown unit"));
        assert!(Seconds(-1.0).seconds().unwrap_err().contains("positive"));
        assert!(Seconds(1e300).seconds().unwrap_err().contains("at most 7 days"));
        assert!(Text("1e300s".into()).seconds().is_err());
        assert!(Seconds(f64::INFINITY).seconds().is_err());
    }
}

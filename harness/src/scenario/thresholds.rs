//! `[thresholds]`: the limits a run must meet, checked at the end of `harness run` and by
//! `harness check` (which can also compare against a baseline summary).

use serde::{Deserialize, Serialize};

use workers::ErrorClass;

use super::raw::{RawThresholds, S};
use super::{ScenarioError, Source};

/// Limits on a run's figures; `None` means not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// Successful calls, percent of all calls.
    pub min_success_pct: Option<f64>,
    /// Client-latency percentiles, milliseconds: of the successful calls, unless
    /// `latency = "all"` (fast failures would otherwise flatter them).
    pub max_p50_ms: Option<f64>,
    pub max_p90_ms: Option<f64>,
    pub max_p99_ms: Option<f64>,
    pub max_p999_ms: Option<f64>,
    /// Calls per second over the whole run.
    pub min_calls_per_s: Option<f64>,
    /// Successful calls per second over the whole run.
    pub min_goodput: Option<f64>,
    /// Which calls the latency thresholds judge: `successful` (the default) or `all`.
    pub latency: Option<LatencyOf>,
    /// Calls that needed at least one OCC retry, percent of calls that reported retries.
    pub max_retried_pct: Option<f64>,
    /// Calls that started late (open model), percent of all calls.
    pub max_late_pct: Option<f64>,
    /// Failed calls, percent of all calls, not counting the `expected` outcomes. When
    /// neither this nor `min_success_pct` is set, [`Thresholds::DEFAULT_FAILED_PCT`]
    /// applies: a run whose calls fail fails.
    pub max_failed_pct: Option<f64>,
    /// Outcomes the scenario expects, not counted by `max_failed_pct` (e.g. the OCC
    /// conflicts of a function that does not retry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected: Vec<Expected>,
    /// `true`: the data must be verified and pass; `false`: not checked; absent: checked
    /// when the run verified (the local and in-process targets).
    pub verification: Option<bool>,
    /// Against a baseline: how much slower (latency percentiles) or lower (throughput),
    /// in percent, still passes. Default 25.
    pub baseline_tolerance_pct: Option<f64>,
    /// Against a baseline: the largest share of calls (0..1) that may have moved to a
    /// slower latency than in the baseline, beyond sampling noise. Default 0.25.
    pub max_latency_shift: Option<f64>,
}

/// Which calls' latency a threshold judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyOf {
    Successful,
    All,
}

/// An outcome a scenario expects: a class of failure, or the function errors
/// `[response] occ_error_types` names (`occ_conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Expected {
    OccConflict,
    Class(ErrorClass),
}

impl Expected {
    /// Every name `expected` takes, as the scenario spells them.
    pub fn names() -> Vec<&'static str> {
        std::iter::once("occ_conflict").chain(ErrorClass::ALL.iter().map(|c| c.name())).collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Expected::OccConflict => "occ_conflict",
            Expected::Class(c) => c.name(),
        }
    }

    fn parse(name: &str) -> Option<Expected> {
        if name == "occ_conflict" {
            return Some(Expected::OccConflict);
        }
        ErrorClass::ALL.into_iter().find(|c| c.name() == name).map(Expected::Class)
    }
}

impl From<Expected> for String {
    fn from(e: Expected) -> String {
        e.name().to_string()
    }
}

impl TryFrom<String> for Expected {
    type Error = String;
    fn try_from(name: String) -> Result<Expected, String> {
        Expected::parse(&name).ok_or_else(|| format!("{name:?} is not one of {}", Expected::names().join(", ")))
    }
}

impl Thresholds {
    pub const DEFAULT_TOLERANCE_PCT: f64 = 25.0;
    pub const DEFAULT_LATENCY_SHIFT: f64 = 0.25;
    /// Failed calls (not counting expected outcomes), percent of all calls, that a run
    /// may have when its scenario sets neither `max_failed_pct` nor `min_success_pct`.
    pub const DEFAULT_FAILED_PCT: f64 = 1.0;

    /// The failed-calls limit that applies, and whether it is the default.
    pub fn failed_limit(&self) -> Option<(f64, bool)> {
        match (self.max_failed_pct, self.min_success_pct) {
            (Some(l), _) => Some((l, false)),
            (None, Some(_)) => None,
            (None, None) => Some((Thresholds::DEFAULT_FAILED_PCT, true)),
        }
    }
}

pub(super) fn parse(src: &Source, raw: &RawThresholds) -> Result<Thresholds, ScenarioError> {
    let ranged = |v: &S<f64>, key: &str, lo: f64, hi: f64| -> Result<Option<f64>, ScenarioError> {
        match src.f(v.clone()) {
            None => Ok(None),
            Some(f) if f.v.is_finite() && f.v >= lo && f.v <= hi => Ok(Some(f.v)),
            Some(f) => Err(src.err(f.at, format!("thresholds.{key} must be between {lo} and {hi}, got {}", f.v))),
        }
    };
    let pct = |v: &S<f64>, key: &str| ranged(v, key, 0.0, 100.0);
    let positive = |v: &S<f64>, key: &str| ranged(v, key, f64::MIN_POSITIVE, 1e12);
    Ok(Thresholds {
        min_success_pct: pct(&raw.min_success_pct, "min_success_pct")?,
        max_p50_ms: positive(&raw.max_p50_ms, "max_p50_ms")?,
        max_p90_ms: positive(&raw.max_p90_ms, "max_p90_ms")?,
        max_p99_ms: positive(&raw.max_p99_ms, "max_p99_ms")?,
        max_p999_ms: positive(&raw.max_p999_ms, "max_p999_ms")?,
        min_calls_per_s: positive(&raw.min_calls_per_s, "min_calls_per_s")?,
        min_goodput: positive(&raw.min_goodput, "min_goodput")?,
        latency: match src.f(raw.latency.clone()) {
            None => None,
            Some(f) if f.v == "successful" => Some(LatencyOf::Successful),
            Some(f) if f.v == "all" => Some(LatencyOf::All),
            Some(f) => {
                return Err(src.err(f.at, format!("thresholds.latency {:?} is not one of \"successful\", \"all\"", f.v)))
            }
        },
        max_retried_pct: pct(&raw.max_retried_pct, "max_retried_pct")?,
        max_late_pct: pct(&raw.max_late_pct, "max_late_pct")?,
        max_failed_pct: pct(&raw.max_failed_pct, "max_failed_pct")?,
        expected: expected(src, raw)?,
        verification: raw.verification.as_ref().map(|v| *v.get_ref()),
        baseline_tolerance_pct: ranged(&raw.baseline_tolerance_pct, "baseline_tolerance_pct", 0.0, 1_000.0)?,
        max_latency_shift: ranged(&raw.max_latency_shift, "max_latency_shift", 0.0, 1.0)?,
    })
}

/// `thresholds.expected`: names of outcomes, each known, none twice.
fn expected(src: &Source, raw: &RawThresholds) -> Result<Vec<Expected>, ScenarioError> {
    let Some(list) = &raw.expected else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for name in list {
        let at = src.at(name.span().start);
        let Some(e) = Expected::parse(name.get_ref()) else {
            let known = Expected::names().join(", ");
            return Err(src.err(at, format!("thresholds.expected: {:?} is not one of {known}", name.get_ref())));
        };
        if out.contains(&e) {
            return Err(src.err(at, format!("thresholds.expected names {:?} twice", name.get_ref())));
        }
        out.push(e);
    }
    Ok(out)
}

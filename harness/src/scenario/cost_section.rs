//! `[cost]`: the region and architecture a run is priced for, and prices that replace
//! the built-in table's (`crate::prices`).

use super::raw::{RawCost, S};
use super::{ScenarioError, Source};
use crate::prices::{Architecture, CostSpec};

pub(super) fn cost(src: &Source, raw: &RawCost) -> Result<CostSpec, ScenarioError> {
    let architecture = match src.f(raw.architecture.clone()) {
        None => Architecture::default(),
        Some(f) => match f.v.as_str() {
            "x86_64" => Architecture::X86_64,
            "arm64" => Architecture::Arm64,
            other => {
                return Err(src.err(f.at, format!("cost.architecture {other:?} is not one of \"x86_64\", \"arm64\"")))
            }
        },
    };
    let price = |v: &S<f64>, key: &str| -> Result<Option<f64>, ScenarioError> {
        match src.f(v.clone()) {
            None => Ok(None),
            Some(f) if f.v > 0.0 && f.v.is_finite() => Ok(Some(f.v)),
            Some(f) => Err(src.err(f.at, format!("cost.{key} must be a price in USD above 0, got {}", f.v))),
        }
    };
    Ok(CostSpec {
        region: raw.region.clone(),
        architecture,
        lambda_gb_second: price(&raw.lambda_gb_second, "lambda_gb_second")?,
        lambda_per_million_requests: price(&raw.lambda_per_million_requests, "lambda_per_million_requests")?,
        dsql_per_million_dpu: price(&raw.dsql_per_million_dpu, "dsql_per_million_dpu")?,
    })
}

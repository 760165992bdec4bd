//! Prices: a small dated table of AWS's public prices per region and architecture, and
//! the scenario's `[cost]` section that overrides it. A leaf read by both the scenario
//! parser and the cost computation (`crate::cost`).

use serde::{Deserialize, Serialize};

/// When the table's prices were read from AWS's public pricing pages.
pub const PRICES_AS_OF: &str = "2026-11-30";

/// Lambda's on-demand prices (first tier), USD: per GB-second for x86_64 and arm64, and
/// per million requests. Regions whose prices differ from these, or are not listed,
/// need `[cost]` overrides.
const LAMBDA: &[(&str, f64, f64, f64)] = &[
    ("us-east-1", 0.000_016_666_7, 0.000_013_333_4, 0.20),
    ("us-east-2", 0.000_016_666_7, 0.000_013_333_4, 0.20),
    ("us-west-2", 0.000_016_666_7, 0.000_013_333_4, 0.20),
    ("eu-west-1", 0.000_016_666_7, 0.000_013_333_4, 0.20),
    ("eu-central-1", 0.000_016_666_7, 0.000_013_333_4, 0.20),
    ("ap-northeast-1", 0.000_016_666_7, 0.000_013_333_4, 0.20),
];

/// Aurora DSQL's price per million DPUs, USD.
const DSQL: &[(&str, f64)] = &[("us-east-1", 8.00)];

/// The function's instruction set, which sets Lambda's price per GB-second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    #[default]
    X86_64,
    Arm64,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// `[cost]`: where prices come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostSpec {
    /// The region priced (default: the target's region, or us-east-1 on the local stack).
    pub region: Option<String>,
    pub architecture: Architecture,
    /// Overrides of the table, USD.
    pub lambda_gb_second: Option<f64>,
    pub lambda_per_million_requests: Option<f64>,
    pub dsql_per_million_dpu: Option<f64>,
}

/// The prices a run's cost was computed with, and where each came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    pub region: String,
    pub architecture: Architecture,
    pub lambda_gb_second: Option<f64>,
    pub lambda_per_million_requests: Option<f64>,
    pub dsql_per_million_dpu: Option<f64>,
    /// e.g. "table of 2026-11-30" or "[cost] override".
    pub source: String,
}

impl CostSpec {
    /// The prices for `region` (the spec's own region wins), overrides applied.
    pub fn prices(&self, region: &str) -> Prices {
        let region = self.region.clone().unwrap_or_else(|| region.to_string());
        let lambda = LAMBDA.iter().find(|(r, ..)| *r == region);
        let table_gb_s = lambda.map(|(_, x86, arm, _)| match self.architecture {
            Architecture::X86_64 => *x86,
            Architecture::Arm64 => *arm,
        });
        let table_dsql = DSQL.iter().find(|(r, _)| *r == region).map(|(_, p)| *p);
        let overridden = self.lambda_gb_second.is_some()
            || self.lambda_per_million_requests.is_some()
            || self.dsql_per_million_dpu.is_some();
        let source = match overridden {
            true => format!("[cost] overrides, else the table of {PRICES_AS_OF}"),
            false => format!("the table of {PRICES_AS_OF} (AWS public prices, on-demand, first tier)"),
        };
        Prices {
            lambda_gb_second: self.lambda_gb_second.or(table_gb_s),
            lambda_per_million_requests: self.lambda_per_million_requests.or(lambda.map(|l| l.3)),
            dsql_per_million_dpu: self.dsql_per_million_dpu.or(table_dsql),
            region,
            architecture: self.architecture,
            source,
        }
    }
}

//! What a run cost: Lambda's part from the REPORT lines (billed duration x memory size,
//! and the requests), the database's from the cluster's DPUs over the run's window,
//! priced from a small dated table per region and architecture that a scenario's
//! `[cost]` section can override. Each part says where its figures came from, or why it
//! is absent.

use serde::{Deserialize, Serialize};
use workers::{PlatformStats, Stats};

use crate::prices::Prices;
use crate::scenario::{Plan, TargetSpec};
use crate::server::ServerView;

/// One part of the cost, or why it is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub usd: Option<f64>,
    /// How it was computed, from what; or why there is no figure.
    pub how: String,
}

/// What the run cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub prices: Prices,
    pub lambda: Part,
    pub database: Part,
    /// The parts that have a figure, summed.
    pub total_usd: f64,
    pub successful_calls: u64,
    /// USD per 1,000 successful calls (transfers), when any succeeded.
    pub per_1000_successful_usd: Option<f64>,
}

/// A run's cost: Lambda's from the REPORT lines; the database's from the DPUs in the
/// server-side view, which only a DSQL cluster has (CloudWatch's TotalDPU; fetched
/// again later by `harness report RUN_DIR --fetch-metrics`, as CloudWatch lags).
pub fn of_run(plan: &Plan, totals: &Stats, server: Option<&ServerView>) -> Cost {
    let dpus = server.and_then(|s| s.database.as_ref()).and_then(|d| d.dpus);
    let (region, dpus) = match &plan.target {
        TargetSpec::Aws { access, cluster_id, .. } => (
            access.region.clone().unwrap_or_else(|| "us-east-1".into()),
            match (dpus, cluster_id) {
                (Some(dpus), _) => Ok(dpus),
                (None, None) => {
                    Err("no DPUs: set target.cluster_id to fetch the cluster's TotalDPU from CloudWatch".into())
                }
                (None, Some(_)) => Err(
                    "DSQL's DPUs are not in CloudWatch yet (it lags minutes): `harness report RUN_DIR --fetch-metrics`"
                        .into(),
                ),
            },
        ),
        _ => (
            transfer::local::endpoint::LOCAL_REGION.to_string(),
            Err("absent: the local stack's PostgreSQL has no DPUs (Aurora DSQL's billing unit)".into()),
        ),
    };
    compute(totals, plan.cost.prices(&region), dpus)
}

/// The cost of a run with these totals, at these prices; `dpus` is the cluster's DPU
/// usage over the run's window, or why it is unknown.
pub fn compute(totals: &Stats, prices: Prices, dpus: Result<f64, String>) -> Cost {
    let lambda = lambda_part(totals.platform.as_ref(), &prices);
    let database = match (dpus, prices.dsql_per_million_dpu) {
        (Ok(dpus), Some(price)) => Part {
            usd: Some(dpus * price / 1e6),
            how: format!("{dpus:.0} DPUs x ${price}/million DPUs ({} TotalDPU, CloudWatch)", prices.region),
        },
        (Ok(_), None) => Part {
            usd: None,
            how: format!("no DSQL price for {} in the table; set [cost] dsql_per_million_dpu", prices.region),
        },
        (Err(why), _) => Part { usd: None, how: why },
    };
    let total_usd = lambda.usd.unwrap_or(0.0) + database.usd.unwrap_or(0.0);
    let any = lambda.usd.is_some() || database.usd.is_some();
    let per_1000 = (any && totals.successes > 0).then(|| total_usd * 1000.0 / totals.successes as f64);
    Cost { prices, lambda, database, total_usd, successful_calls: totals.successes, per_1000_successful_usd: per_1000 }
}

fn lambda_part(platform: Option<&PlatformStats>, prices: &Prices) -> Part {
    let Some(p) = platform.filter(|p| p.reports > 0) else {
        return Part {
            usd: None,
            how: "no REPORT lines: the log tail was off (target.log_tail) or the endpoint sends none".into(),
        };
    };
    let (Some(gb_s_price), Some(request_price)) = (prices.lambda_gb_second, prices.lambda_per_million_requests) else {
        return Part {
            usd: None,
            how: format!(
                "no Lambda price for {} in the table; set [cost] lambda_gb_second and lambda_per_million_requests",
                prices.region
            ),
        };
    };
    let gb_s = p.gb_seconds();
    let usd = gb_s * gb_s_price + p.reports as f64 * request_price / 1e6;
    let how = format!(
        "{gb_s:.3} GB-s x ${gb_s_price} ({}) + {} requests x ${request_price}/million, from {} REPORT lines",
        prices.architecture.name(),
        p.reports,
        p.reports
    );
    Part { usd: Some(usd), how }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prices::{Architecture, CostSpec};
    use workers::PlatformReport;

    fn totals(reports: &[(u64, u64)], successes: u64) -> Stats {
        let mut t = Stats { successes, calls: successes, ..Stats::default() };
        let mut p = PlatformStats::default();
        for (i, (billed_ms, memory)) in reports.iter().enumerate() {
            p.record(&PlatformReport {
                request_id: format!("r{i}"),
                duration_us: billed_ms * 1000 - 500,
                billed_ms: *billed_ms,
                memory_size_mb: *memory,
                max_memory_used_mb: 40,
                init_us: None,
                status: None,
            });
        }
        t.platform = Some(p);
        t
    }

    #[test]
    fn lambda_cost_by_hand() {
        // 1,000 calls of 100 ms at 512 MB: 50 GB-s; x86 at $0.0000166667 = $0.000833335,
        // plus 1,000 requests at $0.20/M = $0.0002: $0.001033335; per 1,000 successes the same.
        let t = totals(&[(100, 512); 1000], 1000);
        let c = compute(&t, CostSpec::default().prices("us-east-1"), Err("local stack: no DPUs".into()));
        assert!((c.lambda.usd.unwrap() - 0.001_033_335).abs() < 1e-12, "{c:?}");
        assert!((c.per_1000_successful_usd.unwrap() - 0.001_033_335).abs() < 1e-12);
        assert_eq!(c.database, Part { usd: None, how: "local stack: no DPUs".into() });
        // arm64: 50 x $0.0000133334 = $0.00066667, + $0.0002.
        let arm = CostSpec { architecture: Architecture::Arm64, ..CostSpec::default() };
        let c = compute(&t, arm.prices("us-east-1"), Ok(25_000.0));
        assert!((c.lambda.usd.unwrap() - 0.000_866_67).abs() < 1e-12, "{c:?}");
        // 25,000 DPUs at $8/M = $0.20; total $0.20086667 over 1,000 successes.
        assert!((c.database.usd.unwrap() - 0.2).abs() < 1e-12);
        assert!((c.total_usd - 0.200_866_67).abs() < 1e-12);
        assert!(c.database.how.contains("25000 DPUs x $8/million DPUs"), "{}", c.database.how);
    }

    #[test]
    fn unknown_regions_and_overrides() {
        let t = totals(&[(10, 128); 4], 2);
        let c = compute(&t, CostSpec::default().prices("sa-east-1"), Ok(1.0));
        assert_eq!(c.lambda.usd, None);
        assert!(c.lambda.how.contains("no Lambda price for sa-east-1"), "{}", c.lambda.how);
        assert!(c.database.how.contains("set [cost] dsql_per_million_dpu"));
        assert_eq!(c.per_1000_successful_usd, None, "nothing priced, no figure");
        let spec = CostSpec {
            lambda_gb_second: Some(0.00002),
            lambda_per_million_requests: Some(0.25),
            dsql_per_million_dpu: Some(10.0),
            ..CostSpec::default()
        };
        let prices = spec.prices("sa-east-1");
        assert!(prices.source.starts_with("[cost] overrides"));
        let c = compute(&t, prices, Ok(1_000.0));
        // 4 x 10 ms x 0.125 GB = 0.005 GB-s x $0.00002 = $1e-7, + 4 x $0.25/M = $1e-6; + $0.01.
        assert!((c.lambda.usd.unwrap() - 1.1e-6).abs() < 1e-15, "{c:?}");
        assert!((c.total_usd - 0.010_001_1).abs() < 1e-12);
        assert!((c.per_1000_successful_usd.unwrap() - 5.000_55).abs() < 1e-9, "two successes");
        let none = compute(&Stats::default(), CostSpec::default().prices("us-east-1"), Err("x".into()));
        assert!(none.lambda.how.starts_with("no REPORT lines"));
    }
}

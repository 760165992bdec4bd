//! Verification on the AWS target's Aurora DSQL cluster (`target.cluster_id`), when the
//! scenario asks for it with `[[verify]]`: its invariants measured before the load and
//! judged after it, as `admin` with an IAM token, exactly as on the local stack. Data
//! the harness did not set up is never judged by the built-in list.

use std::time::Duration;

use workers::target::AwsAccess;

use crate::database::{self, Checks, DbTarget, Verification};
use crate::invariants::{Number, RunContext, RunCounts};
use crate::record::Driven;
use crate::scenario::Plan;

/// How long verification waits for the cluster to answer.
const PATIENCE: Duration = Duration::from_secs(30);

/// The cluster's endpoint, as DSQL names it.
pub fn endpoint(cluster_id: &str, region: &str) -> String {
    format!("{cluster_id}.dsql.{region}.on.aws")
}

/// The cluster to verify: none unless the scenario has `[[verify]]` invariants. Its
/// endpoint is `target.cluster_endpoint` when given; else the one `target.cluster_id`
/// names in the region, except when Lambda is an emulator (`target.endpoint_url`, or
/// the AWS configuration's `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_LAMBDA`), which has
/// no DSQL cluster behind it. None without a region to sign the token for.
pub async fn target(
    access: &AwsAccess,
    (cluster_id, explicit): (Option<&str>, Option<String>),
    plan: &Plan,
) -> Option<DbTarget> {
    if plan.verify.is_empty() {
        return None;
    }
    let emulated = access.endpoint_url.is_some() || std::env::var_os("AWS_ENDPOINT_URL_LAMBDA").is_some();
    let named = cluster_id.filter(|_| explicit.is_none() && !emulated);
    if explicit.is_none() && named.is_none() {
        return None;
    }
    let sdk = workers::target::aws_sdk_config(access.region.clone(), access.profile.clone()).await;
    if explicit.is_none() && sdk.endpoint_url().is_some() {
        return None;
    }
    let region = sdk.region()?.to_string();
    let host = explicit.unwrap_or_else(|| endpoint(named.expect("checked above"), &region));
    // The endpoint was checked with the scenario.
    DbTarget::dsql(&host, region, "admin".into(), sdk).ok()
}

/// Every invariant's value before the load (each an error when the cluster is out of
/// reach: the invariants that need `before` then cannot be judged).
pub async fn before(db: &DbTarget, plan: &Plan) -> Vec<Result<Option<Number>, String>> {
    let checks = Checks::of_plan(plan);
    match db.connect().await {
        Ok(client) => database::before(&client, &checks).await,
        Err(e) => checks.invariants.iter().map(|_| Err(format!("{e:#}"))).collect(),
    }
}

/// The verification after the load, with the run's counts.
pub async fn verify(
    db: &DbTarget,
    plan: &Plan,
    before: Vec<Result<Option<Number>, String>>,
    driven: &Driven,
) -> Verification {
    let unreported: u64 = driven.workers.iter().map(|w| w.unreported_at_most).sum();
    let run = RunContext { counts: RunCounts::of(&driven.totals, unreported), before };
    database::verify_connected(db.reconnect(PATIENCE).await, &Checks::of_plan(plan), Some(&run)).await
}

#[cfg(test)]
mod tests {
    fn plan(verify: &str) -> crate::scenario::Plan {
        let text = format!("[target]\nkind = \"aws\"\nfunction = \"f\"\n[load]\nmodel = \"closed\"\nin_flight = 1\ncalls = 1\n{verify}");
        crate::scenario::parse("s.toml", &text, &Default::default()).unwrap()
    }

    #[tokio::test]
    async fn only_invariants_the_scenario_states_run_on_a_real_cluster() {
        let asked = plan("[[verify]]\nname = \"n\"\nsql = \"SELECT 1\"\nequals = 1\n");
        let emulator = workers::target::AwsAccess {
            region: Some("us-east-1".into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        };
        assert!(super::target(&emulator, (Some("abc"), None), &asked).await.is_none());
        // An endpoint named outright is used even with an emulated Lambda.
        let named = super::target(&emulator, (Some("abc"), Some("localhost:6543".into())), &asked).await;
        match named {
            Some(crate::database::DbTarget::Dsql(t)) => assert_eq!((t.endpoint.as_str(), t.port), ("localhost", 6543)),
            other => panic!("{other:?}"),
        }
        let aws = workers::target::AwsAccess { region: Some("eu-west-1".into()), ..Default::default() };
        assert!(super::target(&aws, (None, None), &asked).await.is_none());
        assert!(super::target(&aws, (Some("abc"), None), &asked).await.is_some());
        let builtin = super::target(&aws, (Some("abc"), None), &plan("")).await;
        assert!(builtin.is_none(), "the built-in list is never assumed");
        assert_eq!(super::endpoint("abc", "eu-west-1"), "abc.dsql.eu-west-1.on.aws");
    }
}

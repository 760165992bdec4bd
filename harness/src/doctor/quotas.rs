//! Concurrency quotas: the account's concurrency limit and unreserved concurrency, the
//! function's reserved and provisioned concurrency (GetAccountSettings,
//! GetFunctionConcurrency, ListProvisionedConcurrencyConfigs), and whether a scenario's
//! calls in flight will be throttled by a quota rather than by the function.

use super::diagnose::CallError;
use super::{Finding, Problem, Status};

pub const QUOTAS: &str = "concurrency quotas";

/// Lambda scales each function by this many execution environments per 10 seconds.
pub const SCALING_PER_10S: u64 = 1_000;

/// What limits the function's concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// The account's concurrency limit in the region.
    pub account_limit: u64,
    /// What no function has reserved: the pool a function without reserved concurrency draws from.
    pub unreserved: u64,
    /// The function's reserved concurrency, if set.
    pub reserved: Option<u64>,
    /// Provisioned concurrency allocated over its versions and aliases.
    pub provisioned: u64,
}

impl Quotas {
    /// The most calls of the function that can run at once, and the 429 reason beyond it.
    pub fn limit(&self) -> (u64, &'static str) {
        match self.reserved {
            Some(r) => (r, "ReservedFunctionConcurrentInvocationLimitExceeded"),
            None => (self.unreserved, "ConcurrentInvocationLimitExceeded"),
        }
    }

    pub fn describe(&self) -> String {
        let reserved = self.reserved.map_or("no reserved concurrency".to_string(), |r| format!("reserved {r}"));
        format!(
            "account limit {} (unreserved {}); function: {reserved}, provisioned {}",
            self.account_limit, self.unreserved, self.provisioned
        )
    }
}

/// Read the quotas; a failure keeps what Lambda answered (its error code) or why it did not.
pub async fn read(client: &aws_sdk_lambda::Client, function: &str) -> Result<Quotas, CallError> {
    let account = client.get_account_settings().send().await.map_err(|e| CallError::of("GetAccountSettings", &e))?;
    let limit =
        account.account_limit().ok_or(CallError::Malformed("GetAccountSettings gave no AccountLimit".into()))?;
    let reserved = client
        .get_function_concurrency()
        .function_name(function)
        .send()
        .await
        .map_err(|e| CallError::of("GetFunctionConcurrency", &e))?
        .reserved_concurrent_executions();
    let provisioned = client
        .list_provisioned_concurrency_configs()
        .function_name(function)
        .send()
        .await
        .map_err(|e| CallError::of("ListProvisionedConcurrencyConfigs", &e))?
        .provisioned_concurrency_configs()
        .iter()
        .map(|c| c.allocated_provisioned_concurrent_executions().unwrap_or(0).max(0) as u64)
        .sum();
    Ok(Quotas {
        account_limit: limit.concurrent_executions().max(0) as u64,
        unreserved: limit.unreserved_concurrent_executions().unwrap_or(0).max(0) as u64,
        reserved: reserved.map(|r| r.max(0) as u64),
        provisioned,
    })
}

/// The check: the quotas, and with a scenario's calls in flight, whether they fit.
pub fn judge(q: &Quotas, in_flight: Option<u64>, region: &str) -> Finding {
    let Some(want) = in_flight else {
        return Finding { check: QUOTAS, status: Status::Ok(q.describe()) };
    };
    let (limit, reason) = q.limit();
    if want > limit {
        let (what, fix) = match q.reserved {
            Some(r) => (
                format!("the function's reserved concurrency ({r}), its own setting"),
                format!(
                    "raise it (`aws lambda put-function-concurrency --reserved-concurrent-executions {want}`) or keep at most {r} calls in flight"
                ),
            ),
            None => (
                format!("the account's unreserved concurrency ({}) in {region}, a quota", q.unreserved),
                format!(
                    "request a higher Lambda \"Concurrent executions\" quota in Service Quotas for {region} (it is {}), or keep at most {} calls in flight",
                    q.account_limit, q.unreserved
                ),
            ),
        };
        let problem = Problem::new(
            format!(
                "the scenario keeps {want} calls in flight, beyond {what}: {} calls would be throttled ({reason}); {}",
                want - limit,
                q.describe()
            ),
            fix,
        );
        return Finding { check: QUOTAS, status: Status::Fail(problem) };
    }
    let mut ok = format!("{want} calls in flight fit: {}", q.describe());
    let cold = want.saturating_sub(q.provisioned);
    if cold > SCALING_PER_10S {
        let seconds = cold.div_ceil(SCALING_PER_10S) * 10 - 10;
        ok.push_str(&format!(
            "; Lambda adds {SCALING_PER_10S} environments per 10 s per function, so {cold} beyond the provisioned take about {seconds} s to come up (429s until then)"
        ));
    }
    Finding { check: QUOTAS, status: Status::Ok(ok) }
}

#[cfg(test)]
mod tests {
    use aws_sdk_lambda::config::{BehaviorVersion, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;
    use serde_json::json;

    use super::*;

    fn replay(answers: Vec<(&str, serde_json::Value)>) -> aws_sdk_lambda::Client {
        let events = answers
            .into_iter()
            .map(|(uri, body)| {
                let request = http::Request::builder().uri(uri).body(SdkBody::empty()).unwrap();
                let response = http::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(SdkBody::from(body.to_string()))
                    .unwrap();
                ReplayEvent::new(request, response)
            })
            .collect();
        let config = aws_sdk_lambda::Config::builder()
            .http_client(StaticReplayClient::new(events))
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .build();
        aws_sdk_lambda::Client::from_conf(config)
    }

    const BASE: &str = "https://lambda.us-east-1.amazonaws.com";

    fn account(limit: i64, unreserved: i64) -> serde_json::Value {
        json!({"AccountLimit": {"TotalCodeSize": 80530636800i64, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": unreserved},
            "AccountUsage": {"TotalCodeSize": 1234, "FunctionCount": 3}})
    }

    #[tokio::test]
    async fn reads_the_quotas_from_recorded_answers() {
        let client = replay(vec![
            (&format!("{BASE}/2016-08-19/account-settings"), account(1_000, 900)),
            (
                &format!("{BASE}/2019-09-30/functions/reinvent-dat401/concurrency"),
                json!({"ReservedConcurrentExecutions": 100}),
            ),
            (
                &format!("{BASE}/2019-09-30/functions/reinvent-dat401/provisioned-concurrency?List=ALL"),
                json!({"ProvisionedConcurrencyConfigs": [
                    {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:reinvent-dat401:live",
                     "RequestedProvisionedConcurrentExecutions": 60, "AvailableProvisionedConcurrentExecutions": 50,
                     "AllocatedProvisionedConcurrentExecutions": 50, "Status": "IN_PROGRESS",
                     "LastModified": "2026-11-30T10:00:00+0000"}]}),
            ),
        ]);
        let q = read(&client, "reinvent-dat401").await.unwrap();
        assert_eq!(q, Quotas { account_limit: 1_000, unreserved: 900, reserved: Some(100), provisioned: 50 });
        // No reserved concurrency: the answer is an empty object.
        let client = replay(vec![
            (&format!("{BASE}/2016-08-19/account-settings"), account(10_000, 10_000)),
            (&format!("{BASE}/2019-09-30/functions/f/concurrency"), json!({})),
            (
                &format!("{BASE}/2019-09-30/functions/f/provisioned-concurrency?List=ALL"),
                json!({"ProvisionedConcurrencyConfigs": []}),
            ),
        ]);
        let q = read(&client, "f").await.unwrap();
        assert_eq!((q.reserved, q.provisioned, q.unreserved), (None, 0, 10_000));
    }

    fn failed(f: &Finding) -> &Problem {
        match &f.status {
            Status::Fail(p) => p,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn judges_a_scenario_against_the_quota_or_the_function() {
        let account = Quotas { account_limit: 1_000, unreserved: 1_000, reserved: None, provisioned: 0 };
        // The workshop's 1M run: 10,000 in flight against a new account's 1,000.
        let p = failed(&judge(&account, Some(10_000), "us-east-1")).clone();
        assert!(p.what.contains("the account's unreserved concurrency (1000) in us-east-1, a quota"), "{}", p.what);
        assert!(p.what.contains("9000 calls would be throttled (ConcurrentInvocationLimitExceeded)"), "{}", p.what);
        assert!(p.fix.contains("Service Quotas"), "{}", p.fix);
        let function = Quotas { reserved: Some(100), ..account };
        let p = failed(&judge(&function, Some(1_000), "us-east-1")).clone();
        assert!(p.what.contains("the function's reserved concurrency (100), its own setting"), "{}", p.what);
        assert!(p.what.contains("(ReservedFunctionConcurrentInvocationLimitExceeded)"));
        assert!(p.fix.contains("put-function-concurrency"));
        // Fits; 10,000 in a raised quota with none provisioned take 90 s to come up.
        let raised = Quotas { account_limit: 20_000, unreserved: 20_000, reserved: None, provisioned: 0 };
        match judge(&raised, Some(10_000), "us-east-1").status {
            Status::Ok(text) => assert!(text.contains("take about 90 s to come up"), "{text}"),
            other => panic!("{other:?}"),
        }
        match judge(&account, None, "us-east-1").status {
            Status::Ok(text) => assert_eq!(
                text,
                "account limit 1000 (unreserved 1000); function: no reserved concurrency, provisioned 0"
            ),
            other => panic!("{other:?}"),
        }
    }
}

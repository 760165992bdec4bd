//! Verification on the AWS target's cluster, end to end and offline: `harness run` with
//! `target.kind = "aws"` calls the transfer function through the Invoke API (the local
//! Lambda endpoint, reached through `AWS_ENDPOINT_URL_LAMBDA` with static keys), and
//! judges the scenario's `[[verify]]` invariants on "the cluster": a local DSQL front
//! at `target.cluster_endpoint`, logged into as `admin` with an IAM token over TLS (its
//! CA in PGSSLROOTCERT), before and after the load, exactly as against Aurora DSQL.

mod common;

use std::process::{Command, Stdio};

use serde_json::Value;
use transfer::local::dsql::{DsqlFront, FrontConfig};
use transfer::local::{LocalPostgres, PgOptions};

use common::*;

/// The local Lambda endpoint hosting the transfer function on `database_url`, as
/// `harness run` starts it; it stops when its stdin closes.
fn lambda_endpoint(database_url: &str) -> (std::process::Child, String) {
    let endpoint = serde_json::json!({
        "listen": "127.0.0.1:0", "allow_non_loopback": false, "function_name": "bank",
        "environments": 4, "overflow": "queue", "timeout": {"secs": 10, "nanos": 0}
    });
    let config = serde_json::json!({"database_url": database_url, "endpoint": endpoint, "retry_policy": "unlimited"});
    let mut child = command()
        .args(["local-lambda-child", "--config", &config.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let url = listening(&mut child);
    (child, url)
}

/// `harness run` against "AWS": static keys, no AWS configuration, Lambda at `lambda`.
fn aws_run(scenario: &str, lambda: &str, ca: &std::path::Path, results: &std::path::Path) -> std::process::Output {
    let mut command: Command = command();
    command
        .args(["run", scenario, "--results", results.to_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", "AKIDOFFLINETEST")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_LAMBDA", lambda)
        .env("PGSSLROOTCERT", ca);
    command.output().unwrap()
}

#[test]
fn an_aws_run_judges_its_invariants_on_the_cluster_before_and_after_the_load() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let front = rt.block_on(DsqlFront::start(FrontConfig::local(pg.port(), dir.path().into()))).unwrap();
    let cluster = format!("localhost:{}", front.addr().port());
    // The schema and 200 accounts of 100, through the front as against a cluster.
    let out =
        dsql_harness(&cluster, Some(front.ca_path()), &["setup", "--accounts", "200", "--initial-balance", "100"]);
    assert!(out.status.success(), "{}", text(&out));
    let (mut lambda, lambda_url) = lambda_endpoint(&pg.url());
    let scenario = |extra: &str| {
        format!(
            "[target]\nkind = \"aws\"\nfunction = \"bank\"\nregion = \"us-east-1\"\ncluster_endpoint = \"{cluster}\"\n\
             [data]\naccounts = 200\ninitial_balance = 100\n\
             [load]\nmodel = \"closed\"\nin_flight = 8\ncalls = 300\n\
             [[verify]]\nname = \"money is conserved\"\nsql = \"SELECT sum(balance) FROM accounts\"\n\
             equals = \"accounts * initial_balance\"\n\
             [[verify]]\nname = \"one history row per transfer\"\nsql = \"SELECT count(*) FROM transactions\"\n\
             between = [\"before + successes\", \"before + successes + unknown\"]\n{extra}"
        )
    };
    let file = dir.path().join("aws.toml");
    std::fs::write(&file, scenario("")).unwrap();
    let results = dir.path().join("results");
    let out = aws_run(file.to_str().unwrap(), &lambda_url, front.ca_path(), &results);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s: Value = serde_json::from_slice(&std::fs::read(summary_in(&results).unwrap()).unwrap()).unwrap();
    validate_against_schema(&s);
    let v = &s["verification"];
    assert_eq!(v["passed"], true, "{v:#}");
    let invariants = v["invariants"].as_array().unwrap();
    assert_eq!(invariants.len(), 2, "{v:#}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("money is conserved: 20000"), "judged on the cluster: {stdout}");
    // Every successful transfer added its row between the two reads of the cluster.
    assert!(stdout.contains("one history row per transfer: 300"), "{stdout}");
    // Lambda is an emulator (AWS_ENDPOINT_URL_LAMBDA) and CloudWatch has no endpoint of
    // its own: it is not asked, and the view says why instead of printing an SDK error.
    assert!(!stdout.contains("GetMetricData") && !stdout.contains("dispatch failure"), "{stdout}");

    // An invariant that does not hold is caught there, with its value and expectation.
    let file = dir.path().join("aws-wrong.toml");
    let wrong = "[[verify]]\nname = \"deliberately wrong\"\nsql = \"SELECT count(*) FROM accounts\"\nequals = \"accounts + 1\"\n";
    std::fs::write(&file, scenario(wrong)).unwrap();
    let results = dir.path().join("results-wrong");
    let out = aws_run(file.to_str().unwrap(), &lambda_url, front.ca_path(), &results);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("deliberately wrong: 200, expected = accounts + 1 = 201"), "{stdout}");
    assert!(stdout.contains("money is conserved: 20000"), "{stdout}");

    drop(lambda.stdin.take());
    assert!(lambda.wait().unwrap().success(), "the endpoint stops when its stdin closes");
}

//! An EC2 Auto Scaling fleet, offline: a loopback server answers for CloudFormation,
//! Auto Scaling, EC2 and SSM (reached through `AWS_ENDPOINT_URL_*` with placeholder
//! keys), three real worker daemons stand in for the instances at 127.0.0.2-4, and
//! `harness run --fleet hf` finds them (waiting while one is pending, skipping one that
//! is terminating, and for a daemon that starts 12 s late), takes the secret from SSM,
//! and runs a verified scenario on
//! them; `harness fleet status` lists them. The template passes cfn-lint and lets the
//! workers invoke only the function.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

mod common;
#[path = "../src/fleet/recorded.rs"]
mod recorded;

use common::*;
use recorded::{group_xml, instances_xml, stack_xml};

const SECRET: &str = "fleet-aws-secret-0123456789abcdef";

/// The loopback stand-in for CloudFormation, Auto Scaling, EC2 and SSM, and what it was asked.
struct Aws {
    port: u16,
    group_calls: AtomicU64,
    secret_reads: AtomicU64,
    /// DescribeInstances calls, and those signed with SigV4 for EC2 as a form post.
    instance_calls: AtomicU64,
    instance_calls_signed: AtomicU64,
}

fn xml(body: String) -> Response {
    ([("content-type", "text/xml")], body).into_response()
}

async fn answer(State(aws): State<Arc<Aws>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("x-amz-target").is_some_and(|t| t == "AmazonSSM.GetParameter") {
        aws.secret_reads.fetch_add(1, Ordering::SeqCst);
        let p = json!({"Parameter": {"Name": "/harness/hf/worker-secret", "Type": "SecureString", "Value": SECRET,
            "Version": 1, "ARN": "arn:aws:ssm:us-east-1:123456789012:parameter/harness/hf/worker-secret", "DataType": "text"}});
        return ([("content-type", "application/x-amz-json-1.1")], p.to_string()).into_response();
    }
    let form = String::from_utf8_lossy(&body).to_string();
    let action = form.split('&').find_map(|kv| kv.strip_prefix("Action=")).unwrap_or_default().to_string();
    match action.as_str() {
        "DescribeStacks" => xml(stack_xml("CREATE_COMPLETE", aws.port)),
        "DescribeAutoScalingGroups" => {
            let first = aws.group_calls.fetch_add(1, Ordering::SeqCst) == 0;
            let instances: &[(&str, &str, &str)] = if first {
                &[("i-1", "InService", "Healthy"), ("i-2", "Pending", "Healthy"), ("i-3", "Terminating", "Unhealthy")]
            } else {
                &[
                    ("i-1", "InService", "Healthy"),
                    ("i-2", "InService", "Healthy"),
                    ("i-4", "InService", "Healthy"),
                    ("i-3", "Terminating", "Unhealthy"),
                ]
            };
            xml(group_xml(3, instances))
        }
        "DescribeInstances" => {
            aws.instance_calls.fetch_add(1, Ordering::SeqCst);
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let signed = header("authorization").starts_with("AWS4-HMAC-SHA256 Credential=AKIDOFFLINE/")
                && header("authorization")
                    .contains("/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=")
                && header("content-type") == "application/x-www-form-urlencoded; charset=utf-8"
                && form.contains("&Version=2016-11-15&InstanceId.1=");
            if signed {
                aws.instance_calls_signed.fetch_add(1, Ordering::SeqCst);
            }
            let ip = |id: &str| match id {
                "i-1" => "127.0.0.2",
                "i-2" => "127.0.0.3",
                _ => "127.0.0.4",
            };
            let ids: Vec<String> = form
                .split('&')
                .filter_map(|kv| {
                    kv.split_once('=').filter(|(k, _)| k.starts_with("InstanceId.")).map(|(_, v)| v.to_string())
                })
                .collect();
            let pairs: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), ip(id))).collect();
            xml(instances_xml(&pairs))
        }
        other => (axum::http::StatusCode::BAD_REQUEST, format!("no recorded answer for {other}")).into_response(),
    }
}

/// `harness` with the AWS configuration pointed at the recorded answers.
fn aws_command(url: &str, home: &std::path::Path) -> std::process::Command {
    let mut c = command();
    c.env("AWS_ACCESS_KEY_ID", "AKIDOFFLINE")
        .env("AWS_SECRET_ACCESS_KEY", "offline-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("HARNESS_WORKER_SECRET");
    for service in ["CLOUDFORMATION", "AUTO_SCALING", "EC2", "SSM"] {
        c.env(format!("AWS_ENDPOINT_URL_{service}"), url);
    }
    c
}

#[test]
fn a_run_finds_its_fleet_through_auto_scaling_and_takes_the_secret_from_ssm() {
    // One port on three loopback addresses, as the instances' private addresses.
    let port = std::net::TcpListener::bind("127.0.0.2:0").unwrap().local_addr().unwrap().port();
    let mut daemons: Vec<WorkerDaemon> =
        (2..=3).map(|k| WorkerDaemon::start(&format!("127.0.0.{k}:{port}"), SECRET)).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = Arc::new(Aws {
        port,
        group_calls: AtomicU64::new(0),
        secret_reads: AtomicU64::new(0),
        instance_calls: AtomicU64::new(0),
        instance_calls_signed: AtomicU64::new(0),
    });
    let app = axum::Router::new().route("/", axum::routing::post(answer)).with_state(aws.clone());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");

    let run = aws_command(&url, dir.path())
        .args(["run", &scenario("smoke.toml"), "--fleet", "hf", "--results", results.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The third instance is in service long before its daemon listens, as on EC2: the
    // run waits for it (its refused connections are "not yet"), and the two daemons that
    // answered at once are not left waiting past their 10 s for a plan.
    std::thread::sleep(std::time::Duration::from_secs(12));
    daemons.push(WorkerDaemon::start(&format!("127.0.0.4:{port}"), SECRET));
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s: Value = serde_json::from_slice(&std::fs::read(summary_in(&results).unwrap()).unwrap()).unwrap();
    let addresses: Vec<&str> =
        s["workers"].as_array().unwrap().iter().map(|w| w["address"].as_str().unwrap()).collect();
    let expected: Vec<String> = (2..=4).map(|k| format!("127.0.0.{k}:{port}")).collect();
    assert_eq!(addresses, expected, "the three in service, not the terminating one");
    assert_eq!(n(&s, "/totals/calls"), 100);
    assert_eq!(s["verification"]["passed"], true);
    assert!(aws.group_calls.load(Ordering::SeqCst) >= 2, "it waited while one was pending");
    assert_eq!(aws.secret_reads.load(Ordering::SeqCst), 1, "the secret came from SSM");
    let instance_calls = aws.instance_calls.load(Ordering::SeqCst);
    assert!(instance_calls >= 2, "DescribeInstances was called ({instance_calls})");
    assert_eq!(aws.instance_calls_signed.load(Ordering::SeqCst), instance_calls, "every one signed for EC2");

    let out = aws_command(&url, dir.path()).args(["fleet", "status", "--stack", "hf"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("fleet hf: CREATE_COMPLETE"), "{stdout}");
    assert!(stdout.contains("workers: 3 of 3 in service, 0 pending, 1 leaving (group hf-WorkerGroup-1)"), "{stdout}");
    assert!(stdout.contains(&format!("  127.0.0.3:{port}")), "{stdout}");
}

#[test]
fn the_fleet_template_passes_cfn_lint_and_its_workers_may_invoke_only_the_function() {
    provisioned(); // cfn-lint
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("cfn-lint").arg("deploy/fleet.json").current_dir(&root).output().unwrap();
    assert!(out.status.success(), "cfn-lint: {}", text(&out));
    let t: Value = serde_json::from_slice(&std::fs::read(format!("{root}/deploy/fleet.json")).unwrap()).unwrap();
    let role = &t["Resources"]["WorkerRole"]["Properties"];
    assert!(role.get("ManagedPolicyArns").is_none(), "no broad managed policies");
    let statements = policy_statements(role);
    assert_eq!(statements.len(), 2, "{statements:?}");
    assert_eq!(statements[0]["Action"], "lambda:InvokeFunction");
    assert_eq!(
        statements[0]["Resource"],
        json!([{"Ref": "FunctionArn"}, {"Fn::Sub": "${FunctionArn}:*"}]),
        "the function's ARN (and its versions and aliases), nothing else"
    );
    assert_eq!(statements[1]["Action"], "ssm:GetParameter");
    assert_eq!(
        statements[1]["Resource"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SecretParameterName}"}),
        "the fleet's secret only"
    );
    let ingress = &t["Resources"]["WorkerSecurityGroup"]["Properties"]["SecurityGroupIngress"];
    assert_eq!(ingress.as_array().unwrap().len(), 1);
    assert_eq!(
        ingress[0]["SourceSecurityGroupId"],
        json!({"Ref": "CoordinatorSecurityGroupId"}),
        "the coordinator only"
    );
    assert_eq!(
        t["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"],
        "required",
        "IMDSv2"
    );
}

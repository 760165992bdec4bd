//! The AWS deployment, offline: the CloudFormation template passes cfn-lint, the
//! function's IAM policy names only the cluster's ARN, and the deploy and teardown
//! scripts run the commands they should.

use std::process::Command;

use serde_json::{json, Value};

mod common;

use common::*;

fn root() -> String {
    format!("{}/..", env!("CARGO_MANIFEST_DIR"))
}

fn template() -> Value {
    serde_json::from_slice(&std::fs::read(format!("{}/deploy/template.json", root())).unwrap()).unwrap()
}

#[test]
fn the_template_passes_cfn_lint() {
    provisioned(); // cfn-lint
    let out = Command::new("cfn-lint")
        .arg("deploy/template.json")
        .current_dir(root())
        .output()
        .expect("run cfn-lint (scripts/install-deps.sh installs it)");
    assert!(out.status.success(), "cfn-lint: {}", text(&out));
    // cfn-lint does fail on a broken template: an unknown attribute of the cluster.
    let dir = tempfile::tempdir().unwrap();
    let mut broken = template();
    broken["Outputs"]["ClusterEndpoint"]["Value"] = json!({"Fn::GetAtt": ["Cluster", "Hostname"]});
    let path = dir.path().join("broken.json");
    std::fs::write(&path, serde_json::to_vec(&broken).unwrap()).unwrap();
    let out = Command::new("cfn-lint").arg(&path).output().unwrap();
    assert!(!out.status.success() && text(&out).contains("Hostname"), "{}", text(&out));
}

#[test]
fn the_function_may_connect_to_its_cluster_only() {
    let t = template();
    let role = &t["Resources"]["FunctionRole"]["Properties"];
    let statements = policy_statements(role);
    assert_eq!(statements.len(), 1, "one statement: {statements:?}");
    let s = statements[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(s["Resource"], json!({"Fn::GetAtt": ["Cluster", "ResourceArn"]}), "the cluster's ARN and nothing else");
    assert_eq!(s["Action"], json!({"Fn::If": ["IsAdmin", "dsql:DbConnectAdmin", "dsql:DbConnect"]}));
    assert_eq!(
        role["ManagedPolicyArns"],
        json!([{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}]),
        "logs only"
    );
    let f = &t["Resources"]["Function"]["Properties"];
    assert_eq!((f["Runtime"].as_str(), f["Architectures"][0].as_str()), (Some("provided.al2023"), Some("arm64")));
    let env = &f["Environment"]["Variables"];
    assert_eq!(env["CLUSTER_ENDPOINT"], json!({"Fn::GetAtt": ["Cluster", "Endpoint"]}));
    assert_eq!(env["DB_USER"], json!({"Ref": "DatabaseRole"}));
    for output in ["ClusterEndpoint", "LambdaRoleArn", "InvokeTarget"] {
        assert!(t["Outputs"][output].is_object(), "output {output}");
    }
}

#[test]
fn deploy_and_teardown_run_the_right_commands() {
    let script = |name: &str, args: &[&str]| {
        Command::new(format!("{}/scripts/{name}", root())).args(args).output().expect("run the script")
    };
    let out = script(
        "deploy.sh",
        &["--bucket", "artifacts", "--region", "eu-west-1", "--role", "myapp", "--provisioned", "100", "--dry-run"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "+ cargo lambda build --profile lambda --arm64 --bin transfer-lambda --output-format zip");
    assert!(lines[1].starts_with(
        "+ aws --region eu-west-1 s3 cp target/lambda/transfer-lambda/bootstrap.zip s3://artifacts/transfer-lambda/"
    ));
    assert!(
        lines[2].contains("cloudformation deploy --stack-name reinvent-dat401 --template-file deploy/template.json")
    );
    assert!(lines[2].contains("DatabaseRole=myapp") && lines[2].contains("ProvisionedConcurrency=100"), "{}", lines[2]);
    let out = script("deploy.sh", &["--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--bucket is required"));
    let out = script("deploy.sh", &["--bucket", "b", "--role", "root", "--dry-run"]);
    assert!(text(&out).contains("--role must be admin or myapp"), "{}", text(&out));
    let out = script("teardown.sh", &["--stack", "mine", "--dry-run"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "+ aws cloudformation delete-stack --stack-name mine\n+ aws cloudformation wait stack-delete-complete --stack-name mine\n"
    );
}

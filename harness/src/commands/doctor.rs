//! `harness doctor`: build the clients, run the checks in order, print them.

use std::process::ExitCode;

use aws_config::{BehaviorVersion, Region};

use crate::cli::{DoctorArgs, Format};
use crate::doctor::{self, Finding, Status};

pub async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let sdk = match &args.endpoint_url {
        Some(_) => aws_config::SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("LOCAL", "local", None, None, "harness-local"),
            ))
            .behavior_version(BehaviorVersion::latest())
            .build(),
        None => workers::target::aws_sdk_config(args.db.region.clone(), args.db.profile.clone()).await,
    };
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "(no region)".into());
    let mut findings: Vec<Finding> = Vec::new();
    let table = args.format == Format::Table;
    let show = |f: Finding, findings: &mut Vec<Finding>| {
        if table {
            print!("{}", f.render());
        }
        findings.push(f);
    };
    show(doctor::credentials(&sdk).await, &mut findings);
    let client = match &args.endpoint_url {
        Some(url) => workers::LambdaTarget::local(url, &args.function, 1).client().clone(),
        None => aws_sdk_lambda::Client::new(&sdk),
    };
    if findings[0].ok() {
        show(doctor::invokable(&client, &args.function, &region).await, &mut findings);
    } else {
        show(skipped(doctor::INVOKE, "needs check 1"), &mut findings);
    }
    if findings[1].ok() {
        show(doctor::reaches_database(&client, &args.function, &region).await, &mut findings);
    } else {
        show(skipped(doctor::DATABASE, "needs check 2"), &mut findings);
    }
    let in_flight = match &args.scenario {
        Some(path) => {
            Some(crate::scenario::load(path, &crate::scenario::Overrides::default())?.engine.load.max_in_flight())
        }
        None => None,
    };
    let quotas = match (&args.endpoint_url, findings[0].ok()) {
        (Some(_), _) => skipped(doctor::quotas::QUOTAS, "a local endpoint has no account quotas (its limit is its environments)"),
        (None, false) => skipped(doctor::quotas::QUOTAS, "needs check 1"),
        (None, true) => match doctor::quotas::read(&client, &args.function).await {
            Ok(q) => doctor::quotas::judge(&q, in_flight, &region),
            Err(e) => Finding {
                check: doctor::quotas::QUOTAS,
                status: Status::Fail(doctor::Problem::new(
                    format!("cannot read them: {e}"),
                    "allow lambda:GetAccountSettings, lambda:GetFunctionConcurrency and lambda:ListProvisionedConcurrencyConfigs",
                )),
            },
        },
    };
    show(quotas, &mut findings);
    let schema = match args.db.target_if_given().await {
        Ok(None) => None,
        Ok(Some(target)) => Some(target.connect().await.map_err(|e| format!("{e:#}"))),
        Err(e) => Some(Err(format!("{e:#}"))),
    };
    match schema {
        None => show(skipped(doctor::SCHEMA, "give --dsql-endpoint (or --database-url) to check it"), &mut findings),
        Some(Ok(client)) => show(doctor::schema(&client, args.accounts).await, &mut findings),
        Some(Err(e)) => {
            let status = Status::Fail(doctor::connection_problem("ConnectionError", &e));
            show(Finding { check: doctor::SCHEMA, status }, &mut findings)
        }
    }
    let failed = findings.iter().filter(|f| matches!(f.status, Status::Fail(_))).count();
    if table {
        println!(
            "{}",
            if failed == 0 {
                "doctor: all checks passed".to_string()
            } else {
                format!("doctor: {failed} check(s) failed")
            }
        );
    } else {
        let checks: Vec<_> = findings.iter().map(Finding::to_json).collect();
        let v = serde_json::json!({ "passed": failed == 0, "failed": failed, "checks": checks });
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn skipped(check: &'static str, why: &str) -> Finding {
    Finding { check, status: Status::Skipped(why.to_string()) }
}

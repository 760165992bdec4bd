//! `harness doctor`: build the clients, run the checks in order, print them.

use std::process::ExitCode;

use aws_config::{BehaviorVersion, Region};

use crate::cli::{DoctorArgs, Format};
use crate::doctor::{self, Finding, Status};

pub async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let sdk = sdk_config(&args).await;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "(no region)".into());
    let mut findings = Findings { table: args.format == Format::Table, all: Vec::new() };
    findings.show(doctor::credentials(&sdk).await);
    let credentials_ok = findings.all[0].ok();
    let client = match &args.endpoint_url {
        Some(url) => workers::LambdaTarget::local(url, &args.function, 1).client().clone(),
        None => aws_sdk_lambda::Client::new(&sdk),
    };
    let plan = match &args.scenario {
        Some(path) => Some(crate::scenario::load(path, &crate::scenario::Overrides::default())?),
        None => None,
    };
    // Every function the scenario calls (the target's and its kinds' own), with the
    // calls it may have in flight at once.
    let functions = match &plan {
        Some(p) => crate::scenario::functions(&p.engine, &args.function),
        None => vec![(args.function.clone(), 0)],
    };
    let mut invokable = true;
    for (function, _) in &functions {
        let found = match credentials_ok {
            true => doctor::invokable(&client, function, &region).await,
            false => skipped(doctor::INVOKE, "needs check 1"),
        };
        invokable &= found.ok();
        findings.show(found);
    }
    // A function of the user's (a [workload] template) is called with the scenario's
    // payload, each kind of call with its own; the built-in one answers its
    // connectivity check.
    let own = plan.as_ref().filter(|p| p.engine.workload.op().is_none());
    match (invokable, own) {
        (false, _) => findings.show(skipped(doctor::DATABASE, "needs check 2")),
        (true, None) => findings.show(doctor::reaches_database(&client, &args.function, &region).await),
        (true, Some(plan)) => findings.extend(scenario_calls(&client, &args.function, &region, plan).await),
    }
    for (function, in_flight) in &functions {
        let in_flight = plan.as_ref().map(|_| *in_flight);
        let found = quotas(&args, &client, credentials_ok, (function, in_flight), &region).await;
        findings.show(named(function, functions.len() > 1, found));
    }
    findings.show(match own {
        None => schema(&args).await,
        Some(plan) => queries(&args, plan).await,
    });
    findings.finish()
}

/// `finding` with `what` before its detail, when several of its kind are shown.
fn named(what: &str, several: bool, finding: Finding) -> Finding {
    if !several {
        return finding;
    }
    let status = match finding.status {
        Status::Ok(d) => Status::Ok(format!("{what}: {d}")),
        Status::Skipped(d) => Status::Skipped(format!("{what}: {d}")),
        Status::Fail(p) => Status::Fail(doctor::Problem::new(format!("{what}: {}", p.what), p.fix)),
    };
    Finding { check: finding.check, status }
}

/// The AWS configuration, or placeholder credentials for a local endpoint.
async fn sdk_config(args: &DoctorArgs) -> aws_config::SdkConfig {
    match &args.endpoint_url {
        Some(_) => aws_config::SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("LOCAL", "local", None, None, "harness-local"),
            ))
            .behavior_version(BehaviorVersion::latest())
            .build(),
        None => workers::target::aws_sdk_config(args.db.region.clone(), args.db.profile.clone()).await,
    }
}

/// The account's concurrency quotas against the scenario's calls in flight.
async fn quotas(
    args: &DoctorArgs,
    client: &aws_sdk_lambda::Client,
    credentials_ok: bool,
    function: (&str, Option<u64>),
    region: &str,
) -> Finding {
    let (function, in_flight) = function;
    match (&args.endpoint_url, credentials_ok) {
        (Some(_), _) => {
            skipped(doctor::quotas::QUOTAS, "a local endpoint has no account quotas (its limit is its environments)")
        }
        (None, false) => skipped(doctor::quotas::QUOTAS, "needs check 1"),
        (None, true) => match doctor::quotas::read(client, function).await {
            Ok(q) => doctor::quotas::judge(&q, in_flight, region),
            Err(e) => Finding {
                check: doctor::quotas::QUOTAS,
                status: Status::Fail(doctor::diagnose::quota_problem(&e, function, region)),
            },
        },
    }
}

/// The database's schema, when a database was given.
async fn schema(args: &DoctorArgs) -> Finding {
    let connected = match args.db.target_if_given().await {
        Ok(None) => None,
        Ok(Some(target)) => Some(target.connect().await.map_err(|e| format!("{e:#}"))),
        Err(e) => Some(Err(format!("{e:#}"))),
    };
    match connected {
        None => skipped(doctor::SCHEMA, "give --dsql-endpoint (or --database-url) to check it"),
        Some(Ok(client)) => doctor::schema(&client, args.accounts).await,
        Some(Err(e)) => {
            Finding { check: doctor::SCHEMA, status: Status::Fail(doctor::diagnose::own_connection_problem(&e)) }
        }
    }
}

/// Mixed into the scenario's seed for doctor's call.
const DOCTOR_SEED: u64 = 0xD0C7_0D0C_7000_0001;

/// Check 3 with a payload of the scenario's and its `[response]`; with kinds of call,
/// one call of each kind, to its own function, read through its own answer map.
async fn scenario_calls(
    client: &aws_sdk_lambda::Client,
    function: &str,
    region: &str,
    plan: &crate::scenario::Plan,
) -> Vec<Finding> {
    // Drawn from another seed than the run's: this call commits like any other, and a
    // sequential or unique value it used would otherwise be the run's first one too.
    let seed = plan.engine.seed ^ DOCTOR_SEED;
    let e = &plan.engine;
    if e.kinds.is_empty() {
        return vec![scenario_call(client, (function, region), &e.workload, &e.response, seed).await];
    }
    let mut out = Vec::new();
    for k in &e.kinds {
        let function = k.function.as_deref().unwrap_or(function);
        let found = scenario_call(client, (function, region), &k.workload, &k.response, seed).await;
        out.push(named(&format!("kind {:?} ({function})", k.name), true, found));
    }
    out
}

/// One call with the next payload of `workload`, its answer read through `response`.
async fn scenario_call(
    client: &aws_sdk_lambda::Client,
    (function, region): (&str, &str),
    workload: &workers::Workload,
    response: &workers::ResponseMap,
    seed: u64,
) -> Finding {
    match workload.sampler(seed).next_payload() {
        Some(payload) => doctor::scenario_call(client, function, region, (&payload, response)).await,
        None => skipped(doctor::CALL, "the scenario's workload has no payload to send (no rows left)"),
    }
}

/// Check 5 for a function of the user's: its invariant queries run on the database.
async fn queries(args: &DoctorArgs, plan: &crate::scenario::Plan) -> Finding {
    let checks = crate::database::Checks::of_plan(plan);
    if checks.invariants.is_empty() {
        return skipped(doctor::QUERIES, "the scenario has no [[verify]] invariants");
    }
    let client = match args.db.target_if_given().await {
        Ok(None) => return skipped(doctor::QUERIES, "give --dsql-endpoint (or --database-url) to run them"),
        Ok(Some(target)) => target.connect().await.map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("{e:#}")),
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            let problem = doctor::diagnose::own_connection_problem(&e);
            return Finding { check: doctor::QUERIES, status: Status::Fail(problem) };
        }
    };
    let measured = crate::database::before(&client, &checks).await;
    let failed: Vec<String> = (checks.invariants.iter().zip(&measured))
        .filter_map(|(i, m)| m.as_ref().err().map(|e| format!("{}: {e}", i.name)))
        .collect();
    let status = match failed.is_empty() {
        true => Status::Ok(format!("{} queries ran", measured.len())),
        false => Status::Fail(doctor::Problem::new(
            failed.join("; "),
            "create the schema ([data] setup, `harness setup`) or fix the query in [[verify]]",
        )),
    };
    Finding { check: doctor::QUERIES, status }
}

/// The findings so far, each printed as it comes in a table.
struct Findings {
    table: bool,
    all: Vec<Finding>,
}

impl Findings {
    fn extend(&mut self, all: Vec<Finding>) {
        all.into_iter().for_each(|f| self.show(f));
    }

    fn show(&mut self, f: Finding) {
        if self.table {
            print!("{}", f.render());
        }
        self.all.push(f);
    }

    /// The verdict, as a line or as JSON, and the exit status.
    fn finish(self) -> anyhow::Result<ExitCode> {
        let failed = self.all.iter().filter(|f| matches!(f.status, Status::Fail(_))).count();
        if self.table {
            match failed {
                0 => println!("doctor: all checks passed"),
                n => println!("doctor: {n} check(s) failed"),
            }
        } else {
            let checks: Vec<_> = self.all.iter().map(Finding::to_json).collect();
            let v = serde_json::json!({ "passed": failed == 0, "failed": failed, "checks": checks });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
    }
}

fn skipped(check: &'static str, why: &str) -> Finding {
    Finding { check, status: Status::Skipped(why.to_string()) }
}

//! The run pipeline behind `harness run` (and the chapters' runs): plan -> results
//! folder -> target (starting the local stack when asked) -> engine or fleet with live
//! progress -> tear-down -> verification -> checks -> reports -> exit status.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use transfer::local::EnvironmentStats;
use workers::remote::WorkerTarget;
use workers::{Halt, InProcessTarget, StopReason, Target};

use crate::check;
use crate::clock::Timestamp;
use crate::coordinator;
use crate::database::{self, Verification};
use crate::invariants::{RunContext, RunCounts};
use crate::local_stack::{LocalDatabase, LocalStack};
use crate::record::{Driven, Record};
use crate::report::{RunReport, WorkerReport, SCHEMA_VERSION};
use crate::run_dir::RunDir;
use crate::scenario::{Plan, TargetSpec};
use crate::server::{self, ServerView};
use crate::signals::{Signals, Stopping};
use crate::stream::Outputs;

/// How a run goes besides its plan: reset the data first, the fleet's secret, and the
/// live outputs (opened by the caller before anything starts).
#[derive(Default)]
pub struct RunOptions {
    pub reset: bool,
    pub secret: Option<Vec<u8>>,
    pub outputs: Outputs,
    /// `--dashboard`: the live page, fed every second and given the final report.
    pub dashboard: Option<std::sync::Arc<crate::dashboard::Dashboard>>,
}

/// A finished run: its folder, its report (written there), its exit status, and what
/// went wrong while tearing down (the run's figures stand). The caller prints.
pub struct Finished {
    pub dir: RunDir,
    pub report: RunReport,
    pub exit: ExitCode,
    pub teardown: Vec<String>,
}

impl Finished {
    /// What a person reads at the end: the STATS block, where the files are, the
    /// thresholds' table.
    pub fn text(&self) -> anyhow::Result<String> {
        use crate::report::console::{checks_table, Console};
        use crate::report::Render;
        let mut text = String::from_utf8(Console.render(&self.report)?)?;
        let files: Vec<&str> = crate::run_dir::derived_files().iter().map(|(name, _)| *name).collect();
        text += &format!("Results: {} (summary.json, {})\n", self.dir.path().display(), files.join(", "));
        if !self.report.checks.is_empty() {
            text += &format!("\nThresholds:\n{}", checks_table(&self.report.checks));
        }
        Ok(text)
    }

    /// Print the text, and what went wrong while tearing down as warnings.
    pub fn print(&self) -> anyhow::Result<()> {
        print!("{}", self.text()?);
        for note in &self.teardown {
            eprintln!("warning: {note}");
        }
        Ok(())
    }
}

/// Run a validated plan into a new folder under `results`. Once the run folder exists,
/// the report is written whatever happens to the run: a signal, a lost worker, a
/// database that went away, an endpoint that failed to stop.
pub async fn execute(plan: Plan, results: &Path, options: RunOptions, signals: &Signals) -> anyhow::Result<Finished> {
    let RunOptions { reset, secret, outputs, dashboard } = options;
    let started_at = Timestamp::now();
    let dir = RunDir::create(results, &plan.name, started_at)?;
    let version = env!("CARGO_PKG_VERSION");
    let live = dir.live(version, started_at)?;
    if let Some(d) = &dashboard {
        d.begin(RunReport::skeleton(redacted(plan.clone()), dir.id(), started_at))?;
    }
    let record = Record::new(live, outputs, (&plan.name, &dir.id()), plan.engine.load.planned_calls())
        .with_dashboard(dashboard.clone());
    let ran = drive_target(&plan, (reset, &dir.function_logs()), secret, signals, record).await?;
    let w = &plan.engine.workload;
    let drawn_from = w.account_range().map_or(ran.driven.accounts.0.len() as u64, |(f, l)| (l - f + 1) as u64);
    let hot_accounts = crate::hot::hot_accounts(&ran.driven.accounts, drawn_from);
    let cost = crate::cost::of_run(&plan, &ran.driven.totals, ran.server.as_ref());
    let mut report = RunReport {
        schema_version: SCHEMA_VERSION,
        harness_version: version.to_string(),
        run_id: dir.id(),
        started_at,
        plan: redacted(plan),
        end: ran.driven.end,
        workers: ran.driven.workers,
        totals: ran.driven.totals,
        intervals: ran.driven.intervals,
        environments: ran.environments,
        verification: ran.verification,
        checks: Vec::new(),
        accounting: None,
        cost: Some(cost),
        hot_accounts,
        server: ran.server,
        coordinator: ran.driven.coordinator,
    };
    report.accounting = Some(report.accounting());
    // Every run is checked: without `[thresholds]`, its failed calls against the default.
    report.checks = check::evaluate(&report, &report.plan.thresholds, None);
    dir.write(&report)?;
    if let Some(d) = &dashboard {
        d.finish(&report).await;
    }
    let exit = exit_status(&report, signals.first());
    Ok(Finished { dir, report, exit, teardown: ran.teardown })
}

/// The one place a run's exit status is decided (documented in `harness run --help`).
fn exit_status(report: &RunReport, signal: Option<Stopping>) -> ExitCode {
    if let Some(signal) = signal {
        return ExitCode::from(signal.exit_code());
    }
    let verification_failed = report.verification.as_ref().is_some_and(|v| !v.passed);
    let thresholds_failed = report.checks.iter().any(|c| !c.passed);
    let lost = report.workers.iter().any(WorkerReport::lost);
    let unaccounted = !report.accounting().holds();
    // Not every planned call was started: the time limit, or a worker stopped early.
    let incomplete = report.end.stop != StopReason::Completed && !report.plan.allow_incomplete;
    if verification_failed || thresholds_failed || lost || incomplete || unaccounted {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// What a run produced besides its report's header.
struct Ran {
    driven: Driven,
    environments: Option<EnvironmentStats>,
    verification: Option<Verification>,
    /// What went wrong while tearing down (the run's figures stand).
    teardown: Vec<String>,
    /// What Lambda and the database counted themselves.
    server: Option<ServerView>,
}

/// Set up the target (starting the local stack when asked), drive the load, tear down
/// and verify.
async fn drive_target(
    plan: &Plan,
    (reset, function_logs): (bool, &Path),
    secret: Option<Vec<u8>>,
    signals: &Signals,
    record: Record,
) -> anyhow::Result<Ran> {
    let (client, log_tail) = (plan.client, plan.log_tail);
    let mut teardown = Vec::new();
    match plan.target.clone() {
        TargetSpec::Local { function, database_url } => {
            let (db, before) = LocalBefore::start(plan, database_url, reset).await?;
            let config = plan.local.endpoint_config(&function, plan.workers.as_ref());
            let stack = match &plan.local.function {
                Some(f) => LocalStack::host(db, config, f, function_logs).await?,
                None => LocalStack::start(db, config, plan.local.retry_policy).await?,
            };
            let url = stack.url().to_string();
            let target = WorkerTarget::Endpoint { url, function, h2c: true, client, log_tail };
            let driven = drive(plan, Source::Described(target), secret, signals.halt(), record).await?;
            let environments = stack.stats().await.map_err(|e| teardown.push(format!("{e:#}"))).ok();
            let (db, stopped) = stack.stop_unless(signals.halt()).await;
            teardown.extend(stopped.err().map(|e| format!("{e:#}")));
            let (server, verification) = before.after(plan, &db, environments.as_ref(), &driven, &mut teardown).await;
            Ok(Ran { driven, environments, verification, teardown, server })
        }
        TargetSpec::InProcess { database_url } => {
            let (db, before) = LocalBefore::start(plan, database_url, reset).await?;
            let target =
                Arc::new(InProcessTarget::new(plan.local.environments, db.database(), plan.local.retry_policy));
            let driven = drive(plan, Source::InProcess(target.clone()), secret, signals.halt(), record).await?;
            // The function's connections close first, so PostgreSQL has counted their commits.
            let environments = Some(target.stats());
            drop(target);
            let (server, verification) = before.after(plan, &db, None, &driven, &mut teardown).await;
            Ok(Ran { driven, environments, verification, teardown, server })
        }
        TargetSpec::Endpoint { url, function } => {
            let target = WorkerTarget::Endpoint { url, function, h2c: false, client, log_tail };
            let driven = drive(plan, Source::Described(target), secret, signals.halt(), record).await?;
            Ok(Ran { driven, environments: None, verification: None, teardown, server: None })
        }
        TargetSpec::Aws { function, access, cluster_id, cluster_endpoint } => {
            if access.endpoint_url.is_none() {
                for (function, in_flight) in crate::scenario::functions(&plan.engine, &function) {
                    warn_about_quotas(&function, &access, in_flight).await;
                }
            }
            let cluster = crate::cluster::target(&access, (cluster_id.as_deref(), cluster_endpoint), plan).await;
            let before = match &cluster {
                Some(db) => crate::cluster::before(db, plan).await,
                None => Vec::new(),
            };
            let from = std::time::SystemTime::now();
            let target = WorkerTarget::Aws { function: function.clone(), access: access.clone(), client, log_tail };
            let driven = drive(plan, Source::Described(target), secret, signals.halt(), record).await?;
            let verification = match &cluster {
                Some(db) => Some(crate::cluster::verify(db, plan, before, &driven).await),
                None => None,
            };
            let request = server::cloudwatch::Request {
                function,
                cluster: cluster_id,
                from,
                to: std::time::SystemTime::now(),
                // CloudWatch's view is of target.function: the kinds of call sent to
                // functions of their own are not its.
                answered: crate::scenario::answered_by_target(&plan.engine, &driven.totals),
            };
            let server = Some(aws_view(&access, &request).await);
            Ok(Ran { driven, environments: None, verification, teardown, server })
        }
    }
}

/// The local database's state before the load, for the verification and the
/// server-side view after it.
struct LocalBefore {
    /// Each invariant's value, for its bound's `before`.
    invariants: Vec<Result<Option<crate::invariants::Number>, String>>,
    snapshot: server::local::PgSnapshot,
    from: std::time::SystemTime,
}

impl LocalBefore {
    /// Start (or reach) the local database, and note its state before the load.
    async fn start(
        plan: &Plan,
        database_url: Option<String>,
        reset: bool,
    ) -> anyhow::Result<(LocalDatabase, LocalBefore)> {
        let db = LocalDatabase::start_on(database_url, database::DataSetup::of(plan), reset, true, front(plan)).await?;
        if let Some(front) = &db.front {
            front.set_latency(std::time::Duration::from_secs_f64(plan.local.dsql_latency_s));
        }
        let invariants = database::before(&db.client, &database::Checks::of_plan(plan)).await;
        let log = db.server_log();
        let snapshot = server::local::snapshot(&db.client, db.conflict_source(log.as_deref()), &db.own_pids()).await?;
        Ok((db, LocalBefore { invariants, snapshot, from: std::time::SystemTime::now() }))
    }

    /// After the load: the server-side view (why there is none goes to `teardown`) and
    /// the verification.
    async fn after(
        self,
        plan: &Plan,
        db: &LocalDatabase,
        endpoint: Option<&EnvironmentStats>,
        driven: &Driven,
        teardown: &mut Vec<String>,
    ) -> (Option<ServerView>, Option<Verification>) {
        let server = local_view(db, endpoint, self.snapshot, self.from).await;
        let server = server.map_err(|e| teardown.push(format!("the server-side view: {e:#}"))).ok();
        (server, Some(verify_run(plan, db, self.invariants, driven).await))
    }
}

/// Before an AWS run: say so when the account's quota (or the function's reserved
/// concurrency) will throttle the scenario's calls in flight, so that its 429s are not
/// taken for the function's.
async fn warn_about_quotas(function: &str, access: &workers::target::AwsAccess, in_flight: u64) {
    let sdk = workers::target::aws_sdk_config(access.region.clone(), access.profile.clone()).await;
    let region = sdk.region().map_or("(no region)".to_string(), |r| r.to_string());
    match crate::doctor::quotas::read(&aws_sdk_lambda::Client::new(&sdk), function).await {
        Ok(q) => {
            if let crate::doctor::Status::Fail(p) = crate::doctor::quotas::judge(&q, Some(in_flight), &region).status {
                eprintln!(
                    "warning: {}
         fix: {}",
                    p.what, p.fix
                );
            }
        }
        Err(e) => {
            eprintln!("warning: could not read the concurrency quotas ({e}); `harness doctor --scenario FILE` explains")
        }
    }
}

/// The local stack's server-side view: the endpoint's counters, and PostgreSQL's since
/// the `before` snapshot (taken once the endpoint's sessions have ended).
async fn local_view(
    db: &LocalDatabase,
    endpoint: Option<&EnvironmentStats>,
    before: server::local::PgSnapshot,
    from: std::time::SystemTime,
) -> anyhow::Result<ServerView> {
    let client = db.reconnect(VERIFY_PATIENCE).await?;
    let log = db.server_log();
    let after = server::local::snapshot(&client, db.conflict_source(log.as_deref()), &db.own_pids()).await?;
    let window = (Timestamp::from_system(from), Timestamp::now());
    Ok(server::local::view(endpoint, before, after, log.as_ref(), window))
}

/// CloudWatch's view of an AWS run, or a view that says why there is none (yet, or at
/// all: a function reached at an emulator's endpoint URL).
pub async fn aws_view(access: &workers::target::AwsAccess, request: &server::cloudwatch::Request) -> ServerView {
    // An emulator, or another Invoke endpoint: CloudWatch has nothing of it.
    if let Some(url) = access.endpoint_url.as_deref().filter(|u| !server::is_aws_endpoint(u)) {
        return ServerView::not_aws(url, request);
    }
    // The same through the AWS configuration's variables, unless CloudWatch is given an
    // endpoint of its own (a recording, a CloudWatch emulator).
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let own_cloudwatch = env("AWS_ENDPOINT_URL_CLOUDWATCH").is_some() || env("AWS_ENDPOINT_URL").is_some();
    if let Some(url) = env("AWS_ENDPOINT_URL_LAMBDA").filter(|u| !own_cloudwatch && !server::is_aws_endpoint(u)) {
        return ServerView::not_aws(&url, request);
    }
    let sdk = workers::target::aws_sdk_config(access.region.clone(), access.profile.clone()).await;
    let client = aws_sdk_cloudwatch::Client::new(&sdk);
    match server::cloudwatch::fetch(&client, request).await {
        Ok(view) => view,
        Err(e) => ServerView {
            source: "CloudWatch".into(),
            from: Timestamp::from_system(request.from),
            to: Timestamp::from_system(request.to),
            complete: false,
            notes: vec![format!("{e:#}; `harness report RUN_DIR --fetch-metrics` tries again")],
            lambda: None,
            database: None,
        },
    }
}

/// Where the load goes: the function called in this process, or a target described
/// once, for the fleet or for this process's engine alike.
enum Source {
    InProcess(Arc<InProcessTarget>),
    Described(WorkerTarget),
}

/// Drive the load into the record: a described target through the plan's fleet when it
/// has one, else through the client it names in this process's engine.
async fn drive(
    plan: &Plan,
    source: Source,
    secret: Option<Vec<u8>>,
    halt: watch::Receiver<Halt>,
    record: Record,
) -> anyhow::Result<Driven> {
    match (source, &plan.workers) {
        (Source::Described(target), Some(fleet)) => coordinator::drive(plan, fleet, target, secret, halt, record).await,
        (Source::Described(target), None) => {
            let invoker = target.invoker(plan.engine.load.max_in_flight()).await?;
            Ok(drive_here(plan, Arc::new(invoker), halt, record).await)
        }
        (Source::InProcess(target), _) => Ok(drive_here(plan, target, halt, record).await),
    }
}

/// Drive the load with this process's engine.
async fn drive_here<T: Target>(plan: &Plan, target: Arc<T>, halt: watch::Receiver<Halt>, mut record: Record) -> Driven {
    let (events, mut received) = mpsc::unbounded_channel();
    let engine = workers::engine::run(&plan.engine, target, halt, events);
    let watch = async {
        while let Some(interval) = received.recv().await {
            record.second(interval);
        }
    };
    let (end, ()) = tokio::join!(engine, watch);
    let (totals, intervals, accounts) = record.finish();
    let local = WorkerReport {
        name: "local".into(),
        status: end.stop.into(),
        elapsed_s: end.elapsed_s,
        totals: totals.clone(),
        ..WorkerReport::default()
    };
    Driven { end, totals, intervals, workers: vec![local], accounts, coordinator: None }
}

/// Verify the data after the run, on a new connection (the database may have restarted
/// during the run), retried for a while; if it stays out of reach the verification says
/// it could not run, and why. `before`: each invariant's value before the load.
async fn verify_run(
    plan: &Plan,
    db: &LocalDatabase,
    before: Vec<Result<Option<crate::invariants::Number>, String>>,
    driven: &Driven,
) -> Verification {
    // A lost worker's calls that may have committed unreported: at most its lease.
    let unreported: u64 = driven.workers.iter().map(|w| w.unreported_at_most).sum();
    let run = RunContext { counts: RunCounts::of(&driven.totals, unreported), before };
    let client = db.reconnect(VERIFY_PATIENCE).await;
    database::verify_connected(client, &database::Checks::of_plan(plan), Some(&run)).await
}

/// The local database's mode, and the port a hosted function finds the DSQL front on.
fn front(plan: &Plan) -> (crate::local_stack::LocalDb, Option<u16>) {
    (plan.local.database, plan.local.function.as_ref().map(|f| f.database_port))
}

/// How long verification waits for the database to come back.
const VERIFY_PATIENCE: Duration = Duration::from_secs(30);

fn redacted(mut plan: Plan) -> Plan {
    // A hosted function's own variables may hold secrets: their names are kept.
    if let Some(f) = &mut plan.local.function {
        f.env.values_mut().for_each(|v| *v = "(redacted)".to_string());
    }
    match &mut plan.target {
        TargetSpec::Local { database_url: Some(u), .. } | TargetSpec::InProcess { database_url: Some(u) } => {
            *u = transfer::db::redact(u);
        }
        _ => {}
    }
    plan
}

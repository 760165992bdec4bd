//! The run pipeline behind `harness run` (and the chapters' runs): plan -> results
//! folder -> target (starting the local stack when asked) -> engine or fleet with live
//! progress -> tear-down -> verification -> checks -> reports -> exit status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use transfer::local::EnvironmentStats;
use workers::fleet::WorkerTarget;
use workers::lean::Invoker;
use workers::{ErrorClass, Halt, InProcessTarget, Op, Stats, StopReason, Target};

use crate::check;
use crate::coordinator;
use crate::database::{self, Verification};
use crate::local_stack::{LocalDatabase, LocalStack};
use crate::record::{Driven, Record};
use crate::report::console::{checks_table, Console};
use crate::report::hlog::Hlog;
use crate::report::live::LiveFiles;
use crate::report::{json::Json, Render, RunReport, WorkerReport, SCHEMA_VERSION};
use crate::scenario::{FleetSpec, Plan, TargetSpec, Thresholds};
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
}

/// Run a validated plan into a new folder under `results`; the exit status and report.
/// Once the run folder exists, the report is written whatever happens to the run: a
/// signal, a lost worker, a database that went away, an endpoint that failed to stop.
pub async fn execute(
    plan: Plan,
    results: &Path,
    options: RunOptions,
    signals: &Signals,
) -> anyhow::Result<(ExitCode, RunReport)> {
    let RunOptions { reset, secret, outputs } = options;
    let started_at = std::time::SystemTime::now();
    let dir = results_dir(results, &plan.name, started_at)?;
    let run_id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let version = env!("CARGO_PKG_VERSION");
    // The hlog's StartTime in whole seconds, as summary.json's started_at, so the live
    // log and the one re-rendered from the summary are the same.
    let whole =
        std::time::UNIX_EPOCH + Duration::from_secs(started_at.duration_since(std::time::UNIX_EPOCH)?.as_secs());
    let live = LiveFiles::create(&dir, Hlog::comment(version, &run_id, &rfc3339(started_at)), whole)?;
    let record = Record::new(live, outputs, (&plan.name, &run_id), plan.engine.load.planned_calls());
    let ran = drive_target(&plan, reset, secret, signals, record).await?;
    let w = &plan.engine.workload;
    let hot_accounts = crate::hot::hot_accounts(&ran.driven.accounts, (w.last_account - w.first_account + 1) as u64);
    let mut report = RunReport {
        schema_version: SCHEMA_VERSION,
        harness_version: version.to_string(),
        run_id,
        started_at: rfc3339(started_at),
        plan: redacted(plan),
        end: ran.driven.end,
        workers: ran.driven.workers,
        totals: ran.driven.totals,
        intervals: ran.driven.intervals,
        environments: ran.environments,
        verification: ran.verification,
        checks: Vec::new(),
        accounting: None,
        cost: None,
        hot_accounts,
        server: ran.server,
        coordinator: ran.driven.coordinator,
    };
    report.accounting = Some(report.accounting());
    report.cost = Some(crate::cost::of_run(&report));
    if report.plan.thresholds != Thresholds::default() {
        report.checks = check::evaluate(&report, &report.plan.thresholds, None);
    }
    let summary = dir.join("summary.json");
    std::fs::write(&summary, Json.render(&report)?).with_context(|| format!("writing {}", summary.display()))?;
    crate::report::write_derived(&dir, &report)?;
    print!("{}", String::from_utf8(Console.render(&report)?)?);
    let files: Vec<&str> = crate::report::derived_files().iter().map(|(name, _)| *name).collect();
    println!("Results: {} (summary.json, {})", dir.display(), files.join(", "));
    if !report.checks.is_empty() {
        print!("\nThresholds:\n{}", checks_table(&report.checks));
    }
    for note in &ran.teardown {
        eprintln!("warning: {note}");
    }
    Ok((exit_status(&report, signals.first()), report))
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
    reset: bool,
    secret: Option<Vec<u8>>,
    signals: &Signals,
    record: Record,
) -> anyhow::Result<Ran> {
    let max_in_flight = plan.engine.load.max_in_flight();
    let (client, log_tail) = (plan.client, plan.log_tail);
    let mut teardown = Vec::new();
    match plan.target.clone() {
        TargetSpec::Local { function, database_url } => {
            let db = LocalDatabase::start(database_url, plan.data, reset, true).await?;
            let history_before = history_rows(&db).await?;
            let before = server::local::snapshot(&db.client, db.server_log().as_deref()).await?;
            let from = std::time::SystemTime::now();
            let config = plan.local.endpoint_config(&function, plan.workers.as_ref());
            let stack = LocalStack::start(db, config, plan.local.retry_policy).await?;
            let source = match &plan.workers {
                Some(fleet) => Source::Fleet(
                    fleet,
                    WorkerTarget::Endpoint { url: stack.url().to_string(), function, h2c: true, client, log_tail },
                ),
                None => Source::Here(Arc::new(
                    Invoker::local(client, stack.url(), &function, max_in_flight)
                        .map_err(anyhow::Error::msg)?
                        .with_log_tail(log_tail),
                )),
            };
            let driven = drive(plan, source, secret, signals.halt(), record).await?;
            let environments = stack.stats().await.map_err(|e| teardown.push(format!("{e:#}"))).ok();
            let (db, stopped) = stack.stop_unless(signals.halt()).await;
            teardown.extend(stopped.err().map(|e| format!("{e:#}")));
            let server = local_view(&db, environments.as_ref(), before, from).await;
            let server = server.map_err(|e| teardown.push(format!("the server-side view: {e:#}"))).ok();
            let verification = Some(verify_run(plan, &db, history_before, &driven).await);
            Ok(Ran { driven, environments, verification, teardown, server })
        }
        TargetSpec::InProcess { database_url } => {
            let db = LocalDatabase::start(database_url, plan.data, reset, true).await?;
            let history_before = history_rows(&db).await?;
            let before = server::local::snapshot(&db.client, db.server_log().as_deref()).await?;
            let from = std::time::SystemTime::now();
            let target =
                Arc::new(InProcessTarget::new(plan.local.environments, db.database(), plan.local.retry_policy));
            let driven = drive(plan, Source::Here(target.clone()), secret, signals.halt(), record).await?;
            let server = local_view(&db, None, before, from).await;
            let server = server.map_err(|e| teardown.push(format!("the server-side view: {e:#}"))).ok();
            let verification = Some(verify_run(plan, &db, history_before, &driven).await);
            Ok(Ran { driven, environments: Some(target.stats()), verification, teardown, server })
        }
        TargetSpec::Endpoint { url, function } => {
            let source = match &plan.workers {
                Some(fleet) => {
                    Source::Fleet(fleet, WorkerTarget::Endpoint { url, function, h2c: false, client, log_tail })
                }
                None => Source::Here(Arc::new(
                    Invoker::endpoint(client, &url, &function, max_in_flight)
                        .map_err(anyhow::Error::msg)?
                        .with_log_tail(log_tail),
                )),
            };
            let driven = drive(plan, source, secret, signals.halt(), record).await?;
            Ok(Ran { driven, environments: None, verification: None, teardown, server: None })
        }
        TargetSpec::Aws { function, access, cluster_id } => {
            if access.endpoint_url.is_none() {
                warn_about_quotas(&function, &access, max_in_flight).await;
            }
            let from = std::time::SystemTime::now();
            let source = match &plan.workers {
                Some(fleet) => Source::Fleet(
                    fleet,
                    WorkerTarget::Aws { function: function.clone(), access: access.clone(), client, log_tail },
                ),
                None => Source::Here(Arc::new(
                    Invoker::aws(client, &function, &access, max_in_flight)
                        .await
                        .map_err(anyhow::Error::msg)?
                        .with_log_tail(log_tail),
                )),
            };
            let driven = drive(plan, source, secret, signals.halt(), record).await?;
            let request = server::cloudwatch::Request {
                function,
                cluster: cluster_id,
                from,
                to: std::time::SystemTime::now(),
                answered: answered(&driven.totals),
            };
            let server = Some(aws_view(&access, &request).await);
            Ok(Ran { driven, environments: None, verification: None, teardown, server })
        }
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
    let after = server::local::snapshot(&client, log.as_deref()).await?;
    let window = (rfc3339(from), rfc3339(std::time::SystemTime::now()));
    Ok(server::local::view(endpoint, before, after, log.as_ref(), window))
}

/// CloudWatch's view of an AWS run, or a view that says why there is none yet.
pub async fn aws_view(access: &workers::target::AwsAccess, request: &server::cloudwatch::Request) -> ServerView {
    let sdk = workers::target::aws_sdk_config(access.region.clone(), access.profile.clone()).await;
    let client = aws_sdk_cloudwatch::Client::new(&sdk);
    match server::cloudwatch::fetch(&client, request).await {
        Ok(view) => view,
        Err(e) => ServerView {
            source: "CloudWatch".into(),
            from: rfc3339(request.from),
            to: rfc3339(request.to),
            complete: false,
            notes: vec![format!("{e:#}; `harness report RUN_DIR --fetch-metrics` tries again")],
            lambda: None,
            database: None,
        },
    }
}

/// Calls Lambda answered: neither throttled, refused, lost in transport, nor unanswered.
pub fn answered(t: &Stats) -> u64 {
    let lost: u64 =
        [ErrorClass::Throttle, ErrorClass::Service, ErrorClass::Transport, ErrorClass::Timeout, ErrorClass::Abandoned]
            .iter()
            .map(|c| t.errors.get(c).copied().unwrap_or(0))
            .sum();
    t.calls.saturating_sub(lost)
}

/// Where the load comes from: this process's engine, or a fleet of workers.
enum Source<'a, T> {
    Here(Arc<T>),
    Fleet(&'a FleetSpec, WorkerTarget),
}

/// Drive the load from either source into the record.
async fn drive<T: Target>(
    plan: &Plan,
    source: Source<'_, T>,
    secret: Option<Vec<u8>>,
    halt: watch::Receiver<Halt>,
    mut record: Record,
) -> anyhow::Result<Driven> {
    let target = match source {
        Source::Fleet(fleet, target) => return coordinator::drive(plan, fleet, target, secret, halt, record).await,
        Source::Here(target) => target,
    };
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
    Ok(Driven { end, totals, intervals, workers: vec![local], accounts, coordinator: None })
}

async fn history_rows(db: &LocalDatabase) -> anyhow::Result<i64> {
    Ok(transfer::schema::totals(&db.client).await?.history_rows)
}

/// Verify the data after the run, on a new connection (the database may have restarted
/// during the run), retried for a while; if it stays out of reach the verification says
/// it could not run, and why.
async fn verify_run(plan: &Plan, db: &LocalDatabase, history_before: i64, driven: &Driven) -> Verification {
    let client = match db.reconnect(VERIFY_PATIENCE).await {
        Ok(client) => client,
        Err(e) => return Verification::could_not_run(format!("{e:#}")),
    };
    let mut v = match database::verify(&client, plan.data).await {
        Ok(v) => v,
        Err(e) => return Verification::could_not_run(format!("{e:#}")),
    };
    if plan.engine.workload.op == Op::Transfer {
        let totals = &driven.totals;
        // A lost worker's calls that may have committed unreported: at most its lease.
        let unreported: u64 = driven.workers.iter().map(|w| w.unreported_at_most).sum();
        let unknown = (unknown_outcomes(totals) + unreported) as i64;
        v.check_run(history_before, totals.successes as i64, unknown);
    }
    v
}

/// Calls that may have committed although the client did not see a success: no answer
/// in time, no response at all, given up at the drain deadline, a function timeout (it
/// may have been at COMMIT), and a connection lost at COMMIT.
fn unknown_outcomes(totals: &Stats) -> u64 {
    let classes: u64 = [ErrorClass::Timeout, ErrorClass::Transport, ErrorClass::Abandoned]
        .iter()
        .filter_map(|c| totals.errors.get(c))
        .sum();
    let maybe_committed = [transfer::error::COMMIT_UNKNOWN, transfer::error::TIMEOUT].map(|t| format!("function: {t}"));
    let functions: u64 = totals
        .error_messages
        .iter()
        .filter(|(k, _)| maybe_committed.iter().any(|prefix| k.starts_with(prefix.as_str())))
        .map(|(_, n)| n)
        .sum();
    classes + functions
}

/// How long verification waits for the database to come back.
const VERIFY_PATIENCE: Duration = Duration::from_secs(30);

/// `results/<UTC date>-<time>-<scenario>`, created now so that a bad path fails before
/// the run starts.
fn results_dir(base: &Path, name: &str, at: std::time::SystemTime) -> anyhow::Result<PathBuf> {
    let stamp: String = rfc3339(at).chars().filter(|c| c.is_ascii_digit() || *c == 'T').take(15).collect();
    let stamp = stamp.replace('T', "-");
    for n in 1..1000 {
        let id = if n == 1 { format!("{stamp}-{name}") } else { format!("{stamp}-{name}-{n}") };
        let dir = base.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(base).with_context(|| format!("creating --results {}", base.display()))?;
                std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
                return Ok(dir);
            }
            Err(e) => return Err(e).with_context(|| format!("creating {} (check --results)", dir.display())),
        }
    }
    anyhow::bail!("too many runs named {name} in this second under {}", base.display())
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

fn redacted(mut plan: Plan) -> Plan {
    match &mut plan.target {
        TargetSpec::Local { database_url: Some(u), .. } | TargetSpec::InProcess { database_url: Some(u) } => {
            *u = transfer::db::redact(u);
        }
        _ => {}
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_764_000_000)), "2025-11-24T16:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
    }
}

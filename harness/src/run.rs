//! `harness run SCENARIO`: plan -> results folder -> target (starting the local stack
//! when asked) -> engine with live progress -> verification -> reports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use transfer::local::EndpointConfig;
use workers::fleet::WorkerTarget;
use workers::{EngineEnd, ErrorClass, InProcessTarget, Interval, LambdaTarget, Op, Stats, StopReason, Target};

use crate::check;
use crate::cli::RunArgs;
use crate::database::{self, Verification};
use crate::fleet::{self, FleetRun};
use crate::local_stack::{LocalDatabase, LocalStack};
use crate::progress::Progress;
use crate::report::hlog::Hlog;
use crate::report::live::LiveFiles;
use crate::report::{console::Console, json::Json, Render, RunReport, WorkerReport, SCHEMA_VERSION};
use crate::scenario::{self, Plan, TargetSpec, Thresholds};

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = scenario::load(&args.scenario, &args.overrides.to_overrides())?;
    let secret = crate::worker::secret(args.worker_secret_file.as_deref())?;
    Ok(execute(plan, &args.results, args.reset, secret).await?.0)
}

/// Run a validated plan into a new folder under `results`; the exit status and report.
pub async fn execute(
    plan: Plan,
    results: &Path,
    reset: bool,
    secret: Option<Vec<u8>>,
) -> anyhow::Result<(ExitCode, RunReport)> {
    let started_at = std::time::SystemTime::now();
    let dir = results_dir(results, &plan.name, started_at)?;
    let run_id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let version = env!("CARGO_PKG_VERSION");
    let live = LiveFiles::create(&dir, Hlog::comment(version, &run_id, &rfc3339(started_at)))?;
    let cancel = cancel_on_ctrl_c(plan.engine.drain_timeout_s);

    let (driven, environments, verification) = match plan.target.clone() {
        TargetSpec::Local { function, database_url } => {
            let db = LocalDatabase::start(database_url, plan.data, reset, true).await?;
            let history_before = history_rows(&db).await?;
            let config = EndpointConfig {
                environments: plan.local.environments,
                overflow: plan.local.overflow,
                timeout: Duration::from_secs_f64(plan.local.function_timeout_s),
                function_name: function.clone(),
                ..EndpointConfig::default()
            };
            let config = match plan.workers.as_ref().and_then(|f| f.endpoint_address) {
                Some(ip) => EndpointConfig { listen: SocketAddr::new(ip, 0), allow_non_loopback: true, ..config },
                None => config,
            };
            let stack = LocalStack::start(db, config, plan.retry_policy()).await?;
            let driven = match &plan.workers {
                Some(fleet) => {
                    let target = WorkerTarget::Endpoint { url: stack.url().to_string(), function: function.clone() };
                    fleet::drive(&plan, fleet, target, secret, cancel, live).await?.into()
                }
                None => {
                    let max_in_flight = plan.engine.load.max_in_flight();
                    let target = Arc::new(LambdaTarget::local(stack.url(), &function, max_in_flight));
                    drive(&plan, target, cancel, live).await
                }
            };
            let environments = stack.stats().await?;
            let db = stack.stop().await?;
            let verification = verify_run(&plan, &db, history_before, &driven).await?;
            (driven, Some(environments), Some(verification))
        }
        TargetSpec::InProcess { database_url } => {
            let db = LocalDatabase::start(database_url, plan.data, reset, true).await?;
            let history_before = history_rows(&db).await?;
            let target = Arc::new(InProcessTarget::new(plan.local.environments, db.database(), plan.retry_policy()));
            let driven = drive(&plan, target.clone(), cancel, live).await;
            let verification = verify_run(&plan, &db, history_before, &driven).await?;
            (driven, Some(target.stats()), Some(verification))
        }
        TargetSpec::Aws { function, region, profile } => {
            let driven = match &plan.workers {
                Some(fleet) => {
                    let target = WorkerTarget::Aws { function, region, profile };
                    fleet::drive(&plan, fleet, target, secret, cancel, live).await?.into()
                }
                None => {
                    let max_in_flight = plan.engine.load.max_in_flight();
                    let target = Arc::new(LambdaTarget::aws(&function, region, profile, max_in_flight).await);
                    drive(&plan, target, cancel, live).await
                }
            };
            (driven, None, None)
        }
    };
    let report = RunReport {
        schema_version: SCHEMA_VERSION,
        harness_version: version.to_string(),
        run_id,
        started_at: rfc3339(started_at),
        plan: redacted(plan),
        end: driven.end,
        workers: driven.workers,
        totals: driven.totals,
        intervals: driven.intervals,
        environments,
        verification,
    };
    let summary = dir.join("summary.json");
    std::fs::write(&summary, Json.render(&report)?).with_context(|| format!("writing {}", summary.display()))?;
    crate::report::write_derived(&dir, &report)?;
    print!("{}", String::from_utf8(Console.render(&report)?)?);
    let files: Vec<&str> = crate::report::derived_files().iter().map(|(name, _)| *name).collect();
    println!("Results: {} (summary.json, {})", dir.display(), files.join(", "));
    let thresholds_failed = if report.plan.thresholds != Thresholds::default() {
        let checks = check::evaluate(&report, &report.plan.thresholds, None);
        print!("\nThresholds:\n{}", check::table(&checks));
        checks.iter().any(|c| !c.passed)
    } else {
        false
    };

    let lost = report.workers.iter().any(WorkerReport::lost);
    let code = if report.verification.as_ref().is_some_and(|v| !v.passed) || thresholds_failed || lost {
        ExitCode::from(1)
    } else if report.end.stop == StopReason::Cancelled {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    };
    Ok((code, report))
}

/// What the engine produced: how it ended, the merged totals, and every interval
/// (packed, so memory stays flat however long the run).
struct Driven {
    end: EngineEnd,
    totals: Stats,
    intervals: Vec<Interval>,
    workers: Vec<WorkerReport>,
}

impl From<FleetRun> for Driven {
    fn from(f: FleetRun) -> Driven {
        Driven { end: f.end, totals: f.totals, intervals: f.intervals, workers: f.workers }
    }
}

/// Run the engine and show progress.
async fn drive<T: Target>(plan: &Plan, target: Arc<T>, cancel: watch::Receiver<bool>, mut live: LiveFiles) -> Driven {
    let (events, mut received) = mpsc::unbounded_channel();
    let engine = workers::engine::run(&plan.engine, target, cancel, events);
    let watch = async {
        let mut progress = Progress::new(plan.engine.load.planned_calls());
        let (mut totals, mut intervals) = (Stats::default(), Vec::new());
        while let Some(mut interval) = received.recv().await {
            progress.update(&interval);
            if let Err(e) = live.append(&interval) {
                tracing::warn!("could not append to the run folder: {e:#}");
            }
            totals.merge(&interval.stats);
            interval.stats.pack();
            intervals.push(interval);
        }
        progress.finish();
        (totals, intervals)
    };
    let (end, (totals, intervals)) = tokio::join!(engine, watch);
    let local = WorkerReport {
        name: "local".into(),
        status: end.stop.name().into(),
        elapsed_s: end.elapsed_s,
        totals: totals.clone(),
        ..WorkerReport::default()
    };
    Driven { end, totals, intervals, workers: vec![local] }
}

async fn history_rows(db: &LocalDatabase) -> anyhow::Result<i64> {
    Ok(transfer::schema::totals(&db.client).await?.history_rows)
}

async fn verify_run(
    plan: &Plan,
    db: &LocalDatabase,
    history_before: i64,
    driven: &Driven,
) -> anyhow::Result<Verification> {
    let mut v = database::verify(&db.client, plan.data).await?;
    if plan.engine.workload.op == Op::Transfer {
        let totals = &driven.totals;
        let mut unknown =
            [ErrorClass::Timeout, ErrorClass::Transport].iter().filter_map(|c| totals.errors.get(c)).sum::<u64>()
                as i64
                + driven.end.abandoned as i64;
        if driven.workers.iter().any(WorkerReport::lost) {
            // A lost worker's last calls were never reported: any commits beyond the
            // successes seen are of unknown outcome (fewer would still be a failure).
            let added = v.history_rows - history_before;
            unknown = unknown.max(added - totals.successes as i64);
        }
        v.check_run(history_before, totals.successes as i64, unknown);
    }
    Ok(v)
}

/// First Ctrl-C: stop starting calls and drain; second: exit at once.
fn cancel_on_ctrl_c(drain_s: f64) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping: waiting up to {drain_s:.0}s for calls in flight (Ctrl-C again to abort)");
            let _ = tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    rx
}

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

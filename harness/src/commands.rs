//! The small commands: `setup`, `verify`, `invoke`, `report` and `check`.

use std::process::ExitCode;

use anyhow::Context;
use aws_sdk_lambda::primitives::Blob;
use workers::LambdaTarget;

use crate::check::{self, BaselineRule};
use crate::cli::{CheckArgs, DbArgs, InvokeArgs, ReportArgs, SetupArgs, SetupRoleArgs, VerifyArgs};
use crate::database;
use crate::report::{console::Console, Render};
use crate::scenario::{self, DataSpec, Overrides};

pub async fn setup(args: SetupArgs) -> anyhow::Result<ExitCode> {
    let data = args.data.spec()?;
    let started = std::time::Instant::now();
    database::setup(&args.db.target().await?, data, args.reset, true).await?;
    println!(
        "set up {} accounts of {}{} in {:.1}s",
        data.accounts,
        data.initial_balance,
        if args.reset { " (balances restored, history cleared)" } else { "" },
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let data = args.data.spec()?;
    let client = args.db.target().await?.connect().await?;
    let v = database::verify(&client, data).await?;
    println!("Verification: {}", v.summary());
    Ok(if v.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// One call, printed like `aws lambda invoke`: the response metadata, then the payload.
pub async fn invoke(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    serde_json::from_str::<serde_json::Value>(&args.payload)
        .with_context(|| format!("--payload is not JSON: {}", args.payload))?;
    let target = match &args.endpoint_url {
        Some(url) => LambdaTarget::local(url, &args.function, 1),
        None => LambdaTarget::aws(&args.function, args.region.clone(), args.profile.clone(), 1).await,
    };
    let out = target
        .client()
        .invoke()
        .function_name(&args.function)
        .payload(Blob::new(args.payload.as_bytes()))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(workers::target::describe_sdk_error(&e)))
        .with_context(|| format!("invoking {}", args.function))?;
    let mut meta = serde_json::json!({ "StatusCode": out.status_code() });
    if let Some(e) = out.function_error() {
        meta["FunctionError"] = e.into();
    }
    if let Some(v) = out.executed_version() {
        meta["ExecutedVersion"] = v.into();
    }
    println!("{}", serde_json::to_string_pretty(&meta)?);
    let payload = out.payload().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned()).unwrap_or_default();
    println!("{payload}");
    Ok(if out.function_error().is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

impl crate::cli::DataArgs {
    pub fn spec(&self) -> anyhow::Result<DataSpec> {
        anyhow::ensure!(self.accounts >= 2, "--accounts must be at least 2, got {}", self.accounts);
        anyhow::ensure!(self.initial_balance >= 0, "--initial-balance must be >= 0, got {}", self.initial_balance);
        Ok(DataSpec { accounts: self.accounts, initial_balance: self.initial_balance })
    }
}

/// Re-render a run folder's files and STATS from its `summary.json`.
pub async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let report = summary(&args.run_dir)?;
    crate::report::write_derived(&args.run_dir, &report)?;
    print!("{}", String::from_utf8(Console.render(&report)?)?);
    Ok(ExitCode::SUCCESS)
}

/// A run folder or a summary.json path, read.
fn summary(path: &std::path::Path) -> anyhow::Result<crate::report::RunReport> {
    let file = if path.is_dir() { path.join("summary.json") } else { path.to_path_buf() };
    crate::report::json::read(&file)
}

/// The CI gate: thresholds and an optional baseline, as a table (and JUnit XML).
pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let report = summary(&args.run)?;
    let mut thresholds = match &args.thresholds {
        Some(path) => scenario::load(path, &Overrides::default())?.thresholds,
        None => report.plan.thresholds.clone(),
    };
    if let Some(t) = args.tolerance_pct {
        anyhow::ensure!(t.is_finite() && t >= 0.0, "--tolerance-pct must be >= 0, got {t}");
        thresholds.baseline_tolerance_pct = Some(t);
    }
    if let Some(s) = args.max_shift {
        anyhow::ensure!((0.0..=1.0).contains(&s), "--max-shift must be between 0 and 1, got {s}");
        thresholds.max_latency_shift = Some(s);
    }
    let baseline = args.baseline.as_deref().map(summary).transpose()?;
    let checks = check::evaluate(&report, &thresholds, baseline.as_ref().map(|b| (b, BaselineRule::from(&thresholds))));
    anyhow::ensure!(
        !checks.is_empty(),
        "nothing to check in {}: its scenario has no [thresholds], it was not verified, and no --baseline was given",
        args.run.display()
    );
    println!("Run {} ({})", report.run_id, report.plan.name);
    if let Some(b) = &baseline {
        println!("Baseline {} ({})", b.run_id, b.plan.name);
    }
    print!("{}", check::table(&checks));
    if let Some(path) = &args.junit {
        std::fs::write(path, check::junit::render(&report.plan.name, &checks))
            .with_context(|| format!("writing --junit {}", path.display()))?;
    }
    Ok(if checks.iter().all(|c| c.passed) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

impl DbArgs {
    /// The database these flags name.
    pub async fn target(&self) -> anyhow::Result<database::DbTarget> {
        self.target_if_given().await?.context("give --database-url (or DATABASE_URL) or --dsql-endpoint")
    }

    /// The database these flags name, if they name one.
    pub async fn target_if_given(&self) -> anyhow::Result<Option<database::DbTarget>> {
        match &self.database_url {
            Some(url) => Ok(Some(database::DbTarget::Url(url.clone()))),
            None => self.dsql_if_given().await,
        }
    }

    /// The DSQL cluster of --dsql-endpoint, if given, with credentials and region from
    /// the AWS configuration (or --region and --profile).
    pub async fn dsql_if_given(&self) -> anyhow::Result<Option<database::DbTarget>> {
        let Some(host) = &self.dsql_endpoint else { return Ok(None) };
        let sdk = workers::target::aws_sdk_config(self.region.clone(), self.profile.clone()).await;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .context("--dsql-endpoint needs a region: pass --region or set AWS_REGION")?;
        let target = transfer::db::DsqlTarget::new(host.clone(), region, self.dsql_user.clone());
        Ok(Some(database::DbTarget::Dsql(target.with_sdk_config(sdk))))
    }
}

/// The application role, its grants and its IAM mapping; then the mappings.
pub async fn setup_role(args: SetupRoleArgs) -> anyhow::Result<ExitCode> {
    let db = args.db.target().await?;
    let client = db.connect().await?;
    let mappings = crate::roles::setup(&client, db.dialect(), &args.role, &args.arn).await?;
    println!("role {} may log in and use the tables; IAM role mappings:", args.role);
    for (role, arn) in mappings {
        println!("  {role:<16} {arn}");
    }
    Ok(ExitCode::SUCCESS)
}

//! `harness report RUN_DIR`: re-render a run folder from its summary.json; with
//! `--fetch-metrics`, first fetch an AWS run's server-side view again from CloudWatch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::ReportArgs;
use crate::report::{console::Console, Render};

/// Re-render a run folder's files and STATS from its `summary.json`.
pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut report = summary(&args.run_dir)?;
    if args.fetch_metrics {
        fetch_metrics(&mut report).await?;
        let file = run_dir(&args.run_dir).join("summary.json");
        std::fs::write(&file, crate::report::json::Json.render(&report)?)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", file.display()))?;
    }
    crate::report::write_derived(&args.run_dir, &report)?;
    print!("{}", String::from_utf8(Console.render(&report)?)?);
    Ok(ExitCode::SUCCESS)
}

/// The server-side view of an AWS run, fetched again, and the cost with its DPUs.
async fn fetch_metrics(report: &mut crate::report::RunReport) -> anyhow::Result<()> {
    let crate::scenario::TargetSpec::Aws { function, access, cluster_id } = &report.plan.target else {
        eprintln!(
            "nothing to fetch: the server-side view of a {} run was recorded when it ended (CloudWatch only holds AWS runs')",
            report.plan.target.kind()
        );
        return Ok(());
    };
    let from = crate::report::hlog::parse_rfc3339(&report.started_at)?;
    let request = crate::server::cloudwatch::Request {
        function: function.clone(),
        cluster: cluster_id.clone(),
        from,
        to: from + std::time::Duration::from_secs_f64(report.end.elapsed_s),
        answered: crate::pipeline::answered(&report.totals),
    };
    report.server = Some(crate::pipeline::aws_view(access, &request).await);
    report.cost = Some(crate::cost::of_run(report));
    Ok(())
}

/// A run folder or a summary.json path, read.
pub fn summary(path: &Path) -> anyhow::Result<crate::report::RunReport> {
    let file = if path.is_dir() { path.join("summary.json") } else { path.to_path_buf() };
    crate::report::json::read(&file)
}

/// The run folder of a run folder or of its summary.json.
pub fn run_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !path.is_dir() => parent.to_path_buf(),
        _ => path.to_path_buf(),
    }
}

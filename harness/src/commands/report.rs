//! `harness report RUN_DIR`: re-render a run folder from its summary.json; with
//! `--fetch-metrics`, first fetch an AWS run's server-side view again from CloudWatch;
//! with `--baseline RUN`, report.html draws that run's curves beside this one's.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::ReportArgs;
use crate::report::{console::Console, Render, RunReport};
use crate::run_dir::{self, RunDir};

/// Re-render a run folder's files and STATS from its `summary.json`.
pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut report = run_dir::read(&args.run_dir)?;
    let baseline = args.baseline.as_deref().map(run_dir::read).transpose()?;
    let dir = RunDir::open(&args.run_dir);
    let mut fetched = true;
    if args.fetch_metrics {
        fetched = fetch_metrics(&mut report).await;
        dir.write(&report)?;
    } else {
        dir.write_derived(&report)?;
    }
    if let Some(baseline) = &baseline {
        let path = dir.path().join("report.html");
        let page = crate::report::html::render(&report, Some(baseline))?;
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    print!("{}", String::from_utf8(Console.render(&report)?)?);
    Ok(if fetched { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The server-side view of an AWS run, fetched again over the one it had (a figure the
/// fetch lacks keeps its earlier value), and the cost with its DPUs; false when the
/// fetch failed (said in one line; the summary keeps what it had).
async fn fetch_metrics(report: &mut RunReport) -> bool {
    let crate::scenario::TargetSpec::Aws { function, access, cluster_id, .. } = &report.plan.target else {
        eprintln!(
            "nothing to fetch: the server-side view of a {} run was recorded when it ended (CloudWatch only holds AWS runs')",
            report.plan.target.kind()
        );
        return true;
    };
    if let Some(url) = access.endpoint_url.as_deref().filter(|u| !crate::server::is_aws_endpoint(u)) {
        eprintln!("nothing to fetch: the function was reached at {url}, not AWS's endpoint (CloudWatch holds only what AWS ran)");
        return true;
    }
    let from = report.started_at.system();
    let request = crate::server::cloudwatch::Request {
        function: function.clone(),
        cluster: cluster_id.clone(),
        from,
        to: from + std::time::Duration::from_secs_f64(report.end.elapsed_s),
        answered: report.totals.answered(),
    };
    let fetched = crate::pipeline::aws_view(access, &request).await;
    let failed = fetched.is_empty();
    if failed {
        eprintln!("error: the metrics were not fetched, the summary keeps its figures: {}", fetched.notes.join("; "));
    }
    let merged = match &report.server {
        Some(earlier) => fetched.over(earlier),
        None => fetched,
    };
    report.server = Some(merged);
    report.cost = Some(crate::cost::of_run(&report.plan, &report.totals, report.server.as_ref()));
    !failed
}

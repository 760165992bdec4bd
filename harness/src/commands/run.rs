//! `harness run SCENARIO`: the scenario and flags into a plan, then the run pipeline.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::RunArgs;
use crate::pipeline;
use crate::scenario;
use crate::signals::Signals;
use crate::stream::Outputs;

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = scenario::load(&args.scenario, &args.overrides)?;
    let secret = crate::secret::read(args.worker_secret_file.as_deref())?;
    // Opened before the run, so that a bad path fails in the first second.
    let summary_md = args.summary_md.as_deref().map(super::append_to).transpose()?;
    let metrics = crate::stream::prometheus::Config { listen: args.metrics_listen, push: args.metrics_push.clone() };
    let outputs = Outputs::open(&args.out, &metrics).await?;
    let prometheus = outputs.prometheus();
    if let Some(addr) = prometheus.as_ref().and_then(|p| p.addr()) {
        eprintln!("Prometheus metrics on http://{addr}/metrics");
    }
    let dashboard = match args.dashboard {
        Some(addr) => Some(std::sync::Arc::new(crate::dashboard::Dashboard::bind(addr).await?)),
        None => None,
    };
    if let Some(d) = &dashboard {
        eprintln!("dashboard on http://{}/", d.addr());
    }
    let signals = Signals::listen(plan.engine.drain_timeout_s)?;
    let options = pipeline::RunOptions { reset: args.reset, secret, outputs, dashboard };
    let finished = pipeline::execute(plan, &args.results, options, &signals).await?;
    finished.print()?;
    if let Some((mut file, path)) = summary_md {
        let report = &finished.report;
        let text = crate::report::markdown::render(report, &report.checks, None);
        file.write_all(text.as_bytes()).with_context(|| format!("writing --summary-md {}", path.display()))?;
    }
    // After the report: push, then serve the final figures a while (not after a signal).
    if let Some(p) = prometheus {
        let linger = if signals.first().is_some() { 0 } else { args.metrics_linger };
        p.finish(std::time::Duration::from_secs(linger), signals.halt()).await;
    }
    Ok(finished.exit)
}

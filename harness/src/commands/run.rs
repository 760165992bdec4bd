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
    let outputs = Outputs::open(&args.out, args.metrics_listen).await?;
    if let Some(addr) = outputs.metrics_addr() {
        eprintln!("Prometheus metrics on http://{addr}/metrics");
    }
    let signals = Signals::listen(plan.engine.drain_timeout_s)?;
    let options = pipeline::RunOptions { reset: args.reset, secret, outputs };
    let finished = pipeline::execute(plan, &args.results, options, &signals).await?;
    finished.print()?;
    if let Some((mut file, path)) = summary_md {
        let report = &finished.report;
        let text = crate::report::markdown::render(report, &report.checks, None);
        file.write_all(text.as_bytes()).with_context(|| format!("writing --summary-md {}", path.display()))?;
    }
    Ok(finished.exit)
}

//! `harness run SCENARIO`: the scenario and flags into a plan, then the run pipeline.

use std::process::ExitCode;

use crate::cli::RunArgs;
use crate::pipeline;
use crate::scenario;
use crate::signals::Signals;

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = scenario::load(&args.scenario, &args.overrides)?;
    let secret = crate::secret::read(args.worker_secret_file.as_deref())?;
    let signals = Signals::listen(plan.engine.drain_timeout_s)?;
    Ok(pipeline::execute(plan, &args.results, args.reset, secret, &signals).await?.0)
}

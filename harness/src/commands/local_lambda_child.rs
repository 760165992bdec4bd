//! `harness local-lambda-child` (hidden): the local Lambda endpoint as a child process
//! of `harness run`.

use std::process::ExitCode;

use anyhow::Context;
use tokio::io::AsyncReadExt;
use transfer::db::Database;
use transfer::local::Endpoint;
use transfer::Function;

use crate::cli::LocalLambdaArgs;
use crate::local_stack::{ChildConfig, READY};

/// The endpoint process: serve until stdin closes. Ctrl-C from the terminal reaches the
/// whole process group; it is ignored here so that the harness can drain calls first.
pub async fn run(args: LocalLambdaArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = transfer::local::fd_limit::raise_open_files(1 << 20) {
        eprintln!("warning: cannot raise the open-file limit: {e}");
    }
    let ChildConfig { database_url, dsql, endpoint, retry_policy, function } =
        serde_json::from_str(&args.config).context("--config is not the endpoint's configuration as JSON")?;
    // Listened for before the ready line: SIGINT ignored (the parent decides), SIGTERM stops.
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let database = match dsql {
        Some(access) => Database::Dsql(access.target()),
        None => Database::Local { url: database_url },
    };
    let endpoint = match function {
        Some(spec) => Endpoint::start_process(endpoint, spec).await?,
        None => Endpoint::start(endpoint, move || Function::new(database.clone(), retry_policy)).await?,
    };
    println!("{READY}{}", endpoint.url());
    tokio::spawn(async move { while interrupt.recv().await.is_some() {} });
    let (mut sink, mut stdin) = (Vec::new(), tokio::io::stdin());
    tokio::select! {
        _ = stdin.read_to_end(&mut sink) => {}
        _ = terminate.recv() => {}
    }
    endpoint.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

//! `harness local-lambda-child` (hidden): the local Lambda endpoint as a child process
//! of `harness run`.

use std::process::ExitCode;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use transfer::db::Database;
use transfer::local::{Endpoint, EndpointConfig};
use transfer::Function;

use crate::cli::LocalLambdaArgs;
use crate::local_stack::READY;

/// The endpoint process: serve until stdin closes. Ctrl-C from the terminal reaches the
/// whole process group; it is ignored here so that the harness can drain calls first.
pub async fn run(args: LocalLambdaArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = transfer::local::fd_limit::raise_open_files(1 << 20) {
        eprintln!("warning: cannot raise the open-file limit: {e}");
    }
    let config = EndpointConfig {
        function_name: args.function_name,
        environments: args.environments,
        overflow: args.overflow.parse().map_err(anyhow::Error::msg)?,
        timeout: Duration::from_secs_f64(args.timeout_s),
        ..EndpointConfig::default()
    };
    let config = match args.listen {
        Some(ip) => EndpointConfig { listen: std::net::SocketAddr::new(ip, 0), allow_non_loopback: true, ..config },
        None => config,
    };
    let database = Database::Local { url: args.database_url };
    let policy = args.retry_policy;
    let endpoint = Endpoint::start(config, move || Function::new(database.clone(), policy)).await?;
    println!("{READY}{}", endpoint.url());
    tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let (mut sink, mut stdin) = (Vec::new(), tokio::io::stdin());
    tokio::select! {
        _ = stdin.read_to_end(&mut sink) => {}
        _ = terminate.recv() => {}
    }
    endpoint.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

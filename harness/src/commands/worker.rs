//! `harness worker`: the worker daemon's command. It binds (loopback unless told
//! otherwise, and beyond loopback only with a shared secret), prints
//! `listening on ADDR` as its first line, and shows what the daemon does on stderr.

use std::process::ExitCode;

use anyhow::Context;
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use workers::remote::{Daemon, DaemonConfig, DaemonEvent};

use crate::cli::WorkerArgs;
use crate::secret::{self, SECRET_ENV};

pub async fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let secret = secret::read(args.secret_file.as_deref())?;
    if !args.listen.ip().is_loopback() && secret.is_none() {
        anyhow::bail!(
            "--listen {} is beyond loopback: give a shared secret with --secret-file or {SECRET_ENV}, so that only your coordinator can start load here",
            args.listen
        );
    }
    // SIGTERM or SIGHUP (systemd, Kubernetes, ECS): stop taking plans, let the running
    // plan drain and report, then exit. Listened for before the `listening on` line, so
    // a signal sent as soon as it appears is caught.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    // Started by a coordinator: Ctrl-C at the terminal reaches us too, but the
    // coordinator decides (it sends Stop, and we still report).
    let mut interrupt = if args.exit_with_stdin { Some(signal(SignalKind::interrupt())?) } else { None };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding --listen {}", args.listen))?;
    let addr = listener.local_addr()?;
    let host =
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "worker".into());
    let name = args.name.clone().unwrap_or_else(|| format!("{host}:{}", addr.port()));
    println!("{}{addr}", crate::local_stack::READY);
    let secured = if secret.is_some() { " (secret required)" } else { "" };
    tracing::info!(worker = %name, %addr, "worker {name}: listening on {addr}{secured}");
    let (events, mut shown) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = shown.recv().await {
            log(&event);
        }
    });
    let (shutdown, shutting) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
        tracing::info!("worker: stopping (the running plan, if any, drains and reports first)");
        let _ = shutdown.send(true);
        std::future::pending::<()>().await
    });
    let config = DaemonConfig { name, secret, max_in_flight: args.max_in_flight };
    let daemon = Daemon::new(config, events, shutting);
    let serve = daemon.serve(listener, args.plans);
    if let Some(mut interrupt) = interrupt.take() {
        tokio::spawn(async move { while interrupt.recv().await.is_some() {} });
        let (mut sink, mut stdin) = (Vec::new(), tokio::io::stdin());
        tokio::select! {
            served = serve => served?,
            _ = stdin.read_to_end(&mut sink) => {}
        }
    } else {
        serve.await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What the daemon does, as log events (with the peer as a field for JSON logs).
fn log(event: &DaemonEvent) {
    match event {
        DaemonEvent::Refused { peer, reason } => tracing::warn!(%peer, "refused {peer}: {reason}"),
        DaemonEvent::Running { peer, calls } => match calls {
            Some(n) => tracing::info!(%peer, calls = n, "running a plan for {peer}: {n} calls"),
            None => tracing::info!(%peer, "running a plan for {peer}"),
        },
        DaemonEvent::CoordinatorLost { peer, reason } => {
            tracing::warn!(%peer, "lost coordinator {peer}: {reason}")
        }
        DaemonEvent::Finished { peer, calls } => {
            tracing::info!(%peer, calls, "finished the plan for {peer}: {calls} calls")
        }
    }
}

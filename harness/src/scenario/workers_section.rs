//! `[workers]`: where the load comes from when one process is not enough.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::raw::RawWorkers;
use super::{flag, Overrides, ScenarioError, Source};

/// Which workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerSet {
    /// This many worker processes on this machine, started by the coordinator.
    Local(usize),
    /// Worker daemons (`harness worker`) at these addresses.
    Remote(Vec<String>),
    /// Worker daemons at every address a DNS name resolves to when the run starts (a
    /// Kubernetes headless Service), all on this port: `NAME:PORT`.
    Dns(String),
    /// The InService workers of a fleet stack made by `harness fleet up`.
    Fleet(String),
}

impl WorkerSet {
    /// How many workers, when known before the run (not for a DNS name).
    pub fn len(&self) -> Option<usize> {
        match self {
            WorkerSet::Local(n) => Some(*n),
            WorkerSet::Remote(a) => Some(a.len()),
            WorkerSet::Dns(_) | WorkerSet::Fleet(_) => None,
        }
    }
}

/// Every address `name_port` (`NAME:PORT`) resolves to through the system's resolver,
/// sorted, without repeats.
pub async fn resolve(name_port: &str) -> anyhow::Result<Vec<String>> {
    let found = tokio::net::lookup_host(name_port)
        .await
        .map_err(|e| anyhow::anyhow!("workers.dns {name_port:?} does not resolve: {e}"))?;
    let mut addresses: Vec<std::net::SocketAddr> = found.collect();
    addresses.sort();
    addresses.dedup();
    anyhow::ensure!(!addresses.is_empty(), "workers.dns {name_port:?} resolves to no address");
    Ok(addresses.iter().map(ToString::to_string).collect())
}

/// What happens to the run when a worker is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLost {
    /// The others go on; the report marks the lost worker.
    Continue,
    /// Every worker stops; the report keeps what was done.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSpec {
    pub workers: WorkerSet,
    pub on_lost: OnLost,
    /// Give each worker its own slice of the account range.
    pub partition_accounts: bool,
    /// Where the local endpoint listens for the workers (default loopback).
    pub endpoint_address: Option<IpAddr>,
    pub heartbeat_s: f64,
    /// A worker silent this long is lost; also each worker's dead-man time.
    pub lost_after_s: f64,
    /// Where the workers were set (for messages).
    #[serde(skip)]
    pub at: String,
}

pub(super) fn parse(
    src: &Source,
    raw: Option<Spanned<RawWorkers>>,
    o: &Overrides,
) -> Result<Option<FleetSpec>, ScenarioError> {
    let section_at = raw.as_ref().map(|r| src.at(r.span().start));
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let mut count = src.f(raw.count.clone());
    flag(&mut count, o.workers, "--workers");
    let mut addresses = src.f(raw.addresses.clone());
    if !o.worker_addresses.is_empty() {
        addresses = Some(super::F { v: o.worker_addresses.clone(), at: "--worker".into() });
        count = count.filter(|c| c.at == "--workers");
    }
    let mut fleet = src.f(raw.fleet.clone());
    flag(&mut fleet, o.fleet.clone(), "--fleet");
    if let Some(f) = fleet {
        if let Some(other) = count.as_ref().map(|c| c.at.clone()).or(addresses.as_ref().map(|a| a.at.clone())) {
            return Err(src.err(f.at, format!("workers.fleet excludes workers.count and workers.addresses ({other})")));
        }
        if f.v.is_empty() || f.v.len() > 128 || !f.v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(src.err(f.at, format!("workers.fleet {:?} is not a CloudFormation stack name", f.v)));
        }
        return finish(src, raw, WorkerSet::Fleet(f.v), f.at).map(Some);
    }
    let mut dns = src.f(raw.dns.clone());
    flag(&mut dns, o.worker_dns.clone(), "--worker-dns");
    if let Some(d) = dns {
        if let Some(other) = count.as_ref().map(|c| c.at.clone()).or(addresses.as_ref().map(|a| a.at.clone())) {
            return Err(src.err(d.at, format!("workers.dns excludes workers.count and workers.addresses ({other})")));
        }
        if !d.v.rsplit_once(':').is_some_and(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok()) {
            return Err(src.err(d.at, format!("workers.dns {:?} needs NAME:PORT, e.g. \"harness-workers:7700\"", d.v)));
        }
        return finish(src, raw, WorkerSet::Dns(d.v), d.at).map(Some);
    }
    let (workers, at) = match (count, addresses) {
        (Some(c), Some(a)) => {
            return Err(src.err(c.at, format!("workers.count and workers.addresses ({}) exclude each other", a.at)))
        }
        (Some(c), None) if c.v < 1 || c.v > 256 => {
            return Err(src.err(c.at, format!("workers.count must be between 1 and 256, got {}", c.v)))
        }
        (Some(c), None) => (WorkerSet::Local(c.v as usize), c.at),
        (None, Some(a)) if a.v.is_empty() => return Err(src.err(a.at, "workers.addresses is empty")),
        (None, Some(a)) => {
            if let Some(bad) = a.v.iter().find(|x| !x.contains(':')) {
                return Err(src.err(a.at, format!("worker address {bad:?} needs a port, e.g. \"10.0.0.5:7700\"")));
            }
            (WorkerSet::Remote(a.v), a.at)
        }
        (None, None) => match section_at {
            Some(at) => {
                return Err(
                    src.err(at, "[workers] needs count = N, addresses = [\"host:port\", ..] or dns = \"NAME:PORT\"")
                )
            }
            None => return Ok(None),
        },
    };
    finish(src, raw, workers, at).map(Some)
}

/// The keys every worker set shares.
fn finish(src: &Source, raw: RawWorkers, workers: WorkerSet, at: String) -> Result<FleetSpec, ScenarioError> {
    let on_lost = match src.f(raw.on_lost.clone()) {
        None => OnLost::Continue,
        Some(f) if f.v == "continue" => OnLost::Continue,
        Some(f) if f.v == "stop" => OnLost::Stop,
        Some(f) => return Err(src.err(f.at, format!("workers.on_lost {:?} is not one of \"continue\", \"stop\"", f.v))),
    };
    let endpoint_address = match src.f(raw.endpoint_address.clone()) {
        None => None,
        Some(f) => Some(f.v.parse::<IpAddr>().map_err(|_| {
            src.err(f.at, format!("workers.endpoint_address {:?} is not an IP address of this machine", f.v))
        })?),
    };
    let secs = |v: Option<Spanned<super::raw::DurationValue>>, key: &str, default: f64| match src.f(v) {
        None => Ok(default),
        Some(f) => f.v.seconds().map_err(|m| src.err(f.at, format!("workers.{key}: {m}"))),
    };
    let heartbeat_s = secs(raw.heartbeat.clone(), "heartbeat", 0.5)?;
    let lost_after_s = secs(raw.lost_after.clone(), "lost_after", 3.0)?;
    if heartbeat_s > 60.0 || lost_after_s > 3_600.0 {
        return Err(src.err(
            at,
            format!("workers.heartbeat must be at most 60 s and workers.lost_after at most 1 h, got {heartbeat_s} s and {lost_after_s} s"),
        ));
    }
    if lost_after_s < 2.0 * heartbeat_s {
        return Err(src.err(
            at,
            format!("workers.lost_after ({lost_after_s} s) must be at least twice workers.heartbeat ({heartbeat_s} s)"),
        ));
    }
    Ok(FleetSpec {
        workers,
        on_lost,
        partition_accounts: raw.partition_accounts.unwrap_or(false),
        endpoint_address,
        heartbeat_s,
        lost_after_s,
        at,
    })
}

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
}

impl WorkerSet {
    pub fn len(&self) -> usize {
        match self {
            WorkerSet::Local(n) => *n,
            WorkerSet::Remote(a) => a.len(),
        }
    }
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
            Some(at) => return Err(src.err(at, "[workers] needs count = N or addresses = [\"host:port\", ..]")),
            None => return Ok(None),
        },
    };
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
    Ok(Some(FleetSpec {
        workers,
        on_lost,
        partition_accounts: raw.partition_accounts.unwrap_or(false),
        endpoint_address,
        heartbeat_s,
        lost_after_s,
        at,
    }))
}

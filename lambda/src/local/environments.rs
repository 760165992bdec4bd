//! Execution environments, as Lambda runs them: at most N, each serving one invocation
//! at a time with its own database connection. A new environment is a cold start (with
//! a configurable start-up cost); one idle for longer than the reclaim time is gone, so
//! cold starts recur as on AWS. Beyond N (or the function's reserved concurrency), an
//! invocation either waits for a free environment or is throttled, with AWS's reason.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::runtime::{InitFailure, Launcher, ProcessEnvironment};
use crate::Function;

/// What happens to an invocation when all N environments are busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// Wait for a free environment (the default: a local PostgreSQL cannot usefully
    /// hold one connection per parallel call).
    Queue,
    /// Answer 429 TooManyRequestsException (ConcurrentInvocationLimitExceeded), as AWS does.
    Throttle,
}

/// An overflow policy that is neither `queue` nor `throttle`: the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid overflow {0:?}: expected `queue` or `throttle`")]
pub struct OverflowError(pub String);

impl FromStr for Overflow {
    type Err = OverflowError;
    fn from_str(s: &str) -> Result<Self, OverflowError> {
        match s {
            "queue" => Ok(Overflow::Queue),
            "throttle" => Ok(Overflow::Throttle),
            _ => Err(OverflowError(s.to_string())),
        }
    }
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Overflow::Queue => "queue",
            Overflow::Throttle => "throttle",
        })
    }
}

/// How environments start, idle and are limited, beyond their number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Added to every cold start: the runtime's and the function's own initialisation
    /// (reported as `Init Duration` together with the time the environment took).
    #[serde(default)]
    pub init_cost: Duration,
    /// An environment idle for longer is reclaimed; the next call is a cold start.
    #[serde(default)]
    pub idle_reclaim: Option<Duration>,
    /// The function's reserved concurrency: when below the number of environments (the
    /// account's concurrency), it is the limit, and throttles say so.
    #[serde(default)]
    pub reserved: Option<usize>,
}

/// Why an invocation was throttled, as AWS words it in the 429's `Reason`.
pub const ACCOUNT_LIMIT: &str = "ConcurrentInvocationLimitExceeded";
pub const RESERVED_LIMIT: &str = "ReservedFunctionConcurrentInvocationLimitExceeded";

/// Counters the endpoint reports at `GET /_local/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentStats {
    /// The limit N.
    pub max_environments: u64,
    /// Environments created so far: each one was a cold start.
    pub cold_starts: u64,
    /// Invocations that ran the function (successes and function errors).
    pub invocations: u64,
    /// Invocations answered with a function error.
    pub function_errors: u64,
    /// Invocations that hit the timeout; their environment was discarded.
    pub timeouts: u64,
    /// Invocations refused with 429.
    pub throttles: u64,
    /// Idle environments reclaimed (absent in older reports).
    #[serde(default)]
    pub reclaimed: u64,
    /// The function's reserved concurrency, when one limits it.
    #[serde(default)]
    pub reserved: Option<u64>,
    /// The most invocations that ran at once.
    #[serde(default)]
    pub peak_concurrency: u64,
}

#[derive(Default)]
struct Counters {
    cold_starts: AtomicU64,
    invocations: AtomicU64,
    function_errors: AtomicU64,
    timeouts: AtomicU64,
    throttles: AtomicU64,
    reclaimed: AtomicU64,
    peak: AtomicU64,
}

/// Where a pool's environments come from.
pub enum FunctionSource {
    /// Our own function, in this process: `make` creates each environment's.
    Builtin(Box<dyn Fn() -> Function + Send + Sync>),
    /// A process per environment, polling its own Runtime API.
    Process(Launcher),
}

/// One execution environment. Our own function is the larger variant and the hot
/// path: it stays inline rather than behind a box.
#[allow(clippy::large_enum_variant)]
pub enum Environment {
    Builtin(Function),
    Process(ProcessEnvironment),
}

/// A function's answer: a JSON value (our own function) or the bytes a process posted.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Value),
    Raw(Bytes),
}

/// One invocation as an environment receives it.
pub struct Call<'a> {
    pub request_id: &'a str,
    pub payload: Value,
    /// The payload as the caller sent it (what a process receives).
    pub raw: Bytes,
    pub timeout: Duration,
}

impl Environment {
    /// Run one invocation: its response, or its error document (a function error).
    pub async fn invoke(&mut self, call: Call<'_>) -> Result<Payload, Payload> {
        match self {
            Environment::Builtin(f) => match f.invoke(call.payload).await {
                Ok(v) => Ok(Payload::Json(v)),
                Err(e) => Err(Payload::Json(e.to_json())),
            },
            Environment::Process(p) => {
                p.invoke(call.request_id, call.raw, call.timeout).await.map(Payload::Raw).map_err(Payload::Raw)
            }
        }
    }

    /// The peak memory of an environment that is a process of its own, MB (our own
    /// function shares the endpoint's).
    pub fn max_memory_used_mb(&self) -> Option<u64> {
        match self {
            Environment::Builtin(_) => None,
            Environment::Process(p) => p.max_memory_used_mb(),
        }
    }

    /// Fit for another invocation (a process that exited is not).
    pub fn healthy(&self) -> bool {
        match self {
            Environment::Builtin(_) => true,
            Environment::Process(p) => p.healthy(),
        }
    }
}

/// The pool of environments.
pub struct Environments {
    max: usize,
    permits: Arc<Semaphore>,
    /// Warm environments, and when each last finished an invocation; None once closed.
    idle: Mutex<Option<Vec<(Environment, Instant)>>>,
    make: FunctionSource,
    overflow: Overflow,
    lifecycle: Lifecycle,
    counters: Counters,
}

/// All environments are busy and the overflow policy is `Throttle`: why, in AWS's words.
#[derive(Debug)]
pub struct Throttled(pub &'static str);

impl Environments {
    pub fn new(max: usize, overflow: Overflow, make: impl Fn() -> Function + Send + Sync + 'static) -> Arc<Self> {
        Environments::with_lifecycle(max, overflow, Lifecycle::default(), make)
    }

    /// At most `max` environments (the account's concurrency), or the lifecycle's
    /// reserved concurrency when lower.
    pub fn with_lifecycle(
        max: usize,
        overflow: Overflow,
        lifecycle: Lifecycle,
        make: impl Fn() -> Function + Send + Sync + 'static,
    ) -> Arc<Self> {
        Environments::with_source(max, overflow, lifecycle, FunctionSource::Builtin(Box::new(make)))
    }

    /// A pool of environments of any kind (`with_lifecycle` for our own function).
    pub fn with_source(max: usize, overflow: Overflow, lifecycle: Lifecycle, make: FunctionSource) -> Arc<Self> {
        let limit = lifecycle.reserved.map_or(max, |r| r.min(max));
        Arc::new(Environments {
            max: limit,
            permits: Arc::new(Semaphore::new(limit)),
            idle: Mutex::new(Some(Vec::new())),
            make,
            overflow,
            lifecycle,
            counters: Counters::default(),
        })
    }

    /// Discard every idle environment and keep none from now on; kill every process
    /// environment, lent ones included. The endpoint closes its pool when it stops.
    pub fn close(&self) {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(idle);
        if let FunctionSource::Process(launcher) = &self.make {
            launcher.close();
        }
    }

    /// The throttle reason: the reserved concurrency when it is the limit.
    fn limit_reason(&self) -> &'static str {
        match self.lifecycle.reserved {
            Some(r) if r <= self.max => RESERVED_LIMIT,
            _ => ACCOUNT_LIMIT,
        }
    }

    /// Take a free environment, creating one (a cold start) when none is idle; when all
    /// are busy, wait or be throttled as the pool's overflow policy says.
    pub async fn acquire(self: &Arc<Self>) -> Result<Lease, Throttled> {
        self.acquire_or(self.overflow).await
    }

    /// `acquire` with another overflow policy (asynchronous invocations always wait).
    pub async fn acquire_or(self: &Arc<Self>, overflow: Overflow) -> Result<Lease, Throttled> {
        let permit = match overflow {
            Overflow::Queue => self.permits.clone().acquire_owned().await.expect("the semaphore is never closed"),
            Overflow::Throttle => self.permits.clone().try_acquire_owned().map_err(|_| {
                self.counters.throttles.fetch_add(1, Ordering::Relaxed);
                Throttled(self.limit_reason())
            })?,
        };
        let in_use = self.max - self.permits.available_permits();
        self.counters.peak.fetch_max(in_use as u64, Ordering::Relaxed);
        let mut lease =
            Lease { env: None, init: None, failed: None, healthy: false, pool: self.clone(), _permit: permit };
        match self.take_idle() {
            Some(env) => lease.env = Some(env),
            None => {
                let started = Instant::now();
                self.counters.cold_starts.fetch_add(1, Ordering::Relaxed);
                match self.cold_start().await {
                    Ok(env) => lease.env = Some(env),
                    Err(failure) => lease.failed = Some(failure),
                }
                lease.init = Some(started.elapsed());
            }
        }
        Ok(lease)
    }

    /// A new environment: our function after the configured start-up cost, or a process
    /// until its first `next` (its real init, with no cost added).
    async fn cold_start(&self) -> Result<Environment, InitFailure> {
        match &self.make {
            FunctionSource::Builtin(make) => {
                let function = make();
                if !self.lifecycle.init_cost.is_zero() {
                    tokio::time::sleep(self.lifecycle.init_cost).await;
                }
                Ok(Environment::Builtin(function))
            }
            FunctionSource::Process(launcher) => launcher.start().await.map(Environment::Process),
        }
    }

    /// The most recently used idle environment, after reclaiming those idle too long.
    fn take_idle(&self) -> Option<Environment> {
        let mut idle = self.idle.lock().expect("environment list poisoned");
        let idle = idle.as_mut()?;
        if let Some(limit) = self.lifecycle.idle_reclaim {
            let before = idle.len();
            idle.retain(|(_, since)| since.elapsed() <= limit);
            self.counters.reclaimed.fetch_add((before - idle.len()) as u64, Ordering::Relaxed);
        }
        // A process that exited while idle is gone: the next call is a cold start.
        idle.retain(|(env, _)| env.healthy());
        idle.pop().map(|(env, _)| env)
    }

    pub fn stats(&self) -> EnvironmentStats {
        let c = &self.counters;
        EnvironmentStats {
            max_environments: self.max as u64,
            cold_starts: c.cold_starts.load(Ordering::Relaxed),
            invocations: c.invocations.load(Ordering::Relaxed),
            function_errors: c.function_errors.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            throttles: c.throttles.load(Ordering::Relaxed),
            reclaimed: c.reclaimed.load(Ordering::Relaxed),
            reserved: self.lifecycle.reserved.map(|r| r as u64),
            peak_concurrency: c.peak.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn count_invocation(&self, function_error: bool, timed_out: bool) {
        self.counters.invocations.fetch_add(1, Ordering::Relaxed);
        if function_error {
            self.counters.function_errors.fetch_add(1, Ordering::Relaxed);
        }
        if timed_out {
            self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One environment, lent for one invocation. It goes back to the pool only when the
/// invocation finished (`finish`); an interrupted one (timeout, panic) is discarded,
/// so a half-done transaction can never leak into the next invocation.
pub struct Lease {
    env: Option<Environment>,
    /// How long the environment took to start, when this invocation was its cold start.
    init: Option<Duration>,
    /// Why the environment did not start, when its cold start failed.
    failed: Option<InitFailure>,
    healthy: bool,
    pool: Arc<Environments>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    /// The environment's function, in a pool of our own function (`Environments::new`
    /// or `with_lifecycle`).
    ///
    /// # Panics
    /// In a pool of process environments.
    pub fn function(&mut self) -> &mut Function {
        match self.env.as_mut() {
            Some(Environment::Builtin(f)) => f,
            _ => panic!("Lease::function on a pool of process environments: use Lease::environment"),
        }
    }

    /// The environment; None when its cold start failed (see `init_failure`).
    pub fn environment(&mut self) -> Option<&mut Environment> {
        self.env.as_mut()
    }

    /// Why this invocation's environment did not start (a process's init error).
    pub fn init_failure(&self) -> Option<&InitFailure> {
        self.failed.as_ref()
    }

    /// The environment's start-up time, when this invocation is its cold start.
    pub fn init(&self) -> Option<Duration> {
        self.init
    }

    /// The invocation completed: keep the environment warm for the next one, unless it
    /// is no longer fit (its process exited).
    pub fn finish(mut self) {
        self.healthy = self.env.as_ref().is_some_and(Environment::healthy);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let (true, Some(env)) = (self.healthy, self.env.take()) {
            let mut idle = self.pool.idle.lock().expect("environment list poisoned");
            if let Some(idle) = idle.as_mut() {
                idle.push((env, Instant::now()));
            }
        }
    }
}

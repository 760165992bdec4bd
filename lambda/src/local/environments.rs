//! Execution environments, as Lambda runs them: at most N, each serving one invocation
//! at a time with its own database connection. A new environment is a cold start.
//! Beyond N, an invocation either waits for a free environment or is throttled.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

impl FromStr for Overflow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "queue" => Ok(Overflow::Queue),
            "throttle" => Ok(Overflow::Throttle),
            _ => Err(format!("invalid overflow {s:?}: expected `queue` or `throttle`")),
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
}

#[derive(Default)]
struct Counters {
    cold_starts: AtomicU64,
    invocations: AtomicU64,
    function_errors: AtomicU64,
    timeouts: AtomicU64,
    throttles: AtomicU64,
}

type Factory = Box<dyn Fn() -> Function + Send + Sync>;

/// The pool of environments.
pub struct Environments {
    max: usize,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Function>>,
    make: Factory,
    overflow: Overflow,
    counters: Counters,
}

/// All environments are busy and the overflow policy is `Throttle`.
#[derive(Debug)]
pub struct Throttled;

impl Environments {
    pub fn new(max: usize, overflow: Overflow, make: impl Fn() -> Function + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Environments {
            max,
            permits: Arc::new(Semaphore::new(max)),
            idle: Mutex::new(Vec::new()),
            make: Box::new(make),
            overflow,
            counters: Counters::default(),
        })
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
                Throttled
            })?,
        };
        let idle = self.idle.lock().expect("environment list poisoned").pop();
        let function = idle.unwrap_or_else(|| {
            self.counters.cold_starts.fetch_add(1, Ordering::Relaxed);
            (self.make)()
        });
        Ok(Lease { function: Some(function), healthy: false, pool: self.clone(), _permit: permit })
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
    function: Option<Function>,
    healthy: bool,
    pool: Arc<Environments>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    pub fn function(&mut self) -> &mut Function {
        self.function.as_mut().expect("a lease holds its function until dropped")
    }

    /// The invocation completed: keep the environment warm for the next one.
    pub fn finish(mut self) {
        self.healthy = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let (true, Some(f)) = (self.healthy, self.function.take()) {
            self.pool.idle.lock().expect("environment list poisoned").push(f);
        }
    }
}

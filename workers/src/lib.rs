//! The load engine: invoke targets, load models, the workload sampler, statistics that
//! merge exactly, and the engine loop that ties them together.

pub mod accounts;
pub mod engine;
pub mod fleet;
pub mod h2c;
pub mod histogram;
pub mod lean;
pub mod limits;
pub mod load;
pub mod platform;
pub mod stats;
pub mod target;
pub mod workload;

pub use accounts::{AccountCount, AccountCounts};
pub use engine::{EngineEnd, EnginePlan, Halt, Interval, StopReason};
pub use histogram::Hist;
pub use load::{LoadModel, Stage};
pub use platform::{PlatformReport, PlatformStats};
pub use stats::{CallRecord, ErrorClass, Stats};
pub use target::{Answer, InProcessTarget, LambdaTarget, Outcome, Target};
pub use workload::{Accounts, Op, Workload};

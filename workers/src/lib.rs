//! The load engine: invoke targets, load models, the workload sampler, statistics that
//! merge exactly, and the engine loop that ties them together.

pub mod accounts;
pub mod breakdown;
pub mod chain;
pub mod engine;
pub mod error_class;
pub mod histogram;
pub mod invoker;
pub mod lean;
pub mod limits;
pub mod load;
pub mod platform;
pub mod remote;
pub mod response;
pub mod sdk_h2c;
pub mod stats;
pub mod target;
pub mod workload;

pub use accounts::{AccountCount, AccountCounts};
pub use breakdown::Breakdown;
pub use chain::error_chain;
pub use engine::{EngineEnd, EnginePlan, Halt, Interval, StopReason};
pub use histogram::Hist;
pub use invoker::{InvokeClient, Invoker};
pub use load::{LoadModel, Stage};
pub use platform::{PlatformReport, PlatformStats};
pub use response::{ResponseMap, TimeUnit};
pub use stats::{CallRecord, ErrorClass, Stats};
pub use target::{Answer, InProcessTarget, LambdaTarget, Outcome, Target};
pub use workload::{Accounts, Op, Workload, WorkloadError};

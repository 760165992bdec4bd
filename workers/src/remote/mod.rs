//! Remote workers in a distributed run: the protocol, the worker daemon, the
//! coordinator's side of one worker connection, and how a plan is split across workers.

pub mod channel;
pub mod client;
pub mod daemon;
pub mod lease;
pub mod protocol;
pub mod sim;
pub mod split;

pub use client::{ConnectError, WorkerEvent, WorkerLink};
pub use daemon::{Daemon, DaemonConfig, DaemonEvent};
pub use protocol::{WorkerTarget, PROTOCOL_VERSION};
pub use split::{split, SplitError};

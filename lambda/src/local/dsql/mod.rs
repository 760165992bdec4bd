//! A local Aurora DSQL: a PostgreSQL wire-protocol front before the throwaway
//! PostgreSQL that answers as DSQL answers (see docs/local-dsql.md).
//!
//! - `tls`: a CA and a server certificate made per stack; TLS is the only way in.
//! - `token`: IAM auth tokens (SigV4 presigned `DbConnect`/`DbConnectAdmin` URLs) checked
//!   for form, host, kind and age (the signature cannot be checked without AWS).
//! - `dialect`: what DSQL refuses, with its SQLSTATE and message; DDL and async indexes.
//! - `wire`: PostgreSQL protocol messages, both directions.
//! - `occ`: optimistic concurrency: no statement waits, conflicts at COMMIT.
//! - `session`: one client connection through the front.

pub mod access;
mod backend;
pub mod dialect;
mod front;
mod implicit;
mod local;
mod login;
pub mod occ;
mod session;
mod shared;
pub mod sys;
pub mod tls;
pub mod token;
mod transaction;
pub mod wire;

pub use access::Access;
pub use front::{DsqlFront, FrontError};
pub use shared::{BackendAddr, Counters, FrontConfig, Limits};

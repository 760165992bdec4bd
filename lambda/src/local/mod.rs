//! Local stand-ins for AWS: a throwaway PostgreSQL for DSQL, and an endpoint that
//! serves the real Lambda Invoke API over execution environments of the function.

pub mod api;
pub mod dsql;
pub mod endpoint;
pub mod environments;
pub mod fd_limit;
pub mod postgres;
pub mod report;
pub mod runtime;

pub use endpoint::{Endpoint, EndpointConfig};
pub use environments::{EnvironmentStats, FunctionSource, Overflow};
pub use postgres::{LocalPostgres, PgOptions};
pub use runtime::ProcessSpec;

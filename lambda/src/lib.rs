//! The DAT401 money-transfer function and the local stand-ins it runs on.
//!
//! Domain logic (request, validation, the transaction, the OCC retry policy) lives
//! apart from the database connection (`db`: local PostgreSQL or Aurora DSQL with IAM
//! tokens). `function` ties them into one execution environment's handler, used both by
//! the AWS entry point (`transfer-lambda`) and by the local Lambda endpoint (`local`).

pub mod civil;
pub mod db;
pub mod error;
pub mod function;
#[cfg(feature = "local")]
pub mod local;
pub mod request;
pub mod response;
pub mod retry;
pub mod schema;
pub mod transfer;

pub use error::FunctionError;
pub use function::Function;
pub use request::Request;
pub use retry::RetryPolicy;

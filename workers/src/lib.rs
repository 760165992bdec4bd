//! The load engine's pieces. So far: the invoke target, the real aws-sdk-lambda client
//! aimed at AWS or at the local endpoint, classifying every call's outcome.

pub mod target;

pub use target::{LambdaTarget, Outcome};

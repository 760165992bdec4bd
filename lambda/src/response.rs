//! The function's responses, in the workshop's shapes.

use serde::{Deserialize, Serialize};

/// A transfer's answer: `{"balance":80,"duration":18,"retries":0}` on success, or
/// `{"error":"Insufficient balance","duration":..,"retries":..}` for a business failure.
/// `duration` is whole milliseconds as in the workshop; `duration_us` adds microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration: u64,
    pub duration_us: u64,
    pub retries: u32,
}

/// Chapters 0 to 2: a greeting, optionally after a round trip to the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreetingResponse {
    pub greeting: String,
}

//! How a call failed, coarsely: the classes every count of failures is kept by. A leaf.

use serde::{Deserialize, Serialize};

/// How a call failed, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The function answered with a business error (`{"error": ...}`), e.g. insufficient balance.
    Business,
    /// The function failed (`X-Amz-Function-Error`), e.g. an OCC conflict not retried.
    Function,
    /// 429 TooManyRequestsException.
    Throttle,
    /// Any other service error (404, 400, 5xx).
    Service,
    /// No response: connection refused or reset.
    Transport,
    /// No answer within the call timeout.
    Timeout,
    /// Still in flight at the drain deadline (or a second signal): given up unanswered.
    Abandoned,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 7] = [
        ErrorClass::Business,
        ErrorClass::Function,
        ErrorClass::Throttle,
        ErrorClass::Service,
        ErrorClass::Transport,
        ErrorClass::Timeout,
        ErrorClass::Abandoned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Business => "business",
            ErrorClass::Function => "function",
            ErrorClass::Throttle => "throttle",
            ErrorClass::Service => "service",
            ErrorClass::Transport => "transport",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Abandoned => "abandoned",
        }
    }
}

//! Function errors: what a Lambda reports as `{"errorType","errorMessage"}` with
//! `X-Amz-Function-Error`. Business failures (insufficient balance, unknown account)
//! are not errors: they are answered in the response body, as the workshop does.

use serde::{Deserialize, Serialize};

/// The payload was not a request this function understands; nothing was touched.
pub const INVALID_REQUEST: &str = "InvalidRequest";
/// An OCC conflict (SQLSTATE 40001, or 40P01 on PostgreSQL) that the retry policy did not retry.
pub const OCC_CONFLICT: &str = "OccConflict";
/// Any other database error; never retried.
pub const DATABASE_ERROR: &str = "DatabaseError";
/// The database could not be reached or refused the login (IAM, TLS, network).
pub const CONNECTION_ERROR: &str = "ConnectionError";
/// The connection failed while COMMIT was in flight: the transfer may have committed.
pub const COMMIT_UNKNOWN: &str = "CommitOutcomeUnknown";
/// The function did not finish before its timeout.
pub const TIMEOUT: &str = "Sandbox.Timedout";

/// How a transaction's error message ends: ` after N retries`.
pub const RETRIES_SUFFIX: &str = " retries";

/// A Lambda function error: its type and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error_type}: {error_message}")]
pub struct FunctionError {
    #[serde(rename = "errorType")]
    pub error_type: String,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
}

impl FunctionError {
    pub fn new(error_type: &str, message: impl Into<String>) -> Self {
        FunctionError { error_type: error_type.to_string(), error_message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(INVALID_REQUEST, message)
    }

    /// Classify a database error that ends a transaction, with the OCC retries it had
    /// spent: the message always ends with ` after N retries`, which the harness reads
    /// (`RETRIES_SUFFIX`), so retry statistics count failed calls too.
    pub fn from_db(err: &tokio_postgres::Error, retries: u32) -> Self {
        let text = describe_db_error(err);
        let kind = if crate::retry::is_occ_conflict(err) { OCC_CONFLICT } else { DATABASE_ERROR };
        Self::new(kind, format!("{text} after {retries}{RETRIES_SUFFIX}"))
    }

    /// The connection was lost at COMMIT, so whether the transfer committed is unknown.
    pub fn commit_unknown(err: &tokio_postgres::Error, retries: u32) -> Self {
        let text = describe_db_error(err);
        let message = format!("the connection failed at COMMIT, which may have committed: {text}");
        Self::new(COMMIT_UNKNOWN, format!("{message} after {retries}{RETRIES_SUFFIX}"))
    }

    /// The body Lambda returns with `X-Amz-Function-Error`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "errorType": self.error_type, "errorMessage": self.error_message })
    }
}

impl From<FunctionError> for lambda_runtime::Diagnostic {
    fn from(e: FunctionError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type, error_message: e.error_message }
    }
}

/// `message (SQLSTATE)` for server errors, the error chain for anything else.
pub fn describe_db_error(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        // DSQL says why a login was refused in the hint ("Signature expired: ...").
        Some(db) => match db.hint() {
            Some(hint) => format!("{} ({}); hint: {hint}", db.message(), db.code().code()),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

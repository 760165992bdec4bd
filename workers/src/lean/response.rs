//! An Invoke API response as the outcome of one call, the same outcome aws-sdk-lambda's
//! answer maps to (`LambdaTarget::call`): a response, a function error (Lambda's 200 with
//! `X-Amz-Function-Error`, or an emulator's error status carrying the function's
//! `errorType`), a throttle with its reason, or another service error with its code.

use http::HeaderMap;
use serde_json::Value;

use crate::target::Outcome;

/// The outcome of a response with this status, headers and body.
pub fn outcome(status: u16, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let json = || serde_json::from_slice::<Value>(body).ok();
    if (200..300).contains(&status) {
        let value = json().unwrap_or_else(|| {
            if body.is_empty() {
                Value::Null
            } else {
                Value::String(String::from_utf8_lossy(body).into_owned())
            }
        });
        if headers.contains_key("x-amz-function-error") {
            return Outcome::FunctionError {
                error_type: value["errorType"].as_str().unwrap_or("Unhandled").to_string(),
                message: value["errorMessage"].as_str().map(str::to_string).unwrap_or_else(|| value.to_string()),
            };
        }
        return Outcome::Response(value);
    }
    let body = json().unwrap_or(Value::Null);
    let code = error_code(headers, &body);
    if code.is_none() {
        if let Some(error_type) = body.get("errorType").and_then(Value::as_str) {
            let message = body.get("errorMessage").and_then(Value::as_str).unwrap_or_default().to_string();
            return Outcome::FunctionError { error_type: error_type.to_string(), message };
        }
    }
    let message = ["message", "Message", "errorMessage"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    match code.as_deref() {
        Some("TooManyRequestsException") => {
            Outcome::Throttled { reason: body.get("Reason").and_then(Value::as_str).unwrap_or_default().to_string() }
        }
        _ => Outcome::ServiceError { code: code.unwrap_or_else(|| "Unknown".into()), message },
    }
}

/// The error code as the AWS JSON protocols give it: the `x-amzn-errortype` header, else
/// the body's `code` or `__type`, without a namespace (`ns#Code`) or suffix (`Code:uri`).
fn error_code(headers: &HeaderMap, body: &Value) -> Option<String> {
    let raw =
        headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_string).or_else(|| {
            ["code", "__type"].iter().find_map(|k| body.get(*k).and_then(Value::as_str)).map(str::to_string)
        })?;
    let raw = raw.split(':').next().unwrap_or_default();
    let code = raw.rsplit('#').next().unwrap_or_default();
    (!code.is_empty()).then(|| code.to_string())
}

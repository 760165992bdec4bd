//! The Invoke API's wire shapes, as AWS Lambda sends them, so the real aws-sdk-lambda
//! client parses them into the same errors.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Synchronous payload limit (6 MB).
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
pub const EXECUTED_VERSION: &str = "$LATEST";

/// A service error: status, `x-amzn-ErrorType`, and the JSON body Lambda sends.
pub fn service_error(status: StatusCode, error_type: &str, message: &str, extra: serde_json::Value) -> Response {
    let mut body = json!({ "Type": "User", "message": message });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let mut headers = HeaderMap::new();
    headers.insert("x-amzn-ErrorType", HeaderValue::from_str(error_type).expect("error types are ASCII"));
    (status, headers, axum::Json(body)).into_response()
}

pub fn not_found(arn: &str) -> Response {
    service_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &format!("Function not found: {arn}"), json!({}))
}

/// 429 with AWS's reason (`ConcurrentInvocationLimitExceeded`,
/// `ReservedFunctionConcurrentInvocationLimitExceeded`, ...).
pub fn throttled(reason: &str) -> Response {
    let mut r = service_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        "Rate Exceeded.",
        json!({ "Reason": reason }),
    );
    r.headers_mut().insert("Retry-After", HeaderValue::from_static("1"));
    r
}

pub fn invalid_content(message: &str) -> Response {
    service_error(StatusCode::BAD_REQUEST, "InvalidRequestContentException", message, json!({}))
}

pub fn too_large(size: usize) -> Response {
    service_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestTooLargeException",
        &format!(
            "Request must be smaller than {MAX_PAYLOAD} bytes for the InvokeFunction operation; it was {size} bytes"
        ),
        json!({}),
    )
}

pub fn invalid_parameter(message: &str) -> Response {
    service_error(StatusCode::BAD_REQUEST, "InvalidParameterValueException", message, json!({}))
}

/// The function ran: 200 with its payload, plus `X-Amz-Function-Error: Unhandled`
/// when the payload is an error object, and `X-Amz-Log-Result` when the log tail was
/// asked for.
pub fn invoked(request_id: &str, body: serde_json::Value, function_error: bool, log: Option<String>) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(log) = log {
        headers.insert("X-Amz-Log-Result", HeaderValue::from_str(&log).expect("base64 is ASCII"));
    }
    headers.insert("X-Amz-Executed-Version", HeaderValue::from_static(EXECUTED_VERSION));
    headers.insert("x-amzn-RequestId", HeaderValue::from_str(request_id).expect("request ids are ASCII"));
    if function_error {
        headers.insert("X-Amz-Function-Error", HeaderValue::from_static("Unhandled"));
    }
    (StatusCode::OK, headers, axum::Json(body)).into_response()
}

/// Accepted without running (`Event` returns 202, `DryRun` 204).
pub fn accepted(status: StatusCode, request_id: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("x-amzn-RequestId", HeaderValue::from_str(request_id).expect("request ids are ASCII"));
    (status, headers).into_response()
}

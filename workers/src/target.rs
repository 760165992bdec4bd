//! Invoking the function through the real aws-sdk-lambda client, with the SDK's own
//! retries off so that every throttle and failure is seen and counted by the caller.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;

/// How one call ended, as the caller saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 200 without `X-Amz-Function-Error`; the body may still carry a business error.
    Response(Value),
    /// 200 with `X-Amz-Function-Error`: the function's `errorType` and `errorMessage`.
    FunctionError { error_type: String, message: String },
    /// 429 TooManyRequestsException, with its reason.
    Throttled { reason: String },
    /// Any other service error (404 ResourceNotFoundException, 400 ...).
    ServiceError { code: String, message: String },
    /// No response: connection refused, reset, timed out.
    Transport { message: String },
}

/// A function behind the Lambda Invoke API.
#[derive(Clone, Debug)]
pub struct LambdaTarget {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaTarget {
    /// The local endpoint at `endpoint_url`, with static placeholder credentials.
    pub fn local(endpoint_url: &str, function: &str) -> Self {
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "LOCAL",
                "local",
                None,
                None,
                "harness-local",
            ))
            .endpoint_url(endpoint_url)
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        LambdaTarget {
            client: aws_sdk_lambda::Client::from_conf(config),
            function: function.to_string(),
        }
    }

    /// AWS Lambda, with region and credentials from the usual AWS configuration.
    pub async fn aws(function: &str, region: Option<String>, profile: Option<String>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        let sdk = loader.load().await;
        LambdaTarget {
            client: aws_sdk_lambda::Client::new(&sdk),
            function: function.to_string(),
        }
    }

    /// One synchronous invocation.
    pub async fn invoke(&self, payload: &Value) -> Outcome {
        let bytes = serde_json::to_vec(payload).expect("a JSON value serialises");
        let result = self
            .client
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(bytes))
            .send()
            .await;
        match result {
            Ok(out) => {
                let body = out.payload().map(|b| b.as_ref()).unwrap_or(b"null");
                let body: Value = serde_json::from_slice(body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
                match out.function_error() {
                    None => Outcome::Response(body),
                    Some(_) => Outcome::FunctionError {
                        error_type: body["errorType"]
                            .as_str()
                            .unwrap_or("Unhandled")
                            .to_string(),
                        message: body["errorMessage"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| body.to_string()),
                    },
                }
            }
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                InvokeError::TooManyRequestsException(t) => Outcome::Throttled {
                    reason: t
                        .reason()
                        .map(|r| r.as_str().to_string())
                        .unwrap_or_default(),
                },
                other => Outcome::ServiceError {
                    code: other.code().unwrap_or("Unknown").to_string(),
                    message: other.message().unwrap_or_default().to_string(),
                },
            },
            Err(other) => Outcome::Transport {
                message: error_chain(&other),
            },
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

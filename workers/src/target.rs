//! Invoke targets behind one small trait: the real aws-sdk-lambda client (AWS, or the
//! local endpoint through an endpoint URL) with the SDK's own retries off so that every
//! throttle and failure is seen and counted; and the function called in-process, to
//! separate the function's cost from the invoke path's.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_lambda::config::StalledStreamProtectionConfig;
use aws_smithy_http_client::tls;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;
use transfer::db::Database;
use transfer::local::environments::Environments;
use transfer::local::Overflow;
use transfer::{Function, RetryPolicy};

use crate::chain::error_chain;
use crate::platform::{self, PlatformReport, ReportError};

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

/// How one call ended, and what the platform reported about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub outcome: Outcome,
    /// The REPORT line of the log tail, when the call asked for it and one came back
    /// (`Err`: a tail came, but no readable REPORT line in it).
    pub report: Option<Result<PlatformReport, ReportError>>,
}

impl From<Outcome> for Answer {
    fn from(outcome: Outcome) -> Answer {
        Answer { outcome, report: None }
    }
}

/// Something that runs the function once per call.
pub trait Target: Send + Sync + 'static {
    fn invoke(&self, payload: Value) -> impl Future<Output = Answer> + Send;

    /// One call of `function` (a kind of call's own, `[[call]] function`), or of the
    /// target's function when `None`. Targets that call one function only ignore it; a
    /// target wrapping another must pass it on.
    fn invoke_function(&self, function: Option<Arc<str>>, payload: Value) -> impl Future<Output = Answer> + Send {
        let _ = function;
        self.invoke(payload)
    }
}

/// Concurrent calls per HTTP/2 connection: Lambda's endpoint allows about 128 streams
/// per connection (hyper's server 200), so each client (its own connection) takes fewer.
pub const CALLS_PER_CLIENT: u64 = 100;

/// A function behind the Lambda Invoke API, called through a small pool of SDK clients
/// (each with its own HTTP client) so that HTTP/2 stream limits never cap concurrency.
#[derive(Clone, Debug)]
pub struct LambdaTarget {
    clients: Arc<[aws_sdk_lambda::Client]>,
    next: Arc<AtomicUsize>,
    function: String,
    /// Ask for the log tail (`LogType: Tail`) and read its REPORT line.
    log_tail: bool,
}

impl LambdaTarget {
    /// The local endpoint at `endpoint_url`, with static placeholder credentials, over
    /// HTTP/2 as AWS is reached: one connection per `CALLS_PER_CLIENT` calls in flight
    /// (servers allow a few hundred streams per connection; hyper's default is 200).
    pub fn local(endpoint_url: &str, function: &str, max_in_flight: u64) -> Self {
        Self::placeholder(endpoint_url, function, max_in_flight, |config| config.http_client(crate::sdk_h2c::client()))
    }

    /// Any other Invoke API endpoint (SAM local, LocalStack, `cargo lambda watch`, a
    /// scripted endpoint) at `endpoint_url`, with placeholder credentials, through the
    /// SDK's own HTTP client: HTTP/1.1 over `http://`, HTTP/2 by ALPN over `https://`.
    pub fn endpoint(endpoint_url: &str, function: &str, max_in_flight: u64) -> Self {
        Self::placeholder(endpoint_url, function, max_in_flight, |config| config)
    }

    /// Clients for an endpoint other than AWS's: placeholder credentials, SDK retries
    /// off, and `http` choosing the HTTP client.
    fn placeholder(
        endpoint_url: &str,
        function: &str,
        max_in_flight: u64,
        http: impl Fn(aws_sdk_lambda::config::Builder) -> aws_sdk_lambda::config::Builder,
    ) -> Self {
        let clients = (0..clients_for(max_in_flight))
            .map(|_| {
                let config = aws_sdk_lambda::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new("us-east-1"))
                    .credentials_provider(Credentials::new("LOCAL", "local", None, None, "harness-local"))
                    .endpoint_url(endpoint_url)
                    .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
                    .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
                aws_sdk_lambda::Client::from_conf(http(config).build())
            })
            .collect();
        LambdaTarget::with_clients(clients, function)
    }

    /// A target over these clients (e.g. with a recorded-response HTTP client in tests).
    pub fn with_clients(clients: Vec<aws_sdk_lambda::Client>, function: &str) -> Self {
        LambdaTarget {
            clients: clients.into(),
            next: Arc::new(AtomicUsize::new(0)),
            function: function.to_string(),
            log_tail: false,
        }
    }

    /// Ask Lambda for each call's log tail and read its REPORT line.
    pub fn with_log_tail(mut self, on: bool) -> Self {
        self.log_tail = on;
        self
    }

    /// AWS Lambda, with region and credentials from the usual AWS configuration, and
    /// enough clients for `max_in_flight` concurrent calls; `endpoint_url` replaces the
    /// regional endpoint (an emulator, a VPC endpoint) but keeps the real credentials.
    pub async fn aws(function: &str, access: &AwsAccess, max_in_flight: u64) -> Self {
        let mut sdk = aws_sdk_config(access.region.clone(), access.profile.clone()).await;
        if let Some(url) = &access.endpoint_url {
            sdk = sdk.into_builder().endpoint_url(url).build();
        }
        let clients = (0..clients_for(max_in_flight))
            .map(|_| {
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
                    .build_https();
                let config = aws_sdk_lambda::config::Builder::from(&sdk)
                    .http_client(http)
                    .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
                    .build();
                aws_sdk_lambda::Client::from_conf(config)
            })
            .collect();
        LambdaTarget::with_clients(clients, function)
    }

    /// How many SDK clients (HTTP connection pools) the target spreads calls over.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// The next SDK client, round-robin.
    pub fn client(&self) -> &aws_sdk_lambda::Client {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        &self.clients[i]
    }

    /// One synchronous invocation.
    pub async fn call(&self, payload: &Value) -> Answer {
        self.call_function(None, payload).await
    }

    /// One synchronous invocation of `function`, or of the target's own when `None`.
    pub async fn call_function(&self, function: Option<&str>, payload: &Value) -> Answer {
        let bytes = serde_json::to_vec(payload).expect("a JSON value serialises");
        let name = function.unwrap_or(&self.function);
        let mut invoke = self.client().invoke().function_name(name).payload(Blob::new(bytes));
        if self.log_tail {
            invoke = invoke.log_type(aws_sdk_lambda::types::LogType::Tail);
        }
        let result = invoke.send().await;
        let report = match &result {
            Ok(out) => out.log_result().map(platform::from_log_result),
            Err(_) => None,
        };
        Answer { outcome: outcome(result), report }
    }
}

/// The SDK's answer to an Invoke as the call's outcome.
fn outcome(
    result: Result<
        aws_sdk_lambda::operation::invoke::InvokeOutput,
        SdkError<InvokeError, aws_sdk_lambda::config::http::HttpResponse>,
    >,
) -> Outcome {
    match result {
        Ok(out) => {
            let body = out.payload().map(|b| b.as_ref()).unwrap_or(b"null");
            let body: Value = serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
            match out.function_error() {
                None => Outcome::Response(body),
                Some(_) => Outcome::FunctionError {
                    error_type: body["errorType"].as_str().unwrap_or("Unhandled").to_string(),
                    message: body["errorMessage"].as_str().map(str::to_string).unwrap_or_else(|| body.to_string()),
                },
            }
        }
        Err(SdkError::ServiceError(e)) if emulated_function_error(e.raw()).is_some() => {
            let (error_type, message) = emulated_function_error(e.raw()).expect("checked by the guard");
            Outcome::FunctionError { error_type, message }
        }
        Err(SdkError::ServiceError(e)) => match e.into_err() {
            InvokeError::TooManyRequestsException(t) => {
                Outcome::Throttled { reason: t.reason().map(|r| r.as_str().to_string()).unwrap_or_default() }
            }
            other => Outcome::ServiceError {
                code: other.code().unwrap_or("Unknown").to_string(),
                message: other.message().unwrap_or_default().to_string(),
            },
        },
        Err(other) => Outcome::Transport { message: error_chain(&other) },
    }
}

impl Target for LambdaTarget {
    fn invoke(&self, payload: Value) -> impl Future<Output = Answer> + Send {
        async move { self.call(&payload).await }
    }
}

/// The function called in-process against the database, over the same execution
/// environments (one connection each) as the local endpoint.
#[derive(Clone)]
pub struct InProcessTarget {
    environments: Arc<Environments>,
}

impl InProcessTarget {
    pub fn new(environments: usize, db: Database, policy: RetryPolicy) -> Self {
        let make = move || Function::new(db.clone(), policy);
        InProcessTarget { environments: Environments::new(environments, Overflow::Queue, make) }
    }

    pub fn stats(&self) -> transfer::local::EnvironmentStats {
        self.environments.stats()
    }
}

impl Target for InProcessTarget {
    fn invoke(&self, payload: Value) -> impl Future<Output = Answer> + Send {
        async move {
            let mut lease = match self.environments.acquire().await {
                Ok(lease) => lease,
                Err(throttled) => return Outcome::Throttled { reason: throttled.0.into() }.into(),
            };
            let result = lease.function().invoke(payload).await;
            lease.finish();
            match result {
                Ok(v) => Outcome::Response(v).into(),
                Err(e) => Outcome::FunctionError { error_type: e.error_type, message: e.error_message }.into(),
            }
        }
    }
}

/// An SDK error as the service's code and message, or the transport error chain.
pub fn describe_sdk_error(e: &SdkError<InvokeError, aws_sdk_lambda::config::http::HttpResponse>) -> String {
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            format!("{}: {}", err.code().unwrap_or("Unknown"), err.message().unwrap_or_default())
        }
        other => error_chain(other),
    }
}

/// Where and as whom AWS is called: region, profile, and an optional endpoint URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AwsAccess {
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

/// A function error as emulators answer it: not Lambda's 200 with
/// `X-Amz-Function-Error`, but an error status (`cargo lambda watch` sends 500) whose
/// body is the function's `{"errorType","errorMessage"}` and which names no AWS error
/// code. The function's own type and message are kept whatever the status.
pub fn emulated_function_error(raw: &aws_sdk_lambda::config::http::HttpResponse) -> Option<(String, String)> {
    if raw.headers().get("x-amzn-errortype").is_some() {
        return None;
    }
    let body: Value = serde_json::from_slice(raw.body().bytes()?).ok()?;
    if body.get("__type").is_some() || body.get("code").is_some() {
        return None;
    }
    let error_type = body.get("errorType")?.as_str()?.to_string();
    let message = body.get("errorMessage").and_then(Value::as_str).unwrap_or_default().to_string();
    Some((error_type, message))
}

/// The usual AWS configuration (environment, profile, instance role), with `region` and
/// `profile` when given, and SDK retries off so that every failure is seen.
pub async fn aws_sdk_config(region: Option<String>, profile: Option<String>) -> aws_config::SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(aws_config::retry::RetryConfig::disabled());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

fn clients_for(max_in_flight: u64) -> u64 {
    max_in_flight.div_ceil(CALLS_PER_CLIENT).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn aws_target_has_a_client_per_hundred_calls_in_flight() {
        // Loading the configuration is offline: credentials are only resolved on a call.
        let access = AwsAccess { region: Some("us-east-1".into()), ..AwsAccess::default() };
        let target = LambdaTarget::aws("reinvent-dat401", &access, 1_000).await;
        assert_eq!(target.client_count(), 10);
        assert_eq!(LambdaTarget::aws("f", &access, 1).await.client_count(), 1);
        assert_eq!(LambdaTarget::local("http://127.0.0.1:1", "f", 1).client_count(), 1);
        assert_eq!(LambdaTarget::local("http://127.0.0.1:1", "f", 10_000).client_count(), 100);
    }
}

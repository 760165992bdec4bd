//! The lean invoke path: the Invoke API request built directly, signed with SigV4
//! (`request`), sent on hyper (HTTP/2 by ALPN over TLS to AWS; HTTP/1.1 to other
//! plain-HTTP endpoints) or, to the local endpoint, on our own HTTP/2 streams with prior
//! knowledge (`h2c_pool`), the answer mapped to the same `Outcome` as the SDK's
//! (`response`). Credentials come from the same provider chain as the SDK's
//! (`credentials`), the regional endpoint from the SDK's own endpoint rules. `workers/tests/lean_equivalence.rs` proves both paths send the same signed
//! request and read every recorded answer alike. `crate::invoker` chooses between this
//! client and the SDK's.

pub mod credentials;
pub mod h2c_pool;
pub mod request;
pub mod response;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::chain::error_chain;
use crate::target::{Answer, AwsAccess, Outcome, Target, CALLS_PER_CLIENT};
use credentials::{CachedCredentials, NoCredentials};
use request::{RequestError, Signer};

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// How a target speaks HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/2 with prior knowledge (`http://` endpoints that speak it: the local one).
    H2c,
    /// HTTP/2 by ALPN over TLS, HTTP/1.1 otherwise.
    Negotiated,
}

/// A function behind the Invoke API, called through the lean client: a few hyper
/// clients (one connection each), round-robin, so HTTP/2 stream limits never cap
/// concurrency.
#[derive(Clone)]
pub struct LeanTarget {
    transport: Arc<Transport>,
    signer: Arc<Signer>,
    credentials: Arc<CachedCredentials>,
    path: Arc<str>,
    /// Ask for the log tail (`X-Amz-Log-Type: Tail`) and read its REPORT line.
    log_tail: bool,
}

/// Why the lean client could not be made for a target.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{url:?} is not a URL")]
    NotUrl {
        url: String,
        #[source]
        source: http::uri::InvalidUri,
    },
    #[error("{url:?}: HTTP/2 with prior knowledge needs an http:// URL")]
    NotHttp { url: String },
    #[error("{url:?} names no host")]
    NoHost { url: String },
    #[error("TLS configuration")]
    Tls(#[source] rustls::Error),
    #[error("loading the system's root certificates")]
    NativeRoots(#[source] std::io::Error),
    #[error("no AWS region configured: pass --region or set AWS_REGION")]
    NoRegion,
    #[error("no AWS credentials provider configured")]
    NoCredentialsProvider,
    #[error("endpoint parameters")]
    EndpointParams(#[source] aws_sdk_lambda::config::endpoint::InvalidParams),
    #[error("no endpoint for {region}")]
    NoEndpoint {
        region: String,
        #[source]
        source: aws_smithy_runtime_api::box_error::BoxError,
    },
}

/// Why one call got no answer (its text, with its sources, is the transport error's).
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    Credentials(#[from] NoCredentials),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    H2c(#[from] h2c_pool::SendError),
    #[error(transparent)]
    Hyper(#[from] hyper_util::client::legacy::Error),
    #[error("reading the response")]
    Body(#[source] hyper::Error),
}

/// How requests travel: HTTP/2 with prior knowledge on our own streams, or hyper.
enum Transport {
    H2c(h2c_pool::H2cPool),
    Hyper { clients: Vec<Client<Https, Full<Bytes>>>, next: AtomicUsize },
}

/// The `x-amz-user-agent` the lean client sends.
pub fn user_agent() -> String {
    format!("dsql-lambda-harness/{} lean-invoke", env!("CARGO_PKG_VERSION"))
}

impl LeanTarget {
    /// A target at `base` in `region`, with enough connections for `max_in_flight` calls.
    pub fn new(
        base: &str,
        region: &str,
        function: &str,
        credentials: CachedCredentials,
        protocol: Protocol,
        max_in_flight: u64,
    ) -> Result<LeanTarget, BuildError> {
        let count = max_in_flight.div_ceil(CALLS_PER_CLIENT).max(1);
        let transport = match protocol {
            Protocol::H2c => Transport::H2c(h2c_pool::H2cPool::new(base, count as usize)?),
            Protocol::Negotiated => {
                // One TLS configuration (the system's roots, read once) for every connection.
                let tls = tls_config()?;
                let clients = (0..count).map(|_| client(tls.clone())).collect();
                Transport::Hyper { clients, next: AtomicUsize::new(0) }
            }
        };
        let signer = Signer::new(base, region, &user_agent());
        Ok(LeanTarget {
            transport: Arc::new(transport),
            signer: Arc::new(signer),
            credentials: Arc::new(credentials),
            path: request::invoke_path(function).into(),
            log_tail: false,
        })
    }

    /// Ask Lambda for each call's log tail and read its REPORT line.
    pub fn with_log_tail(mut self, on: bool) -> Self {
        self.log_tail = on;
        self
    }

    /// The local endpoint (h2c), with placeholder credentials.
    pub fn local(url: &str, function: &str, max_in_flight: u64) -> Result<LeanTarget, BuildError> {
        let placeholder = Credentials::new("LOCAL", "local", None, None, "harness-local");
        LeanTarget::new(url, "us-east-1", function, CachedCredentials::fixed(placeholder), Protocol::H2c, max_in_flight)
    }

    /// Any other Invoke API endpoint, with placeholder credentials.
    pub fn endpoint(url: &str, function: &str, max_in_flight: u64) -> Result<LeanTarget, BuildError> {
        let placeholder = Credentials::new("LOCAL", "local", None, None, "harness-endpoint");
        let credentials = CachedCredentials::fixed(placeholder);
        LeanTarget::new(url, "us-east-1", function, credentials, Protocol::Negotiated, max_in_flight)
    }

    /// AWS Lambda: region, credentials and endpoint as the SDK would resolve them.
    pub async fn aws(function: &str, access: &AwsAccess, max_in_flight: u64) -> Result<LeanTarget, BuildError> {
        let sdk = crate::target::aws_sdk_config(access.region.clone(), access.profile.clone()).await;
        let region = sdk.region().ok_or(BuildError::NoRegion)?.to_string();
        let provider = sdk.credentials_provider().ok_or(BuildError::NoCredentialsProvider)?;
        let base = match access.endpoint_url.clone().or_else(|| configured_endpoint(&sdk)) {
            Some(url) => url,
            None => regional_endpoint(&sdk, &region).await?,
        };
        LeanTarget::new(&base, &region, function, CachedCredentials::new(provider), Protocol::Negotiated, max_in_flight)
    }

    /// One synchronous invocation.
    pub async fn call(&self, payload: &Value) -> Answer {
        self.call_function(None, payload).await
    }

    /// One synchronous invocation of `function`, or of the target's own when `None`.
    pub async fn call_function(&self, function: Option<&str>, payload: &Value) -> Answer {
        let bytes = Bytes::from(serde_json::to_vec(payload).expect("a JSON value serialises"));
        let path = function.map(request::invoke_path);
        let (status, headers, body) = match self.exchange(path.as_deref().unwrap_or(&self.path), bytes).await {
            Ok(answer) => answer,
            Err(e) => return Outcome::Transport { message: error_chain(&e) }.into(),
        };
        let report = headers.get("x-amz-log-result").map(crate::platform::from_log_header);
        Answer { outcome: response::outcome(status, &headers, &body), report }
    }

    /// Sign and send one call's request; the answer's status, headers and body.
    async fn exchange(&self, path: &str, payload: Bytes) -> Result<(u16, http::HeaderMap, Bytes), CallError> {
        let credentials = self.credentials.get().await?;
        let request = self.signer.request(path, payload, &credentials, self.log_tail, SystemTime::now())?;
        match &*self.transport {
            Transport::H2c(pool) => {
                let a = pool.send(request).await?;
                Ok((a.status, a.headers, a.body))
            }
            Transport::Hyper { clients, next } => {
                let i = next.fetch_add(1, Ordering::Relaxed) % clients.len();
                let (parts, body) = clients[i].request(request.map(Full::new)).await?.into_parts();
                let body = body.collect().await.map_err(CallError::Body)?;
                Ok((parts.status.as_u16(), parts.headers, body.to_bytes()))
            }
        }
    }
}

impl Target for LeanTarget {
    fn invoke(&self, payload: Value) -> impl Future<Output = Answer> + Send {
        async move { self.call(&payload).await }
    }
}

/// TLS 1.2/1.3 with aws-lc-rs (the one crypto provider of the build) and the system's
/// root certificates.
fn tls_config() -> Result<rustls::ClientConfig, BuildError> {
    use hyper_rustls::ConfigBuilderExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(BuildError::Tls)?
        .with_native_roots()
        .map_err(BuildError::NativeRoots)?
        .with_no_client_auth())
}

/// hyper over TLS (HTTP/2 by ALPN) or plain HTTP/1.1.
fn client(tls: rustls::ClientConfig) -> Client<Https, Full<Bytes>> {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new()).build(https)
}

/// An endpoint the AWS configuration names, as aws-sdk-lambda reads it:
/// `AWS_ENDPOINT_URL_LAMBDA` (or the profile's `services` section), else `AWS_ENDPOINT_URL`.
fn configured_endpoint(sdk: &aws_config::SdkConfig) -> Option<String> {
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("Lambda")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config().and_then(|c| c.load_config(key)).or_else(|| sdk.endpoint_url().map(str::to_string))
}

/// The Invoke API's URL for `region`, from aws-sdk-lambda's endpoint rules (FIPS and
/// dual-stack as the configuration says).
async fn regional_endpoint(sdk: &aws_config::SdkConfig, region: &str) -> Result<String, BuildError> {
    use aws_sdk_lambda::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .region(region)
        .use_fips(sdk.use_fips().unwrap_or(false))
        .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
        .build()
        .map_err(BuildError::EndpointParams)?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|source| BuildError::NoEndpoint { region: region.to_string(), source })?;
    Ok(endpoint.url().to_string())
}

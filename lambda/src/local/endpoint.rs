//! The local Lambda endpoint: `POST /2015-03-31/functions/{name}/invocations` served
//! over execution environments of the function, answering exactly as AWS Lambda does,
//! so the real aws-sdk-lambda client (endpoint URL, any static credentials) cannot tell
//! the difference. `GET /_local/stats` reports cold starts, throttles and timeouts.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::api;
use super::environments::{Call, EnvironmentStats, Environments, FunctionSource, Lifecycle, Overflow, Payload};
use super::report::{self, Invocation};
use super::runtime::{LaunchConfig, Launcher, ProcessSpec};
use crate::error::TIMEOUT;
use crate::{Function, FunctionError};

/// Default number of execution environments: about what PostgreSQL on a 2-core machine
/// serves well. More would only queue inside PostgreSQL and raise conflict rates.
pub const DEFAULT_ENVIRONMENTS: usize = 32;
/// Default function timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default memory size, MB: what a function gets unless it says otherwise (the
/// workshop's CDK function does not).
pub const DEFAULT_MEMORY_MB: u64 = 128;
/// Default start-up cost of a cold start: about a Rust function's on AWS (runtime
/// bootstrap and the function's own initialisation).
pub const DEFAULT_INIT_COST: Duration = Duration::from_millis(40);
/// Default time an idle environment lives: AWS gives no figure; environments are
/// commonly seen reclaimed after 5 to 15 minutes idle.
pub const DEFAULT_IDLE_RECLAIM: Duration = Duration::from_secs(300);
/// The function name the workshop deploys.
pub const DEFAULT_FUNCTION: &str = "reinvent-dat401";
/// The region and account that appear in local ARNs.
pub const LOCAL_REGION: &str = "us-east-1";
pub const LOCAL_ACCOUNT: &str = "000000000000";

/// How the endpoint runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndpointConfig {
    /// Where to listen; loopback unless `allow_non_loopback`.
    pub listen: SocketAddr,
    pub allow_non_loopback: bool,
    pub function_name: String,
    pub environments: usize,
    pub overflow: Overflow,
    pub timeout: Duration,
    /// The memory size REPORT lines state, MB.
    #[serde(default = "default_memory")]
    pub memory_size_mb: u64,
    /// Cold-start cost, idle reclaim and reserved concurrency.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Spent inside every invocation before the function runs, and counted in its REPORT
    /// line's duration: a slowdown injected on purpose (a scenario's
    /// `local.added_latency`).
    #[serde(default)]
    pub added_duration: Duration,
}

fn default_memory() -> u64 {
    DEFAULT_MEMORY_MB
}

/// The lifecycle the endpoint emulates unless told otherwise.
pub fn default_lifecycle() -> Lifecycle {
    Lifecycle { init_cost: DEFAULT_INIT_COST, idle_reclaim: Some(DEFAULT_IDLE_RECLAIM), reserved: None }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_non_loopback: false,
            function_name: DEFAULT_FUNCTION.to_string(),
            environments: DEFAULT_ENVIRONMENTS,
            overflow: Overflow::Queue,
            timeout: DEFAULT_TIMEOUT,
            memory_size_mb: DEFAULT_MEMORY_MB,
            lifecycle: default_lifecycle(),
            added_duration: Duration::ZERO,
        }
    }
}

/// A running endpoint; `shutdown` stops it (dropping it stops it too).
pub struct Endpoint {
    addr: SocketAddr,
    environments: Arc<Environments>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// How long `shutdown` waits for open connections: a call in flight ends within the
    /// function timeout, but a client cut off by the network never closes its connection.
    grace: Duration,
}

struct Shared {
    config: EndpointConfig,
    environments: Arc<Environments>,
    memory: report::ResidentMemory,
}

impl Endpoint {
    /// Bind and serve; `make` creates the function of each new execution environment.
    pub async fn start(
        config: EndpointConfig,
        make: impl Fn() -> Function + Send + Sync + 'static,
    ) -> std::io::Result<Endpoint> {
        Endpoint::start_with(config, FunctionSource::Builtin(Box::new(make))).await
    }

    /// Bind and serve a function run as AWS runs it: each execution environment is a
    /// process started from `spec`, polling a Lambda Runtime API of its own. Fails when
    /// the spec's directory is missing or its log directory cannot be written.
    pub async fn start_process(config: EndpointConfig, spec: ProcessSpec) -> std::io::Result<Endpoint> {
        let launch = LaunchConfig {
            function_name: config.function_name.clone(),
            function_arn: arn(&config.function_name),
            memory_size_mb: config.memory_size_mb,
            timeout: config.timeout,
        };
        let launcher = Launcher::new(spec, launch).map_err(std::io::Error::other)?;
        Endpoint::start_with(config, FunctionSource::Process(launcher)).await
    }

    /// Bind and serve environments from `source`.
    pub async fn start_with(config: EndpointConfig, source: FunctionSource) -> std::io::Result<Endpoint> {
        if !config.listen.ip().is_loopback() && !config.allow_non_loopback {
            return Err(std::io::Error::other(format!(
                "refusing to listen on {}: the local endpoint has no authentication; use a loopback address",
                config.listen
            )));
        }
        if config.environments == 0 {
            return Err(std::io::Error::other("the number of execution environments must be at least 1"));
        }
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let environments = Environments::with_source(config.environments, config.overflow, config.lifecycle, source);
        let grace = config.timeout + Duration::from_secs(5);
        let shared = Arc::new(Shared { config, environments: environments.clone(), memory: Default::default() });
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .route("/_local/stats", get(stats))
            .layer(DefaultBodyLimit::max(api::MAX_PAYLOAD + 1024 * 1024))
            .with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Endpoint { addr, environments, stop: Some(stop), task: Some(task), grace })
    }

    /// `http://127.0.0.1:PORT`, for an SDK client's endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> EnvironmentStats {
        self.environments.stats()
    }

    /// Stop accepting, let requests in flight finish (for at most the function timeout
    /// plus 5 s, then close what is still open), and return.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(mut task) = self.task.take() else { return Ok(()) };
        match tokio::time::timeout(self.grace, &mut task).await {
            Ok(done) => done.map_err(std::io::Error::other)?,
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // No environment outlives the endpoint: idle ones are dropped, processes killed.
        self.environments.close();
    }
}

/// The function name and qualifier from a name, a partial ARN or a full ARN.
fn parse_function(raw: &str) -> (&str, Option<&str>) {
    let tail = raw.rsplit_once(":function:").map_or(raw, |(_, t)| t);
    match tail.split_once(':') {
        Some((name, qualifier)) => (name, Some(qualifier)),
        None => (tail, None),
    }
}

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{name}")
}

async fn invoke(
    State(shared): State<Arc<Shared>>,
    Path(raw_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = request_id();
    let (name, path_qualifier) = parse_function(&raw_name);
    let qualifier = path_qualifier.or(query.get("Qualifier").map(String::as_str));
    if name != shared.config.function_name {
        return api::not_found(&arn(name));
    }
    if let Some(q) = qualifier.filter(|q| *q != api::EXECUTED_VERSION) {
        return api::not_found(&format!("{}:{q}", arn(name)));
    }
    if body.len() > api::MAX_PAYLOAD {
        return api::too_large(body.len());
    }
    let (payload, raw): (Value, Bytes) = if body.is_empty() {
        (Value::Object(Default::default()), Bytes::from_static(b"{}"))
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => (v, body),
            Err(e) => {
                return api::invalid_content(&format!(
                    "Could not parse request body into json: Could not parse payload into json: {e}"
                ))
            }
        }
    };
    let invocation_type =
        headers.get("X-Amz-Invocation-Type").and_then(|v| v.to_str().ok()).unwrap_or("RequestResponse");
    let log_tail = match headers.get("X-Amz-Log-Type").and_then(|v| v.to_str().ok()).unwrap_or("None") {
        "None" => false,
        "Tail" => true,
        other => return api::invalid_parameter(&format!("X-Amz-Log-Type must be None or Tail, got {other}")),
    };
    match invocation_type {
        "RequestResponse" => {}
        "Event" => {
            // Queued like AWS's asynchronous invocations: never throttled to the caller.
            let call = Invoke { request_id, payload, raw, log_tail: false };
            tokio::spawn(run_function(shared, call, Overflow::Queue));
            return api::accepted(StatusCode::ACCEPTED, request_id.as_str());
        }
        "DryRun" => return api::accepted(StatusCode::NO_CONTENT, request_id.as_str()),
        other => {
            return api::invalid_parameter(&format!(
                "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, got {other}"
            ))
        }
    }
    let overflow = shared.config.overflow;
    let kept = Arc::clone(&shared);
    // A task of its own: a caller that hangs up does not interrupt the function
    // mid-transaction, as on AWS.
    match tokio::spawn(run_function(shared, Invoke { request_id, payload, raw, log_tail }, overflow)).await {
        Ok(Ok(ran)) => answer(&kept, request_id, ran, log_tail),
        Ok(Err(reason)) => api::throttled(reason),
        Err(e) => {
            let error = FunctionError::new("Runtime.ExitError", format!("the function crashed: {e}"));
            let log = log_tail.then(|| crashed_log(request_id.as_str(), kept.config.memory_size_mb));
            api::invoked(request_id.as_str(), error.to_json(), true, log)
        }
    }
}

/// The Invoke API's answer for an invocation that ran, with its log tail when asked.
fn answer(shared: &Shared, request_id: RequestId, ran: Ran, log_tail: bool) -> Response {
    let log = log_tail.then(|| {
        Invocation {
            request_id: request_id.as_str(),
            duration: ran.duration,
            init: ran.init,
            memory_size_mb: shared.config.memory_size_mb,
            max_memory_used_mb: ran.memory_mb.unwrap_or_else(|| shared.memory.mb()),
            status: ran.status.as_deref(),
        }
        .log_result()
    });
    match ran.body {
        Payload::Json(body) => api::invoked(request_id.as_str(), body, ran.function_error, log),
        // The bytes the function's process posted, as Lambda passes them on.
        Payload::Raw(bytes) => api::invoked(request_id.as_str(), Value::Null, ran.function_error, log)
            .map(|_| axum::body::Body::from(bytes)),
    }
}

/// The log of an invocation whose task died under it.
fn crashed_log(request_id: &str, memory_size_mb: u64) -> String {
    let status = "error\tError Type: Runtime.ExitError";
    let (duration, max_memory_used_mb) = (Duration::ZERO, report::resident_mb());
    Invocation { request_id, duration, init: None, memory_size_mb, max_memory_used_mb, status: Some(status) }
        .log_result()
}

/// One invocation, as the endpoint received it.
struct Invoke {
    request_id: RequestId,
    payload: Value,
    /// The payload's bytes as sent (`{}` for an empty body).
    raw: Bytes,
    /// The caller asked for the log tail.
    log_tail: bool,
}

/// One invocation as it ran in its environment.
struct Ran {
    body: Payload,
    function_error: bool,
    duration: Duration,
    /// The environment's start-up, when this was its cold start.
    init: Option<Duration>,
    /// The REPORT line's status, when the invocation did not complete.
    status: Option<Cow<'static, str>>,
    /// The environment's own peak memory, when it is a process of its own.
    memory_mb: Option<u64>,
}

/// Run one invocation in an environment, or say why it was throttled.
async fn run_function(shared: Arc<Shared>, call: Invoke, overflow: Overflow) -> Result<Ran, &'static str> {
    let mut lease = shared.environments.acquire_or(overflow).await.map_err(|t| t.0)?;
    let init = lease.init();
    if let Some(failure) = lease.init_failure() {
        // The environment never started: the invocation answers its init error.
        let status = match failure.timed_out() {
            true => Cow::Borrowed("timeout"),
            false => Cow::Owned(format!("error\tError Type: {}", failure.error_type())),
        };
        let (body, timed_out) = (Payload::Raw(failure.document(call.request_id.as_str())), failure.timed_out());
        drop(lease);
        shared.environments.count_invocation(true, timed_out);
        let (duration, status) = (Duration::ZERO, Some(status));
        return Ok(Ran { body, function_error: true, duration, init, status, memory_mb: None });
    }
    let timeout = shared.config.timeout;
    let Invoke { request_id, payload, raw, log_tail } = call;
    let env = lease.environment().expect("a lease holds its environment unless its start failed");
    let started = std::time::Instant::now();
    let call = Call { request_id: request_id.as_str(), payload, raw, timeout };
    let added = shared.config.added_duration;
    let invoked = async move {
        if !added.is_zero() {
            tokio::time::sleep(added).await;
        }
        env.invoke(call).await
    };
    let result = tokio::time::timeout(timeout, invoked).await;
    let duration = started.elapsed();
    let mut memory_mb = None;
    let (body, function_error, timed_out, status) = match result {
        Ok(answer) => {
            memory_mb = lease.environment().filter(|_| log_tail).and_then(|env| env.max_memory_used_mb());
            // A process that exited mid-invoke is discarded: the next call is a cold start.
            let exited = !lease.environment().is_some_and(|env| env.healthy());
            lease.finish();
            let status = exited.then_some(Cow::Borrowed("error\tError Type: Runtime.ExitError"));
            match answer {
                Ok(body) => (body, false, false, status),
                Err(body) => (body, true, false, status),
            }
        }
        Err(_) => {
            drop(lease); // interrupted mid-invocation: discard the environment (a process is killed)
            let msg = format!("Task timed out after {:.2} seconds", timeout.as_secs_f64());
            (Payload::Json(FunctionError::new(TIMEOUT, msg).to_json()), true, true, Some(Cow::Borrowed("timeout")))
        }
    };
    shared.environments.count_invocation(function_error, timed_out);
    Ok(Ran { body, function_error, duration, init, status, memory_mb })
}

async fn stats(State(shared): State<Arc<Shared>>) -> axum::Json<EnvironmentStats> {
    axum::Json(shared.environments.stats())
}

/// A request id (`8476a536-e9f4-11e8-9739-2dfe598c3fcd`), held inline: copying it into
/// the invocation's task costs no allocation.
#[derive(Clone, Copy)]
struct RequestId([u8; 36]);

impl RequestId {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a request id is hex digits and dashes")
    }
}

fn request_id() -> RequestId {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v: u128 = rand::random();
    let mut id = [b'-'; 36];
    let mut nibble = 0;
    for (i, byte) in id.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        *byte = HEX[((v >> (124 - 4 * nibble)) & 0xf) as usize];
        nibble += 1;
    }
    RequestId(id)
}

#[cfg(test)]
mod tests {
    use super::parse_function;

    #[test]
    fn names_partial_and_full_arns() {
        assert_eq!(parse_function("reinvent-dat401"), ("reinvent-dat401", None));
        assert_eq!(parse_function("reinvent-dat401:$LATEST"), ("reinvent-dat401", Some("$LATEST")));
        assert_eq!(parse_function("000000000000:function:f"), ("f", None));
        assert_eq!(parse_function("arn:aws:lambda:us-east-1:000000000000:function:f:prod"), ("f", Some("prod")));
    }
}

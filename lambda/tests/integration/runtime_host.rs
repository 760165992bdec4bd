//! The local endpoint hosting functions as AWS runs them: each execution environment a
//! real `node`, `python3` or `provided` bootstrap process polling its own Runtime API,
//! called through the Invoke API by the real aws-sdk-lambda client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine as _;
use serde_json::{json, Value};
use transfer::local::endpoint::default_lifecycle;
use transfer::local::{Endpoint, EndpointConfig, Overflow, ProcessSpec};

const NAME: &str = "my-function";

fn fixture(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runtime").join(dir)
}

/// An endpoint hosting one function, with the directory its logs go to.
struct Host {
    endpoint: Endpoint,
    lambda: aws_sdk_lambda::Client,
    logs: tempfile::TempDir,
}

fn config(environments: usize, overflow: Overflow, timeout: Duration) -> EndpointConfig {
    let lifecycle = default_lifecycle();
    EndpointConfig { function_name: NAME.into(), environments, overflow, timeout, lifecycle, ..Default::default() }
}

async fn host(runtime: &str, handler: &str, dir: PathBuf, env: &[(&str, &str)], config: EndpointConfig) -> Host {
    let logs = tempfile::tempdir().unwrap();
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let spec = ProcessSpec::for_runtime(runtime, handler, dir, env, logs.path()).unwrap();
    let endpoint = Endpoint::start_process(config, spec).await.unwrap();
    let lambda = crate::support::lambda_client(&endpoint.url());
    Host { endpoint, lambda, logs }
}

async fn node(handler: &str, config: EndpointConfig) -> Host {
    host("nodejs22.x", handler, fixture("node"), &[("CUSTOM", "mine"), ("AWS_REGION", "eu-west-1")], config).await
}

async fn python(handler: &str, config: EndpointConfig) -> Host {
    host("python3.12", handler, fixture("python"), &[("PYTHONDONTWRITEBYTECODE", "1")], config).await
}

/// One call's answer as the SDK saw it.
struct Called {
    function_error: Option<String>,
    body: Value,
    /// The log tail: START, END and the REPORT line.
    log: String,
    request_id: String,
}

impl Host {
    async fn call(&self, payload: Value) -> Result<Called, InvokeError> {
        let out = self
            .lambda
            .invoke()
            .function_name(NAME)
            .log_type(LogType::Tail)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(SdkError::into_service_error)?;
        assert_eq!(out.status_code(), 200);
        let log = base64::engine::general_purpose::STANDARD.decode(out.log_result().unwrap()).unwrap();
        Ok(Called {
            function_error: out.function_error().map(str::to_string),
            body: serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap(),
            log: String::from_utf8(log).unwrap(),
            request_id: out.request_id().unwrap().to_string(),
        })
    }

    async fn ok(&self, payload: Value) -> Called {
        let called = self.call(payload).await.expect("the call ran");
        assert_eq!(called.function_error, None, "{}", called.body);
        called
    }

    async fn failed(&self, payload: Value) -> Called {
        let called = self.call(payload).await.expect("the call ran");
        assert_eq!(called.function_error.as_deref(), Some("Unhandled"), "{}", called.body);
        called
    }

    fn log_file(&self, n: u64) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("env-{n}.log"))).unwrap_or_default()
    }
}

fn pid_of(called: &Called) -> i32 {
    called.body["pid"].as_i64().expect("the handler answers its pid") as i32
}

/// True once the process is gone (reaped: not even a zombie).
async fn gone(pid: i32) -> bool {
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_handler_answers_cold_then_warm_with_lambdas_context() {
    let host = node("index.handler", config(1, Overflow::Queue, Duration::from_secs(10))).await;
    let cold = host.ok(json!({"name": "DAT401"})).await;
    assert_eq!(cold.body["echo"], json!({"name": "DAT401"}));
    assert_eq!(cold.body["requestId"], cold.request_id.as_str(), "context.awsRequestId is the request id");
    assert_eq!(cold.body["functionName"], NAME);
    assert_eq!(cold.body["arn"], format!("arn:aws:lambda:us-east-1:000000000000:function:{NAME}"));
    assert_eq!(cold.body["memory"], "128");
    let remaining = cold.body["remaining"].as_i64().unwrap();
    assert!(remaining > 0 && remaining <= 10_000, "{remaining}");
    let env = &cold.body["env"];
    assert_eq!((env["version"].as_str(), env["tz"].as_str()), (Some("$LATEST"), Some(":UTC")));
    assert_eq!(env["taskRoot"], fixture("node").to_str().unwrap());
    assert_eq!((env["handler"].as_str(), env["custom"].as_str()), (Some("index.handler"), Some("mine")));
    assert_eq!((env["region"].as_str(), env["defaultRegion"].as_str()), (Some("eu-west-1"), Some("eu-west-1")));
    assert!(cold.log.contains(&format!("REPORT RequestId: {}", cold.request_id)), "{}", cold.log);
    assert!(cold.log.contains("Init Duration: "), "a cold start reports its init: {}", cold.log);

    let warm = host.ok(json!({"name": "again"})).await;
    assert_eq!(pid_of(&warm), pid_of(&cold), "the same process served both");
    assert!(!warm.log.contains("Init Duration"), "{}", warm.log);
    let stats = host.endpoint.stats();
    assert_eq!((stats.cold_starts, stats.invocations, stats.function_errors), (1, 2, 0));
    // The handler's console.log lands in the environment's log, with its request id.
    let log = host.log_file(1);
    assert!(log.contains(&format!("{}\tINFO\techo {{\"name\":\"again\"}}", warm.request_id)), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_callbacks_and_es_modules() {
    let callback = node("index.callback", config(1, Overflow::Queue, Duration::from_secs(10))).await;
    assert_eq!(callback.ok(json!({"name": "cb"})).await.body, json!({"callback": true, "name": "cb"}));
    let esm = node("esm.handler", config(1, Overflow::Queue, Duration::from_secs(10))).await;
    assert_eq!(esm.ok(json!({"name": "m"})).await.body, json!({"esm": true, "name": "m"}));
    // As on AWS: what a non-async handler without a callback returns is not its answer.
    let sync = node("index.syncReturn", config(1, Overflow::Queue, Duration::from_secs(10))).await;
    assert_eq!(sync.ok(json!({"name": "s"})).await.body, serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thrown_errors_come_back_as_the_runtime_posts_them() {
    let host = node("index.handler", config(1, Overflow::Queue, Duration::from_secs(10))).await;
    let thrown = host.failed(json!({"op": "throw", "value": 7})).await;
    assert_eq!(thrown.body["errorType"], "TypeError");
    assert_eq!(thrown.body["errorMessage"], "bad input: 7");
    let trace = thrown.body["trace"].as_array().expect("Node's runtime posts the stack as `trace`");
    assert_eq!(trace[0], "TypeError: bad input: 7");
    assert!(trace.iter().any(|l| l.as_str().unwrap().contains("index.js")), "{trace:?}");
    // Over 6 MB: AWS's own function error; the environment stays.
    let big = host.failed(json!({"op": "big", "bytes": 7_000_000})).await;
    assert_eq!(big.body["errorType"], "Function.ResponseSizeTooLarge");
    assert!(big.body["errorMessage"].as_str().unwrap().contains("exceeded maximum allowed payload size"));
    host.ok(json!({})).await;
    let stats = host.endpoint.stats();
    assert_eq!((stats.cold_starts, stats.invocations, stats.function_errors), (1, 3, 2));

    let py = python("app.handler", config(1, Overflow::Queue, Duration::from_secs(10))).await;
    let answered = py.ok(json!({"name": "py"})).await;
    assert_eq!(
        (answered.body["requestId"].as_str(), answered.body["memory"].as_str()),
        (Some(answered.request_id.as_str()), Some("128"))
    );
    assert!(answered.log.contains("Init Duration: "), "{}", answered.log);
    let raised = py.failed(json!({"op": "throw", "value": "x"})).await;
    assert_eq!(
        (raised.body["errorType"].as_str(), raised.body["errorMessage"].as_str()),
        (Some("ValueError"), Some("bad input: x"))
    );
    let stack = raised.body["stackTrace"].as_array().unwrap();
    assert!(stack.iter().any(|l| l.as_str().unwrap().contains("app.py")), "{stack:?}");
    assert!(py.log_file(1).contains("echo {'name': 'py'}"), "{}", py.log_file(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_exits_mid_invoke_is_a_runtime_exit_error_then_a_cold_start() {
    for host in [
        node("index.handler", config(1, Overflow::Queue, Duration::from_secs(10))).await,
        python("app.handler", config(1, Overflow::Queue, Duration::from_secs(10))).await,
    ] {
        let first = host.ok(json!({})).await;
        let exited = host.failed(json!({"op": "exit", "code": 3})).await;
        assert_eq!(exited.body["errorType"], "Runtime.ExitError");
        let message = format!("RequestId: {} Error: Runtime exited with error: exit status 3", exited.request_id);
        assert_eq!(exited.body["errorMessage"], message.as_str());
        assert!(exited.log.contains("Status: error\tError Type: Runtime.ExitError"), "{}", exited.log);
        assert!(gone(pid_of(&first)).await);
        let again = host.ok(json!({})).await;
        assert!(again.log.contains("Init Duration: "), "the next call is a cold start: {}", again.log);
        assert_ne!(pid_of(&again), pid_of(&first));
        assert_eq!(host.endpoint.stats().cold_starts, 2);
        // Each environment's output in its own log.
        assert!(host.log_file(1).contains("echo") && host.log_file(2).contains("echo"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_uncaught_exception_the_next_call_gets_a_new_environment() {
    let host = node("index.handler", config(1, Overflow::Queue, Duration::from_secs(10))).await;
    let first = host.ok(json!({})).await;
    let uncaught = host.failed(json!({"op": "uncaught"})).await;
    assert_eq!(uncaught.body["errorType"], "RangeError", "{}", uncaught.body);
    // Sent at once: the environment that is exiting must not be handed this call.
    let again = host.ok(json!({})).await;
    assert_ne!(pid_of(&again), pid_of(&first));
    assert!(again.log.contains("Init Duration: "), "a cold start: {}", again.log);
    assert_eq!(host.endpoint.stats().cold_starts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_past_its_timeout_is_killed_and_replaced() {
    let host = node("index.handler", config(1, Overflow::Queue, Duration::from_secs(1))).await;
    let first = host.ok(json!({})).await;
    let timed_out = host.failed(json!({"op": "sleep", "ms": 30_000})).await;
    assert_eq!(timed_out.body["errorType"], "Sandbox.Timedout");
    assert_eq!(timed_out.body["errorMessage"], "Task timed out after 1.00 seconds");
    assert!(timed_out.log.contains("Status: timeout"), "{}", timed_out.log);
    assert!(gone(pid_of(&first)).await, "the timed-out process was killed");
    let replaced = host.ok(json!({})).await;
    assert_ne!(pid_of(&replaced), pid_of(&first));
    let stats = host.endpoint.stats();
    assert_eq!((stats.cold_starts, stats.timeouts, stats.invocations), (2, 1, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_process_environment_is_reclaimed_and_killed() {
    let mut config = config(1, Overflow::Queue, Duration::from_secs(10));
    config.lifecycle.idle_reclaim = Some(Duration::from_millis(200));
    let host = python("app.handler", config).await;
    let first = host.ok(json!({})).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = host.ok(json!({})).await;
    assert!(second.log.contains("Init Duration: "), "{}", second.log);
    assert!(gone(pid_of(&first)).await, "the reclaimed environment's process was killed");
    let stats = host.endpoint.stats();
    assert_eq!((stats.cold_starts, stats.reclaimed), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_environment_with_throttle_refuses_the_second_concurrent_call() {
    let host = node("index.handler", config(1, Overflow::Throttle, Duration::from_secs(10))).await;
    host.ok(json!({})).await;
    let sleep = json!({"op": "sleep", "ms": 1_000});
    let (a, b) = tokio::join!(host.call(sleep.clone()), host.call(sleep));
    let throttled: Vec<_> = [a, b].into_iter().filter_map(Result::err).collect();
    assert_eq!(throttled.len(), 1, "one ran, one was throttled");
    match &throttled[0] {
        InvokeError::TooManyRequestsException(e) => {
            assert_eq!(e.reason().map(|r| r.as_str()), Some("ConcurrentInvocationLimitExceeded"))
        }
        other => panic!("expected TooManyRequestsException, got {other:?}"),
    }
    assert_eq!((host.endpoint.stats().throttles, host.endpoint.stats().cold_starts), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_errors_answer_the_invocation_and_discard_the_environment() {
    let cases = [
        (node("index.missing", config(1, Overflow::Queue, Duration::from_secs(10))).await, "Runtime.HandlerNotFound"),
        (
            node("nowhere.handler", config(1, Overflow::Queue, Duration::from_secs(10))).await,
            "Runtime.ImportModuleError",
        ),
        (python("app.missing", config(1, Overflow::Queue, Duration::from_secs(10))).await, "Runtime.HandlerNotFound"),
        (
            python("nowhere.handler", config(1, Overflow::Queue, Duration::from_secs(10))).await,
            "Runtime.ImportModuleError",
        ),
    ];
    for (host, error_type) in cases {
        for attempt in 1..=2 {
            let failed = host.failed(json!({})).await;
            assert_eq!(failed.body["errorType"], error_type, "{}", failed.body);
            assert!(failed.log.contains("Init Duration: "), "{}", failed.log);
            assert!(failed.log.contains(&format!("Error Type: {error_type}")), "{}", failed.log);
            assert_eq!(host.endpoint.stats().cold_starts, attempt, "every call tries a new environment");
        }
        assert!(host.log_file(1).contains(error_type), "the runtime logged its init error");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_that_exits_before_next_is_a_runtime_exit_error() {
    let dir = tempfile::tempdir().unwrap();
    write_script(dir.path(), "#!/bin/sh\necho starting\nexit 1\n");
    let host =
        host("provided.al2023", "", dir.path().into(), &[], config(1, Overflow::Queue, Duration::from_secs(10))).await;
    let failed = host.failed(json!({})).await;
    assert_eq!(failed.body["errorType"], "Runtime.ExitError");
    let message = format!("RequestId: {} Error: Runtime exited with error: exit status 1", failed.request_id);
    assert_eq!(failed.body["errorMessage"], message.as_str());
    assert_eq!(host.log_file(1), "starting\n");
}

fn write_script(dir: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("bootstrap");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_process_outlives_the_endpoint() {
    let host = node("index.handler", config(2, Overflow::Queue, Duration::from_secs(30))).await;
    let sleep = json!({"op": "sleep", "ms": 300});
    let (a, b) = tokio::join!(host.ok(sleep.clone()), host.ok(sleep));
    let (idle_a, idle_b) = (pid_of(&a), pid_of(&b));
    assert_ne!(idle_a, idle_b, "two environments");
    // One more, still running when the endpoint stops.
    let lambda = host.lambda.clone();
    let running = tokio::spawn(async move {
        lambda.invoke().function_name(NAME).payload(Blob::new(r#"{"op":"sleep","ms":20000}"#)).send().await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let Host { endpoint, logs, .. } = host;
    drop(endpoint);
    assert!(gone(idle_a).await && gone(idle_b).await, "idle and lent environments killed");
    running.abort();
    let pids = std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok());
    let bootstrap = logs.path().join("runtime/bootstrap.js");
    for pid in pids {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(!cmdline.contains(bootstrap.to_str().unwrap()), "process {pid} outlived the endpoint: {cmdline}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_transfer_lambda_runs_as_a_provided_bootstrap() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_transfer-lambda"), dir.path().join("bootstrap")).unwrap();
    // A greeting needs no database: the URL is never connected to.
    let env = [("DATABASE_URL", "postgres://127.0.0.1:1/unused")];
    let host =
        host("provided.al2023", "", dir.path().into(), &env, config(1, Overflow::Queue, Duration::from_secs(10))).await;
    let greeted = host.ok(json!({"op": "greeting", "name": "DAT401"})).await;
    assert_eq!(greeted.body, json!({"greeting": "Hello DAT401!"}));
    assert!(greeted.log.contains("Init Duration: "), "{}", greeted.log);
    let invalid = host.failed(json!({"payer_id": 1, "payee_id": 1, "amount": 5})).await;
    assert_eq!(invalid.body["errorType"], "InvalidRequest");
    assert_eq!(host.endpoint.stats().cold_starts, 1);
}

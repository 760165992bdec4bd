//! The local endpoint as the real aws-sdk-lambda client sees it.

use std::time::Duration;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::Value;
use transfer::local::{Endpoint, EndpointConfig, Overflow};
use transfer::{Function, RetryPolicy};

use crate::support::{connect, TestDb};

const NAME: &str = "reinvent-dat401";

fn client(endpoint: &Endpoint) -> aws_sdk_lambda::Client {
    crate::support::lambda_client(&endpoint.url())
}

async fn start(db: &TestDb, environments: usize, overflow: Overflow, timeout: Duration) -> Endpoint {
    let config = EndpointConfig { environments, overflow, timeout, ..EndpointConfig::default() };
    start_with(db, config).await
}

async fn start_with(db: &TestDb, config: EndpointConfig) -> Endpoint {
    let database = db.database();
    Endpoint::start(config, move || Function::new(database.clone(), RetryPolicy::Unlimited)).await.unwrap()
}

async fn invoke(client: &aws_sdk_lambda::Client, name: &str, payload: &str) -> Result<InvokeOutput, InvokeError> {
    client
        .invoke()
        .function_name(name)
        .payload(Blob::new(payload.as_bytes()))
        .send()
        .await
        .map_err(SdkError::into_service_error)
}

fn body(out: &InvokeOutput) -> Value {
    serde_json::from_slice(out.payload().expect("a payload").as_ref()).expect("JSON payload")
}

/// A connection inside a transaction that holds account `id`'s row lock until ROLLBACK.
async fn hold_row_lock(db: &TestDb, id: i32) -> tokio_postgres::Client {
    let holder = connect(&db.url).await;
    holder.batch_execute("BEGIN").await.unwrap();
    holder.execute("UPDATE accounts SET balance = balance WHERE id = $1", &[&id]).await.unwrap();
    holder
}

/// Wait until a backend is blocked on a row lock (the invocation is inside the function).
async fn wait_for_lock_waiter(db: &TestDb) {
    for _ in 0..200 {
        let row = db
            .client
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'", &[])
            .await
            .unwrap();
        if row.get::<_, i64>(0) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no invocation blocked on the held row lock within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_sees_successes_and_errors_as_on_aws() {
    let db = TestDb::new(2, 100).await;
    let endpoint = start(&db, 4, Overflow::Queue, Duration::from_secs(30)).await;
    let lambda = client(&endpoint);

    let ok = invoke(&lambda, NAME, r#"{"payer_id":1,"payee_id":2,"amount":10}"#).await.unwrap();
    assert_eq!(ok.status_code(), 200);
    assert_eq!(ok.function_error(), None);
    assert_eq!(ok.executed_version(), Some("$LATEST"));
    assert_eq!(body(&ok)["balance"], 90);

    let arn = format!("arn:aws:lambda:us-east-1:000000000000:function:{NAME}");
    let business = invoke(&lambda, &arn, r#"{"payer_id":1,"payee_id":2,"amount":1000}"#).await.unwrap();
    assert_eq!(business.function_error(), None, "a business failure is a normal response");
    assert_eq!(body(&business)["error"], "Insufficient balance");

    let malformed = invoke(&lambda, NAME, r#"{"payer_id":1,"payee_id":2,"amount":"ten"}"#).await.unwrap();
    assert_eq!(malformed.status_code(), 200);
    assert_eq!(malformed.function_error(), Some("Unhandled"));
    let e = body(&malformed);
    assert_eq!(e["errorType"], "InvalidRequest");
    assert!(e["errorMessage"].as_str().unwrap().contains("amount"), "{e}");

    match invoke(&lambda, NAME, "{not json").await.unwrap_err() {
        InvokeError::InvalidRequestContentException(e) => {
            assert!(e.message().unwrap().starts_with("Could not parse request body into json"))
        }
        other => panic!("expected InvalidRequestContentException, got {other:?}"),
    }
    match invoke(&lambda, "no-such-function", "{}").await.unwrap_err() {
        InvokeError::ResourceNotFoundException(e) => {
            assert!(e.message().unwrap().contains("no-such-function"))
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    let dry = lambda.invoke().function_name(NAME).invocation_type(InvocationType::DryRun).send().await.unwrap();
    assert_eq!(dry.status_code(), 204);

    assert_eq!(db.totals().await.balance_sum, 200);
    assert_eq!(db.totals().await.history_rows, 1);
    let stats = endpoint.stats();
    assert_eq!((stats.invocations, stats.function_errors, stats.cold_starts), (3, 1, 1));
    endpoint.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_its_environments_the_endpoint_throttles_like_aws_with_the_reason() {
    // One environment (the account's concurrency); then four, limited by a reserved
    // concurrency of one.
    let cases = [
        (1, None, "ConcurrentInvocationLimitExceeded"),
        (4, Some(1), "ReservedFunctionConcurrentInvocationLimitExceeded"),
    ];
    for (environments, reserved, reason) in cases {
        let db = TestDb::new(2, 100).await;
        let mut config = EndpointConfig { environments, overflow: Overflow::Throttle, ..EndpointConfig::default() };
        config.lifecycle.reserved = reserved;
        let endpoint = start_with(&db, config).await;
        let lambda = client(&endpoint);

        // Hold account 1's row lock so the only environment stays busy.
        let holder = hold_row_lock(&db, 1).await;
        let busy = tokio::spawn({
            let lambda = lambda.clone();
            async move { invoke(&lambda, NAME, r#"{"payer_id":1,"payee_id":2,"amount":10}"#).await }
        });
        wait_for_lock_waiter(&db).await;

        match invoke(&lambda, NAME, r#"{"payer_id":2,"payee_id":1,"amount":1}"#).await.unwrap_err() {
            InvokeError::TooManyRequestsException(e) => {
                assert_eq!(e.reason().map(|r| r.as_str()), Some(reason));
                assert_eq!(e.retry_after_seconds(), Some("1"));
            }
            other => panic!("expected TooManyRequestsException, got {other:?}"),
        }
        holder.batch_execute("ROLLBACK").await.unwrap();
        let done = busy.await.unwrap().unwrap();
        assert_eq!(body(&done)["balance"], 90, "the blocked invocation completes once the lock is released");
        assert_eq!(endpoint.stats().throttles, 1);
        assert_eq!(endpoint.stats().reserved, reserved.map(|r| r as u64));
        assert_eq!(db.totals().await.history_rows, 1, "the throttled call never ran");
    }
}

/// The REPORT line's fields, from an Invoke's `X-Amz-Log-Result`.
fn report(out: &InvokeOutput) -> std::collections::BTreeMap<String, String> {
    use base64::Engine as _;
    let log = base64::engine::general_purpose::STANDARD.decode(out.log_result().expect("a log tail")).unwrap();
    let log = String::from_utf8(log).unwrap();
    let line = log.lines().find(|l| l.starts_with("REPORT RequestId: ")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.ends_with('\t'), "fields end with a tab, as Lambda writes them: {line:?}");
    line[7..]
        .split('\t')
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (k, v) = f.split_once(": ").unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn millis(v: &str) -> f64 {
    v.strip_suffix(" ms").unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_lines_show_cold_starts_and_idle_environments_are_reclaimed() {
    let db = TestDb::new(2, 100).await;
    let mut config = EndpointConfig { environments: 2, memory_size_mb: 512, ..EndpointConfig::default() };
    config.lifecycle.init_cost = Duration::from_millis(120);
    config.lifecycle.idle_reclaim = Some(Duration::from_millis(400));
    let endpoint = start_with(&db, config).await;
    let lambda = client(&endpoint);
    let call = || {
        lambda
            .invoke()
            .function_name(NAME)
            .log_type(aws_sdk_lambda::types::LogType::Tail)
            .payload(Blob::new(&br#"{"payer_id":1,"payee_id":2,"amount":1}"#[..]))
            .send()
    };
    let cold = report(&call().await.unwrap());
    assert_eq!(cold["Memory Size"], "512 MB");
    let init = millis(&cold["Init Duration"]);
    assert!(init >= 120.0, "the configured start-up cost, at least: {cold:?}");
    let (duration, billed) = (millis(&cold["Duration"]), millis(&cold["Billed Duration"]));
    // Durations are written truncated to 10 us: billed is their sum rounded up, give or take that.
    assert!(billed >= (duration + init).ceil() && billed <= (duration + init + 0.02).ceil(), "init billed: {cold:?}");
    assert!(cold["Max Memory Used"].strip_suffix(" MB").unwrap().parse::<u64>().unwrap() > 0);
    let warm = report(&call().await.unwrap());
    assert!(!warm.contains_key("Init Duration"), "a warm call has no init: {warm:?}");
    assert_ne!(warm["RequestId"], cold["RequestId"]);
    // Idle past the reclaim time: the environment is gone, and the next call is cold.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = report(&call().await.unwrap());
    assert!(again.contains_key("Init Duration"), "cold again after the idle reclaim: {again:?}");
    let stats = endpoint.stats();
    assert_eq!((stats.cold_starts, stats.reclaimed, stats.invocations), (2, 1, 3));
    // Without the header, no tail; a bad value is refused as AWS refuses it.
    let plain = lambda.invoke().function_name(NAME).payload(Blob::new(&br#"{"op":"greeting"}"#[..])).send().await;
    assert_eq!(plain.unwrap().log_result(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_calls_wait_and_timeouts_discard_the_environment() {
    let db = TestDb::new(2, 100).await;
    let endpoint = start(&db, 1, Overflow::Queue, Duration::from_millis(400)).await;
    let lambda = client(&endpoint);

    let holder = hold_row_lock(&db, 1).await;
    let out = invoke(&lambda, NAME, r#"{"payer_id":1,"payee_id":2,"amount":10}"#).await.unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(body(&out)["errorType"], "Sandbox.Timedout");
    holder.batch_execute("ROLLBACK").await.unwrap();

    // The timed-out transfer must not commit later through a reused connection.
    let calls = (0..6).map(|_| invoke(&lambda, NAME, r#"{"payer_id":2,"payee_id":1,"amount":1}"#));
    for r in futures::future::join_all(calls).await {
        assert_eq!(body(&r.unwrap())["retries"], 0, "queued one at a time, never in conflict");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!((db.balance(1).await, db.balance(2).await), (106, 94));
    assert_eq!(db.totals().await.history_rows, 6);
    let stats = endpoint.stats();
    assert_eq!((stats.timeouts, stats.cold_starts, stats.throttles), (1, 2, 0), "{stats:?}");
}

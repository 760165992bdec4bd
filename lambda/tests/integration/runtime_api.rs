//! The deployed entry point, `transfer-lambda`, run as AWS runs it: a separate process
//! that polls a Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`) for events and posts each
//! answer back. The Runtime API here is a small server of the test's own, speaking the
//! documented paths and headers (`/2018-06-01/runtime/invocation/next`, `.../response`,
//! `.../error` with `Lambda-Runtime-Function-Error-Type`).

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::support::TestDb;

/// What the function answered for one request id.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Response(Value),
    Error { header: Option<String>, body: Value },
}

#[derive(Default)]
struct Runtime {
    queue: Mutex<VecDeque<(String, Value)>>,
    queued: Notify,
    answers: Mutex<HashMap<String, Answer>>,
    answered: Notify,
}

impl Runtime {
    fn send(&self, id: &str, event: Value) {
        self.queue.lock().unwrap().push_back((id.to_string(), event));
        self.queued.notify_one();
    }

    async fn answer(&self, id: &str) -> Answer {
        let wait = async {
            loop {
                let notified = self.answered.notified();
                if let Some(a) = self.answers.lock().unwrap().get(id) {
                    return a.clone();
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the function answered within 30 s")
    }

    fn record(&self, id: String, answer: Answer) {
        self.answers.lock().unwrap().insert(id, answer);
        self.answered.notify_waiters();
    }
}

async fn next(State(rt): State<Arc<Runtime>>) -> Response {
    let (id, event) = loop {
        let notified = rt.queued.notified();
        if let Some(item) = rt.queue.lock().unwrap().pop_front() {
            break item;
        }
        notified.await;
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 30_000;
    let headers = [
        ("Lambda-Runtime-Aws-Request-Id", id),
        ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
        (
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:reinvent-dat401".into(),
        ),
        (
            "Lambda-Runtime-Trace-Id",
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into(),
        ),
        ("Content-Type", "application/json".into()),
    ];
    (headers, event.to_string()).into_response()
}

async fn response(State(rt): State<Arc<Runtime>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    rt.record(id, Answer::Response(serde_json::from_slice(&body).expect("a JSON response")));
    StatusCode::ACCEPTED
}

async fn error(State(rt): State<Arc<Runtime>>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = headers.get("Lambda-Runtime-Function-Error-Type").map(|v| v.to_str().unwrap().to_string());
    rt.record(id, Answer::Error { header, body: serde_json::from_slice(&body).expect("a JSON error body") });
    StatusCode::ACCEPTED
}

async fn init_error(headers: HeaderMap, body: Bytes) -> StatusCode {
    panic!("the function failed to start: {headers:?} {}", String::from_utf8_lossy(&body));
}

async fn serve(rt: Arc<Runtime>) -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(rt);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_entry_point_answers_through_a_runtime_api() {
    let db = TestDb::new(2, 100).await;
    let rt = Arc::new(Runtime::default());
    let addr = serve(rt.clone()).await;
    let mut function = tokio::process::Command::new(env!("CARGO_BIN_EXE_transfer-lambda"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "reinvent-dat401")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/reinvent-dat401")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/30/[$LATEST]test")
        .env("DATABASE_URL", &db.url)
        .env("RETRY_POLICY", "unlimited")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start transfer-lambda");

    // A transfer: committed, with the payer's new balance.
    rt.send("req-transfer", json!({"payer_id": 1, "payee_id": 2, "amount": 30}));
    let Answer::Response(body) = rt.answer("req-transfer").await else { panic!("a transfer is a response") };
    assert_eq!(body["balance"], 70, "{body}");
    assert_eq!(body["retries"], 0, "{body}");
    assert!(body.get("error").is_none(), "{body}");

    // A business error: answered in the body, not a function error; nothing moved.
    rt.send("req-refused", json!({"payer_id": 1, "payee_id": 2, "amount": 71}));
    let Answer::Response(body) = rt.answer("req-refused").await else { panic!("a refusal is a response") };
    assert_eq!(body["error"], "Insufficient balance", "{body}");
    assert!(body.get("balance").is_none(), "{body}");

    // A function error: posted to /error (the runtime marks it "unhandled" in the
    // header) with the type in the body, which Lambda returns with X-Amz-Function-Error.
    rt.send("req-invalid", json!({"payer_id": 1, "payee_id": 1, "amount": 5}));
    let Answer::Error { header, body } = rt.answer("req-invalid").await else {
        panic!("an invalid request is an error")
    };
    assert_eq!(body["errorType"], "InvalidRequest", "{body}");
    assert!(body["errorMessage"].as_str().unwrap().contains("payee_id"), "{body}");
    assert_eq!(header.as_deref(), Some("unhandled"));

    // The same process served all three, and the database agrees with its answers.
    assert!(function.try_wait().unwrap().is_none(), "transfer-lambda still polling for the next event");
    assert_eq!((db.balance(1).await, db.balance(2).await), (70, 130));
    function.kill().await.unwrap();
}

//! The Lambda Runtime API one environment's process polls, on 127.0.0.1 at a port of its
//! own (`AWS_LAMBDA_RUNTIME_API`): `GET /2018-06-01/runtime/invocation/next` blocks
//! until an event is handed over, `POST .../invocation/{id}/response` and `.../error`
//! answer it, `POST /2018-06-01/runtime/init/error` reports a failed start. Everything
//! the process says is passed on to the environment as a [`Report`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The largest response a function may return (AWS's figure: 6 MB and 100 bytes).
pub const MAX_RESPONSE: usize = 6_291_556;
/// The error type of a response over [`MAX_RESPONSE`].
pub const RESPONSE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";

/// One event handed to the process.
#[derive(Debug)]
pub struct Event {
    pub request_id: String,
    pub payload: Bytes,
    /// When the invocation times out, Unix milliseconds.
    pub deadline_ms: u128,
}

/// What the process said.
#[derive(Debug)]
pub enum Report {
    /// It asked for the next event (the first time: its init is over).
    Next,
    Response {
        request_id: String,
        body: Bytes,
    },
    /// A function error (`body` is the runtime's error document).
    Error {
        request_id: String,
        body: Bytes,
    },
    InitError {
        body: Bytes,
        error_type: Option<String>,
    },
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    /// The request id handed over and not answered yet.
    current: Mutex<Option<String>>,
    reports: mpsc::UnboundedSender<Report>,
    function_arn: String,
}

/// A running Runtime API; dropping it stops the server.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    pub events: mpsc::Sender<Event>,
    pub reports: mpsc::UnboundedReceiver<Report>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(function_arn: String) -> std::io::Result<RuntimeApi> {
        let (events, events_rx) = mpsc::channel(1);
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(events_rx),
            current: Mutex::new(None),
            reports: reports_tx,
            function_arn,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // Read whole responses, however large, to answer AWS's error for them.
            .layer(DefaultBodyLimit::disable())
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi { addr, events, reports, server })
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let _ = shared.reports.send(Report::Next);
    let event = {
        let mut events = shared.events.lock().await;
        events.recv().await
    };
    let Some(event) = event else { return StatusCode::GONE.into_response() };
    *shared.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(event.request_id.clone());
    let headers = [
        ("Lambda-Runtime-Aws-Request-Id", event.request_id),
        ("Lambda-Runtime-Deadline-Ms", event.deadline_ms.to_string()),
        ("Lambda-Runtime-Invoked-Function-Arn", shared.function_arn.clone()),
        ("Lambda-Runtime-Trace-Id", trace_id()),
        ("Content-Type", "application/json".to_string()),
    ];
    (headers, event.payload).into_response()
}

/// Take the pending request id when it is `id`.
fn answered(shared: &Shared, id: &str) -> bool {
    let mut current = shared.current.lock().unwrap_or_else(|p| p.into_inner());
    if current.as_deref() == Some(id) {
        *current = None;
        true
    } else {
        false
    }
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    if !answered(&shared, &id) {
        return invalid_request_id(&id);
    }
    if body.len() > MAX_RESPONSE {
        let error = too_large(body.len());
        let _ = shared.reports.send(Report::Error { request_id: id, body: Bytes::from(error.to_string()) });
        return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(error)).into_response();
    }
    let _ = shared.reports.send(Report::Response { request_id: id, body });
    accepted()
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if !answered(&shared, &id) {
        return invalid_request_id(&id);
    }
    let body = error_document(body, &headers);
    let _ = shared.reports.send(Report::Error { request_id: id, body });
    accepted()
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let error_type = error_type_header(&headers);
    let body = error_document(body, &headers);
    let _ = shared.reports.send(Report::InitError { body, error_type });
    accepted()
}

fn error_type_header(headers: &HeaderMap) -> Option<String> {
    headers.get("Lambda-Runtime-Function-Error-Type").and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The runtime's error document; when it sent none that is JSON, Lambda builds one
/// from the `Lambda-Runtime-Function-Error-Type` header.
fn error_document(body: Bytes, headers: &HeaderMap) -> Bytes {
    if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.is_object()) {
        return body;
    }
    let error_type = error_type_header(headers).unwrap_or_else(|| "Unhandled".to_string());
    let message = String::from_utf8_lossy(&body).into_owned();
    Bytes::from(json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

/// AWS's error for a response over the limit.
pub fn too_large(size: usize) -> serde_json::Value {
    json!({
        "errorMessage": format!(
            "Response payload size ({size} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."
        ),
        "errorType": RESPONSE_TOO_LARGE,
    })
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

fn invalid_request_id(id: &str) -> Response {
    let body = json!({ "errorMessage": format!("Invalid request ID: {id}"), "errorType": "InvalidRequestID" });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// An X-Ray trace header of the documented shape (`Root=1-<8 hex>-<24 hex>;...`).
fn trace_id() -> String {
    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (root, parent): (u128, u64) = (rand::random(), rand::random());
    let root = format!("{root:032x}");
    format!("Root=1-{:08x}-{};Parent={parent:016x};Sampled=0", time as u32, &root[..24])
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// One HTTP/1.1 request on a fresh connection; the raw answer.
    async fn send(addr: SocketAddr, method: &str, path: &str, body: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "{method} /2018-06-01/runtime{path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn next_hands_over_the_event_and_only_its_id_may_answer() {
        let mut api = RuntimeApi::start("arn:aws:lambda:us-east-1:000000000000:function:f".into()).await.unwrap();
        let addr = api.addr;
        let next = tokio::spawn(send(addr, "GET", "/invocation/next", ""));
        assert!(matches!(api.reports.recv().await, Some(Report::Next)));
        let event = Event { request_id: "r-1".into(), payload: Bytes::from_static(b"{\"a\":1}"), deadline_ms: 42 };
        api.events.send(event).await.unwrap();
        let handed = next.await.unwrap().to_lowercase();
        assert!(handed.starts_with("http/1.1 200"), "{handed}");
        for header in ["lambda-runtime-aws-request-id: r-1", "lambda-runtime-deadline-ms: 42", "function:f", "root=1-"]
        {
            assert!(handed.contains(header), "{header} in {handed}");
        }
        assert!(handed.ends_with("{\"a\":1}"), "{handed}");

        let unknown = send(addr, "POST", "/invocation/r-2/response", "{}").await;
        assert!(unknown.starts_with("HTTP/1.1 400") && unknown.contains("InvalidRequestID"), "{unknown}");
        let ok = send(addr, "POST", "/invocation/r-1/response", "{\"b\":2}").await;
        assert!(ok.starts_with("HTTP/1.1 202") && ok.ends_with("{\"status\":\"OK\"}"), "{ok}");
        match api.reports.recv().await {
            Some(Report::Response { request_id, body }) => {
                assert_eq!((request_id.as_str(), &body[..]), ("r-1", &b"{\"b\":2}"[..]))
            }
            other => panic!("expected the response, got {other:?}"),
        }
        let again = send(addr, "POST", "/invocation/r-1/error", "{}").await;
        assert!(again.starts_with("HTTP/1.1 400"), "an answered id cannot answer twice: {again}");
    }

    #[tokio::test]
    async fn errors_without_a_document_are_built_from_the_header() {
        let mut api = RuntimeApi::start("arn".into()).await.unwrap();
        let mut stream = tokio::net::TcpStream::connect(api.addr).await.unwrap();
        let request = "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nLambda-Runtime-Function-Error-Type: Runtime.Oops\r\nContent-Length: 4\r\nConnection: close\r\n\r\nboom";
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
        match api.reports.recv().await {
            Some(Report::InitError { body, error_type }) => {
                let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(doc, json!({"errorType": "Runtime.Oops", "errorMessage": "boom"}));
                assert_eq!(error_type.as_deref(), Some("Runtime.Oops"));
            }
            other => panic!("expected the init error, got {other:?}"),
        }
        assert_eq!(too_large(7_000_000)["errorType"], RESPONSE_TOO_LARGE);
    }
}

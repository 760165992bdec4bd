//! Proof that the lean invoke client is the SDK's equal. For fixed credentials, clock and
//! payload, aws-sdk-lambda's request (captured by the SDK's own test connector) and the
//! lean client's have the same method, URI, signed headers and Authorization signature.
//! And every recorded AWS answer (success, function error, throttle with its reason,
//! AccessDenied, missing function, a 500, an emulator's function error) and a refused
//! connection, served over a real socket, map to the same outcome through both clients.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_lambda::primitives::Blob;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};
use workers::lean::request::{invoke_path, Signer};
use workers::lean::LeanTarget;
use workers::LambdaTarget;

/// The request aws-sdk-lambda sends for this call, and its x-amz-user-agent.
async fn sdk_request(
    function: &str,
    payload: &[u8],
    log_tail: bool,
    creds: Credentials,
    at: SystemTime,
) -> http::Request<Bytes> {
    let (http, rx) = aws_smithy_http_client::test_util::capture_request(None);
    let config = aws_sdk_lambda::Config::builder()
        .http_client(http)
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(creds)
        .time_source(aws_smithy_async::time::StaticTimeSource::new(at))
        .build();
    let client = aws_sdk_lambda::Client::from_conf(config);
    let mut invoke = client.invoke().function_name(function).payload(Blob::new(payload.to_vec()));
    if log_tail {
        invoke = invoke.log_type(aws_sdk_lambda::types::LogType::Tail);
    }
    let _ = invoke.send().await;
    let captured = rx.expect_request();
    let mut request = http::Request::builder().method(captured.method()).uri(captured.uri());
    for (k, v) in captured.headers() {
        request = request.header(k, v);
    }
    request.body(Bytes::copy_from_slice(captured.body().bytes().unwrap())).unwrap()
}

fn signed_headers(authorization: &str) -> Vec<String> {
    let list = authorization.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap();
    list.split(';').map(str::to_string).collect()
}

#[tokio::test]
async fn the_lean_request_is_signed_byte_for_byte_as_the_sdks() {
    let at = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let cases = [
        ("reinvent-dat401", Some("session-token")),
        ("arn:aws:lambda:eu-west-1:123456789012:function:reinvent-dat401:live", None),
        ("reinvent-dat401:$LATEST", Some("tok")),
    ];
    for ((function, token), log_tail) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        for payload in [&b"{\"payer_id\":1,\"payee_id\":2,\"amount\":10}"[..], b"{}", b""] {
            let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token.map(String::from), None, "t");
            let sdk = sdk_request(function, payload, log_tail, creds.clone(), at).await;
            let header =
                |r: &http::Request<Bytes>, k: &str| r.headers().get(k).map(|v| v.to_str().unwrap().to_string());
            // The lean client signs whatever user agent it sends; given the SDK's, the
            // signature must come out the same.
            let user_agent = header(&sdk, "x-amz-user-agent").unwrap();
            let signer = Signer::new("https://lambda.eu-west-1.amazonaws.com", "eu-west-1", &user_agent);
            let lean =
                signer.request(&invoke_path(function), Bytes::copy_from_slice(payload), &creds, log_tail, at).unwrap();
            let what = format!("{function} {:?} log tail {log_tail}", String::from_utf8_lossy(payload));
            assert_eq!(header(&sdk, "x-amz-log-type").as_deref(), log_tail.then_some("Tail"), "{what}");
            assert_eq!(lean.method(), sdk.method(), "{what}");
            assert_eq!(lean.uri(), sdk.uri(), "{what}");
            let authorization = header(&sdk, "authorization").unwrap();
            for name in signed_headers(&authorization) {
                if name == "host" {
                    assert_eq!(lean.uri().authority(), sdk.uri().authority(), "{what}");
                } else {
                    assert_eq!(header(&lean, &name), header(&sdk, &name), "signed header {name}: {what}");
                }
            }
            assert_eq!(header(&lean, "authorization"), Some(authorization), "{what}");
            assert_eq!(lean.body(), sdk.body(), "{what}");
        }
    }
}

/// One recorded answer: status, headers, body.
type Recorded = (u16, Vec<(&'static str, &'static str)>, Value);

fn corpus() -> Vec<(&'static str, Recorded)> {
    vec![
        (
            "success",
            (
                200,
                vec![("X-Amz-Executed-Version", "$LATEST")],
                json!({"balance": 90, "duration_us": 1800, "retries": 2}),
            ),
        ),
        (
            "success with its log tail",
            (
                200,
                vec![("X-Amz-Log-Result", "U1RBUlQgUmVxdWVzdElkOiAwYzJmNWI3ZS02MWQ0LTRhOGUtOWYzYi03ZDIxYzllNGE1YjYgVmVyc2lvbjogJExBVEVTVApFTkQgUmVxdWVzdElkOiAwYzJmNWI3ZS02MWQ0LTRhOGUtOWYzYi03ZDIxYzllNGE1YjYKUkVQT1JUIFJlcXVlc3RJZDogMGMyZjViN2UtNjFkNC00YThlLTlmM2ItN2QyMWM5ZTRhNWI2CUR1cmF0aW9uOiA0MS44NyBtcwlCaWxsZWQgRHVyYXRpb246IDk3IG1zCU1lbW9yeSBTaXplOiA1MTIgTUIJTWF4IE1lbW9yeSBVc2VkOiAzOCBNQglJbml0IER1cmF0aW9uOiA1NC4yMSBtcwkK")],
                json!({"balance": 80, "duration_us": 41000, "retries": 0}),
            ),
        ),
        (
            "timeout with its log tail",
            (
                200,
                vec![("X-Amz-Function-Error", "Unhandled"), ("X-Amz-Log-Result", "MjAyNi0xMS0zMFQxMDowMDowMy4wMTJaIDlhMSBUYXNrIHRpbWVkIG91dCBhZnRlciAzLjAwIHNlY29uZHMKRU5EIFJlcXVlc3RJZDogOWExClJFUE9SVCBSZXF1ZXN0SWQ6IDlhMQlEdXJhdGlvbjogMzAwMC4wMCBtcwlCaWxsZWQgRHVyYXRpb246IDMwMDAgbXMJTWVtb3J5IFNpemU6IDUxMiBNQglNYXggTWVtb3J5IFVzZWQ6IDYxIE1CCVN0YXR1czogdGltZW91dAo=")],
                json!({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 3.00 seconds"}),
            ),
        ),
        ("unreadable log tail", (200, vec![("X-Amz-Log-Result", "RU5EIFJlcXVlc3RJZDogYTEK")], json!({"balance": 1}))),
        ("business error", (200, vec![], json!({"error": "Insufficient balance", "duration": 3, "retries": 0}))),
        (
            "function error",
            (
                200,
                vec![("X-Amz-Function-Error", "Unhandled")],
                json!({"errorType": "OccConflict", "errorMessage": "could not serialize access (40001) after 3 retries"}),
            ),
        ),
        (
            "throttle",
            (
                429,
                vec![("x-amzn-ErrorType", "TooManyRequestsException"), ("Retry-After", "1")],
                json!({"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}),
            ),
        ),
        (
            "access denied",
            (
                403,
                vec![("x-amzn-ErrorType", "AccessDeniedException")],
                json!({"Message": "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: lambda:InvokeFunction"}),
            ),
        ),
        (
            "missing function",
            (
                404,
                vec![(
                    "x-amzn-ErrorType",
                    "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.awsgirapi/",
                )],
                json!({"Type": "User", "Message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"}),
            ),
        ),
        ("service exception", (500, vec![], json!({"__type": "com.amazonaws#ServiceException", "message": "boom"}))),
        (
            "emulator function error",
            (500, vec![], json!({"errorType": "InvalidRequest", "errorMessage": "payer_id and payee_id must differ"})),
        ),
    ]
}

/// A loopback server answering every request with the next recorded answer.
async fn serve(answers: Vec<Recorded>) -> String {
    let queue = Arc::new(Mutex::new(VecDeque::from(answers)));
    let app = axum::Router::new().fallback(|State(q): State<Arc<Mutex<VecDeque<Recorded>>>>| async move {
        let (status, headers, body) = q.lock().unwrap().pop_front().expect("a recorded answer left");
        let mut r = Response::builder().status(status).header("content-type", "application/json");
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r.body(Body::from(body.to_string())).unwrap()
    });
    let app = app.with_state(queue);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn every_recorded_answer_means_the_same_through_both_clients() {
    let payload = json!({"payer_id": 1, "payee_id": 2, "amount": 10});
    for (what, recorded) in corpus() {
        let url = serve(vec![recorded.clone(), recorded.clone(), recorded]).await;
        let sdk = LambdaTarget::endpoint(&url, "reinvent-dat401", 1).with_log_tail(true).call(&payload).await;
        let lean = LeanTarget::endpoint(&url, "reinvent-dat401", 1).unwrap().with_log_tail(true).call(&payload).await;
        assert_eq!(lean, sdk, "{what}");
        // And over HTTP/2 with prior knowledge, the lean client's own streams (the local
        // endpoint's way).
        let h2c = LeanTarget::local(&url, "reinvent-dat401", 1).unwrap().with_log_tail(true).call(&payload).await;
        assert_eq!(h2c, sdk, "{what} over h2c");
        let report = lean.report.clone().map(|r| r.map(|r| (r.duration_us, r.billed_ms, r.init_us, r.status)));
        let expected_report = match what {
            "success with its log tail" => Some(Ok((41_870, 97, Some(54_210), None))),
            "timeout with its log tail" => Some(Ok((3_000_000, 3000, None, Some("timeout".to_string())))),
            "unreadable log tail" => Some(Err(())),
            _ => None,
        };
        assert_eq!(report.map(|r| r.map_err(|_| ())), expected_report, "{what}");
        let (lean, sdk) = (lean.outcome, sdk.outcome);
        let read = |o: &workers::Outcome| workers::ResponseMap::default().classify(o);
        assert_eq!(read(&lean), read(&sdk), "{what}");
        let class = read(&lean).error.map(|(c, m)| (c.name(), m));
        let expected = match what {
            "success" | "success with its log tail" | "unreadable log tail" => None,
            "timeout with its log tail" => {
                Some(("function", "Sandbox.Timedout: Task timed out after 3.00 seconds".to_string()))
            }
            "business error" => Some(("business", "Insufficient balance".to_string())),
            "function error" => Some(("function", "OccConflict: could not serialize access (40001)".to_string())),
            "throttle" => Some((
                "throttle",
                "TooManyRequestsException: ReservedFunctionConcurrentInvocationLimitExceeded".to_string(),
            )),
            "access denied" => Some(("service", "AccessDeniedException".to_string())),
            "missing function" => Some(("service", "ResourceNotFoundException".to_string())),
            "service exception" => Some(("service", "ServiceException".to_string())),
            "emulator function error" => {
                Some(("function", "InvalidRequest: payer_id and payee_id must differ".to_string()))
            }
            other => panic!("{other}"),
        };
        assert_eq!(class, expected, "{what}");
    }
    // Nothing listening: both see a transport failure.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let sdk = LambdaTarget::endpoint(&closed, "f", 1).call(&payload).await;
    let lean = LeanTarget::endpoint(&closed, "f", 1).unwrap().call(&payload).await;
    let class = |a: &workers::Answer| workers::ResponseMap::default().classify(&a.outcome).error.map(|(c, _)| c);
    assert_eq!(class(&lean), Some(workers::ErrorClass::Transport), "{lean:?}");
    assert_eq!(class(&lean), class(&sdk), "{sdk:?}");
}

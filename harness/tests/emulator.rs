//! The harness against another Invoke API: `cargo lambda watch` (cargo-lambda, from
//! PyPI) serving the real `transfer-lambda` binary. The emulator answers a function
//! error with HTTP 500 and the function's `{"errorType","errorMessage"}` (no
//! `X-Amz-Function-Error`); the harness must keep the function's type and message, in
//! `harness invoke` and in a run's error breakdown, instead of an unknown service error.
//! The run goes through `target.kind = "aws"` with `target.endpoint_url`, so the AWS
//! target's credential chain signs the calls (placeholder keys in the environment).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;

use common::*;

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The deployed entry point, built beside the harness by `cargo test --workspace`.
fn transfer_lambda() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_harness")).with_file_name("transfer-lambda");
    assert!(path.exists(), "{} is missing: run `cargo test --workspace`, which builds it", path.display());
    path
}

/// `cargo lambda watch --only-lambda-apis` on a free loopback port, and `transfer-lambda`
/// polling its Runtime API as the function `_` (the emulator's default function).
/// DATABASE_URL points at a port where nothing listens, so transfers fail inside the
/// function with a `ConnectionError` function error.
fn emulator() -> (String, Killed, Killed) {
    provisioned();
    let port = free_port();
    // The cargo that built the tests (a user's own toolchain), not whatever is on PATH.
    let cargo = std::env::var("CARGO").ok().or(option_env!("CARGO").map(String::from));
    let watch = Command::new(cargo.unwrap_or_else(|| "cargo".into()))
        .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cargo lambda watch");
    let watch = Killed(watch);
    let up = wait_for(Duration::from_secs(60), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert!(up, "cargo lambda watch listening on port {port} within 60 s");
    let function = Command::new(transfer_lambda())
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/_")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("DATABASE_URL", format!("postgres://nobody@127.0.0.1:{}/none?connect_timeout=2", free_port()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start transfer-lambda");
    (format!("http://127.0.0.1:{port}"), watch, Killed(function))
}

#[test]
fn cargo_lambda_watch_function_errors_keep_their_type_and_message() {
    let (url, _watch, _function) = emulator();

    let greeting = harness(&["invoke", "--endpoint-url", &url, "--function", "_", "--payload", r#"{"op":"greeting"}"#]);
    assert!(greeting.status.success(), "{}", text(&greeting));
    assert!(String::from_utf8_lossy(&greeting.stdout).contains("Hello world!"), "{}", text(&greeting));

    let payload = r#"{"payer_id":1,"payee_id":1,"amount":5}"#;
    let invalid = harness(&["invoke", "--endpoint-url", &url, "--function", "_", "--payload", payload]);
    let shown = text(&invalid);
    assert_eq!(invalid.status.code(), Some(1), "a function error exits 1, as a Lambda function error does: {shown}");
    assert!(shown.contains(r#""FunctionError": "Unhandled""#), "{shown}");
    assert!(shown.contains(r#""errorType":"InvalidRequest""#), "{shown}");
    assert!(shown.contains("payer_id and payee_id must differ"), "{shown}");
    assert!(!shown.contains("Unknown"), "{shown}");

    // A run through the AWS target, pointed at the emulator.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("emulator.toml");
    let scenario = format!(
        "[target]\nkind = \"aws\"\nfunction = \"_\"\nregion = \"us-east-1\"\nendpoint_url = \"{url}\"\n\
         [load]\nmodel = \"closed\"\nin_flight = 2\ncalls = 6\n"
    );
    std::fs::write(&file, scenario).unwrap();
    let results = tempfile::tempdir().unwrap();
    let out = command()
        .args(["run", file.to_str().unwrap(), "--results", results.path().to_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "placeholder-not-a-real-key")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .expect("run harness");
    let summary = summary_in(results.path()).unwrap_or_else(|| panic!("no summary: {}", text(&out)));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    let what = text(&out);
    validate_against_schema(&s);
    assert_eq!(s["plan"]["target"]["endpoint_url"], url.as_str(), "{what}");
    assert_eq!(n(&s, "/totals/calls"), 6, "{what}");
    assert_eq!(s["totals"]["errors"]["function"], 6, "every transfer failed inside the function: {what}");
    assert!(s["totals"]["errors"].get("service").is_none(), "no unknown service errors: {what}");
    let by_class = s["totals"]["error_messages"].as_object().unwrap();
    assert_eq!(by_class.keys().collect::<Vec<_>>(), ["function"], "{by_class:?}\n{what}");
    let keys: Vec<&String> = by_class["function"].as_object().unwrap().keys().collect();
    assert!(!keys.is_empty() && keys.iter().all(|k| k.starts_with("ConnectionError: ")), "{keys:?}\n{what}");
    // CloudWatch is not asked about a function an emulator ran, and the report says so
    // in one line, with no SDK error dump.
    let notes = s["server"]["notes"].to_string();
    assert!(notes.contains("CloudWatch not queried"), "{notes}");
    assert!(s["server"]["lambda"].is_null() && s["server"]["database"].is_null(), "{}", s["server"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("DispatchFailure") && !stdout.contains("dispatch failure"), "{stdout}");
}

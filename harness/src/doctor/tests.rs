//! The AWS-facing paths offline: the real aws-sdk-lambda client over the SDK's own
//! recorded-response HTTP client (`StaticReplayClient`), with the responses AWS gives
//! for a throttle, a function error, an AccessDenied and a missing function, each
//! mapped to what `doctor` and `run` show.

use aws_credential_types::Credentials;
use aws_sdk_lambda::config::{BehaviorVersion, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use serde_json::json;
use workers::{ErrorClass, LambdaTarget};

use super::*;

const URL: &str = "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/reinvent-dat401/invocations";

/// A client whose HTTP calls get `responses`, in order.
fn client(responses: Vec<http::Response<SdkBody>>) -> (aws_sdk_lambda::Client, StaticReplayClient) {
    let events = responses
        .into_iter()
        .map(|r| ReplayEvent::new(http::Request::builder().uri(URL).body(SdkBody::empty()).unwrap(), r))
        .collect();
    let http = StaticReplayClient::new(events);
    let config = aws_sdk_lambda::Config::builder()
        .http_client(http.clone())
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    (aws_sdk_lambda::Client::from_conf(config), http)
}

fn response(status: u16, headers: &[(&str, &str)], body: serde_json::Value) -> http::Response<SdkBody> {
    let mut r = http::Response::builder().status(status).header("content-type", "application/json");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(SdkBody::from(body.to_string())).unwrap()
}

fn throttle() -> http::Response<SdkBody> {
    response(
        429,
        &[("x-amzn-ErrorType", "TooManyRequestsException"), ("Retry-After", "1")],
        json!({"Reason": "ConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}),
    )
}

fn not_found() -> http::Response<SdkBody> {
    response(
        404,
        &[("x-amzn-ErrorType", "ResourceNotFoundException")],
        json!({"Type": "User", "Message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:reinvent-dat401"}),
    )
}

fn access_denied() -> http::Response<SdkBody> {
    response(
        403,
        &[("x-amzn-ErrorType", "AccessDeniedException")],
        json!({"Message": "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:123456789012:function:reinvent-dat401 because no identity-based policy allows the lambda:InvokeFunction action"}),
    )
}

fn function_error(error_type: &str, message: &str) -> http::Response<SdkBody> {
    response(
        200,
        &[("X-Amz-Function-Error", "Unhandled"), ("X-Amz-Executed-Version", "$LATEST")],
        json!({"errorType": error_type, "errorMessage": message}),
    )
}

fn failed(f: &Finding) -> Problem {
    match &f.status {
        Status::Fail(p) => p.clone(),
        other => panic!("{} should fail, got {other:?}", f.check),
    }
}

#[tokio::test]
async fn doctor_tells_each_invoke_failure_and_its_fix() {
    let (c, http) = client(vec![throttle(), not_found(), access_denied()]);
    let p = failed(&invokable(&c, "reinvent-dat401", "us-east-1").await);
    assert_eq!(p.what, "throttled: TooManyRequestsException (ConcurrentInvocationLimitExceeded)");
    assert!(p.fix.contains("concurrency"), "{p:?}");
    let p = failed(&invokable(&c, "reinvent-dat401", "us-east-1").await);
    assert!(p.what.starts_with("function reinvent-dat401 not found in us-east-1"), "{p:?}");
    assert!(p.fix.contains("scripts/deploy.sh"), "{p:?}");
    let p = failed(&invokable(&c, "reinvent-dat401", "us-east-1").await);
    assert!(
        p.what.starts_with("not allowed to invoke reinvent-dat401: User: arn:aws:iam::123456789012:user/dev"),
        "{p:?}"
    );
    assert!(p.fix.contains("lambda:InvokeFunction on arn:aws:lambda:us-east-1:<account>:function:reinvent-dat401"));
    let sent = http.actual_requests().next().expect("the SDK sent a request");
    assert_eq!(sent.headers().get("x-amz-invocation-type"), Some("DryRun"), "check 2 is a DryRun invoke");
}

#[tokio::test]
async fn doctor_tells_a_missing_permission_from_a_missing_mapping_and_the_network() {
    let (c, _http) = client(vec![
        function_error(
            "ConnectionError",
            "DSQL abc.dsql.us-east-1.on.aws as admin: unable to accept connection, access denied (28000) (check that the role may use dsql:DbConnectAdmin on this cluster and that `admin` is mapped with AWS IAM GRANT)",
        ),
        function_error(
            "ConnectionError",
            "DSQL abc.dsql.us-east-1.on.aws as myapp: role \"myapp\" does not exist (28000) (check that the role may use dsql:DbConnect on this cluster and that `myapp` is mapped with AWS IAM GRANT)",
        ),
        function_error("ConnectionError", "DSQL abc.dsql.us-east-1.on.aws as myapp: error connecting to server: timed out"),
        function_error("ConnectionError", "DSQL 10.0.0.7 as admin: TLS handshake failed: invalid peer certificate: NotValidForName"),
        response(200, &[], json!({"greeting": "Hello harness doctor, connected to DSQL successfully!"})),
    ]);
    let check = || reaches_database(&c, "reinvent-dat401", "us-east-1");
    let p = failed(&check().await);
    assert!(
        p.fix.starts_with("a missing IAM permission (the workshop's chapter 1): allow dsql:DbConnectAdmin"),
        "{p:?}"
    );
    let p = failed(&check().await);
    assert!(p.fix.starts_with("a missing role mapping"), "{p:?}");
    let p = failed(&check().await);
    assert!(p.fix.starts_with("a network problem"), "{p:?}");
    let p = failed(&check().await);
    assert!(p.fix.starts_with("a TLS problem"), "{p:?}");
    let ok = check().await;
    assert_eq!(ok.status, Status::Ok("Hello harness doctor, connected to DSQL successfully!".into()));
    assert_eq!(
        ok.render(),
        "[ ok ] function reaches the database: Hello harness doctor, connected to DSQL successfully!\n"
    );
}

#[tokio::test]
async fn run_counts_each_failure_in_its_class() {
    let (c, _http) = client(vec![
        throttle(),
        function_error("OccConflict", "change conflicts with another transaction, please retry: (OC000) (40001)"),
        access_denied(),
        not_found(),
    ]);
    let target = LambdaTarget::with_clients(vec![c], "reinvent-dat401");
    let payload = json!({"payer_id": 1, "payee_id": 2, "amount": 1});
    let mut seen = Vec::new();
    for _ in 0..4 {
        let error = workers::ResponseMap::default().classify(&target.call(&payload).await.outcome).error;
        seen.push(error.expect("every call failed"));
    }
    assert_eq!(
        seen,
        [
            (ErrorClass::Throttle, "TooManyRequestsException: ConcurrentInvocationLimitExceeded".to_string()),
            (
                ErrorClass::Function,
                "OccConflict: change conflicts with another transaction, please retry: (OC000) (40001)".to_string()
            ),
            (ErrorClass::Service, "AccessDeniedException".to_string()),
            (ErrorClass::Service, "ResourceNotFoundException".to_string()),
        ]
    );
}

#[tokio::test]
async fn credentials_and_region_are_checked_first() {
    let sdk = aws_config::SdkConfig::builder().build();
    let p = failed(&credentials(&sdk).await);
    assert_eq!(p.what, "no AWS region configured");
    let sdk = aws_config::SdkConfig::builder()
        .region(Region::new("eu-west-1"))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        )))
        .build();
    assert_eq!(credentials(&sdk).await.status, Status::Ok("region eu-west-1, credentials AKID...".into()));
}

#[test]
fn a_call_with_the_scenarios_payload_is_read_through_its_response_map() {
    use super::{judge_answer, Status};
    let map = workers::ResponseMap::default();
    let ok = serde_json::json!({"balance": 99, "duration": 4, "retries": 1});
    match judge_answer(None, &ok, &map) {
        Status::Ok(d) => assert!(d.ends_with("1 OCC retries at /retries"), "{d}"),
        other => panic!("{other:?}"),
    }
    let refused = serde_json::json!({"error": "Insufficient balance", "duration": 2, "retries": 0});
    match judge_answer(None, &refused, &map) {
        Status::Ok(d) => assert!(d.starts_with("answered a business refusal (Insufficient balance)"), "{d}"),
        other => panic!("{other:?}"),
    }
    match judge_answer(None, &serde_json::json!({"ok": true}), &map) {
        Status::Ok(d) => assert!(d.contains("no OCC retries at /retries (set [response] retries"), "{d}"),
        other => panic!("{other:?}"),
    }
    let failed = serde_json::json!({"errorType": "KeyError", "errorMessage": "'item_id'"});
    match judge_answer(Some("Unhandled"), &failed, &map) {
        Status::Fail(p) => assert_eq!(p.what, "the function failed on the scenario's payload: KeyError: 'item_id'"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_quota_check_says_what_it_saw_and_asks_for_a_permission_only_when_denied() {
    use super::diagnose::{quota_problem, CallError};
    let denied = response(
        403,
        &[("x-amzn-ErrorType", "AccessDeniedException")],
        json!({"Message": "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: lambda:GetAccountSettings"}),
    );
    let settings = json!({"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 900}});
    let (c, _http) = client(vec![denied, response(200, &[], settings), not_found()]);
    let e = quotas::read(&c, "reinvent-dat401").await.unwrap_err();
    assert!(matches!(&e, CallError::Service { status: 403, code, .. } if code == "AccessDeniedException"), "{e:?}");
    let p = quota_problem(&e, "reinvent-dat401", "us-east-1");
    assert!(
        p.what.starts_with("cannot read them: GetAccountSettings answered AccessDeniedException (HTTP 403): User:"),
        "{p:?}"
    );
    assert!(p.fix.starts_with("give your IAM identity lambda:GetAccountSettings"), "{p:?}");
    // A missing function is a 404, not a permission.
    let e = quotas::read(&c, "reinvent-dat401").await.unwrap_err();
    let p = quota_problem(&e, "reinvent-dat401", "us-east-1");
    assert!(
        p.what.starts_with("cannot read them: GetFunctionConcurrency answered ResourceNotFoundException (HTTP 404)"),
        "{p:?}"
    );
    assert!(p.fix.starts_with("no function reinvent-dat401 in us-east-1: deploy it"), "{p:?}");
    assert!(!p.fix.contains("IAM"), "{p:?}");
    // No answer at all: the network, not a permission.
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
    let sdk: aws_sdk_lambda::error::SdkError<
        aws_sdk_lambda::operation::get_account_settings::GetAccountSettingsError,
        aws_sdk_lambda::config::http::HttpResponse,
    > = aws_sdk_lambda::error::SdkError::dispatch_failure(aws_smithy_runtime_api::client::result::ConnectorError::io(
        Box::new(refused),
    ));
    let e = CallError::of("GetAccountSettings", &sdk);
    let p = quota_problem(&e, "reinvent-dat401", "us-east-1");
    assert!(
        p.what
            == "cannot read them: GetAccountSettings: no answer from Lambda: could not connect: Connection refused \
                  (os error 111)",
        "{p:?}"
    );
    assert!(p.fix.starts_with("check the network path to lambda.us-east-1.amazonaws.com"), "{p:?}");
}

#[tokio::test]
async fn a_failure_of_the_doctors_own_database_connection_is_named_as_its_own() {
    use super::diagnose::own_connection_problem;
    // A real refusal: nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
    let e = format!("{:#}", crate::database::connect(&url).await.unwrap_err());
    let p = own_connection_problem(&e);
    assert!(p
        .what
        .starts_with("the doctor's own connection to the database failed (from this machine): cannot connect"));
    assert!(p.what.contains(&e), "{p:?}");
    assert!(p.fix.contains("the network path from this machine"), "{p:?}");
    assert!(!p.fix.contains("function"), "{p:?}");
    let denied = "DSQL abc.dsql.us-east-1.on.aws as admin: unable to accept connection, access denied (28000)";
    let p = own_connection_problem(denied);
    assert!(p.fix.starts_with("your own IAM identity (the one running doctor, not the function's role)"), "{p:?}");
}

/// No Debug dump and no multi-line chain: what went wrong in one short line.
fn one_short_line(text: &str) {
    assert!(!text.contains('\n') && text.chars().count() < 160, "{text}");
    for dump in ["{ ", "source:", "DispatchFailure(", "ConnectorError"] {
        assert!(!text.contains(dump), "{dump:?} in {text}");
    }
}

#[tokio::test]
async fn an_sdk_error_without_an_answer_is_one_line_of_what_went_wrong() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{closed}"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    let c = aws_sdk_lambda::Client::from_conf(config);
    let p = failed(&invokable(&c, "reinvent-dat401", "us-east-1").await);
    assert!(p.what.starts_with("no answer from Lambda in us-east-1: could not connect: Connection refused"), "{p:?}");
    one_short_line(&p.what);
    let e = quotas::read(&c, "reinvent-dat401").await.unwrap_err();
    assert!(matches!(&e, diagnose::CallError::NoAnswer { .. }), "{e:?}");
    one_short_line(&e.to_string());
}

#[test]
fn credentials_that_do_not_resolve_are_one_line_and_a_fix() {
    use aws_credential_types::provider::error::CredentialsError;
    let chain = "no credentials found in chain. Attempted:\n  Environment: not set\n  Profile: not enabled";
    let p = diagnose::credentials_problem(&CredentialsError::not_loaded(chain));
    assert!(p.what.starts_with("no AWS credentials found"), "{p:?}");
    assert!(p.fix.contains("AWS_PROFILE") && p.fix.contains("aws configure"), "{p:?}");
    let p = diagnose::credentials_problem(&CredentialsError::provider_error(chain));
    assert_eq!(p.what, "AWS credentials could not be loaded: no credentials found in chain. Attempted:");
    one_short_line(&p.what);
}

//! What an error means and what to do about it: for an Invoke call that failed, and for
//! the function's own report that it could not reach its database.

use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;

/// A failed check: what is wrong, and the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub what: String,
    pub fix: String,
}

impl Problem {
    pub fn new(what: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem { what: what.into(), fix: fix.into() }
    }
}

/// An Invoke call that failed.
pub fn invoke_problem(
    function: &str,
    region: &str,
    e: &SdkError<InvokeError, aws_sdk_lambda::config::http::HttpResponse>,
) -> Problem {
    let SdkError::ServiceError(service) = e else {
        let text = workers::error_chain(e);
        return Problem::new(
            format!("no answer from Lambda in {region}: {text}"),
            "check the network path to lambda.<region>.amazonaws.com (proxy, VPC endpoint, DNS) and the region",
        );
    };
    let err = service.err();
    let message = err.message().unwrap_or_default();
    match err {
        InvokeError::ResourceNotFoundException(_) => Problem::new(
            format!("function {function} not found in {region} ({message})"),
            "deploy it (scripts/deploy.sh), or check --function and --region",
        ),
        InvokeError::TooManyRequestsException(t) => Problem::new(
            format!(
                "throttled: TooManyRequestsException ({})",
                t.reason().map(|r| r.as_str().to_string()).unwrap_or_else(|| message.to_string())
            ),
            "the account's or the function's concurrency is exhausted: wait for running load to end, or raise the \
             reserved/account concurrency (Service Quotas)",
        ),
        _ if err.code() == Some("AccessDeniedException") => Problem::new(
            format!("not allowed to invoke {function}: {message}"),
            format!(
                "give your IAM identity lambda:InvokeFunction on arn:aws:lambda:{region}:<account>:function:{function}"
            ),
        ),
        _ if matches!(
            err.code(),
            Some("UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException")
        ) =>
        {
            Problem::new(
                format!("AWS refused the credentials: {}: {message}", err.code().unwrap_or_default()),
                "refresh them (`aws sso login`, new session token) or check the profile",
            )
        }
        _ => Problem::new(
            format!("{}: {message}", err.code().unwrap_or("Unknown")),
            "see the Lambda Invoke API documentation for this error",
        ),
    }
}

/// The function's error from its connectivity check, told apart by what the database said.
pub fn connection_problem(error_type: &str, message: &str) -> Problem {
    let m = message.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    let what = format!("{error_type}: {message}");
    if error_type == "Sandbox.Timedout"
        || has(&[
            "timed out",
            "timeout",
            "connection refused",
            "no route",
            "failed to lookup",
            "dns",
            "name resolution",
            "network is unreachable",
        ])
    {
        Problem::new(
            what,
            "a network problem between the function and the cluster: check CLUSTER_ENDPOINT and AWS_REGION in the \
             function's environment, and, for a function in a VPC, a route (NAT or a DSQL VPC endpoint) to the cluster",
        )
    } else if has(&["tls", "certificate", "handshake", "sni"]) {
        Problem::new(
            what,
            "a TLS problem: DSQL needs TLS with SNI; check that CLUSTER_ENDPOINT is the cluster's host name \
             (<id>.dsql.<region>.on.aws), not an IP address or a proxy",
        )
    } else if m.contains("(42p01)") || (m.contains("relation") && m.contains("does not exist")) {
        Problem::new(
            what,
            "the function connected, but the schema is missing: run `harness setup` against the database (check 5)",
        )
    } else if has(&["role", "mapping", "mapped"])
        && has(&["does not exist", "not mapped", "no mapping", "is not granted", "not authorized to use"])
    {
        Problem::new(
            what,
            "a missing role mapping: as admin, run `harness setup-role --role <role> --arn <the function's execution \
             role ARN>` (CREATE ROLE ... WITH LOGIN; AWS IAM GRANT <role> TO '<arn>'), then check sys.iam_pg_role_mappings",
        )
    } else if has(&[
        "access denied",
        "accessdenied",
        "not authorized",
        "unauthorized",
        "permission",
        "(28000)",
        "(28p01)",
    ]) {
        let action = if m.contains(" as admin") { "dsql:DbConnectAdmin" } else { "dsql:DbConnect" };
        Problem::new(
            what,
            format!(
                "a missing IAM permission (the workshop's chapter 1): allow {action} on the cluster's ARN in the \
                 function's execution role (the template in deploy/ does this)"
            ),
        )
    } else {
        Problem::new(
            what,
            "the function could not use its database; see the message, and the function's logs in CloudWatch",
        )
    }
}

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

/// The longest cause `no_answer` quotes, in characters.
const CAUSE_MAX: usize = 110;

/// An AWS SDK call that got no answer from the service, as one short line: timed out,
/// could not connect (and the innermost cause, e.g. `Connection refused (os error
/// 111)`), could not build the request, or an answer that could not be read. The
/// whole chain is logged at debug level (`RUST_LOG=harness=debug`). A service error
/// (an answer) is told by its code and message instead.
pub fn no_answer<E, R>(e: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    tracing::debug!("AWS SDK error: {}", workers::error_chain(e));
    let cause = innermost(e);
    match e {
        SdkError::TimeoutError(_) => "timed out waiting for the answer".to_string(),
        SdkError::DispatchFailure(d) if d.is_timeout() => format!("timed out connecting ({cause})"),
        SdkError::DispatchFailure(d) if d.is_io() => format!("could not connect: {cause}"),
        SdkError::DispatchFailure(_) => format!("the request could not be sent: {cause}"),
        SdkError::ConstructionFailure(_) => format!("could not build the request: {cause}"),
        SdkError::ResponseError(_) => format!("an answer that could not be read: {cause}"),
        SdkError::ServiceError(_) => format!("the service answered an error: {cause}"),
        _ => cause,
    }
}

/// The innermost cause of `e`, its first line, at most `CAUSE_MAX` characters.
pub fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    let text = last.to_string();
    let line = text.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(CAUSE_MAX) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

/// Credentials that did not resolve, as one line and its fix (the provider chain's
/// full report is logged at debug level).
pub fn credentials_problem(e: &aws_credential_types::provider::error::CredentialsError) -> Problem {
    use aws_credential_types::provider::error::CredentialsError;
    tracing::debug!("credentials: {}", workers::error_chain(e));
    match e {
        CredentialsError::CredentialsNotLoaded(_) => Problem::new(
            "no AWS credentials found (environment, profile, web identity, ECS and instance metadata tried)",
            "set AWS_PROFILE or run `aws configure` (or `aws sso login`), or run where an instance role is attached",
        ),
        CredentialsError::ProviderTimedOut(_) => Problem::new(
            "timed out loading AWS credentials",
            "check the network path to the credentials source (SSO, STS, instance metadata), or set AWS_PROFILE",
        ),
        _ => Problem::new(
            format!("AWS credentials could not be loaded: {}", innermost(e)),
            "check the profile in ~/.aws/config and ~/.aws/credentials (--profile, AWS_PROFILE), or run `aws configure`",
        ),
    }
}

/// An Invoke call that failed.
pub fn invoke_problem(
    function: &str,
    region: &str,
    e: &SdkError<InvokeError, aws_sdk_lambda::config::http::HttpResponse>,
) -> Problem {
    let SdkError::ServiceError(service) = e else {
        let text = no_answer(e);
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

/// A Lambda API call that failed: the service's answer, or why there was none.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The service answered with an error: its HTTP status, error code and message.
    Service { operation: &'static str, status: u16, code: String, message: String },
    /// No answer that could be read: a network, DNS, TLS or timeout failure, as one line.
    NoAnswer { operation: &'static str, error: String },
    /// An answer without what was asked for.
    Malformed(String),
}

impl CallError {
    /// What the SDK returned for `operation`.
    pub fn of<E>(operation: &'static str, e: &SdkError<E, aws_sdk_lambda::config::http::HttpResponse>) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match e {
            SdkError::ServiceError(s) => CallError::Service {
                operation,
                status: s.raw().status().as_u16(),
                code: s.err().code().unwrap_or("an error without a code").to_string(),
                message: s.err().message().unwrap_or_default().to_string(),
            },
            _ => CallError::NoAnswer { operation, error: no_answer(e) },
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Service { operation, status, code, message } => {
                write!(f, "{operation} answered {code} (HTTP {status}): {message}")
            }
            CallError::NoAnswer { operation, error } => write!(f, "{operation}: no answer from Lambda: {error}"),
            CallError::Malformed(what) => write!(f, "{what}"),
        }
    }
}

/// The actions the quota check calls.
const QUOTA_ACTIONS: &str =
    "lambda:GetAccountSettings, lambda:GetFunctionConcurrency and lambda:ListProvisionedConcurrencyConfigs";

/// Reading the quotas failed: what was seen, and the fix for that (the IAM permission
/// only for an access denial).
pub fn quota_problem(e: &CallError, function: &str, region: &str) -> Problem {
    let what = format!("cannot read them: {e}");
    let CallError::Service { operation, code, .. } = e else {
        return match e {
            CallError::NoAnswer { .. } => Problem::new(
                what,
                format!("check the network path to lambda.{region}.amazonaws.com (proxy, VPC endpoint, DNS)"),
            ),
            _ => Problem::new(what, "run doctor again; if it persists, the answer above is what Lambda sent"),
        };
    };
    let fix = match code.as_str() {
        "AccessDeniedException" => {
            format!("give your IAM identity lambda:{operation} (the check needs {QUOTA_ACTIONS})")
        }
        "ResourceNotFoundException" => {
            format!("no function {function} in {region}: deploy it (scripts/deploy.sh), or check --function, --region")
        }
        "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => {
            "AWS refused the credentials: refresh them (`aws sso login`, new session token) or check the profile".into()
        }
        "TooManyRequestsException" => "Lambda's API throttled the call: run doctor again in a moment".into(),
        _ => format!("see the Lambda API documentation of {operation} for {code}"),
    };
    Problem::new(what, fix)
}

/// The doctor's own connection to the database failed (not the function's): what it
/// saw, and what to check on this machine.
pub fn own_connection_problem(error: &str) -> Problem {
    let m = error.to_lowercase();
    let denied = ["access denied", "not authorized", "password authentication", "(28000)", "(28p01)"]
        .iter()
        .any(|w| m.contains(w));
    let fix = match denied {
        true => {
            "your own IAM identity (the one running doctor, not the function's role) needs dsql:DbConnectAdmin on the \
             cluster to connect as admin (dsql:DbConnect for another role); with --database-url, check its user \
             and password"
        }
        false => {
            "check --dsql-endpoint (or --database-url) and --region, and the network path from this machine to the \
             database (port 5432)"
        }
    };
    Problem::new(format!("the doctor's own connection to the database failed (from this machine): {error}"), fix)
}

//! The Invoke API request, built directly and signed with SigV4 as aws-sdk-lambda signs
//! it: `POST /2015-03-31/functions/{FunctionName}/invocations` with the payload as an
//! `application/octet-stream` body, and the same signed headers (content-length,
//! content-type, host, x-amz-date, x-amz-security-token, x-amz-user-agent, and
//! x-amz-log-type when the log tail is asked for).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;

/// The service name requests are signed for.
pub const SIGNING_NAME: &str = "lambda";

/// The path of an Invoke call: the function name (or ARN, with a qualifier) as a URI
/// label, every byte outside the unreserved set percent-encoded (`:` is `%3A`).
pub fn invoke_path(function: &str) -> String {
    let mut path = String::from("/2015-03-31/functions/");
    for b in function.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            path.push(b as char);
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
    path.push_str("/invocations");
    path
}

/// What every request of one target shares.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The endpoint's base URL, e.g. `https://lambda.us-east-1.amazonaws.com`.
    pub base: String,
    pub region: String,
    /// Sent as `x-amz-user-agent` (signed) and `user-agent`.
    pub user_agent: String,
}

impl Signer {
    /// The signed request for one call of `function` with `payload`, at `time`.
    pub fn request(
        &self,
        function_path: &str,
        payload: Bytes,
        credentials: &Credentials,
        log_tail: bool,
        time: SystemTime,
    ) -> Result<http::Request<Bytes>, String> {
        let uri = format!("{}{function_path}", self.base.trim_end_matches('/'));
        let length = payload.len().to_string();
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(&uri)
            .header("content-type", "application/octet-stream")
            .header("content-length", &length)
            .header("user-agent", &self.user_agent)
            .header("x-amz-user-agent", &self.user_agent);
        if log_tail {
            builder = builder.header("x-amz-log-type", "Tail");
        }
        let mut request = builder.body(payload).map_err(|e| format!("building the request for {uri}: {e}"))?;
        let identity: Identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SIGNING_NAME)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing parameters: {e}"))?
            .into();
        let headers = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new("POST", &uri, headers, SignableBody::Bytes(request.body()))
            .map_err(|e| format!("signing {uri}: {e}"))?;
        let (instructions, _signature) =
            sign(signable, &params).map_err(|e| format!("signing {uri}: {e}"))?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

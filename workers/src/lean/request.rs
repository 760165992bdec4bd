//! The Invoke API request, built directly and signed with SigV4 as aws-sdk-lambda signs
//! it: `POST /2015-03-31/functions/{FunctionName}/invocations` with the payload as an
//! `application/octet-stream` body, and the same signed headers (content-length,
//! content-type, host, x-amz-date, x-amz-security-token, x-amz-user-agent, and
//! x-amz-log-type when the log tail is asked for).

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Why a call's request could not be built or signed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{what} cannot be sent as a header")]
    Header {
        what: &'static str,
        #[source]
        source: http::header::InvalidHeaderValue,
    },
    #[error("building the request for {uri}")]
    Uri {
        uri: String,
        #[source]
        source: http::uri::InvalidUri,
    },
    #[error("signing parameters")]
    SigningParams(#[source] aws_sigv4::sign::v4::signing_params::BuildError),
    #[error("signing {uri}")]
    Signing {
        uri: String,
        #[source]
        source: aws_sigv4::http_request::SigningError,
    },
}

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

/// What every request of one target shares, and the SigV4 signing key of the day (it
/// depends only on the secret key, the date, the region and the service, so it is
/// derived once a day, not once per call).
#[derive(Debug)]
pub struct Signer {
    /// The endpoint's base URL, e.g. `https://lambda.us-east-1.amazonaws.com`.
    base: String,
    region: String,
    /// Sent as `x-amz-user-agent` (signed) and `user-agent`; the header value made once
    /// (`None`: it cannot be one, and each request says why).
    user_agent: String,
    user_agent_value: Option<http::HeaderValue>,
    /// The `host` value signed, when the request can be signed on the direct path: a
    /// base URL without a path of its own (AWS's, a local endpoint's), and a user agent
    /// that SigV4's header normalisation leaves as it is.
    host: Option<String>,
    key: Mutex<Option<DayKey>>,
}

/// A signing key, and the secret and day it was derived for.
#[derive(Debug)]
struct DayKey {
    secret: String,
    date: String,
    key: [u8; 32],
}

impl Signer {
    pub fn new(base: &str, region: &str, user_agent: &str) -> Signer {
        let host = direct_host(base).filter(|_| is_normalised(user_agent));
        Signer {
            base: base.trim_end_matches('/').to_string(),
            region: region.to_string(),
            user_agent: user_agent.to_string(),
            user_agent_value: http::HeaderValue::from_str(user_agent).ok(),
            host,
            key: Mutex::new(None),
        }
    }

    /// The signed request for one call of `function` with `payload`, at `time`.
    pub fn request(
        &self,
        function_path: &str,
        payload: Bytes,
        credentials: &Credentials,
        log_tail: bool,
        time: SystemTime,
    ) -> Result<http::Request<Bytes>, RequestError> {
        match &self.host {
            Some(host) if is_plain_path(function_path) && credentials.session_token().is_none_or(is_normalised) => {
                self.direct(host, function_path, payload, credentials, log_tail, time)
            }
            _ => self.through_sigv4(function_path, payload, credentials, log_tail, time),
        }
    }

    /// The unsigned request: method, URI, body and the headers every call sends (set in
    /// place: `http::request::Builder` moves the whole request at each step).
    fn unsigned(
        &self,
        function_path: &str,
        payload: Bytes,
        log_tail: bool,
    ) -> Result<http::Request<Bytes>, RequestError> {
        let uri = format!("{}{function_path}", self.base);
        let length = http::HeaderValue::from(payload.len());
        let user_agent = match &self.user_agent_value {
            Some(v) => v.clone(),
            None => value(self.user_agent.clone(), "the user agent")?,
        };
        let mut request = http::Request::new(payload);
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri.parse().map_err(|source| RequestError::Uri { uri, source })?;
        let headers = request.headers_mut();
        headers.reserve(10);
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(CONTENT_TYPE));
        headers.insert(http::header::CONTENT_LENGTH, length);
        headers.insert(http::header::USER_AGENT, user_agent.clone());
        headers.insert("x-amz-user-agent", user_agent);
        if log_tail {
            headers.insert("x-amz-log-type", http::HeaderValue::from_static("Tail"));
        }
        Ok(request)
    }

    /// Signed by aws-sigv4's own request signer: any base URL and path.
    fn through_sigv4(
        &self,
        function_path: &str,
        payload: Bytes,
        credentials: &Credentials,
        log_tail: bool,
        time: SystemTime,
    ) -> Result<http::Request<Bytes>, RequestError> {
        let mut request = self.unsigned(function_path, payload, log_tail)?;
        let uri = request.uri().to_string();
        let identity: Identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SIGNING_NAME)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(RequestError::SigningParams)?
            .into();
        let headers = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new("POST", &uri, headers, SignableBody::Bytes(request.body()))
            .map_err(|source| RequestError::Signing { uri: uri.clone(), source })?;
        let (instructions, _signature) =
            sign(signable, &params).map_err(|source| RequestError::Signing { uri: uri.clone(), source })?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }

    /// Signed directly: the canonical request of an Invoke call written out (its path
    /// has only unreserved characters and percent escapes, its query is empty, its
    /// headers are known), hashed, and signed with aws-sigv4's signature function and
    /// the day's key. Byte for byte what `through_sigv4` produces (tested below and in
    /// `tests/lean_equivalence.rs`), at a fraction of the cost.
    fn direct(
        &self,
        host: &str,
        function_path: &str,
        payload: Bytes,
        credentials: &Credentials,
        log_tail: bool,
        time: SystemTime,
    ) -> Result<http::Request<Bytes>, RequestError> {
        let stamp = Stamp::of(time);
        let token = credentials.session_token();
        let signed_headers = match (log_tail, token.is_some()) {
            (false, false) => "content-length;content-type;host;x-amz-date;x-amz-user-agent",
            (true, false) => "content-length;content-type;host;x-amz-date;x-amz-log-type;x-amz-user-agent",
            (false, true) => "content-length;content-type;host;x-amz-date;x-amz-security-token;x-amz-user-agent",
            (true, true) => {
                "content-length;content-type;host;x-amz-date;x-amz-log-type;x-amz-security-token;x-amz-user-agent"
            }
        };
        let mut canonical = String::with_capacity(512 + token.map_or(0, str::len));
        canonical.push_str("POST\n");
        // The path as SigV4 canonicalises it for every service but S3: encoded again.
        canonical.push_str(&function_path.replace('%', "%25"));
        canonical.push_str("\n\n");
        let _ = write!(canonical, "content-length:{}\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n", payload.len());
        let _ = writeln!(canonical, "x-amz-date:{}", stamp.date_time);
        if log_tail {
            canonical.push_str("x-amz-log-type:Tail\n");
        }
        if let Some(token) = token {
            let _ = writeln!(canonical, "x-amz-security-token:{token}");
        }
        let _ = write!(canonical, "x-amz-user-agent:{}\n\n{signed_headers}\n", self.user_agent);
        canonical.push_str(&hex(&Sha256::digest(&payload)));
        let scope = format!("{}/{}/{SIGNING_NAME}/aws4_request", stamp.date, self.region);
        let mut string_to_sign = String::with_capacity(128 + scope.len());
        let _ = write!(string_to_sign, "AWS4-HMAC-SHA256\n{}\n{scope}\n", stamp.date_time);
        string_to_sign.push_str(&hex(&Sha256::digest(canonical.as_bytes())));
        let key = self.day_key(credentials.secret_access_key(), &stamp.date, time);
        let signature = v4::calculate_signature(key, string_to_sign.as_bytes());
        let access_key = credentials.access_key_id();
        let mut authorization = String::with_capacity(128 + access_key.len() + scope.len() + signed_headers.len());
        let _ = write!(
            authorization,
            "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
        );
        let mut request = self.unsigned(function_path, payload, log_tail)?;
        let headers = request.headers_mut();
        headers.insert("x-amz-date", value(stamp.date_time.clone(), "x-amz-date")?);
        if let Some(token) = token {
            let mut token = value(token.to_string(), "the session token")?;
            token.set_sensitive(true);
            headers.insert("x-amz-security-token", token);
        }
        let mut authorization = value(authorization, "the Authorization header (from the access key id)")?;
        authorization.set_sensitive(true);
        headers.insert("authorization", authorization);
        Ok(request)
    }

    /// The signing key for `secret` on `date`, derived when either changed.
    fn day_key(&self, secret: &str, date: &str, time: SystemTime) -> [u8; 32] {
        let mut cached = self.key.lock().expect("signing key lock poisoned");
        match cached.as_ref() {
            Some(k) if k.date == date && k.secret == secret => k.key,
            _ => {
                let derived = v4::generate_signing_key(secret, time, &self.region, SIGNING_NAME);
                let mut key = [0u8; 32];
                key.copy_from_slice(derived.as_ref());
                *cached = Some(DayKey { secret: secret.to_string(), date: date.to_string(), key });
                key
            }
        }
    }
}

const CONTENT_TYPE: &str = "application/octet-stream";

/// A header value, or what is wrong with it.
fn value(s: String, what: &'static str) -> Result<http::HeaderValue, RequestError> {
    http::HeaderValue::try_from(s).map_err(|source| RequestError::Header { what, source })
}

/// A header value SigV4's canonical form keeps as it is: no leading, trailing or
/// repeated spaces, no tabs or line breaks.
fn is_normalised(v: &str) -> bool {
    v.trim() == v && !v.contains("  ") && !v.contains(['\t', '\r', '\n'])
}

/// `20261130T153911Z` and `20261130`, in UTC.
struct Stamp {
    date_time: String,
    date: String,
}

impl Stamp {
    fn of(time: SystemTime) -> Stamp {
        let secs = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = transfer::civil::civil_from_days(days as i64);
        let date = format!("{y:04}{m:02}{d:02}");
        let date_time = format!("{date}T{:02}{:02}{:02}Z", rest / 3600, rest / 60 % 60, rest % 60);
        Stamp { date_time, date }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The `host` SigV4 signs for a base URL with no path, query or user part: the
/// authority, without the scheme's default port.
fn direct_host(base: &str) -> Option<String> {
    let uri: http::Uri = base.trim_end_matches('/').parse().ok()?;
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let default =
        matches!((uri.scheme_str(), authority.port_u16()), (Some("http"), Some(80)) | (Some("https"), Some(443)));
    Some(if default { authority.host().to_string() } else { authority.as_str().to_string() })
}

/// A path SigV4 leaves as it is apart from encoding `%` again: unreserved characters,
/// percent escapes and slashes, no dot segments.
fn is_plain_path(path: &str) -> bool {
    path.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_~%/.".contains(&b))
        && path.split('/').all(|segment| segment != "." && segment != "..")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn header(r: &http::Request<Bytes>, k: &str) -> Option<String> {
        r.headers().get(k).map(|v| v.to_str().unwrap().to_string())
    }

    /// The direct signer against aws-sigv4's request signer: the same headers and
    /// signature for names, ARNs, qualifiers, tokens, log tails, payloads, ports, and
    /// times around midnight and leap days, with the key cache crossing days and secrets.
    #[test]
    fn direct_signing_is_aws_sigv4s() {
        let bases = ["https://lambda.eu-west-1.amazonaws.com", "http://127.0.0.1:9000", "https://example.com:443/"];
        let functions =
            ["reinvent-dat401", "reinvent-dat401:$LATEST", "arn:aws:lambda:eu-west-1:123456789012:function:f:live"];
        let times = [1_796_000_000u64, 1_796_083_199, 1_796_083_200, 951_782_400, 4_107_542_399];
        for base in bases {
            let signer = Signer::new(base, "eu-west-1", "dsql-lambda-harness/0.1.0 lean-invoke");
            assert!(signer.host.is_some(), "{base}");
            for (i, secs) in times.into_iter().enumerate() {
                let time = UNIX_EPOCH + Duration::from_secs(secs);
                let secret = if i % 2 == 0 { "wJalrXUtnFEMI/K7MDENG" } else { "other/secret" };
                for token in [None, Some("session-token")] {
                    let creds = Credentials::new("AKIDEXAMPLE", secret, token.map(String::from), None, "t");
                    for function in functions {
                        for log_tail in [false, true] {
                            for payload in [&b"{\"payer_id\":1,\"payee_id\":2,\"amount\":10}"[..], b""] {
                                let path = invoke_path(function);
                                let body = Bytes::copy_from_slice(payload);
                                let direct = signer.request(&path, body.clone(), &creds, log_tail, time).unwrap();
                                let generic = signer.through_sigv4(&path, body, &creds, log_tail, time).unwrap();
                                let what = format!("{base} {function} {secs} {token:?} {log_tail}");
                                assert_eq!(direct.uri(), generic.uri(), "{what}");
                                assert_eq!(direct.headers(), generic.headers(), "{what}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn what_the_direct_path_cannot_sign_goes_through_aws_sigv4() {
        let signer = Signer::new("http://127.0.0.1:9000/prefix", "us-east-1", "ua");
        assert_eq!(signer.host, None);
        let creds = Credentials::new("AKID", "secret", None, None, "t");
        let request = signer.request("/2015-03-31/functions/f/invocations", Bytes::new(), &creds, false, UNIX_EPOCH);
        assert!(header(&request.unwrap(), "authorization").unwrap().starts_with("AWS4-HMAC-SHA256 Credential=AKID/"));
        assert!(!is_plain_path("/a/../b"));
        // Values SigV4 would normalise go through aws-sigv4's signer, which does.
        let spaced = Signer::new("http://127.0.0.1:9000", "us-east-1", "ua  with  spaces");
        assert_eq!(spaced.host, None);
        let direct = Signer::new("http://127.0.0.1:9000", "us-east-1", "ua");
        let token = Credentials::new("AKID", "secret", Some(" padded token ".into()), None, "t");
        let path = invoke_path("f");
        let signed = direct.request(&path, Bytes::new(), &token, false, UNIX_EPOCH).unwrap();
        let reference = direct.through_sigv4(&path, Bytes::new(), &token, false, UNIX_EPOCH).unwrap();
        assert_eq!(signed.headers(), reference.headers());
        assert_eq!(direct_host("http://localhost:80").as_deref(), Some("localhost"));
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        let at = |secs| Stamp::of(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0).date_time, "19700101T000000Z");
        assert_eq!(at(951_782_400).date_time, "20000229T000000Z");
        assert_eq!(at(1_796_083_199).date_time, "20261130T235959Z");
        assert_eq!(at(1_796_083_200).date, "20261201");
    }
}

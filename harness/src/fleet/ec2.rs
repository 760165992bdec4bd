//! EC2's `DescribeInstances`, called directly instead of through aws-sdk-ec2 (whose
//! build costs minutes of CPU for this one call): the Query API request
//! (`POST /`, a form body `Action=DescribeInstances&Version=2016-11-15&InstanceId.1=...`)
//! signed with SigV4 for `ec2`, with the region, credentials, endpoint and HTTP client
//! of the same `SdkConfig` as the other fleet clients, pages followed by `NextToken`,
//! and the XML answer read for each instance's `instanceId` and `privateIpAddress`.
//!
//! The endpoint is found as aws-sdk-ec2 finds it: an `endpoint_url` set on the
//! `SdkConfig` in code, else `AWS_ENDPOINT_URL_EC2` (or the profile's `services`
//! section), else `AWS_ENDPOINT_URL`, else `https://ec2.{region}.amazonaws.com/`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime::client::auth::no_auth::{NoAuthScheme, NO_AUTH_SCHEME_ID};
use aws_smithy_runtime::client::identity::no_auth::NoAuthIdentityResolver;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::orchestrator::endpoints::StaticUriEndpointResolver;
use aws_smithy_runtime::client::retries::strategy::NeverRetryStrategy;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::http::{
    HttpClient as _, HttpConnector as _, HttpConnectorSettings, SharedHttpClient,
};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use workers::lean::credentials::CachedCredentials;

/// The service name requests are signed for.
pub const SIGNING_NAME: &str = "ec2";
/// The Query API version of the call.
pub const API_VERSION: &str = "2016-11-15";
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// How long one page may take, connecting included.
const PATIENCE: Duration = Duration::from_secs(60);
/// Attempts at one page, as the SDK's standard retry mode makes: a throttle, a 5xx
/// or a connection lost is tried again after a jittered, doubling pause.
const ATTEMPTS: u32 = 3;
/// The first pause between attempts (then doubled), before jitter.
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Why a `DescribeInstances` call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no AWS region configured: pass --region or set AWS_REGION")]
    NoRegion,
    #[error("no AWS credentials provider configured")]
    NoCredentialsProvider,
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    #[error("the request for {uri}: {message}")]
    Request { uri: String, message: String },
    #[error("sending to {uri}: {message}")]
    Send { uri: String, message: String },
    #[error("no answer from {uri} within {} s", PATIENCE.as_secs())]
    Timeout { uri: String },
    /// EC2 said no: `<Response><Errors><Error><Code>..</Code><Message>..</Message>`.
    #[error("{code}: {message} (HTTP {status})")]
    Api { status: u16, code: String, message: String },
    #[error("HTTP {status} without an EC2 error: {body}")]
    Status { status: u16, body: String },
    #[error("not a DescribeInstances answer: {0}")]
    Answer(String),
}

impl Error {
    /// Worth another attempt: a throttle, a server-side failure, or no answer.
    fn transient(&self) -> bool {
        const THROTTLES: [&str; 4] = ["RequestLimitExceeded", "Throttling", "Unavailable", "InternalError"];
        match self {
            Error::Send { .. } | Error::Timeout { .. } => true,
            Error::Api { status, code, .. } => *status >= 500 || THROTTLES.contains(&code.as_str()),
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// One instance as `DescribeInstances` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// None while it has no network interface yet.
    pub private_ip: Option<String>,
}

/// The EC2 client of a fleet: `DescribeInstances` only.
#[derive(Clone)]
pub struct Client {
    /// The configuration's HTTP client (or the SDK's default one), and what it is asked
    /// for a connector with (nothing here but the sleep and time sources matters to it).
    http: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
    region: Option<String>,
    /// The URL posted to, or None without a region or an endpoint to name one.
    uri: Option<String>,
    /// The configuration's credentials, cached until shortly before they expire (none
    /// without a provider).
    credentials: Option<Arc<CachedCredentials>>,
    time: Option<aws_types::sdk_config::SharedTimeSource>,
}

impl Client {
    pub fn new(sdk: &aws_config::SdkConfig) -> Client {
        let region = sdk.region().map(|r| r.to_string());
        let uri = configured_endpoint(sdk)
            .or_else(|| region.as_deref().map(regional_endpoint))
            .map(|e| e.parse::<http::Uri>().map(|u| u.to_string()).unwrap_or(e));
        let http = sdk.http_client().unwrap_or_else(|| {
            use aws_smithy_http_client::tls;
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
                .build_https()
        });
        // The connector's timeouts need a sleep to time them with.
        let mut settings = HttpConnectorSettings::builder();
        if let (Some(t), Some(_)) = (sdk.timeout_config(), sdk.sleep_impl()) {
            settings.set_connect_timeout(t.connect_timeout()).set_read_timeout(t.read_timeout());
        }
        // What an HTTP client may ask of the runtime; the rest (required of a complete
        // set) is inert: this client resolves, signs and retries (not) by itself.
        let components = RuntimeComponents::builder("harness-ec2")
            .with_sleep_impl(sdk.sleep_impl())
            .with_time_source(sdk.time_source())
            .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![NO_AUTH_SCHEME_ID])))
            .with_auth_scheme(NoAuthScheme::new())
            .with_identity_resolver(NO_AUTH_SCHEME_ID, NoAuthIdentityResolver::new())
            .with_identity_cache(Some(IdentityCache::no_cache()))
            .with_endpoint_resolver(Some(StaticUriEndpointResolver::uri(uri.clone().unwrap_or_default())))
            .with_retry_strategy(Some(NeverRetryStrategy::new()))
            .build()
            .expect("every required runtime component is given");
        Client {
            http,
            settings: settings.build(),
            components,
            region,
            uri,
            credentials: sdk.credentials_provider().map(|p| Arc::new(CachedCredentials::new(p))),
            time: sdk.time_source(),
        }
    }

    /// The instances with these ids, every page of them.
    pub async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Instance>, Error> {
        let mut instances = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.page(&form(ids, token.as_deref())).await?;
            instances.extend(page.instances);
            match page.next_token {
                Some(next) if token.as_ref() == Some(&next) => {
                    return Err(Error::Answer(format!("the same NextToken twice: {next}")))
                }
                Some(next) => token = Some(next),
                None => return Ok(instances),
            }
        }
    }

    /// One page, tried again (at most `ATTEMPTS` in all) while the failure is transient.
    async fn page(&self, body: &str) -> Result<Page, Error> {
        let mut pause = FIRST_PAUSE;
        for attempt in 1.. {
            let answer = self.call(body.to_string()).await.and_then(|(status, text)| parse(status, &text));
            match answer {
                Err(e) if e.transient() && attempt < ATTEMPTS => {
                    tokio::time::sleep(pause.mul_f64(0.5 + rand::random::<f64>() / 2.0)).await;
                    pause *= 2;
                }
                done => return done,
            }
        }
        unreachable!("the loop returns by its last attempt")
    }

    /// One signed request; the answer's status and body.
    async fn call(&self, body: String) -> Result<(u16, String), Error> {
        let region = self.region.as_deref().ok_or(Error::NoRegion)?;
        let uri = self.uri.as_deref().ok_or(Error::NoRegion)?;
        let credentials = self.credentials().await?;
        let time = self.time.as_ref().map_or_else(SystemTime::now, |t| t.now());
        let request = signed(uri, region, body, &credentials, time)?;
        let request = HttpRequest::try_from(request.map(SdkBody::from))
            .map_err(|e| Error::Request { uri: uri.to_string(), message: describe(&e) })?;
        let connector = self.http.http_connector(&self.settings, &self.components);
        let send = async {
            let response = connector
                .call(request)
                .await
                .map_err(|e| Error::Send { uri: uri.to_string(), message: describe(&e) })?;
            let status = response.status().as_u16();
            let bytes = ByteStream::new(response.into_body())
                .collect()
                .await
                .map_err(|e| Error::Send { uri: uri.to_string(), message: describe(&e) })?
                .into_bytes();
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        tokio::time::timeout(PATIENCE, send).await.map_err(|_| Error::Timeout { uri: uri.to_string() })?
    }

    /// The configuration's credentials.
    async fn credentials(&self) -> Result<Credentials, Error> {
        let cached = self.credentials.as_ref().ok_or(Error::NoCredentialsProvider)?;
        cached.get().await.map_err(|e| Error::Credentials(describe(&e.0)))
    }
}

fn describe(e: &dyn std::error::Error) -> String {
    workers::error_chain(e)
}

/// An endpoint the configuration names, as aws-sdk-ec2 reads it: one set in code wins,
/// then `AWS_ENDPOINT_URL_EC2` (or the profile's `services` section), then
/// `AWS_ENDPOINT_URL`.
fn configured_endpoint(sdk: &aws_config::SdkConfig) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_string);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("EC2")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config().and_then(|c| c.load_config(key)).or_else(|| sdk.endpoint_url().map(str::to_string))
}

/// EC2's regional endpoint.
fn regional_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://ec2.{region}.{domain}/")
}

/// The form body of one page's request.
pub fn form(ids: &[String], next_token: Option<&str>) -> String {
    let mut body = format!("Action=DescribeInstances&Version={API_VERSION}");
    for (k, id) in ids.iter().enumerate() {
        body.push_str(&format!("&InstanceId.{}={}", k + 1, encode(id)));
    }
    if let Some(token) = next_token {
        body.push_str(&format!("&NextToken={}", encode(token)));
    }
    body
}

/// Percent-encoded, every byte outside the unreserved set.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request posting `body` to `uri`, signed with SigV4 for `ec2` in `region` at `time`
/// (content-type, host, x-amz-date and, with temporary credentials,
/// x-amz-security-token signed).
pub fn signed(
    uri: &str,
    region: &str,
    body: String,
    credentials: &Credentials,
    time: SystemTime,
) -> Result<http::Request<String>, Error> {
    let failed = |message: String| Error::Request { uri: uri.to_string(), message };
    let parsed: http::Uri = uri.parse().map_err(|e| failed(format!("not a URL: {e}")))?;
    let host = parsed.authority().ok_or_else(|| failed("no host".into()))?.as_str().to_string();
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(parsed)
        .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
        .header(http::header::HOST, host)
        .header(http::header::USER_AGENT, concat!("harness/", env!("CARGO_PKG_VERSION")))
        .body(body)
        .map_err(|e| failed(e.to_string()))?;
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_NAME)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(format!("signing parameters: {e}")))?
        .into();
    let headers = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    let signable = SignableRequest::new("POST", uri, headers, SignableBody::Bytes(request.body().as_bytes()))
        .map_err(|e| failed(format!("signing: {e}")))?;
    let (instructions, _signature) = sign(signable, &params).map_err(|e| failed(format!("signing: {e}")))?.into_parts();
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}

/// One page of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub instances: Vec<Instance>,
    pub next_token: Option<String>,
}

/// An answer read: its instances and the next page's token, or EC2's error.
pub fn parse(status: u16, body: &str) -> Result<Page, Error> {
    let doc = match roxmltree::Document::parse(body) {
        Ok(doc) => doc,
        Err(e) if (200..300).contains(&status) => return Err(Error::Answer(format!("not XML: {e}"))),
        Err(_) => return Err(Error::Status { status, body: excerpt(body) }),
    };
    let root = doc.root_element();
    if let Some(error) = child(root, "Errors").and_then(|e| child(e, "Error")) {
        let text = |name| child(error, name).and_then(|n| n.text()).unwrap_or_default().trim().to_string();
        return Err(Error::Api { status, code: text("Code"), message: text("Message") });
    }
    if !(200..300).contains(&status) {
        return Err(Error::Status { status, body: excerpt(body) });
    }
    if root.tag_name().name() != "DescribeInstancesResponse" {
        return Err(Error::Answer(format!("<{}>, not <DescribeInstancesResponse>", root.tag_name().name())));
    }
    let text = |node: roxmltree::Node, name| {
        child(node, name).and_then(|n| n.text()).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string)
    };
    let mut instances = Vec::new();
    let reservations = child(root, "reservationSet").into_iter().flat_map(|s| children(s, "item"));
    for reservation in reservations {
        for item in child(reservation, "instancesSet").into_iter().flat_map(|s| children(s, "item")) {
            let id =
                text(item, "instanceId").ok_or_else(|| Error::Answer("an instance without an instanceId".into()))?;
            instances.push(Instance { id, private_ip: text(item, "privateIpAddress") });
        }
    }
    Ok(Page { instances, next_token: text(root, "nextToken") })
}

fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children().filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &'static str) -> Option<roxmltree::Node<'a, 'i>> {
    children(node, name).next()
}

/// The start of an answer that is not EC2's, for the error.
fn excerpt(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(300) {
        Some((end, _)) => format!("{}...", &body[..end]),
        None => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};

    use super::super::recorded::{group_xml, instances_page_xml};
    use super::super::tests::clients_with;
    use super::super::StackOutputs;
    use super::*;

    const NOT_FOUND: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-9' does not exist</Message></Error></Errors><RequestID>5d7c3c4e-0000-4000-8000-000000000000</RequestID></Response>"#;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// SigV4 worked out here, step by step as AWS documents it, without aws-sigv4.
    fn expected_authorization(body: &str, host: &str, token: &str, secret: &str) -> String {
        let (date, day) = ("20261130T100000Z", "20261130");
        let signed_headers = "content-type;host;x-amz-date;x-amz-security-token";
        let canonical = format!(
            "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\nx-amz-date:{date}\nx-amz-security-token:{token}\n\n{signed_headers}\n{}",
            hex(&Sha256::digest(body.as_bytes()))
        );
        let scope = format!("{day}/us-east-1/ec2/aws4_request");
        let to_sign = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), day);
        for part in ["us-east-1", "ec2", "aws4_request"] {
            key = hmac(&key, part);
        }
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDTEST/{scope}, SignedHeaders={signed_headers}, Signature={}",
            hex(&hmac(&key, &to_sign))
        )
    }

    #[test]
    fn the_request_is_signed_as_sigv4_says() {
        let time = UNIX_EPOCH + Duration::from_secs(1_796_032_800); // 2026-11-30T10:00:00Z
        let credentials = Credentials::new("AKIDTEST", "secret/key+1", Some("session-token".into()), None, "test");
        let body = form(&["i-1".into(), "i-0a1b".into()], Some("tok/2+="));
        assert_eq!(
            body,
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-0a1b&NextToken=tok%2F2%2B%3D"
        );
        for (uri, host) in [
            ("https://ec2.us-east-1.amazonaws.com/", "ec2.us-east-1.amazonaws.com"),
            ("http://127.0.0.1:8123/", "127.0.0.1:8123"),
        ] {
            let r = signed(uri, "us-east-1", body.clone(), &credentials, time).unwrap();
            assert_eq!(r.method(), http::Method::POST);
            assert_eq!(r.uri().to_string(), uri);
            assert_eq!(r.body(), &body);
            let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_string());
            assert_eq!(header("content-type").as_deref(), Some(CONTENT_TYPE));
            assert_eq!(header("host").as_deref(), Some(host));
            assert_eq!(header("x-amz-date").as_deref(), Some("20261130T100000Z"));
            assert_eq!(header("x-amz-security-token").as_deref(), Some("session-token"));
            assert_eq!(
                header("authorization").unwrap(),
                expected_authorization(&body, host, "session-token", "secret/key+1"),
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn pages_are_followed_by_next_token_and_each_request_is_signed_for_ec2() {
        let (c, recorded) = clients_with(vec![
            (200, instances_page_xml(&[("i-1", "10.0.1.5"), ("i-2", "")], Some("tok/2+="))),
            (200, instances_page_xml(&[("i-4", "10.0.1.9")], None)),
        ]);
        let ids: Vec<String> = ["i-1", "i-2", "i-4"].map(String::from).into();
        let found = c.ec2.describe_instances(&ids).await.unwrap();
        let instance = |id: &str, ip: Option<&str>| Instance { id: id.into(), private_ip: ip.map(String::from) };
        assert_eq!(
            found,
            [instance("i-1", Some("10.0.1.5")), instance("i-2", None), instance("i-4", Some("10.0.1.9"))]
        );
        let requests: Vec<_> = recorded.actual_requests().collect();
        assert_eq!(requests.len(), 2);
        let first = "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-2&InstanceId.3=i-4";
        for (r, body) in requests.iter().zip([first.to_string(), format!("{first}&NextToken=tok%2F2%2B%3D")]) {
            assert_eq!(r.method(), "POST");
            assert_eq!(r.uri(), "https://ec2.us-east-1.amazonaws.com/");
            assert_eq!(r.body().bytes(), Some(body.as_bytes()));
            assert_eq!(r.headers().get("content-type"), Some(CONTENT_TYPE));
            let authorization = r.headers().get("authorization").unwrap();
            let (scope, signature) = authorization
                .strip_prefix("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
                .and_then(|rest| rest.split_once(", SignedHeaders=content-type;host;x-amz-date, Signature="))
                .unwrap_or_else(|| panic!("{authorization}"));
            let day = scope.strip_suffix("/us-east-1/ec2/aws4_request").unwrap_or_else(|| panic!("{scope}"));
            assert!(day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()), "{scope}");
            assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()), "{signature}");
        }
    }

    #[tokio::test]
    async fn an_ec2_error_names_its_code_and_message() {
        let (c, _) = clients_with(vec![(400, NOT_FOUND.into())]);
        let e = c.ec2.describe_instances(&["i-9".into()]).await.unwrap_err();
        assert!(
            matches!(&e, Error::Api { status: 400, code, message }
                if code == "InvalidInstanceID.NotFound" && message == "The instance ID 'i-9' does not exist"),
            "{e:?}"
        );
        // And as the fleet reports it.
        let (c, _) =
            clients_with(vec![(200, group_xml(1, &[("i-9", "InService", "Healthy")])), (400, NOT_FOUND.into())]);
        let outputs = StackOutputs { group: "hf-WorkerGroup-1".into(), port: 7700, secret_parameter: "/p".into() };
        let e = crate::fleet::find(&c, &outputs).await.unwrap_err().to_string();
        assert_eq!(e, "DescribeInstances: InvalidInstanceID.NotFound: The instance ID 'i-9' does not exist (HTTP 400)");
    }

    #[tokio::test]
    async fn throttles_and_server_failures_are_tried_again_a_bounded_number_of_times() {
        const THROTTLED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>"#;
        let ok = instances_page_xml(&[("i-1", "10.0.1.5")], None);
        let (c, recorded) = clients_with(vec![(503, THROTTLED.into()), (500, "oops".into()), (200, ok)]);
        let found = c.ec2.describe_instances(&["i-1".into()]).await.unwrap();
        assert_eq!(found, [Instance { id: "i-1".into(), private_ip: Some("10.0.1.5".into()) }]);
        assert_eq!(recorded.actual_requests().count(), 3, "two failures, then the answer");
        let answers = (0..ATTEMPTS).map(|_| (503, THROTTLED.to_string())).collect();
        let (c, recorded) = clients_with(answers);
        let e = c.ec2.describe_instances(&["i-1".into()]).await.unwrap_err();
        assert!(matches!(&e, Error::Api { code, .. } if code == "RequestLimitExceeded"), "{e:?}");
        assert_eq!(recorded.actual_requests().count(), ATTEMPTS as usize, "no more than ATTEMPTS");
        let (c, recorded) = clients_with(vec![(400, NOT_FOUND.into())]);
        assert!(c.ec2.describe_instances(&["i-9".into()]).await.is_err());
        assert_eq!(recorded.actual_requests().count(), 1, "a client error is not tried again");
    }

    #[test]
    fn answers_that_are_not_describe_instances_are_errors() {
        let e = parse(503, "<html>Service Unavailable</html>").unwrap_err().to_string();
        assert_eq!(e, "HTTP 503 without an EC2 error: <html>Service Unavailable</html>");
        let e = parse(502, "bad gateway").unwrap_err().to_string();
        assert_eq!(e, "HTTP 502 without an EC2 error: bad gateway");
        let e = parse(200, "{}").unwrap_err().to_string();
        assert!(e.starts_with("not a DescribeInstances answer: not XML"), "{e}");
        let e = parse(200, "<DescribeStacksResponse/>").unwrap_err().to_string();
        assert_eq!(e, "not a DescribeInstances answer: <DescribeStacksResponse>, not <DescribeInstancesResponse>");
        // An error in a 200 is still an error; an empty answer is no instances.
        assert!(matches!(parse(200, NOT_FOUND), Err(Error::Api { .. })));
        let empty = r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>"#;
        assert_eq!(parse(200, empty).unwrap(), Page { instances: vec![], next_token: None });
    }

    #[test]
    fn the_endpoint_is_the_configured_one_else_the_regional_one() {
        let base = || {
            aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("eu-west-1"))
        };
        assert_eq!(Client::new(&base().build()).uri.as_deref(), Some("https://ec2.eu-west-1.amazonaws.com/"));
        let local = base().endpoint_url("http://127.0.0.1:4566").build();
        assert_eq!(Client::new(&local).uri.as_deref(), Some("http://127.0.0.1:4566/"));
        let china = base().region(aws_config::Region::new("cn-north-1")).build();
        assert_eq!(Client::new(&china).uri.as_deref(), Some("https://ec2.cn-north-1.amazonaws.com.cn/"));
        let nowhere = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        assert_eq!(Client::new(&nowhere).uri, None);
    }
}

//! DSQL IAM auth tokens, as a client presents them for its password.
//!
//! A token is a SigV4 presigned URL without its scheme, as
//! `aws_sdk_dsql::auth_token::AuthTokenGenerator` makes it:
//!
//! ```text
//! <host>/?Action=DbConnect[Admin]&X-Amz-Algorithm=AWS4-HMAC-SHA256
//!   &X-Amz-Credential=<key>%2F<yyyymmdd>%2F<region>%2Fdsql%2Faws4_request
//!   &X-Amz-Date=<yyyymmddThhmmssZ>&X-Amz-Expires=<seconds>&X-Amz-SignedHeaders=host
//!   [&X-Amz-Security-Token=<session token>]&X-Amz-Signature=<64 hex digits>
//! ```
//!
//! The signature cannot be checked without AWS's copy of the secret key, so [`check`]
//! checks everything else: the form, the host, the kind, the service and the age.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest lifetime a token may ask for: one week, as DSQL allows.
pub const MAX_LIFETIME_SECS: u64 = 604_800;

/// How far ahead of ours the clock of the machine that signed a token may run.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The SQLSTATE DSQL answers a refused token with: 08006 (connection_failure), not the
/// 28000/28P01 of PostgreSQL. Seen in real DSQL refusals quoted in public code: a
/// node-postgres error `{ severity: 'FATAL', code: '08006' }` and pgx errors
/// `FATAL: unable to accept connection, access denied (SQLSTATE 08006)`, which clients
/// such as Temporal's DSQL plugin retry on with a fresh token.
pub const REFUSAL_SQLSTATE: &str = "08006";

/// DSQL's message for every refused token; what was wrong is in the HINT field
/// ([`refusal_hint`]): `Signature expired: ..`, `Wrong user to action mapping. ..`.
pub const ACCESS_DENIED: &str = "unable to accept connection, access denied";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "dsql";
const SECS_PER_DAY: i64 = 86_400;

/// Which of DSQL's two connect actions a token was signed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `dsql:DbConnect`: for every role but `admin`.
    DbConnect,
    /// `dsql:DbConnectAdmin`: for the `admin` role.
    DbConnectAdmin,
}

impl TokenKind {
    /// The `Action` query parameter of a token of this kind.
    pub fn action(self) -> &'static str {
        match self {
            TokenKind::DbConnect => "DbConnect",
            TokenKind::DbConnectAdmin => "DbConnectAdmin",
        }
    }

    fn from_action(action: &str) -> Option<TokenKind> {
        [TokenKind::DbConnect, TokenKind::DbConnectAdmin].into_iter().find(|k| k.action() == action)
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action())
    }
}

/// What an accepted token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The action it was signed for.
    pub kind: TokenKind,
    /// The host it was made for, as written in it, without a `:port`.
    pub host: String,
    /// The region of its credential scope.
    pub region: String,
    /// The access key id that signed it.
    pub access_key_id: String,
    /// Its `X-Amz-Date`.
    pub signed_at: SystemTime,
    /// `signed_at` plus its `X-Amz-Expires`: the first instant it is no longer accepted.
    pub expires_at: SystemTime,
}

/// Why a token was refused. The messages are shown to users (in the HINT of the refusal).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not of a token's form; says what is missing or wrong.
    #[error("the password is not a DSQL auth token: {0}")]
    Malformed(String),
    /// Made for a host this endpoint does not answer to.
    #[error("the token was made for host `{found}`, but this endpoint answers to {}", names(.expected))]
    WrongHost {
        /// The names this endpoint answers to.
        expected: Vec<String>,
        /// The token's host, without its port.
        found: String,
    },
    /// An `Action` other than DbConnect and DbConnectAdmin.
    #[error("the token's Action is `{0}`; a DSQL token's Action is DbConnect or DbConnectAdmin")]
    UnknownAction(String),
    /// An `X-Amz-Algorithm` other than AWS4-HMAC-SHA256.
    #[error("the token is signed with `{0}`; DSQL accepts only AWS4-HMAC-SHA256")]
    WrongAlgorithm(String),
    /// A credential scoped to another service than `dsql` (an RDS token is `rds-db`).
    #[error("the token's credential is scoped to service `{0}`, not `dsql`: was it made for another service?")]
    WrongService(String),
    /// `X-Amz-SignedHeaders` without `host`.
    #[error("the token does not sign the host header (X-Amz-SignedHeaders is `{0}`)")]
    HostNotSigned(String),
    /// Presented at or after `signed_at + lifetime_secs`.
    #[error("the token has expired: signed at {} for {lifetime_secs} s, and it is now {}", utc(.signed_at), utc(.now))]
    Expired {
        /// Its `X-Amz-Date`.
        signed_at: SystemTime,
        /// Its `X-Amz-Expires`.
        lifetime_secs: u64,
        /// When it was presented.
        now: SystemTime,
    },
    /// Signed more than [`CLOCK_SKEW`] after it was presented.
    #[error(
        "the token is not valid yet: signed at {}, more than 5 minutes after now ({}); check the clock of the \
         machine that made it",
        utc(.signed_at),
        utc(.now)
    )]
    NotYetValid {
        /// Its `X-Amz-Date`.
        signed_at: SystemTime,
        /// When it was presented.
        now: SystemTime,
    },
    /// An `X-Amz-Expires` over [`MAX_LIFETIME_SECS`].
    #[error("the token asks to live {0} s, longer than the most DSQL allows, 604800 s (one week)")]
    LifetimeTooLong(u64),
    /// A token of the wrong kind for the role (DSQL's own wording, see [`check_user`]).
    #[error("Wrong user to action mapping. user: {user}, action: {kind}")]
    WrongAction {
        /// The role the client logs in as.
        user: String,
        /// The kind of its token.
        kind: TokenKind,
    },
}

/// Parse and check a token presented as a password at `now`: `hosts` are the names this
/// front answers to (host part only; compared case-insensitively, and a `:port` suffix in
/// the token's host is ignored). The signature's form is checked, not its value.
pub fn check(token: &str, hosts: &[String], now: SystemTime) -> Result<Claims, TokenError> {
    let (host, query) = split_token(token)?;
    let params = Params::parse(query)?;
    let action = params.required("Action")?;
    let kind = TokenKind::from_action(action).ok_or_else(|| TokenError::UnknownAction(action.to_string()))?;
    let algorithm = params.required("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(TokenError::WrongAlgorithm(algorithm.to_string()));
    }
    let date = params.required("X-Amz-Date")?;
    let signed_at = parse_amz_date(date)?;
    let credential = Credential::parse(params.required("X-Amz-Credential")?)?;
    if !date.starts_with(credential.date) {
        return Err(TokenError::Malformed(format!(
            "the date of X-Amz-Credential ({}) is not the date of X-Amz-Date ({date})",
            credential.date
        )));
    }
    let lifetime_secs = parse_lifetime(params.required("X-Amz-Expires")?)?;
    let signed_headers = params.required("X-Amz-SignedHeaders")?;
    if !signed_headers.split(';').any(|h| h.eq_ignore_ascii_case("host")) {
        return Err(TokenError::HostNotSigned(signed_headers.to_string()));
    }
    let signature = params.required("X-Amz-Signature")?;
    if signature.len() != 64 || !signature.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(TokenError::Malformed("X-Amz-Signature is not 64 lowercase hex digits".to_string()));
    }
    let host = without_port(host);
    if !hosts.iter().any(|h| unbracketed(h).eq_ignore_ascii_case(unbracketed(host))) {
        return Err(TokenError::WrongHost { expected: hosts.to_vec(), found: host.to_string() });
    }
    let expires_at = signed_at + Duration::from_secs(lifetime_secs);
    if now >= expires_at {
        return Err(TokenError::Expired { signed_at, lifetime_secs, now });
    }
    if now + CLOCK_SKEW < signed_at {
        return Err(TokenError::NotYetValid { signed_at, now });
    }
    Ok(Claims {
        kind,
        host: host.to_string(),
        region: credential.region.to_string(),
        access_key_id: credential.key.to_string(),
        signed_at,
        expires_at,
    })
}

/// Whether a token of `claims.kind` may log in as `user`: DSQL takes a DbConnectAdmin
/// token for `admin` and a DbConnect token for every other role.
pub fn check_user(claims: &Claims, user: &str) -> Result<(), TokenError> {
    let wanted = if user == "admin" { TokenKind::DbConnectAdmin } else { TokenKind::DbConnect };
    if claims.kind == wanted {
        Ok(())
    } else {
        Err(TokenError::WrongAction { user: user.to_string(), kind: claims.kind })
    }
}

/// What a client is told when its token is refused: the SQLSTATE and message of the FATAL
/// ErrorResponse. DSQL words every token refusal alike; sources:
/// <https://docs.aws.amazon.com/aurora-dsql/latest/userguide/troubleshooting.html>
/// (troubleshooting authentication errors) for the `Wrong user to action mapping` hint,
/// and refusals quoted in public code for the message, the SQLSTATE ([`REFUSAL_SQLSTATE`])
/// and the `Signature expired` hint. Put [`refusal_hint`] in the HINT field.
pub fn refusal(err: &TokenError) -> (&'static str, String) {
    match err {
        TokenError::Malformed(_)
        | TokenError::WrongHost { .. }
        | TokenError::UnknownAction(_)
        | TokenError::WrongAlgorithm(_)
        | TokenError::WrongService(_)
        | TokenError::HostNotSigned(_)
        | TokenError::Expired { .. }
        | TokenError::NotYetValid { .. }
        | TokenError::LifetimeTooLong(_)
        | TokenError::WrongAction { .. } => (REFUSAL_SQLSTATE, ACCESS_DENIED.to_string()),
    }
}

/// The HINT of a refusal: what was wrong. An expired token's hint starts `Signature
/// expired:`, as DSQL's does (clients retry once with a fresh token on it), one from the
/// future `Signature not yet current:` (AWS's SigV4 wording); the rest are the error's text.
pub fn refusal_hint(err: &TokenError) -> String {
    match err {
        TokenError::Expired { signed_at, lifetime_secs, now } => format!(
            "Signature expired: {} is now earlier than {} ({err})",
            basic(&(*signed_at + Duration::from_secs(*lifetime_secs))),
            basic(now)
        ),
        TokenError::NotYetValid { signed_at, now } => format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.) ({err})",
            basic(signed_at),
            basic(&(*now + CLOCK_SKEW)),
            basic(now)
        ),
        _ => err.to_string(),
    }
}

/// The host and the query of a token, after checking that the path is `/`.
fn split_token(token: &str) -> Result<(&str, &str), TokenError> {
    let malformed = |what: &str| Err(TokenError::Malformed(what.to_string()));
    if token.starts_with("https://") || token.starts_with("http://") {
        return malformed("it starts with a URL scheme; a token is the presigned URL without `https://`");
    }
    let Some((host, rest)) = token.find('/').map(|i| token.split_at(i)) else {
        return malformed("expected `<host>/?Action=DbConnect&X-Amz-...`, a presigned URL without its scheme");
    };
    if host.is_empty() {
        return malformed("it has no host before `/?`");
    }
    let Some((path, query)) = rest.split_once('?') else {
        return malformed("it has no query string after the host");
    };
    if path != "/" {
        return Err(TokenError::Malformed(format!("its path is `{path}`, not `/`")));
    }
    Ok((host, query))
}

/// `host:port` and `[v6]:port` without the port.
fn without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// The query parameters of a token, decoded.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Result<Params, TokenError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = || TokenError::Malformed(format!("the query parameter `{name}` is not URL-encoded text"));
            let (name, value) = (decode(name).ok_or_else(bad)?, decode(value).ok_or_else(bad)?);
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(TokenError::Malformed(format!("the query parameter {name} appears more than once")));
            }
            pairs.push((name, value));
        }
        Ok(Params(pairs))
    }

    fn required(&self, name: &str) -> Result<&str, TokenError> {
        match self.0.iter().find(|(n, _)| n == name) {
            Some((_, v)) if !v.is_empty() => Ok(v),
            Some(_) => Err(TokenError::Malformed(format!("{name} is empty"))),
            None => Err(TokenError::Malformed(format!("{name} is missing"))),
        }
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space, `%XX` a byte), as the
/// SDK's `url` crate encodes; `None` for a bad escape or bytes that are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `<key>/<yyyymmdd>/<region>/dsql/aws4_request`.
struct Credential<'a> {
    key: &'a str,
    date: &'a str,
    region: &'a str,
}

impl<'a> Credential<'a> {
    fn parse(s: &'a str) -> Result<Credential<'a>, TokenError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            TokenError::Malformed(format!(
                "X-Amz-Credential `{s}` is not `<access key id>/<yyyymmdd>/<region>/dsql/aws4_request`"
            ))
        };
        let [key, date, region, service, terminator] = parts[..] else { return Err(bad()) };
        let digits = date.len() == 8 && date.bytes().all(|c| c.is_ascii_digit());
        if key.is_empty() || region.is_empty() || !digits || terminator != "aws4_request" {
            return Err(bad());
        }
        if service != SERVICE {
            return Err(TokenError::WrongService(service.to_string()));
        }
        Ok(Credential { key, date, region })
    }
}

/// `X-Amz-Expires`: whole seconds, 1 to [`MAX_LIFETIME_SECS`].
fn parse_lifetime(s: &str) -> Result<u64, TokenError> {
    let bad = || TokenError::Malformed(format!("X-Amz-Expires `{s}` is not a whole number of seconds"));
    if !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    match s.parse::<u64>() {
        Ok(0) => Err(TokenError::Malformed("X-Amz-Expires is 0: the token was never valid".to_string())),
        Ok(n) if n > MAX_LIFETIME_SECS => Err(TokenError::LifetimeTooLong(n)),
        Ok(n) => Ok(n),
        // Only digits, so only too many of them.
        Err(_) => Err(TokenError::LifetimeTooLong(u64::MAX)),
    }
}

/// `X-Amz-Date`, `yyyymmddThhmmssZ` in UTC.
fn parse_amz_date(s: &str) -> Result<SystemTime, TokenError> {
    let bad = || TokenError::Malformed(format!("X-Amz-Date `{s}` is not a UTC time of the form yyyymmddThhmmssZ"));
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let field = |from: usize, to: usize| -> Option<i64> {
        let digits = s.get(from..to)?;
        digits.bytes().all(|c| c.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let fields = [(0, 4), (4, 6), (6, 8), (9, 11), (11, 13), (13, 15)].map(|(from, to)| field(from, to));
    let [Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)] = fields else {
        return Err(bad());
    };
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let days = crate::civil::days_from_civil(year, month, day);
    // A day that is not in its month (0, 31 April, 29 February of 2026) comes back as another date.
    if civil_from_days(days) != (year, month, day) {
        return Err(bad());
    }
    let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second;
    u64::try_from(secs).map(|s| UNIX_EPOCH + Duration::from_secs(s)).map_err(|_| bad())
}

/// The date of a day count, every field an i64.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let (year, month, day) = crate::civil::civil_from_days(days);
    (year, i64::from(month), i64::from(day))
}

/// A time as (year, month, day, hour, minute, second) in UTC, whole seconds.
fn fields(t: &SystemTime) -> (i64, i64, i64, i64, i64, i64) {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let s = secs.rem_euclid(SECS_PER_DAY);
    (year, month, day, s / 3600, s / 60 % 60, s % 60)
}

/// `2026-12-07T15:40:00Z`.
fn utc(t: &SystemTime) -> String {
    let (y, mo, d, h, mi, s) = fields(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20261207T154000Z`, the form of `X-Amz-Date`.
fn basic(t: &SystemTime) -> String {
    let (y, mo, d, h, mi, s) = fields(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `` `a`, `b` `` for the error messages.
fn names(hosts: &[String]) -> String {
    if hosts.is_empty() {
        return "no host name".to_string();
    }
    hosts.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{Region, SdkConfig};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use aws_sdk_dsql::auth_token::{AuthTokenGenerator, Config};
    use aws_smithy_async::time::StaticTimeSource;

    const HOST: &str = "my-cluster.dsql.us-east-1.on.aws";

    /// 2026-12-07T15:40:00Z (`date -u -d 2026-12-07T15:40:00Z +%s`).
    fn signed_at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_658_000)
    }

    fn hosts() -> Vec<String> {
        vec![HOST.to_string(), "localhost".to_string()]
    }

    /// A real token from the SDK's generator, signed with made-up credentials at `at`.
    async fn token_with(kind: TokenKind, host: &str, at: SystemTime, expires_in: u64, session: Option<&str>) -> String {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", session.map(str::to_string), None, "test");
        let sdk = SdkConfig::builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .region(Region::new("us-east-1"))
            .time_source(StaticTimeSource::new(at))
            .build();
        let config = Config::builder().hostname(host).expires_in(expires_in).build().expect("a generator config");
        let generator = AuthTokenGenerator::new(config);
        let token = match kind {
            TokenKind::DbConnect => generator.db_connect_auth_token(&sdk).await,
            TokenKind::DbConnectAdmin => generator.db_connect_admin_auth_token(&sdk).await,
        };
        token.expect("the SDK signs a token").to_string()
    }

    async fn token(kind: TokenKind) -> String {
        token_with(kind, HOST, signed_at(), 900, None).await
    }

    fn at(offset_secs: i64) -> SystemTime {
        let d = Duration::from_secs(offset_secs.unsigned_abs());
        if offset_secs < 0 {
            signed_at() - d
        } else {
            signed_at() + d
        }
    }

    #[tokio::test]
    async fn accepts_tokens_of_both_kinds_for_the_right_host() {
        for kind in [TokenKind::DbConnect, TokenKind::DbConnectAdmin] {
            let t = token(kind).await;
            assert!(t.starts_with(&format!("{HOST}/?Action={}&", kind.action())), "{t}");
            let claims = check(&t, &hosts(), at(60)).expect("a fresh token is accepted");
            assert_eq!(claims.kind, kind);
            assert_eq!(claims.host, HOST);
            assert_eq!(claims.region, "us-east-1");
            assert_eq!(claims.access_key_id, "AKIDEXAMPLE");
            assert_eq!(claims.signed_at, signed_at());
            assert_eq!(claims.expires_at, at(900));
        }
    }

    #[tokio::test]
    async fn compares_hosts_without_case_or_port() {
        let t = token_with(TokenKind::DbConnect, "LocalHost:5432", signed_at(), 900, None).await;
        assert_eq!(check(&t, &["LOCALHOST".to_string()], at(1)).expect("accepted").host.to_lowercase(), "localhost");
        let t = token_with(TokenKind::DbConnect, "127.0.0.2:5432", signed_at(), 900, None).await;
        assert_eq!(check(&t, &["127.0.0.2".to_string()], at(1)).expect("accepted").host, "127.0.0.2");
        let t = token_with(TokenKind::DbConnect, "[::1]:5432", signed_at(), 900, None).await;
        assert_eq!(check(&t, &["::1".to_string()], at(1)).expect("accepted").host, "[::1]");
    }

    #[tokio::test]
    async fn accepts_a_session_token_with_url_special_characters() {
        let session = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGMEQCIB+abc/def==";
        let t = token_with(TokenKind::DbConnectAdmin, HOST, signed_at(), 900, Some(session)).await;
        assert!(t.contains("X-Amz-Security-Token="), "{t}");
        let query = t.split_once('?').expect("a query").1;
        let params = Params::parse(query).expect("the query decodes");
        assert_eq!(params.required("X-Amz-Security-Token"), Ok(session));
        assert_eq!(check(&t, &hosts(), at(1)).expect("accepted").kind, TokenKind::DbConnectAdmin);
    }

    #[test]
    fn decodes_form_urlencoding_and_refuses_bad_escapes() {
        assert_eq!(decode("a%2Fb+c%2B%3d%20").as_deref(), Some("a/b c+= "));
        assert_eq!(decode("%e2%82%ac").as_deref(), Some("€"));
        for bad in ["%2", "%", "%+1", "%zz", "%ff"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn refuses_a_token_for_another_host() {
        let t = token_with(TokenKind::DbConnect, "other.dsql.us-east-1.on.aws:5432", signed_at(), 900, None).await;
        let err = check(&t, &hosts(), at(1)).expect_err("another host is refused");
        assert_eq!(err, TokenError::WrongHost { expected: hosts(), found: "other.dsql.us-east-1.on.aws".to_string() });
        assert_eq!(
            err.to_string(),
            "the token was made for host `other.dsql.us-east-1.on.aws`, but this endpoint answers to \
             `my-cluster.dsql.us-east-1.on.aws` or `localhost`"
        );
    }

    #[tokio::test]
    async fn refuses_an_expired_token_from_its_last_second_on() {
        let t = token(TokenKind::DbConnect).await;
        assert!(check(&t, &hosts(), at(899)).is_ok(), "valid in its last second");
        let err = check(&t, &hosts(), at(900)).expect_err("expired");
        assert_eq!(err, TokenError::Expired { signed_at: signed_at(), lifetime_secs: 900, now: at(900) });
        assert_eq!(
            err.to_string(),
            "the token has expired: signed at 2026-12-07T15:40:00Z for 900 s, and it is now 2026-12-07T15:55:00Z"
        );
    }

    #[tokio::test]
    async fn refuses_a_token_signed_more_than_five_minutes_ahead() {
        let t = token(TokenKind::DbConnect).await;
        assert!(check(&t, &hosts(), at(-300)).is_ok(), "5 minutes of clock skew are allowed");
        let err = check(&t, &hosts(), at(-301)).expect_err("not valid yet");
        assert_eq!(err, TokenError::NotYetValid { signed_at: signed_at(), now: at(-301) });
        assert!(err.to_string().contains("signed at 2026-12-07T15:40:00Z, more than 5 minutes after now"), "{err}");
    }

    #[tokio::test]
    async fn refuses_a_tampered_action() {
        let t = token(TokenKind::DbConnect).await;
        let tampered = t.replace("Action=DbConnect&", "Action=DbConnectSuper&");
        assert_eq!(check(&tampered, &hosts(), at(1)), Err(TokenError::UnknownAction("DbConnectSuper".to_string())));
        let rds = t.replace("Action=DbConnect&", "Action=connect&");
        assert_eq!(check(&rds, &hosts(), at(1)), Err(TokenError::UnknownAction("connect".to_string())));
        let twice = t.replace("Action=DbConnect&", "Action=DbConnect&Action=DbConnectAdmin&");
        assert!(matches!(check(&twice, &hosts(), at(1)), Err(TokenError::Malformed(m)) if m.contains("Action")));
    }

    #[tokio::test]
    async fn refuses_a_missing_or_malformed_signature() {
        let t = token(TokenKind::DbConnectAdmin).await;
        let (unsigned, signature) = t.split_once("&X-Amz-Signature=").expect("the token is signed");
        assert_eq!(signature.len(), 64);
        assert_eq!(check(unsigned, &hosts(), at(1)), Err(TokenError::Malformed("X-Amz-Signature is missing".into())));
        for bad in [&signature[..63], &signature.to_uppercase(), &format!("{}g", &signature[..63])] {
            let forged = format!("{unsigned}&X-Amz-Signature={bad}");
            let err = check(&forged, &hosts(), at(1)).expect_err("a malformed signature is refused");
            assert!(matches!(&err, TokenError::Malformed(m) if m.contains("X-Amz-Signature")), "{err}");
        }
    }

    #[tokio::test]
    async fn refuses_bad_dates() {
        let t = token(TokenKind::DbConnect).await;
        assert!(t.contains("X-Amz-Date=20261207T154000Z"), "{t}");
        for bad in ["20261307T154000Z", "20261232T154000Z", "20261207T244000Z", "20261207T156000Z", "20261207154000"] {
            let forged = t.replace("X-Amz-Date=20261207T154000Z", &format!("X-Amz-Date={bad}"));
            let err = check(&forged, &hosts(), at(1)).expect_err("a bad date is refused");
            assert!(matches!(&err, TokenError::Malformed(m) if m.contains(bad)), "{bad}: {err}");
        }
        let next_day = t.replace("X-Amz-Date=20261207T154000Z", "X-Amz-Date=20261208T154000Z");
        let err = check(&next_day, &hosts(), at(86_400)).expect_err("the credential's date must match");
        assert!(matches!(&err, TokenError::Malformed(m) if m.contains("X-Amz-Credential (20261207)")), "{err}");
    }

    #[test]
    fn knows_which_february_has_a_29th() {
        for (date, valid) in [("20240229", true), ("20260229", false), ("20000229", true), ("21000229", false)] {
            let parsed = parse_amz_date(&format!("{date}T000000Z"));
            assert_eq!(parsed.is_ok(), valid, "{date}: {parsed:?}");
        }
        assert_eq!(parse_amz_date("19700101T000000Z"), Ok(UNIX_EPOCH));
        assert!(parse_amz_date("19691231T235959Z").is_err(), "before 1970 is no token's date");
    }

    #[tokio::test]
    async fn reads_the_dates_the_sdk_writes() {
        // Leap days, century years and the ends of years, signed by aws-sigv4's own calendar.
        for secs in [951_825_600, 946_684_799, 1_709_251_199, 1_796_658_000, 4_107_542_400, 0, 86_399] {
            let when = UNIX_EPOCH + Duration::from_secs(secs);
            let t = token_with(TokenKind::DbConnect, HOST, when, 900, None).await;
            assert!(t.contains(&format!("X-Amz-Date={}&", basic(&when))), "{secs}: {t}");
            assert_eq!(check(&t, &hosts(), when).expect("accepted").signed_at, when, "{secs}");
        }
    }

    #[test]
    fn civil_dates_and_day_counts_are_inverse_and_consecutive() {
        let mut previous = civil_from_days(-1);
        for days in 0..(500 * 366) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(crate::civil::days_from_civil(y, m, d), days);
            let next_day = (y, m, d - 1) == previous;
            let next_month = d == 1 && ((y, m - 1) == (previous.0, previous.1) || (m == 1 && y == previous.0 + 1));
            assert!(next_day || next_month, "{previous:?} then {:?}", (y, m, d));
            previous = (y, m, d);
        }
        assert_eq!(utc(&(UNIX_EPOCH + Duration::from_secs(1_796_658_000))), "2026-12-07T15:40:00Z");
    }

    #[tokio::test]
    async fn refuses_a_lifetime_over_a_week() {
        let t = token_with(TokenKind::DbConnect, HOST, signed_at(), 604_801, None).await;
        assert_eq!(check(&t, &hosts(), at(1)), Err(TokenError::LifetimeTooLong(604_801)));
        let t = token_with(TokenKind::DbConnect, HOST, signed_at(), 604_800, None).await;
        assert_eq!(check(&t, &hosts(), at(604_799)).expect("a week is allowed").expires_at, at(604_800));
        let zero = t.replace("X-Amz-Expires=604800", "X-Amz-Expires=0");
        assert!(matches!(check(&zero, &hosts(), at(0)), Err(TokenError::Malformed(m)) if m.contains("X-Amz-Expires")));
        let negative = t.replace("X-Amz-Expires=604800", "X-Amz-Expires=-5");
        assert!(matches!(check(&negative, &hosts(), at(0)), Err(TokenError::Malformed(m)) if m.contains("`-5`")));
    }

    #[tokio::test]
    async fn refuses_other_services_algorithms_and_unsigned_hosts() {
        let t = token(TokenKind::DbConnect).await;
        let rds = t.replace("%2Fdsql%2F", "%2Frds-db%2F");
        assert_eq!(check(&rds, &hosts(), at(1)), Err(TokenError::WrongService("rds-db".to_string())));
        let sigv4a = t.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256");
        assert_eq!(
            check(&sigv4a, &hosts(), at(1)),
            Err(TokenError::WrongAlgorithm("AWS4-ECDSA-P256-SHA256".to_string()))
        );
        let unsigned_host = t.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date");
        assert_eq!(check(&unsigned_host, &hosts(), at(1)), Err(TokenError::HostNotSigned("x-amz-date".to_string())));
        let short = t.replace("%2Fus-east-1%2F", "%2F");
        assert!(
            matches!(check(&short, &hosts(), at(1)), Err(TokenError::Malformed(m)) if m.contains("X-Amz-Credential"))
        );
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_token() {
        let t = token(TokenKind::DbConnect).await;
        let with_scheme = format!("https://{t}");
        let other_path = t.replacen("/?", "/db?", 1);
        for (password, says) in [
            ("hunter2", "expected `<host>/?Action"),
            ("", "expected `<host>/?Action"),
            ("/?Action=DbConnect", "no host"),
            (HOST, "expected `<host>/?Action"),
            (&format!("{HOST}/"), "no query string"),
            (&with_scheme, "URL scheme"),
            (&other_path, "path is `/db`"),
        ] {
            let err = check(password, &hosts(), at(1)).expect_err("not a token");
            assert!(matches!(&err, TokenError::Malformed(m) if m.contains(says)), "{password}: {err}");
        }
    }

    #[tokio::test]
    async fn maps_admin_to_db_connect_admin_and_other_roles_to_db_connect() {
        let admin = check(&token(TokenKind::DbConnectAdmin).await, &hosts(), at(1)).expect("accepted");
        let plain = check(&token(TokenKind::DbConnect).await, &hosts(), at(1)).expect("accepted");
        assert_eq!(check_user(&admin, "admin"), Ok(()));
        assert_eq!(check_user(&plain, "app"), Ok(()));
        let err = check_user(&plain, "admin").expect_err("admin needs an admin token");
        assert_eq!(err.to_string(), "Wrong user to action mapping. user: admin, action: DbConnect");
        let err = check_user(&admin, "app").expect_err("a role needs a plain token");
        assert_eq!(err, TokenError::WrongAction { user: "app".to_string(), kind: TokenKind::DbConnectAdmin });
    }

    #[tokio::test]
    async fn refuses_as_dsql_does_with_what_was_wrong_in_the_hint() {
        let t = token(TokenKind::DbConnect).await;
        let expired = check(&t, &hosts(), at(1000)).expect_err("expired");
        assert_eq!(refusal(&expired), ("08006", "unable to accept connection, access denied".to_string()));
        let hint = refusal_hint(&expired);
        assert!(hint.starts_with("Signature expired: 20261207T155500Z is now earlier than 20261207T155640Z"), "{hint}");
        assert!(hint.contains("signed at 2026-12-07T15:40:00Z for 900 s"), "{hint}");
        let early = check(&t, &hosts(), at(-600)).expect_err("not yet valid");
        let hint = refusal_hint(&early);
        assert!(hint.starts_with("Signature not yet current: 20261207T154000Z is still later than"), "{hint}");
        let wrong_host = check(&t, &["elsewhere".to_string()], at(1)).expect_err("wrong host");
        assert_eq!(refusal(&wrong_host).0, "08006");
        assert_eq!(refusal_hint(&wrong_host), wrong_host.to_string());
    }
}

//! `--metrics-push URL`: the run's final figures sent to a Prometheus Pushgateway, so a
//! run shorter than a scrape interval is still seen: `PUT URL/metrics/job/harness/
//! instance/RUN_ID` with the classic text format (the group is replaced each push).
//! Plain HTTP/1.1 over TCP, which is what a Pushgateway speaks; `https://` is refused
//! when the flag is read.

use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one push may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A Pushgateway's base URL, e.g. `http://pushgateway:9091`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushUrl {
    /// `host:port` (port 80 when the URL names none).
    authority: String,
    /// The path before `/metrics/job/...`, without a trailing slash (often empty).
    prefix: String,
}

impl FromStr for PushUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("http://").ok_or_else(|| {
            format!("{s:?} is not an http:// URL (a Pushgateway's address, e.g. http://localhost:9091)")
        })?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if host.is_empty() || host.contains('@') || path.contains(['?', '#']) {
            return Err(format!("{s:?} needs a host, and no user, query or fragment (e.g. http://localhost:9091)"));
        }
        let authority = if host.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()) {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        Ok(PushUrl { authority, prefix: path.trim_end_matches('/').to_string() })
    }
}

impl std::fmt::Display for PushUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority, self.prefix)
    }
}

/// A push that did not land.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("--metrics-push {url}: could not connect: {source}")]
    Connect { url: String, source: std::io::Error },
    #[error("--metrics-push {url}: no answer within {}s", TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("--metrics-push {url}: the connection failed mid-request: {source}")]
    Io { url: String, source: std::io::Error },
    #[error("--metrics-push {url}: the Pushgateway answered {status:?}")]
    Refused { url: String, status: String },
}

impl PushUrl {
    /// The group's path for `run_id`, percent-encoded.
    pub fn path(&self, run_id: &str) -> String {
        let id: String = run_id
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("{}/metrics/job/harness/instance/{id}", self.prefix)
    }

    /// The group's full URL for `run_id`.
    pub fn group(&self, run_id: &str) -> String {
        format!("http://{}{}", self.authority, self.path(run_id))
    }

    /// PUT `body` (text format 0.0.4) as the group of `run_id`.
    pub async fn push(&self, run_id: &str, body: &str) -> Result<(), PushError> {
        let url = self.group(run_id);
        match tokio::time::timeout(TIMEOUT, self.put(&url, run_id, body)).await {
            Ok(result) => result,
            Err(_) => Err(PushError::Timeout { url }),
        }
    }

    async fn put(&self, url: &str, run_id: &str, body: &str) -> Result<(), PushError> {
        let mut stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|source| PushError::Connect { url: url.to_string(), source })?;
        let request = format!(
            "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path(run_id),
            self.authority,
            body.len()
        );
        let io = |source| PushError::Io { url: url.to_string(), source };
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.map_err(io)?;
        let answer = String::from_utf8_lossy(&answer);
        let status = answer.lines().next().unwrap_or("").trim().to_string();
        match status.split(' ').nth(1) {
            Some(code) if code.starts_with('2') && code.len() == 3 => Ok(()),
            _ => {
                let why = answer.split("\r\n\r\n").nth(1).and_then(|b| b.lines().next()).unwrap_or("");
                Err(PushError::Refused { url: url.to_string(), status: format!("{status} {why}").trim().to_string() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        let u: PushUrl = "http://gw:9091/".parse().unwrap();
        assert_eq!(u.to_string(), "http://gw:9091");
        assert_eq!(u.path("20261208-a b"), "/metrics/job/harness/instance/20261208-a%20b");
        let u: PushUrl = "http://gw/prefix".parse().unwrap();
        assert_eq!((u.authority.as_str(), u.path("r")), ("gw:80", "/prefix/metrics/job/harness/instance/r".into()));
        assert!("https://gw:9091".parse::<PushUrl>().unwrap_err().contains("http://"));
        assert!("http://".parse::<PushUrl>().is_err());
        assert!("http://u:p@gw:9091".parse::<PushUrl>().is_err());
    }
}

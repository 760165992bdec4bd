//! One process environment: its init (spawn until the first `GET next`) and its
//! invocations (the event handed to the pending `next`, answered by the posted response
//! or error), with Lambda's errors when the process fails to start or exits mid-invoke.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use serde_json::json;

use super::api::{Event, Report, RuntimeApi};
use super::process::{describe_exit, peak_memory_mb, Child};
use crate::error::TIMEOUT;

/// The error type of a process that exited (or could not be read) mid-invoke or at init.
pub const EXIT_ERROR: &str = "Runtime.ExitError";
/// The error type of a process that could not be started at all.
pub const INVALID_ENTRYPOINT: &str = "Runtime.InvalidEntrypoint";

/// A running process polling its own Runtime API; dropping it kills the process.
pub struct ProcessEnvironment {
    api: RuntimeApi,
    child: Child,
    broken: bool,
}

/// Why an environment did not start.
#[derive(Debug)]
pub enum InitFailure {
    /// The runtime posted `/init/error`: its error document and type.
    Posted { body: Bytes, error_type: String },
    /// The process exited before its first `next` (`exit status 1`).
    Exited(String),
    /// The process could not be started.
    Spawn(String),
    /// No `next` within the init limit.
    TimedOut(Duration),
}

impl InitFailure {
    /// The error type, as REPORT lines and callers see it.
    pub fn error_type(&self) -> &str {
        match self {
            InitFailure::Posted { error_type, .. } => error_type,
            InitFailure::Exited(_) => EXIT_ERROR,
            InitFailure::Spawn(_) => INVALID_ENTRYPOINT,
            InitFailure::TimedOut(_) => TIMEOUT,
        }
    }

    pub fn timed_out(&self) -> bool {
        matches!(self, InitFailure::TimedOut(_))
    }

    /// The error document the invocation answers.
    pub fn document(&self, request_id: &str) -> Bytes {
        let message = match self {
            InitFailure::Posted { body, .. } => return body.clone(),
            InitFailure::Exited(exit) => exited_message(request_id, exit),
            InitFailure::Spawn(why) => format!("RequestId: {request_id} Error: {why}"),
            InitFailure::TimedOut(limit) => format!("Task timed out after {:.2} seconds", limit.as_secs_f64()),
        };
        error_document(self.error_type(), &message)
    }
}

fn exited_message(request_id: &str, exit: &str) -> String {
    format!("RequestId: {request_id} Error: Runtime exited with error: {exit}")
}

fn error_document(error_type: &str, message: &str) -> Bytes {
    Bytes::from(json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

/// The `errorType` of an error document, when it has one.
fn error_type_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("errorType")?.as_str().map(str::to_string)
}

impl ProcessEnvironment {
    /// Wait for the process's first `GET next`, at most `limit`.
    pub async fn init(api: RuntimeApi, child: Child, limit: Duration) -> Result<ProcessEnvironment, InitFailure> {
        let mut env = ProcessEnvironment { api, child, broken: false };
        let waited = tokio::time::timeout(limit, async {
            loop {
                tokio::select! {
                    biased;
                    report = env.api.reports.recv() => match report {
                        Some(Report::Next) => return Ok(()),
                        Some(Report::InitError { body, error_type }) => {
                            let error_type = error_type_of(&body).or(error_type).unwrap_or_else(|| "Unhandled".into());
                            return Err(InitFailure::Posted { body, error_type });
                        }
                        Some(_) => continue,
                        None => return Err(InitFailure::Exited(describe_exit(env.child.exited()))),
                    },
                    status = env.child.wait() => return Err(InitFailure::Exited(describe_exit(status))),
                }
            }
        })
        .await;
        match waited {
            Ok(Ok(())) => Ok(env),
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(InitFailure::TimedOut(limit)),
        }
    }

    /// The process's id (its process group's too).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The process's peak resident memory, MB.
    pub fn max_memory_used_mb(&self) -> Option<u64> {
        peak_memory_mb(self.child.pid())
    }

    /// Still fit for another invocation: its process has not exited.
    pub fn healthy(&self) -> bool {
        !self.broken && self.child.exited().is_none()
    }

    /// Hand `payload` to the process and wait for its answer: the posted response
    /// (`Ok`) or an error document (`Err`: the posted error, or `Runtime.ExitError` when
    /// the process exits first). The caller bounds the wait with the function timeout
    /// and drops the environment when it runs out.
    pub async fn invoke(&mut self, request_id: &str, payload: Bytes, timeout: Duration) -> Result<Bytes, Bytes> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let deadline_ms = (now + timeout).as_millis();
        let event = Event { request_id: request_id.to_string(), payload, deadline_ms };
        if self.api.events.send(event).await.is_err() {
            return Err(self.exit_error(request_id, None));
        }
        loop {
            tokio::select! {
                biased;
                report = self.api.reports.recv() => match report {
                    Some(Report::Response { request_id: id, body }) if id == request_id => return Ok(body),
                    Some(Report::Error { request_id: id, body }) if id == request_id => {
                        self.settle().await;
                        return Err(body);
                    }
                    Some(Report::InitError { body, .. }) => {
                        self.broken = true;
                        return Err(body);
                    }
                    Some(_) => continue,
                    None => return Err(self.exit_error(request_id, None)),
                },
                status = self.child.wait() => return Err(self.exit_error(request_id, status)),
            }
        }
    }

    /// After a function error, wait (at most [`SETTLE`]) until the process asks for its
    /// next event or exits: a runtime that exits on an uncaught error (Node.js does,
    /// after posting it) is then not handed the next call, which on AWS gets a new
    /// environment.
    async fn settle(&mut self) {
        let waited = tokio::time::timeout(SETTLE, async {
            loop {
                tokio::select! {
                    biased;
                    report = self.api.reports.recv() => match report {
                        Some(Report::Next) => return,
                        Some(_) => continue,
                        None => break,
                    },
                    _ = self.child.wait() => break,
                }
            }
            self.broken = true;
        });
        let _ = waited.await;
    }

    fn exit_error(&mut self, request_id: &str, status: Option<std::process::ExitStatus>) -> Bytes {
        self.broken = true;
        self.child.kill();
        let status = status.or_else(|| self.child.exited());
        error_document(EXIT_ERROR, &exited_message(request_id, &describe_exit(status)))
    }
}

/// How long a process may take, after a function error, to ask for its next event.
const SETTLE: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_failures_as_lambda_answers_them() {
        let exited = InitFailure::Exited("exit status 1".into());
        let doc: serde_json::Value = serde_json::from_slice(&exited.document("r1")).unwrap();
        assert_eq!(doc["errorType"], "Runtime.ExitError");
        assert_eq!(doc["errorMessage"], "RequestId: r1 Error: Runtime exited with error: exit status 1");
        let body = Bytes::from_static(br#"{"errorType":"Runtime.HandlerNotFound","errorMessage":"x"}"#);
        let posted = InitFailure::Posted { error_type: error_type_of(&body).unwrap(), body: body.clone() };
        assert_eq!((posted.error_type(), posted.document("r2")), ("Runtime.HandlerNotFound", body));
        assert!(InitFailure::TimedOut(Duration::from_secs(1)).timed_out());
    }
}

//! One road from a target description to a client. A `WorkerTarget` (the local stack's
//! endpoint, any other Invoke API endpoint, or AWS Lambda) names the client that calls
//! it (`InvokeClient`); `WorkerTarget::invoker` builds that client as an `Invoker`, for
//! the coordinator's own engine and the worker daemon alike. The two clients live below:
//! aws-sdk-lambda's (`crate::target::LambdaTarget`) and the lean one (`crate::lean`).
//! Adding a target kind touches `WorkerTarget` and this module.

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lean::LeanTarget;
use crate::target::{Answer, AwsAccess, LambdaTarget, Target};

/// Which client calls the Invoke API: aws-sdk-lambda, or the lean one. A plan without
/// the field (an older coordinator's) gets the SDK, as it did then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvokeClient {
    Sdk,
    /// The default, now that it is proven equal to the SDK (`tests/lean_equivalence.rs`).
    #[default]
    Lean,
}

impl InvokeClient {
    /// What a plan or summary written before the field existed used.
    pub fn legacy() -> InvokeClient {
        InvokeClient::Sdk
    }

    /// The client's name in scenarios and reports: `sdk` or `lean`.
    pub fn name(self) -> &'static str {
        match self {
            InvokeClient::Sdk => "sdk",
            InvokeClient::Lean => "lean",
        }
    }
}

/// Why no client could be made for a target (the SDK's client is always made; the lean
/// one checks the URL, TLS roots, region and endpoint up front).
#[derive(Debug, thiserror::Error)]
pub enum InvokerError {
    #[error(transparent)]
    Lean(#[from] crate::lean::BuildError),
}

/// A Lambda target through either client.
#[derive(Clone)]
pub enum Invoker {
    Sdk(LambdaTarget),
    Lean(LeanTarget),
}

/// What a worker invokes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkerTarget {
    /// A Lambda Invoke API endpoint: the coordinator's local stack (`h2c`: HTTP/2 with
    /// prior knowledge) or any other endpoint (HTTP/1.1, or HTTP/2 by ALPN over TLS).
    Endpoint {
        url: String,
        function: String,
        #[serde(default)]
        h2c: bool,
        #[serde(default = "InvokeClient::legacy")]
        client: InvokeClient,
        /// Ask for each call's log tail (absent from older coordinators: no).
        #[serde(default)]
        log_tail: bool,
    },
    /// AWS Lambda, credentials and region from the worker's own AWS configuration.
    Aws {
        function: String,
        #[serde(flatten)]
        access: crate::target::AwsAccess,
        #[serde(default = "InvokeClient::legacy")]
        client: InvokeClient,
        #[serde(default)]
        log_tail: bool,
    },
}

impl WorkerTarget {
    /// The client this target names, with connections for `max_in_flight` calls, asking
    /// for the log tail when the target says so.
    pub async fn invoker(&self, max_in_flight: u64) -> Result<Invoker, InvokerError> {
        let (invoker, log_tail) = match self {
            WorkerTarget::Endpoint { url, function, h2c: true, client, log_tail } => {
                (Invoker::local(*client, url, function, max_in_flight)?, log_tail)
            }
            WorkerTarget::Endpoint { url, function, h2c: false, client, log_tail } => {
                (Invoker::endpoint(*client, url, function, max_in_flight)?, log_tail)
            }
            WorkerTarget::Aws { function, access, client, log_tail } => {
                (Invoker::aws(*client, function, access, max_in_flight).await?, log_tail)
            }
        };
        Ok(invoker.with_log_tail(*log_tail))
    }
}

impl Invoker {
    /// The local endpoint: HTTP/2 with prior knowledge, placeholder credentials.
    pub fn local(client: InvokeClient, url: &str, function: &str, max_in_flight: u64) -> Result<Invoker, InvokerError> {
        Ok(match client {
            InvokeClient::Sdk => Invoker::Sdk(LambdaTarget::local(url, function, max_in_flight)),
            InvokeClient::Lean => Invoker::Lean(LeanTarget::local(url, function, max_in_flight)?),
        })
    }

    /// Any other Invoke API endpoint, with placeholder credentials.
    pub fn endpoint(
        client: InvokeClient,
        url: &str,
        function: &str,
        max_in_flight: u64,
    ) -> Result<Invoker, InvokerError> {
        Ok(match client {
            InvokeClient::Sdk => Invoker::Sdk(LambdaTarget::endpoint(url, function, max_in_flight)),
            InvokeClient::Lean => Invoker::Lean(LeanTarget::endpoint(url, function, max_in_flight)?),
        })
    }

    /// AWS Lambda, region and credentials from the usual AWS configuration.
    pub async fn aws(
        client: InvokeClient,
        function: &str,
        access: &AwsAccess,
        max_in_flight: u64,
    ) -> Result<Invoker, InvokerError> {
        Ok(match client {
            InvokeClient::Sdk => Invoker::Sdk(LambdaTarget::aws(function, access, max_in_flight).await),
            InvokeClient::Lean => Invoker::Lean(LeanTarget::aws(function, access, max_in_flight).await?),
        })
    }

    /// Ask Lambda for each call's log tail and read its REPORT line.
    pub fn with_log_tail(self, on: bool) -> Invoker {
        match self {
            Invoker::Sdk(t) => Invoker::Sdk(t.with_log_tail(on)),
            Invoker::Lean(t) => Invoker::Lean(t.with_log_tail(on)),
        }
    }
}

impl Target for Invoker {
    fn invoke(&self, payload: Value) -> impl Future<Output = Answer> + Send {
        async move {
            match self {
                // Boxed: the SDK's future is several times the lean one's, and every call
                // in flight would otherwise reserve room for it.
                Invoker::Sdk(t) => Box::pin(t.call(&payload)).await,
                Invoker::Lean(t) => t.call(&payload).await,
            }
        }
    }

    fn invoke_function(&self, function: Option<Arc<str>>, payload: Value) -> impl Future<Output = Answer> + Send {
        async move {
            match self {
                Invoker::Sdk(t) => Box::pin(t.call_function(function.as_deref(), &payload)).await,
                Invoker::Lean(t) => t.call_function(function.as_deref(), &payload).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_described_target_gets_the_client_it_names() {
        let local = |client| WorkerTarget::Endpoint {
            url: "http://127.0.0.1:9".into(),
            function: "f".into(),
            h2c: true,
            client,
            log_tail: false,
        };
        assert!(matches!(local(InvokeClient::Sdk).invoker(1).await, Ok(Invoker::Sdk(_))));
        assert!(matches!(local(InvokeClient::Lean).invoker(1).await, Ok(Invoker::Lean(_))));
        let https = WorkerTarget::Endpoint {
            url: "https://127.0.0.1:9".into(),
            function: "f".into(),
            h2c: true,
            client: InvokeClient::Lean,
            log_tail: false,
        };
        let e = https.invoker(1).await.err().expect("h2c needs http://");
        assert!(matches!(e, InvokerError::Lean(crate::lean::BuildError::NotHttp { .. })), "{e}");
    }
}

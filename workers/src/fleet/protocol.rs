//! The coordinator-worker protocol, version 1 (documented in docs/protocol.md).
//!
//! One TCP connection per worker. Every message is a frame: a 4-byte big-endian length,
//! then that many bytes of JSON (one `ToWorker` or `ToCoordinator`). Frames larger than
//! the receiver's limit are refused before they are read.
//!
//! 1. The worker speaks first: `Hello { protocol, worker, nonce, busy }`.
//! 2. The coordinator answers `Auth { protocol, proof }`, where `proof` is
//!    HMAC-SHA256(secret, "harness-auth-v1:" + nonce) in hex; the secret never crosses
//!    the wire, and the fresh nonce makes every proof single-use.
//! 3. The worker answers `Accepted`, or `Refused { reason }` and closes (other protocol
//!    version, wrong or missing proof, busy with another plan).
//! 4. The coordinator sends `Run { .. }`; the worker starts its engine at `start_at_ms`
//!    and sends `Interval` every second, `Heartbeat` in between, and `Done` at the end.
//! 5. The coordinator sends `Heartbeat` at least every `heartbeat_ms`; silence for
//!    `dead_man_ms` (or a closed connection, or `Stop`) makes the worker stop starting calls.
//! 6. The lease: a worker invokes only calls the coordinator has granted. `Run` grants
//!    the first `grant` calls; the worker asks for more ahead with `Reserve { through }`,
//!    and the coordinator records `Grant { through }` before sending it. So a worker
//!    that is lost has at most `granted - reported` calls whose outcome is unknown.

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{EngineEnd, EnginePlan, Interval, Stats};

pub const PROTOCOL_VERSION: u32 = 2;

/// Frames a worker accepts (a plan is a few kilobytes).
pub const MAX_TO_WORKER: usize = 1 << 20;
/// The largest frame before authentication: an `Auth` frame is under 200 bytes.
pub const MAX_AUTH_FRAME: usize = 1 << 10;
/// Frames a coordinator accepts (an interval carries histograms).
pub const MAX_TO_COORDINATOR: usize = 64 << 20;

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
        #[serde(default = "crate::lean::InvokeClient::legacy")]
        client: crate::lean::InvokeClient,
        /// Ask for each call's log tail (absent from older coordinators: no).
        #[serde(default)]
        log_tail: bool,
    },
    /// AWS Lambda, credentials and region from the worker's own AWS configuration.
    Aws {
        function: String,
        #[serde(flatten)]
        access: crate::target::AwsAccess,
        #[serde(default = "crate::lean::InvokeClient::legacy")]
        client: crate::lean::InvokeClient,
        #[serde(default)]
        log_tail: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    Auth {
        protocol: u32,
        proof: Option<String>,
    },
    Run {
        /// This worker's share of the scenario.
        plan: EnginePlan,
        target: WorkerTarget,
        /// When to start, Unix time in milliseconds: every worker starts at once.
        start_at_ms: u64,
        /// The coordinator sends a heartbeat at least this often...
        heartbeat_ms: u64,
        /// ...and silence this long makes the worker stop (the dead-man timer).
        dead_man_ms: u64,
        /// Calls it may invoke before it asks for more (the lease).
        grant: u64,
    },
    /// The worker may invoke calls up to number `through` (counted from the start).
    Grant {
        through: u64,
    },
    Heartbeat,
    /// Stop starting calls, drain, and send `Done`.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToCoordinator {
    Hello {
        protocol: u32,
        /// The worker's name (its host name and port, unless given).
        worker: String,
        nonce: String,
        /// The plan it is running, if any: a daemon runs one plan at a time.
        busy: Option<String>,
    },
    Accepted,
    Refused {
        reason: String,
    },
    /// The engine started (at the agreed instant).
    Started,
    Interval(Interval),
    Heartbeat,
    /// The worker asks to be allowed to invoke calls up to number `through`.
    Reserve {
        through: u64,
    },
    Done {
        end: EngineEnd,
        totals: Stats,
    },
    /// The plan could not run (e.g. the target could not be built).
    Failed {
        reason: String,
    },
}

/// The proof that a coordinator holds `secret`, for this connection's `nonce`.
pub fn proof(secret: &[u8], nonce: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"harness-auth-v1:");
    mac.update(nonce.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Check a proof in constant time.
pub fn verify_proof(secret: &[u8], nonce: &str, proof_hex: &str) -> bool {
    let Some(bytes) = unhex(proof_hex) else { return false };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"harness-auth-v1:");
    mac.update(nonce.as_bytes());
    mac.verify_slice(&bytes).is_ok()
}

/// A fresh random nonce (128 bits, hex).
pub fn nonce() -> String {
    hex(&rand::random::<[u8; 16]>())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// A frame that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {0} bytes is over the limit of {1}")]
    TooLarge(usize, usize),
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Write one message as a frame.
pub async fn write<W: AsyncWriteExt + Unpin, M: Serialize>(w: &mut W, message: &M) -> std::io::Result<()> {
    let body = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame).await?;
    w.flush().await
}

/// Read one frame of at most `limit` bytes and parse it.
pub async fn read<R: AsyncReadExt + Unpin, M: for<'de> Deserialize<'de>>(
    r: &mut R,
    limit: usize,
) -> Result<M, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(FrameError::TooLarge(len, limit));
    }
    // Memory follows the bytes that arrive, not the length a peer declares.
    let mut body = Vec::with_capacity(len.min(64 << 10));
    r.take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    }
    serde_json::from_slice(&body).map_err(|e| FrameError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_need_the_secret_and_the_nonce() {
        let p = proof(b"s3cret", "abc");
        assert_eq!(p.len(), 64);
        assert!(verify_proof(b"s3cret", "abc", &p));
        assert!(!verify_proof(b"other", "abc", &p));
        assert!(!verify_proof(b"s3cret", "abd", &p), "a proof is bound to its nonce");
        assert!(!verify_proof(b"s3cret", "abc", "zz"));
        assert_ne!(nonce(), nonce());
    }

    #[tokio::test]
    async fn frames_round_trip_and_oversized_ones_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write(&mut a, &ToWorker::Heartbeat).await.unwrap();
        assert_eq!(read::<_, ToWorker>(&mut b, 1024).await.unwrap(), ToWorker::Heartbeat);
        write(&mut a, &ToWorker::Auth { protocol: 1, proof: Some("x".repeat(2_000)) }).await.unwrap();
        assert!(matches!(read::<_, ToWorker>(&mut b, 1024).await, Err(FrameError::TooLarge(_, 1024))));
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(&[0, 0, 0, 3, b'{', b'x', b'}']).await.unwrap();
        assert!(matches!(read::<_, ToWorker>(&mut b, 1024).await, Err(FrameError::Malformed(_))));
        drop(a);
        assert!(matches!(read::<_, ToWorker>(&mut b, 1024).await, Err(FrameError::Closed)));
    }
}

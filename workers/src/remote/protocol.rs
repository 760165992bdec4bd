//! The coordinator-worker protocol, version 3 (documented in docs/protocol.md, with its
//! threat model).
//!
//! One TCP connection per worker. Every message is a frame: a 4-byte big-endian length,
//! then that many bytes of JSON (one `ToWorker` or `ToCoordinator`), sealed with
//! AES-256-GCM once the handshake is done (`channel`). Frames larger than the
//! receiver's limit are refused before they are read.
//!
//! 1. The worker speaks first: `Hello { protocol, worker, nonce, key, busy }`, `key`
//!    its ephemeral X25519 public key.
//! 2. The coordinator answers `Auth { protocol, nonce, key, proof }`: its own nonce and
//!    ephemeral key, and `proof`, an HMAC-SHA256 with the shared secret over the whole
//!    handshake (both nonces and keys); the secret never crosses the wire, and the fresh
//!    nonces and keys make every proof single-use. Both sides derive the session keys.
//! 3. The worker answers `Accepted` sealed (so the coordinator knows the worker holds the
//!    secret too), or `Refused { reason }` and closes (other protocol version, wrong or
//!    missing proof, busy with another plan). From here on every frame is sealed.
//! 4. The coordinator sends `Run { .. }`; the worker starts its engine at `start_at_ms`
//!    and sends `Interval` every second, `Heartbeat` in between, and `Done` at the end.
//! 5. The coordinator sends `Heartbeat` at least every `heartbeat_ms`; silence for
//!    `dead_man_ms` (or a closed connection, or `Stop`) makes the worker stop starting calls.
//! 6. The lease: a worker invokes only calls the coordinator has granted. `Run` grants
//!    the first `grant` calls; the worker asks for more ahead with `Reserve { through }`,
//!    and the coordinator records `Grant { through }` before sending it. So a worker
//!    that is lost has at most `granted - reported` calls whose outcome is unknown.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::channel::{ChannelError, Sealing, TAG_LEN};
use crate::{EngineEnd, EnginePlan, Interval, Stats};

pub const PROTOCOL_VERSION: u32 = 3;

/// Frames a worker accepts (a plan is a few kilobytes).
pub const MAX_TO_WORKER: usize = 1 << 20;
/// The largest frame before authentication: an `Auth` frame is under 200 bytes.
pub const MAX_AUTH_FRAME: usize = 1 << 10;
/// Frames a coordinator accepts (an interval carries histograms).
pub const MAX_TO_COORDINATOR: usize = 64 << 20;

pub use crate::invoker::WorkerTarget;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    Auth {
        protocol: u32,
        proof: Option<String>,
        /// The coordinator's nonce and ephemeral X25519 public key (hex); absent before
        /// version 3.
        #[serde(default)]
        nonce: Option<String>,
        #[serde(default)]
        key: Option<String>,
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
        /// Its ephemeral X25519 public key (hex); absent before version 3.
        #[serde(default)]
        key: Option<String>,
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

/// A fresh random nonce (128 bits, hex).
pub fn nonce() -> String {
    super::channel::hex(&rand::random::<[u8; 16]>())
}

/// A frame that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {0} bytes is over the limit of {1}")]
    TooLarge(usize, usize),
    #[error("malformed frame")]
    Malformed(#[source] serde_json::Error),
    /// A sealed frame that does not open (or the frame counter ran out).
    #[error(transparent)]
    Tampered(ChannelError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Write one message as a frame.
pub async fn write<W: AsyncWriteExt + Unpin, M: Serialize>(w: &mut W, message: &M) -> std::io::Result<()> {
    let body = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    write_body(w, &body).await
}

/// Read one frame of at most `limit` bytes and parse it.
pub async fn read<R: AsyncReadExt + Unpin, M: for<'de> Deserialize<'de>>(
    r: &mut R,
    limit: usize,
) -> Result<M, FrameError> {
    parse(&read_body(r, limit).await?)
}

/// A frame's body as a message.
pub fn parse<M: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<M, FrameError> {
    serde_json::from_slice(body).map_err(FrameError::Malformed)
}

/// One frame's body, of at most `limit` bytes.
pub async fn read_body<R: AsyncReadExt + Unpin>(r: &mut R, limit: usize) -> Result<Vec<u8>, FrameError> {
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
    Ok(body)
}

/// Write a frame's raw body.
async fn write_body<W: AsyncWriteExt + Unpin>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    w.write_all(&frame).await?;
    w.flush().await
}

/// The sending half of a connection after the handshake: every frame sealed.
pub struct Sender<W> {
    w: W,
    seal: Sealing,
}

impl<W: AsyncWriteExt + Unpin> Sender<W> {
    pub fn new(w: W, seal: Sealing) -> Self {
        Sender { w, seal }
    }

    pub async fn send<M: Serialize>(&mut self, message: &M) -> std::io::Result<()> {
        self.send_json(serde_json::to_vec(message).map_err(std::io::Error::other)?).await
    }

    /// Send a message already serialised (its JSON), sealed: for one message sent on
    /// many connections (the simulated workers, `sim`).
    pub async fn send_json(&mut self, body: Vec<u8>) -> std::io::Result<()> {
        let sealed = self.seal.seal(body).map_err(std::io::Error::other)?;
        write_body(&mut self.w, &sealed).await
    }
}

/// The receiving half of a connection after the handshake: every frame opened, and
/// refused if it does not open.
pub struct Receiver<R> {
    r: R,
    open: Sealing,
    /// Frames and bytes (length prefixes included) received so far.
    pub frames: u64,
    pub bytes: u64,
}

impl<R: AsyncReadExt + Unpin> Receiver<R> {
    pub fn new(r: R, open: Sealing) -> Self {
        Receiver { r, open, frames: 0, bytes: 0 }
    }

    /// The next message, of at most `limit` bytes before sealing.
    pub async fn recv<M: for<'de> Deserialize<'de>>(&mut self, limit: usize) -> Result<M, FrameError> {
        let sealed = read_body(&mut self.r, limit + TAG_LEN).await?;
        self.frames += 1;
        self.bytes += 4 + sealed.len() as u64;
        parse(&self.open_body(sealed).map_err(FrameError::Tampered)?)
    }

    /// Open a body read apart (the answer to `Auth` may be a plaintext refusal).
    pub fn open_body(&mut self, sealed: Vec<u8>) -> Result<Vec<u8>, ChannelError> {
        self.open.open(sealed)
    }

    pub fn inner(&mut self) -> &mut R {
        &mut self.r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh() {
        assert_eq!(nonce().len(), 32);
        assert_ne!(nonce(), nonce());
    }

    #[tokio::test]
    async fn frames_round_trip_and_oversized_ones_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write(&mut a, &ToWorker::Heartbeat).await.unwrap();
        assert_eq!(read::<_, ToWorker>(&mut b, 1024).await.unwrap(), ToWorker::Heartbeat);
        let auth = ToWorker::Auth { protocol: 1, proof: Some("x".repeat(2_000)), nonce: None, key: None };
        write(&mut a, &auth).await.unwrap();
        assert!(matches!(read::<_, ToWorker>(&mut b, 1024).await, Err(FrameError::TooLarge(_, 1024))));
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(&[0, 0, 0, 3, b'{', b'x', b'}']).await.unwrap();
        assert!(matches!(read::<_, ToWorker>(&mut b, 1024).await, Err(FrameError::Malformed(_))));
        drop(a);
        assert!(matches!(read::<_, ToWorker>(&mut b, 1024).await, Err(FrameError::Closed)));
    }
}

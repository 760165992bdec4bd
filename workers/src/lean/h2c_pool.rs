//! HTTP/2 with prior knowledge straight on the `h2` crate, for the local endpoint: one
//! connection per slot, each call a stream whose request, body and response are driven
//! by the calling task itself. hyper's client would box each request's future and spawn
//! two tasks per call (send and body pipe), about 9 KB per call in flight; here a call
//! in flight costs its stream and its own future.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use http::Request;
use tokio::sync::Mutex;

use super::BuildError;

/// Connections to one `http://host:port`, calls spread round-robin.
pub struct H2cPool {
    authority: String,
    slots: Vec<Mutex<Option<h2::client::SendRequest<Bytes>>>>,
    next: AtomicUsize,
}

/// A raw HTTP response, before it is read as an Invoke answer: status, headers and the
/// whole body.
pub struct RawAnswer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// Why a call through the pool got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("connecting to {authority}")]
    Connect {
        authority: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP/2 handshake with {authority}")]
    Handshake {
        authority: String,
        #[source]
        source: h2::Error,
    },
    /// The stream failed: reset, the connection lost or going away.
    #[error(transparent)]
    Exchange(h2::Error),
}

impl H2cPool {
    /// `connections` connections (made on first use) to the `http://` URL `base`.
    pub fn new(base: &str, connections: usize) -> Result<H2cPool, BuildError> {
        let url = || base.to_string();
        let uri: http::Uri = base.parse().map_err(|source| BuildError::NotUrl { url: url(), source })?;
        if uri.scheme_str() != Some("http") {
            return Err(BuildError::NotHttp { url: url() });
        }
        let authority = uri.authority().ok_or_else(|| BuildError::NoHost { url: url() })?.to_string();
        let slots = (0..connections.max(1)).map(|_| Mutex::new(None)).collect();
        Ok(H2cPool { authority, slots, next: AtomicUsize::new(0) })
    }

    /// A sender on the slot's connection, connecting (again) when there is none or it
    /// has closed.
    async fn sender(&self) -> Result<(usize, h2::client::SendRequest<Bytes>), SendError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(send) = slot.as_ref() {
            return Ok((i, send.clone()));
        }
        // Boxed: connecting is rare, and its large future would otherwise take room in
        // every call's.
        let send = Box::pin(connect(&self.authority)).await?;
        *slot = Some(send.clone());
        Ok((i, send))
    }

    /// Forget a slot's connection after an error, so the next call reconnects.
    async fn forget(&self, i: usize) {
        *self.slots[i].lock().await = None;
    }

    /// Send `request` and read the whole answer.
    pub async fn send(&self, request: Request<Bytes>) -> Result<RawAnswer, SendError> {
        let (i, send) = self.sender().await?;
        match exchange(send, request).await {
            Ok(answer) => Ok(answer),
            Err(e) => {
                if e.is_io() || e.is_go_away() {
                    self.forget(i).await;
                }
                Err(SendError::Exchange(e))
            }
        }
    }
}

async fn connect(authority: &str) -> Result<h2::client::SendRequest<Bytes>, SendError> {
    let tcp = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|source| SendError::Connect { authority: authority.into(), source })?;
    let _ = tcp.set_nodelay(true);
    let (send, connection) = h2::client::handshake(tcp)
        .await
        .map_err(|source| SendError::Handshake { authority: authority.into(), source })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(send)
}

async fn exchange(send: h2::client::SendRequest<Bytes>, request: Request<Bytes>) -> Result<RawAnswer, h2::Error> {
    let mut send = send.ready().await?;
    let (parts, body) = request.into_parts();
    let (response, mut stream) = send.send_request(Request::from_parts(parts, ()), body.is_empty())?;
    if !body.is_empty() {
        stream.send_data(body, true)?;
    }
    let (parts, mut body) = response.await?.into_parts();
    // Most answers are one DATA frame: kept as it came, copied only when there are more.
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        match &first {
            None => first = Some(chunk),
            Some(head) => {
                if more.is_empty() {
                    more.extend_from_slice(head);
                }
                more.extend_from_slice(&chunk);
            }
        }
    }
    let body = if more.is_empty() { first.unwrap_or_default() } else { more.freeze() };
    Ok(RawAnswer { status: parts.status.as_u16(), headers: parts.headers, body })
}

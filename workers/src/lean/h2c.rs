//! HTTP/2 with prior knowledge straight on the `h2` crate, for the local endpoint: one
//! connection per slot, each call a stream whose request, body and response are driven
//! by the calling task itself. hyper's client would box each request's future and spawn
//! two tasks per call (send and body pipe), about 9 KB per call in flight; here a call
//! in flight costs its stream and its own future.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use http::Request;
use tokio::sync::Mutex;

/// Connections to one `http://host:port`, calls spread round-robin.
pub struct H2cPool {
    authority: String,
    slots: Vec<Mutex<Option<h2::client::SendRequest<Bytes>>>>,
    next: AtomicUsize,
}

/// A response: status, headers and the whole body.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl H2cPool {
    pub fn new(base: &str, connections: usize) -> Result<H2cPool, String> {
        let uri: http::Uri = base.parse().map_err(|e| format!("{base:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{base:?}: HTTP/2 with prior knowledge needs an http:// URL"));
        }
        let authority = uri.authority().ok_or_else(|| format!("{base:?} names no host"))?.to_string();
        let slots = (0..connections.max(1)).map(|_| Mutex::new(None)).collect();
        Ok(H2cPool { authority, slots, next: AtomicUsize::new(0) })
    }

    /// A sender on the slot's connection, connecting (again) when there is none or it
    /// has closed.
    async fn sender(&self) -> Result<(usize, h2::client::SendRequest<Bytes>), String> {
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
    pub async fn send(&self, request: Request<Bytes>) -> Result<Answer, String> {
        let (i, send) = self.sender().await?;
        match exchange(send, request).await {
            Ok(answer) => Ok(answer),
            Err(e) => {
                if e.is_io() || e.is_go_away() {
                    self.forget(i).await;
                }
                Err(crate::target::error_chain(&e))
            }
        }
    }
}

async fn connect(authority: &str) -> Result<h2::client::SendRequest<Bytes>, String> {
    let tcp = tokio::net::TcpStream::connect(authority).await.map_err(|e| format!("connecting to {authority}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (send, connection) =
        h2::client::handshake(tcp).await.map_err(|e| format!("HTTP/2 handshake with {authority}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(send)
}

async fn exchange(send: h2::client::SendRequest<Bytes>, request: Request<Bytes>) -> Result<Answer, h2::Error> {
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
    Ok(Answer { status: parts.status.as_u16(), headers: parts.headers, body })
}

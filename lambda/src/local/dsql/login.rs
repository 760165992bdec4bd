//! A connection's first steps: TLS (required), the startup packet, the IAM token as
//! password (its kind for the role, the role's IAM mapping), the connection limits,
//! and a session of the backing PostgreSQL as the same role.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::dialect;
use super::session::{Backend, Session};
use super::shared::Shared;
use super::token;
use super::wire::{self, Startup};

/// PostgreSQL's AuthenticationCleartextPassword and AuthenticationOk.
const AUTH_CLEARTEXT: i32 = 3;

/// Serve one client connection to its end.
pub async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let first = match wire::read_startup(&mut stream).await {
        Ok(s) => s,
        Err(_) => return,
    };
    match first {
        Startup::Ssl => {}
        Startup::Cancel { pid, secret } => return cancel(&shared, pid, secret).await,
        Startup::Gss => {
            // Decline GSS encryption; a client then asks for TLS.
            if stream.write_all(b"N").await.is_ok() {
                Box::pin(serve(stream, shared)).await;
            }
            return;
        }
        _ => {
            // Wording not found in DSQL's documentation; PostgreSQL's for hostssl-only.
            let refusal =
                wire::error("FATAL", "28000", "SSL/TLS required: Aurora DSQL accepts only encrypted connections");
            let _ = wire::write_frames(&mut stream, &[refusal]).await;
            return;
        }
    }
    if stream.write_all(b"S").await.is_err() {
        return;
    }
    let Ok(tls) = shared.tls.accept(stream).await else { return };
    let (read, mut write) = tokio::io::split(tls);
    let mut read = BufReader::new(read);
    let Ok(Startup::Params(params)) = wire::read_startup(&mut read).await else { return };
    shared.open.fetch_add(1, Ordering::SeqCst);
    let _open = OpenGuard(shared.clone());
    let backend = match login(&mut read, &mut write, &params, &shared).await {
        Ok(Some(b)) => b,
        _ => return,
    };
    let user = params.get("user").cloned().unwrap_or_default();
    let _ = Session::new(read, write, backend, shared, user).run().await;
}

/// Counts the connection open while it lives.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Refuse with a FATAL error and end.
async fn refuse<W: AsyncWrite + Unpin>(write: &mut W, shared: &Shared, sqlstate: &str, message: &str) {
    shared.counters.login_failures.fetch_add(1, Ordering::Relaxed);
    let _ = wire::write_frames(write, &[wire::error("FATAL", sqlstate, message)]).await;
}

/// Check the limits, the database, the token and the role; then open the backend.
async fn login<R, W>(
    read: &mut R,
    write: &mut W,
    params: &HashMap<String, String>,
    shared: &Shared,
) -> std::io::Result<Option<Backend>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let user = params.get("user").cloned().unwrap_or_default();
    let database = params.get("database").cloned().unwrap_or_else(|| user.clone());
    if shared.open.load(Ordering::SeqCst) > shared.config.limits.max_connections {
        refuse(write, shared, dialect::TOO_MANY_CONNECTIONS_SQLSTATE, dialect::TOO_MANY_CONNECTIONS_MESSAGE).await;
        return Ok(None);
    }
    if !shared.admit_connection() {
        refuse(write, shared, dialect::RATE_EXCEEDED_SQLSTATE, dialect::RATE_EXCEEDED_MESSAGE).await;
        return Ok(None);
    }
    if database != "postgres" {
        // DSQL has one database, `postgres`.
        refuse(write, shared, "3D000", &format!("database \"{database}\" does not exist")).await;
        return Ok(None);
    }
    wire::write_frames(write, &[wire::auth_request(AUTH_CLEARTEXT)]).await?;
    let password = wire::read_frame_max(read, 16 << 10).await?;
    let token = password.cstr(0).map(|(s, _)| s.to_string()).unwrap_or_default();
    if let Err((sqlstate, message, hint)) = authorize(shared, &user, &token).await {
        shared.counters.login_failures.fetch_add(1, Ordering::Relaxed);
        let _ = wire::write_frames(write, &[wire::error_with_hint("FATAL", sqlstate, &message, &hint)]).await;
        return Ok(None);
    }
    match Backend::connect(&shared.backend, &user, params).await {
        Ok((backend, greeting)) => {
            shared.counters.logins.fetch_add(1, Ordering::Relaxed);
            wire::write_frames(write, &greeting).await?;
            Ok(Some(backend))
        }
        Err(frames) => {
            let _ = wire::write_frames(write, &frames).await;
            Ok(None)
        }
    }
}

/// Why a login is refused: SQLSTATE, message, hint.
type Denied = (&'static str, String, String);

/// The token's form, host, age and kind, and for a role other than admin its mapping.
async fn authorize(shared: &Shared, user: &str, token: &str) -> Result<(), Denied> {
    let denied = |e: &token::TokenError| {
        let (sqlstate, message) = token::refusal(e);
        (sqlstate, message, token::refusal_hint(e))
    };
    let claims = token::check(token, &shared.config.hosts, SystemTime::now()).map_err(|e| denied(&e))?;
    token::check_user(&claims, user).map_err(|e| denied(&e))?;
    if user == "admin" {
        return Ok(());
    }
    let arn = shared.config.arn_of(&claims.access_key_id);
    let admin = shared.admin().await.map_err(|e| ("08006", format!("the backing database: {e}"), String::new()))?;
    match super::sys::is_granted(&admin, user, &arn).await {
        Ok(true) => Ok(()),
        Ok(false) => Err((
            token::REFUSAL_SQLSTATE,
            token::ACCESS_DENIED.to_string(),
            format!("User: {arn} is not authorized to access this resource as role \"{user}\" (AWS IAM GRANT {user} TO '{arn}')"),
        )),
        Err(e) => Err(("XX000", format!("checking the role's IAM mapping: {e}"), String::new())),
    }
}

/// A CancelRequest goes to the backend as it came: the key is the backend's own.
async fn cancel(shared: &Shared, pid: i32, secret: i32) {
    shared.counters.cancels.fetch_add(1, Ordering::SeqCst);
    if let Ok((_, mut backend)) = super::backend::open(&shared.backend).await {
        let _ = backend.write_all(&wire::cancel_packet(pid, secret)).await;
    }
}

//! The worker fleet's shared secret: coordinators prove they hold it, daemons beyond
//! loopback require it.

use std::path::Path;

use anyhow::Context;

/// The environment variable that may hold the shared secret.
pub const SECRET_ENV: &str = "HARNESS_WORKER_SECRET";

/// The shared secret from `file`, else from `HARNESS_WORKER_SECRET`.
pub fn read(file: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let secret = match file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading --secret-file {}", path.display()))?;
            Some(text.trim().to_string())
        }
        None => std::env::var(SECRET_ENV).ok(),
    };
    match secret {
        Some(s) if s.len() < 16 => {
            anyhow::bail!(
                "the worker secret is {} characters long; use at least 16 (e.g. `openssl rand -hex 32`)",
                s.len()
            )
        }
        other => Ok(other.map(String::into_bytes)),
    }
}

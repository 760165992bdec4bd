//! Credentials from the AWS provider chain (environment, profiles, SSO, instance and
//! container roles), cached until five minutes before they expire and then refreshed by
//! one caller while the others keep using the current ones.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use tokio::sync::{Mutex, RwLock};

/// Refresh this long before expiry, as the SDK's identity cache does.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// The provider chain gave no credentials.
#[derive(Debug, thiserror::Error)]
#[error("no AWS credentials")]
pub struct NoCredentials(#[source] pub CredentialsError);

/// Credentials from a provider, cached until shortly before they expire.
pub struct CachedCredentials {
    provider: SharedCredentialsProvider,
    current: RwLock<Option<Credentials>>,
    refreshing: Mutex<()>,
}

impl CachedCredentials {
    /// Credentials from `provider`, fetched on first use.
    pub fn new(provider: SharedCredentialsProvider) -> Self {
        CachedCredentials { provider, current: RwLock::new(None), refreshing: Mutex::new(()) }
    }

    /// Fixed credentials (the local endpoint's placeholders, tests).
    pub fn fixed(credentials: Credentials) -> Self {
        CachedCredentials::new(SharedCredentialsProvider::new(credentials))
    }

    /// Credentials good for at least `REFRESH_BEFORE`.
    pub async fn get(&self) -> Result<Credentials, NoCredentials> {
        if let Some(c) = self.current.read().await.as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        // Boxed: refreshing is rare, and its future would take room in every call's.
        Box::pin(self.refresh()).await
    }

    async fn refresh(&self) -> Result<Credentials, NoCredentials> {
        let _one = self.refreshing.lock().await;
        if let Some(c) = self.current.read().await.as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let c = self.provider.provide_credentials().await.map_err(NoCredentials)?;
        *self.current.write().await = Some(c.clone());
        Ok(c)
    }
}

fn fresh(c: &Credentials) -> bool {
    c.expiry().is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE)
}

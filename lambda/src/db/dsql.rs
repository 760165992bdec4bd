//! Aurora DSQL: an IAM auth token as password (the admin token for `admin`, the plain
//! token for any other role, as in the workshop's chapter 2), generated for every new
//! connection, over TLS with rustls (certificate and host verified, SNI sent).

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_dsql::auth_token::{AuthTokenGenerator, Config as TokenConfig};
use aws_sdk_dsql::config::Region;
use tokio::sync::OnceCell;
use tokio_postgres::config::SslMode;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{describe_db_error, FunctionError, CONNECTION_ERROR};

/// Token lifetime: it is checked only at connect, so a short one is enough.
pub const TOKEN_LIFETIME_SECS: u64 = 900;
/// DSQL listens on the PostgreSQL port.
pub const PORT: u16 = 5432;

/// An endpoint as `HOST` (port 5432, as a cluster listens) or `HOST:PORT` (a local
/// front may listen elsewhere), or what is wrong with it.
pub fn host_port(endpoint: &str) -> Result<(String, u16), String> {
    match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) if !host.is_empty() => Ok((host.to_string(), port)),
            _ => Err(format!("{endpoint:?} is not HOST or HOST:PORT")),
        },
        _ if endpoint.is_empty() => Err("the endpoint is empty".into()),
        _ => Ok((endpoint.to_string(), PORT)),
    }
}

/// A DSQL cluster endpoint, its region and the database role to log in as.
#[derive(Debug, Clone)]
pub struct DsqlTarget {
    pub endpoint: String,
    pub region: String,
    pub user: String,
    /// DSQL's port (5432); settable for tests against a local listener.
    pub port: u16,
    /// A CA to trust besides the public ones (the local DSQL front's; `PGSSLROOTCERT`).
    pub ca: Option<std::path::PathBuf>,
    /// Loaded from the environment on first use (credentials, time source).
    sdk_config: Arc<OnceCell<SdkConfig>>,
}

impl DsqlTarget {
    pub fn new(endpoint: String, region: String, user: String) -> Self {
        DsqlTarget { endpoint, region, user, port: PORT, ca: None, sdk_config: Arc::new(OnceCell::new()) }
    }

    /// Use this SDK configuration (credentials, time source) instead of the environment's.
    pub fn with_sdk_config(self, config: SdkConfig) -> Self {
        DsqlTarget { sdk_config: Arc::new(OnceCell::new_with(Some(config))), ..self }
    }

    pub fn with_port(self, port: u16) -> Self {
        DsqlTarget { port, ..self }
    }

    /// Also trust the CA certificate(s) in this PEM file (a local DSQL front's).
    pub fn with_ca(self, ca: std::path::PathBuf) -> Self {
        DsqlTarget { ca: Some(ca), ..self }
    }

    /// `admin` needs `dsql:DbConnectAdmin` and the admin token; other roles `dsql:DbConnect`.
    pub fn is_admin(&self) -> bool {
        self.user == "admin"
    }

    /// A fresh IAM auth token for this endpoint and role.
    pub async fn token(&self) -> Result<String, FunctionError> {
        let sdk_config = self
            .sdk_config
            .get_or_init(|| async {
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(Region::new(self.region.clone()))
                    .load()
                    .await
            })
            .await;
        let config = TokenConfig::builder()
            .hostname(&self.endpoint)
            .region(Region::new(self.region.clone()))
            .expires_in(TOKEN_LIFETIME_SECS)
            .build()
            .map_err(|e| self.error(format!("invalid token configuration: {e}")))?;
        let generator = AuthTokenGenerator::new(config);
        let token = if self.is_admin() {
            generator.db_connect_admin_auth_token(sdk_config).await
        } else {
            generator.db_connect_auth_token(sdk_config).await
        };
        token.map(|t| t.as_str().to_string()).map_err(|e| {
            self.error(format!("cannot generate an IAM auth token (are AWS credentials configured?): {e}"))
        })
    }

    /// Open a verified TLS connection, logging in with a new token.
    pub async fn connect(&self) -> Result<Client, FunctionError> {
        let token = self.token().await?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.endpoint)
            .port(self.port)
            .user(&self.user)
            .password(token)
            .dbname("postgres")
            .ssl_mode(SslMode::Require)
            .connect_timeout(std::time::Duration::from_secs(10));
        let (client, conn) = config.connect(tls_connector(self.ca.as_deref())?).await.map_err(|e| {
            self.error(format!(
                "{} (check that the role may use dsql:{} on this cluster and that `{}` is mapped with AWS IAM GRANT)",
                describe_db_error(&e),
                if self.is_admin() { "DbConnectAdmin" } else { "DbConnect" },
                self.user
            ))
        })?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("DSQL connection ended: {e}");
            }
        });
        Ok(client)
    }

    fn error(&self, message: String) -> FunctionError {
        FunctionError::new(CONNECTION_ERROR, format!("DSQL {} as {}: {message}", self.endpoint, self.user))
    }
}

/// rustls with the Mozilla root store (and `ca`, if given); hostname verification and
/// SNI are rustls's own.
pub fn tls_connector(ca: Option<&std::path::Path>) -> Result<MakeRustlsConnect, FunctionError> {
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca {
        let unreadable = |e: &dyn std::fmt::Display| {
            FunctionError::new(CONNECTION_ERROR, format!("cannot trust the CA in {}: {e}", path.display()))
        };
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))?;
        for cert in certs {
            roots.add(cert.map_err(|e| unreadable(&e))?).map_err(|e| unreadable(&e))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FunctionError::new(CONNECTION_ERROR, format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_host_or_host_and_port() {
        assert_eq!(host_port("abc.dsql.us-east-1.on.aws"), Ok(("abc.dsql.us-east-1.on.aws".into(), PORT)));
        assert_eq!(host_port("localhost:41535"), Ok(("localhost".into(), 41535)));
        assert_eq!(host_port("localhost:x").unwrap_err(), "\"localhost:x\" is not HOST or HOST:PORT");
        assert!(host_port(":5432").is_err() && host_port("").is_err() && host_port("h:70000").is_err());
    }
}

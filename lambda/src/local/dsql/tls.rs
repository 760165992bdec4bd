//! TLS for the local DSQL front: DSQL takes only TLS connections, so each stack makes
//! its own CA and a server certificate that CA signs for the stack's host names and
//! addresses. Clients trust the CA through the `ca.pem` it leaves in the stack's
//! directory (`PGSSLROOTCERT`, `NODE_EXTRA_CA_CERTS`); the keys never leave memory.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// The common name of every stack's CA.
pub const CA_COMMON_NAME: &str = "harness local DSQL CA";

/// The file, in the stack's directory, that holds the CA certificate.
pub const CA_FILE: &str = "ca.pem";

/// The ALPN protocol PostgreSQL 17 clients offer (and require with `sslnegotiation=direct`).
const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// How long before now the certificates are valid: an hour, for clocks a little behind.
const VALID_BEFORE: Duration = Duration::from_secs(3600);

/// How long after now the certificates are valid: a week, longer than any stack lives.
const VALID_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a stack's certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// No name to put in the server certificate.
    #[error("no host name or address to make the local DSQL server certificate for")]
    NoNames,
    /// A name that is neither an IP address nor a DNS name.
    #[error("`{0}` is neither an IP address nor a DNS name, so the local DSQL server certificate cannot name it")]
    BadName(String),
    /// Key or certificate generation failed.
    #[error("could not make the local DSQL CA or server certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// `ca.pem` could not be written.
    #[error("could not write the local DSQL CA certificate to {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// rustls refused the certificate or key.
    #[error("rustls refused the local DSQL server certificate: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A CA made for one stack and a server certificate it signed for the stack's host names/IPs.
pub struct StackTls {
    ca_path: PathBuf,
    server_config: Arc<ServerConfig>,
}

impl fmt::Debug for StackTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackTls").field("ca_path", &self.ca_path).finish_non_exhaustive()
    }
}

impl StackTls {
    /// Make a CA (CN "harness local DSQL CA") and a server certificate for `names` (each
    /// either an IP address -> IP SAN, or a DNS name -> DNS SAN), valid from now-1h to
    /// now+7d; write `ca.pem` (the CA certificate only) into `dir` (mode 0644, `dir` made
    /// if missing) and return. The keys stay in memory.
    pub fn create(dir: &Path, names: &[String]) -> Result<StackTls, TlsError> {
        let sans = subject_alt_names(names)?;
        let now = SystemTime::now();
        let (not_before, not_after) = (now - VALID_BEFORE, now + VALID_AFTER);

        let ca_key = KeyPair::generate()?;
        let ca_params = ca_params(not_before, not_after);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let server_cert = server_params(sans, not_before, not_after).signed_by(&server_key, &issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let server_config = server_config(vec![server_cert.der().clone()], key)?;

        let ca_path = write_ca(dir, &ca_cert.pem())?;
        Ok(StackTls { ca_path, server_config })
    }

    /// Path of the CA certificate a client must trust (PGSSLROOTCERT, NODE_EXTRA_CA_CERTS).
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// rustls server config (aws-lc-rs provider, no client auth) for the front's acceptor.
    /// It offers ALPN `postgresql`, which PostgreSQL 17 clients ask for.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.server_config)
    }
}

/// An IP SAN for each address, a DNS SAN for each other name.
fn subject_alt_names(names: &[String]) -> Result<Vec<SanType>, TlsError> {
    if names.is_empty() {
        return Err(TlsError::NoNames);
    }
    let san = |name: &String| match name.parse::<IpAddr>() {
        Ok(ip) => Ok(SanType::IpAddress(ip)),
        Err(_) if DnsName::try_from(name.as_str()).is_ok() => {
            name.clone().try_into().map(SanType::DnsName).map_err(|_| TlsError::BadName(name.clone()))
        }
        Err(_) => Err(TlsError::BadName(name.clone())),
    };
    names.iter().map(san).collect()
}

/// The CA: may sign end-entity certificates only (path length 0).
fn ca_params(not_before: SystemTime, not_after: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, not_before, not_after);
    params
}

/// The server certificate: for TLS servers, named by its SANs.
fn server_params(sans: Vec<SanType>, not_before: SystemTime, not_after: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "harness local DSQL");
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, not_before, not_after);
    params
}

/// Valid from `not_before` to `not_after`, in whole seconds (rcgen's times are counted
/// here from its own 1970-01-01, the dates being long after it).
fn set_validity(params: &mut CertificateParams, not_before: SystemTime, not_after: SystemTime) {
    let unix_secs = |t: SystemTime| Duration::from_secs(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + unix_secs(not_before);
    params.not_after = epoch + unix_secs(not_after);
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    Ok(Arc::new(config))
}

/// Write `ca.pem` into `dir`, readable by all (0644), and return its path.
fn write_ca(dir: &Path, pem: &str) -> Result<PathBuf, TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(CA_FILE);
    let failed = |source| TlsError::Write { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(failed)?;
    std::fs::write(&path, pem).map_err(failed)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).map_err(failed)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{ServerName, UnixTime};
    use rustls::{CertificateError, ClientConfig, RootCertStore};
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    fn names() -> Vec<String> {
        vec!["127.0.0.2".to_string(), "localhost".to_string()]
    }

    /// A clock for the client's certificate checks.
    #[derive(Debug)]
    struct Clock(SystemTime);

    impl rustls::time_provider::TimeProvider for Clock {
        fn current_time(&self) -> Option<UnixTime> {
            Some(UnixTime::since_unix_epoch(self.0.duration_since(UNIX_EPOCH).ok()?))
        }
    }

    /// The certificates in the stack's `ca.pem`, as a client reads them.
    fn trusting_ca_pem(tls: &StackTls) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(tls.ca_path()).expect("ca.pem opens") {
            roots.add(cert.expect("ca.pem holds certificates")).expect("the CA is a usable trust anchor");
        }
        roots
    }

    fn client(roots: RootCertStore, now: SystemTime, alpn: bool) -> ClientConfig {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_details(provider, Arc::new(Clock(now)))
            .with_safe_default_protocol_versions()
            .expect("default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        if alpn {
            config.alpn_protocols = vec![b"postgresql".to_vec()];
        }
        config
    }

    /// A TLS handshake over loopback TCP as `name`, then "ping" one way and "pong" the
    /// other. Returns the ALPN protocol agreed, or the client's error.
    async fn handshake(
        server: Arc<ServerConfig>,
        client: ClientConfig,
        name: &str,
    ) -> Result<Option<Vec<u8>>, rustls::Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let serve = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let mut tls = TlsAcceptor::from(server).accept(tcp).await?;
            let mut ping = [0u8; 4];
            tls.read_exact(&mut ping).await?;
            tls.write_all(b"pong").await?;
            tls.shutdown().await?;
            std::io::Result::Ok(ping)
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect to loopback");
        let server_name = ServerName::try_from(name.to_string()).expect("a server name");
        let connected = TlsConnector::from(Arc::new(client)).connect(server_name, tcp).await;
        let mut tls = match connected {
            Ok(tls) => tls,
            Err(e) => {
                serve.abort();
                let inner = e.into_inner().expect("a rustls error inside the io::Error");
                return Err(*inner.downcast::<rustls::Error>().expect("a rustls error"));
            }
        };
        tls.write_all(b"ping").await.expect("write over TLS");
        let mut pong = Vec::new();
        tls.read_to_end(&mut pong).await.expect("read over TLS");
        assert_eq!(pong, b"pong");
        let ping = serve.await.expect("the server task ends").expect("the server side of the exchange");
        assert_eq!(&ping, b"ping");
        Ok(tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec))
    }

    #[tokio::test]
    async fn clients_trusting_ca_pem_connect_by_ip_and_by_dns_name() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tls = StackTls::create(&dir.path().join("stack"), &names()).expect("certificates made");
        assert_eq!(tls.ca_path(), dir.path().join("stack").join("ca.pem"));
        for name in names() {
            let alpn =
                handshake(tls.server_config(), client(trusting_ca_pem(&tls), SystemTime::now(), true), &name).await;
            assert_eq!(alpn, Ok(Some(b"postgresql".to_vec())), "{name}");
            let alpn =
                handshake(tls.server_config(), client(trusting_ca_pem(&tls), SystemTime::now(), false), &name).await;
            assert_eq!(alpn, Ok(None), "{name}, a client without ALPN (tokio-postgres)");
        }
    }

    #[tokio::test]
    async fn clients_trusting_only_the_web_pki_refuse_the_server() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tls = StackTls::create(dir.path(), &names()).expect("certificates made");
        let web = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let refused = handshake(tls.server_config(), client(web, SystemTime::now(), true), "localhost").await;
        assert_eq!(refused, Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)));
    }

    #[tokio::test]
    async fn names_not_in_the_certificate_are_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tls = StackTls::create(dir.path(), &names()).expect("certificates made");
        for name in ["127.0.0.3", "example.com", "::1"] {
            let refused =
                handshake(tls.server_config(), client(trusting_ca_pem(&tls), SystemTime::now(), true), name).await;
            assert!(
                matches!(
                    refused,
                    Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }))
                ),
                "{name}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn certificates_are_valid_from_an_hour_ago_for_a_week() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tls = StackTls::create(dir.path(), &names()).expect("certificates made");
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        for (at, valid) in
            [(now - hour / 2, true), (now + 6 * 24 * hour, true), (now - 2 * hour, false), (now + 8 * 24 * hour, false)]
        {
            let result = handshake(tls.server_config(), client(trusting_ca_pem(&tls), at, true), "localhost").await;
            assert_eq!(result.is_ok(), valid, "{:?} from now: {result:?}", at.duration_since(now));
        }
    }

    #[test]
    fn ca_pem_holds_the_ca_certificate_only_readable_by_all() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tls = StackTls::create(dir.path(), &names()).expect("certificates made");
        let text = std::fs::read_to_string(tls.ca_path()).expect("ca.pem is readable");
        assert!(!text.contains("PRIVATE KEY"), "no key in ca.pem");
        let certs: Vec<_> = CertificateDer::pem_file_iter(tls.ca_path()).expect("opens").collect();
        assert_eq!(certs.len(), 1, "one certificate");
        let der = certs.into_iter().next().expect("one").expect("parses");
        assert!(der.windows(CA_COMMON_NAME.len()).any(|w| w == CA_COMMON_NAME.as_bytes()), "CN {CA_COMMON_NAME}");
        let mode = std::fs::metadata(tls.ca_path()).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let second = StackTls::create(dir.path(), &names()).expect("made again");
        let again = std::fs::read_to_string(second.ca_path()).expect("readable");
        assert_ne!(again, text, "each stack has its own CA");
    }

    #[test]
    fn refuses_no_names_and_names_that_are_not_hosts() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        assert!(matches!(StackTls::create(dir.path(), &[]), Err(TlsError::NoNames)));
        for bad in ["bad name", "[::1]", "", "host:5432"] {
            let err = StackTls::create(dir.path(), &[bad.to_string()]).expect_err("not a host name");
            assert!(matches!(&err, TlsError::BadName(n) if n == bad), "{bad}: {err}");
        }
        assert!(!dir.path().join(CA_FILE).exists(), "nothing written for a refused name");
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "not a directory").expect("a file");
        let err = StackTls::create(&blocker.join("stack"), &names()).expect_err("no directory under a file");
        assert!(matches!(&err, TlsError::Write { path, .. } if *path == blocker.join("stack").join(CA_FILE)), "{err}");
        assert!(err.to_string().starts_with("could not write the local DSQL CA certificate to "), "{err}");
    }
}

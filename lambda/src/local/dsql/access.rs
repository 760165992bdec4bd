//! How the local stack's own clients reach its DSQL front: the host names, the CA to
//! trust, and static credentials that sign tokens offline. The keys are not AWS keys
//! (no AWS endpoint is ever called with them); the front maps each to an IAM identity.

use std::collections::HashMap;
use std::path::PathBuf;

use aws_sdk_dsql::config::{Credentials, Region, SharedCredentialsProvider};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use serde::{Deserialize, Serialize};

use super::shared::{FrontConfig, Limits};
use crate::db::DsqlTarget;

/// The region the local stack's tokens are signed for.
pub const REGION: &str = "us-east-1";
/// The harness signs its (admin) tokens with this key id.
pub const HARNESS_KEY: &str = "AKIDLOCALHARNESS";
pub const HARNESS_ARN: &str = "arn:aws:iam::000000000000:role/harness-local-operator";
/// The function's execution role, as the local stack gives it to the function.
pub const FUNCTION_KEY: &str = "AKIDLOCALFUNCTION";
pub const FUNCTION_ARN: &str = "arn:aws:iam::000000000000:role/harness-local-function";
/// The secret half of the local keys: tokens are signed with it, never checked.
pub const LOCAL_SECRET: &str = "local-stack-secret-not-an-aws-key";
/// The names the front's certificate carries and tokens may be signed for.
pub const HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];

impl FrontConfig {
    /// A front on a free loopback port before the PostgreSQL on `backend_port`, its CA in `dir`.
    pub fn local(backend_port: u16, dir: PathBuf) -> FrontConfig {
        FrontConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            backend_port,
            hosts: HOSTS.iter().map(|h| h.to_string()).collect(),
            dir,
            limits: Limits::default(),
            identities: HashMap::from([
                (HARNESS_KEY.to_string(), HARNESS_ARN.to_string()),
                (FUNCTION_KEY.to_string(), FUNCTION_ARN.to_string()),
            ]),
        }
    }
}

/// A client's way into a local front: as `user`, signing with `access_key_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub host: String,
    pub port: u16,
    pub ca: PathBuf,
    pub user: String,
    pub access_key_id: String,
}

impl Access {
    /// The harness's own access: `admin`.
    pub fn admin(port: u16, ca: PathBuf) -> Access {
        Access { host: HOSTS[0].into(), port, ca, user: "admin".into(), access_key_id: HARNESS_KEY.into() }
    }

    /// The function's: the application role, with the function's key.
    pub fn function(port: u16, ca: PathBuf, role: &str) -> Access {
        Access { host: HOSTS[0].into(), port, ca, user: role.into(), access_key_id: FUNCTION_KEY.into() }
    }

    /// A DSQL client of the front, as against a cluster.
    pub fn target(&self) -> DsqlTarget {
        let credentials = Credentials::new(&self.access_key_id, LOCAL_SECRET, None, None, "local-stack");
        let sdk = aws_config::SdkConfig::builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .region(Region::new(REGION))
            .time_source(SharedTimeSource::new(SystemTimeSource::new()))
            .build();
        DsqlTarget::new(self.host.clone(), REGION.into(), self.user.clone())
            .with_port(self.port)
            .with_ca(self.ca.clone())
            .with_sdk_config(sdk)
    }
}

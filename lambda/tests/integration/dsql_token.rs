//! DSQL IAM auth tokens, generated offline with static credentials and a fixed clock.

use std::time::{Duration, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_async::time::StaticTimeSource;
use transfer::db::DsqlTarget;

const ENDPOINT: &str = "abcdefghijklmnopqrst.dsql.us-east-1.on.aws";

/// Static credentials and a fixed clock (2025-11-24T16:00:00Z).
fn sdk() -> SdkConfig {
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .time_source(StaticTimeSource::new(UNIX_EPOCH + Duration::from_secs(1_764_000_000)))
        .build()
}

fn target(user: &str) -> DsqlTarget {
    DsqlTarget::new(ENDPOINT.into(), "us-east-1".into(), user.into()).with_sdk_config(sdk())
}

#[tokio::test]
async fn admin_and_role_tokens_differ_in_action_and_carry_the_endpoint() {
    let admin = target("admin").token().await.unwrap();
    let myapp = target("myapp").token().await.unwrap();
    for token in [&admin, &myapp] {
        assert!(token.starts_with(&format!("{ENDPOINT}/?Action=")), "{token}");
        assert!(token.contains("X-Amz-Credential=AKIDEXAMPLE%2F20251124%2Fus-east-1%2Fdsql%2Faws4_request"), "{token}");
        assert!(token.contains("X-Amz-Date=20251124T160000Z"), "{token}");
        assert!(token.contains("X-Amz-Expires=900"), "{token}");
        assert!(token.contains("X-Amz-Signature="), "{token}");
    }
    assert!(admin.contains("Action=DbConnectAdmin&"), "{admin}");
    assert!(myapp.contains("Action=DbConnect&"), "{myapp}");
    assert_ne!(admin, myapp);
    assert_eq!(admin, target("admin").token().await.unwrap(), "same clock and credentials, same token");
}

#[tokio::test]
async fn a_cluster_that_hangs_up_is_a_connection_error_naming_the_permission() {
    // A loopback listener that closes every connection at once: nothing leaves the machine.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let t =
        DsqlTarget::new("127.0.0.1".into(), "us-east-1".into(), "myapp".into()).with_sdk_config(sdk()).with_port(port);
    let e = t.connect().await.unwrap_err();
    assert_eq!(e.error_type, transfer::error::CONNECTION_ERROR);
    assert!(e.error_message.contains("DSQL 127.0.0.1 as myapp") && e.error_message.contains("dsql:DbConnect"), "{e}");
}

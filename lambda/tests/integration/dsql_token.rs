//! DSQL IAM auth tokens, generated offline with static credentials and a fixed clock.

use std::time::{Duration, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_async::time::StaticTimeSource;
use transfer::db::DsqlTarget;

const ENDPOINT: &str = "abcdefghijklmnopqrst.dsql.us-east-1.on.aws";

fn target(user: &str) -> DsqlTarget {
    let sdk = SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        )))
        .time_source(StaticTimeSource::new(
            UNIX_EPOCH + Duration::from_secs(1_764_000_000),
        ))
        .build();
    DsqlTarget::new(ENDPOINT.into(), "us-east-1".into(), user.into()).with_sdk_config(sdk)
}

#[tokio::test]
async fn admin_and_role_tokens_differ_in_action_and_carry_the_endpoint() {
    let admin = target("admin").token().await.unwrap();
    let myapp = target("myapp").token().await.unwrap();
    for token in [&admin, &myapp] {
        assert!(
            token.starts_with(&format!("{ENDPOINT}/?Action=")),
            "{token}"
        );
        assert!(
            token.contains(
                "X-Amz-Credential=AKIDEXAMPLE%2F20251124%2Fus-east-1%2Fdsql%2Faws4_request"
            ),
            "{token}"
        );
        assert!(token.contains("X-Amz-Date=20251124T160000Z"), "{token}");
        assert!(token.contains("X-Amz-Expires=900"), "{token}");
        assert!(token.contains("X-Amz-Signature="), "{token}");
    }
    assert!(admin.contains("Action=DbConnectAdmin&"), "{admin}");
    assert!(myapp.contains("Action=DbConnect&"), "{myapp}");
    assert_ne!(admin, myapp);
    assert_eq!(
        admin,
        target("admin").token().await.unwrap(),
        "same clock and credentials, same token"
    );
}

#[tokio::test]
async fn an_unreachable_cluster_is_a_connection_error_naming_the_permission() {
    // `.invalid` never resolves (RFC 2606), so nothing leaves the machine.
    let sdk = SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        )))
        .time_source(StaticTimeSource::new(
            UNIX_EPOCH + Duration::from_secs(1_764_000_000),
        ))
        .build();
    let t = DsqlTarget::new(
        "cluster.dsql.invalid".into(),
        "us-east-1".into(),
        "myapp".into(),
    )
    .with_sdk_config(sdk);
    let e = t.connect().await.unwrap_err();
    assert_eq!(e.error_type, transfer::error::CONNECTION_ERROR);
    assert!(
        e.error_message.contains("cluster.dsql.invalid")
            && e.error_message.contains("dsql:DbConnect"),
        "{e}"
    );
}

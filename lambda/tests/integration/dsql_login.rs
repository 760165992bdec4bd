//! Conformance probes for DSQL's logins: TLS only, an IAM token as password (the admin
//! token for `admin`, the plain token for a role mapped with `AWS IAM GRANT`), refusals
//! for a wrong kind, an ungranted role, an expired token or a password; and the real
//! `psql` with `sslmode=verify-full` against the stack's CA.

use std::time::{Duration, SystemTime};

use tokio_postgres::NoTls;

use super::dsql_support::{sdk, Front, APP_ARN, APP_KEY, HOST};

#[tokio::test]
async fn admin_needs_the_admin_token_and_roles_need_their_iam_mapping() {
    let f = Front::start().await;
    let admin = f.admin().await;
    admin.batch_execute("CREATE ROLE myapp WITH LOGIN").await.unwrap();
    let refused = f.target("myapp", APP_KEY).connect().await.unwrap_err();
    assert!(refused.error_message.contains("access denied"), "{refused}");
    admin.batch_execute(&format!("AWS IAM GRANT myapp TO '{APP_ARN}'")).await.unwrap();
    let mapped: i64 = admin
        .query_one(
            "SELECT count(*) FROM sys.iam_pg_role_mappings WHERE pg_role_name = 'myapp' AND arn = $1",
            &[&APP_ARN],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mapped, 1);
    let app = f.target("myapp", APP_KEY).connect().await.expect("a granted role logs in with a DbConnect token");
    let user: String = app.query_one("SELECT current_user::text", &[]).await.unwrap().get(0);
    assert_eq!(user, "myapp");
    // Another identity's token is not granted myapp.
    let other = f.target("myapp", "AKIDSOMEONEELSE").connect().await.unwrap_err();
    assert!(other.error_message.contains("access denied"), "{other}");
    // Only admin maps roles.
    let e = app.batch_execute(&format!("AWS IAM GRANT myapp TO '{APP_ARN}'")).await.unwrap_err();
    assert_eq!(e.as_db_error().map(|d| d.code().code()), Some("42501"));
    admin.batch_execute(&format!("AWS IAM REVOKE myapp FROM '{APP_ARN}'")).await.unwrap();
    let revoked = f.target("myapp", APP_KEY).connect().await.unwrap_err();
    assert!(revoked.error_message.contains("access denied"), "{revoked}");
}

#[tokio::test]
async fn a_token_of_the_wrong_kind_or_expired_is_refused() {
    let f = Front::start().await;
    // `admin` with a DbConnect token: sign as a role, log in as admin.
    let token = f.target("myapp", "AKIDLOCALADMIN").token().await.unwrap();
    let e = login(&f, "admin", &token).await.unwrap_err();
    assert!(e.contains("Wrong user to action mapping"), "{e}");
    let old = SystemTime::now() - Duration::from_secs(3_600);
    let expired = f.target("admin", "AKIDLOCALADMIN").with_sdk_config(sdk("AKIDLOCALADMIN", Some(old)));
    let e = expired.connect().await.unwrap_err();
    assert!(e.error_message.contains("access denied") && e.error_message.contains("expired"), "{e}");
    let e = login(&f, "admin", "a-postgres-password").await.unwrap_err();
    assert!(e.contains("access denied"), "{e}");
}

/// Log in over TLS with `password`; the server's words if refused.
async fn login(f: &Front, user: &str, password: &str) -> Result<(), String> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(HOST)
        .port(f.port())
        .user(user)
        .password(password)
        .dbname("postgres")
        .ssl_mode(tokio_postgres::config::SslMode::Require);
    let tls = transfer::db::dsql::tls_connector(Some(f.front.ca_path())).unwrap();
    match config.connect(tls).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.as_db_error() {
            Some(db) => format!("{} {} {}", db.code().code(), db.message(), db.hint().unwrap_or("")),
            None => e.to_string(),
        }),
    }
}

#[tokio::test]
async fn a_connection_without_tls_is_refused() {
    let f = Front::start().await;
    let url = format!("postgres://admin:x@127.0.0.1:{}/postgres", f.port());
    let e = tokio_postgres::connect(&url, NoTls).await.err().expect("no TLS, no login");
    let db = e.as_db_error().map(|d| d.code().code().to_string());
    assert_eq!(db.as_deref(), Some("28000"), "{e}");
}

#[tokio::test]
async fn psql_logs_in_with_verify_full_and_a_token_not_with_a_password() {
    let f = Front::start().await;
    let psql = f.pg.bindir().join("psql");
    let token = f.target("admin", "AKIDLOCALADMIN").token().await.unwrap();
    let conninfo = format!(
        "host={HOST} port={} user=admin dbname=postgres sslmode=verify-full sslrootcert={}",
        f.port(),
        f.front.ca_path().display()
    );
    let run = |password: String| {
        let (psql, conninfo) = (psql.clone(), conninfo.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(psql)
                .args([conninfo.as_str(), "-XAtc", "SELECT 40 + 2"])
                .env("PGPASSWORD", password)
                .env("PGCONNECT_TIMEOUT", "10")
                .output()
                .unwrap()
        })
    };
    let ok = run(token).await.unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "42");
    let refused = run("postgres".to_string()).await.unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("access denied"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

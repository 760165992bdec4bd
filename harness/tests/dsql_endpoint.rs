//! The AWS path's SQL, offline: `harness setup` and `verify` with `--dsql-endpoint`
//! pointed at a local DSQL front, as against a cluster (IAM tokens from the AWS
//! credentials in the environment, TLS verified against the front's CA).

mod common;

use std::process::Output;

use common::text;

use transfer::local::dsql::{DsqlFront, FrontConfig};
use transfer::local::{LocalPostgres, PgOptions};

/// `harness COMMAND --dsql-endpoint localhost:PORT ...` with local keys and the CA.
fn dsql_command(front: &DsqlFront, command: &str, extra: &[&str]) -> Output {
    let endpoint = format!("localhost:{}", front.addr().port());
    common::dsql_harness(&endpoint, Some(front.ca_path()), &[&[command][..], extra].concat())
}

#[test]
fn setup_and_verify_through_dsql_endpoint_at_the_local_front() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let front = rt.block_on(DsqlFront::start(FrontConfig::local(pg.port(), dir.path().into()))).unwrap();
    let data = ["--accounts", "4000", "--initial-balance", "50"];
    let out = dsql_command(&front, "setup", &data);
    assert!(out.status.success(), "{}", text(&out));
    let out = dsql_command(&front, "verify", &data);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("PASS (sum of balances 200000 = 4000 accounts x 50"), "{}", text(&out));
    // The schema went through DSQL's path: two CREATE INDEX ASYNC jobs, both completed.
    let jobs: i64 = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.query_one("SELECT count(*) FROM sys.jobs WHERE status = 'completed'", &[]).await.unwrap().get(0)
    });
    assert_eq!(jobs, 2);
    // Without the CA, the front's certificate is not trusted.
    let endpoint = format!("localhost:{}", front.addr().port());
    let out = common::dsql_harness(&endpoint, None, &["verify", "--accounts", "4000"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).to_lowercase().contains("certificate"), "{}", text(&out));
}

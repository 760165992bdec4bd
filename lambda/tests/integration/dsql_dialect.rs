//! Conformance probes for DSQL's dialect and limits: what it refuses (each with its
//! SQLSTATE; plain PostgreSQL accepts it), one DDL per transaction and no DDL mixed with
//! DML, the per-transaction row and age limits, the connection limits, and
//! asynchronous indexes with `sys.jobs` and `sys.wait_for_job`.

use std::time::Duration;

use transfer::local::dsql::Limits;

use super::dsql_support::{answers, db_error, until_lock_wait, Front};

/// Statements DSQL refuses, with the SQLSTATE it answers.
const REFUSED: &[(&str, &str)] = &[
    ("TRUNCATE t", "0A000"),
    ("CREATE TEMPORARY TABLE tmp (a INT)", "0A000"),
    ("CREATE TEMP TABLE tmp (a INT)", "0A000"),
    ("CREATE UNLOGGED TABLE u (a INT)", "0A000"),
    ("CREATE TABLE s (id SERIAL PRIMARY KEY)", "42704"),
    ("CREATE TABLE s (id BIGSERIAL PRIMARY KEY)", "42704"),
    ("CREATE EXTENSION pgcrypto", "0A000"),
    ("CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$", "0A000"),
    ("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "0A000"),
    ("VACUUM t", "0A000"),
    ("CREATE MATERIALIZED VIEW mv AS SELECT 1", "0A000"),
    ("CREATE TABLE c AS SELECT * FROM t", "0A000"),
    ("CREATE DATABASE other", "0A000"),
    ("CREATE INDEX t_v ON t (v)", "0A000"),
    ("BEGIN ISOLATION LEVEL SERIALIZABLE", "0A000"),
    ("BEGIN ISOLATION LEVEL READ COMMITTED", "0A000"),
    ("LOCK TABLE t", "0A000"),
    ("SELECT v FROM t FOR SHARE", "0A000"),
];

#[tokio::test]
async fn what_dsql_refuses_is_refused_with_its_sqlstate_and_plain_postgresql_accepts() {
    let f = Front::start().await;
    let admin = f.table(1).await;
    for (sql, sqlstate) in REFUSED {
        let e = admin.batch_execute(sql).await.expect_err(sql);
        let (code, message) = db_error(&e);
        assert_eq!(&code, sqlstate, "{sql}: {message}");
        assert!(!message.is_empty());
        // The session is usable after a refusal.
        admin.batch_execute("SELECT 1").await.unwrap();
    }
    let plain = f.plain().await;
    plain.batch_execute("TRUNCATE t; CREATE TEMPORARY TABLE tmp (a INT); CREATE TABLE s (id SERIAL)").await.unwrap();
}

#[tokio::test]
async fn savepoints_are_refused_inside_a_transaction_which_then_is_over() {
    let f = Front::start().await;
    let admin = f.table(1).await;
    admin.batch_execute("BEGIN; UPDATE t SET v = 1 WHERE id = 1").await.unwrap();
    let e = admin.batch_execute("SAVEPOINT s").await.unwrap_err();
    assert_eq!(db_error(&e).0, "0A000");
    let e = admin.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(db_error(&e).0, "25P02", "commands are ignored until the transaction ends");
    admin.batch_execute("ROLLBACK").await.unwrap();
    let v: i32 = admin.query_one("SELECT v FROM t WHERE id = 1", &[]).await.unwrap().get(0);
    assert_eq!(v, 100, "the transaction's write was rolled back");
}

#[tokio::test]
async fn one_ddl_per_transaction_and_no_ddl_with_dml() {
    let f = Front::start().await;
    let admin = f.table(1).await;
    admin.batch_execute("BEGIN; CREATE TABLE a (x INT PRIMARY KEY)").await.unwrap();
    let e = admin.batch_execute("CREATE TABLE b (x INT PRIMARY KEY)").await.unwrap_err();
    assert_eq!(db_error(&e).0, "0A000", "{e}");
    admin.batch_execute("ROLLBACK").await.unwrap();
    admin.batch_execute("BEGIN; UPDATE t SET v = 1 WHERE id = 1").await.unwrap();
    let e = admin.batch_execute("CREATE TABLE c (x INT PRIMARY KEY)").await.unwrap_err();
    assert_eq!(db_error(&e).0, "0A000", "{e}");
    admin.batch_execute("ROLLBACK").await.unwrap();
    admin.batch_execute("BEGIN; CREATE TABLE d (x INT PRIMARY KEY)").await.unwrap();
    let e = admin.batch_execute("INSERT INTO t VALUES (9, 9)").await.unwrap_err();
    assert_eq!(db_error(&e).0, "0A000", "{e}");
    admin.batch_execute("ROLLBACK").await.unwrap();
    // One DDL alone commits.
    admin.batch_execute("BEGIN; CREATE TABLE e (x INT PRIMARY KEY); COMMIT").await.unwrap();
}

#[tokio::test]
async fn a_transaction_may_change_at_most_the_row_limit() {
    let f = Front::with_limits(Limits { rows_per_transaction: 10, ..Limits::default() }).await;
    let admin = f.table(20).await;
    admin.batch_execute("BEGIN").await.unwrap();
    admin.execute("UPDATE t SET v = 0 WHERE id <= 10", &[]).await.unwrap();
    let e = admin.execute("UPDATE t SET v = 0 WHERE id = 11", &[]).await.unwrap_err();
    let (code, message) = db_error(&e);
    assert_eq!(code, "54000", "{message}");
    admin.batch_execute("ROLLBACK").await.unwrap();
    // Outside a transaction too: the statement is its transaction.
    let e = admin.execute("UPDATE t SET v = 0", &[]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "54000");
    let zero: i64 = admin.query_one("SELECT count(*) FROM t WHERE v = 0", &[]).await.unwrap().get(0);
    assert_eq!(zero, 0, "nothing of the refused transactions was kept");
}

#[tokio::test]
async fn a_transaction_older_than_the_age_limit_is_refused() {
    let f = Front::with_limits(Limits { transaction_age: Duration::from_millis(300), ..Limits::default() }).await;
    let admin = f.table(1).await;
    admin.batch_execute("BEGIN; UPDATE t SET v = 1 WHERE id = 1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let e = admin.batch_execute("COMMIT").await.unwrap_err();
    let (code, message) = db_error(&e);
    assert_eq!(code, "54000");
    assert!(message.contains("age limit"), "{message}");
    let v: i32 = admin.query_one("SELECT v FROM t WHERE id = 1", &[]).await.unwrap().get(0);
    assert_eq!(v, 100);
}

#[tokio::test]
async fn connections_past_the_count_and_the_rate_are_refused() {
    let f = Front::with_limits(Limits { max_connections: 2, ..Limits::default() }).await;
    let (_a, _b) = (f.admin().await, f.admin().await);
    let e = f.target("admin", "AKIDLOCALADMIN").connect().await.unwrap_err();
    assert!(e.error_message.contains("53300"), "{e}");
    let f = Front::with_limits(Limits { connection_rate: 0.001, connection_burst: 3.0, ..Limits::default() }).await;
    for _ in 0..3 {
        drop(f.admin().await);
    }
    let e = f.target("admin", "AKIDLOCALADMIN").connect().await.unwrap_err();
    assert!(e.error_message.contains("53400"), "{e}");
}

#[tokio::test]
async fn an_async_index_is_a_job_that_completes_or_fails_on_duplicates() {
    let f = Front::start().await;
    let admin = f.table(3).await;
    let job = job_id(&admin, "CREATE INDEX ASYNC t_v ON t (v)").await;
    let done: bool = admin.query_one(&format!("CALL sys.wait_for_job('{job}')"), &[]).await.unwrap().get(0);
    assert!(done);
    let status: String =
        admin.query_one("SELECT status FROM sys.jobs WHERE job_id = $1", &[&job]).await.unwrap().get(0);
    assert_eq!(status.to_lowercase(), "completed");
    let plain = f.plain().await;
    let exists: i64 =
        plain.query_one("SELECT count(*) FROM pg_indexes WHERE indexname = 't_v'", &[]).await.unwrap().get(0);
    assert_eq!(exists, 1);
    // Every row holds 100: a unique index cannot be built.
    let job = job_id(&admin, "CREATE UNIQUE INDEX ASYNC t_v_unique ON t (v)").await;
    let done: bool = admin.query_one(&format!("CALL sys.wait_for_job('{job}')"), &[]).await.unwrap().get(0);
    assert!(!done);
    let row = admin.query_one("SELECT status, details FROM sys.jobs WHERE job_id = $1", &[&job]).await.unwrap();
    let (status, details): (String, Option<String>) = (row.get(0), row.get(1));
    assert_eq!(status.to_lowercase(), "failed");
    assert!(details.unwrap_or_default().contains("duplicate"));
}

async fn job_id(client: &tokio_postgres::Client, sql: &str) -> String {
    let messages = client.simple_query(sql).await.unwrap();
    messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get("job_id").map(str::to_string),
            _ => None,
        })
        .expect("CREATE INDEX ASYNC answers with a job_id")
}

#[tokio::test]
async fn after_an_error_a_transaction_answers_each_statement_once_until_it_ends() {
    let f = Front::start().await;
    let admin = f.table(1).await;
    admin.batch_execute("BEGIN").await.unwrap();
    let e = admin.batch_execute("SELECT 1 / 0").await.unwrap_err();
    assert_eq!(db_error(&e).0, "22012");
    // One error per statement (a second would leave the client out of step).
    let e = admin.execute("UPDATE t SET v = 0 WHERE id = 1", &[]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "25P02");
    admin.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(admin.query_one("SELECT 1::int", &[]).await.unwrap().get::<_, i32>(0), 1);
    let e = admin.batch_execute("COPY t FROM STDIN").await.unwrap_err();
    assert_eq!(db_error(&e).0, "0A000");
}

/// DSQL builds an index asynchronously without blocking writes to its table. PostgreSQL's
/// plain `CREATE INDEX` takes a SHARE lock: with a writer still open on the table, the
/// build queues for it and every later writer queues behind the build. The front's
/// build is concurrent: a write made while the build waits answers at once.
#[tokio::test]
async fn an_index_build_never_blocks_writes_to_its_table() {
    let f = Front::start().await;
    let admin = f.table(3).await;
    let open = f.admin().await;
    let plain = f.plain().await;
    // A transaction with a write on t, left open: the build must wait for it.
    open.batch_execute("BEGIN; UPDATE t SET v = v + 1 WHERE id = 1").await.unwrap();
    let job = job_id(&admin, "CREATE INDEX ASYNC t_v ON t (v)").await;
    until_lock_wait(&plain).await;
    // Another writer of the table, while the build waits: it answers at once and commits.
    let writer = f.admin().await;
    let changed = answers(writer.execute("UPDATE t SET v = v + 1 WHERE id = 2", &[])).await.unwrap();
    assert_eq!(changed, 1);
    let status: String =
        admin.query_one("SELECT status FROM sys.jobs WHERE job_id = $1", &[&job]).await.unwrap().get(0);
    assert_eq!(status.to_lowercase(), "processing", "the write went through while the build was running");
    open.batch_execute("COMMIT").await.unwrap();
    let done: bool = admin.query_one(&format!("CALL sys.wait_for_job('{job}')"), &[]).await.unwrap().get(0);
    assert!(done);
    let valid: bool = plain
        .query_one("SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.t_v'::regclass", &[])
        .await
        .unwrap()
        .get(0);
    assert!(valid);
    // A unique build that fails leaves no half-built index behind.
    let dup = job_id(&admin, "CREATE UNIQUE INDEX ASYNC t_v_dup ON t (v)").await;
    let done: bool = admin.query_one(&format!("CALL sys.wait_for_job('{dup}')"), &[]).await.unwrap().get(0);
    assert!(!done, "rows 1 and 2 both hold 101");
    let left: i64 =
        plain.query_one("SELECT count(*) FROM pg_indexes WHERE indexname = 't_v_dup'", &[]).await.unwrap().get(0);
    assert_eq!(left, 0, "the failed build's invalid index is dropped");
    // Plain PostgreSQL: the same writer waits behind a plain CREATE INDEX.
    open.batch_execute("BEGIN").await.unwrap();
    plain.batch_execute("BEGIN; UPDATE t SET v = v + 1 WHERE id = 1").await.unwrap();
    let builder = f.plain().await;
    let build = tokio::spawn(async move { builder.batch_execute("CREATE INDEX t_v_plain ON t (v)").await });
    let watcher = f.plain().await;
    until_lock_wait(&watcher).await;
    let late = f.plain().await;
    let waited =
        tokio::time::timeout(Duration::from_millis(500), late.execute("UPDATE t SET v = v WHERE id = 3", &[])).await;
    assert!(waited.is_err(), "on plain PostgreSQL the writer queues behind the build");
    plain.batch_execute("COMMIT").await.unwrap();
    build.await.unwrap().unwrap();
    open.batch_execute("ROLLBACK").await.unwrap();
}

//! Set-up and invariants against a real PostgreSQL (a throwaway cluster), directly and
//! through the local DSQL front.

use transfer::local::{LocalPostgres, PgOptions};

use super::*;
use crate::invariants::expr::Expr;
use crate::invariants::{Expect, Outcome, Query, RunCounts};
use crate::local_stack::{LocalDatabase, LocalDb};

fn sql_file(statements: &[&str]) -> SqlFile {
    SqlFile { path: "schema.sql".into(), statements: statements.iter().map(|s| s.to_string()).collect() }
}

/// Items with a stock each: 2,500 rows loaded in batches of 1,000.
fn items(rows: i64) -> DataSetup {
    let load = LoadSpec {
        sql: "INSERT INTO items (id, stock) SELECT g, 100 FROM generate_series($1::int, $2::int) g \
              ON CONFLICT DO NOTHING"
            .into(),
        rows,
        batch: 1_000,
    };
    let custom = DataPlan {
        setup: Some(sql_file(&[
            "CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY, stock INT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS reservations (id INT PRIMARY KEY, item INT NOT NULL, qty INT NOT NULL)",
        ])),
        reset: Some(sql_file(&["UPDATE items SET stock = 100 WHERE stock <> 100", "DELETE FROM reservations"])),
        loads: vec![load],
        values: [("stock".to_string(), 100), ("items".to_string(), rows)].into(),
    };
    DataSetup { spec: DataSpec { accounts: 2, initial_balance: 0 }, custom }
}

fn invariant(name: &str, sql: &str, expect: Expect) -> Invariant {
    Invariant { name: name.into(), query: Query::Sql(sql.into()), expect }
}

fn e(text: &str) -> Expr {
    Expr::parse(text).unwrap()
}

fn stock_checks(data: &DataSetup, extra: Vec<Invariant>) -> Checks {
    let mut invariants = vec![
        invariant("items", "SELECT count(*) FROM items", Expect::Equals(e("items"))),
        // A bigint sum is a numeric: read exactly.
        invariant("stock kept", "SELECT sum(stock::bigint) FROM items", Expect::Equals(e("items * stock"))),
        invariant("stock never negative", "SELECT min(stock) FROM items", Expect::AtLeast(Expr::int(0))),
    ];
    invariants.extend(extra);
    Checks { invariants, values: data.custom.values(data.spec), builtin: false }
}

#[tokio::test]
async fn custom_data_loads_in_batches_and_its_invariants_pass_fail_and_say_why() {
    let pg = LocalPostgres::start_async(PgOptions::default()).await.unwrap();
    let db = DbTarget::Url(pg.url());
    let data = items(2_500);
    setup(&db, &data, false, false).await.unwrap();
    setup(&db, &data, false, false).await.expect("re-running set-up is safe");
    let client = db.connect().await.unwrap();
    let v = verify(&client, &stock_checks(&data, vec![]), None).await;
    assert!(v.passed, "{v:#?}");
    assert_eq!(v.summary(), "PASS (3 invariants hold)");
    assert_eq!(v.invariants[1].value.as_deref(), Some("250000"));

    client.batch_execute("UPDATE items SET stock = -3 WHERE id = 7").await.unwrap();
    let bad = invariant("typo", "SELEC 1", Expect::Equals(Expr::int(1)));
    let two = invariant("two columns", "SELECT 1, 2", Expect::Equals(Expr::int(1)));
    let v = verify(&client, &stock_checks(&data, vec![bad, two]), None).await;
    assert!(!v.passed && v.could_not_run.is_none(), "{v:#?}");
    assert_eq!(
        v.lines(),
        [
            "items: 2500, expected = items = 2500: PASS",
            "stock kept: 249897, expected = items * stock = 250000: FAIL (off by 103)",
            "stock never negative: -3, expected >= 0: FAIL (off by 3)",
            "typo: COULD NOT RUN: syntax error at or near \"SELEC\" (42601)",
            "two columns: COULD NOT RUN: the query returned 2 columns; it must return exactly one",
        ]
    );
    assert_eq!(v.problems.len(), 4);

    setup(&db, &data, true, false).await.unwrap();
    assert!(verify(&client, &stock_checks(&data, vec![]), None).await.passed, "the reset file restores the stock");
}

#[tokio::test]
async fn deltas_with_before_and_the_run_counts() {
    let pg = LocalPostgres::start_async(PgOptions::default()).await.unwrap();
    let db = DbTarget::Url(pg.url());
    let data = items(10);
    setup(&db, &data, false, false).await.unwrap();
    let reserved = invariant(
        "reservations",
        "SELECT count(*) FROM reservations",
        Expect::Between(e("before + successes"), e("before + successes + unknown")),
    );
    let checks = stock_checks(&data, vec![reserved]);
    let client = db.connect().await.unwrap();
    client.batch_execute("INSERT INTO reservations VALUES (1, 1, 1), (2, 2, 1)").await.unwrap();
    let before = before(&client, &checks).await;
    assert_eq!(before[3].as_ref().unwrap().as_ref().unwrap().integer(), Some(2));
    // The "run": 5 reservations reported, and one more that committed unseen.
    client.batch_execute("INSERT INTO reservations SELECT g, g, 1 FROM generate_series(3, 8) g").await.unwrap();
    let counts = RunCounts { calls: 8, successes: 5, failures: 3, unknown: 1 };
    let run = RunContext { counts, before: before.clone() };
    let v = verify(&client, &checks, Some(&run)).await;
    assert!(v.passed, "{v:#?}");
    assert_eq!(
        v.lines()[3],
        "reservations: 8, expected between before + successes = 7 and before + successes + unknown = 8: PASS"
    );
    let run = RunContext { counts: RunCounts { unknown: 0, ..counts }, before };
    let v = verify(&client, &checks, Some(&run)).await;
    assert_eq!(
        v.problems,
        ["reservations: 8, expected between before + successes = 7 and \
        before + successes + unknown = 7: FAIL (off by 1)"]
    );
    let v = verify(&client, &checks, None).await;
    assert!(v.passed && matches!(v.invariants[3].outcome, Outcome::Skipped { .. }), "{v:#?}");
    assert_eq!(v.summary(), "PASS (3 invariants hold, 1 skipped)");
}

#[tokio::test]
async fn an_unreachable_database_could_not_run() {
    let pg = LocalPostgres::start_async(PgOptions::default()).await.unwrap();
    let url = pg.url();
    drop(pg);
    let data = items(10);
    let v = verify_connected(DbTarget::Url(url).connect().await, &stock_checks(&data, vec![]), None).await;
    assert!(!v.passed, "{v:#?}");
    assert!(v.could_not_run.as_deref().is_some_and(|w| w.contains("cannot connect")), "{v:#?}");
    assert!(v.summary().starts_with("COULD NOT RUN: cannot connect"), "{}", v.summary());
    assert_eq!(v.lines()[0], "items: COULD NOT RUN: the database is out of reach");
    assert_eq!(v.invariants.len(), 3);
}

#[tokio::test]
async fn the_builtin_list_on_its_own_schema_through_the_local_dsql_front() {
    // The transfer's schema given as the scenario's own: four DDL statements in one
    // file, each its own transaction as the DSQL front demands, its indexes built by
    // jobs that are waited for.
    let ddl = transfer::schema::ddl(Dialect::Dsql);
    let mut data = items(1);
    data.spec = DataSpec { accounts: 300, initial_balance: 100 };
    data.custom.setup = Some(sql_file(&ddl));
    data.custom.loads[0] = LoadSpec {
        sql: "INSERT INTO accounts (id, balance) SELECT g, 100 FROM generate_series($1::int, $2::int) g \
              ON CONFLICT (id) DO NOTHING"
            .into(),
        rows: 300,
        batch: 128,
    };
    let db = LocalDatabase::start(None, data.clone(), false, false, LocalDb::Dsql).await.unwrap();
    let checks = Checks { values: data.custom.values(data.spec), ..Checks::builtin(data.spec) };
    let v = verify(&db.client, &checks, None).await;
    assert!(v.passed, "{v:#?}");
    assert!(v.summary().starts_with("PASS (sum of balances 30000 = 300 accounts x 100;"), "{}", v.summary());
    assert_eq!((v.accounts, v.balance_sum, v.min_balance, v.inconsistent_accounts), (300, 30_000, Some(100), 0));
    assert_eq!(v.lines()[4], "history rows: 0, skipped (needs a run's counts: before, successes, unknown)");
    let indexes = "SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'idx_transactions_%'";
    assert_eq!(db.client.query_one(indexes, &[]).await.unwrap().get::<_, i64>(0), 2);

    db.client.batch_execute("UPDATE accounts SET balance = balance + 1 WHERE id = 7").await.unwrap();
    let v = verify(&db.client, &checks, None).await;
    assert_eq!(
        v.problems,
        [
            "sum of balances: 30001, expected = accounts * initial_balance = 30000: FAIL (off by 1)",
            "accounts inconsistent with their history: 1, expected = 0: FAIL (off by 1)",
        ]
    );
}

#[test]
fn the_default_invariants_follow_the_workload_and_the_data() {
    let checks = |text: &str| {
        let text = format!("{text}\n[load]\nmodel = \"batches\"\nparallel = 1\nbatches = 1\n");
        let c = Checks::of_plan(&crate::scenario::parse("s.toml", &text, &Default::default()).unwrap());
        (c.invariants.len(), c.builtin)
    };
    let own = "[[data.load]]\nsql = \"SELECT $1::int, $2::int\"\nrows = 1\n";
    assert_eq!(checks(""), (5, true), "the built-in transfer: the built-in list");
    assert_eq!(checks(own), (5, true), "the built-in transfer on its own schema, still");
    assert_eq!(checks("[workload]\nop = \"greeting\""), (4, true), "no history rows for greetings");
    assert_eq!(checks(&format!("[workload]\nop = \"greeting\"\n{own}")), (0, false), "own data: nothing");
    let verify = "[[verify]]\nname = \"one\"\nsql = \"SELECT 1\"\nequals = 1\n";
    assert_eq!(checks(verify), (1, false), "[[verify]] replaces the built-in list");
}

#[tokio::test]
async fn a_locked_table_ends_verification_at_its_timeout_as_could_not_run() {
    let pg = LocalPostgres::start_async(PgOptions::default()).await.unwrap();
    let db = DbTarget::Url(pg.url());
    let data = items(10);
    setup(&db, &data, false, false).await.unwrap();
    // Another session holds the table in an open transaction.
    let locker = db.connect().await.unwrap();
    locker.batch_execute("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let client = db.connect().await.unwrap();
    let limit = std::time::Duration::from_millis(300);
    let v = verify_within(&client, &stock_checks(&data, vec![]), None, limit).await;
    assert!(!v.passed, "{v:#?}");
    assert_eq!(
        v.summary(),
        "COULD NOT RUN: the database did not answer within 300 ms: the query of items timed out \
         (a table locked by another session, or a database that does not answer)"
    );
    assert_eq!(
        v.lines()[0],
        "items: COULD NOT RUN: timed out after 300 ms: the query did not finish and was cancelled \
         (a table locked by another session, or a database that does not answer)"
    );
    assert_eq!(v.lines()[1], "stock kept: COULD NOT RUN: not run: the query of items before it timed out");
    assert_eq!(v.invariants.len(), 3);
    // The query was cancelled on the server: the connection answers while the lock is held.
    assert_eq!(client.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0), 1);
    locker.batch_execute("COMMIT").await.unwrap();
    let v = verify_within(&client, &stock_checks(&data, vec![]), None, limit).await;
    assert!(v.passed && v.could_not_run.is_none(), "{v:#?}");
}

#[tokio::test]
async fn a_server_view_that_outlasts_its_limit_is_incomplete_and_says_so() {
    let pg = LocalPostgres::start_async(PgOptions::default()).await.unwrap();
    let client = DbTarget::Url(pg.url()).connect().await.unwrap();
    // Settling takes two reads 200 ms apart: 50 ms cannot be enough.
    let limit = std::time::Duration::from_millis(50);
    let source = crate::server::local::ConflictSource::Log(None);
    let e = crate::server::local::snapshot_within(&client, source, &[], limit).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "incomplete: PostgreSQL's statistics (pg_stat_activity, pg_stat_database) did not answer within 0.05 s; \
         the query was cancelled"
    );
    assert_eq!(client.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0), 1);
}

#[tokio::test]
async fn a_database_that_stops_answering_ends_verification_through_the_local_dsql_front_too() {
    // The front turns a lock wait into DSQL's OC000, as DSQL has no locks; what can hold
    // a query there is a database that does not answer, here one slow beyond the limit.
    let data = items(10);
    let db = LocalDatabase::start(None, data.clone(), false, false, LocalDb::Dsql).await.unwrap();
    db.front.as_ref().unwrap().set_latency(std::time::Duration::from_secs(30));
    let limit = std::time::Duration::from_millis(300);
    let v = verify_within(&db.client, &stock_checks(&data, vec![]), None, limit).await;
    assert_eq!(
        v.summary(),
        "COULD NOT RUN: the database did not answer within 300 ms: the query of items timed out \
         (a table locked by another session, or a database that does not answer)"
    );
    assert!(v.lines()[0].starts_with("items: COULD NOT RUN: timed out after 300 ms"), "{:?}", v.lines());
}

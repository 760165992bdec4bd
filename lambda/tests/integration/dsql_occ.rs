//! Conformance probes for optimistic concurrency, written from the DSQL documentation
//! ("Concurrency control in Aurora DSQL"): snapshot at BEGIN, no statement waits,
//! write-write conflicts at COMMIT with OC000 (first committer wins), reads never
//! conflict, write skew allowed, OC001 after a concurrent schema change. Where plain
//! PostgreSQL answers otherwise, the same probe against it shows why the mode exists.

use super::dsql_support::{answers, db_error, until_lock_wait, Front};

const OC000: &str = "mutation conflicts with another transaction, retry as needed (OC000)";

#[tokio::test]
async fn write_write_conflict_surfaces_at_commit_not_at_the_update() {
    let f = Front::start().await;
    let admin = f.table(2).await;
    let (a, b) = (f.admin().await, f.admin().await);
    a.batch_execute("BEGIN").await.unwrap();
    let after_a: i32 = a.query_one("UPDATE t SET v = v + 1 WHERE id = 1 RETURNING v", &[]).await.unwrap().get(0);
    assert_eq!(after_a, 101);
    b.batch_execute("BEGIN").await.unwrap();
    // B's UPDATE answers at once, as at its snapshot: 100 + 10.
    let after_b: i32 =
        answers(b.query_one("UPDATE t SET v = v + 10 WHERE id = 1 RETURNING v", &[])).await.unwrap().get(0);
    assert_eq!(after_b, 110);
    let n = answers(b.execute("UPDATE t SET v = v + 1 WHERE id = $1", &[&1])).await.unwrap();
    assert_eq!(n, 1, "the row count is the write's, as at the snapshot");
    a.batch_execute("COMMIT").await.unwrap();
    let e = answers(b.batch_execute("COMMIT")).await.unwrap_err();
    assert_eq!(db_error(&e), ("40001".to_string(), OC000.to_string()));
    let v: i32 = admin.query_one("SELECT v FROM t WHERE id = 1", &[]).await.unwrap().get(0);
    assert_eq!(v, 101, "only the first committer's write is there");
    assert_eq!(f.front.oc000(), 1);
    // The session goes on: a new transaction on B works.
    b.batch_execute("BEGIN; UPDATE t SET v = v + 1 WHERE id = 2; COMMIT").await.unwrap();
}

#[tokio::test]
async fn plain_postgresql_makes_the_second_writer_wait_and_fails_it_at_the_update() {
    let f = Front::start().await;
    f.table(1).await;
    let (a, b, watcher) = (f.plain().await, f.plain().await, f.plain().await);
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; UPDATE t SET v = v + 1 WHERE id = 1").await.unwrap();
    b.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1").await.unwrap();
    let update =
        tokio::spawn(
            async move { b.execute("UPDATE t SET v = v + 10 WHERE id = 1", &[]).await.map_err(|e| db_error(&e)) },
        );
    until_lock_wait(&watcher).await;
    a.batch_execute("COMMIT").await.unwrap();
    let (code, message) = update.await.unwrap().unwrap_err();
    assert_eq!(code, "40001");
    assert_eq!(message, "could not serialize access due to concurrent update", "at the UPDATE, in PostgreSQL's words");
}

#[tokio::test]
async fn when_the_first_writer_rolls_back_the_second_commits_its_write() {
    let f = Front::start().await;
    let admin = f.table(1).await;
    let (a, b) = (f.admin().await, f.admin().await);
    a.batch_execute("BEGIN; UPDATE t SET v = v + 1 WHERE id = 1").await.unwrap();
    b.batch_execute("BEGIN").await.unwrap();
    answers(b.execute("UPDATE t SET v = v + 10 WHERE id = 1", &[])).await.unwrap();
    a.batch_execute("ROLLBACK").await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    let v: i32 = admin.query_one("SELECT v FROM t WHERE id = 1", &[]).await.unwrap().get(0);
    assert_eq!(v, 110);
    assert_eq!(f.front.oc000(), 0);
}

#[tokio::test]
async fn select_for_update_conflicts_with_a_write() {
    let f = Front::start().await;
    f.table(1).await;
    let (a, b) = (f.admin().await, f.admin().await);
    a.batch_execute("BEGIN").await.unwrap();
    let v: i32 = a.query_one("SELECT v FROM t WHERE id = 1 FOR UPDATE", &[]).await.unwrap().get(0);
    assert_eq!(v, 100);
    b.batch_execute("BEGIN").await.unwrap();
    answers(b.execute("UPDATE t SET v = 0 WHERE id = 1", &[])).await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    let e = answers(b.batch_execute("COMMIT")).await.unwrap_err();
    assert_eq!(db_error(&e).1, OC000);
}

#[tokio::test]
async fn writes_to_different_rows_both_commit() {
    let f = Front::start().await;
    f.table(2).await;
    let (a, b) = (f.admin().await, f.admin().await);
    a.batch_execute("BEGIN; UPDATE t SET v = 1 WHERE id = 1").await.unwrap();
    b.batch_execute("BEGIN; UPDATE t SET v = 2 WHERE id = 2").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test]
async fn reads_never_conflict_and_see_the_snapshot_taken_at_begin() {
    let f = Front::start().await;
    let admin = f.table(1).await;
    let reader = f.admin().await;
    reader.batch_execute("BEGIN").await.unwrap();
    // Changed and committed after BEGIN, before the reader's first statement.
    admin.execute("UPDATE t SET v = 5 WHERE id = 1", &[]).await.unwrap();
    let v: i32 = reader.query_one("SELECT v FROM t WHERE id = 1", &[]).await.unwrap().get(0);
    assert_eq!(v, 100, "DSQL takes the snapshot at BEGIN");
    reader.batch_execute("COMMIT").await.unwrap();
    // Plain PostgreSQL takes it at the first statement.
    let plain = f.plain().await;
    plain.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.unwrap();
    admin.execute("UPDATE t SET v = 6 WHERE id = 1", &[]).await.unwrap();
    let v: i32 = plain.query_one("SELECT v FROM t WHERE id = 1", &[]).await.unwrap().get(0);
    assert_eq!(v, 6);
    plain.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test]
async fn write_skew_is_allowed_as_on_dsql() {
    let f = Front::start().await;
    let admin = f.table(2).await;
    let (a, b) = (f.admin().await, f.admin().await);
    for c in [&a, &b] {
        c.batch_execute("BEGIN").await.unwrap();
        let total: i64 = c.query_one("SELECT sum(v) FROM t", &[]).await.unwrap().get(0);
        assert_eq!(total, 200);
    }
    a.execute("UPDATE t SET v = 0 WHERE id = 1", &[]).await.unwrap();
    b.execute("UPDATE t SET v = 0 WHERE id = 2", &[]).await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    let total: i64 = admin.query_one("SELECT sum(v) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(total, 0, "each read the other's row unchanged; neither wrote it");
}

#[tokio::test]
async fn a_schema_change_under_a_writing_transaction_gives_oc001_at_its_commit() {
    let f = Front::start().await;
    f.table(1).await;
    let (a, ddl, watcher) = (f.admin().await, f.admin().await, f.plain().await);
    a.batch_execute("BEGIN; UPDATE t SET v = 1 WHERE id = 1").await.unwrap();
    let alter = tokio::spawn(async move { ddl.batch_execute("ALTER TABLE t ADD COLUMN note TEXT").await });
    until_lock_wait(&watcher).await;
    let e = answers(a.batch_execute("COMMIT")).await.unwrap_err();
    let (code, message) = db_error(&e);
    assert_eq!(code, "40001");
    assert!(message.contains("(OC001)"), "{message}");
    alter.await.unwrap().unwrap();
    assert_eq!(f.front.oc001(), 1);
}

#[tokio::test]
async fn many_transfers_at_once_never_deadlock_and_conserve_money() {
    let f = Front::start().await;
    let admin = f.table(4).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = f.admin().await;
        tasks.push(tokio::spawn(async move {
            let (mut committed, mut conflicts) = (0, 0);
            for k in 0..25 {
                let (from, to) = ((i + k) % 4 + 1, (i + 2 * k + 1) % 4 + 1);
                if from == to {
                    continue;
                }
                let run = async {
                    client.batch_execute("BEGIN").await?;
                    client.execute("UPDATE t SET v = v - 1 WHERE id = $1", &[&from]).await?;
                    client.execute("UPDATE t SET v = v + 1 WHERE id = $1", &[&to]).await?;
                    client.batch_execute("COMMIT").await
                };
                match answers(run).await {
                    Ok(()) => committed += 1,
                    Err(e) => {
                        let (code, message) = db_error(&e);
                        assert_eq!((code.as_str(), message.as_str()), ("40001", OC000), "no 40P01, no lock timeout");
                        let _ = client.batch_execute("ROLLBACK").await;
                        conflicts += 1;
                    }
                }
            }
            (committed, conflicts)
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap().1;
    }
    let total: i64 = admin.query_one("SELECT sum(v) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(total, 400);
    assert_eq!(f.front.oc000(), conflicts as u64);
}

#[tokio::test]
async fn a_deferred_write_of_the_unnamed_statement_keeps_the_clients_statement() {
    // `query_typed` uses the unnamed statement, as node-postgres and libpq's PQexecParams do.
    let f = Front::start().await;
    let admin = f.table(1).await;
    let (a, b) = (f.admin().await, f.admin().await);
    a.batch_execute("BEGIN; UPDATE t SET v = v + 1 WHERE id = 1").await.unwrap();
    b.batch_execute("BEGIN").await.unwrap();
    let sql = "UPDATE t SET v = v - $1 WHERE id = $2 RETURNING v";
    let int4 = tokio_postgres::types::Type::INT4;
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), _); 2] = [(&5i32, int4.clone()), (&1i32, int4)];
    let rows = answers(b.query_typed(sql, &params)).await.unwrap();
    assert_eq!(rows[0].get::<_, i32>(0), 95, "answered at the snapshot");
    a.batch_execute("ROLLBACK").await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    let v: i32 = admin.query_one("SELECT v FROM t WHERE id = 1", &[]).await.unwrap().get(0);
    assert_eq!(v, 95, "the deferred write was applied at COMMIT");
}

#[tokio::test]
async fn statements_sent_together_without_begin_commit_together_or_not_at_all() {
    let f = Front::start().await;
    let admin = f.table(2).await;
    let (a, b) = (f.admin().await, f.admin().await);
    a.batch_execute("BEGIN; UPDATE t SET v = v + 1 WHERE id = 2").await.unwrap();
    let pending = tokio::spawn(async move {
        let batch = b.batch_execute("UPDATE t SET v = v - 10 WHERE id = 1; UPDATE t SET v = v + 10 WHERE id = 2");
        answers(batch).await.map_err(|e| db_error(&e))
    });
    // The batch's second write meets A's row: it is deferred, A commits first, the batch conflicts.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    a.batch_execute("COMMIT").await.unwrap();
    let outcome = pending.await.unwrap();
    let v1: i32 = admin.query_one("SELECT v FROM t WHERE id = 1", &[]).await.unwrap().get(0);
    match outcome {
        Err((code, message)) => {
            assert_eq!((code.as_str(), message.as_str()), ("40001", OC000));
            assert_eq!(v1, 100, "the debit was not committed without its credit");
        }
        // The batch ran before A's lock mattered: then both writes committed.
        Ok(()) => assert_eq!(v1, 90),
    }
}

#[tokio::test]
async fn a_deferred_write_whose_replay_would_answer_otherwise_conflicts() {
    let f = Front::start().await;
    let admin = f.table(1).await;
    let (a, b) = (f.admin().await, f.admin().await);
    a.batch_execute("BEGIN; UPDATE t SET v = v WHERE id = 1").await.unwrap();
    b.batch_execute("BEGIN").await.unwrap();
    let debit = "UPDATE t SET v = v - 60 WHERE id = 1 AND v >= 60";
    // Both answered at the snapshot (v = 100): each says it debited.
    assert_eq!(answers(b.execute(debit, &[])).await.unwrap(), 1);
    assert_eq!(answers(b.execute(debit, &[])).await.unwrap(), 1);
    a.batch_execute("ROLLBACK").await.unwrap();
    // Replayed, the second debit would change nothing: not what B was told.
    let e = answers(b.batch_execute("COMMIT")).await.unwrap_err();
    assert_eq!(db_error(&e).1, OC000);
    let v: i32 = admin.query_one("SELECT v FROM t WHERE id = 1", &[]).await.unwrap().get(0);
    assert_eq!(v, 100);
}

/// A table locked from outside the front (PostgreSQL's LOCK TABLE, which DSQL does not
/// have): the front's statements cannot wait for it, so each answers at once, with an
/// error or a result, and every answer is well formed: the session carries on once the
/// lock is gone. (Under such a lock `harness run` saw "unexpected message from server".)
#[tokio::test]
async fn statements_under_an_outside_table_lock_answer_well_formed_and_the_session_goes_on() {
    let f = Front::start().await;
    let _admin = f.table(4).await;
    let plain = f.plain().await;
    plain.batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let b = f.admin().await;
    let mut answers_seen = Vec::new();
    for round in 0..20 {
        let id = 1 + round % 4;
        let steps = async {
            b.batch_execute("BEGIN").await?;
            let read = b.query_opt("SELECT v FROM t WHERE id = $1", &[&id]).await?;
            b.execute("UPDATE t SET v = v - 1 WHERE id = $1", &[&id]).await?;
            b.batch_execute("COMMIT").await?;
            Ok::<_, tokio_postgres::Error>(read.is_some())
        };
        let outcome = answers(steps).await;
        if let Err(e) = &outcome {
            let malformed = e.as_db_error().is_none() && !e.is_closed();
            assert!(!malformed, "round {round}: not a database error but {e:?}");
            let _ = answers(b.batch_execute("ROLLBACK")).await;
        }
        answers_seen.push(outcome.map_err(|e| db_error(&e)));
    }
    plain.batch_execute("COMMIT").await.unwrap();
    let v: i32 = answers(b.query_one("SELECT v FROM t WHERE id = $1", &[&1])).await.unwrap().get(0);
    assert!(v <= 100, "{answers_seen:?}");
    answers(b.batch_execute("BEGIN; UPDATE t SET v = v + 1 WHERE id = 2; COMMIT")).await.unwrap();
}

/// The same with the lock taken and released every few milliseconds, so that retries
/// inside the front meet it both held and gone, through statements prepared once (as
/// the transfer function does) and through fresh connections preparing theirs.
#[tokio::test]
async fn statements_around_a_flickering_table_lock_answer_well_formed() {
    let f = Front::start().await;
    let _admin = f.table(4).await;
    let plain = f.plain().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flicker = {
        let stop = stop.clone();
        tokio::spawn(async move {
            for _ in 0..2_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                plain.batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE").await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
                plain.batch_execute("COMMIT").await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        })
    };
    let mut malformed = Vec::new();
    for round in 0..300 {
        let b = match answers(f.target("admin", "AKIDLOCALADMIN").connect()).await {
            Ok(b) => b,
            Err(e) => {
                let text = format!("{e:?}");
                malformed.extend(text.contains("unexpected message").then(|| format!("connect {round}: {text}")));
                continue;
            }
        };
        let steps = async {
            let debit = b.prepare("UPDATE t SET v = v - $1 WHERE id = $2 RETURNING v").await?;
            let credit = b.prepare("UPDATE t SET v = v + $1 WHERE id = $2").await?;
            for k in 0..3 {
                b.batch_execute("BEGIN").await?;
                let rows = b.query(&debit, &[&1i32, &(1 + k % 4)]).await;
                let rows = match rows {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = b.batch_execute("ROLLBACK").await;
                        return Err(e);
                    }
                };
                assert!(rows.len() <= 1);
                if let Err(e) = b.execute(&credit, &[&1i32, &(2 + k % 3)]).await {
                    let _ = b.batch_execute("ROLLBACK").await;
                    return Err(e);
                }
                b.batch_execute("COMMIT").await?;
            }
            Ok::<_, tokio_postgres::Error>(())
        };
        if let Err(e) = answers(steps).await {
            if e.as_db_error().is_none() {
                malformed.push(format!("round {round}: {e:?}"));
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flicker.await.unwrap();
    assert!(malformed.is_empty(), "{} answers the client could not read: {malformed:#?}", malformed.len());
}

//! The transfer function against a real PostgreSQL with real concurrency.

use futures::future::join_all;
use serde_json::{json, Value};
use transfer::error::{INVALID_REQUEST, OCC_CONFLICT};
use transfer::{Function, FunctionError, RetryPolicy};

use crate::support::TestDb;

/// What a batch of concurrent transfers produced.
#[derive(Default, Debug)]
struct Tally {
    committed: i64,
    refused: i64,
    retries: u64,
    errors: Vec<FunctionError>,
}

/// `workers` environments, each with its own connection, run `per_worker` transfers
/// over accounts 1..=`accounts` in a fixed pseudo-random pattern.
async fn hammer(db: &TestDb, policy: RetryPolicy, workers: usize, per_worker: usize, accounts: i32) -> Tally {
    let runs = (0..workers).map(|w| {
        let mut function = Function::new(db.database(), policy);
        async move {
            let mut out = Vec::new();
            for i in 0..per_worker {
                let n = (w * 7919 + i * 104_729) as i32;
                let payer0 = n.rem_euclid(accounts);
                let payee0 = (payer0 + 1 + (n / accounts).rem_euclid(accounts - 1)) % accounts;
                let (payer, payee) = (payer0 + 1, payee0 + 1);
                assert_ne!(payer, payee);
                out.push(
                    function.invoke(json!({"payer_id": payer, "payee_id": payee, "amount": 1 + i as i32 % 5})).await,
                );
            }
            out
        }
    });
    let mut tally = Tally::default();
    for result in join_all(runs).await.into_iter().flatten() {
        match result {
            Ok(v) => {
                tally.retries += v["retries"].as_u64().expect("retries is a number");
                if v.get("balance").is_some() {
                    tally.committed += 1;
                } else {
                    assert!(v["error"].is_string(), "{v}");
                    tally.refused += 1;
                }
            }
            Err(e) => tally.errors.push(e),
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_retry_conflicts_and_conserve_money() {
    let db = TestDb::new(5, 1_000).await;
    let tally = hammer(&db, RetryPolicy::Unlimited, 16, 25, 5).await;
    assert!(tally.errors.is_empty(), "unlimited retries leave no errors: {:?}", tally.errors);
    assert_eq!(tally.committed + tally.refused, 400);
    assert!(tally.retries > 0, "16 writers on 5 accounts must conflict: {tally:?}");
    let totals = db.totals().await;
    assert_eq!(totals.balance_sum, 5 * 1_000, "money is conserved");
    assert!(totals.min_balance.unwrap() >= 0);
    assert_eq!(totals.history_rows, tally.committed, "one history row per committed transfer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_retries_conflicts_surface_as_40001_and_commit_nothing_partial() {
    let db = TestDb::new(5, 1_000).await;
    let tally = hammer(&db, RetryPolicy::Disabled, 16, 25, 5).await;
    assert!(!tally.errors.is_empty(), "16 writers on 5 accounts must conflict");
    assert_eq!(tally.retries, 0);
    for e in &tally.errors {
        assert_eq!(e.error_type, OCC_CONFLICT, "{e}");
        assert!(e.error_message.contains("(40001)") || e.error_message.contains("(40P01)"), "{e}");
    }
    assert_eq!(tally.committed + tally.refused + tally.errors.len() as i64, 400);
    let totals = db.totals().await;
    assert_eq!(totals.balance_sum, 5 * 1_000, "money is conserved");
    assert!(totals.min_balance.unwrap() >= 0);
    assert_eq!(totals.history_rows, tally.committed, "a failed transfer leaves no history row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_backoff_gives_up_with_the_retry_count() {
    let db = TestDb::new(3, 1_000).await;
    let policy: RetryPolicy = "backoff:1:1:2".parse().unwrap();
    let tally = hammer(&db, policy, 12, 20, 3).await;
    assert!(tally.retries > 0, "{tally:?}");
    for e in &tally.errors {
        assert_eq!(e.error_type, OCC_CONFLICT);
        assert!(e.error_message.ends_with("after 1 retries"), "{e}");
    }
    let totals = db.totals().await;
    assert_eq!(totals.balance_sum, 3 * 1_000);
    assert_eq!(totals.history_rows, tally.committed);
}

#[tokio::test]
async fn workshop_transfer_and_business_errors() {
    let db = TestDb::new(3, 100).await;
    let mut f = Function::new(db.database(), RetryPolicy::Unlimited);
    let ok = f.invoke(json!({"payer_id":1,"payee_id":2,"amount":10})).await.unwrap();
    assert_eq!(ok["balance"], 90);
    assert_eq!(ok["retries"], 0);
    assert!(ok["duration"].is_u64() && ok["duration_us"].as_u64().unwrap() > 0, "{ok}");
    let ok = f.invoke(json!({"payer_id":1,"payee_id":2,"amount":10})).await.unwrap();
    assert_eq!(ok["balance"], 80, "the workshop's second transfer leaves 80");

    for (payload, message) in [
        (json!({"payer_id":1,"payee_id":2,"amount":81}), "Insufficient balance"),
        (json!({"payer_id":99,"payee_id":2,"amount":1}), "Payer account not found"),
        (json!({"payer_id":1,"payee_id":99,"amount":1}), "Payee account not found"),
    ] {
        let v = f.invoke(payload).await.unwrap();
        assert_eq!(v["error"], message);
        assert!(v.get("balance").is_none());
    }
    assert_eq!((db.balance(1).await, db.balance(2).await, db.balance(3).await), (80, 120, 100));
    assert_eq!(db.totals().await.history_rows, 2, "refused transfers are rolled back");
}

#[tokio::test]
async fn malformed_payloads_are_function_errors_and_touch_nothing() {
    let db = TestDb::new(2, 100).await;
    let before = db.totals().await;
    let mut f = Function::new(db.database(), RetryPolicy::Unlimited);
    for payload in [
        json!({"payer_id":1,"payee_id":2,"amount":-5}),
        json!({"payer_id":1,"payee_id":1,"amount":5}),
        json!({"payer_id":1,"payee_id":2,"amount":5,"note":"x"}),
        json!({"payer_id":"1","payee_id":2,"amount":5}),
        json!("transfer"),
    ] {
        let e = f.invoke(payload.clone()).await.unwrap_err();
        assert_eq!(e.error_type, INVALID_REQUEST, "{payload}: {e}");
    }
    assert_eq!(db.totals().await, before);
}

#[tokio::test]
async fn greeting_and_connectivity_chapters() {
    let db = TestDb::new(1, 100).await;
    let mut f = Function::new(db.database(), RetryPolicy::Unlimited);
    let v: Value = f.invoke(json!({"op":"greeting","name":"DAT401"})).await.unwrap();
    assert_eq!(v["greeting"], "Hello DAT401!");
    let v = f.invoke(json!({"op":"connectivity","name":"DAT401"})).await.unwrap();
    assert_eq!(v["greeting"], "Hello DAT401, connected to PostgreSQL successfully!");

    let mut broken = Function::new(
        transfer::db::Database::Local { url: "postgres://postgres@127.0.0.1:1/postgres".into() },
        RetryPolicy::Unlimited,
    );
    let e = broken.invoke(json!({"op":"connectivity"})).await.unwrap_err();
    assert_eq!(e.error_type, transfer::error::CONNECTION_ERROR);
    assert!(e.error_message.contains("127.0.0.1:1"), "{e}");
}

//! The workshop's chapters as `harness chapter N` runs them on the local stack, and
//! `harness doctor` against a local endpoint and PostgreSQL.

use transfer::db::Database;
use transfer::local::{Endpoint, EndpointConfig, LocalPostgres, PgOptions};
use transfer::{Function, RetryPolicy};

mod common;

use common::*;

fn chapter(args: &[&str]) -> (bool, String) {
    let results = tempfile::tempdir().unwrap();
    let mut all = vec!["chapter"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--results", results.path().to_str().unwrap()]);
    let out = harness(&all);
    (out.status.success(), text(&out))
}

#[test]
fn chapters_0_to_3_and_5_pass_with_the_workshops_expectations() {
    let expectations: [(&str, &[&str]); 5] = [
        ("0", &["greeting: Hello DAT401!"]),
        // The local stack answers as DSQL (its front), with the admin token for admin...
        ("1", &["as admin: Hello DAT401, connected to DSQL successfully!"]),
        // ... and the plain token for myapp, once it is mapped with AWS IAM GRANT.
        ("2", &["role myapp created with LOGIN", "as myapp: Hello DAT401, connected to DSQL successfully!"]),
        ("3", &["transfer 1 -> 2 of 10: payer balance 100 -> 90, as the function answered"]),
        ("5", &["(a UUID) for the transfer 3 -> 4 of 5"]),
    ];
    for (n, lines) in expectations {
        let (ok, out) = chapter(&[n]);
        assert!(ok, "chapter {n}: {out}");
        for line in lines {
            assert!(out.contains(line), "chapter {n} should say {line:?}: {out}");
        }
        assert!(out.contains(&format!("Chapter {n}: PASS")), "{out}");
    }
    let (ok, out) = chapter(&["7"]);
    assert!(!ok && out.contains("chapter 7 does not exist: the workshop has chapters 0 to 6"), "{out}");
}

#[test]
fn chapter_4_shows_conflicts_only_without_function_retries() {
    let (ok, out) = chapter(&["4", "--accounts", "100", "--calls", "1000", "--parallel", "100"]);
    assert!(ok, "{out}");
    assert!(out.contains("ch04-10k: 1000 calls, 1000 succeeded"), "{out}");
    assert!(out.contains("0 OCC conflicts as errors, verification PASS: as the workshop expects"), "{out}");
    let line = out.lines().find(|l| l.trim_start().starts_with("ch04-no-retry:")).expect("the no-retry run");
    assert!(
        line.ends_with("verification PASS: as the workshop expects") && !line.contains(" 0 OCC conflicts"),
        "{line}"
    );
}

#[test]
fn chapter_6_finds_the_payer_index_in_the_plan() {
    let (ok, out) = chapter(&["6", "--accounts", "20000", "--calls", "20000", "--parallel", "500"]);
    assert!(ok, "{out}");
    assert!(out.contains("20000 calls, 20000 succeeded"), "{out}");
    assert!(out.contains("idx_transactions_payer"), "{out}");
    assert!(out.contains("the payer query reads idx_transactions_payer (payer_id, created_at)"), "{out}");
}

#[test]
fn doctor_passes_on_a_set_up_stack_and_says_what_to_fix_on_an_empty_one() {
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let url = pg.url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoint = runtime
        .block_on(Endpoint::start(EndpointConfig::default(), {
            let url = url.clone();
            move || Function::new(Database::Local { url: url.clone() }, RetryPolicy::Unlimited)
        }))
        .unwrap();
    let endpoint_url = endpoint.url();
    let doctor = |extra: &[&str]| {
        let mut args = vec!["doctor", "--endpoint-url", &endpoint_url, "--database-url", &url];
        args.extend_from_slice(extra);
        harness(&args)
    };
    let out = doctor(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[ ok ] AWS credentials and region: region us-east-1"), "{stdout}");
    assert!(
        stdout.contains("[ ok ] function exists and may be invoked: reinvent-dat401 (DryRun answered 204)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "[FAIL] function reaches the database: DatabaseError: relation \"accounts\" does not exist (42P01)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("fix: the function connected, but the schema is missing"), "{stdout}");
    assert!(
        stdout.contains("[FAIL] schema and accounts: the accounts and transactions tables are missing"),
        "{stdout}"
    );
    assert!(stdout.contains("fix: run `harness setup`"), "{stdout}");
    let out = doctor(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor --format json prints JSON");
    assert_eq!((v["passed"].as_bool(), v["failed"].as_u64()), (Some(false), Some(2)), "{v}");
    let statuses: Vec<&str> = v["checks"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    // The quotas are the account's: a local endpoint has none.
    assert_eq!(statuses, ["ok", "ok", "fail", "skipped", "fail"], "{v}");
    assert_eq!(v["checks"][3]["check"], "concurrency quotas", "{v}");
    assert!(v["checks"][4]["fix"].as_str().unwrap().contains("run `harness setup`"), "{v}");

    assert!(harness(&["setup", "--database-url", &url, "--accounts", "500"]).status.success());
    let out = doctor(&["--accounts", "500"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "[ ok ] function reaches the database: Hello harness doctor, connected to PostgreSQL successfully!"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("[ ok ] schema and accounts: tables and indexes present, 500 accounts"), "{stdout}");
    let out = doctor(&["--function", "nope"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("[FAIL] function exists and may be invoked: function nope not found"),
        "{}",
        text(&out)
    );
}

//! A scenario's own data and invariants through the real binary: `harness setup` and
//! `harness verify --scenario`, and a whole run on the local stack (the DSQL front).

use transfer::local::{LocalPostgres, PgOptions};

mod common;

use common::*;

#[test]
fn a_run_sets_up_the_scenarios_data_and_checks_its_invariants() {
    let (out, summary, _dir) = run(&[&scenario("custom-invariants.toml")]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Verification: PASS (5 invariants hold)"), "{stdout}");
    assert!(
        stdout.contains("  sum of balances: 20000, expected = accounts * initial_balance = 20000: PASS"),
        "{stdout}"
    );
    let s = summary.unwrap();
    let invariants = s["verification"]["invariants"].as_array().expect("the invariants' verdicts");
    assert_eq!(invariants.len(), 5);
    assert!(invariants.iter().all(|i| i["outcome"] == "pass"), "{invariants:#?}");
    let history = &invariants[4];
    let successes = n(&s, "/totals/successes");
    assert_eq!(history["value"], successes.to_string(), "one history row per transfer: {history}");
    assert!(history["expected"].as_str().unwrap().starts_with(&format!("between before + successes = {successes}")));
}

#[test]
fn setup_and_verify_with_a_scenario_show_each_invariant() {
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let url = pg.url();
    let example = scenario("custom-invariants.toml");
    let data = |command: &str, extra: &[&str]| {
        let mut args = vec![command, "--database-url", &url, "--scenario", &example];
        args.extend_from_slice(extra);
        harness(&args)
    };
    let out = data("setup", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 statements, 200 rows loaded"), "{}", text(&out));
    let out = data("verify", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Verification: PASS (4 invariants hold, 1 skipped)"), "{stdout}");
    assert!(
        stdout.contains("  history rows: 0, skipped (needs a run's counts: before, successes, unknown)"),
        "{stdout}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute("UPDATE accounts SET balance = -3 WHERE id = 7").await.unwrap();
    });
    let out = data("verify", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("  min balance: -3, expected >= 0: FAIL (off by 3)"), "{stdout}");
    assert!(
        stdout.contains("  sum of balances: 19897, expected = accounts * initial_balance = 20000: FAIL (off by 103)")
    );
    let out = data("verify", &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify --format json prints JSON");
    assert_eq!(v["invariants"][2]["outcome"]["fail"]["off_by"], "3", "{v:#}");

    let out = data("setup", &["--reset"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(data("verify", &[]).status.success(), "the scenario's reset file restores the balances");

    drop(pg);
    let out = data("verify", &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("cannot connect"), "{}", text(&out));
}

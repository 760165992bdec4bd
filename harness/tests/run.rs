//! `harness run`, `setup` and `verify` as a user runs them, on the local stack: real
//! PostgreSQL, the real local Lambda endpoint, the real aws-sdk-lambda client.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use transfer::local::{LocalPostgres, PgOptions};

mod common;

use common::*;

#[test]
fn smoke_run_adds_up_verifies_and_writes_a_lossless_summary() {
    let (out, summary, _dir) = run(&[&scenario("smoke.toml")]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Total calls:        100\n"), "{stdout}");
    assert!(stdout.contains("Verification: PASS"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("[100%] 100/100 calls"), "{}", text(&out));
    let s = summary.expect("summary.json");
    assert_eq!(n(&s, "/schema_version"), 2);
    let calls = n(&s, "/totals/calls");
    let errors: u64 = s["totals"]["errors"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(calls, 100);
    assert_eq!(n(&s, "/totals/successes") + errors, calls, "successes + errors = calls");
    // The local DSQL front counts every OC000 it answers: the retries the calls reported.
    assert_eq!(s["plan"]["local"]["database"], "dsql");
    assert_eq!(n(&s, "/server/database/occ_conflicts"), n(&s, "/totals/total_retries"), "{}", s["server"]);
    let latency = workers::Hist::decode(s["totals"]["latency_us"].as_str().unwrap()).unwrap();
    assert_eq!(latency.count(), calls, "the histogram holds every call");
    let per_interval: u64 = s["intervals"].as_array().unwrap().iter().map(|i| n(i, "/stats/calls")).sum();
    assert_eq!(per_interval, calls, "intervals add up to the totals");
    assert_eq!(s["verification"]["passed"], true);
    assert_eq!(n(&s, "/verification/history_rows_added"), n(&s, "/totals/successes"));
}

#[test]
fn retries_appear_with_few_accounts_and_hardly_with_many() {
    let ch04 = scenario("ch04-10k.toml");
    let (few, s_few, _a) = run(&[&ch04, "--accounts", "5", "--parallel", "100", "--batches", "3"]);
    assert!(few.status.success(), "{}", text(&few));
    let (many, s_many, _b) = run(&[&ch04, "--accounts", "200000", "--parallel", "100", "--batches", "3"]);
    assert!(many.status.success(), "{}", text(&many));
    let (few, many) = (s_few.unwrap(), s_many.unwrap());
    for s in [&few, &many] {
        assert_eq!(n(s, "/totals/calls"), 300);
        assert_eq!(n(s, "/totals/successes"), 300, "unlimited retries: every call succeeds");
        assert_eq!(s["verification"]["passed"], true);
    }
    let (r_few, r_many) = (n(&few, "/totals/retried_calls"), n(&many, "/totals/retried_calls"));
    assert!(r_few >= 30, "5 hot accounts: at least 10% of calls retried, got {r_few}");
    assert!(r_many <= 3, "200,000 accounts: hardly any retries, got {r_many}");
}

#[test]
fn without_function_retries_conflicts_are_40001_errors_and_nothing_partial_commits() {
    let (out, summary, _dir) =
        run(&[&scenario("ch04-no-retry.toml"), "--accounts", "10", "--parallel", "200", "--batches", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary.unwrap();
    let function_errors = n(&s, "/totals/errors/function");
    assert!(function_errors > 0, "{}", text(&out));
    let by_class = s["totals"]["error_messages"].as_object().unwrap();
    assert_eq!(by_class.keys().collect::<Vec<_>>(), ["function"], "only function errors: {by_class:?}");
    for (message, _) in by_class["function"].as_object().unwrap() {
        assert!(
            message.starts_with("OccConflict: ") && (message.contains("(40001)") || message.contains("(40P01)")),
            "{message}"
        );
    }
    assert_eq!(n(&s, "/totals/total_retries"), 0, "the function did not retry");
    assert_eq!(s["verification"]["passed"], true, "{}", text(&out));
    assert_eq!(n(&s, "/verification/history_rows_added"), n(&s, "/totals/successes"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Error Breakdown:"));
}

#[test]
fn calls_that_exhaust_a_bounded_backoff_still_show_their_retries() {
    let ch04 = scenario("ch04-10k.toml");
    let args = [&ch04, "--accounts", "3", "--parallel", "60", "--batches", "2", "--retry-policy", "backoff:2:1:2"];
    let (out, summary, _d) = run(&args);
    let s = summary.unwrap_or_else(|| panic!("{}", text(&out)));
    let exhausted: u64 = s["totals"]["error_messages"]["function"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(m, _)| m.starts_with("OccConflict: "))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    assert!(exhausted > 0, "3 accounts, 60 at once, 2 retries: some calls give up: {}", text(&out));
    let retries = workers::Hist::decode(s["totals"]["retries"].as_str().unwrap()).unwrap();
    let successes = n(&s, "/totals/successes");
    assert_eq!(retries.count(), successes + exhausted, "retries are counted over failed calls too");
    assert!(n(&s, "/totals/total_retries") >= 2 * exhausted, "each exhausted call spent its 2 retries");
    assert_eq!(retries.max(), 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .contains(&format!("OCC Retry Statistics (of {} calls that reached the database)", successes + exhausted)),
        "{stdout}"
    );
    assert_eq!(s["verification"]["passed"], true, "{}", text(&out));
}

#[test]
fn a_malformed_scenario_is_refused_with_line_and_column_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[data]\naccounts = 100\n[load]\nmodel = \"batches\"\nparallel = 0\nbatches = 3\n").unwrap();
    let results = dir.path().join("results");
    let started = Instant::now();
    let out = harness(&["run", bad.to_str().unwrap(), "--results", results.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:5:12: load.parallel must be between 1 and 1000000, got 0", bad.display())),
        "{stderr}"
    );
    assert!(!results.exists(), "nothing ran: no results folder");
    assert!(started.elapsed() < Duration::from_secs(5));

    let out = harness(&["run", &scenario("smoke.toml"), "--parallel", "0", "--results", results.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--parallel: load.parallel must be between 1"),
        "{}",
        text(&out)
    );
}

#[test]
fn in_process_target_and_open_model() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open.toml");
    std::fs::write(
        &open,
        "[data]\naccounts = 100\n[load]\nmodel = \"open\"\nrate = 100\nduration = \"2s\"\nmax_in_flight = 50\n",
    )
    .unwrap();
    let (out, summary, _d) = run(&[open.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary.unwrap();
    assert_eq!(n(&s, "/totals/calls"), 200, "100 calls/s for 2 s");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Client Latency (from intended start):"));

    let (out, summary, _d) = run(&[&scenario("smoke.toml"), "--target", "in-process"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary.unwrap();
    assert_eq!(n(&s, "/totals/successes"), 100);
    assert_eq!(s["plan"]["target"]["kind"], "in-process");
    assert_eq!(s["verification"]["passed"], true);
}

#[test]
fn ctrl_c_stops_issuing_and_still_reports() {
    let results = tempfile::tempdir().unwrap();
    let child = command()
        .args(["run", &scenario("hot-accounts.toml"), "--duration", "60s", "--accounts", "1000", "--results"])
        .arg(results.path())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "stopped within the drain time");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let s: Value = serde_json::from_slice(&std::fs::read(summary_in(results.path()).unwrap()).unwrap()).unwrap();
    assert_eq!(s["end"]["stop"], "cancelled");
    assert!(n(&s, "/totals/calls") > 0);
    assert_eq!(s["verification"]["passed"], true, "an interrupted run still conserves money");
}

/// `harness setup|verify --database-url URL --accounts 25000 --initial-balance 50 [extra]`
fn data_command(command: &str, url: &str, extra: &[&str]) -> Output {
    let mut args = vec![command, "--database-url", url, "--accounts", "25000", "--initial-balance", "50"];
    args.extend_from_slice(extra);
    harness(&args)
}

#[test]
fn setup_then_verify_catches_tampering() {
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let url = pg.url();
    let out = data_command("setup", &url, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = data_command("setup", &url, &[]);
    assert!(out.status.success(), "re-running setup is safe: {}", text(&out));
    let out = data_command("verify", &url, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("PASS (sum of balances 1250000 = 25000 accounts x 50"),
        "{}",
        text(&out)
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute("UPDATE accounts SET balance = balance + 1 WHERE id = 7").await.unwrap();
    });
    let out = data_command("verify", &url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sum of balances: 1250001, expected = accounts * initial_balance = 1250000: FAIL (off by 1)")
            && stdout.contains("accounts inconsistent with their history: 1, expected = 0: FAIL (off by 1)"),
        "{stdout}"
    );
    let out = data_command("verify", &url, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify --format json prints JSON");
    assert_eq!((v["passed"].as_bool(), v["inconsistent_accounts"].as_i64()), (Some(false), Some(1)), "{v}");
    assert_eq!(v["balance_sum"].as_i64().unwrap() - v["expected_sum"].as_i64().unwrap(), 1, "{v}");

    let out = data_command("setup", &url, &["--reset"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = data_command("verify", &url, &[]);
    assert!(out.status.success(), "--reset restores the balances: {}", text(&out));
}

#[test]
fn a_throttling_endpoint_shows_throttles_as_errors_and_nothing_is_lost() {
    let smoke = scenario("smoke.toml");
    let (out, summary, _d) =
        run(&[&smoke, "--environments", "2", "--overflow", "throttle", "--parallel", "40", "--batches", "3"]);
    assert_eq!(out.status.code(), Some(1), "the smoke scenario's success-rate threshold fails: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout.lines().find(|l| l.starts_with("success rate")).expect("a threshold table");
    assert!(row.ends_with("FAIL"), "{stdout}");
    let s = summary.unwrap();
    let throttles = n(&s, "/totals/errors/throttle");
    assert!(throttles > 0, "40 parallel calls on 2 environments must be throttled: {}", text(&out));
    assert_eq!(n(&s, "/environments/throttles"), throttles, "the endpoint counted what the client saw");
    assert_eq!(n(&s, "/totals/successes") + throttles, 120);
    assert!(s["totals"]["error_messages"]["throttle"]["TooManyRequestsException: ConcurrentInvocationLimitExceeded"]
        .is_u64());
    assert_eq!(s["verification"]["passed"], true);
    assert_eq!(n(&s, "/verification/history_rows_added"), n(&s, "/totals/successes"));
}

/// The endpoint's configuration as `harness run` hands it over: 2 environments,
/// queueing, a 10 s timeout, unlimited retries.
fn endpoint_config(url: &str) -> String {
    let endpoint = serde_json::json!({
        "listen": "127.0.0.1:0", "allow_non_loopback": false, "function_name": "reinvent-dat401",
        "environments": 2, "overflow": "queue", "timeout": {"secs": 10, "nanos": 0}
    });
    serde_json::json!({"database_url": url, "endpoint": endpoint, "retry_policy": "unlimited"}).to_string()
}

#[test]
fn when_most_calls_are_throttled_goodput_and_success_latency_tell_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("throttled.toml");
    // 100 calls at once on 2 environments that throttle: most calls are 429s.
    let scenario_text = "[data]\naccounts = 100\n[load]\nmodel = \"batches\"\nparallel = 100\nbatches = 2\n\
                [local]\nenvironments = 2\noverflow = \"throttle\"\n[thresholds]\nmax_p50_ms = 10000\n";
    std::fs::write(&file, scenario_text).unwrap();
    let (out, summary, _d) = run(&[file.to_str().unwrap()]);
    // No failure limit of its own: the default one fails the run.
    assert_eq!(out.status.code(), Some(1), "a mostly throttled run fails by default: {}", text(&out));
    let s = summary.unwrap();
    let (calls, successes) = (n(&s, "/totals/calls"), n(&s, "/totals/successes"));
    assert_eq!(calls, 200);
    let default = s["checks"].as_array().unwrap().iter().find(|c| c["name"] == "failed calls (default limit)");
    let default = default.expect("the default failure limit is checked").clone();
    assert_eq!(default["passed"], false, "{default}");
    assert_eq!(default["value"], format!("{:.2}%", (calls - successes) as f64 * 100.0 / calls as f64));
    let failing: Vec<&Value> = s["checks"].as_array().unwrap().iter().filter(|c| c["passed"] == false).collect();
    assert_eq!(failing.len(), 1, "only the failure limit fails: {failing:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("failed calls (default limit)"), "{}", text(&out));
    assert!(successes * 2 < calls, "most calls were throttled: {successes} of {calls} succeeded");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let figure = |label: &str| -> f64 {
        let line = stdout.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("{label} in {stdout}"));
        line[label.len()..].split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(figure("Goodput:") * 2.0 < figure("Throughput:"), "goodput well below throughput: {stdout}");
    assert!(stdout.contains(&format!("successful calls only ({successes} of 200):")), "{stdout}");
    let all = workers::Hist::decode(s["totals"]["latency_us"].as_str().unwrap()).unwrap();
    let ok = workers::Hist::decode(s["totals"]["success_latency_us"].as_str().unwrap()).unwrap();
    assert_eq!((ok.count(), all.count()), (successes, calls), "two views: successful calls, and every call");
    assert_ne!(ok, all, "the throttled calls are in the all-call view only");
    // The p50 threshold judged the successful calls.
    let check = s["checks"].as_array().unwrap().iter().find(|c| c["name"] == "latency p50").unwrap().clone();
    assert_eq!(check["value"], format!("{:.2} ms", ok.quantile(0.5) as f64 / 1_000.0), "{check}");
    assert_eq!(s["accounting"]["failed"], calls - successes);
}

#[test]
fn invoke_prints_the_response_like_the_aws_cli() {
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let url = pg.url();
    assert!(data_command("setup", &url, &[]).status.success());
    // The endpoint as `harness run` starts it; it stops when its stdin closes.
    let mut endpoint = command()
        .args(["local-lambda-child", "--config", &endpoint_config(&url)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let endpoint_url = listening(&mut endpoint);

    let invoke = |payload: &str| harness(&["invoke", "--endpoint-url", &endpoint_url, "--payload", payload]);
    let out = invoke(r#"{"payer_id":1,"payee_id":2,"amount":10}"#);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"StatusCode\": 200") && stdout.contains("\"ExecutedVersion\": \"$LATEST\""), "{stdout}");
    assert!(stdout.contains(r#""balance":40"#), "25000 accounts of 50, minus 10: {stdout}");

    let out = invoke(r#"{"payer_id":1,"payee_id":1,"amount":10}"#);
    assert_eq!(out.status.code(), Some(1), "a function error exits 1: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"FunctionError\": \"Unhandled\""), "{}", text(&out));

    let out = harness(&["invoke", "--endpoint-url", &endpoint_url, "--function", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException: Function not found"),
        "{}",
        text(&out)
    );

    drop(endpoint.stdin.take());
    let status = endpoint.wait().unwrap();
    assert!(status.success(), "the endpoint stops when its stdin closes");
}

#[test]
fn both_invoke_clients_run_the_local_stack_over_http2_and_verify() {
    let smoke = scenario("smoke.toml");
    for (flags, client) in [(vec![], "lean"), (vec!["--client", "sdk"], "sdk")] {
        let mut args = vec![smoke.as_str(), "--parallel", "50", "--batches", "4"];
        args.extend(flags);
        let (out, summary, _d) = run(&args);
        assert!(out.status.success(), "{}", text(&out));
        let s = summary.unwrap();
        assert_eq!(s["plan"]["client"], client, "the lean client is the default");
        assert_eq!(n(&s, "/totals/successes"), 200, "{}", text(&out));
        assert_eq!(s["verification"]["passed"], true);
    }
}

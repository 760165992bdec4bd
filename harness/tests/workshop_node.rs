//! The workshop's own function (examples/workshop-node: Node.js, node-postgres,
//! `@aws-sdk/dsql-signer`), unchanged, against the local DSQL: it hard-codes port 5432
//! and `ssl: true` and logs in as `myapp` with a DbConnect token, so the front listens
//! on port 5432 of a loopback address of its own, with a certificate for it, and the
//! function trusts the stack's CA through NODE_EXTRA_CA_CERTS. The harness sets the
//! database up and verifies it through `--dsql-endpoint`, as against a cluster.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::text;

use transfer::local::dsql::access::{FUNCTION_ARN, FUNCTION_KEY};
use transfer::local::dsql::{DsqlFront, FrontConfig};
use transfer::local::{LocalPostgres, PgOptions};

const CALLS: usize = 400;
const PARALLEL: usize = 40;
const ACCOUNTS: &str = "100";

/// Calls the function's exported handler as Lambda would, `PARALLEL` at a time, and
/// prints what came back: successes, business errors, the retries it reported.
const DRIVER: &str = r#"
import { createRequire } from 'node:module';
const { handler } = createRequire(import.meta.url)(process.env.FUNCTION);
const calls = Number(process.env.CALLS), parallel = Number(process.env.PARALLEL);
let next = 0;
const results = [];
async function caller() {
  while (next < calls) {
    const i = next++;
    const payer = 1 + (i * 7) % 100;
    const payee = 1 + (payer + 1 + (i * 13) % 98) % 100;
    results.push(await handler({ payer_id: payer, payee_id: payee, amount: 1 }));
  }
}
await Promise.all(Array.from({ length: parallel }, caller));
const ok = results.filter((r) => r.balance !== undefined).length;
const errors = results.filter((r) => r.error !== undefined).map((r) => r.error);
const retries = results.reduce((sum, r) => sum + (r.retries ?? 0), 0);
console.log(JSON.stringify({ ok, errors, retries }));
process.exit(0);
"#;

/// A front on port 5432 of a loopback address no other test uses (127.0.0.0/8 is all
/// loopback on Linux), tried on a few addresses in case one is taken.
fn front_on_5432(rt: &tokio::runtime::Runtime, pg: &LocalPostgres, dir: &std::path::Path) -> DsqlFront {
    for attempt in 0..8u32 {
        let n = std::process::id().wrapping_mul(31).wrapping_add(attempt * 7919);
        let ip = Ipv4Addr::new(127, 10 + (n % 200) as u8, (n / 200 % 250) as u8 + 1, (n / 50_000 % 250) as u8 + 2);
        let mut config = FrontConfig::local(pg.port(), dir.to_path_buf());
        config.listen = SocketAddr::new(IpAddr::V4(ip), 5432);
        config.hosts = vec![ip.to_string()];
        if let Ok(front) = rt.block_on(DsqlFront::start(config)) {
            return front;
        }
    }
    panic!("no loopback address with port 5432 free");
}

/// `harness COMMAND --dsql-endpoint HOST:5432 ...` as the operator (admin).
fn harness_dsql(front: &DsqlFront, args: &[&str]) -> Output {
    common::dsql_harness(&front.addr().to_string(), Some(front.ca_path()), args)
}

/// Run the driver with the environment Lambda and the stack give the function.
fn drive(front: &DsqlFront, dir: &std::path::Path) -> serde_json::Value {
    let function = format!("{}/../examples/workshop-node/dist/index.js", env!("CARGO_MANIFEST_DIR"));
    let driver = dir.join("driver.mjs");
    std::fs::write(&driver, DRIVER).unwrap();
    let mut child = Command::new("node")
        .arg(&driver)
        .env("FUNCTION", &function)
        .env("CALLS", CALLS.to_string())
        .env("PARALLEL", PARALLEL.to_string())
        .env("CLUSTER_ENDPOINT", front.addr().ip().to_string())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", FUNCTION_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env("NODE_EXTRA_CA_CERTS", front.ca_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    // Bounded: a function that hangs fails the test instead of holding it.
    for _ in 0..1_200 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the driver: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[test]
fn the_workshops_node_function_runs_unchanged_on_the_local_dsql() {
    common::provisioned(); // Node.js, and the function's packages and build
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let front = front_on_5432(&rt, &pg, dir.path());
    let data = ["--accounts", ACCOUNTS, "--initial-balance", "100"];
    let out = harness_dsql(&front, &[&["setup"][..], &data[..]].concat());
    assert!(out.status.success(), "{}", text(&out));
    // Chapter 2: myapp, mapped to the function's execution role.
    let out = harness_dsql(&front, &["setup-role", "--role", "myapp", "--arn", FUNCTION_ARN]);
    assert!(out.status.success(), "{}", text(&out));

    let result = drive(&front, dir.path());
    assert_eq!(result["ok"], CALLS, "every transfer committed: {result}");
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    let retries = result["retries"].as_u64().unwrap();
    assert!(retries > 0, "100 accounts, 20 connections: conflicts, retried by the function's loop: {result}");
    // Every retry the function reported was an OC000 the front answered, at COMMIT.
    assert_eq!(front.oc000(), retries);

    let out = harness_dsql(&front, &[&["verify"][..], &data[..]].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("PASS (sum of balances 10000 = 100 accounts x 100"), "{}", text(&out));
    let out = harness_dsql(&front, &[&["verify", "--format", "json"][..], &data[..]].concat());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(v["history_rows"], CALLS, "one history row per committed transfer: {v}");
}

/// `harness run examples/workshop-node/ch04.toml`, scaled down: the workshop's function,
/// unchanged, hosted by the local endpoint as Node.js processes behind the Runtime API
/// and logging in to the local DSQL on port 5432 of the stack's own loopback address.
#[test]
fn harness_run_hosts_the_workshops_function_through_the_runtime_api() {
    common::provisioned();
    let scenario = format!("{}/../examples/workshop-node/ch04.toml", env!("CARGO_MANIFEST_DIR"));
    let (out, summary, results) =
        common::run(&[&scenario, "--accounts", "100", "--parallel", "200", "--batches", "3", "--environments", "8"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary.expect("summary.json");
    let t = &s["totals"];
    assert_eq!((common::n(t, "/calls"), common::n(t, "/successes")), (600, 600), "{}", text(&out));
    // The function's own retry loop, read from its answers with no [response] section.
    let retries = common::n(t, "/total_retries");
    assert!(retries > 0, "100 accounts, 8 environments: conflicts retried by the function: {}", text(&out));
    assert_eq!(s["server"]["database"]["occ_conflicts"], retries, "every reported retry was an OC000 at the front");
    assert_eq!(s["verification"]["passed"], true, "{}", text(&out));
    // Cold starts of Node.js processes, with their init in REPORT lines.
    assert_eq!(common::n(&s["environments"], "/cold_starts"), 8, "{}", s["environments"]);
    let platform = &t["platform"];
    assert!(common::n(platform, "/cold_starts") >= 8, "REPORT lines with Init Duration: {platform}");
    // Each environment's output kept in the run folder.
    let run = common::summary_in(results.path()).unwrap().parent().unwrap().to_path_buf();
    let logs: Vec<_> = std::fs::read_dir(run.join("function")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(logs.iter().filter(|n| n.to_string_lossy().starts_with("env-")).count() == 8, "{logs:?}");
    assert!(text(&out).contains("Verification: PASS"), "{}", text(&out));
}

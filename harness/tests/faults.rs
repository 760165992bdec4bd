//! Fault drills, with real processes and real signals: a run never loses its report and
//! never leaves a process or a directory behind.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;
use transfer::local::{LocalPostgres, PgOptions};

mod common;

use common::*;

/// A local run of hot-accounts.toml (64 calls in flight, 1,000 accounts) for `duration`,
/// under `tmp`, writing under `results`.
fn hot_run(tmp: &Path, results: &Path, duration: &str, extra: &[&str]) -> Child {
    let mut args = vec!["run", "--results", results.to_str().unwrap()];
    let hot = scenario("hot-accounts.toml");
    args.extend_from_slice(&[&hot, "--duration", duration, "--accounts", "1000"]);
    args.extend_from_slice(extra);
    spawn(&args, tmp)
}

/// A long one (60 s).
fn long_run(tmp: &Path, results: &Path, extra: &[&str]) -> Child {
    hot_run(tmp, results, "60s", extra)
}

fn summary(results: &Path) -> Value {
    let path = summary_in(results).expect("summary.json was written");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// What a run started: its processes, and the servers of its clusters (which pg_ctl
/// detaches from it).
fn started_by(pid: u32, tmp: &Path) -> Vec<u32> {
    let mut all = descendants(pid);
    all.extend(clusters(tmp).1);
    assert!(!all.is_empty());
    all
}

/// Nothing of `processes` runs and no cluster directory is left under `tmp`, within `limit`.
fn nothing_left(processes: &[u32], tmp: &Path, limit: Duration) {
    let gone = wait_for(limit, || processes.iter().all(|p| !alive(*p)) && clusters(tmp).0.is_empty());
    let running: Vec<_> = processes.iter().filter(|p| alive(**p)).collect();
    assert!(gone, "still running: {running:?}; left: {:?}", clusters(tmp).0);
}

#[test]
fn sigterm_mid_run_writes_the_whole_report_exits_143_and_leaves_nothing() {
    let (tmp, results) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let child = long_run(tmp.path(), results.path(), &[]);
    wait_for_seconds(results.path(), 2);
    let started = started_by(child.id(), tmp.path());
    signal(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("STATS") && stdout.contains("Verification: PASS"), "{}", text(&out));
    assert!(stdout.contains("stopped by a signal"), "{stdout}");
    let s = summary(results.path());
    assert_eq!(s["end"]["stop"], "cancelled");
    assert!(n(&s, "/totals/calls") > 0);
    assert_eq!(n(&s, "/end/abandoned"), 0, "the drain let every call finish");
    for class in ["transport", "timeout"] {
        assert!(s["totals"]["errors"].get(class).is_none(), "no call was cut off: {}", s["totals"]["errors"]);
    }
    let run = summary_in(results.path()).unwrap().parent().unwrap().to_path_buf();
    for file in ["timeseries.csv", "workers.csv", "errors.csv", "latency.hlog", "report.html"] {
        assert!(run.join(file).exists(), "{file}");
    }
    nothing_left(&started, tmp.path(), Duration::from_secs(5));
}

#[test]
fn two_quick_interrupts_skip_the_drain_still_report_and_leave_nothing() {
    // Calls that hang: the test holds a lock on the accounts once the run is going.
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let (tmp, results) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = pg.url();
    let child = long_run(tmp.path(), results.path(), &["--database-url", &url]);
    wait_for_seconds(results.path(), 2);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _lock = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute("BEGIN; LOCK TABLE accounts IN EXCLUSIVE MODE").await.unwrap();
        client
    });
    std::thread::sleep(Duration::from_secs(1));
    let started = started_by(child.id(), tmp.path());
    signal(child.id(), "INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(child.id(), "INT");
    let stopping = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(15), "no 30 s drain: {:?}", stopping.elapsed());
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopping now"), "{}", text(&out));
    let s = summary(results.path());
    assert_eq!(s["end"]["stop"], "cancelled");
    assert!(n(&s, "/end/abandoned") > 0, "calls in flight were abandoned: {}", s["end"]);
    assert_eq!(s["verification"]["passed"], true, "abandoned calls are of unknown outcome: {}", s["verification"]);
    nothing_left(&started, tmp.path(), Duration::from_secs(5));
}

#[test]
fn a_killed_coordinator_of_four_workers_leaves_nothing_and_stale_clusters_are_cleared() {
    let (tmp, results) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut child = long_run(tmp.path(), results.path(), &["--workers", "4"]);
    wait_for_seconds(results.path(), 2);
    let started = started_by(child.id(), tmp.path());
    assert!(started.len() >= 6, "4 workers, the endpoint and PostgreSQL at least: {started:?}");
    signal(child.id(), "KILL");
    let _ = child.wait();
    nothing_left(&started, tmp.path(), Duration::from_secs(5));

    // A cluster whose owner and watchdog are gone (a watchdog killed too, say) is
    // removed by the next run, which says so.
    let dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    let _ = dead.wait_with_output();
    let stale = tmp.path().join("harness-pg-stale1");
    std::fs::create_dir_all(stale.join("data")).unwrap();
    std::fs::write(stale.join("owner"), format!("{dead_pid} 1 {dead_pid} 1\n")).unwrap();
    let results = tempfile::tempdir().unwrap();
    let out = spawn(&["run", &scenario("smoke.toml"), "--results", results.path().to_str().unwrap()], tmp.path())
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let said =
        format!("removed a stale throwaway PostgreSQL at {} (its owner, process {dead_pid}, is gone)", stale.display());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&said), "{}", text(&out));
    assert!(clusters(tmp.path()).0.is_empty());
}

#[test]
fn a_database_restart_mid_run_keeps_the_report_and_verifies() {
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let (tmp, results) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let child = hot_run(tmp.path(), results.path(), "8s", &["--database-url", &pg.url()]);
    wait_for_seconds(results.path(), 3);
    pg.restart().unwrap();
    let out = child.wait_with_output().unwrap();
    let s = summary(results.path());
    assert_eq!(s["verification"]["passed"], true, "{}", s["verification"]);
    // The calls the restart broke fail the run by the default failure limit, and only
    // by it: the report and the verification stand.
    let failing: Vec<&str> = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let code = out.status.code();
    assert!(
        (code == Some(1) && failing == ["failed calls (default limit)"]) || (code == Some(0) && failing.is_empty()),
        "{failing:?}: {}",
        text(&out)
    );
    assert!(n(&s, "/totals/successes") > 0);
    assert!(n(&s, "/totals/errors/function") > 0, "the restart cut the function's connections: {}", text(&out));
    let after = n(&s, "/intervals/5/stats/successes") + n(&s, "/intervals/6/stats/successes");
    assert!(after > 0, "the load went on after the restart: {}", text(&out));
}

#[test]
fn a_database_gone_for_good_still_gets_its_report_with_verification_not_run() {
    let mut pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let (tmp, results) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let child = hot_run(tmp.path(), results.path(), "4s", &["--database-url", &pg.url()]);
    wait_for_seconds(results.path(), 2);
    pg.stop().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("STATS") && stdout.contains("Verification: COULD NOT RUN: "), "{}", text(&out));
    let s = summary(results.path());
    assert_eq!(s["verification"]["passed"], false);
    let why = s["verification"]["could_not_run"].as_str().unwrap();
    assert!(why.contains("did not come back within"), "{why}");
    assert!(n(&s, "/totals/errors/function") > 0, "the calls after the stop failed and were counted");
}

#[test]
fn absurd_values_are_refused_with_their_position_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let load = "[load]\nmodel = \"closed\"\nin_flight = 2\ncalls = 10\n";
    let corpus: &[(String, &[&str], &str)] = &[
        (format!("{load}[limits]\nduration_x = 1\n"), &[], "s.toml:6:1: unknown field `duration_x`"),
        (
            "[load]\nmodel = \"closed\"\nin_flight = 2\nduration = 1e300\n".into(),
            &[],
            "s.toml:4:12: load.duration: must be at most 7 days",
        ),
        (
            format!("{load}[limits]\ncall_timeout = 1e300\n"),
            &[],
            "s.toml:6:16: limits.call_timeout: must be at most 7 days",
        ),
        (
            format!("{load}[limits]\ndrain_timeout = 1e300\n"),
            &[],
            "s.toml:6:17: limits.drain_timeout: must be at most 7 days",
        ),
        (
            format!("{load}[limits]\nmax_duration = 1e19\n"),
            &[],
            "s.toml:6:16: limits.max_duration: must be at most 7 days",
        ),
        (
            format!("{load}[limits]\nmax_duration = \"0ms\"\n"),
            &[],
            "s.toml:6:16: limits.max_duration: must be a positive duration",
        ),
        (
            format!("{load}[local]\nfunction_timeout = \"2h\"\n"),
            &[],
            "s.toml:6:20: local.function_timeout must be at most 900 s",
        ),
        (
            "[load]\nmodel = \"closed\"\nin_flight = 2\ncalls = 99999999999999\n".into(),
            &[],
            "s.toml:4:9: load.calls must be between 1 and 10000000000",
        ),
        (
            "[load]\nmodel = \"open\"\nrate = 1e300\nduration = \"1s\"\n".into(),
            &[],
            "s.toml:3:8: rate must be > 0 and at most 1000000",
        ),
        (
            "[load]\nmodel = \"open\"\nstages = [{rate = 5, duration = 1e300}]\n".into(),
            &[],
            "s.toml:3:33: load.stages duration: must be at most 7 days (604800 s), got 1e300 s",
        ),
        (
            format!("[target]\nkind = \"aws\"\nfunction = \"\"\n{load}"),
            &[],
            "s.toml:3:12: target.function: the function name is empty",
        ),
        (format!("[target]\nkind = \"aws\"\nfunction = \"my fn\"\n{load}"), &[], "target.function: \"my fn\" has ' '"),
        (
            format!("{load}[workers]\ncount = 2\nheartbeat = \"5m\"\nlost_after = \"1h\"\n"),
            &[],
            "workers.heartbeat must be at most 60 s",
        ),
        (load.to_string(), &["--duration", "9999999h"], "--duration: load.duration: must be at most 7 days"),
        (load.to_string(), &["--rate", "5"], "--rate: load.rate is not used by model \"closed\""),
    ];
    for (i, (text, flags, expected)) in corpus.iter().enumerate() {
        let file = dir.path().join("s.toml");
        std::fs::write(&file, text).unwrap();
        let (tmp, results) = (tempfile::tempdir().unwrap(), dir.path().join(format!("results-{i}")));
        let mut args = vec!["run", "s.toml", "--results", results.to_str().unwrap()];
        args.extend_from_slice(flags);
        let out = command()
            .args(&args)
            .current_dir(dir.path())
            .env("TMPDIR", tmp.path())
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}{flags:?}: {}", common::text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{text}{flags:?}: expected {expected:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!results.exists(), "nothing ran: no results folder");
        assert!(clusters(tmp.path()).0.is_empty(), "no PostgreSQL was started");
    }
}

#[test]
fn a_run_cut_short_by_its_time_limit_fails_unless_the_scenario_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let body = "[data]\naccounts = 100\n[target]\nkind = \"in-process\"\n[load]\nmodel = \"closed\"\nin_flight = 4\ncalls = 100000000\n[limits]\nmax_duration = \"2s\"\n";
    for (allow, code) in [("", 1), ("allow_incomplete = true\n", 0)] {
        let file = dir.path().join("cut.toml");
        std::fs::write(&file, format!("{body}{allow}")).unwrap();
        let (out, summary, _d) = run(&[file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Stopped early:      the time limit (limits.max_duration) passed after"), "{stdout}");
        assert!(!stdout.contains("TimeLimit"), "{stdout}");
        assert_eq!(summary.unwrap()["end"]["stop"], "time_limit");
    }
}

/// Another client's session stays open on the database through the run, so PostgreSQL's
/// counters cannot be known to hold every commit: the server-side view says so, marked
/// incomplete, instead of claiming counts it may lack. Without it, the same run's view
/// is complete and counts at least the client's successes.
#[test]
fn the_server_view_is_complete_only_when_every_commit_is_counted() {
    let pg = LocalPostgres::start(&PgOptions::default()).unwrap();
    let url = pg.url();
    let tmp = tempfile::tempdir().unwrap();
    let quick = |results: &Path| {
        let out = hot_run(tmp.path(), results, "2s", &["--database-url", &url]).wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        summary(results)
    };
    let alone = tempfile::tempdir().unwrap();
    let s = quick(alone.path());
    assert_eq!(s["server"]["complete"], true, "{}", s["server"]);
    assert!(n(&s, "/server/database/committed") >= n(&s, "/totals/successes"), "{}", s["server"]);

    // A psql session of someone else's, open throughout.
    let mut other = std::process::Command::new(pg.bindir().join("psql"))
        .args([url.as_str(), "-q", "-c", "SELECT pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    let shared = tempfile::tempdir().unwrap();
    let s = quick(shared.path());
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(s["server"]["complete"], false, "{}", s["server"]);
    let notes = s["server"]["notes"].to_string();
    assert!(notes.contains("other sessions still open"), "{notes}");
}

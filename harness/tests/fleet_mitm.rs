//! The coordinator-worker channel against a man in the middle: a loopback proxy between
//! a real `harness run` and a real `harness worker` daemon that records every byte, or
//! alters one frame. An eavesdropper reads neither the plan nor the figures; an altered
//! frame stops the worker before it makes a call, and the run says why; one altered
//! mid-run keeps what the worker streamed before it and accounts for the rest of its
//! lease; a fake worker without the secret cannot pass for a real one.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::*;

const SECRET: &str = "mitm-test-secret-0123456789abcdef";

fn daemon() -> WorkerDaemon {
    WorkerDaemon::start("127.0.0.1:0", SECRET)
}

/// The run's one worker failed on a frame that did not open.
fn failed_integrity_check(summary: &serde_json::Value) {
    let worker = &summary["workers"][0];
    assert_eq!(worker["status"], "failed", "{worker}");
    assert!(worker["reason"].as_str().unwrap().contains("integrity check"), "{worker}");
}

/// What the proxy does to the frames going to the worker.
#[derive(Clone, Copy)]
enum Meddle {
    Nothing,
    /// Flip one bit in the body of the n-th frame to the worker (1 = the `Auth`).
    Flip(usize),
    /// Send the n-th frame to the worker twice.
    Repeat(usize),
    /// Flip one bit in the body of the first frame carried this long after the second
    /// one (the plan to the worker, its acceptance back; mid-run: a heartbeat, a grant
    /// or an interval).
    FlipAfter(Duration),
}

/// A proxy to `upstream`, recording every byte it carries, and the frames to the worker.
struct Proxy {
    address: String,
    seen: Arc<Mutex<Vec<u8>>>,
    to_worker: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    seen: Arc<Mutex<Vec<u8>>>,
    frames: Option<Arc<Mutex<Vec<Vec<u8>>>>>,
    meddle: Meddle,
) {
    let (mut n, mut second, mut flipped) = (0, Instant::now(), false);
    loop {
        let mut len = [0u8; 4];
        if from.read_exact(&mut len).is_err() {
            break;
        }
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        if from.read_exact(&mut body).is_err() {
            break;
        }
        n += 1;
        if n == 2 {
            second = Instant::now();
        }
        let flip = match meddle {
            Meddle::Flip(k) => n == k,
            Meddle::FlipAfter(after) => n > 2 && !flipped && second.elapsed() >= after,
            _ => false,
        };
        if flip {
            let middle = body.len() / 2;
            body[middle] ^= 0x20;
            flipped = true;
        }
        seen.lock().unwrap().extend_from_slice(&body);
        if let Some(frames) = &frames {
            frames.lock().unwrap().push([&len[..], &body].concat());
        }
        let times = if matches!(meddle, Meddle::Repeat(k) if k == n) { 2 } else { 1 };
        for _ in 0..times {
            if to.write_all(&len).and_then(|()| to.write_all(&body)).is_err() {
                return;
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Proxy {
    fn start(upstream: &str, meddle: Meddle) -> Proxy {
        Proxy::start_both(upstream, meddle, Meddle::Nothing)
    }

    /// A proxy meddling with the frames to the worker and those back to the coordinator.
    fn start_both(upstream: &str, meddle: Meddle, back: Meddle) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let to_worker = Arc::new(Mutex::new(Vec::new()));
        let (upstream, record, frames) = (upstream.to_string(), seen.clone(), to_worker.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let server = TcpStream::connect(&upstream).unwrap();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (r1, r2, f) = (record.clone(), record.clone(), frames.clone());
                std::thread::spawn(move || pump(client, server, r1, Some(f), meddle));
                std::thread::spawn(move || pump(s2, c2, r2, None, back));
            }
        });
        Proxy { address, seen, to_worker }
    }

    fn seen(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

fn run_through(proxy: &Proxy) -> (std::process::Output, Option<Value>, tempfile::TempDir) {
    run_scenario_through(proxy, &scenario("smoke.toml"))
}

fn run_scenario_through(proxy: &Proxy, scenario: &str) -> (std::process::Output, Option<Value>, tempfile::TempDir) {
    let results = tempfile::tempdir().unwrap();
    let out = command()
        .args(["run", scenario, "--results", results.path().to_str().unwrap(), "--worker", &proxy.address])
        .env("HARNESS_WORKER_SECRET", SECRET)
        .output()
        .unwrap();
    let summary = summary_in(results.path()).map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap());
    (out, summary, results)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn an_eavesdropper_reads_neither_the_plan_nor_the_figures() {
    let daemon = daemon();
    let proxy = Proxy::start(&daemon.address, Meddle::Nothing);
    let (out, summary, _results) = run_through(&proxy);
    let s = summary.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(n(&s, "/totals/calls"), 100, "the run went through the proxy");
    let seen = proxy.seen();
    assert!(contains(&seen, "\"type\":\"hello\""), "the handshake is in the clear");
    for secret in ["reinvent-dat401", "start_at_ms", "latency_us", "payer", "interval", "done", SECRET] {
        assert!(!contains(&seen, secret), "{secret:?} crossed the wire in the clear");
    }
}

#[test]
fn an_altered_frame_stops_the_worker_before_any_call_and_the_run_says_why() {
    let daemon = daemon();
    // Frame 2 to the worker is the plan.
    let proxy = Proxy::start(&daemon.address, Meddle::Flip(2));
    let (out, summary, _results) = run_through(&proxy);
    let s = summary.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(n(&s, "/totals/calls"), 0, "no call was made on an altered plan");
    failed_integrity_check(&s);
    // An altered handshake (the coordinator's key in `Auth`): the worker's proof check fails.
    let proxy = Proxy::start(&daemon.address, Meddle::Flip(1));
    let (out, _summary, _results) = run_through(&proxy);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"), "{}", text(&out));
    // The daemon keeps serving.
    let (out, summary, _results) = run_through(&Proxy::start(&daemon.address, Meddle::Nothing));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(n(&summary.unwrap(), "/totals/calls"), 100);
}

#[test]
fn a_replayed_frame_or_conversation_is_refused_and_the_daemon_keeps_serving() {
    let daemon = daemon();
    // The plan sent twice within its session: the second copy does not open.
    let proxy = Proxy::start(&daemon.address, Meddle::Repeat(2));
    let (out, summary, _results) = run_through(&proxy);
    let s = summary.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    failed_integrity_check(&s);
    assert_eq!(n(&s, "/totals/calls"), 0, "stopped before the start instant: {}", text(&out));
    // A whole recorded conversation replayed on a new connection: its proof was for
    // another handshake.
    let recorded = proxy.to_worker.lock().unwrap().clone();
    assert!(recorded.len() >= 3, "auth, plan, heartbeats...");
    let mut s = TcpStream::connect(&daemon.address).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut hello = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut hello).unwrap();
    for frame in &recorded {
        if s.write_all(frame).is_err() {
            break;
        }
    }
    s.read_exact(&mut len).unwrap();
    let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut answer).unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["type"], "refused", "{answer}");
    assert!(answer["reason"].as_str().unwrap().contains("authentication failed"), "{answer}");
    // And the daemon still serves a real coordinator.
    let (out, summary, _results) = run_through(&Proxy::start(&daemon.address, Meddle::Nothing));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(n(&summary.unwrap(), "/totals/calls"), 100);
}

#[test]
fn a_fake_worker_without_the_secret_cannot_pass_for_one() {
    // It greets like a worker, then accepts in the clear: the coordinator must not take it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let key = "11".repeat(32);
        let hello = format!(
            "{{\"type\":\"hello\",\"protocol\":{},\"worker\":\"fake\",\"nonce\":\"00\",\"key\":\"{key}\",\"busy\":null}}",
            workers::remote::PROTOCOL_VERSION
        );
        for body in [hello.as_bytes(), b"{\"type\":\"accepted\"}"] {
            s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
            s.write_all(body).unwrap();
        }
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let link = runtime.block_on(workers::remote::WorkerLink::connect(&address, Some(SECRET.as_bytes())));
    let e = link.err().expect("a plaintext acceptance is refused");
    assert!(matches!(e, workers::remote::ConnectError::NotSameKeys { .. }), "{e}");
    assert!(e.to_string().contains("does not open with this session's keys"), "{e}");
}

/// A closed-model run of 4 calls in flight for 12 s, planned to 4,000 calls (more than it
/// can make here, so its count bounds "not started"), in `dir`.
fn long_scenario(dir: &std::path::Path) -> String {
    let path = dir.join("long.toml");
    let text = "[data]\naccounts = 500\n[load]\nmodel = \"closed\"\nin_flight = 4\ncalls = 4000\n\
                [limits]\nmax_duration = \"12s\"\ndrain_timeout = \"5s\"\n";
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A run through a relay that alters one frame `after` the plan went (the load starts
/// 1.5 s after the plan, at most, and the worker streams a second at a time), in
/// the frames to the worker or (`back`) to the coordinator. It fails, its worker is
/// marked with the reason, and every call is accounted for: what the worker streamed
/// before the cut is kept, the rest of its lease is "may have started, not reported",
/// only the calls beyond its lease "not started", reconciled with the endpoint's count.
fn cut_mid_run(after: Duration, back: bool) -> (Value, Value, String) {
    let daemon = daemon();
    let dir = tempfile::tempdir().unwrap();
    let scenario = long_scenario(dir.path());
    let (meddle, other) = (Meddle::FlipAfter(after), Meddle::Nothing);
    let proxy =
        if back { Proxy::start_both(&daemon.address, other, meddle) } else { Proxy::start(&daemon.address, meddle) };
    let (out, summary, _results) = run_scenario_through(&proxy, &scenario);
    let s = summary.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    validate_against_schema(&s);
    let worker = s["workers"][0].clone();
    assert!(worker["reason"].as_str().unwrap().contains("integrity check"), "{worker}");
    assert_eq!(n(&s, "/totals/calls"), n(&worker, "/totals/calls"), "what it streamed is the run's");
    let a = &s["accounting"];
    let recorded: u64 = ["succeeded", "failed", "abandoned"].iter().map(|k| n(a, &format!("/{k}"))).sum();
    assert_eq!(recorded, n(&s, "/totals/calls"));
    assert_eq!(recorded + n(a, "/unreported") + n(a, "/not_started"), 4_000, "the identity: {a}");
    assert_eq!(n(a, "/unreported"), n(&worker, "/unreported_at_most"), "the rest of its lease: {a} {worker}");
    assert!(n(a, "/unreported") > 0, "its lease was not all reported: {a}");
    assert_eq!(n(a, "/not_started"), n(&worker, "/undelivered_calls"), "{a} {worker}");
    let r = &a["reconciliation"];
    let invocations = n(r, "/endpoint_invocations");
    assert!(invocations >= n(r, "/reported_answered"), "{r}");
    let (lo, hi) = (n(r, "/unreported_reached_at_least"), n(r, "/unreported_reached_at_most"));
    assert!(lo <= hi && hi <= n(a, "/unreported"), "{r}");
    assert_eq!(hi, (invocations - n(r, "/reported_answered")).min(n(a, "/unreported")), "{r}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    for line in ["may have started, not reported", "Reconciled:         the endpoint counted"] {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
    (s, worker, stdout)
}

#[test]
fn a_frame_to_the_worker_altered_mid_run_keeps_what_it_streamed_before() {
    let (s, worker, stdout) = cut_mid_run(Duration::from_secs(5), false);
    assert_eq!(worker["status"], "failed", "{worker}");
    assert!(n(&s, "/totals/calls") > 0, "the calls streamed before the cut are kept: {stdout}");
    assert!(stdout.contains("  FAILED "), "{stdout}");
}

#[test]
fn a_frame_from_the_worker_altered_mid_run_keeps_what_it_streamed_before() {
    let (s, worker, stdout) = cut_mid_run(Duration::from_secs(5), true);
    // A frame from the worker that does not open fails the worker, naming the integrity
    // check (workers/src/remote/client.rs): tampered with, not lost.
    assert_eq!(worker["status"], "failed", "{worker}");
    assert!(worker["reason"].as_str().unwrap().contains("integrity check"), "{worker}");
    assert!(n(&s, "/totals/calls") > 0, "the calls streamed before the cut are kept: {stdout}");
}

#[test]
fn a_frame_altered_before_the_first_second_is_streamed_leaves_its_calls_unreported_not_unstarted() {
    // The finding: "Total calls: 0" and nothing else, while transfers had committed.
    let (s, worker, stdout) = cut_mid_run(Duration::from_millis(1_900), false);
    assert_eq!(worker["status"], "failed", "{worker}");
    let a = &s["accounting"];
    assert!(n(a, "/unreported") >= 256 - n(&s, "/totals/calls"), "the first grant is at least 256: {a}");
    assert!(n(&s["accounting"]["reconciliation"], "/unreported_reached_at_most") > 0, "{stdout}");
}

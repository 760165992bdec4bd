//! The coordinator-worker channel against a man in the middle: a loopback proxy between
//! a real `harness run` and a real `harness worker` daemon that records every byte, or
//! alters one frame. An eavesdropper reads neither the plan nor the figures; an altered
//! frame stops the worker before it makes a call, and the run says why; a fake worker
//! without the secret cannot pass for a real one.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

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
    let mut n = 0;
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
        if let Meddle::Flip(k) = meddle {
            if n == k {
                let middle = body.len() / 2;
                body[middle] ^= 0x20;
            }
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
                std::thread::spawn(move || pump(s2, c2, r2, None, Meddle::Nothing));
            }
        });
        Proxy { address, seen, to_worker }
    }

    fn seen(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

fn run_through(proxy: &Proxy) -> (std::process::Output, Option<Value>, tempfile::TempDir) {
    let results = tempfile::tempdir().unwrap();
    let out = command()
        .args([
            "run",
            &scenario("smoke.toml"),
            "--results",
            results.path().to_str().unwrap(),
            "--worker",
            &proxy.address,
        ])
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

//! `harness-bench`: how fast the invoke path is, measured against a no-op Lambda
//! endpoint and compared, in the same invocation, with wrk (HTTP/1.1), h2load (HTTP/2,
//! the protocol every client here speaks) and a bare aws-sdk-lambda loop; for the SDK
//! and for the lean client, a bare loop and the harness engine.
//!
//! The endpoint runs in its own process on CPU 1; every client runs on CPU 0 (taskset),
//! so "calls/s per core" is calls divided by the client's own CPU seconds. Then the
//! engine, and a bare SDK loop for reference, hold 10,000 calls in flight against an
//! endpoint that answers after a delay, and their peak resident memory is read from /proc.
//!
//! Every client is counted the same way: `calls` are successful responses, everything
//! else (non-2xx, transport errors, timeouts) is `errors`, and wall time is measured.
//! Each client runs `SAMPLES` times, the clients alternating, and the table shows the
//! median with the min and max of calls per core; ratios are of medians.
//!
//! Usage: `cargo run --release -p harness --bin harness-bench` (installs wrk and h2load
//! (nghttp2-client) from Debian's packages when missing and run as root). Everything
//! goes to 127.0.0.1. `harness-bench db` compares the local stack, on PostgreSQL and
//! through the local DSQL front, with pgbench (`db.rs`). `harness-bench payload [N]`
//! compares building payloads from a template with the hand-written builder (`payload.rs`).
//! `harness-bench fleet [N...]` measures one coordinator following N simulated workers (`fleet.rs`).

mod db;
mod fleet;
mod payload;

use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use workers::invoker::{InvokeClient, Invoker};
use workers::{Accounts, EnginePlan, LoadModel, Target, Workload};

/// The SDK's per-call work is allocation-heavy; mimalloc costs less CPU than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PAYLOAD: &str = r#"{"payer_id":1,"payee_id":2,"amount":1}"#;
const RESPONSE: &str = r#"{"balance":99,"duration":0,"duration_us":1,"retries":0}"#;
const SECONDS: f64 = 5.0;
/// Samples of each client, taken in alternation so that drift hits every client alike.
const SAMPLES: usize = 3;

#[derive(Debug, Serialize, Deserialize)]
struct Measured {
    calls: u64,
    errors: u64,
    wall_s: f64,
    cpu_s: f64,
    peak_rss_kib: u64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => orchestrate(),
        Some("db") => db::run(),
        Some("payload") => payload::run(args.get(1).map(String::as_str)),
        Some("fleet") => fleet::run(&args[1..]),
        Some("endpoint") => db::serve_endpoint(&args[1], args[2].parse()?, args.get(3).map(String::as_str)),
        Some("serve") => serve(args[1].parse()?, args[2].parse()?),
        Some("client") => {
            let (mode, url, in_flight, seconds) = (args[1].as_str(), &args[2], args[3].parse()?, args[4].parse()?);
            let m = client(mode, url, in_flight, seconds)?;
            println!("{}", serde_json::to_string(&m)?);
            Ok(())
        }
        Some(other) => bail!("unknown mode {other:?}; run without arguments"),
    }
}

/// The engine's payloads: the transfer template's, or one constant payload.
fn engine_workload(constant: bool) -> Workload {
    match constant {
        true => payload::constant(),
        false => Workload::transfer(1, 1000, Accounts::Uniform, 1, 1),
    }
}

/// The no-op endpoint: answers every Invoke with a fixed body after `delay_ms`.
fn serve(port: u16, delay_ms: u64) -> anyhow::Result<()> {
    use axum::routing::post;
    exit_when_stdin_closes();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    rt.block_on(async move {
        let app = axum::Router::new().route(
            "/2015-03-31/functions/{name}/invocations",
            // Reading the body first, as a real endpoint does: a response sent before the
            // request body is read makes hyper reset the HTTP/2 stream, and after 1,024
            // such resets its rapid-reset protection closes the connection.
            post(move |_body: axum::body::Bytes| async move {
                if delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                }
                ([("content-type", "application/json"), ("x-amz-executed-version", "$LATEST")], RESPONSE)
            }),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}

/// One client measurement on a single-threaded runtime: `engine` (the harness engine,
/// closed model) or `bare` (N tasks looping on the client), with the SDK or, for
/// `lean-engine` and `lean-bare`, the lean client.
fn client(mode: &str, url: &str, in_flight: u64, seconds: f64) -> anyhow::Result<Measured> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let cpu0 = cpu_seconds()?;
    let start = Instant::now();
    let (kind, mode) = match mode.strip_prefix("lean-") {
        Some(m) => (InvokeClient::Lean, m),
        None => (InvokeClient::Sdk, mode),
    };
    // `const-engine`: the engine sending one constant payload (`harness-bench payload`).
    let (constant, mode) = match mode.strip_prefix("const-") {
        Some(m) => (true, m),
        None => (false, mode),
    };
    let (calls, errors) = rt.block_on(async {
        let target = Arc::new(Invoker::local(kind, url, "noop", in_flight)?);
        match mode {
            "engine" => {
                let plan = EnginePlan {
                    load: LoadModel::Closed { in_flight, calls: None, duration_s: Some(seconds) },
                    workload: engine_workload(constant),
                    seed: 1,
                    response: Default::default(),
                    kinds: Vec::new(),
                    call_timeout_s: 60.0,
                    max_duration_s: seconds + 60.0,
                    drain_timeout_s: 30.0,
                };
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let (_cancel_tx, cancel) = tokio::sync::watch::channel(workers::Halt::Go);
                let engine = workers::engine::run(&plan, target, cancel, tx);
                let sum = async {
                    let mut s = workers::Stats::default();
                    while let Some(i) = rx.recv().await {
                        s.merge(&i.stats);
                    }
                    s
                };
                let (_, stats) = tokio::join!(engine, sum);
                for (class, message, n) in stats.error_messages.iter() {
                    eprintln!("  {n} x {}: {message}", class.name());
                }
                // Counted as the other clients count: successes are calls, the rest errors.
                Ok((stats.successes, stats.error_count()))
            }
            "bare" => {
                let (calls, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
                let deadline = Instant::now() + Duration::from_secs_f64(seconds);
                let tasks: Vec<_> = (0..in_flight)
                    .map(|_| {
                        let (t, calls, errors) = (target.clone(), calls.clone(), errors.clone());
                        tokio::spawn(async move {
                            while Instant::now() < deadline {
                                let ok = matches!(
                                    t.invoke(serde_json::from_str(PAYLOAD).unwrap()).await.outcome,
                                    workers::Outcome::Response(_)
                                );
                                if ok { &calls } else { &errors }.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await?;
                }
                Ok((calls.load(Ordering::Relaxed), errors.load(Ordering::Relaxed)))
            }
            other => anyhow::bail!("unknown client mode {other:?}"),
        }
    })?;
    Ok(Measured {
        calls,
        errors,
        wall_s: start.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds()? - cpu0,
        peak_rss_kib: peak_rss_kib()?,
    })
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let fields: Vec<&str> = stat.rsplit_once(')').context("/proc/self/stat")?.1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(ticks as f64 / 100.0)
}

fn peak_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("VmHWM in /proc/self/status")?;
    Ok(line.split_whitespace().nth(1).context("VmHWM value")?.parse()?)
}

/// A child process of the benchmark: killed when dropped, and gone with its stdin (our
/// pipe), which the kernel closes however the benchmark ends, SIGKILL included.
struct Owned {
    child: Child,
    _stdin: Option<ChildStdin>,
}

impl Owned {
    fn spawn(command: &mut Command) -> std::io::Result<Owned> {
        let mut child = command.stdin(Stdio::piped()).spawn()?;
        let stdin = child.stdin.take();
        Ok(Owned { child, _stdin: stdin })
    }

    fn stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In a child (`serve`, `endpoint`): exit once stdin closes, that is, once the
/// benchmark that started it is gone.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
}

fn start_server(delay_ms: u64) -> anyhow::Result<(Owned, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let exe = std::env::current_exe()?;
    let server = Owned::spawn(Command::new("taskset").args(["-c", "1"]).arg(&exe).args([
        "serve",
        &port.to_string(),
        &delay_ms.to_string(),
    ]))
    .context("starting the no-op endpoint (is taskset installed?)")?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((server, format!("http://127.0.0.1:{port}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the no-op endpoint did not start")
}

fn run_client(mode: &str, url: &str, in_flight: u64, seconds: f64) -> anyhow::Result<Measured> {
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(std::env::current_exe()?)
        .args(["client", mode, url, &in_flight.to_string(), &seconds.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("{mode} client at {in_flight} in flight failed: {}", out.status);
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// h2load (HTTP/2 with prior knowledge) with one thread on CPU 0: `in_flight` streams
/// over connections of at most 100 streams each, as the harness's clients use them.
fn run_h2load(url: &str, in_flight: u64, seconds: f64) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let body = dir.path().join("payload.json");
    std::fs::write(&body, PAYLOAD)?;
    let connections = in_flight.div_ceil(100).max(1);
    let out = Command::new("/usr/bin/time")
        .args(["-f", "CPU %U %S RSS %M WALL %e", "taskset", "-c", "0", "h2load", "-t1"])
        .arg(format!("-c{connections}"))
        .arg(format!("-m{}", in_flight.div_ceil(connections)))
        .arg(format!("-D{}", seconds as u64))
        .arg("-d")
        .arg(&body)
        .args(["-H", "content-type: application/json"])
        .arg(format!("{url}/2015-03-31/functions/noop/invocations"))
        .output()
        .context("running h2load")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // "requests: 100 total, 100 started, 100 done, 98 succeeded, 2 failed, 0 errored, 0 timeout"
    let line =
        stdout.lines().find(|l| l.starts_with("requests:")).with_context(|| format!("h2load:\n{stdout}{stderr}"))?;
    let count = |label: &str| -> u64 {
        line.split(',').find_map(|p| p.trim().strip_suffix(label)?.trim().rsplit(' ').next()?.parse().ok()).unwrap_or(0)
    };
    let (succeeded, failed, errored, timeout) =
        (count("succeeded"), count("failed"), count("errored"), count("timeout"));
    let (cpu_s, peak_rss_kib, wall_s) = timed(&stderr)?;
    Ok(Measured { calls: succeeded, errors: failed + errored + timeout, wall_s, cpu_s, peak_rss_kib })
}

/// CPU seconds, peak RSS (KiB) and wall seconds from `/usr/bin/time -f "CPU %U %S RSS %M WALL %e"`.
fn timed(stderr: &str) -> anyhow::Result<(f64, u64, f64)> {
    let cpu = stderr.lines().find_map(|l| l.strip_prefix("CPU ")).context("/usr/bin/time output")?;
    let mut parts = cpu.split_whitespace();
    let user: f64 = parts.next().context("user time")?.parse()?;
    let sys: f64 = parts.next().context("system time")?.parse()?;
    let rss: u64 = parts.nth(1).context("rss")?.parse()?;
    let wall_s: f64 = parts.nth(1).context("wall time")?.parse()?;
    Ok((user + sys, rss, wall_s))
}

/// wrk with one thread on CPU 0; CPU time from /usr/bin/time.
fn run_wrk(url: &str, connections: u64, seconds: f64) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{PAYLOAD}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        ),
    )?;
    let out = Command::new("/usr/bin/time")
        .args(["-f", "CPU %U %S RSS %M WALL %e", "taskset", "-c", "0", "wrk", "-t1"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", seconds as u64))
        .arg("-s")
        .arg(&script)
        .arg(format!("{url}/2015-03-31/functions/noop/invocations"))
        .output()
        .context("running wrk")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let requests: u64 = stdout
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").map(|(n, _)| n.trim().parse().ok()))
        .flatten()
        .with_context(|| format!("wrk output:\n{stdout}{stderr}"))?;
    // "Non-2xx or 3xx responses: N" and "Socket errors: connect A, read B, write C, timeout D".
    let number_after = |label: &str| -> u64 {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map_or(0, |rest| rest.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u64>().ok()).sum())
    };
    let non_2xx = number_after("Non-2xx or 3xx responses:");
    let socket_errors = number_after("Socket errors:");
    let (cpu_s, peak_rss_kib, wall_s) = timed(&stderr)?;
    Ok(Measured {
        calls: requests.saturating_sub(non_2xx),
        errors: non_2xx + socket_errors,
        wall_s,
        cpu_s,
        peak_rss_kib,
    })
}

fn ensure_tools() -> anyhow::Result<()> {
    let have = |t: &str| {
        Command::new("sh").args(["-c", &format!("command -v {t}")]).output().is_ok_and(|o| o.status.success())
    };
    for (tool, package) in [("wrk", "wrk"), ("h2load", "nghttp2-client")] {
        if !have(tool) {
            eprintln!("{tool} is missing: installing Debian's {package} package");
            let install =
                format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}");
            if !Command::new("sh").args(["-c", &install]).status()?.success() {
                bail!("could not install {tool}; install it (apt-get install {package}) and run again");
            }
        }
    }
    for tool in ["taskset", "/usr/bin/time"] {
        if !have(tool) {
            bail!("{tool} is missing (Debian packages util-linux and time)");
        }
    }
    Ok(())
}

fn orchestrate() -> anyhow::Result<()> {
    ensure_tools()?;
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let (_fast, url) = start_server(0)?;
    println!("Invoke path against a no-op Lambda endpoint (endpoint on CPU 1, client on CPU 0, {SECONDS:.0} s each)\n");
    println!("{SAMPLES} alternating samples per client; calls/s/core as median [min-max], ratios of medians");
    println!(
        "{:<34} {:>9} {:>10} {:>8} {:>22} {:>8}",
        "client", "in flight", "calls/s", "CPU s", "calls/s/core", "vs wrk"
    );
    const CLIENTS: [(&str, &str); 5] = [
        ("aws-sdk-lambda, bare loop", "bare"),
        ("harness engine (aws-sdk-lambda)", "engine"),
        ("lean client, bare loop", "lean-bare"),
        ("harness engine (lean client)", "lean-engine"),
        ("h2load, HTTP/2 POST (reference)", "h2load"),
    ];
    for in_flight in [64u64, 1000] {
        let mut wrk = Vec::new();
        let mut measured: Vec<Vec<Measured>> = CLIENTS.iter().map(|_| Vec::new()).collect();
        for _ in 0..SAMPLES {
            wrk.push(run_wrk(&url, in_flight, SECONDS)?);
            for (i, (_, mode)) in CLIENTS.iter().enumerate() {
                measured[i].push(match *mode {
                    "h2load" => run_h2load(&url, in_flight, SECONDS)?,
                    mode => run_client(mode, &url, in_flight, SECONDS)?,
                });
            }
        }
        let wrk_per_core = median(&wrk);
        row("wrk, HTTP/1.1 POST (reference)", in_flight, &wrk, None);
        for (i, (name, _)) in CLIENTS.iter().enumerate() {
            row(name, in_flight, &measured[i], Some(wrk_per_core));
        }
        let m = |i: usize| median(&measured[i]);
        println!(
            "{:<34} {:>9} engine/bare SDK = {:.2}; lean bare/SDK bare = {:.2}; lean engine/SDK bare = {:.2}; lean engine/h2load = {:.3} (medians)\n",
            "",
            "",
            m(1) / m(0).max(1e-9),
            m(2) / m(0).max(1e-9),
            m(3) / m(0).max(1e-9),
            m(3) / m(4).max(1e-9)
        );
    }
    drop(_fast);
    let (_slow, slow_url) = start_server(2_000)?;
    println!("Peak memory with 10,000 calls in flight (endpoint answers after 2 s):");
    let mib = |m: &Measured| m.peak_rss_kib as f64 / 1024.0;
    let bare = run_client("bare", &slow_url, 10_000, 6.0)?;
    println!(
        "{:<34} {:>8.1} MiB ({} calls, {} errors)",
        "aws-sdk-lambda, bare loop",
        mib(&bare),
        bare.calls,
        bare.errors
    );
    let held = run_client("engine", &slow_url, 10_000, 6.0)?;
    println!("{:<34} {:>8.1} MiB ({} calls, {} errors)", "harness engine", mib(&held), held.calls, held.errors);
    let lean = run_client("lean-engine", &slow_url, 10_000, 6.0)?;
    println!(
        "{:<34} {:>8.1} MiB ({} calls, {} errors)",
        "harness engine, lean client",
        mib(&lean),
        lean.calls,
        lean.errors
    );
    println!(
        "{:<34} engine/bare SDK = {:.2}; lean engine/bare SDK = {:.2}",
        "",
        mib(&held) / mib(&bare).max(0.1),
        mib(&lean) / mib(&bare).max(0.1)
    );
    Ok(())
}

fn per_core(m: &Measured) -> f64 {
    m.calls as f64 / m.cpu_s.max(0.01)
}

/// The median calls per core of the samples.
fn median(samples: &[Measured]) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(per_core).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One client's samples: calls/s (wall, median), and calls per core as median [min-max].
fn row(name: &str, in_flight: u64, samples: &[Measured], wrk_per_core: Option<f64>) {
    let mut rates: Vec<f64> = samples.iter().map(|m| m.calls as f64 / m.wall_s.max(1e-9)).collect();
    rates.sort_by(f64::total_cmp);
    let mut cores: Vec<f64> = samples.iter().map(per_core).collect();
    cores.sort_by(f64::total_cmp);
    let med = cores[cores.len() / 2];
    let ratio = wrk_per_core.map_or("1.00".to_string(), |w| format!("{:.3}", med / w));
    let errors: u64 = samples.iter().map(|m| m.errors).sum();
    let errors = if errors > 0 { format!(" ({errors} errors)") } else { String::new() };
    println!(
        "{name:<34} {in_flight:>9} {:>10.0} {:>8.2} {:>8.0} [{:.0}-{:.0}] {ratio:>8}{errors}",
        rates[rates.len() / 2],
        samples.iter().map(|m| m.cpu_s).sum::<f64>() / samples.len() as f64,
        med,
        cores[0],
        cores[cores.len() - 1],
    );
}

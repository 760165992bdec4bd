//! `harness-bench fleet [N...]`: what following a fleet costs one coordinator. For each N
//! (default 100, 300, 1,000), N simulated workers in this process
//! (`workers::remote::sim`: the daemon's side of the real protocol, sealed with a shared
//! secret, one interval a second of realistic size with hot-account rows) and the real
//! `harness run` as the coordinator, in its own process, following them for `SECONDS`.
//! The coordinator runs on CPU 0 (taskset), this process on CPU 1, so the coordinator's
//! CPU (from its summary.json: `coordinator.cpu_s`, its own rusage over the fleet run) is
//! its own. Every figure is a ratio within the same invocation: CPU per second of the run
//! (the share of one core), CPU per worker-second, frames and bytes per worker-second;
//! and whether the summary's totals are exactly what the workers sent.
//!
//! With `HARNESS_BENCH_PERF=DIR` the coordinator runs under `perf record -g`, its
//! profile written to `DIR/coordinator-N.data`.

use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde_json::Value;
use workers::remote::sim::{Sent, SimFleet, SimSpec};
use workers::Stats;

const SECONDS: u64 = 20;
const CALLS_PER_SECOND: u64 = 200;
/// Different intervals drawn for each second.
const VARIANTS: usize = 32;
/// The coordinator's wait between sending the plans and the agreed start (coordinator.rs).
const START_DELAY_S: f64 = 1.5;
const SECRET: &str = "harness-bench-fleet-secret-0123456789";
/// Samples of each fleet size, the sizes alternating so that drift hits every size alike.
const SAMPLES: usize = 3;

/// One fleet size's figures.
struct Figures {
    workers: usize,
    cpu_s: f64,
    wall_s: f64,
    rss_kib: u64,
    frames: u64,
    bytes: u64,
    exact: Result<(), String>,
}

pub fn run(sizes: &[String]) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let sizes: Vec<usize> = match sizes {
        [] => vec![100, 300, 1_000],
        given => {
            given.iter().map(|s| s.parse().with_context(|| format!("fleet size {s:?}"))).collect::<Result<_, _>>()?
        }
    };
    pin_to_cpu(1)?;
    let rt = tokio::runtime::Runtime::new()?;
    println!(
        "One coordinator (`harness run`, CPU 0) following N simulated workers (CPU 1) for {SECONDS} s; \
         each worker sends one interval a second ({CALLS_PER_SECOND} calls, 4 histograms, 4 error classes, 20 hot-account rows)\n"
    );
    let mut samples: Vec<Vec<Figures>> = sizes.iter().map(|_| Vec::new()).collect();
    for _ in 0..SAMPLES {
        for (n, figures) in sizes.iter().zip(&mut samples) {
            figures.push(measure(&rt, *n)?);
        }
    }
    println!(
        "{SAMPLES} alternating samples per size: median [min-max] of the CPU share and of the CPU per worker-second"
    );
    println!(
        "{:>7} {:>22} {:>18} {:>9} {:>13} {:>12} {:>9}  exact",
        "workers", "CPU share (1 = core)", "us/worker-s", "peak MiB", "frames/wkr-s", "bytes/wkr-s", "behind s"
    );
    for figures in &samples {
        print_row(figures);
    }
    println!(
        "\nCPU share: the coordinator's CPU seconds over its wall seconds (connect, start delay, run, drain).\n\
         us/worker-s: its CPU over N x {SECONDS} worker-seconds. peak MiB: its peak resident memory (the largest sample).\n\
         behind s: its wall seconds beyond the start delay and the run ({START_DELAY_S} s + {SECONDS} s), the largest \
         sample: connecting, the last second and the ends, and any seconds it fell behind.\n\
         exact: in every sample the summary's totals (calls, errors by class and message, every histogram), \
         hot-account rows and workers equal what the simulated workers sent."
    );
    Ok(())
}

/// One fleet size's samples: medians with their range, the largest memory and lag.
fn print_row(samples: &[Figures]) {
    let worker_seconds = (samples[0].workers as u64 * SECONDS) as f64;
    let spread = |f: &dyn Fn(&Figures) -> f64, digits: usize| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        format!("{:.digits$} [{:.digits$}-{:.digits$}]", v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let most = |f: &dyn Fn(&Figures) -> f64| samples.iter().map(f).fold(f64::MIN, f64::max);
    let inexact = samples.iter().find_map(|f| f.exact.as_ref().err());
    println!(
        "{:>7} {:>22} {:>18} {:>9.1} {:>13.2} {:>12.0} {:>9.1}  {}",
        samples[0].workers,
        spread(&|f| f.cpu_s / f.wall_s.max(1e-9), 3),
        spread(&|f| f.cpu_s * 1e6 / worker_seconds, 0),
        most(&|f| f.rss_kib as f64 / 1024.0),
        samples[0].frames as f64 / worker_seconds,
        samples[0].bytes as f64 / worker_seconds,
        most(&|f| f.wall_s - START_DELAY_S - SECONDS as f64),
        inexact.map_or("yes".to_string(), |why| format!("NO: {why}"))
    );
}

/// One run of the coordinator against `n` simulated workers.
fn measure(rt: &tokio::runtime::Runtime, n: usize) -> anyhow::Result<Figures> {
    let spec = SimSpec {
        workers: n,
        seconds: SECONDS,
        calls_per_second: CALLS_PER_SECOND,
        variants: VARIANTS,
        seed: 28,
        secret: Some(SECRET.as_bytes().to_vec()),
    };
    let fleet = rt.block_on(SimFleet::start(&spec))?;
    let dir = tempfile::tempdir()?;
    let (scenario, secret) = (dir.path().join("fleet.toml"), dir.path().join("secret"));
    std::fs::write(&scenario, scenario_text(&fleet.addresses))?;
    std::fs::write(&secret, SECRET)?;
    let results = dir.path().join("results");
    let out = coordinator(n, &scenario, &secret, &results)?.output()?;
    let sent = rt.block_on(fleet.finish());
    if !out.status.success() {
        bail!(
            "the coordinator failed with {} workers:\n{}\n{}",
            n,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let run = std::fs::read_dir(&results)?.next().context("no run folder")??.path();
    let s: Value = serde_json::from_slice(&std::fs::read(run.join("summary.json"))?)?;
    let c = &s["coordinator"];
    let u = |k: &str| c[k].as_u64().unwrap_or(0);
    Ok(Figures {
        workers: n,
        cpu_s: c["cpu_s"].as_f64().context("coordinator.cpu_s")?,
        wall_s: c["seconds"].as_f64().context("coordinator.seconds")?,
        rss_kib: u("max_rss_kib"),
        frames: u("frames"),
        bytes: u("bytes"),
        exact: exact(&s, &sent, n),
    })
}

/// `harness run` on CPU 0, under `perf record -g` when `HARNESS_BENCH_PERF` names a folder.
fn coordinator(
    n: usize,
    scenario: &std::path::Path,
    secret: &std::path::Path,
    results: &std::path::Path,
) -> anyhow::Result<Command> {
    let harness = std::env::current_exe()?.with_file_name("harness");
    let mut command = match std::env::var_os("HARNESS_BENCH_PERF") {
        Some(dir) => {
            let mut c = Command::new("perf");
            let data = std::path::Path::new(&dir).join(format!("coordinator-{n}.data"));
            c.args(["record", "-g", "-F", "499", "-o"]).arg(data).args(["--", "taskset", "-c", "0"]);
            c
        }
        None => {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]);
            c
        }
    };
    command.arg(harness).arg("run").arg(scenario).arg("--results").arg(results);
    command.arg("--worker-secret-file").arg(secret).env_remove("HARNESS_WORKER_SECRET");
    command.stdin(Stdio::null());
    Ok(command)
}

/// A closed-model scenario over the workers at `addresses`, against an endpoint nobody
/// calls; the simulated 2.7% of failed calls pass.
fn scenario_text(addresses: &[String]) -> String {
    let list: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[target]\nkind = \"endpoint\"\nurl = \"http://127.0.0.1:9\"\nfunction = \"sim\"\n\
         [data]\naccounts = 2000\n[load]\nmodel = \"closed\"\nin_flight = {}\nduration = \"{SECONDS}s\"\n\
         [limits]\ndrain_timeout = \"5s\"\n[thresholds]\nmax_failed_pct = 10\n[workers]\naddresses = [{}]\n",
        4 * addresses.len(),
        list.join(", ")
    )
}

/// Whether the summary holds exactly what the workers sent, or the first difference.
fn exact(s: &Value, sent: &Sent, n: usize) -> Result<(), String> {
    if !sent.problems.is_empty() || sent.finished != n {
        return Err(format!("{} of {n} workers finished: {:?}", sent.finished, sent.problems.first()));
    }
    let workers = s["workers"].as_array().map_or(&[][..], Vec::as_slice);
    let completed = workers.iter().filter(|w| w["status"] == "completed").count();
    if completed != n {
        return Err(format!("{completed} of {n} workers completed"));
    }
    let totals: Stats = serde_json::from_value(s["totals"].clone()).map_err(|e| format!("summary totals: {e}"))?;
    if totals != sent.totals {
        return Err(format!("totals: {} calls recorded, {} sent", totals.calls, sent.totals.calls));
    }
    let rows = s["hot_accounts"]["top"].as_array().map_or(&[][..], Vec::as_slice);
    for row in rows {
        let id = row["id"].as_i64().unwrap_or(0);
        let c = sent.accounts.0.get(&id).copied().unwrap_or_default();
        let seen: Vec<u64> = ["payer", "payee", "retries", "conflicts"].map(|k| row[k].as_u64().unwrap_or(0)).into();
        if seen != [c.payer, c.payee, c.retries, c.conflicts] {
            return Err(format!("hot account {id}: {seen:?} recorded, {c:?} sent"));
        }
    }
    if rows.len() != sent.accounts.0.len() {
        return Err(format!("{} hot-account rows, {} accounts sent", rows.len(), sent.accounts.0.len()));
    }
    Ok(())
}

/// Run this process (and the threads it starts from now on) on `cpu` only.
fn pin_to_cpu(cpu: usize) -> anyhow::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET and sched_setaffinity get a
    // valid pointer to it and its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            bail!("pinning the simulated workers to CPU {cpu}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

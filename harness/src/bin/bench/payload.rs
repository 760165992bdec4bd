//! `harness-bench payload [N]`: what building a transfer's payload from the compiled
//! template costs, against the hand-written builder it replaced (kept here as the
//! reference: payer and payee drawn uniformly, payee drawn again until it differs, then
//! `json!`), in the same invocation. Each builder makes N payloads (default 2,000,000)
//! per round, in alternating rounds; the best round of each is compared. Both draw the
//! same payloads from the same seed, which is checked first.
//!
//! Then what a call costs as a whole: the harness engine (lean client, one core, 64 in
//! flight) against the no-op endpoint, sending the transfer template's payloads and,
//! in alternation, one constant payload that costs less to make than any builder (the
//! old one included); the ratio of their CPU per call bounds from above what the
//! template adds to a call against the builder it replaced.

use std::hint::black_box;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use workers::{Accounts, Workload};

const ROUNDS: usize = 5;
const FIRST: i32 = 1;
const LAST: i32 = 1_000;

/// The transfer payload builder before templates, uniform accounts only.
struct Reference {
    rng: SmallRng,
}

impl Reference {
    fn next_payload(&mut self) -> Value {
        let payer = self.rng.random_range(FIRST..=LAST);
        let mut payee = self.rng.random_range(FIRST..=LAST);
        for _ in 0..16 {
            if payee != payer {
                break;
            }
            payee = self.rng.random_range(FIRST..=LAST);
        }
        if payee == payer {
            payee = if payer < LAST { payer + 1 } else { FIRST };
        }
        let amount = self.rng.random_range(1..=1);
        json!({"payer_id": payer, "payee_id": payee, "amount": amount})
    }
}

/// Nanoseconds per payload of `n` calls of `next`.
fn time(n: u64, mut next: impl FnMut() -> Value) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        black_box(next());
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

pub fn run(n: Option<&str>) -> anyhow::Result<()> {
    let n: u64 = n.map(str::parse).transpose()?.unwrap_or(2_000_000);
    let workload = Workload::transfer(FIRST, LAST, Accounts::Uniform, 1, 1);
    let (mut r, mut s) = (Reference { rng: SmallRng::seed_from_u64(0) }, workload.sampler(0));
    for _ in 0..1_000 {
        anyhow::ensure!(
            Some(r.next_payload()) == s.next_payload(),
            "the template and the reference build different payloads"
        );
    }
    let (mut reference, mut template) = (f64::MAX, f64::MAX);
    for round in 0..ROUNDS as u64 {
        let mut r = Reference { rng: SmallRng::seed_from_u64(round) };
        reference = reference.min(time(n, || r.next_payload()));
        let mut s = workload.sampler(round);
        template = template.min(time(n, || s.next_payload().expect("a transfer never runs out")));
    }
    println!("payloads: {n} per round, best of {ROUNDS} rounds");
    println!("reference json! builder: {reference:.1} ns/payload");
    println!("compiled template:       {template:.1} ns/payload");
    println!("ratio template/reference: {:.3} (building the payload alone)", template / reference);
    per_call()
}

/// The transfer's payload, constant: no generator to draw from.
pub fn constant() -> Workload {
    Workload::template(json!({"payer_id": 1, "payee_id": 2, "amount": 1}), vec![]).expect("a constant template")
}

/// The engine's CPU per call with the template and with a constant payload, alternating,
/// medians of `SAMPLES` runs each.
fn per_call() -> anyhow::Result<()> {
    const SAMPLES: usize = 5;
    let (_server, url) = crate::start_server(0)?;
    let (mut template, mut constant) = (Vec::new(), Vec::new());
    for _ in 0..SAMPLES {
        for (mode, into) in [("lean-engine", &mut template), ("lean-const-engine", &mut constant)] {
            let m = crate::run_client(mode, &url, 64, 3.0)?;
            anyhow::ensure!(m.errors == 0 && m.calls > 0, "{mode}: {} calls, {} errors", m.calls, m.errors);
            into.push(m.cpu_s / m.calls as f64 * 1e6);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (t, c) = (median(&mut template), median(&mut constant));
    println!("engine CPU per call, median of {SAMPLES} runs of 3 s (lean client, 64 in flight, one core):");
    println!("  transfer template: {t:.2} us/call   constant payload: {c:.2} us/call");
    println!("ratio template/constant per call: {:.3} (the budget is 1.10)", t / c);
    Ok(())
}

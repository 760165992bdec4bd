//! `harness-bench payload [N]`: what building a transfer's payload from the compiled
//! template costs, against the hand-written builder it replaced (kept here as the
//! reference: payer and payee drawn uniformly, payee drawn again until it differs, then
//! `json!`), in the same invocation. Each builder makes N payloads (default 2,000,000)
//! per round, in alternating rounds; the best round of each is compared. Both draw the
//! same payloads from the same seed, which is checked first.

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
    println!("ratio template/reference: {:.3} (the budget is 1.10)", template / reference);
    Ok(())
}

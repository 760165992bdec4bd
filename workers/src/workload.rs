//! What each call asks the function to do: the operation, and for transfers the payer
//! and payee drawn from the account range (uniformly, or Zipf-skewed towards the lowest
//! ids to model hot accounts) and the amount.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution as _, Zipf};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The operation each call performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Transfer,
    Greeting,
    Connectivity,
}

/// How payer and payee are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Accounts {
    Uniform,
    /// Rank k (1 = the lowest id) is drawn with probability proportional to 1/k^exponent.
    Zipf {
        exponent: f64,
    },
}

/// The calls' contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub op: Op,
    /// Accounts `first..=last` are drawn from (at least two for transfers).
    pub first_account: i32,
    pub last_account: i32,
    pub accounts: Accounts,
    /// Amounts are drawn uniformly from `amount_min..=amount_max`.
    pub amount_min: i32,
    pub amount_max: i32,
}

/// Draws payloads; one per engine, seeded for repeatable runs.
pub struct Sampler {
    workload: Workload,
    rng: SmallRng,
    zipf: Option<Zipf<f64>>,
}

impl Workload {
    pub fn sampler(&self, seed: u64) -> Sampler {
        let n = (self.last_account - self.first_account + 1).max(1) as f64;
        let zipf = match self.accounts {
            Accounts::Zipf { exponent } => Some(Zipf::new(n, exponent).expect("validated: n >= 1, exponent >= 0")),
            Accounts::Uniform => None,
        };
        Sampler { workload: self.clone(), rng: SmallRng::seed_from_u64(seed), zipf }
    }
}

impl Sampler {
    /// The next call's payload.
    pub fn next_payload(&mut self) -> Value {
        match self.workload.op {
            Op::Greeting => json!({"op": "greeting", "name": "harness"}),
            Op::Connectivity => json!({"op": "connectivity", "name": "harness"}),
            Op::Transfer => {
                let payer = self.account();
                let mut payee = self.account();
                for _ in 0..16 {
                    if payee != payer {
                        break;
                    }
                    payee = self.account();
                }
                if payee == payer {
                    let w = &self.workload;
                    payee = if payer < w.last_account { payer + 1 } else { w.first_account };
                }
                let amount = self.rng.random_range(self.workload.amount_min..=self.workload.amount_max);
                json!({"payer_id": payer, "payee_id": payee, "amount": amount})
            }
        }
    }

    fn account(&mut self) -> i32 {
        let w = &self.workload;
        match &self.zipf {
            None => self.rng.random_range(w.first_account..=w.last_account),
            Some(z) => w.first_account + z.sample(&mut self.rng) as i32 - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(accounts: Accounts) -> Workload {
        Workload { op: Op::Transfer, first_account: 11, last_account: 20, accounts, amount_min: 1, amount_max: 3 }
    }

    #[test]
    fn transfers_stay_in_range_with_distinct_accounts() {
        let mut s = workload(Accounts::Uniform).sampler(7);
        for _ in 0..2_000 {
            let p = s.next_payload();
            let (a, b) = (p["payer_id"].as_i64().unwrap(), p["payee_id"].as_i64().unwrap());
            assert!((11..=20).contains(&a) && (11..=20).contains(&b) && a != b, "{p}");
            assert!((1..=3).contains(&p["amount"].as_i64().unwrap()));
        }
    }

    #[test]
    fn zipf_makes_the_lowest_ids_hot() {
        let mut s = workload(Accounts::Zipf { exponent: 1.2 }).sampler(7);
        let mut counts = [0u32; 10];
        for _ in 0..10_000 {
            counts[(s.next_payload()["payer_id"].as_i64().unwrap() - 11) as usize] += 1;
        }
        assert!(counts[0] > 3 * counts[9], "{counts:?}");
        assert!(counts.windows(2).filter(|w| w[0] >= w[1]).count() >= 7, "{counts:?}");
    }
}

//! What each call sends: a payload template compiled once, filled per call from named
//! generators (ints uniform, Zipf-skewed or sequential, another int than a given one,
//! decimals, UUIDs, choices, strings, timestamps, the rows of a data file). The built-in
//! operations (a transfer between two accounts, a greeting, a connectivity check) are
//! such templates too. Sampling is deterministic under a seed, and a workload split
//! across workers gives each its share of sequential values and unique rows.

pub mod formats;
pub mod generator;
pub mod mix;
mod state;
mod template;

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub use generator::{Distribution, Gen, Order};
pub use mix::{CallKind, Mix, NextCall};
use state::State;
use template::Node;

/// Most bytes a workload's data-file rows may take as JSON: they travel in the plan to
/// every worker, whose messages are at most 1 MiB.
pub const MAX_ROWS_BYTES: usize = 512 << 10;

/// The built-in operation a workload was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Transfer,
    Greeting,
    Connectivity,
}

/// How a transfer's payer and payee are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Accounts {
    Uniform,
    /// Rank k (1 = the lowest id) is drawn with probability proportional to 1/k^exponent.
    Zipf {
        exponent: f64,
    },
}

/// A built-in workload as the scenario's `op`, `accounts`, `amount`... keys give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Builtin {
    pub op: Op,
    /// Accounts `first..=last` are drawn from (at least two for transfers).
    pub first_account: i32,
    pub last_account: i32,
    pub accounts: Accounts,
    /// Amounts are drawn uniformly from `amount_min..=amount_max`.
    pub amount_min: i32,
    pub amount_max: i32,
}

/// Which share of the sequential values and unique rows a worker takes: `index` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub index: u64,
    pub of: u64,
}

impl Default for Share {
    fn default() -> Self {
        Share { index: 0, of: 1 }
    }
}

/// What is wrong with a workload, named by its scenario key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    #[error("workload.template uses {{{{{name}}}}}, but workload.generators has no {name:?}")]
    UnknownGenerator { name: String },
    #[error("workload.template reads {name}.{column}, but {name:?} is not a row generator")]
    NotARow { name: String, column: String },
    #[error("workload.template reads {name}.{column}, but the columns of {name:?} are {columns}")]
    UnknownColumn { name: String, column: String, columns: String },
    #[error("workload.template: {{{{ is not closed by }}}} in {text:?}")]
    Unclosed { text: String },
    #[error("workload.generators.{name} is not used by workload.template")]
    Unused { name: String },
    #[error("workload.generators.{name}.{key}: {message}")]
    Generator { name: String, key: &'static str, message: String },
    #[error("workload.accounts {first}..={last}: {message}")]
    Builtin { first: i32, last: i32, message: String },
    #[error("accounts can only be partitioned for the built-in transfer, not for a workload.template")]
    NoAccounts,
}

/// The calls' contents: a compiled template and its generators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Wire", into = "Wire")]
pub struct Workload {
    builtin: Option<Builtin>,
    template: Value,
    /// By name.
    generators: Vec<(String, Gen)>,
    share: Share,
    compiled: Node,
    /// The generators drawn for each call, in order (`other` after the one it avoids).
    order: Vec<usize>,
}

/// A workload as it travels: a built-in one exactly as before templates existed, or the
/// template, its generators and the share.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Wire {
    Template {
        template: Value,
        generators: BTreeMap<String, Gen>,
        #[serde(default)]
        share: Share,
    },
    Builtin(Builtin),
}

impl TryFrom<Wire> for Workload {
    type Error = WorkloadError;
    fn try_from(w: Wire) -> Result<Self, WorkloadError> {
        match w {
            Wire::Builtin(b) => Workload::builtin(b),
            Wire::Template { template, generators, share } => {
                let mut w = Workload::template(template, generators.into_iter().collect())?;
                w.share = share;
                Ok(w)
            }
        }
    }
}

impl From<Workload> for Wire {
    fn from(w: Workload) -> Wire {
        match w.builtin {
            Some(b) => Wire::Builtin(b),
            None => {
                Wire::Template { template: w.template, generators: w.generators.into_iter().collect(), share: w.share }
            }
        }
    }
}

impl template::Names for Vec<(String, Gen)> {
    fn find(&self, name: &str) -> Option<(usize, Option<&[String]>)> {
        let at = self.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok()?;
        Some((at, self[at].1.columns()))
    }
}

impl Workload {
    /// Transfers between accounts `first..=last` (payer drawn by `accounts`, payee another
    /// account drawn the same way) of an amount drawn uniformly from `amount_min..=amount_max`.
    /// Panics on a range that cannot be drawn from (fewer than two accounts, min > max):
    /// scenarios are checked with `Workload::builtin`.
    pub fn transfer(first: i32, last: i32, accounts: Accounts, amount_min: i32, amount_max: i32) -> Workload {
        let b =
            Builtin { op: Op::Transfer, first_account: first, last_account: last, accounts, amount_min, amount_max };
        Workload::builtin(b).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A built-in workload compiled into its template.
    pub fn builtin(b: Builtin) -> Result<Workload, WorkloadError> {
        let bad = |message: String| WorkloadError::Builtin { first: b.first_account, last: b.last_account, message };
        if b.first_account < 1 || b.last_account < b.first_account {
            return Err(bad("not a range of account ids".into()));
        }
        let (template, generators) = match b.op {
            Op::Greeting => (json!({"op": "greeting", "name": "harness"}), vec![]),
            Op::Connectivity => (json!({"op": "connectivity", "name": "harness"}), vec![]),
            Op::Transfer => {
                let (distribution, exponent) = match b.accounts {
                    Accounts::Uniform => (Distribution::Uniform, None),
                    Accounts::Zipf { exponent } => (Distribution::Zipf, Some(exponent)),
                };
                let (first, last) = (i64::from(b.first_account), i64::from(b.last_account));
                let (amin, amax) = (i64::from(b.amount_min), i64::from(b.amount_max));
                let generators = vec![
                    (
                        "amount".into(),
                        Gen::Int { min: amin, max: amax, distribution: Distribution::Uniform, exponent: None },
                    ),
                    ("payee".into(), Gen::Other { of: "payer".into() }),
                    ("payer".into(), Gen::Int { min: first, max: last, distribution, exponent }),
                ];
                (json!({"payer_id": "{{payer}}", "payee_id": "{{payee}}", "amount": "{{amount}}"}), generators)
            }
        };
        let mut w = Workload::template(template, generators).map_err(|e| bad(e.to_string()))?;
        if b.op == Op::Transfer {
            // payer, payee, amount: the order of the builder before templates, so that a
            // recorded seed gives the payloads it gave then.
            w.order = vec![2, 1, 0];
        }
        w.builtin = Some(b);
        Ok(w)
    }

    /// A template and its generators (any order; names unique), compiled and checked.
    pub fn template(template: Value, mut generators: Vec<(String, Gen)>) -> Result<Workload, WorkloadError> {
        generators.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, g) in &generators {
            g.check(name, &generators)?;
            if let Gen::Row { rows, .. } = g {
                let bytes = serde_json::to_vec(rows).map_or(usize::MAX, |v| v.len());
                if bytes > MAX_ROWS_BYTES {
                    let message = format!("the rows take {bytes} bytes as JSON, over the limit of {MAX_ROWS_BYTES} that a plan carries to its workers");
                    return Err(WorkloadError::Generator { name: name.clone(), key: "file", message });
                }
            }
        }
        let compiled = Node::compile(&template, &generators)?;
        let mut used = Vec::new();
        compiled.holes(&mut used);
        let avoided: Vec<usize> = used
            .iter()
            .filter_map(|g| match &generators[*g].1 {
                Gen::Other { of } => generators.binary_search_by(|(n, _)| n.cmp(of)).ok(),
                _ => None,
            })
            .collect();
        used.extend(avoided);
        used.sort_unstable_by_key(|g| (matches!(generators[*g].1, Gen::Other { .. }), *g));
        used.dedup();
        if let Some(g) = (0..generators.len()).find(|g| !used.contains(g)) {
            return Err(WorkloadError::Unused { name: generators[g].0.clone() });
        }
        Ok(Workload { builtin: None, template, generators, share: Share::default(), compiled, order: used })
    }

    /// The built-in operation this workload was made from; `None` for a template.
    pub fn op(&self) -> Option<Op> {
        self.builtin.as_ref().map(|b| b.op)
    }

    /// The built-in workload's keys; `None` for a template.
    pub fn builtin_keys(&self) -> Option<&Builtin> {
        self.builtin.as_ref()
    }

    /// The accounts a built-in workload draws from; `None` for a template.
    pub fn account_range(&self) -> Option<(i32, i32)> {
        self.builtin.as_ref().map(|b| (b.first_account, b.last_account))
    }

    /// Draw the built-in transfer's accounts from `first..=last` only.
    pub fn partition(&mut self, first: i32, last: i32) -> Result<(), WorkloadError> {
        let b = self.builtin.clone().ok_or(WorkloadError::NoAccounts)?;
        let share = self.share;
        *self = Workload::builtin(Builtin { first_account: first, last_account: last, ..b })?;
        self.share = share;
        Ok(())
    }

    /// The template and its generators as given.
    pub fn parts(&self) -> (&Value, &[(String, Gen)]) {
        (&self.template, &self.generators)
    }

    /// This worker's share of sequential values and unique rows.
    pub fn share(&self) -> Share {
        self.share
    }

    /// Take share `index` of `of` (checked with `check_split` first). A built-in
    /// workload has nothing to share (and travels without its share).
    pub fn set_share(&mut self, index: u64, of: u64) {
        if self.builtin.is_none() {
            self.share = Share { index, of };
        }
    }

    /// Whether `n` workers can each have a share: every sequential int needs at least
    /// `n` values and every unique row generator at least `n` rows.
    pub fn check_split(&self, n: u64) -> Result<(), WorkloadError> {
        for (name, g) in &self.generators {
            let (have, what, key) = match g {
                Gen::Int { min, max, distribution: Distribution::Sequential, .. } => {
                    ((*max as i128 - *min as i128 + 1) as u128, "values", "max")
                }
                Gen::Row { rows, unique: true, .. } => (rows.len() as u128, "rows", "unique"),
                _ => continue,
            };
            if have < u128::from(n) {
                let message = format!("{have} {what} cannot be shared by {n} workers (at least one each)");
                return Err(WorkloadError::Generator { name: name.clone(), key, message });
            }
        }
        Ok(())
    }

    /// The fewest rows of a `unique` row generator, and its name: the most calls the
    /// workload can make.
    pub fn unique_rows(&self) -> Option<(&str, usize)> {
        self.generators
            .iter()
            .filter_map(|(n, g)| match g {
                Gen::Row { rows, unique: true, .. } => Some((n.as_str(), rows.len())),
                _ => None,
            })
            .min_by_key(|(_, len)| *len)
    }

    /// A sampler drawing this workload's payloads from `seed`.
    pub fn sampler(&self, seed: u64) -> Sampler {
        let mut rng = SmallRng::seed_from_u64(seed);
        let gens = &self.generators;
        let index =
            |name: &str| gens.binary_search_by(|(n, _)| n.as_str().cmp(name)).expect("checked: a known generator");
        let states = gens.iter().map(|(_, g)| State::new(g, self.share, &index, gens, &mut rng)).collect();
        Sampler { workload: self.clone(), states, drawn: vec![Value::Null; gens.len()], rng }
    }
}

/// Draws payloads; one per engine, seeded for repeatable runs.
pub struct Sampler {
    workload: Workload,
    states: Vec<State>,
    /// This call's value of each generator (a row generator's: its row's index).
    drawn: Vec<Value>,
    rng: SmallRng,
}

impl Sampler {
    /// The next call's payload, or `None` once a `unique` row generator has given all
    /// of this worker's rows.
    pub fn next_payload(&mut self) -> Option<Value> {
        for &g in &self.workload.order {
            self.drawn[g] = self.states[g].draw(&mut self.rng, &self.drawn)?;
        }
        Some(self.workload.compiled.fill(self))
    }
}

impl template::Drawn for Sampler {
    fn value(&self, g: usize) -> &Value {
        &self.drawn[g]
    }

    fn row(&self, g: usize) -> Value {
        match &self.workload.generators[g].1 {
            Gen::Row { columns, rows, .. } => {
                let row = &rows[self.drawn[g].as_u64().unwrap_or(0) as usize];
                Value::Object(columns.iter().cloned().zip(row.iter().cloned()).collect::<Map<_, _>>())
            }
            _ => unreachable!("compiled: rows of row generators only"),
        }
    }

    fn field(&self, g: usize, column: usize) -> &Value {
        match &self.workload.generators[g].1 {
            Gen::Row { rows, .. } => &rows[self.drawn[g].as_u64().unwrap_or(0) as usize][column],
            _ => unreachable!("compiled: fields of row generators only"),
        }
    }
}

#[cfg(test)]
mod tests;

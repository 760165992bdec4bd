//! Several kinds of call in one run (`[[call]]` in a scenario): each kind its own
//! template, generators and answer mapping, one of them chosen for each call by weight
//! (as Locust's task weights and k6's scenarios mix requests). Deterministic under the
//! seed: the choice has a generator of its own, and each kind's sampler another.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Sampler, Workload};
use crate::ResponseMap;

/// Most kinds of call one scenario may have.
pub const MAX_KINDS: usize = 64;
/// Largest weight of one kind.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// One kind of call: its name (as reported), weight, payloads and what its answers mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallKind {
    pub name: String,
    /// Its share of the calls is `weight` over the sum of the weights.
    pub weight: u32,
    pub workload: Workload,
    #[serde(default)]
    pub response: ResponseMap,
    /// Its own function (name or ARN), when not the target's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
}

/// What is wrong with a list of kinds: each named once, each weight in `1..=MAX_WEIGHT`,
/// at most `MAX_KINDS` of them.
pub fn check_kinds(kinds: &[CallKind]) -> Result<(), String> {
    if kinds.len() > MAX_KINDS {
        return Err(format!("at most {MAX_KINDS} kinds of call, got {}", kinds.len()));
    }
    for (i, k) in kinds.iter().enumerate() {
        if k.name.trim().is_empty() || k.name.len() > 64 {
            return Err(format!("call {} needs a name of 1 to 64 characters, got {:?}", i + 1, k.name));
        }
        if kinds[..i].iter().any(|o| o.name == k.name) {
            return Err(format!("call name {:?} is given twice", k.name));
        }
        if !(1..=MAX_WEIGHT).contains(&k.weight) {
            return Err(format!("call {:?} has weight {}, not between 1 and {MAX_WEIGHT}", k.name, k.weight));
        }
    }
    Ok(())
}

/// One call to make: its payload, what its answer means, and its kind's name (none for
/// a scenario of one kind).
pub struct NextCall {
    pub payload: Value,
    pub response: Arc<ResponseMap>,
    pub kind: Option<Arc<str>>,
    /// The function to call, when not the target's.
    pub function: Option<Arc<str>>,
}

/// One kind's sampler, and what each of its calls carries.
struct Drawer {
    sampler: Sampler,
    response: Arc<ResponseMap>,
    kind: Option<Arc<str>>,
    function: Option<Arc<str>>,
}

/// Draws the calls of a run: of its one workload, or of its kinds by weight.
pub struct Mix {
    kinds: Vec<Drawer>,
    /// Running sums of the weights; a draw below `cumulative[i]` (and not below the one
    /// before) picks kind `i`.
    cumulative: Vec<u64>,
    chooser: SmallRng,
}

impl Mix {
    /// The mix of `kinds`, or of `workload` answered as `response` when there are none.
    pub fn new(workload: &Workload, response: &ResponseMap, kinds: &[CallKind], seed: u64) -> Mix {
        if kinds.is_empty() {
            let one = Drawer {
                sampler: workload.sampler(seed),
                response: Arc::new(response.clone()),
                kind: None,
                function: None,
            };
            return Mix { kinds: vec![one], cumulative: vec![1], chooser: SmallRng::seed_from_u64(seed) };
        }
        let mut total = 0u64;
        let mut cumulative = Vec::with_capacity(kinds.len());
        let samplers = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                total += u64::from(k.weight);
                cumulative.push(total);
                let own = seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                Drawer {
                    sampler: k.workload.sampler(own),
                    response: Arc::new(k.response.clone()),
                    kind: Some(Arc::from(k.name.as_str())),
                    function: k.function.as_deref().map(Arc::from),
                }
            })
            .collect();
        Mix { kinds: samplers, cumulative, chooser: SmallRng::seed_from_u64(seed ^ 0x6b69_6e64) }
    }

    /// The next call, or `None` once the chosen kind's unique rows are all used.
    pub fn next_call(&mut self) -> Option<NextCall> {
        self.next_call_of(None)
    }

    /// The next call of kind `kind` (its index among the kinds) when its load model
    /// chose it, else of a kind drawn by weight; `None` once its unique rows are used.
    pub fn next_call_of(&mut self, kind: Option<usize>) -> Option<NextCall> {
        let i = match (kind.filter(|k| *k < self.kinds.len()), self.cumulative.as_slice()) {
            (Some(k), _) => k,
            (None, [_]) => 0,
            (None, sums) => {
                let draw = self.chooser.random_range(0..sums[sums.len() - 1]);
                sums.partition_point(|&s| s <= draw)
            }
        };
        let d = &mut self.kinds[i];
        let payload = d.sampler.next_payload()?;
        Some(NextCall { payload, response: d.response.clone(), kind: d.kind.clone(), function: d.function.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str, weight: u32, op: &str) -> CallKind {
        let template = serde_json::json!({"op": op, "n": "{{n}}"});
        let n = super::super::Gen::Int {
            min: 0,
            max: 1_000_000,
            distribution: super::super::Distribution::Sequential,
            exponent: None,
        };
        let workload = Workload::template(template, vec![("n".into(), n)]).unwrap();
        let response = ResponseMap { retries: format!("/{op}_retries"), ..ResponseMap::default() };
        CallKind { name: name.into(), weight, workload, response, function: None }
    }

    /// 20,000 draws of an 80/15/5 mix: each share within 1.5 points (over 5 standard
    /// deviations of the largest), each kind's own payloads and answer map, and the same
    /// sequence again from the same seed.
    #[test]
    fn kinds_are_drawn_by_weight_deterministically_with_their_own_payloads_and_answers() {
        let kinds = [kind("read", 80, "r"), kind("write", 15, "w"), kind("scan", 5, "s")];
        let draw = |seed| {
            let mut mix = Mix::new(&kinds[0].workload, &ResponseMap::default(), &kinds, seed);
            (0..20_000).map(|_| mix.next_call().unwrap()).collect::<Vec<_>>()
        };
        let calls = draw(3);
        for (k, share) in kinds.iter().zip([0.80, 0.15, 0.05]) {
            let mine: Vec<&NextCall> = calls.iter().filter(|c| c.kind.as_deref() == Some(k.name.as_str())).collect();
            let got = mine.len() as f64 / calls.len() as f64;
            assert!((got - share).abs() < 0.015, "{}: {got} of the calls, weight says {share}", k.name);
            let op = k.response.retries.trim_start_matches('/').trim_end_matches("_retries").to_string();
            for (i, c) in mine.iter().enumerate() {
                assert_eq!(c.payload["op"], op.as_str(), "its own template");
                assert_eq!(c.payload["n"], i as u64, "its own generators, in order");
                assert_eq!(c.response.retries, k.response.retries, "its own answer map");
            }
        }
        let again: Vec<_> = draw(3).into_iter().map(|c| (c.kind, c.payload)).collect();
        assert_eq!(again, calls.into_iter().map(|c| (c.kind, c.payload)).collect::<Vec<_>>(), "same seed");
        assert_ne!(
            draw(4).iter().map(|c| c.kind.clone()).collect::<Vec<_>>()[..50],
            again.iter().map(|c| c.0.clone()).collect::<Vec<_>>()[..50]
        );
    }

    #[test]
    fn one_workload_is_one_unnamed_kind() {
        let w = kind("x", 1, "one").workload;
        let mut mix = Mix::new(&w, &ResponseMap::default(), &[], 1);
        let c = mix.next_call().unwrap();
        assert_eq!((c.kind, c.payload["n"].as_u64()), (None, Some(0)));
        assert_eq!(*c.response, ResponseMap::default());
    }

    #[test]
    fn kinds_are_checked() {
        assert!(check_kinds(&[kind("a", 1, "a"), kind("b", MAX_WEIGHT, "b")]).is_ok());
        assert_eq!(check_kinds(&[kind("a", 1, "a"), kind("a", 2, "b")]).unwrap_err(), "call name \"a\" is given twice");
        assert!(check_kinds(&[kind("a", 0, "a")]).unwrap_err().contains("weight 0"));
        assert!(check_kinds(&[kind(" ", 1, "a")]).unwrap_err().contains("needs a name"));
        let many: Vec<CallKind> = (0..=MAX_KINDS).map(|i| kind(&i.to_string(), 1, "a")).collect();
        assert!(check_kinds(&many).unwrap_err().starts_with("at most 64 kinds"));
    }
}

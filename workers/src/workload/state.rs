//! One sampler's drawing state for each generator: distributions built, counters and
//! row orders set for this worker's share.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution as _, Zipf};
use serde_json::Value;

use super::generator::{decimal_units, Distribution, Gen, Order, ALPHANUMERIC};
use super::{formats, Share};

/// One sampler's state for a generator.
#[derive(Debug)]
pub(super) enum State {
    Uniform {
        min: i64,
        max: i64,
    },
    /// A range within i32, drawn as the transfer's accounts were before templates (so
    /// that a seed recorded then gives the same payloads).
    Uniform32 {
        min: i32,
        max: i32,
    },
    Zipf {
        min: i64,
        zipf: Zipf<f64>,
    },
    Sequential {
        first: i64,
        step: i64,
        max: i64,
        next: i64,
    },
    Other {
        of: usize,
        draw: Box<State>,
        min: i64,
        max: i64,
    },
    Decimal {
        lo: i64,
        hi: i64,
        unit: f64,
    },
    Uuid,
    Choice {
        values: Vec<Value>,
        cumulative: Option<Vec<f64>>,
    },
    String {
        min: u32,
        max: u32,
        alphabet: Vec<char>,
    },
    Now,
    Between {
        from: i64,
        to: i64,
    },
    /// Row indices to take in turn (`unique`: this worker's share, then none), or any.
    Rows {
        take: Vec<usize>,
        next: usize,
        cycle: bool,
    },
    AnyRow {
        len: usize,
    },
}

impl State {
    /// The state for `gen` (checked), for share `share`, `index` naming generators.
    pub(super) fn new(
        gen: &Gen,
        share: Share,
        index: &dyn Fn(&str) -> usize,
        all: &[(String, Gen)],
        rng: &mut SmallRng,
    ) -> State {
        let (i, n) = (share.index as i64, share.of.max(1) as i64);
        match gen {
            Gen::Int { min, max, distribution, exponent } => match distribution {
                Distribution::Uniform => match (i32::try_from(*min), i32::try_from(*max)) {
                    (Ok(min), Ok(max)) => State::Uniform32 { min, max },
                    _ => State::Uniform { min: *min, max: *max },
                },
                Distribution::Zipf => {
                    let n = (*max as i128 - *min as i128 + 1) as f64;
                    State::Zipf {
                        min: *min,
                        zipf: Zipf::new(n, exponent.unwrap_or(1.0)).expect("checked: n >= 1, exponent >= 0"),
                    }
                }
                Distribution::Sequential => {
                    let first = min.saturating_add(i).min(*max);
                    State::Sequential { first, step: n, max: *max, next: first }
                }
            },
            Gen::Other { of } => {
                let at = index(of);
                let Gen::Int { min, max, .. } = &all[at].1 else { unreachable!("checked: other of an int") };
                let draw = Box::new(State::new(&all[at].1, share, index, all, rng));
                State::Other { of: at, draw, min: *min, max: *max }
            }
            Gen::Decimal { min, max, scale } => {
                let (lo, hi) = decimal_units(*min, *max, *scale).expect("checked: a decimal range holds a value");
                State::Decimal { lo, hi, unit: 10f64.powi(*scale as i32) }
            }
            Gen::Uuid => State::Uuid,
            Gen::Choice { values, weights } => State::Choice {
                values: values.clone(),
                cumulative: weights.as_ref().map(|w| {
                    w.iter()
                        .scan(0.0, |s, w| {
                            *s += w;
                            Some(*s)
                        })
                        .collect()
                }),
            },
            Gen::String { min_length, max_length, alphabet } => State::String {
                min: *min_length,
                max: *max_length,
                alphabet: alphabet.as_deref().unwrap_or(ALPHANUMERIC).chars().collect(),
            },
            Gen::Timestamp { from: Some(f), to: Some(t) } => State::Between {
                from: formats::parse_rfc3339(f).expect("checked"),
                to: formats::parse_rfc3339(t).expect("checked"),
            },
            Gen::Timestamp { .. } => State::Now,
            Gen::Row { rows, order, unique, .. } => {
                rows_state(rows.len(), *order, *unique, (i as usize, n as usize), rng)
            }
        }
    }

    /// This call's value; `drawn` holds the values of the generators drawn before it.
    /// `None` once a `unique` row generator has used all its rows.
    pub(super) fn draw(&mut self, rng: &mut SmallRng, drawn: &[Value]) -> Option<Value> {
        Some(match self {
            State::Uniform { .. } | State::Uniform32 { .. } | State::Zipf { .. } => Value::from(self.int(rng)),
            State::Sequential { first, step, max, next } => {
                let v = *next;
                *next = next.checked_add(*step).filter(|n| n <= max).unwrap_or(*first);
                Value::from(v)
            }
            State::Other { of, draw, min, max } => {
                let not = drawn[*of].as_i64().expect("an int generator's value");
                let mut v = draw.int(rng);
                for _ in 0..16 {
                    if v != not {
                        break;
                    }
                    v = draw.int(rng);
                }
                if v == not {
                    v = if not < *max { not + 1 } else { *min };
                }
                Value::from(v)
            }
            State::Decimal { lo, hi, unit } => Value::from(rng.random_range(*lo..=*hi) as f64 / *unit),
            State::Uuid => Value::String(formats::uuid_v4(rng.random())),
            State::Choice { values, cumulative } => {
                let at = match cumulative {
                    None => rng.random_range(0..values.len()),
                    Some(c) => {
                        let u = rng.random::<f64>() * c[c.len() - 1];
                        c.partition_point(|s| *s <= u).min(values.len() - 1)
                    }
                };
                values[at].clone()
            }
            State::String { min, max, alphabet } => {
                let len = rng.random_range(*min..=*max);
                Value::String((0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect())
            }
            State::Now => Value::String(formats::rfc3339(now_ms())),
            State::Between { from, to } => Value::String(formats::rfc3339(rng.random_range(*from..=*to))),
            State::Rows { take, next, cycle } => {
                if *next >= take.len() {
                    if !*cycle {
                        return None;
                    }
                    *next = 0;
                }
                *next += 1;
                Value::from(take[*next - 1])
            }
            State::AnyRow { len } => Value::from(rng.random_range(0..*len)),
        })
    }

    /// A uniform or Zipf int.
    fn int(&self, rng: &mut SmallRng) -> i64 {
        match self {
            State::Uniform { min, max } => rng.random_range(*min..=*max),
            State::Uniform32 { min, max } => i64::from(rng.random_range(*min..=*max)),
            State::Zipf { min, zipf } => min + zipf.sample(rng) as i64 - 1,
            _ => unreachable!("checked: other of a uniform or zipf int"),
        }
    }
}

/// A row generator's state: worker `i` of `n` takes rows `i, i + n, ...` when they are
/// unique (in that order, or shuffled), and cycles through all of them from row `i`
/// otherwise (or draws any, at random).
fn rows_state(len: usize, order: Order, unique: bool, (i, n): (usize, usize), rng: &mut SmallRng) -> State {
    match (unique, order) {
        (false, Order::Random) => State::AnyRow { len },
        (false, Order::RoundRobin) => {
            State::Rows { take: (0..len).cycle().skip(i % len).take(len).collect(), next: 0, cycle: true }
        }
        (true, order) => {
            let mut take: Vec<usize> = (i..len).step_by(n).collect();
            if order == Order::Random {
                take.shuffle(rng);
            }
            State::Rows { take, next: 0, cycle: false }
        }
    }
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    since.as_millis() as i64
}

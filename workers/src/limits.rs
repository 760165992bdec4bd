//! Upper bounds on every value a plan carries. The scenario parser checks them with the
//! file position of each value; a worker daemon checks a plan it receives with
//! `validate`, so nothing user-supplied can reach a panic (an `Instant` overflow, a
//! histogram out of range) however the plan arrived.

use crate::{EnginePlan, LoadModel};

/// Longest run, stage, call timeout or drain timeout: 7 days.
pub const MAX_SECONDS: f64 = 7.0 * 86_400.0;
/// Shortest duration anything may have: 1 ms.
pub const MIN_SECONDS: f64 = 0.001;
/// Calls in flight, per batch, or batches.
pub const MAX_PARALLEL: u64 = 1_000_000;
/// Calls a closed model may plan.
pub const MAX_CALLS: u64 = 10_000_000_000;
/// Calls per second of an open-model stage.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Stages of an open model.
pub const MAX_STAGES: usize = 10_000;

/// A number as people read it: plain, or in exponent form when huge or tiny.
pub fn shown(v: f64) -> String {
    if v == 0.0 || (1e-6..1e12).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A plan value out of its bounds, named by its scenario key (`load.rate`,
/// `limits.max_duration`, ...).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitError {
    /// A duration, in seconds, outside `MIN_SECONDS..=MAX_SECONDS` (or not a number).
    #[error("{key} must be between 1ms and 7 days ({MAX_SECONDS} s), got {} s", shown(*.got))]
    Seconds { key: &'static str, got: f64 },
    /// A count outside `1..=max`.
    #[error("{key} must be between 1 and {max}, got {got}")]
    Count { key: &'static str, got: u64, max: u64 },
    /// An open-model rate outside `(0, MAX_RATE]`.
    #[error("{key} must be > 0 and at most {MAX_RATE} calls/s, got {}", shown(*.got))]
    Rate { key: &'static str, got: f64 },
    /// A ramp whose end points are not both within `0..=MAX_RATE`, or both 0.
    #[error("{key} must ramp between rates of 0 to {MAX_RATE} calls/s, not both 0; got {} to {}", shown(*.from), shown(*.to))]
    Ramp { key: &'static str, from: f64, to: f64 },
    /// A number of calls in flight above `MAX_PARALLEL`.
    #[error("{key} must be at most {MAX_PARALLEL}, got {got}")]
    InFlight { key: &'static str, got: u64 },
    /// A closed model with neither a number of calls nor a duration.
    #[error("model \"closed\" needs load.calls, load.duration, or both")]
    ClosedWithoutEnd,
    /// No stages, or more than `MAX_STAGES`.
    #[error("load.stages must have 1 to {MAX_STAGES} stages, got {got}")]
    Stages { got: usize },
    /// A closed ramp whose every level is 0.
    #[error("load.stages never has a call in flight: give a target above 0")]
    NeverInFlight,
    #[error("workload accounts {first}..={last} is not a range of account ids")]
    Accounts { first: i32, last: i32 },
    #[error("workload.amount {min}..={max} is not a positive range")]
    Amount { min: i32, max: i32 },
    #[error("workload.zipf_exponent must be between 0 and 10, got {got}")]
    ZipfExponent { got: f64 },
    /// An open model's share of the schedule that is no worker's: `index` of `of`
    /// needs `index < of <= MAX_PARALLEL` (a plan the coordinator's split never makes).
    #[error(
        "load.slot {index} of {of} is no worker's share of the schedule: it needs 0 <= index < of <= {MAX_PARALLEL}"
    )]
    Slot { index: u64, of: u64 },
    /// The kinds of call (`[[call]]`): names, weights, how many.
    #[error("{0}")]
    Kinds(String),
}

impl LimitError {
    /// The scenario key of the value out of bounds.
    pub fn key(&self) -> &'static str {
        match self {
            LimitError::Seconds { key, .. }
            | LimitError::Count { key, .. }
            | LimitError::Rate { key, .. }
            | LimitError::Ramp { key, .. }
            | LimitError::InFlight { key, .. } => key,
            LimitError::ClosedWithoutEnd => "load",
            LimitError::Stages { .. } | LimitError::NeverInFlight => "load.stages",
            LimitError::Accounts { .. } => "workload.accounts",
            LimitError::Amount { .. } => "workload.amount",
            LimitError::ZipfExponent { .. } => "workload.zipf_exponent",
            LimitError::Slot { .. } => "load.slot",
            LimitError::Kinds(_) => "call",
        }
    }
}

/// A duration in seconds within `MIN_SECONDS..=MAX_SECONDS`, or what is wrong with it.
pub fn seconds(key: &'static str, s: f64) -> Result<f64, LimitError> {
    if s.is_finite() && (MIN_SECONDS..=MAX_SECONDS).contains(&s) {
        Ok(s)
    } else {
        Err(LimitError::Seconds { key, got: s })
    }
}

fn count(key: &'static str, v: u64, max: u64) -> Result<(), LimitError> {
    if (1..=max).contains(&v) {
        Ok(())
    } else {
        Err(LimitError::Count { key, got: v, max })
    }
}

/// A ramp's end points: each >= 0, not both 0.
fn ramp(key: &'static str, from: f64, to: f64) -> Result<(), LimitError> {
    let ok = |r: f64| r.is_finite() && (0.0..=MAX_RATE).contains(&r);
    if ok(from) && ok(to) && from + to > 0.0 {
        Ok(())
    } else {
        Err(LimitError::Ramp { key, from, to })
    }
}

fn rate(key: &'static str, r: f64) -> Result<(), LimitError> {
    if r.is_finite() && r > 0.0 && r <= MAX_RATE {
        Ok(())
    } else {
        Err(LimitError::Rate { key, got: r })
    }
}

fn stages(n: usize) -> Result<(), LimitError> {
    if n == 0 || n > MAX_STAGES {
        return Err(LimitError::Stages { got: n });
    }
    Ok(())
}

/// Every bound of `plan`, the first violation named by its scenario key.
pub fn validate(plan: &EnginePlan) -> Result<(), LimitError> {
    seconds("limits.call_timeout", plan.call_timeout_s)?;
    seconds("limits.max_duration", plan.max_duration_s)?;
    seconds("limits.drain_timeout", plan.drain_timeout_s)?;
    load(plan)?;
    crate::workload::mix::check_kinds(&plan.kinds).map_err(LimitError::Kinds)?;
    // A template's generators are checked when it is compiled (or received).
    let Some(w) = plan.workload.builtin_keys() else { return Ok(()) };
    if w.first_account < 1 || w.last_account < w.first_account {
        return Err(LimitError::Accounts { first: w.first_account, last: w.last_account });
    }
    if w.amount_min < 1 || w.amount_max < w.amount_min {
        return Err(LimitError::Amount { min: w.amount_min, max: w.amount_max });
    }
    if let crate::Accounts::Zipf { exponent } = w.accounts {
        if !(exponent.is_finite() && (0.0..=10.0).contains(&exponent)) {
            return Err(LimitError::ZipfExponent { got: exponent });
        }
    }
    Ok(())
}

/// The load model's bounds, and with a model per kind, one model per kind of call.
fn load(plan: &EnginePlan) -> Result<(), LimitError> {
    if let LoadModel::Kinds { loads } = &plan.load {
        if loads.len() != plan.kinds.len() {
            let message = format!("{} load models for {} kinds of call", loads.len(), plan.kinds.len());
            return Err(LimitError::Kinds(message));
        }
        return loads.iter().try_for_each(model);
    }
    model(&plan.load)
}

/// One load model's bounds.
fn model(load: &LoadModel) -> Result<(), LimitError> {
    match load {
        LoadModel::Batches { parallel, batches } => {
            count("load.parallel", *parallel, MAX_PARALLEL)?;
            count("load.batches", *batches, MAX_PARALLEL)?;
        }
        LoadModel::Closed { in_flight, calls, duration_s } => {
            count("load.in_flight", *in_flight, MAX_PARALLEL)?;
            if let Some(c) = calls {
                count("load.calls", *c, MAX_CALLS)?;
            }
            if let Some(d) = duration_s {
                seconds("load.duration", *d)?;
            }
            if calls.is_none() && duration_s.is_none() {
                return Err(LimitError::ClosedWithoutEnd);
            }
        }
        LoadModel::Open { stages: s, max_in_flight, slot } => {
            if slot.of == 0 || slot.of > MAX_PARALLEL || slot.index >= slot.of {
                return Err(LimitError::Slot { index: slot.index, of: slot.of });
            }
            count("load.max_in_flight", *max_in_flight, MAX_PARALLEL)?;
            stages(s.len())?;
            for s in s {
                match s.ramp_from {
                    None => rate("load.rate", s.rate)?,
                    Some(from) => ramp("load.stages target", from, s.rate)?,
                }
                seconds("load.duration", s.duration_s)?;
            }
        }
        LoadModel::ClosedRamp { start, stages: s } => {
            if *start > MAX_PARALLEL {
                return Err(LimitError::InFlight { key: "load.start_in_flight", got: *start });
            }
            stages(s.len())?;
            for l in s {
                if l.target > MAX_PARALLEL {
                    return Err(LimitError::InFlight { key: "load.stages target", got: l.target });
                }
                seconds("load.stages duration", l.duration_ms as f64 / 1_000.0)?;
            }
            if load.max_in_flight() == 0 {
                return Err(LimitError::NeverInFlight);
            }
        }
        LoadModel::Kinds { .. } => return Err(LimitError::Kinds("a per-kind load model inside another".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stage;

    fn plan(load: LoadModel) -> EnginePlan {
        EnginePlan::for_tests(load, 10)
    }

    #[test]
    fn an_open_models_slot_must_be_a_workers_share() {
        let open = |index, of| {
            let stages = vec![Stage { rate: 10.0, duration_s: 1.0, ramp_from: None }];
            plan(LoadModel::Open { stages, max_in_flight: 5, slot: crate::load::Slot { index, of } })
        };
        assert!(validate(&open(0, 1)).is_ok());
        assert!(validate(&open(1, 2)).is_ok());
        for (index, of) in [(0, 0), (5, 2), (2, 2), (0, MAX_PARALLEL + 1)] {
            let e = validate(&open(index, of)).unwrap_err();
            assert_eq!(e, LimitError::Slot { index, of });
            assert_eq!(e.key(), "load.slot");
        }
    }

    #[test]
    fn absurd_values_are_refused_by_name() {
        assert!(validate(&plan(LoadModel::Batches { parallel: 10, batches: 2 })).is_ok());
        let mut p = plan(LoadModel::Batches { parallel: 10, batches: 2 });
        p.max_duration_s = 1e19;
        assert!(validate(&p).unwrap_err().to_string().starts_with("limits.max_duration must be between"));
        assert_eq!(validate(&p).unwrap_err(), LimitError::Seconds { key: "limits.max_duration", got: 1e19 });
        p.max_duration_s = f64::NAN;
        assert!(validate(&p).is_err());
        let p = plan(LoadModel::Open {
            stages: vec![Stage { rate: 10.0, duration_s: 1e300, ramp_from: None }],
            max_in_flight: 5,
            slot: crate::load::Slot::WHOLE,
        });
        assert!(validate(&p).unwrap_err().to_string().starts_with("load.duration must be between"));
        assert_eq!(validate(&p).unwrap_err().key(), "load.duration");
        let p = plan(LoadModel::Closed { in_flight: 0, calls: Some(1), duration_s: None });
        assert_eq!(validate(&p).unwrap_err().to_string(), "load.in_flight must be between 1 and 1000000, got 0");
        let p = plan(LoadModel::Open { stages: vec![], max_in_flight: 5, slot: crate::load::Slot::WHOLE });
        assert!(validate(&p).unwrap_err().to_string().starts_with("load.stages must have"));
        assert_eq!(validate(&p).unwrap_err().key(), "load.stages");
    }
}

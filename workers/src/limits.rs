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

/// A duration in seconds within `MIN_SECONDS..=MAX_SECONDS`, or what is wrong with it.
pub fn seconds(name: &str, s: f64) -> Result<f64, String> {
    if s.is_finite() && (MIN_SECONDS..=MAX_SECONDS).contains(&s) {
        Ok(s)
    } else {
        Err(format!("{name} must be between 1ms and 7 days ({MAX_SECONDS} s), got {} s", shown(s)))
    }
}

fn count(name: &str, v: u64, max: u64) -> Result<(), String> {
    if (1..=max).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} must be between 1 and {max}, got {v}"))
    }
}

/// A ramp's end points: each >= 0, not both 0.
fn ramp(name: &str, from: f64, to: f64) -> Result<(), String> {
    let ok = |r: f64| r.is_finite() && (0.0..=MAX_RATE).contains(&r);
    if ok(from) && ok(to) && from + to > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{name} must ramp between rates of 0 to {MAX_RATE} calls/s, not both 0; got {} to {}",
            shown(from),
            shown(to)
        ))
    }
}

fn rate(name: &str, r: f64) -> Result<(), String> {
    if r.is_finite() && r > 0.0 && r <= MAX_RATE {
        Ok(())
    } else {
        Err(format!("{name} must be > 0 and at most {MAX_RATE} calls/s, got {}", shown(r)))
    }
}

/// Every bound of `plan`, the first violation named by its scenario key.
pub fn validate(plan: &EnginePlan) -> Result<(), String> {
    seconds("limits.call_timeout", plan.call_timeout_s)?;
    seconds("limits.max_duration", plan.max_duration_s)?;
    seconds("limits.drain_timeout", plan.drain_timeout_s)?;
    match &plan.load {
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
                return Err("model \"closed\" needs load.calls, load.duration, or both".into());
            }
        }
        LoadModel::Open { stages, max_in_flight, .. } => {
            count("load.max_in_flight", *max_in_flight, MAX_PARALLEL)?;
            if stages.is_empty() || stages.len() > MAX_STAGES {
                return Err(format!("load.stages must have 1 to {MAX_STAGES} stages, got {}", stages.len()));
            }
            for s in stages {
                match s.ramp_from {
                    None => rate("load.rate", s.rate)?,
                    Some(from) => ramp("load.stages target", from, s.rate)?,
                }
                seconds("load.duration", s.duration_s)?;
            }
        }
        LoadModel::ClosedRamp { start, stages } => {
            if *start > MAX_PARALLEL {
                return Err(format!("load.start_in_flight must be at most {MAX_PARALLEL}, got {start}"));
            }
            if stages.is_empty() || stages.len() > MAX_STAGES {
                return Err(format!("load.stages must have 1 to {MAX_STAGES} stages, got {}", stages.len()));
            }
            for l in stages {
                if l.target > MAX_PARALLEL {
                    return Err(format!("load.stages target must be at most {MAX_PARALLEL}, got {}", l.target));
                }
                seconds("load.stages duration", l.duration_ms as f64 / 1_000.0)?;
            }
            if plan.load.max_in_flight() == 0 {
                return Err("load.stages never has a call in flight: give a target above 0".into());
            }
        }
    }
    let w = &plan.workload;
    if w.first_account < 1 || w.last_account < w.first_account {
        return Err(format!(
            "workload accounts {}..={} is not a range of account ids",
            w.first_account, w.last_account
        ));
    }
    if w.amount_min < 1 || w.amount_max < w.amount_min {
        return Err(format!("workload.amount {}..={} is not a positive range", w.amount_min, w.amount_max));
    }
    if let crate::Accounts::Zipf { exponent } = w.accounts {
        if !(exponent.is_finite() && (0.0..=10.0).contains(&exponent)) {
            return Err(format!("workload.zipf_exponent must be between 0 and 10, got {exponent}"));
        }
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
    fn absurd_values_are_refused_by_name() {
        assert!(validate(&plan(LoadModel::Batches { parallel: 10, batches: 2 })).is_ok());
        let mut p = plan(LoadModel::Batches { parallel: 10, batches: 2 });
        p.max_duration_s = 1e19;
        assert!(validate(&p).unwrap_err().starts_with("limits.max_duration must be between"));
        p.max_duration_s = f64::NAN;
        assert!(validate(&p).is_err());
        let p = plan(LoadModel::Open {
            stages: vec![Stage { rate: 10.0, duration_s: 1e300, ramp_from: None }],
            max_in_flight: 5,
            slot: crate::load::Slot::WHOLE,
        });
        assert!(validate(&p).unwrap_err().starts_with("load.duration must be between"));
        let p = plan(LoadModel::Closed { in_flight: 0, calls: Some(1), duration_s: None });
        assert_eq!(validate(&p).unwrap_err(), "load.in_flight must be between 1 and 1000000, got 0");
        let p = plan(LoadModel::Open { stages: vec![], max_in_flight: 5, slot: crate::load::Slot::WHOLE });
        assert!(validate(&p).unwrap_err().starts_with("load.stages must have"));
    }
}

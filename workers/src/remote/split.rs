//! Splitting one engine plan into equal shares for N workers: parallelism, in-flight
//! calls, call counts and arrival rates are divided (the remainder goes to the first
//! workers), every worker gets its own seed, and the account range is cut into N
//! contiguous slices when asked.

use crate::load::Slot;
use crate::{EnginePlan, LoadModel};

/// Why a plan cannot be split across the workers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("no workers")]
    NoWorkers,
    /// A number of calls (in flight, per batch, in all), named by its scenario key,
    /// below the number of workers: each needs at least one.
    #[error("{key} = {value} cannot be split across {workers} workers (at least one call each)")]
    TooFew { key: &'static str, value: u64, workers: usize },
    /// A ramping closed model whose peak in flight is below the number of workers.
    #[error("load.stages peak of {peak} in flight cannot be split across {workers} workers")]
    RampPeak { peak: u64, workers: usize },
    /// Too few accounts to give each worker a slice of two.
    #[error(
        "accounts {first}..={last} cannot be partitioned across {workers} workers (each needs at least two accounts)"
    )]
    Accounts { first: i64, last: i64, workers: usize },
    /// Sequential values or unique rows too few to share, or accounts of a template.
    #[error("{0}")]
    Workload(#[from] crate::WorkloadError),
}

/// `total` divided into `n` shares that differ by at most one.
fn shares(total: u64, n: u64) -> Vec<u64> {
    (0..n).map(|i| total / n + u64::from(i < total % n)).collect()
}

/// A ramping closed model's shares: every level divided as `in_flight` is.
fn ramp_shares(start: u64, stages: &[crate::load::Level], peak: u64, n: usize) -> Result<Vec<LoadModel>, SplitError> {
    let n64 = n as u64;
    if peak < n64 {
        return Err(SplitError::RampPeak { peak, workers: n });
    }
    let share = |level: u64, i: usize| shares(level, n64)[i];
    Ok((0..n)
        .map(|i| LoadModel::ClosedRamp {
            start: share(start, i),
            stages: stages
                .iter()
                .map(|l| crate::load::Level { target: share(l.target, i), duration_ms: l.duration_ms })
                .collect(),
        })
        .collect())
}

/// `load` divided into `n` workers' shares.
fn load_shares(load: &LoadModel, n: usize) -> Result<Vec<LoadModel>, SplitError> {
    let n64 = n as u64;
    let too_few = |key: &'static str, value: u64| SplitError::TooFew { key, value, workers: n };
    Ok(match load {
        LoadModel::Batches { parallel, batches } => {
            if *parallel < n64 {
                return Err(too_few("load.parallel", *parallel));
            }
            shares(*parallel, n64).into_iter().map(|p| LoadModel::Batches { parallel: p, batches: *batches }).collect()
        }
        LoadModel::Closed { in_flight, calls, duration_s } => {
            if *in_flight < n64 {
                return Err(too_few("load.in_flight", *in_flight));
            }
            let calls: Vec<Option<u64>> = match calls {
                Some(c) if *c < n64 => return Err(too_few("load.calls", *c)),
                Some(c) => shares(*c, n64).into_iter().map(Some).collect(),
                None => vec![None; n],
            };
            shares(*in_flight, n64)
                .into_iter()
                .zip(calls)
                .map(|(in_flight, calls)| LoadModel::Closed { in_flight, calls, duration_s: *duration_s })
                .collect()
        }
        LoadModel::ClosedRamp { start, stages } => ramp_shares(*start, stages, load.max_in_flight(), n)?,
        LoadModel::Open { stages, max_in_flight, .. } => {
            let caps = shares(*max_in_flight, n64);
            if caps[n - 1] == 0 {
                return Err(too_few("load.max_in_flight", *max_in_flight));
            }
            // Every worker follows the one schedule and makes every n-th call of it, from
            // its own offset: the shares add up exactly and the arrivals stay even.
            caps.into_iter()
                .enumerate()
                .map(|(i, cap)| LoadModel::Open {
                    stages: stages.clone(),
                    max_in_flight: cap,
                    slot: Slot { index: i as u64, of: n64 },
                })
                .collect()
        }
        LoadModel::Kinds { loads } => {
            // Each kind's model split as if alone; worker i gets every kind's i-th share.
            let mut per_kind =
                loads.iter().map(|l| load_shares(l, n).map(Vec::into_iter)).collect::<Result<Vec<_>, _>>()?;
            (0..n)
                .map(|_| LoadModel::Kinds { loads: per_kind.iter_mut().filter_map(Iterator::next).collect() })
                .collect()
        }
    })
}

/// The plans of `n` workers, or why the plan cannot be split that way.
pub fn split(plan: &EnginePlan, n: usize, partition_accounts: bool) -> Result<Vec<EnginePlan>, SplitError> {
    let n64 = n as u64;
    if n == 0 {
        return Err(SplitError::NoWorkers);
    }
    let loads = load_shares(&plan.load, n)?;
    let mut plans = Vec::with_capacity(n);
    plan.workload.check_split(n64)?;
    for k in &plan.kinds {
        k.workload.check_split(n64)?;
    }
    let (first, last) = match plan.workload.account_range() {
        Some((first, last)) => (first as i64, last as i64),
        None if partition_accounts => return Err(crate::WorkloadError::NoAccounts.into()),
        None => (1, 1),
    };
    let span = last - first + 1;
    if partition_accounts && span < 2 * n as i64 {
        return Err(SplitError::Accounts { first, last, workers: n });
    }
    for (i, load) in loads.into_iter().enumerate() {
        let mut p = plan.clone();
        p.load = load;
        p.seed = plan.seed.wrapping_add(i as u64);
        p.workload.set_share(i as u64, n64);
        for k in &mut p.kinds {
            k.workload.set_share(i as u64, n64);
        }
        if partition_accounts {
            let lo = first + span * i as i64 / n as i64;
            let hi = first + span * (i as i64 + 1) / n as i64 - 1;
            p.workload.partition(lo as i32, hi as i32)?;
        }
        plans.push(p);
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(load: LoadModel) -> EnginePlan {
        EnginePlan::for_tests(load, 1_000)
    }

    #[test]
    fn shares_add_up_for_every_model() {
        let p = split(&plan(LoadModel::Batches { parallel: 10_000, batches: 100 }), 3, false).unwrap();
        let parallel: Vec<u64> =
            p.iter().map(|p| if let LoadModel::Batches { parallel, .. } = p.load { parallel } else { 0 }).collect();
        assert_eq!(parallel, [3_334, 3_333, 3_333]);
        assert_eq!(p.iter().map(|p| p.load.planned_calls().unwrap()).sum::<u64>(), 1_000_000);
        assert_eq!(p.iter().map(|p| p.seed).collect::<Vec<_>>(), [7, 8, 9], "each worker draws its own payloads");

        let p = split(&plan(LoadModel::Closed { in_flight: 5, calls: Some(101), duration_s: Some(9.0) }), 2, false)
            .unwrap();
        assert_eq!(p[0].load, LoadModel::Closed { in_flight: 3, calls: Some(51), duration_s: Some(9.0) });
        assert_eq!(p[1].load, LoadModel::Closed { in_flight: 2, calls: Some(50), duration_s: Some(9.0) });

        let stages = vec![
            crate::Stage { rate: 300.0, duration_s: 10.0, ramp_from: None },
            crate::Stage { rate: 600.0, duration_s: 5.0, ramp_from: None },
        ];
        let p = split(&plan(LoadModel::Open { stages, max_in_flight: 100, slot: Slot::WHOLE }), 3, false).unwrap();
        assert_eq!(p.iter().map(|p| p.load.planned_calls().unwrap()).sum::<u64>(), 3_000 + 3_000);
        assert_eq!(p[2].load.max_in_flight(), 33);
    }

    #[test]
    fn accounts_are_partitioned_when_asked() {
        let p = split(&plan(LoadModel::Batches { parallel: 4, batches: 1 }), 3, true).unwrap();
        let ranges: Vec<(i32, i32)> = p.iter().map(|p| p.workload.account_range().unwrap()).collect();
        assert_eq!(ranges, [(1, 333), (334, 666), (667, 1_000)]);
        let unsplit = split(&plan(LoadModel::Batches { parallel: 4, batches: 1 }), 3, false).unwrap();
        assert!(unsplit.iter().all(|p| p.workload.account_range() == Some((1, 1_000))));
    }

    #[test]
    fn impossible_splits_say_why() {
        let e = split(&plan(LoadModel::Batches { parallel: 2, batches: 1 }), 3, false).unwrap_err();
        assert_eq!(e, SplitError::TooFew { key: "load.parallel", value: 2, workers: 3 });
        assert!(e.to_string().contains("load.parallel = 2 cannot be split across 3 workers"), "{e}");
        let mut small = plan(LoadModel::Batches { parallel: 8, batches: 1 });
        small.workload = crate::Workload::transfer(1, 5, crate::Accounts::Uniform, 1, 1);
        assert!(split(&small, 3, true).unwrap_err().to_string().contains("each needs at least two accounts"));
    }

    #[test]
    fn a_ramp_is_split_level_by_level() {
        use crate::load::Level;
        let stages = vec![Level { target: 10, duration_ms: 1_000 }, Level { target: 0, duration_ms: 500 }];
        let p = split(&plan(LoadModel::ClosedRamp { start: 4, stages }), 3, false).unwrap();
        let levels: Vec<(u64, Vec<u64>)> = p
            .iter()
            .map(|p| match &p.load {
                LoadModel::ClosedRamp { start, stages } => (*start, stages.iter().map(|l| l.target).collect()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(levels, vec![(2, vec![4, 0]), (1, vec![3, 0]), (1, vec![3, 0])]);
        let e = split(
            &plan(LoadModel::ClosedRamp { start: 0, stages: vec![Level { target: 2, duration_ms: 9 }] }),
            3,
            false,
        );
        assert!(e.unwrap_err().to_string().contains("cannot be split across 3 workers"));
    }

    #[test]
    fn a_model_per_kind_is_split_kind_by_kind() {
        let open = LoadModel::Open {
            stages: vec![crate::Stage { rate: 10.0, duration_s: 1.0, ramp_from: None }],
            max_in_flight: 9,
            slot: Slot::WHOLE,
        };
        let closed = LoadModel::Closed { in_flight: 4, calls: Some(11), duration_s: None };
        let p = split(&plan(LoadModel::Kinds { loads: vec![open, closed] }), 3, false).unwrap();
        assert_eq!(p.iter().map(|p| p.load.planned_calls().unwrap()).sum::<u64>(), 10 + 11);
        let LoadModel::Kinds { loads } = &p[2].load else { panic!("{:?}", p[2].load) };
        assert_eq!(loads[1], LoadModel::Closed { in_flight: 1, calls: Some(3), duration_s: None });
        assert!(matches!(loads[0], LoadModel::Open { slot: Slot { index: 2, of: 3 }, max_in_flight: 3, .. }));
        let too_few =
            LoadModel::Kinds { loads: vec![LoadModel::Closed { in_flight: 2, calls: None, duration_s: Some(1.0) }] };
        let e = split(&plan(too_few), 3, false).unwrap_err();
        assert_eq!(e, SplitError::TooFew { key: "load.in_flight", value: 2, workers: 3 });
    }
}

//! What the load model asked for, second by second: the planned arrival rate of an open
//! model (the calls its schedule makes due in a span of the run, per second) and the
//! calls a closed model keeps in flight. `timeseries.csv` and `report.html` draw them
//! beside what the run did.

use workers::load::{LoadModel, Stage};

/// Calls an open model's schedule makes due in the run's first `t` seconds: the integral
/// of its rate (stages one after another, each constant or a linear ramp).
fn due_by(stages: &[Stage], t: f64) -> f64 {
    let (mut due, mut start) = (0.0, 0.0);
    for s in stages {
        let into = (t - start).clamp(0.0, s.duration_s);
        if s.duration_s > 0.0 {
            let slope = (s.rate - s.start_rate()) / (2.0 * s.duration_s);
            due += s.start_rate() * into + slope * into * into;
        }
        start += s.duration_s;
        if t <= start {
            break;
        }
    }
    due
}

/// The planned arrival rate (calls per second) over `[from_s, to_s)` of the run, for an
/// open model; `None` for the other models, which set no rate. The whole schedule's:
/// a fleet's workers share it.
pub fn rate(load: &LoadModel, from_s: f64, to_s: f64) -> Option<f64> {
    if let LoadModel::Kinds { loads } = load {
        return loads.iter().filter_map(|l| rate(l, from_s, to_s)).reduce(|a, b| a + b);
    }
    let LoadModel::Open { stages, .. } = load else {
        return None;
    };
    if to_s <= from_s {
        return Some(0.0);
    }
    Some((due_by(stages, to_s) - due_by(stages, from_s)) / (to_s - from_s))
}

/// The calls a closed model keeps in flight at `t_s` seconds into the run (a ramping
/// one's level at that moment); `None` for batches and open models. With a load model
/// per kind of call, the open kinds' rates and the closed kinds' levels add up.
pub fn in_flight(load: &LoadModel, t_s: f64) -> Option<f64> {
    match load {
        LoadModel::Closed { in_flight, .. } => Some(*in_flight as f64),
        LoadModel::ClosedRamp { start, stages } => {
            let (mut from, mut at) = (*start as f64, 0.0);
            for l in stages {
                let length = l.duration_ms as f64 / 1_000.0;
                if t_s < at + length && length > 0.0 {
                    return Some(from + (l.target as f64 - from) * (t_s - at) / length);
                }
                from = l.target as f64;
                at += length;
            }
            Some(from)
        }
        LoadModel::Kinds { loads } => loads.iter().filter_map(|l| in_flight(l, t_s)).reduce(|a, b| a + b),
        LoadModel::Batches { .. } | LoadModel::Open { .. } => None,
    }
}

/// Each interval's planned rate, the intervals laid end to end from the run's start.
pub fn rates(load: &LoadModel, intervals: &[workers::Interval]) -> Vec<Option<f64>> {
    let mut start = 0.0;
    intervals
        .iter()
        .map(|i| {
            let r = rate(load, start, start + i.seconds);
            start += i.seconds;
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use workers::load::{Level, Slot};

    fn open(stages: Vec<Stage>) -> LoadModel {
        LoadModel::Open { stages, max_in_flight: 10, slot: Slot::WHOLE }
    }

    #[test]
    fn an_open_models_planned_rate_is_its_schedule_per_second() {
        // Up from 0 to 100 calls/s over 2 s, then 10 calls/s for 3 s: 25 calls are due in
        // the first second and 75 in the second (as the pacer's own test counts).
        let load = open(vec![
            Stage { rate: 100.0, duration_s: 2.0, ramp_from: Some(0.0) },
            Stage { rate: 10.0, duration_s: 3.0, ramp_from: None },
        ]);
        let at = |a: f64, b: f64| rate(&load, a, b).unwrap();
        assert!((at(0.0, 1.0) - 25.0).abs() < 1e-9);
        assert!((at(1.0, 2.0) - 75.0).abs() < 1e-9);
        assert!((at(2.0, 3.0) - 10.0).abs() < 1e-9);
        assert!((at(1.5, 2.5) - (43.75 + 5.0)).abs() < 1e-9, "a second across two stages");
        assert_eq!(at(5.0, 6.0), 0.0, "nothing is planned after the last stage");
        assert!((at(0.0, 5.0) * 5.0 - load.planned_calls().unwrap() as f64).abs() < 1.0);
        assert_eq!(rate(&LoadModel::Batches { parallel: 2, batches: 2 }, 0.0, 1.0), None);
    }

    #[test]
    fn a_closed_models_planned_level_follows_its_stages() {
        let ramp = LoadModel::ClosedRamp {
            start: 0,
            stages: vec![Level { target: 10, duration_ms: 2_000 }, Level { target: 4, duration_ms: 1_000 }],
        };
        assert_eq!(in_flight(&ramp, 1.0), Some(5.0));
        assert_eq!(in_flight(&ramp, 2.5), Some(7.0));
        assert_eq!(in_flight(&ramp, 9.0), Some(4.0));
        let closed = LoadModel::Closed { in_flight: 6, calls: None, duration_s: Some(3.0) };
        assert_eq!(in_flight(&closed, 1.0), Some(6.0));
        assert_eq!(in_flight(&open(vec![]), 1.0), None);
    }
}

//! Load models, each a pacing strategy for the one engine loop: it says when the next
//! call may start, or that the loop must wait for a completion, or that the run is done.

use std::time::Duration;

use tokio::time::Instant;

use serde::{Deserialize, Serialize};

/// Which calls of an open model's schedule a worker makes: those whose index in the
/// schedule is `index` modulo `of` (worker `index` of `of`). One process makes them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub index: u64,
    pub of: u64,
}

impl Slot {
    /// The whole schedule.
    pub const WHOLE: Slot = Slot { index: 0, of: 1 };

    pub fn is_whole(&self) -> bool {
        *self == Slot::WHOLE
    }

    /// How many of `calls` consecutive schedule slots are this worker's.
    pub fn share(&self, calls: u64) -> u64 {
        calls / self.of + u64::from(self.index < calls % self.of)
    }
}

impl Default for Slot {
    fn default() -> Self {
        Slot::WHOLE
    }
}

/// One stage of an open model: a constant rate, or (with `ramp_from`) a rate that moves
/// linearly from `ramp_from` to `rate` over the stage, as k6's ramping arrival rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Calls per second (at the stage's end, for a ramp).
    pub rate: f64,
    pub duration_s: f64,
    /// The rate at the stage's start, for a linear ramp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_from: Option<f64>,
}

impl Stage {
    /// The rate at the stage's start.
    pub fn start_rate(&self) -> f64 {
        self.ramp_from.unwrap_or(self.rate)
    }

    /// The calls the stage makes: a whole number, floor of the area under the rate
    /// (rate x duration for a constant stage).
    pub fn calls(&self) -> u64 {
        ((self.start_rate() + self.rate) / 2.0 * self.duration_s + 1e-9).floor() as u64
    }

    /// When the k-th call (from 0) of the stage is due, in seconds into the stage: the
    /// time at which the calls due so far, the integral of the rate, reach k (k / rate
    /// for a constant stage).
    pub fn offset_s(&self, k: u64) -> f64 {
        let (r0, k) = (self.start_rate(), k as f64);
        let a = (self.rate - r0) / (2.0 * self.duration_s);
        if k == 0.0 {
            return 0.0;
        }
        if a.abs() < 1e-12 {
            return k / r0;
        }
        // a t^2 + r0 t = k, in the form that stays exact when r0 is 0 or a < 0.
        let root = (r0 * r0 + 4.0 * a * k).max(0.0).sqrt();
        (2.0 * k / (r0 + root)).min(self.duration_s)
    }
}

/// One stage of a ramping closed model: the calls kept in flight move linearly to
/// `target` over the stage, as k6's ramping VUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub target: u64,
    pub duration_ms: u64,
}

/// How calls are started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum LoadModel {
    /// `parallel` calls, wait for all, repeat `batches` times (the workshop's helper).
    Batches { parallel: u64, batches: u64 },
    /// Exactly `in_flight` calls at all times, until `calls` were started or
    /// `duration_s` passed (whichever comes first; at least one is set).
    Closed { in_flight: u64, calls: Option<u64>, duration_s: Option<f64> },
    /// Like `Closed`, but the calls kept in flight follow `stages`: from `start`, each
    /// stage moves linearly to its target; the run ends with the last stage.
    ClosedRamp { start: u64, stages: Vec<Level> },
    /// Calls arrive at a fixed rate per stage regardless of completions, at most
    /// `max_in_flight` at once; latency counts from each call's intended start. A worker
    /// of a fleet makes its `slot` of the one schedule.
    Open {
        stages: Vec<Stage>,
        max_in_flight: u64,
        #[serde(default, skip_serializing_if = "Slot::is_whole")]
        slot: Slot,
    },
    /// Each kind of call (`[[call]]`, in order) with a load model of its own, all run
    /// at once, as k6's scenarios each with its executor: `loads[i]` paces kind `i`.
    Kinds { loads: Vec<LoadModel> },
}

impl LoadModel {
    /// The number of calls the model starts if it runs to the end (open: the expected).
    pub fn planned_calls(&self) -> Option<u64> {
        match self {
            LoadModel::Batches { parallel, batches } => Some(parallel * batches),
            LoadModel::Closed { calls, .. } => *calls,
            LoadModel::ClosedRamp { .. } => None,
            LoadModel::Open { stages, slot, .. } => Some(stages.iter().map(|s| slot.share(s.calls())).sum()),
            LoadModel::Kinds { loads } => loads.iter().map(LoadModel::planned_calls).sum(),
        }
    }

    /// The most calls the model can have in flight at once.
    pub fn max_in_flight(&self) -> u64 {
        match self {
            LoadModel::Batches { parallel, .. } => *parallel,
            LoadModel::Closed { in_flight, .. } => *in_flight,
            LoadModel::ClosedRamp { start, stages } => stages.iter().map(|l| l.target).fold(*start, u64::max),
            LoadModel::Open { max_in_flight, .. } => *max_in_flight,
            LoadModel::Kinds { loads } => loads.iter().map(LoadModel::max_in_flight).sum(),
        }
    }

    /// Whether latency is measured from intended starts (coordinated-omission corrected).
    pub fn is_open(&self) -> bool {
        match self {
            LoadModel::Kinds { loads } => loads.iter().any(LoadModel::is_open),
            other => matches!(other, LoadModel::Open { .. }),
        }
    }

    pub fn pacer(&self, start: Instant) -> Box<dyn Pacer> {
        match self {
            LoadModel::Batches { parallel, batches } => {
                Box::new(BatchPacer { parallel: *parallel, batches: *batches, batch: 0, started_in_batch: 0 })
            }
            LoadModel::Closed { in_flight, calls, duration_s } => Box::new(ClosedPacer {
                in_flight: *in_flight as usize,
                remaining: calls.unwrap_or(u64::MAX),
                end: duration_s.map(|d| start + Duration::from_secs_f64(d)),
            }),
            LoadModel::ClosedRamp { start: from, stages } => {
                Box::new(RampPacer { from: *from, stages: stages.clone(), stage: 0, stage_start: start })
            }
            LoadModel::Open { stages, max_in_flight, slot } => Box::new(OpenPacer {
                stages: stages.clone(),
                max_in_flight: *max_in_flight as usize,
                start,
                stage: 0,
                stage_start: 0.0,
                index: slot.index,
                slot: *slot,
            }),
            LoadModel::Kinds { loads } => Box::new(KindsPacer {
                in_flight: vec![0; loads.len()],
                done: vec![false; loads.len()],
                pacers: loads.iter().map(|l| l.pacer(start)).collect(),
                next: 0,
            }),
        }
    }
}

/// What the engine loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Start a call now; `intended` is when it should have started. `kind` is the kind
    /// of call to make when each kind has its own model (else one is drawn by weight).
    Start { intended: Instant, kind: Option<usize> },
    /// Nothing to start before this instant (completions are still processed).
    WaitUntil(Instant),
    /// Nothing to start until a call in flight completes.
    WaitForCompletion,
    /// The model has started all its calls.
    Done,
}

/// A pacing strategy.
pub trait Pacer: Send {
    fn next(&mut self, now: Instant, in_flight: usize) -> Step;

    /// A call this pacer started for `kind` completed.
    fn completed(&mut self, _kind: Option<usize>) {}

    /// The call just started for `kind` could not be made (its unique data rows are
    /// used up): that kind starts no more. Returns whether the whole run is then done.
    fn exhausted(&mut self, _kind: Option<usize>) -> bool {
        true
    }
}

struct BatchPacer {
    parallel: u64,
    batches: u64,
    batch: u64,
    started_in_batch: u64,
}

impl Pacer for BatchPacer {
    fn next(&mut self, now: Instant, in_flight: usize) -> Step {
        if self.batch >= self.batches {
            return Step::Done;
        }
        if self.started_in_batch < self.parallel {
            self.started_in_batch += 1;
            return Step::Start { intended: now, kind: None };
        }
        if in_flight > 0 {
            return Step::WaitForCompletion;
        }
        self.batch += 1;
        self.started_in_batch = 0;
        self.next(now, in_flight)
    }
}

struct ClosedPacer {
    in_flight: usize,
    remaining: u64,
    end: Option<Instant>,
}

impl Pacer for ClosedPacer {
    fn next(&mut self, now: Instant, in_flight: usize) -> Step {
        if self.remaining == 0 || self.end.is_some_and(|e| now >= e) {
            return Step::Done;
        }
        if in_flight >= self.in_flight {
            // The engine also wakes at its own time limit and re-asks after each completion.
            return Step::WaitForCompletion;
        }
        self.remaining -= 1;
        Step::Start { intended: now, kind: None }
    }
}

/// How often a ramping closed model re-reads its level while at it.
const RAMP_TICK: Duration = Duration::from_millis(10);

struct RampPacer {
    /// The level the current stage starts from.
    from: u64,
    stages: Vec<Level>,
    stage: usize,
    stage_start: Instant,
}

impl RampPacer {
    /// The calls to keep in flight now, or `None` once the last stage is over.
    fn level(&mut self, now: Instant) -> Option<usize> {
        loop {
            let stage = self.stages.get(self.stage)?;
            let length = Duration::from_millis(stage.duration_ms);
            let into = now.saturating_duration_since(self.stage_start);
            if into < length {
                let f = into.as_secs_f64() / length.as_secs_f64();
                let level = self.from as f64 + (stage.target as f64 - self.from as f64) * f;
                return Some(level.round() as usize);
            }
            self.from = stage.target;
            self.stage_start += length;
            self.stage += 1;
        }
    }
}

impl Pacer for RampPacer {
    fn next(&mut self, now: Instant, in_flight: usize) -> Step {
        match self.level(now) {
            None => Step::Done,
            Some(level) if in_flight < level => Step::Start { intended: now, kind: None },
            // The level may rise before any call completes: look again shortly.
            Some(_) => Step::WaitUntil(now + RAMP_TICK),
        }
    }
}

struct OpenPacer {
    stages: Vec<Stage>,
    max_in_flight: usize,
    start: Instant,
    stage: usize,
    /// Seconds from `start` at which the current stage began.
    stage_start: f64,
    /// The next call's index in the current stage's schedule.
    index: u64,
    slot: Slot,
}

impl Pacer for OpenPacer {
    fn next(&mut self, now: Instant, in_flight: usize) -> Step {
        loop {
            let Some(stage) = self.stages.get(self.stage) else {
                return Step::Done;
            };
            if self.index >= stage.calls() {
                self.stage += 1;
                self.stage_start += stage.duration_s;
                self.index = self.slot.index;
                continue;
            }
            let offset = stage.offset_s(self.index);
            let intended = self.start + Duration::from_secs_f64(self.stage_start + offset);
            if now < intended {
                return Step::WaitUntil(intended);
            }
            if in_flight >= self.max_in_flight {
                return Step::WaitForCompletion;
            }
            self.index += self.slot.of;
            return Step::Start { intended, kind: None };
        }
    }
}

/// Starts nothing: what completions are told to once no more calls start.
pub struct Unpaced;

impl Pacer for Unpaced {
    fn next(&mut self, _now: Instant, _in_flight: usize) -> Step {
        Step::Done
    }
}

/// One pacer per kind of call, each seeing only its own kind's calls in flight; they
/// take turns, so no kind waits behind another's burst.
struct KindsPacer {
    pacers: Vec<Box<dyn Pacer>>,
    in_flight: Vec<usize>,
    done: Vec<bool>,
    /// The kind asked first next time.
    next: usize,
}

impl Pacer for KindsPacer {
    fn next(&mut self, now: Instant, _in_flight: usize) -> Step {
        let n = self.pacers.len();
        let (mut wake, mut waiting) = (None::<Instant>, false);
        for j in 0..n {
            let i = (self.next + j) % n;
            if self.done[i] {
                continue;
            }
            match self.pacers[i].next(now, self.in_flight[i]) {
                Step::Start { intended, .. } => {
                    self.in_flight[i] += 1;
                    self.next = (i + 1) % n;
                    return Step::Start { intended, kind: Some(i) };
                }
                Step::WaitUntil(t) => wake = Some(wake.map_or(t, |w| w.min(t))),
                Step::WaitForCompletion => waiting = true,
                Step::Done => self.done[i] = true,
            }
        }
        match wake {
            Some(t) => Step::WaitUntil(t),
            None if waiting => Step::WaitForCompletion,
            None => Step::Done,
        }
    }

    fn completed(&mut self, kind: Option<usize>) {
        if let Some(c) = kind.and_then(|k| self.in_flight.get_mut(k)) {
            *c = c.saturating_sub(1);
        }
    }

    fn exhausted(&mut self, kind: Option<usize>) -> bool {
        self.completed(kind);
        if let Some(d) = kind.and_then(|k| self.done.get_mut(k)) {
            *d = true;
        }
        self.done.iter().all(|d| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive a pacer with instant completions; count starts.
    fn starts(model: &LoadModel) -> u64 {
        let t0 = Instant::now();
        let mut p = model.pacer(t0);
        let (mut n, mut now) = (0, t0);
        loop {
            match p.next(now, 0) {
                Step::Start { .. } => n += 1,
                Step::WaitUntil(t) => now = t,
                Step::WaitForCompletion => unreachable!("nothing is in flight"),
                Step::Done => return n,
            }
        }
    }

    #[test]
    fn every_model_starts_its_planned_calls() {
        let batches = LoadModel::Batches { parallel: 7, batches: 3 };
        assert_eq!(starts(&batches), 21);
        let closed = LoadModel::Closed { in_flight: 5, calls: Some(40), duration_s: None };
        assert_eq!(starts(&closed), 40);
        let open = LoadModel::Open {
            stages: vec![
                Stage { rate: 100.0, duration_s: 2.0, ramp_from: None },
                Stage { rate: 10.0, duration_s: 1.5, ramp_from: None },
            ],
            max_in_flight: 10,
            slot: Slot::WHOLE,
        };
        assert_eq!(starts(&open), 215);
        assert_eq!(open.planned_calls(), Some(215));
    }

    /// The intended start offsets (µs) the pacer of `model` schedules.
    fn schedule(model: &LoadModel) -> Vec<u128> {
        let t0 = Instant::now();
        let mut p = model.pacer(t0);
        let (mut out, mut now) = (Vec::new(), t0);
        loop {
            match p.next(now, 0) {
                Step::Start { intended, .. } => out.push((intended - t0).as_micros()),
                Step::WaitUntil(t) => now = t,
                Step::WaitForCompletion => unreachable!("nothing is in flight"),
                Step::Done => return out,
            }
        }
    }

    #[test]
    fn open_models_start_exactly_their_planned_calls_and_fleets_share_one_schedule() {
        for (rate, duration_s) in [(3.3, 1.7), (10.0, 1.0), (0.5, 7.0), (123.4, 2.5), (7.0, 0.1)] {
            let stages = vec![
                Stage { rate, duration_s, ramp_from: None },
                Stage { rate: rate * 2.0, duration_s, ramp_from: None },
            ];
            let whole = LoadModel::Open { stages: stages.clone(), max_in_flight: 10, slot: Slot::WHOLE };
            let planned = whole.planned_calls().unwrap();
            assert_eq!(starts(&whole), planned, "rate {rate} for {duration_s} s");
            let single = schedule(&whole);
            for n in 1..=7u64 {
                let mut merged = Vec::new();
                for i in 0..n {
                    let part =
                        LoadModel::Open { stages: stages.clone(), max_in_flight: 10, slot: Slot { index: i, of: n } };
                    let mine = schedule(&part);
                    assert_eq!(mine.len() as u64, part.planned_calls().unwrap());
                    merged.extend(mine);
                }
                merged.sort_unstable();
                assert_eq!(merged, single, "{n} workers make exactly the single process's arrivals");
            }
        }
    }

    #[test]
    fn a_ramp_makes_the_calls_under_its_rate_and_fleets_share_its_schedule() {
        let up = Stage { rate: 100.0, duration_s: 2.0, ramp_from: Some(0.0) };
        let down = Stage { rate: 10.0, duration_s: 3.0, ramp_from: Some(50.0) };
        assert_eq!((up.calls(), down.calls()), (100, 90));
        let open = LoadModel::Open { stages: vec![up, down], max_in_flight: 10, slot: Slot::WHOLE };
        let single = schedule(&open);
        assert_eq!(single.len(), 190);
        assert!(single.windows(2).all(|w| w[0] <= w[1]), "intended starts never go back");
        // The rate rises linearly: 25 calls are due in the first second, 75 in the second.
        assert_eq!(single.iter().filter(|&&t| t < 1_000_000).count(), 25);
        assert_eq!(single.iter().filter(|&&t| t < 2_000_000).count(), 100);
        // Down from 50 to 10 calls/s over 3 s: 50 t - 20 t^2 / 3 calls by t, so 43.33 in
        // the first second.
        assert_eq!(single.iter().filter(|&&t| (2_000_000..3_000_000).contains(&t)).count(), 44);
        for n in 1..=5u64 {
            let mut merged: Vec<u128> = (0..n)
                .flat_map(|i| {
                    schedule(&LoadModel::Open {
                        stages: vec![up, down],
                        max_in_flight: 10,
                        slot: Slot { index: i, of: n },
                    })
                })
                .collect();
            merged.sort_unstable();
            assert_eq!(merged, single, "{n} workers make exactly the single process's arrivals");
        }
    }

    #[test]
    fn a_ramping_closed_pacer_starts_up_to_the_level_of_the_moment() {
        let t0 = Instant::now();
        let stages = vec![Level { target: 10, duration_ms: 1_000 }, Level { target: 0, duration_ms: 1_000 }];
        let mut p = LoadModel::ClosedRamp { start: 0, stages }.pacer(t0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(p.next(at(500), 4), Step::Start { intended: at(500), kind: None }, "5 allowed half way up");
        assert_eq!(p.next(at(500), 5), Step::WaitUntil(at(510)), "at the level: look again shortly");
        assert_eq!(p.next(at(1_000), 9), Step::Start { intended: at(1_000), kind: None }, "10 at the top");
        assert_eq!(p.next(at(1_800), 2), Step::WaitUntil(at(1_810)), "2 allowed on the way down");
        assert_eq!(p.next(at(2_000), 0), Step::Done);
    }

    #[test]
    fn batches_wait_for_the_whole_batch() {
        let t0 = Instant::now();
        let mut p = LoadModel::Batches { parallel: 2, batches: 2 }.pacer(t0);
        assert!(matches!(p.next(t0, 0), Step::Start { .. }));
        assert!(matches!(p.next(t0, 1), Step::Start { .. }));
        assert_eq!(p.next(t0, 2), Step::WaitForCompletion);
        assert_eq!(p.next(t0, 1), Step::WaitForCompletion);
        assert!(matches!(p.next(t0, 0), Step::Start { .. }));
    }

    #[test]
    fn open_model_keeps_its_schedule_when_behind() {
        let t0 = Instant::now();
        let mut p = LoadModel::Open {
            stages: vec![Stage { rate: 10.0, duration_s: 1.0, ramp_from: None }],
            max_in_flight: 2,
            slot: Slot::WHOLE,
        }
        .pacer(t0);
        let late = t0 + Duration::from_millis(250);
        // Three calls were due by 250 ms; each keeps its intended start.
        for k in 0..2 {
            assert_eq!(
                p.next(late, k),
                Step::Start { intended: t0 + Duration::from_millis(100 * k as u64), kind: None }
            );
        }
        assert_eq!(p.next(late, 2), Step::WaitForCompletion, "the in-flight cap holds");
        assert_eq!(p.next(late, 1), Step::Start { intended: t0 + Duration::from_millis(200), kind: None });
        assert_eq!(p.next(late, 0), Step::WaitUntil(t0 + Duration::from_millis(300)));
    }

    #[test]
    fn each_kind_is_paced_by_its_own_model_and_counts_only_its_own_calls() {
        let t0 = Instant::now();
        let open = LoadModel::Open {
            stages: vec![Stage { rate: 10.0, duration_s: 1.0, ramp_from: None }],
            max_in_flight: 100,
            slot: Slot::WHOLE,
        };
        let closed = LoadModel::Closed { in_flight: 2, calls: Some(5), duration_s: None };
        let kinds = LoadModel::Kinds { loads: vec![open, closed] };
        assert_eq!((kinds.planned_calls(), kinds.max_in_flight()), (Some(15), 102));
        let mut p = kinds.pacer(t0);
        // At the start: the open kind's first arrival and the closed kind's two, in turns.
        let firsts: Vec<Step> = (0..4).map(|_| p.next(t0, 0)).collect();
        assert_eq!(firsts[0], Step::Start { intended: t0, kind: Some(0) });
        assert_eq!(firsts[1], Step::Start { intended: t0, kind: Some(1) });
        assert_eq!(firsts[2], Step::Start { intended: t0, kind: Some(1) });
        // The closed kind is full; the open one's next arrival is 100 ms on.
        assert_eq!(firsts[3], Step::WaitUntil(t0 + Duration::from_millis(100)));
        // A completion of the open kind frees nothing for the closed one...
        p.completed(Some(0));
        assert_eq!(p.next(t0, 0), Step::WaitUntil(t0 + Duration::from_millis(100)));
        // ... one of its own does.
        p.completed(Some(1));
        assert_eq!(p.next(t0, 0), Step::Start { intended: t0, kind: Some(1) });
        // Drive to the end with instant completions: each kind makes its own calls.
        let mut made = [1u64, 3];
        let mut now = t0;
        loop {
            match p.next(now, 0) {
                Step::Start { kind: Some(k), .. } => {
                    made[k] += 1;
                    p.completed(Some(k));
                }
                Step::WaitUntil(t) => now = t,
                Step::WaitForCompletion => {
                    p.completed(Some(1));
                    p.completed(Some(1));
                }
                other => {
                    assert_eq!(other, Step::Done);
                    break;
                }
            }
        }
        assert_eq!(made, [10, 5]);
    }

    #[test]
    fn a_kind_out_of_data_stops_alone() {
        let closed = |calls| LoadModel::Closed { in_flight: 1, calls: Some(calls), duration_s: None };
        let mut p = LoadModel::Kinds { loads: vec![closed(3), closed(3)] }.pacer(Instant::now());
        let now = Instant::now();
        assert_eq!(p.next(now, 0), Step::Start { intended: now, kind: Some(0) });
        assert!(!p.exhausted(Some(0)), "the other kind goes on");
        let mut second = 0;
        while let Step::Start { kind, .. } = p.next(now, 0) {
            assert_eq!(kind, Some(1));
            second += 1;
            p.completed(kind);
        }
        assert_eq!(second, 3);
        assert!(p.exhausted(Some(1)), "both are done");
    }
}

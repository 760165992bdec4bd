//! The engine on tokio's paused clock against a scripted in-memory target: each test
//! covers seconds or hours of run time and takes milliseconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::*;
use crate::load::Slot;
use crate::target::{Answer, Outcome};
use crate::{LoadModel, Stage};

/// A target that panics on every call.
struct Panicking;

impl Target for Panicking {
    fn invoke(&self, _payload: Value) -> impl std::future::Future<Output = Answer> + Send {
        async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            panic!("a bug in the target")
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_target_is_an_error_with_its_real_elapsed_time() {
    let (_tx, rx) = watch::channel(Halt::Go);
    let (events, mut received) = mpsc::unbounded_channel();
    let p = plan(LoadModel::Batches { parallel: 3, batches: 1 });
    let end = run(&p, Arc::new(Panicking), rx, events).await;
    let mut intervals = Vec::new();
    while let Ok(i) = received.try_recv() {
        intervals.push(i);
    }
    assert_eq!((end.started, recorded(&intervals)), (3, 3));
    assert_eq!(errors_of(&intervals, ErrorClass::Transport), 3);
    let mut latency = crate::Hist::default();
    intervals.iter().for_each(|i| latency.merge(&i.stats.latency_us));
    assert!(latency.min() >= 29_000, "no fabricated 0 us sample: {}", latency.min());
}

/// Answers call k after `delay(k)`; `None` hangs for good.
struct Scripted {
    served: AtomicU64,
    delay: fn(u64) -> Option<Duration>,
}

impl Target for Scripted {
    fn invoke(&self, _payload: Value) -> impl std::future::Future<Output = Answer> + Send {
        let k = self.served.fetch_add(1, Ordering::Relaxed);
        let delay = (self.delay)(k);
        async move {
            match delay {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
            Outcome::Response(json!({"balance": 1, "retries": 0})).into()
        }
    }
}

fn plan(load: LoadModel) -> EnginePlan {
    EnginePlan { call_timeout_s: 3_600.0, ..EnginePlan::for_tests(load, 100) }
}

/// Run `plan` against `delay`, with `halt` sent at the given offsets; the end, the
/// intervals, and the calls the target saw.
async fn drive(
    plan: EnginePlan,
    delay: fn(u64) -> Option<Duration>,
    halts: Vec<(Duration, Halt)>,
) -> (EngineEnd, Vec<Interval>, u64) {
    let target = Arc::new(Scripted { served: AtomicU64::new(0), delay });
    let (tx, rx) = watch::channel(Halt::Go);
    tokio::spawn(async move {
        for (at, h) in halts {
            tokio::time::sleep(at).await;
            let _ = tx.send(h);
        }
        std::future::pending::<()>().await
    });
    let (events, mut received) = mpsc::unbounded_channel();
    let end = run(&plan, target.clone(), rx, events).await;
    let mut intervals = Vec::new();
    while let Ok(i) = received.try_recv() {
        intervals.push(i);
    }
    (end, intervals, target.served.load(Ordering::Relaxed))
}

fn recorded(intervals: &[Interval]) -> u64 {
    intervals.iter().map(|i| i.stats.calls).sum()
}

fn errors_of(intervals: &[Interval], class: ErrorClass) -> u64 {
    intervals.iter().map(|i| i.stats.errors.get(&class).copied().unwrap_or(0)).sum()
}

#[tokio::test(start_paused = true)]
async fn a_closed_run_completes_every_call_and_reports_each_second() {
    let load = LoadModel::Closed { in_flight: 10, calls: Some(1_000), duration_s: None };
    let (end, intervals, served) = drive(plan(load), |_| Some(Duration::from_millis(25)), vec![]).await;
    assert_eq!((end.stop, end.started, end.abandoned, served), (StopReason::Completed, 1_000, 0, 1_000));
    assert_eq!(recorded(&intervals), 1_000);
    // 100 rounds of 25 ms: 2.5 s, so three intervals (the last one short).
    assert!((end.elapsed_s - 2.5).abs() < 0.01, "{}", end.elapsed_s);
    assert_eq!(intervals.len(), 3);
    assert_eq!(intervals.iter().map(|i| i.index).collect::<Vec<_>>(), [0, 1, 2]);
    let latency = intervals.iter().fold(crate::Hist::default(), |mut h, i| {
        h.merge(&i.stats.latency_us);
        h
    });
    assert!(latency.quantile(0.5).abs_diff(25_000) < 100, "{}", latency.quantile(0.5));
}

#[tokio::test(start_paused = true)]
async fn the_time_limit_stops_starting_calls() {
    let mut p = plan(LoadModel::Closed { in_flight: 4, calls: None, duration_s: Some(3_600.0) });
    p.max_duration_s = 2.0;
    let (end, intervals, _) = drive(p, |_| Some(Duration::from_millis(100)), vec![]).await;
    assert_eq!(end.stop, StopReason::TimeLimit);
    assert_eq!(end.started, 80, "4 in flight, 10 rounds a second, 2 s");
    assert_eq!(recorded(&intervals), 80, "calls in flight at the limit were drained");
    assert!((end.elapsed_s - 2.0).abs() < 0.01, "{}", end.elapsed_s);
}

#[tokio::test(start_paused = true)]
async fn a_drain_halt_stops_starting_and_lets_calls_finish() {
    let load = LoadModel::Closed { in_flight: 5, calls: Some(1_000_000), duration_s: None };
    let halts = vec![(Duration::from_millis(1_050), Halt::Drain)];
    let (end, intervals, served) = drive(plan(load), |_| Some(Duration::from_millis(200)), halts).await;
    assert_eq!(end.stop, StopReason::Cancelled);
    assert_eq!((end.started, end.abandoned, served), (30, 0, 30), "6 rounds of 5 started by 1.05 s");
    assert_eq!(recorded(&intervals), 30, "the 5 in flight finished during the drain");
    assert!((end.elapsed_s - 1.2).abs() < 0.01, "{}", end.elapsed_s);
}

#[tokio::test(start_paused = true)]
async fn calls_hanging_past_the_drain_timeout_are_abandoned_and_counted() {
    let mut p = plan(LoadModel::Closed { in_flight: 10, calls: Some(10), duration_s: None });
    p.drain_timeout_s = 5.0;
    // Every third call never answers.
    let (end, intervals, _) = drive(p, |k| (k % 3 != 0).then_some(Duration::from_millis(10)), vec![]).await;
    assert_eq!((end.stop, end.started, end.abandoned), (StopReason::Completed, 10, 4));
    assert_eq!(recorded(&intervals), 10, "abandoned calls are recorded, not dropped");
    assert_eq!(errors_of(&intervals, ErrorClass::Abandoned), 4);
    let mut latency = crate::Hist::default();
    intervals.iter().for_each(|i| latency.merge(&i.stats.latency_us));
    assert_eq!(latency.count(), 10);
    assert!(latency.max() >= 4_990_000, "an abandoned call's latency is its real elapsed time: {}", latency.max());
    let successes: u64 = intervals.iter().map(|i| i.stats.success_latency_us.count()).sum();
    assert_eq!(successes, 6, "the success-only latency holds the 6 answered calls");
    assert!((end.elapsed_s - 5.0).abs() < 0.01, "waited out the drain: {}", end.elapsed_s);
}

#[tokio::test(start_paused = true)]
async fn a_second_halt_abandons_calls_in_flight_at_once() {
    let load = LoadModel::Closed { in_flight: 8, calls: Some(100), duration_s: None };
    let halts = vec![(Duration::from_secs(1), Halt::Drain), (Duration::from_secs(1), Halt::Now)];
    let (end, intervals, _) = drive(plan(load), |_| None, halts).await;
    assert_eq!((end.stop, end.started, end.abandoned), (StopReason::Cancelled, 8, 8));
    assert_eq!((recorded(&intervals), errors_of(&intervals, ErrorClass::Abandoned)), (8, 8));
    assert!((end.elapsed_s - 2.0).abs() < 0.01, "no 30 s drain: {}", end.elapsed_s);
}

#[tokio::test(start_paused = true)]
async fn calls_that_exceed_the_call_timeout_are_timeouts() {
    let mut p = plan(LoadModel::Batches { parallel: 4, batches: 1 });
    p.call_timeout_s = 2.0;
    let (end, intervals, _) = drive(p, |k| (k != 0).then_some(Duration::from_millis(5)), vec![]).await;
    assert_eq!(end.abandoned, 0);
    assert_eq!((recorded(&intervals), errors_of(&intervals, ErrorClass::Timeout)), (4, 1));
}

#[tokio::test(start_paused = true)]
async fn the_open_model_counts_late_starts_when_slots_run_out() {
    // 100 calls/s for 1 s, at most 1 in flight, each taking 50 ms: every call after the
    // first waits for a slot, so 95 or more start late; latency counts from the schedule.
    let load = LoadModel::Open {
        stages: vec![Stage { rate: 100.0, duration_s: 1.0, ramp_from: None }],
        max_in_flight: 1,
        slot: Slot::WHOLE,
    };
    let (end, intervals, _) = drive(plan(load), |_| Some(Duration::from_millis(50)), vec![]).await;
    assert_eq!(end.started, 100);
    let late: u64 = intervals.iter().map(|i| i.stats.late_starts).sum();
    assert!(late >= 95, "{late}");
    let mut latency = crate::Hist::default();
    intervals.iter().for_each(|i| latency.merge(&i.stats.latency_us));
    assert!(latency.max() > 4_000_000, "the last call waited ~4 s behind its schedule: {}", latency.max());

    // With room to spare nothing is late.
    let load = LoadModel::Open {
        stages: vec![Stage { rate: 100.0, duration_s: 1.0, ramp_from: None }],
        max_in_flight: 10,
        slot: Slot::WHOLE,
    };
    let (_, intervals, _) = drive(plan(load), |_| Some(Duration::from_millis(50)), vec![]).await;
    assert_eq!(intervals.iter().map(|i| i.stats.late_starts).sum::<u64>(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_ramping_closed_model_follows_its_levels_up_and_down() {
    // 0 -> 20 in flight over 2 s, held 2 s, down to 0 over 2 s; each call takes 100 ms.
    let stages = vec![
        crate::load::Level { target: 20, duration_ms: 2_000 },
        crate::load::Level { target: 20, duration_ms: 2_000 },
        crate::load::Level { target: 0, duration_ms: 2_000 },
    ];
    let p = plan(LoadModel::ClosedRamp { start: 0, stages });
    let (end, intervals, served) = drive(p, |_| Some(Duration::from_millis(100)), vec![]).await;
    assert_eq!(end.stop, StopReason::Completed);
    assert_eq!(recorded(&intervals), served, "every call recorded");
    let at = |s: usize| intervals[s].in_flight;
    // At the end of seconds 1..6: about 10, 20, 20, 20, 10, then drained.
    assert!((9..=11).contains(&at(0)), "half way up: {}", at(0));
    assert_eq!((at(1), at(2), at(3)), (20, 20, 20), "at the level");
    assert!((9..=11).contains(&at(4)), "half way down: {}", at(4));
    // Calls per second follow the level: 10 calls/s per call in flight at 100 ms each.
    let calls: Vec<u64> = intervals.iter().map(|i| i.stats.calls).collect();
    assert!((190..=200).contains(&calls[2]), "20 in flight for a second is about 200 calls: {calls:?}");
    assert!(calls[0] < calls[1] && calls[4] < calls[3], "up, then down: {calls:?}");
}

/// A target that keeps every payload it is sent.
struct Recording(std::sync::Mutex<Vec<Value>>);

impl Target for Recording {
    fn invoke(&self, payload: Value) -> impl std::future::Future<Output = Answer> + Send {
        self.0.lock().unwrap().push(payload);
        async move { Outcome::Response(json!({"ok": true})).into() }
    }
}

#[tokio::test(start_paused = true)]
async fn a_template_workload_sends_its_payloads_and_stops_when_unique_rows_run_out() {
    use crate::workload::{Distribution, Gen, Order};
    let rows = (0..25).map(|i| vec![json!(format!("u{i}"))]).collect();
    let generators = vec![
        ("n".to_string(), Gen::Int { min: 1, max: 1_000, distribution: Distribution::Sequential, exponent: None }),
        (
            "user".to_string(),
            Gen::Row { file: "u.csv".into(), columns: vec!["id".into()], rows, order: Order::Random, unique: true },
        ),
    ];
    let template = json!({"op": "order", "seq": "{{n}}", "who": "{{user.id}}", "note": "call {{n}} by {{user.id}}"});
    let mut p = plan(LoadModel::Closed { in_flight: 4, calls: None, duration_s: Some(60.0) });
    p.workload = crate::Workload::template(template, generators).unwrap();
    let target = Arc::new(Recording(std::sync::Mutex::new(Vec::new())));
    let (_tx, rx) = watch::channel(Halt::Go);
    let (events, _received) = mpsc::unbounded_channel();
    let end = run(&p, target.clone(), rx, events).await;
    assert_eq!((end.stop, end.started), (StopReason::Completed, 25), "one call per unique row, then done");
    let sent = target.0.lock().unwrap().clone();
    let mut who: Vec<String> = sent.iter().map(|s| s["who"].as_str().unwrap().to_string()).collect();
    for (k, s) in sent.iter().enumerate() {
        assert_eq!(s["seq"], json!(k + 1), "sequential and typed: {s}");
        assert_eq!(s["note"], json!(format!("call {} by {}", k + 1, s["who"].as_str().unwrap())));
    }
    who.sort();
    who.dedup();
    assert_eq!(who.len(), 25, "every row used once");
}

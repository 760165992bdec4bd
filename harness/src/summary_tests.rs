//! The run's accounting with lost and failed workers: "not started" means certainly not
//! started, the rest of their leases is unreported, and the run reconciled with what the
//! endpoint counted.

use workers::{CallRecord, EngineEnd, ErrorClass, Stats, StopReason};

use super::*;
use crate::scenario::{self, Overrides};
use crate::server::{LambdaSide, ServerView};

fn calls(n: u64, failed: u64) -> Stats {
    let mut s = Stats::default();
    for i in 0..n {
        let error = (i < failed).then(|| (ErrorClass::Timeout, "no answer within 30 s".to_string()));
        s.record(&CallRecord { latency_us: 1_000, error, ..CallRecord::default() });
    }
    s
}

fn worker(status: WorkerStatus, totals: Stats, unreported_at_most: u64) -> WorkerReport {
    WorkerReport { status, totals, unreported_at_most, ..WorkerReport::default() }
}

/// A fleet run of 1,000 planned calls: a worker that completed 500, and one lost after
/// reporting 200 of its 500, its lease 260.
fn fleet_run(invocations: Option<u64>) -> RunReport {
    let plan =
        scenario::parse("t.toml", "[load]\nmodel = \"closed\"\nin_flight = 8\ncalls = 1000\n", &Overrides::default())
            .unwrap();
    let (done, lost) = (calls(500, 0), calls(200, 2));
    let mut totals = done.clone();
    totals.merge(&lost);
    let server = invocations.map(|i| ServerView {
        source: "the local endpoint's counters".into(),
        from: crate::clock::Timestamp::parse("2026-12-07T12:00:00Z").unwrap(),
        to: crate::clock::Timestamp::parse("2026-12-07T12:01:00Z").unwrap(),
        complete: true,
        notes: Vec::new(),
        lambda: Some(LambdaSide { invocations: Some(i), ..LambdaSide::default() }),
        database: None,
    });
    let started_at = crate::clock::Timestamp::parse("2026-12-07T12:00:00Z").unwrap();
    RunReport {
        harness_version: "test".into(),
        end: EngineEnd { started: 703, abandoned: 0, elapsed_s: 10.0, stop: StopReason::Completed },
        workers: vec![
            worker(WorkerStatus::Completed, done, 0),
            WorkerReport { unreported_calls: 3, ..worker(WorkerStatus::Lost, lost, 60) },
        ],
        totals,
        server,
        ..RunReport::skeleton(plan, "run".into(), started_at)
    }
}

#[test]
fn a_lost_worker_s_lease_is_unreported_and_only_the_rest_not_started() {
    let a = fleet_run(None).accounting();
    assert_eq!((a.succeeded, a.failed, a.abandoned), (698, 2, 0));
    assert_eq!(a.unreported, 60, "its lease of 260 less the 200 it reported, not only the 3 it had started");
    assert_eq!(a.not_started, Some(240), "1,000 planned - 700 reported - 60 that may have started");
    assert!(a.holds(), "{a:?}");
    let r = a.reconciliation.expect("a lost worker: reconciled");
    assert_eq!((r.endpoint_invocations, r.unreported_reached_at_most), (None, None));
    assert_eq!((r.reported_answered, r.reported_unknown, r.unknown_allowed), (698, 2, 62));
}

#[test]
fn the_endpoint_s_invocations_say_how_many_unreported_calls_reached_the_function() {
    // 698 answered + 2 of unknown outcome reported; the endpoint counted 745.
    let r = fleet_run(Some(745)).accounting().reconciliation.unwrap();
    assert_eq!((r.unreported_reached_at_least, r.unreported_reached_at_most), (Some(45), Some(47)));
    // Never more than the unreported calls, never below zero.
    let r = fleet_run(Some(10_000)).accounting().reconciliation.unwrap();
    assert_eq!((r.unreported_reached_at_least, r.unreported_reached_at_most), (Some(60), Some(60)));
    let r = fleet_run(Some(600)).accounting().reconciliation.unwrap();
    assert_eq!((r.unreported_reached_at_least, r.unreported_reached_at_most), (Some(0), Some(0)));
}

#[test]
fn a_run_without_lost_workers_is_not_reconciled_and_adds_up_as_before() {
    let mut run = fleet_run(Some(745));
    run.workers[1].status = WorkerStatus::Completed;
    (run.workers[1].unreported_at_most, run.workers[1].unreported_calls) = (0, 0);
    run.end.started = 700;
    let a = run.accounting();
    assert_eq!((a.unreported, a.not_started, a.reconciliation), (0, Some(300), None));
    assert!(a.holds());
    // Calls started that no statistic holds do not add up.
    run.end.started = 1_003;
    assert!(!run.accounting().holds());
}

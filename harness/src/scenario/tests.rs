use super::*;
use transfer::RetryPolicy;

fn plan(text: &str) -> Result<Plan, String> {
    parse("s.toml", text, &Overrides::default()).map_err(|e| e.to_string())
}

#[test]
fn the_workshop_chapter_4_run() {
    let p = plan("[data]\naccounts = 1000\n[load]\nmodel = \"batches\"\nparallel = 1000\nbatches = 10\n").unwrap();
    assert_eq!(p.engine.load, LoadModel::Batches { parallel: 1000, batches: 10 });
    assert_eq!(p.data, DataSpec { accounts: 1000, initial_balance: 100 });
    assert_eq!(p.target, TargetSpec::Local { function: "reinvent-dat401".into(), database_url: None });
    assert_eq!(p.local.retry_policy, RetryPolicy::Unlimited);
    assert_eq!(p.engine.workload.account_range(), Some((1, 1000)));
    assert_eq!(p.name, "s");
}

#[test]
fn open_and_closed_models() {
    let p = plan("[load]\nmodel = \"open\"\nrate = 200\nduration = \"10s\"\nmax_in_flight = 50\n").unwrap();
    assert_eq!(
        p.engine.load,
        LoadModel::Open {
            stages: vec![Stage { rate: 200.0, duration_s: 10.0, ramp_from: None }],
            max_in_flight: 50,
            slot: workers::load::Slot::WHOLE
        }
    );
    let p = plan("[load]\nmodel = \"open\"\nstages = [{rate = 10, duration = \"1m\"}, {rate = 20, duration = 30}]\n")
        .unwrap();
    assert_eq!(p.engine.load.planned_calls(), Some(600 + 600));
    let p = plan("[load]\nmodel = \"closed\"\nin_flight = 8\ncalls = 100\n").unwrap();
    assert_eq!(p.engine.load, LoadModel::Closed { in_flight: 8, calls: Some(100), duration_s: None });
}

#[test]
fn errors_point_at_line_and_column() {
    let e = plan("[load]\nmodel = \"batches\"\nparallel = 0\nbatches = 10\n").unwrap_err();
    assert_eq!(e, "s.toml:3:12: load.parallel must be between 1 and 1000000, got 0");
    let e = plan("[load]\nmodel = \"batches\"\nparalel = 10\n").unwrap_err();
    assert!(e.starts_with("s.toml:3:1: unknown field `paralel`, expected one of"), "{e}");
    let e = plan("[load]\nmodel = \"batches\"\nparallel = \"ten\"\nbatches = 1\n").unwrap_err();
    assert!(e.starts_with("s.toml:3:12: invalid type: string \"ten\", expected i64"), "{e}");
    let e = plan("[load]\nmodel = \"open\"\nrate = -5\nduration = \"1s\"\n").unwrap_err();
    assert_eq!(e, "s.toml:3:8: rate must be > 0 and at most 1000000 calls/s, got -5");
    let e = plan("[data]\naccounts = 10\n[workload]\nfirst_account = 4\nlast_account = 4\n[load]\nmodel = \"closed\"\nin_flight = 1\ncalls = 1\n").unwrap_err();
    assert_eq!(e, "s.toml:5:16: transfers need at least two accounts to draw from, but the payer range is 4..=4");
    let e = plan("[load]\nmodel = \"batches\"\nparallel = 1\nbatches = 1\nrate = 5\n").unwrap_err();
    assert_eq!(e, "s.toml:5:8: load.rate is not used by model \"batches\"");
    let e = plan("[load]\nmodel = \"closed\"\nin_flight = 2\n").unwrap_err();
    assert!(e.starts_with("s.toml:2:9: model \"closed\" needs load.calls, load.duration"), "{e}");
    let e = plan("[local]\nretry_policy = \"forever\"\n[load]\nmodel = \"closed\"\nin_flight = 1\ncalls = 1\n")
        .unwrap_err();
    assert!(e.starts_with("s.toml:2:16: local.retry_policy: invalid retry policy \"forever\""), "{e}");
    assert!(plan("").unwrap_err().contains("missing [load] section"));
}

#[test]
fn flags_override_and_are_named_in_errors() {
    let text = "[load]\nmodel = \"batches\"\nparallel = 1000\nbatches = 10\n";
    let o = Overrides {
        parallel: Some(20),
        batches: Some(2),
        accounts: Some(50),
        retry_policy: Some("none".into()),
        ..Default::default()
    };
    let p = parse("s.toml", text, &o).unwrap();
    assert_eq!(p.engine.load, LoadModel::Batches { parallel: 20, batches: 2 });
    assert_eq!(
        (p.data.accounts, p.engine.workload.account_range().unwrap().1, p.local.retry_policy.to_string().as_str()),
        (50, 50, "none")
    );
    let o = Overrides { parallel: Some(0), ..Default::default() };
    assert_eq!(
        parse("s.toml", text, &o).unwrap_err().to_string(),
        "--parallel: load.parallel must be between 1 and 1000000, got 0"
    );
    let o = Overrides { accounts: Some(1), ..Default::default() };
    assert!(parse("s.toml", text, &o)
        .unwrap_err()
        .to_string()
        .starts_with("--accounts: data.accounts must be between 2"));
}

#[test]
fn shipped_scenarios_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load(&path, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(seen >= 5, "scenarios/ ships at least five scenarios, found {seen}");
}

#[test]
fn workers_are_validated_with_their_position() {
    let load = "[load]\nmodel = \"batches\"\nparallel = 10\nbatches = 2\n";
    let p = plan(&format!("{load}[workers]\ncount = 3\npartition_accounts = true\n")).unwrap();
    let fleet = p.workers.unwrap();
    assert_eq!((fleet.workers, fleet.on_lost, fleet.lost_after_s), (WorkerSet::Local(3), OnLost::Continue, 3.0));
    let e = plan(&format!("{load}[workers]\ncount = 3\naddresses = [\"a:1\"]\n")).unwrap_err();
    assert!(e.starts_with("s.toml:6:9: workers.count and workers.addresses"), "{e}");
    let e = plan(&format!("{load}[workers]\ncount = 11\n")).unwrap_err();
    assert_eq!(e, "s.toml:6:9: load.parallel = 10 cannot be split across 11 workers (at least one call each)");
    let e = plan(&format!("{load}[workers]\naddresses = [\"10.0.0.1\"]\n")).unwrap_err();
    assert!(e.contains("needs a port"), "{e}");
    let e = plan(&format!("[target]\nkind = \"in-process\"\n{load}[workers]\ncount = 2\n")).unwrap_err();
    assert!(e.contains("runs in this process only"), "{e}");
    let e = plan(&format!("{load}[workers]\non_lost = \"stop\"\n")).unwrap_err();
    assert!(e.contains("[workers] needs count = N, addresses = [\"host:port\", ..] or dns"), "{e}");

    let o = Overrides { worker_addresses: vec!["127.0.0.1:7700".into()], ..Overrides::default() };
    let p = parse("s.toml", &format!("{load}[workers]\ncount = 2\n"), &o).unwrap();
    assert_eq!(p.workers.unwrap().workers, WorkerSet::Remote(vec!["127.0.0.1:7700".into()]), "--worker replaces count");
    let p = plan(&format!("{load}[workers]\ndns = \"harness-workers.default.svc:7700\"\n")).unwrap();
    assert_eq!(p.workers.unwrap().workers, WorkerSet::Dns("harness-workers.default.svc:7700".into()));
    let e = plan(&format!("{load}[workers]\ndns = \"harness-workers\"\n")).unwrap_err();
    assert!(e.contains("workers.dns \"harness-workers\" needs NAME:PORT"), "{e}");
    let e = plan(&format!("{load}[workers]\ncount = 2\ndns = \"w:7700\"\n")).unwrap_err();
    assert!(e.contains("workers.dns excludes workers.count and workers.addresses"), "{e}");
    let o = Overrides { worker_dns: Some("w:7700".into()), ..Overrides::default() };
    assert_eq!(parse("s.toml", load, &o).unwrap().workers.unwrap().workers, WorkerSet::Dns("w:7700".into()));
}

#[test]
fn ramps_parse_for_the_open_and_the_closed_model() {
    let p = plan("[load]\nmodel = \"open\"\nstart_rate = 10\nstages = [{target = 100, duration = \"30s\"}, {rate = 100, duration = \"1m\"}, {target = 0, duration = \"30s\"}]\n")
        .unwrap();
    let LoadModel::Open { stages, .. } = &p.engine.load else { panic!("{:?}", p.engine.load) };
    assert_eq!(
        stages,
        &vec![
            Stage { rate: 100.0, duration_s: 30.0, ramp_from: Some(10.0) },
            Stage { rate: 100.0, duration_s: 60.0, ramp_from: None },
            Stage { rate: 0.0, duration_s: 30.0, ramp_from: Some(100.0) },
        ]
    );
    let p = plan(
        "[load]\nmodel = \"closed\"\nstages = [{target = 64, duration = \"10s\"}, {target = 0, duration = \"5s\"}]\n",
    )
    .unwrap();
    assert_eq!(
        p.engine.load,
        LoadModel::ClosedRamp {
            start: 0,
            stages: vec![
                workers::load::Level { target: 64, duration_ms: 10_000 },
                workers::load::Level { target: 0, duration_ms: 5_000 }
            ]
        }
    );
    assert_eq!(p.engine.load.max_in_flight(), 64);
    let err = |text: &str| plan(text).unwrap_err().to_string();
    assert!(err("[load]\nmodel = \"closed\"\nin_flight = 5\nstages = [{target = 6, duration = \"1s\"}]\n")
        .contains("load.in_flight is not used with load.stages"));
    assert!(err("[load]\nmodel = \"closed\"\nstages = [{rate = 6, duration = \"1s\"}]\n")
        .contains(":3:19: a closed model's stage takes target"));
    assert!(err("[load]\nmodel = \"closed\"\nstages = [{target = 0, duration = \"1s\"}]\n")
        .contains("never has a call in flight"));
    assert!(err("[load]\nmodel = \"open\"\nstages = [{target = 0, duration = \"1s\"}]\n").contains("makes no calls"));
    assert!(
        err("[load]\nmodel = \"open\"\nstages = [{target = 5, rate = 5, duration = \"1s\"}]\n").contains("not both")
    );
    assert!(err("[load]\nmodel = \"open\"\nrate = 5\nduration = \"1s\"\nstart_rate = 2\n")
        .contains("only used with load.stages"));
}

#[test]
fn the_local_endpoint_emulates_lambda_as_told() {
    let load = "[load]\nmodel = \"closed\"\nin_flight = 1\ncalls = 1\n";
    let p = plan(load).unwrap();
    assert!(p.log_tail, "REPORT lines are asked for by default");
    let c = p.local.endpoint_config("f", None);
    assert_eq!((c.memory_size_mb, c.lifecycle.init_cost.as_millis(), c.lifecycle.reserved), (128, 40, None));
    assert_eq!(c.lifecycle.idle_reclaim, Some(std::time::Duration::from_secs(300)));
    let text = format!(
        "[target]\nlog_tail = false\n[local]\nmemory_size = 512\ninit_cost = \"150ms\"\nidle_reclaim = \"never\"\n\
         reserved_concurrency = 5\n{load}"
    );
    let p = plan(&text).unwrap();
    assert!(!p.log_tail);
    let c = p.local.endpoint_config("f", None);
    assert_eq!((c.memory_size_mb, c.lifecycle.init_cost.as_millis(), c.lifecycle.reserved), (512, 150, Some(5)));
    assert_eq!(c.lifecycle.idle_reclaim, None);
    let o = Overrides { log_tail: Some("on".into()), ..Default::default() };
    assert!(parse("s.toml", &text, &o).unwrap().log_tail, "--log-tail on wins over the file");
    let e = plan(&format!("[local]\nmemory_size = 64\n{load}")).unwrap_err();
    assert_eq!(e, "s.toml:2:15: local.memory_size must be 128 to 10240 MB (Lambda's range), got 64");
    let e = plan(&format!("[local]\ninit_cost = \"11s\"\n{load}")).unwrap_err();
    assert!(e.starts_with("s.toml:2:13: local.init_cost must be at most 10 s"), "{e}");
    let e = plan(&format!("[local]\nreserved_concurrency = 0\n{load}")).unwrap_err();
    assert!(e.starts_with("s.toml:2:24: local.reserved_concurrency must be between 1"), "{e}");
}

#[test]
fn the_local_database_is_dsql_unless_asked_and_its_latency_needs_it() {
    let load = "[load]\nmodel = \"batches\"\nparallel = 1\nbatches = 1\n";
    let p = plan(load).unwrap();
    assert_eq!((p.local.database, p.local.dsql_latency_s), (crate::scenario::LocalDb::Dsql, 0.0));
    let p = plan(&format!("[local]\ndatabase = \"postgres\"\n{load}")).unwrap();
    assert_eq!(p.local.database, crate::scenario::LocalDb::Postgres);
    let p = plan(&format!("[local]\ndsql_latency = \"2ms\"\n{load}")).unwrap();
    assert_eq!(p.local.dsql_latency_s, 0.002);
    let e = plan(&format!("[local]\ndatabase = \"aurora\"\n{load}")).unwrap_err();
    assert_eq!(e, "s.toml:2:12: local.database: \"aurora\" is not one of \"dsql\", \"postgres\"");
    let e = plan(&format!("[local]\ndatabase = \"postgres\"\ndsql_latency = \"2ms\"\n{load}")).unwrap_err();
    assert!(e.starts_with("s.toml:3:16: local.dsql_latency needs local.database = \"dsql\""), "{e}");
}

#[test]
fn the_kubernetes_coordinator_scenario_parses() {
    let manifest = include_str!("../../../deploy/k8s/coordinator.yaml");
    let text: String = manifest
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("scenario.toml: |"))
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
        .collect();
    let p = parse("coordinator.yaml", &text, &Overrides::default()).unwrap();
    assert_eq!(p.target.kind(), "aws");
    assert_eq!(p.workers.unwrap().workers, WorkerSet::Dns("harness-workers:7700".into()));
}

#[test]
fn expected_outcomes_are_named_and_checked_where_they_are() {
    let load = "[load]\nmodel = \"closed\"\nin_flight = 1\ncalls = 1\n";
    let p = plan(&format!("{load}[thresholds]\nmax_failed_pct = 5\nexpected = [\"occ_conflict\", \"throttle\"]\n"))
        .unwrap();
    assert_eq!(p.thresholds.max_failed_pct, Some(5.0));
    assert_eq!(p.thresholds.expected, [Expected::OccConflict, Expected::Class(workers::ErrorClass::Throttle)]);
    assert_eq!(p.thresholds.failed_limit(), Some((5.0, false)));
    assert_eq!(plan(load).unwrap().thresholds.failed_limit(), Some((Thresholds::DEFAULT_FAILED_PCT, true)));
    let e = plan(&format!("{load}[thresholds]\nexpected = [\"business\", \"conflict\"]\n")).unwrap_err();
    assert!(
        e.starts_with("s.toml:6:25: thresholds.expected: \"conflict\" is not one of occ_conflict, business"),
        "{e}"
    );
    let e = plan(&format!("{load}[thresholds]\nexpected = [\"timeout\", \"timeout\"]\n")).unwrap_err();
    assert!(e.starts_with("s.toml:6:24: thresholds.expected names \"timeout\" twice"), "{e}");
    let e = plan(&format!("{load}[thresholds]\nmax_failed_pct = 101\n")).unwrap_err();
    assert!(e.contains("thresholds.max_failed_pct must be between 0 and 100"), "{e}");
}

#[test]
fn kinds_of_call_are_parsed_and_refused_where_they_are_wrong() {
    let load = "[load]\nmodel = \"closed\"\nin_flight = 2\ncalls = 10\n[response]\nretries = \"/r\"\n";
    let read = "[[call]]\nname = \"read\"\nweight = 4\ntemplate = { op = \"read\", id = \"{{id}}\" }\n\
                generators = { id = { kind = \"int\", min = 1, max = 9 } }\n";
    let write = "[[call]]\nname = \"write\"\ntemplate = { op = \"write\" }\nresponse = { retries = \"/w\" }\n";
    let p = plan(&format!("{load}{read}{write}")).unwrap();
    let k = &p.engine.kinds;
    assert_eq!(k.iter().map(|k| (k.name.as_str(), k.weight)).collect::<Vec<_>>(), [("read", 4), ("write", 1)]);
    assert_eq!((k[0].response.retries.as_str(), k[1].response.retries.as_str()), ("/r", "/w"), "own or [response]");
    assert_eq!(p.engine.workload, k[0].workload, "no built-in transfer stands for the run");
    assert_eq!(p.engine.workload.op(), None);
    let err = |text: String| plan(&text).unwrap_err();
    let e = err(format!("{load}[[call]]\ntemplate = {{ op = 1 }}\n"));
    assert!(e.starts_with("s.toml:7:1: call 1 needs a name"), "{e}");
    let e = err(format!("{load}{read}[[call]]\nname = \"read\"\ntemplate = {{ op = 1 }}\n"));
    assert!(e.starts_with("s.toml:13:8: call.name \"read\" is given twice"), "{e}");
    let e = err(format!("{load}[[call]]\nname = \"x\"\nweight = 0\ntemplate = {{ op = 1 }}\n"));
    assert!(e.starts_with("s.toml:9:10: call.weight must be between 1 and 1000000, got 0"), "{e}");
    let e = err(format!("{load}[[call]]\nname = \"x\"\n"));
    assert!(e.starts_with("s.toml:7:1: call \"x\" needs a template"), "{e}");
    let e = err(format!("{load}[workload]\ntemplate = {{ a = 1 }}\n{write}"));
    assert!(e.contains("[[call]] describes every call's payload"), "{e}");
    let e = err(format!("{load}[[call]]\nname = \"x\"\ntemplate = {{ a = 1 }}\nfunction = \"other\"\n"));
    assert!(e.starts_with("s.toml:10:12: call.function: the local target runs one function"), "{e}");
    let endpoint = "[target]\nkind = \"endpoint\"\nurl = \"http://127.0.0.1:9\"\n";
    let p = plan(&format!("{endpoint}{load}[[call]]\nname = \"x\"\ntemplate = {{ a = 1 }}\nfunction = \"other\"\n"));
    assert_eq!(p.unwrap().engine.kinds[0].function.as_deref(), Some("other"));
    let e = err(format!("{endpoint}{load}[[call]]\nname = \"x\"\ntemplate = {{ a = 1 }}\nfunction = \"a b\"\n"));
    assert!(e.contains("call.function:"), "{e}");
    let e = err(format!("{load}[[call]]\nname = \"x\"\ntemplate = {{ a = \"{{{{nope}}}}\" }}\n"));
    assert!(e.contains("nope"), "a template's own errors, with their place: {e}");
}

#[test]
fn kinds_of_call_may_each_have_a_load_model_of_their_own() {
    let read = "[[call]]\nname = \"read\"\ntemplate = { op = \"read\" }\n\
                load = { model = \"open\", rate = 10, duration = \"3s\", max_in_flight = 4 }\n";
    let write = "[[call]]\nname = \"write\"\ntemplate = { op = \"write\" }\n\
                 [call.load]\nmodel = \"closed\"\nin_flight = 2\ncalls = 7\n";
    let p = plan(&format!("{read}{write}")).unwrap();
    let LoadModel::Kinds { loads } = &p.engine.load else { panic!("{:?}", p.engine.load) };
    assert_eq!(loads[1], LoadModel::Closed { in_flight: 2, calls: Some(7), duration_s: None });
    assert_eq!((p.engine.load.planned_calls(), p.engine.load.max_in_flight()), (Some(30 + 7), 6));
    assert!(p.engine.load.is_open(), "one kind is open: its latency counts from intended starts");
    let err = |text: String, o: &Overrides| parse("s.toml", &text, o).unwrap_err().to_string();
    let none = Overrides::default();
    let e = err(format!("{read}[[call]]\nname = \"write\"\ntemplate = {{ op = 1 }}\n"), &none);
    assert!(e.starts_with("s.toml:5:1: call \"write\" needs a load of its own"), "{e}");
    let e = err(format!("[load]\nmodel = \"closed\"\nin_flight = 2\ncalls = 9\n{read}{write}"), &none);
    assert!(e.starts_with("s.toml:1:1: [load] is not used when the kinds of call have loads of their own"), "{e}");
    let e = err(format!("{read}{}", write.replace("name = \"write\"\n", "name = \"write\"\nweight = 3\n")), &none);
    assert!(e.starts_with("s.toml:7:10: call.weight is not used when each kind of call has its own load"), "{e}");
    let e = err(format!("{read}{write}"), &Overrides { rate: Some(5.0), ..Overrides::default() });
    assert!(e.contains("--rate cannot change a scenario whose kinds of call each have a load"), "{e}");
    let e = err(format!("{}{write}", read.replace("rate = 10", "rate = 0")), &none);
    assert!(e.starts_with("s.toml:4:"), "a kind's load errors point into its own table: {e}");
}

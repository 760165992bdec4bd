use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::*;

fn transfer(accounts: Accounts) -> Workload {
    Workload::transfer(11, 20, accounts, 1, 3)
}

fn int(min: i64, max: i64, distribution: Distribution, exponent: Option<f64>) -> Gen {
    Gen::Int { min, max, distribution, exponent }
}

fn one(template: Value, gens: Vec<(&str, Gen)>) -> Workload {
    Workload::template(template, gens.into_iter().map(|(n, g)| (n.to_string(), g)).collect()).unwrap()
}

fn draws(w: &Workload, seed: u64, n: usize) -> Vec<Value> {
    let mut s = w.sampler(seed);
    (0..n).map(|_| s.next_payload().unwrap()).collect()
}

fn rows(n: usize) -> Gen {
    let rows = (0..n).map(|i| vec![json!(i), json!(format!("user{i}"))]).collect();
    Gen::Row {
        file: "u.csv".into(),
        columns: vec!["id".into(), "name".into()],
        rows,
        order: Order::RoundRobin,
        unique: true,
    }
}

#[test]
fn transfers_stay_in_range_with_distinct_accounts() {
    for p in draws(&transfer(Accounts::Uniform), 7, 2_000) {
        let (a, b) = (p["payer_id"].as_i64().unwrap(), p["payee_id"].as_i64().unwrap());
        assert!((11..=20).contains(&a) && (11..=20).contains(&b) && a != b, "{p}");
        assert!((1..=3).contains(&p["amount"].as_i64().unwrap()));
        assert_eq!(p.as_object().unwrap().len(), 3);
    }
}

#[test]
fn zipf_makes_the_lowest_ids_hot() {
    let mut counts = [0u32; 10];
    for p in draws(&transfer(Accounts::Zipf { exponent: 1.2 }), 7, 10_000) {
        counts[(p["payer_id"].as_i64().unwrap() - 11) as usize] += 1;
    }
    assert!(counts[0] > 3 * counts[9], "{counts:?}");
    assert!(counts.windows(2).filter(|w| w[0] >= w[1]).count() >= 7, "{counts:?}");
}

#[test]
fn uniform_and_zipf_ints_have_their_frequencies() {
    let w = one(
        json!({"u": "{{u}}", "z": "{{z}}"}),
        vec![("u", int(1, 10, Distribution::Uniform, None)), ("z", int(5, 9, Distribution::Zipf, Some(1.0)))],
    );
    let (mut u, mut z) = ([0f64; 10], [0f64; 5]);
    let n = 100_000;
    for p in draws(&w, 3, n) {
        u[(p["u"].as_i64().unwrap() - 1) as usize] += 1.0;
        z[(p["z"].as_i64().unwrap() - 5) as usize] += 1.0;
    }
    assert!(u.iter().all(|c| (c / n as f64 - 0.1).abs() < 0.01), "{u:?}");
    let h: f64 = (1..=5).map(|k| 1.0 / k as f64).sum();
    for (k, c) in z.iter().enumerate() {
        let expected = 1.0 / (k as f64 + 1.0) / h;
        assert!((c / n as f64 - expected).abs() < 0.01, "rank {}: {z:?}", k + 1);
    }
}

#[test]
fn choices_follow_their_weights() {
    let values = vec![json!("a"), json!({"b": 1}), json!(3)];
    let w =
        one(json!("{{c}}"), vec![("c", Gen::Choice { values: values.clone(), weights: Some(vec![1.0, 3.0, 0.0]) })]);
    let got = draws(&w, 9, 40_000);
    let share = |v: &Value| got.iter().filter(|g| *g == v).count() as f64 / got.len() as f64;
    assert!((share(&values[0]) - 0.25).abs() < 0.01 && (share(&values[1]) - 0.75).abs() < 0.01);
    assert_eq!(share(&values[2]), 0.0);
}

#[test]
fn other_is_never_its_generator_even_with_two_values() {
    let w = one(
        json!(["{{a}}", "{{b}}"]),
        vec![("a", int(1, 2, Distribution::Zipf, Some(3.0))), ("b", Gen::Other { of: "a".into() })],
    );
    let got = draws(&w, 1, 5_000);
    assert!(got.iter().all(|p| p[0] != p[1] && (1..=2).contains(&p[1].as_i64().unwrap())));
    assert!(got.iter().any(|p| p[1] == json!(1)), "the fallback gives the other value");
}

#[test]
fn the_same_seed_gives_the_same_payloads() {
    let w = one(
        json!({"id": "{{id}}", "n": "{{n}}", "s": "{{s}}", "t": "{{t}}"}),
        vec![
            ("id", Gen::Uuid),
            ("n", Gen::Decimal { min: 0.5, max: 2.0, scale: 2 }),
            ("s", Gen::String { min_length: 3, max_length: 6, alphabet: Some("xyz".into()) }),
            (
                "t",
                Gen::Timestamp {
                    from: Some("2026-01-01T00:00:00Z".into()),
                    to: Some("2026-01-02T00:00:00+01:00".into()),
                },
            ),
        ],
    );
    assert_eq!(draws(&w, 5, 200), draws(&w, 5, 200));
    assert_ne!(draws(&w, 5, 20), draws(&w, 6, 20));
    let (from, to) = (formats::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(), 1_767_308_400_000);
    for p in draws(&w, 5, 500) {
        let id = p["id"].as_str().unwrap();
        assert!(id.len() == 36 && &id[14..15] == "4" && "89ab".contains(&id[19..20]), "{id}");
        let n = p["n"].as_f64().unwrap();
        assert!((0.5..=2.0).contains(&n) && ((n * 100.0).round() - n * 100.0).abs() < 1e-9, "{n}");
        assert!(p["n"].to_string().split('.').nth(1).is_none_or(|d| d.len() <= 2), "{}", p["n"]);
        let s = p["s"].as_str().unwrap();
        assert!((3..=6).contains(&s.len()) && s.chars().all(|c| "xyz".contains(c)), "{s}");
        let t = formats::parse_rfc3339(p["t"].as_str().unwrap()).unwrap();
        assert!((from..=to).contains(&t), "{p}");
    }
}

#[test]
fn holes_are_typed_alone_and_text_inside_strings() {
    let w = one(
        json!({"id": "{{n}}", "label": "user-{{n}}/{{ u.name }}", "row": "{{u}}", "name": "{{u.name}}", "k": [1, {"x": null}]}),
        vec![("n", int(7, 7, Distribution::Uniform, None)), ("u", rows(3))],
    );
    let p = w.sampler(0).next_payload().unwrap();
    assert_eq!(
        p,
        json!({"id": 7, "label": "user-7/user0", "row": {"id": 0, "name": "user0"}, "name": "user0", "k": [1, {"x": null}]})
    );
}

#[test]
fn sequential_values_and_unique_rows_are_shared_exactly_across_workers() {
    let w = one(
        json!({"n": "{{n}}", "u": "{{u.id}}"}),
        vec![("n", int(100, 109, Distribution::Sequential, None)), ("u", rows(10))],
    );
    let plan = crate::EnginePlan {
        workload: w,
        ..crate::EnginePlan::for_tests(crate::LoadModel::Batches { parallel: 12, batches: 1 }, 10)
    };
    let (mut ns, mut us) = (Vec::new(), Vec::new());
    for p in crate::remote::split(&plan, 3, false).unwrap() {
        let mut s = p.workload.sampler(p.seed);
        while let Some(v) = s.next_payload() {
            ns.push(v["n"].as_i64().unwrap());
            us.push(v["u"].as_i64().unwrap());
        }
        assert!(s.next_payload().is_none(), "a worker's unique rows stay used");
    }
    ns.sort_unstable();
    us.sort_unstable();
    assert_eq!(ns, (100..110).collect::<Vec<_>>(), "sequential values: each exactly once");
    assert_eq!(us, (0..10).collect::<Vec<_>>(), "unique rows: each exactly once");
    let e = crate::remote::split(&plan, 11, false).unwrap_err().to_string();
    assert!(e.contains("workload.generators.n.max: 10 values cannot be shared by 11 workers"), "{e}");
    assert!(crate::remote::split(&plan, 3, true).unwrap_err().to_string().contains("built-in transfer"));
}

#[test]
fn sequential_values_start_again_after_max_and_rows_cycle_unless_unique() {
    let mut g = rows(3);
    if let Gen::Row { unique, .. } = &mut g {
        *unique = false;
    }
    let w = one(json!(["{{n}}", "{{u.id}}"]), vec![("n", int(1, 3, Distribution::Sequential, None)), ("u", g)]);
    let got: Vec<Value> = draws(&w, 0, 5);
    assert_eq!(got, vec![json!([1, 0]), json!([2, 1]), json!([3, 2]), json!([1, 0]), json!([2, 1])]);
}

#[test]
fn random_unique_rows_are_each_used_once() {
    let mut g = rows(50);
    if let Gen::Row { order, .. } = &mut g {
        *order = Order::Random;
    }
    let w = one(json!("{{u.id}}"), vec![("u", g)]);
    let got: Vec<i64> = draws(&w, 4, 50).iter().map(|v| v.as_i64().unwrap()).collect();
    assert_ne!(got, (0..50).collect::<Vec<_>>(), "shuffled");
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 50);
    assert!(w.sampler(4).next_payload().is_some());
}

#[test]
fn templates_and_generators_are_checked() {
    let t = |template: Value, gens: Vec<(&str, Gen)>| {
        Workload::template(template, gens.into_iter().map(|(n, g)| (n.to_string(), g)).collect())
            .unwrap_err()
            .to_string()
    };
    let n = || int(1, 5, Distribution::Uniform, None);
    assert_eq!(t(json!("{{x}}"), vec![]), "workload.template uses {{x}}, but workload.generators has no \"x\"");
    assert_eq!(
        t(json!("{{n}}"), vec![("n", n()), ("m", n())]),
        "workload.generators.m is not used by workload.template"
    );
    assert!(t(json!("{{n.id}}"), vec![("n", n())]).contains("\"n\" is not a row generator"));
    assert!(t(json!("{{u.age}}"), vec![("u", rows(1))]).contains("the columns of \"u\" are id, name"));
    assert!(t(json!("a {{n"), vec![("n", n())]).contains("is not closed"));
    assert_eq!(
        t(json!("{{n}}"), vec![("n", int(5, 1, Distribution::Uniform, None))]),
        "workload.generators.n.min: min 5 is above max 1"
    );
    let e = t(json!("{{o}}"), vec![("o", Gen::Other { of: "s".into() }), ("s", Gen::Uuid)]);
    assert!(e.starts_with("workload.generators.o.of: of = \"s\" must name an int generator"), "{e}");
    let e = t(json!("{{c}}"), vec![("c", Gen::Choice { values: vec![json!(1)], weights: Some(vec![1.0, 2.0]) })]);
    assert_eq!(e, "workload.generators.c.weights: 2 weights for 1 values");
    let e = t(json!("{{z}}"), vec![("z", int(1, 5, Distribution::Zipf, None))]);
    assert!(e.contains("needs an exponent"), "{e}");
    let big = Gen::Row {
        file: "f.csv".into(),
        columns: vec!["a".into()],
        rows: vec![vec![json!("x".repeat(1 << 20))]],
        order: Order::Random,
        unique: false,
    };
    assert!(t(json!("{{b}}"), vec![("b", big)]).contains("over the limit of 524288"));
}

#[test]
fn a_builtin_workload_travels_as_it_always_did() {
    let old = json!({"op": "transfer", "first_account": 11, "last_account": 20, "accounts": {"kind": "zipf", "exponent": 1.5}, "amount_min": 1, "amount_max": 3});
    let w: Workload = serde_json::from_value(old.clone()).unwrap();
    assert_eq!(serde_json::to_value(&w).unwrap(), old);
    assert_eq!((w.op(), w.account_range()), (Some(Op::Transfer), Some((11, 20))));
    assert_eq!(draws(&w, 2, 50), draws(&transfer(Accounts::Zipf { exponent: 1.5 }), 2, 50));
    let greeting = Workload::builtin(Builtin { op: Op::Greeting, ..w.builtin_keys().unwrap().clone() }).unwrap();
    assert_eq!(draws(&greeting, 0, 1)[0], json!({"op": "greeting", "name": "harness"}));
    let bad = json!({"op": "transfer", "first_account": 5, "last_account": 5, "accounts": {"kind": "uniform"}, "amount_min": 1, "amount_max": 1});
    assert!(serde_json::from_value::<Workload>(bad).is_err(), "a transfer needs two accounts");
}

#[test]
fn a_template_workload_travels_with_its_rows_and_share() {
    let mut w = one(
        json!({"n": "{{n}}", "u": "{{u}}"}),
        vec![("n", int(0, 9, Distribution::Sequential, None)), ("u", rows(4))],
    );
    w.set_share(1, 2);
    let text = serde_json::to_string(&w).unwrap();
    let back: Workload = serde_json::from_str(&text).unwrap();
    assert_eq!(back, w);
    assert_eq!((back.op(), back.share()), (None, Share { index: 1, of: 2 }));
    assert_eq!(draws(&back, 1, 2).iter().map(|p| p["n"].clone()).collect::<Vec<_>>(), [json!(1), json!(3)]);
    let broken = text.replace("{{n}}", "{{nope}}");
    assert!(serde_json::from_str::<Workload>(&broken).is_err());
}

#[test]
fn data_files_and_times_parse() {
    let (cols, rows) = formats::csv_rows("id,name,zip\n1,\"Doe, \"\"J\"\"\",007\n-2.5,x,\n").unwrap();
    assert_eq!(cols, ["id", "name", "zip"]);
    assert_eq!(rows, vec![vec![json!(1), json!("Doe, \"J\""), json!("007")], vec![json!(-2.5), json!("x"), json!("")]]);
    assert_eq!(formats::csv_rows("a,b\n1,2\n3\n").unwrap_err(), (3, "1 fields, but the header has 2".to_string()));
    assert_eq!(formats::csv_rows("a\n\"x\n").unwrap_err().0, 2);
    let (cols, rows) = formats::json_lines_rows("{\"a\": 1, \"b\": [2]}\n\n{\"b\": 3, \"a\": null}\n").unwrap();
    assert_eq!(
        (cols, rows),
        (vec!["a".to_string(), "b".into()], vec![vec![json!(1), json!([2])], vec![json!(null), json!(3)]])
    );
    assert_eq!(formats::json_lines_rows("{\"a\": 1}\n{\"c\": 1}\n").unwrap_err().0, 2);
    assert_eq!(formats::json_lines_rows("{\"a\": 1}\nnot json\n").unwrap_err().0, 2);
    let ms = formats::parse_rfc3339("2024-02-29T23:59:58.5+02:00").unwrap();
    assert_eq!(formats::rfc3339(ms), "2024-02-29T21:59:58.500Z");
    assert_eq!(formats::parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
    assert!(formats::parse_rfc3339("yesterday").is_err());
}

/// The transfer builder before templates, kept to prove a recorded seed still gives the
/// payloads it gave then.
fn old_transfers(first: i32, last: i32, zipf: Option<f64>, amount: (i32, i32), seed: u64, n: usize) -> Vec<Value> {
    use rand::{Rng, SeedableRng};
    use rand_distr::Distribution as _;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let z = zipf.map(|e| rand_distr::Zipf::new((last - first + 1) as f64, e).unwrap());
    let account = |rng: &mut rand::rngs::SmallRng| match &z {
        None => rng.random_range(first..=last),
        Some(z) => first + z.sample(rng) as i32 - 1,
    };
    (0..n)
        .map(|_| {
            let payer = account(&mut rng);
            let mut payee = account(&mut rng);
            for _ in 0..16 {
                if payee != payer {
                    break;
                }
                payee = account(&mut rng);
            }
            if payee == payer {
                payee = if payer < last { payer + 1 } else { first };
            }
            let amount = rng.random_range(amount.0..=amount.1);
            json!({"payer_id": payer, "payee_id": payee, "amount": amount})
        })
        .collect()
}

#[test]
fn a_recorded_seed_gives_the_transfers_it_gave_before_templates() {
    assert_eq!(draws(&transfer(Accounts::Uniform), 42, 3_000), old_transfers(11, 20, None, (1, 3), 42, 3_000));
    let zipf = Workload::transfer(1, 3, Accounts::Zipf { exponent: 2.0 }, 5, 9);
    assert_eq!(draws(&zipf, 8, 3_000), old_transfers(1, 3, Some(2.0), (5, 9), 8, 3_000));
}

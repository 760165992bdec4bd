//! `[workload]` with a `template` and `[workload.generators]`: what it compiles to, and
//! each mistake reported at its `file:line:col`.

use serde_json::json;

use super::*;

const LOAD: &str = "[load]\nmodel = \"closed\"\nin_flight = 2\ncalls = 6\n";

fn plan(workload: &str) -> Result<Plan, String> {
    parse("s.toml", &format!("{LOAD}{workload}"), &Overrides::default()).map_err(|e| e.to_string())
}

fn payloads(p: &Plan, n: usize) -> Vec<serde_json::Value> {
    let mut s = p.engine.workload.sampler(p.engine.seed);
    (0..n).map(|_| s.next_payload().unwrap()).collect()
}

#[test]
fn a_template_fills_its_holes_from_the_generators() {
    let p = plan(concat!(
        "[workload]\n",
        "template = { kind = \"order\", id = \"{{id}}\", qty = \"{{qty}}\", ref = \"o-{{qty}}\", tags = [\"{{tag}}\", 1] }\n",
        "[workload.generators]\n",
        "id = { kind = \"int\", min = 1, max = 100, distribution = \"sequential\" }\n",
        "qty = { kind = \"decimal\", min = 1, max = 2, scale = 1 }\n",
        "tag = { kind = \"choice\", values = [\"a\", \"b\"], weights = [1, 0] }\n",
    ))
    .unwrap();
    assert_eq!(p.engine.workload.op(), None);
    for (k, v) in payloads(&p, 3).iter().enumerate() {
        assert_eq!((&v["kind"], &v["id"], &v["tags"]), (&json!("order"), &json!(k + 1), &json!(["a", 1])), "{v}");
        let qty = v["qty"].as_f64().unwrap();
        assert!((1.0..=2.0).contains(&qty) && v["ref"] == json!(format!("o-{}", v["qty"])), "{v}");
    }
    let text = plan("[workload]\ntemplate = '{\"a\": [\"{{u}}\"]}'\n[workload.generators]\nu = { kind = \"uuid\" }\n")
        .unwrap();
    assert_eq!(payloads(&text, 1)[0]["a"][0].as_str().unwrap().len(), 36, "a template given as JSON text");
}

#[test]
fn the_builtin_keys_still_make_the_transfer() {
    let p = plan("[workload]\naccounts = \"zipf\"\nzipf_exponent = 1.1\namount = [1, 5]\n").unwrap();
    let w = &p.engine.workload;
    assert_eq!((w.op(), w.account_range()), (Some(Op::Transfer), Some((1, 1000))));
    let v = &payloads(&p, 1)[0];
    assert!(v["payer_id"] != v["payee_id"] && (1..=5).contains(&v["amount"].as_i64().unwrap()), "{v}");
}

#[test]
fn rows_come_from_a_data_file_next_to_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), "id,name\n7,ann\n8,\"bo, b\"\n").unwrap();
    std::fs::write(dir.path().join("bad.csv"), "id,name\n7,ann\n8\n").unwrap();
    std::fs::write(dir.path().join("users.jsonl"), "{\"id\": 1, \"tags\": [\"x\"]}\n").unwrap();
    let scenario = |gen: &str, calls: u64| {
        let text = format!(
            "[load]\nmodel = \"closed\"\nin_flight = 1\ncalls = {calls}\n[workload]\ntemplate = {{ user = \"{{{{u.id}}}}\", who = \"{{{{u}}}}\" }}\n[workload.generators]\nu = {gen}\n"
        );
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        load(&path, &Overrides::default()).map_err(|e| e.to_string())
    };
    let p = scenario("{ kind = \"row\", file = \"users.csv\", unique = true }", 2).unwrap();
    assert_eq!(
        payloads(&p, 2),
        [json!({"user": 7, "who": {"id": 7, "name": "ann"}}), json!({"user": 8, "who": {"id": 8, "name": "bo, b"}})]
    );
    let p = scenario("{ kind = \"row\", file = \"users.jsonl\", order = \"random\" }", 5).unwrap();
    assert_eq!(payloads(&p, 1)[0]["who"], json!({"id": 1, "tags": ["x"]}));
    let e = scenario("{ kind = \"row\", file = \"users.csv\", unique = true }", 3).unwrap_err();
    assert!(
        e.ends_with(
            "s.toml:8:50: workload.generators.u.unique: each of its 2 rows serves one call, but the load plans 3 calls"
        ),
        "{e}"
    );
    let e = scenario("{ kind = \"row\", file = \"bad.csv\" }", 1).unwrap_err();
    assert!(e.ends_with("bad.csv:3: workload.generators.u.file: 1 fields, but the header has 2"), "{e}");
    let e = scenario("{ kind = \"row\", file = \"none.csv\" }", 1).unwrap_err();
    assert!(e.contains("s.toml:8:28: workload.generators.u.file: cannot read"), "{e}");
}

#[test]
fn mistakes_point_at_their_value() {
    let g = |gens: &str| {
        plan(&format!("[workload]\ntemplate = {{ a = \"{{{{a}}}}\" }}\n[workload.generators]\n{gens}\n")).unwrap_err()
    };
    assert_eq!(g("a = { kind = \"dice\" }"), "s.toml:8:14: workload.generators.a.kind: \"dice\" is not one of \"int\", \"other\", \"decimal\", \"uuid\", \"choice\", \"string\", \"timestamp\", \"row\"");
    assert_eq!(
        g("a = { kind = \"int\", min = 5, max = 1 }"),
        "s.toml:8:27: workload.generators.a.min: min 5 is above max 1"
    );
    assert_eq!(g("a = { kind = \"int\", min = 1, max = 9, scale = 2 }"), "s.toml:8:47: workload.generators.a.scale: is not used by kind \"int\" (it takes min, max, distribution, exponent)");
    assert_eq!(g("a = { kind = \"int\", max = 9 }"), "s.toml:8:5: workload.generators.a.min: kind \"int\" needs min");
    assert_eq!(
        g("a = { kind = \"other\", of = \"b\" }"),
        "s.toml:8:28: workload.generators.a.of: of = \"b\" names no generator"
    );
    assert_eq!(
        g("a = { kind = \"choice\", values = [1, 2], weights = [1] }"),
        "s.toml:8:51: workload.generators.a.weights: 1 weights for 2 values"
    );
    assert_eq!(
        g("a = { kind = \"uuid\" }\nb = { kind = \"uuid\" }"),
        "s.toml:9:5: workload.generators.b is not used by workload.template"
    );
    assert_eq!(
        g("a = { kind = \"timestamp\", from = \"today\", to = \"2026-01-01T00:00:00Z\" }"),
        "s.toml:8:34: workload.generators.a.from: \"today\" is not an RFC 3339 time like \"2026-01-31T12:00:00Z\""
    );
    let e = plan("[workload]\ntemplate = { a = 1, b = \"x {{nope}}\" }\n").unwrap_err();
    assert_eq!(e, "s.toml:6:28: workload.template uses {{nope}}, but workload.generators has no \"nope\"");
    let e = plan("[workload]\ntemplate = '{\"a\": '\n").unwrap_err();
    assert!(e.starts_with("s.toml:6:12: workload.template: not valid JSON"), "{e}");
    let e = plan("[workload]\namount = 2\ntemplate = { a = 1 }\n").unwrap_err();
    assert!(e.starts_with("s.toml:6:10: workload.amount is a key of the built-in transfer and cannot be mixed"), "{e}");
    let e = plan("[workload.generators]\na = { kind = \"uuid\" }\n").unwrap_err();
    assert!(e.contains("workload.generators needs workload.template"), "{e}");
    let o = Overrides { zipf_exponent: Some(1.0), ..Default::default() };
    let e = parse("s.toml", &format!("{LOAD}[workload]\ntemplate = {{ a = 1 }}\n"), &o).unwrap_err().to_string();
    assert!(e.starts_with("--zipf-exponent: applies to the built-in transfer only"), "{e}");
}

#[test]
fn sequential_values_are_split_across_workers_when_the_scenario_runs_on_several() {
    let text = "[workload]\ntemplate = '[\"{{n}}\"]'\n[workload.generators]\nn = { kind = \"int\", min = 1, max = 2, distribution = \"sequential\" }\n[workers]\ncount = 3\n";
    let load = "[load]\nmodel = \"closed\"\nin_flight = 3\ncalls = 6\n";
    let e = parse("s.toml", &format!("{load}{text}"), &Overrides::default()).unwrap_err().to_string();
    assert_eq!(e, "s.toml:10:9: workload.generators.n.max: 2 values cannot be shared by 3 workers (at least one each)");
}

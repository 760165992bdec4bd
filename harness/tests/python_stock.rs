//! The Python example (examples/python-stock): a different function, schema, payload and
//! invariants, all from its scenario, hosted as python3 processes behind the Runtime
//! API on the local DSQL. The correct function passes its invariants; the broken one
//! (no transaction) is caught by them, with the invariant named and the amount off.

mod common;

use common::text;

fn example(file: &str) -> String {
    format!("{}/../examples/python-stock/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn invariant<'a>(summary: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let all = summary["verification"]["invariants"].as_array().expect("invariant results");
    all.iter().find(|i| i["name"] == name).unwrap_or_else(|| panic!("no invariant {name:?} in {all:?}"))
}

#[test]
fn the_python_function_keeps_its_invariants_on_the_local_dsql() {
    common::provisioned(); // python3, and the example's packages
    let (out, summary, _results) = common::run(&[&example("stock.toml"), "--calls", "600", "--in-flight", "16"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = summary.expect("summary.json");
    let t = &s["totals"];
    assert_eq!(common::n(t, "/calls"), 600, "{}", text(&out));
    assert_eq!(common::n(t, "/successes"), 600, "1,000 units of each item: nothing runs out: {}", text(&out));
    let retries = common::n(t, "/total_retries");
    assert!(retries > 0, "hot items under Zipf: conflicts, retried by the function: {}", text(&out));
    assert_eq!(s["server"]["database"]["occ_conflicts"], retries, "every retry an OC000 at the front");
    assert_eq!(s["verification"]["passed"], true, "{}", text(&out));
    for name in ["never oversold", "reserved equals the sum of the reservations", "stock untouched"] {
        assert_eq!(invariant(&s, name)["outcome"], "pass", "{name}: {}", text(&out));
    }
    assert_eq!(common::n(&s["environments"], "/cold_starts"), 8, "{}", s["environments"]);
}

#[test]
fn the_broken_variant_is_caught_by_the_invariants() {
    common::provisioned();
    let (out, summary, _results) = common::run(&[&example("stock-broken.toml"), "--calls", "600", "--in-flight", "16"]);
    assert!(!out.status.success(), "a failed verification fails the run: {}", text(&out));
    let s = summary.expect("summary.json is written for a failed run too");
    assert_eq!(s["verification"]["passed"], false, "{}", text(&out));
    let lost = invariant(&s, "reserved equals the sum of the reservations");
    let off = lost["outcome"]["fail"]["off_by"].as_str().expect("a failure with how far off");
    assert!(off.parse::<i64>().unwrap() > 0, "lost updates: {lost}");
    let shown = text(&out);
    assert!(shown.contains("reserved equals the sum of the reservations"), "named in STATS: {shown}");
    assert!(shown.contains("FAIL"), "{shown}");
}

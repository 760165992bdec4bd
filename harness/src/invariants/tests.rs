use super::expr::Expr;
use super::verification::Verification;
use super::*;

fn invariant(expect: Expect) -> Invariant {
    Invariant { name: "n".into(), query: Query::Sql("SELECT 1".into()), expect }
}

fn e(text: &str) -> Expr {
    Expr::parse(text).unwrap()
}

fn num(v: &str) -> Result<Option<Number>, String> {
    Ok(Some(Number::parse(v).unwrap()))
}

fn values() -> Values {
    [("accounts".to_string(), 10), ("initial_balance".to_string(), 100)].into()
}

fn run(successes: i64, unknown: i64, before: i64) -> RunContext {
    let counts = RunCounts { calls: successes + unknown, successes, failures: unknown, unknown };
    RunContext { counts, before: vec![num(&before.to_string())] }
}

#[test]
fn bounds_pass_and_fail_with_how_far_off() {
    let i = invariant(Expect::Equals(e("accounts * initial_balance")));
    let r = judge(&i, 0, num("1000"), &values(), None);
    assert_eq!(r.line(), "n: 1000, expected = accounts * initial_balance = 1000: PASS");
    let r = judge(&i, 0, num("1003"), &values(), None);
    assert_eq!(r.line(), "n: 1003, expected = accounts * initial_balance = 1000: FAIL (off by 3)");
    assert!(!r.passed());
    let i = invariant(Expect::AtLeast(Expr::int(0)));
    let r = judge(&i, 0, num("-3"), &values(), None);
    assert_eq!(r.line(), "n: -3, expected >= 0: FAIL (off by 3)");
    let r = judge(&i, 0, Ok(None), &values(), None);
    assert_eq!(r.line(), "n: NULL, expected >= 0: FAIL (no value)");
    let i = invariant(Expect::AtMost(e("accounts - 1")));
    assert_eq!(judge(&i, 0, num("9"), &values(), None).outcome, Outcome::Pass);
    assert_eq!(judge(&i, 0, num("10"), &values(), None).outcome, Outcome::Fail { off_by: "1".into() });
}

#[test]
fn deltas_with_before_and_the_run_counts() {
    let i = invariant(Expect::Between(e("before + successes"), e("before + successes + unknown")));
    let r = judge(&i, 0, num("130"), &values(), Some(&run(29, 1, 100)));
    assert_eq!(
        r.line(),
        "n: 130, expected between before + successes = 129 and before + successes + unknown = 130: PASS"
    );
    let r = judge(&i, 0, num("131"), &values(), Some(&run(29, 1, 100)));
    assert_eq!(r.outcome, Outcome::Fail { off_by: "1".into() });
    let r = judge(&i, 0, num("128"), &values(), Some(&run(29, 5, 100)));
    assert_eq!(r.outcome, Outcome::Fail { off_by: "1".into() }, "a success without its row always fails");

    // Without a run (`harness verify`): skipped, its value shown.
    let r = judge(&i, 0, num("128"), &values(), None);
    assert_eq!(r.line(), "n: 128, skipped (needs a run's counts: before, successes, unknown)");
    assert!(r.passed());

    // The value before the load could not be read, or was NULL.
    let mut ctx = run(1, 0, 0);
    ctx.before = vec![Err("relation \"t\" does not exist".into())];
    let r = judge(&i, 0, num("1"), &values(), Some(&ctx));
    assert_eq!(r.line(), "n: COULD NOT RUN: before the load: relation \"t\" does not exist");
    ctx.before = vec![Ok(None)];
    assert!(!judge(&i, 0, num("1"), &values(), Some(&ctx)).passed());
}

#[test]
fn a_failed_query_or_an_overflowing_bound_could_not_run() {
    let i = invariant(Expect::Equals(Expr::int(0)));
    let r = judge(&i, 0, Err("syntax error at or near \"SELEC\" (42601)".into()), &values(), None);
    assert_eq!(r.line(), "n: COULD NOT RUN: syntax error at or near \"SELEC\" (42601)");
    assert!(!r.passed());
    let i = invariant(Expect::AtMost(e("9223372036854775807 + accounts")));
    let r = judge(&i, 0, num("1"), &values(), None);
    assert!(matches!(&r.outcome, Outcome::CouldNotRun { why } if why.contains("overflows")), "{r:?}");
}

#[test]
fn the_verification_passes_only_when_every_invariant_holds() {
    let pass = judge(&invariant(Expect::Equals(Expr::int(1))), 0, num("1"), &values(), None);
    let fail = judge(&invariant(Expect::Equals(Expr::int(0))), 0, num("1"), &values(), None);
    let v = Verification::of(vec![pass.clone()], false, None, 0);
    assert!(v.passed && v.problems.is_empty());
    assert_eq!(v.summary(), "PASS (1 invariants hold)");
    let v = Verification::of(vec![pass, fail], false, None, 0);
    assert!(!v.passed);
    assert_eq!(v.summary(), "FAIL: n: 1, expected = 0: FAIL (off by 1)");
    let v = Verification::of(vec![], false, None, 0);
    assert!(v.passed && v.summary().starts_with("PASS (nothing to check"), "{}", v.summary());
    let v = Verification::could_not_run("connection refused".into());
    assert_eq!((v.passed, v.summary().as_str()), (false, "COULD NOT RUN: connection refused"));
}

#[test]
fn summaries_written_before_invariants_still_read() {
    let old = r#"{"passed":true,"accounts":10,"expected_sum":1000,"balance_sum":1000,"min_balance":0,
        "history_rows":5,"inconsistent_accounts":0,"history_rows_added":5,"successful_transfers":5,
        "problems":[]}"#;
    let v: Verification = serde_json::from_str(old).unwrap();
    assert!(v.invariants.is_empty() && !v.builtin);
    assert_eq!(
        v.summary(),
        "PASS (sum of balances 1000 = 10 accounts x 100; no negative balance; history matches every balance; \
         5 history rows for 5 successful transfers)"
    );
}

#[test]
fn the_builtin_list_needs_the_run_only_for_its_history() {
    let list = builtin::transfer(true);
    let needs: Vec<Vec<&str>> = list.iter().map(Invariant::needs_run).collect();
    assert_eq!(needs, [vec![], vec![], vec![], vec![], vec!["before", "successes", "unknown"]]);
    assert_eq!(builtin::transfer(false).len(), 4);
    let json = serde_json::to_string(&list[4]).unwrap();
    assert!(json.contains(r#""between":["before + successes","before + successes + unknown"]"#), "{json}");
    assert_eq!(serde_json::from_str::<Invariant>(&json).unwrap(), list[4]);
}

//! Each chapter's steps and the workshop's expectation for it.

use serde_json::json;
use transfer::db::{Database, Dialect};
use transfer::{Function, RetryPolicy};
use workers::ErrorClass;

use super::plan::{uses_payer_index, PAYER_QUERY};
use super::{response, Ctx, Verdict};
use crate::scenario::{self, Overrides};

const CH04: &str = include_str!("../../../scenarios/ch04-10k.toml");
const CH04_NO_RETRY: &str = include_str!("../../../scenarios/ch04-no-retry.toml");
const SCALE: &str = include_str!("../../../scenarios/1m.toml");

pub async fn chapter(ctx: &Ctx<'_>) -> anyhow::Result<Verdict> {
    Ok(match ctx.args.chapter {
        0 => greeting(ctx).await,
        1 => connectivity(ctx, "admin").await,
        2 => application_role(ctx).await?,
        3 => one_transfer(ctx).await?,
        4 => stress(ctx).await?,
        5 => history(ctx).await?,
        _ => scale(ctx).await?,
    })
}

async fn greeting(ctx: &Ctx<'_>) -> Verdict {
    match response(ctx.target.call(&json!({"op": "greeting", "name": "DAT401"})).await) {
        Ok(v) if v["greeting"] == "Hello DAT401!" => Verdict::pass("greeting: Hello DAT401!"),
        Ok(v) => Verdict::fail(format!("expected the greeting \"Hello DAT401!\", got {v}")),
        Err(e) => Verdict::fail(e),
    }
}

async fn connectivity(ctx: &Ctx<'_>, role: &str) -> Verdict {
    match response(ctx.target.call(&json!({"op": "connectivity", "name": "DAT401"})).await) {
        Ok(v) if v["greeting"].as_str().is_some_and(|g| g.contains("connected to") && g.ends_with("successfully!")) => {
            Verdict::pass(format!("as {role}: {}", v["greeting"].as_str().unwrap_or_default()))
        }
        Ok(v) => Verdict::fail(format!("unexpected answer {v}")),
        Err(e) => Verdict::fail(format!("as {role}: {e}")),
    }
}

/// Chapter 2: `CREATE ROLE myapp WITH LOGIN`, grants, `AWS IAM GRANT`; then the function
/// connects as that role. Locally the function runs in-process with the role as its user.
async fn application_role(ctx: &Ctx<'_>) -> anyhow::Result<Verdict> {
    let role = &ctx.args.role;
    let mut lines = Vec::new();
    if let Some(db) = ctx.db {
        let arn = ctx.args.arn.clone().unwrap_or_else(|| "arn:aws:iam::000000000000:role/local-function".into());
        let mappings = crate::roles::setup(db, ctx.dialect, role, &arn).await?;
        lines.push(format!("role {role} created with LOGIN and granted the tables; mappings: {mappings:?}"));
        if !mappings.iter().any(|(r, a)| r == role && *a == arn) {
            lines.push(format!("FAIL: {role} is not mapped to {arn}"));
            return Ok(Verdict { passed: false, lines });
        }
    }
    let answer = match ctx.local {
        Some(local) => {
            let db = match local.function_database(role) {
                Database::Local { url } => Database::Local { url: with_user(&url, role) },
                dsql => dsql,
            };
            let mut f = Function::new(db, RetryPolicy::Unlimited);
            f.invoke(json!({"op": "connectivity", "name": "DAT401"})).await.map_err(|e| {
                let p = crate::doctor::connection_problem(&e.error_type, &e.error_message);
                format!("{}; fix: {}", p.what, p.fix)
            })
        }
        None => response(ctx.target.call(&json!({"op": "connectivity", "name": "DAT401"})).await),
    };
    let passed = match answer {
        Ok(v) => {
            lines.push(format!("as {role}: {}", v["greeting"].as_str().unwrap_or_default()));
            true
        }
        Err(e) => {
            lines.push(format!("as {role}: {e}"));
            false
        }
    };
    Ok(Verdict { passed, lines })
}

/// `postgres://user@host/db` with another user (and no password: local trust auth).
fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}

async fn balance(ctx: &Ctx<'_>, id: i32) -> anyhow::Result<Option<i32>> {
    Ok(match ctx.db {
        Some(db) => Some(db.query_one("SELECT balance FROM accounts WHERE id = $1", &[&id]).await?.get(0)),
        None => None,
    })
}

/// Chapter 3: transfer 10 from account 1 to account 2; the payer's balance drops by 10.
async fn one_transfer(ctx: &Ctx<'_>) -> anyhow::Result<Verdict> {
    let before = balance(ctx, 1).await?;
    let answer = match response(ctx.target.call(&json!({"payer_id": 1, "payee_id": 2, "amount": 10})).await) {
        Ok(v) => v,
        Err(e) => return Ok(Verdict::fail(e)),
    };
    let Some(returned) = answer["balance"].as_i64() else {
        return Ok(Verdict::fail(format!("no balance in the answer: {answer}")));
    };
    let after = balance(ctx, 1).await?;
    Ok(match (before, after) {
        (Some(b), Some(a)) if returned == i64::from(b) - 10 && i64::from(a) == returned => {
            Verdict::pass(format!("transfer 1 -> 2 of 10: payer balance {b} -> {a}, as the function answered"))
        }
        (Some(b), Some(a)) => Verdict::fail(format!("payer balance {b} -> {a}, but the function answered {returned}")),
        _ => Verdict::pass(format!(
            "transfer 1 -> 2 of 10: payer balance now {returned} (give --dsql-endpoint to check it in the database)"
        )),
    })
}

/// The plan of a shipped scenario, pointed at this chapter's target.
fn plan_from(ctx: &Ctx<'_>, name: &str, text: &str, mut o: Overrides) -> anyhow::Result<scenario::Plan> {
    if ctx.args.aws {
        o.target = Some("aws".into());
        o.function = Some(ctx.args.function.clone());
    } else {
        o.database_url = ctx.local.map(|l| l.url.clone());
    }
    let mut plan = scenario::parse(name, text, &o)?;
    if let scenario::TargetSpec::Aws { access, .. } = &mut plan.target {
        access.region = ctx.args.db.region.clone();
        access.profile = ctx.args.db.profile.clone();
    }
    Ok(plan)
}

fn scaled(ctx: &Ctx<'_>, parallel: i64, calls: i64) -> Overrides {
    let parallel = ctx.args.parallel.unwrap_or(parallel);
    let calls = ctx.args.calls.unwrap_or(calls);
    Overrides {
        accounts: ctx.args.accounts,
        parallel: Some(parallel),
        batches: Some((calls / parallel).max(1)),
        ..Overrides::default()
    }
}

/// Chapter 4: with retries every call succeeds; without, OCC conflicts (40001) surface
/// as errors. Money is conserved either way.
async fn stress(ctx: &Ctx<'_>) -> anyhow::Result<Verdict> {
    let mut lines = Vec::new();
    let mut passed = true;
    let variants: &[(&str, &str)] =
        if ctx.args.aws { &[("ch04-10k", CH04)] } else { &[("ch04-10k", CH04), ("ch04-no-retry", CH04_NO_RETRY)] };
    for (name, text) in variants {
        let plan = plan_from(ctx, name, text, scaled(ctx, 1_000, 10_000))?;
        let retries = plan.local.retry_policy != transfer::RetryPolicy::Disabled;
        let finished = crate::pipeline::execute(plan, &ctx.args.results, reset(), &ctx.signals).await?;
        finished.print()?;
        let report = finished.report;
        let t = &report.totals;
        let conflicts = t.error_messages.of_types(ErrorClass::Function, &[transfer::error::OCC_CONFLICT]);
        let verified = report.verification.as_ref().is_none_or(|v| v.passed);
        let ok = verified
            && if retries || ctx.args.aws {
                t.successes == t.calls
            } else {
                conflicts > 0 && t.errors.get(&ErrorClass::Function) == Some(&conflicts)
            };
        lines.push(format!(
            "{name}: {} calls, {} succeeded, {} retried, {conflicts} OCC conflicts as errors, verification {}: {}",
            t.calls,
            t.successes,
            t.retried_calls,
            if verified { "PASS" } else { "FAIL" },
            if ok { "as the workshop expects" } else { "NOT as the workshop expects" }
        ));
        passed &= ok;
    }
    if ctx.args.aws {
        lines.push(
            "without function retries: redeploy with `scripts/deploy.sh --retry-policy none` and run chapter 4 again"
                .into(),
        );
    }
    Ok(Verdict { passed, lines })
}

/// Chapter 5: a transfer leaves a history row with a UUID key.
async fn history(ctx: &Ctx<'_>) -> anyhow::Result<Verdict> {
    let answer = match response(ctx.target.call(&json!({"payer_id": 3, "payee_id": 4, "amount": 5})).await) {
        Ok(v) => v,
        Err(e) => return Ok(Verdict::fail(e)),
    };
    if answer.get("balance").is_none() {
        return Ok(Verdict::fail(format!("the transfer did not commit: {answer}")));
    }
    let Some(db) = ctx.db else {
        return Ok(Verdict::pass(format!(
            "transfer committed ({answer}); give --dsql-endpoint to see its history row"
        )));
    };
    let row = db
        .query_opt(
            "SELECT id::text, amount FROM transactions WHERE payer_id = 3 AND payee_id = 4 ORDER BY created_at DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(match row {
        Some(r) => {
            let (id, amount): (String, i32) = (r.get(0), r.get(1));
            if is_uuid(&id) && amount == 5 {
                Verdict::pass(format!("history row {id} (a UUID) for the transfer 3 -> 4 of 5"))
            } else {
                Verdict::fail(format!("history row {id} with amount {amount}: expected a UUID key and 5"))
            }
        }
        None => Verdict::fail("no history row for the transfer 3 -> 4"),
    })
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Chapter 6: the accounts are loaded (1,000,000 by default), 1,000,000 calls at 10,000
/// parallel run, and the payer query reads the `(payer_id, created_at)` index.
async fn scale(ctx: &Ctx<'_>) -> anyhow::Result<Verdict> {
    let plan = plan_from(ctx, "1m", SCALE, scaled(ctx, 10_000, 1_000_000))?;
    let finished = crate::pipeline::execute(plan, &ctx.args.results, reset(), &ctx.signals).await?;
    finished.print()?;
    let (code, report) = (finished.exit, finished.report);
    let t = &report.totals;
    let mut lines = vec![format!(
        "{} calls, {} succeeded, {:.2}% retried, {:.0} calls/s (exit status {code:?})",
        t.calls,
        t.successes,
        crate::report::percent(t.retried_calls, t.calls),
        report.throughput()
    )];
    let mut passed = t.successes == t.calls && report.verification.as_ref().is_none_or(|v| v.passed);
    match ctx.db {
        None => lines.push("give --dsql-endpoint to check the payer query's plan".into()),
        Some(db) => {
            if ctx.dialect == Dialect::Postgres {
                db.batch_execute("ANALYZE transactions").await?;
            }
            let rows = db.simple_query(&format!("EXPLAIN ANALYZE {PAYER_QUERY}")).await?;
            let plan: Vec<String> = rows
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .collect();
            let indexed = uses_payer_index(&plan.join("\n"));
            lines.push(format!("EXPLAIN ANALYZE {PAYER_QUERY}:"));
            lines.extend(plan.iter().map(|l| format!("  {l}")));
            lines.push(if indexed {
                "the payer query reads idx_transactions_payer (payer_id, created_at)".into()
            } else {
                "FAIL: the payer query does not read idx_transactions_payer".into()
            });
            passed &= indexed;
        }
    }
    Ok(Verdict { passed, lines })
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_get_the_role_and_uuids_are_recognised() {
        assert_eq!(
            super::with_user("postgres://postgres@127.0.0.1:5433/postgres", "myapp"),
            "postgres://myapp@127.0.0.1:5433/postgres"
        );
        assert_eq!(super::with_user("postgresql://u:pw@h/db", "myapp"), "postgresql://myapp@h/db");
        assert!(super::is_uuid("0b7e7c0e-3f5a-4c1e-9b1a-2f0d6c8e9a11"));
        assert!(!super::is_uuid("42"));
    }
}

/// A chapter's run starts from the opening balances.
fn reset() -> crate::pipeline::RunOptions {
    crate::pipeline::RunOptions { reset: true, ..Default::default() }
}

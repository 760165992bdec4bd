//! `[workload]`: what each call sends. Either the built-in operation (`op`, its amounts,
//! and which accounts it picks: uniform or Zipf), compiled into a template, or the
//! scenario's own `template` with its `[workload.generators]` (in `generators`).

mod generators;

pub(super) use generators::template_workload;

#[allow(unused_imports)]
use super::raw::*;
use super::*;
use workers::workload::Builtin;

pub(super) fn workload(
    src: &Source,
    raw: &RawScenario,
    data: DataSpec,
    o: &Overrides,
    load: &LoadModel,
) -> Result<Workload, ScenarioError> {
    let w = &raw.workload;
    if w.template.is_some() || w.generators.is_some() {
        return generators::template_workload(src, w, o, load);
    }
    builtin(src, w, data, o)
}

/// The built-in operation from `op`, `accounts`, `zipf_exponent`, `first_account`,
/// `last_account` and `amount`.
fn builtin(src: &Source, w: &RawWorkload, data: DataSpec, o: &Overrides) -> Result<Workload, ScenarioError> {
    let op = match src.f(w.op.clone()) {
        None => Op::Transfer,
        Some(f) => match f.v.as_str() {
            "transfer" => Op::Transfer,
            "greeting" => Op::Greeting,
            "connectivity" => Op::Connectivity,
            other => {
                return Err(src.err(
                    f.at,
                    format!("workload.op {other:?} is not one of \"transfer\", \"greeting\", \"connectivity\""),
                ))
            }
        },
    };
    let exponent = src.f(w.zipf_exponent.clone());
    let accounts = match o.zipf_exponent {
        // The flag decides alone: 0 draws uniformly, more skews towards the lowest ids.
        Some(0.0) => Some(Accounts::Uniform),
        Some(e) if e.is_finite() && e > 0.0 && e <= 10.0 => Some(Accounts::Zipf { exponent: e }),
        Some(e) => return Err(src.err("--zipf-exponent", format!("must be between 0 and 10 (0: uniform), got {e}"))),
        None => None,
    };
    let accounts = match (accounts, src.f(w.accounts.clone()), exponent) {
        (Some(by_flag), ..) => by_flag,
        (None, a, e) => file_accounts(src, a, e)?,
    };
    let bound = |f: Option<F<i64>>, key: &str, default: i32| -> Result<(i32, String), ScenarioError> {
        match f {
            None => Ok((default, src.path.to_string())),
            Some(f) if f.v < 1 || f.v > data.accounts as i64 => Err(src.err(
                &f.at,
                format!(
                    "workload.{key} must be an existing account, 1 to {} (data.accounts), got {}",
                    data.accounts, f.v
                ),
            )),
            Some(f) => Ok((f.v as i32, f.at)),
        }
    };
    let (first, _) = bound(src.f(w.first_account.clone()), "first_account", 1)?;
    let (last, last_at) = bound(src.f(w.last_account.clone()), "last_account", data.accounts)?;
    if op == Op::Transfer && last <= first {
        return Err(src.err(
            last_at,
            format!("transfers need at least two accounts to draw from, but the payer range is {first}..={last}"),
        ));
    }
    let (amount_min, amount_max) = match src.f(w.amount.clone()) {
        None => (1, 1),
        Some(f) => {
            let (lo, hi) = match &f.v {
                AmountValue::One(a) => (*a, *a),
                AmountValue::Range(r) if r.len() == 2 => (r[0], r[1]),
                AmountValue::Range(_) => return Err(src.err(f.at, "workload.amount must be a number or [min, max]")),
            };
            if lo < 1 || hi < lo || hi > i32::MAX as i64 {
                return Err(src.err(f.at, format!("workload.amount must be >= 1 (and min <= max), got {lo}..={hi}")));
            }
            (lo as i32, hi as i32)
        }
    };
    let keys = Builtin { op, first_account: first, last_account: last, accounts, amount_min, amount_max };
    Workload::builtin(keys).map_err(|e| src.err(src.path, e.to_string()))
}

/// `workload.accounts` and `workload.zipf_exponent` as the file gives them.
fn file_accounts(
    src: &Source,
    accounts: Option<F<String>>,
    exponent: Option<F<f64>>,
) -> Result<Accounts, ScenarioError> {
    Ok(match (accounts, exponent) {
        (None, None) => Accounts::Uniform,
        (Some(f), None) if f.v == "uniform" => Accounts::Uniform,
        (Some(f), _) if f.v != "uniform" && f.v != "zipf" => {
            return Err(src.err(f.at, format!("workload.accounts {:?} is not one of \"uniform\", \"zipf\"", f.v)))
        }
        (Some(f), Some(_)) if f.v == "uniform" => {
            return Err(src.err(f.at, "workload.zipf_exponent needs workload.accounts = \"zipf\""))
        }
        (Some(f), None) => {
            return Err(src.err(f.at, "workload.accounts = \"zipf\" needs workload.zipf_exponent (e.g. 1.1)"))
        }
        (_, Some(e)) => {
            if !(e.v.is_finite() && e.v >= 0.0 && e.v <= 10.0) {
                return Err(src.err(e.at, format!("workload.zipf_exponent must be between 0 and 10, got {}", e.v)));
            }
            Accounts::Zipf { exponent: e.v }
        }
    })
}

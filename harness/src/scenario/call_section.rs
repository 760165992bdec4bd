//! `[[call]]`: several kinds of call in one scenario (e.g. 80% balance reads, 20%
//! transfers), each with its `name`, `weight`, payload `template` and `generators` (as
//! `[workload]` takes them), and optionally its own `response` table (else the
//! scenario's `[response]`) and, on the `aws` and `endpoint` targets, its own
//! `function` (else the target's).

use toml::Spanned;
use workers::response::ResponseMap;
use workers::workload::{mix, CallKind};
use workers::Workload;

use super::raw::{RawCall, RawScenario, RawWorkload};
use workers::EnginePlan;

use super::{
    response_section, target_section, workload_section, DataSpec, LoadModel, Overrides, ScenarioError, Source,
    TargetSpec,
};

/// The kinds of call `[[call]]` lists (none without it), each answered as its own
/// `response` says or else as `top`.
pub(super) fn kinds(
    src: &Source,
    raw: &RawScenario,
    o: &Overrides,
    load: &LoadModel,
    top: &ResponseMap,
    target: &TargetSpec,
) -> Result<Vec<CallKind>, ScenarioError> {
    let Some(first) = raw.call.first() else { return Ok(Vec::new()) };
    let w = &raw.workload;
    if w.template.is_some() || w.generators.is_some() || w.op.is_some() || w.amount.is_some() {
        let message =
            "[[call]] describes every call's payload: move [workload]'s template and generators into a [[call]]";
        return Err(src.err(src.at(first.span().start), message));
    }
    if raw.call.len() > mix::MAX_KINDS {
        let message = format!("at most {} kinds of call, got {}", mix::MAX_KINDS, raw.call.len());
        return Err(src.err(src.at(raw.call[mix::MAX_KINDS].span().start), message));
    }
    let mut kinds: Vec<CallKind> = Vec::new();
    for (i, c) in raw.call.iter().enumerate() {
        let own = match load {
            LoadModel::Kinds { loads } => &loads[i],
            whole => whole,
        };
        let kind = kind(src, i, c, o, own, top)?;
        if let (Some(f), TargetSpec::Local { .. } | TargetSpec::InProcess { .. }) = (&c.get_ref().function, target) {
            let message = format!(
                "call.function: the {} target runs one function; a kind of call's own function needs target.kind \"aws\" or \"endpoint\"",
                target.kind()
            );
            return Err(src.err(src.at(f.span().start), message));
        }
        if kinds.iter().any(|k| k.name == kind.name) {
            let at = c.get_ref().name.as_ref().map_or(c.span().start, |n| n.span().start);
            return Err(src.err(src.at(at), format!("call.name {:?} is given twice", kind.name)));
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

/// The run's workload (`[workload]`) and its kinds of call (`[[call]]`): with kinds, the
/// first kind's workload stands for the run's (a template: no built-in transfer's
/// verification or per-account view).
pub(super) fn payloads(
    src: &Source,
    (raw, data, o): (&RawScenario, DataSpec, &Overrides),
    load: &LoadModel,
    top: &ResponseMap,
    target: &TargetSpec,
) -> Result<(Workload, Vec<CallKind>), ScenarioError> {
    let workload = workload_section::workload(src, raw, data, o, load)?;
    let kinds = kinds(src, raw, o, load, top, target)?;
    Ok((kinds.first().map_or(workload, |k| k.workload.clone()), kinds))
}

/// The `i`-th `[[call]]`.
fn kind(
    src: &Source,
    i: usize,
    c: &Spanned<RawCall>,
    o: &Overrides,
    load: &LoadModel,
    top: &ResponseMap,
) -> Result<CallKind, ScenarioError> {
    let here = src.at(c.span().start);
    let raw = c.get_ref();
    let name = match src.f(raw.name.clone()) {
        None => return Err(src.err(here, format!("call {} needs a name (it is reported by it)", i + 1))),
        Some(f) if f.v.trim().is_empty() || f.v.len() > 64 => {
            return Err(src.err(f.at, format!("call.name must be 1 to 64 characters, got {:?}", f.v)))
        }
        Some(f) => f.v,
    };
    let weight = match src.f(raw.weight.clone()) {
        None => 1,
        Some(f) if (1..=i64::from(mix::MAX_WEIGHT)).contains(&f.v) => f.v as u32,
        Some(f) => {
            let message = format!("call.weight must be between 1 and {}, got {}", mix::MAX_WEIGHT, f.v);
            return Err(src.err(f.at, message));
        }
    };
    if raw.template.is_none() {
        return Err(src.err(here, format!("call {name:?} needs a template, the payload it sends")));
    }
    let as_workload =
        RawWorkload { template: raw.template.clone(), generators: raw.generators.clone(), ..RawWorkload::default() };
    let workload = workload_section::template_workload(src, &as_workload, o, load)?;
    let response = match &raw.response {
        Some(r) => response_section::response(src, r)?,
        None => top.clone(),
    };
    let function = match src.f(raw.function.clone()) {
        Some(f) => {
            target_section::function_name_ok(&f.v).map_err(|m| src.err(&f.at, format!("call.function: {m}")))?;
            Some(f.v)
        }
        None => None,
    };
    Ok(CallKind { name, weight, workload, response, function })
}

/// Each function a run calls (`target` and the kinds' own), once, with the most calls
/// that may be in flight to it at once: its kinds' own load models' when each kind has
/// one, else the whole run's (any call may be of any kind).
pub fn functions(engine: &EnginePlan, target: &str) -> Vec<(String, u64)> {
    let whole = engine.load.max_in_flight();
    let mut out: Vec<(String, u64)> = Vec::new();
    if engine.kinds.is_empty() {
        return vec![(target.to_string(), whole)];
    }
    for (i, k) in engine.kinds.iter().enumerate() {
        let function = k.function.clone().unwrap_or_else(|| target.to_string());
        let in_flight = match &engine.load {
            LoadModel::Kinds { loads } => loads.get(i).map_or(whole, LoadModel::max_in_flight),
            _ => whole,
        };
        match out.iter_mut().find(|(f, _)| *f == function) {
            Some((_, n)) => *n = (*n + in_flight).min(whole),
            None => out.push((function, in_flight)),
        }
    }
    out
}

/// The calls of `totals` that `target` answered: the kinds sent to functions of their
/// own are not its.
pub fn answered_by_target(engine: &EnginePlan, totals: &workers::Stats) -> u64 {
    let elsewhere: u64 = (engine.kinds.iter().filter(|k| k.function.is_some()))
        .filter_map(|k| totals.kinds.get(&k.name))
        .map(workers::Stats::answered)
        .sum();
    totals.answered().saturating_sub(elsewhere)
}

//! `workload.template` and `[workload.generators]`: the scenario's own payload. Each
//! generator's keys are checked against its kind, data files are read (relative to the
//! scenario) into the plan, and every error points at the offending value.

use std::path::Path;

use serde_json::Value;
use toml::Spanned;
use workers::workload::{formats, Distribution, Gen, Order, MAX_ROWS_BYTES};
use workers::{LoadModel, Workload, WorkloadError};

use crate::scenario::raw::{AmountValue, RawGenerator, RawNumber, RawWorkload};
use crate::scenario::{Overrides, ScenarioError, Source};

/// Where a generator and each of its keys are written.
struct Keys {
    name: String,
    at: String,
    keys: Vec<(&'static str, String)>,
}

impl Keys {
    fn at(&self, key: &str) -> String {
        self.keys.iter().find(|(k, _)| *k == key).map_or_else(|| self.at.clone(), |(_, at)| at.clone())
    }

    fn err(&self, src: &Source, key: &str, message: impl std::fmt::Display) -> ScenarioError {
        src.err(self.at(key), format!("workload.generators.{}.{key}: {message}", self.name))
    }
}

/// The workload of a scenario that gives `workload.template`.
pub(in crate::scenario) fn template_workload(
    src: &Source,
    w: &RawWorkload,
    o: &Overrides,
    load: &LoadModel,
) -> Result<Workload, ScenarioError> {
    let old = [
        ("op", w.op.as_ref().map(Spanned::span)),
        ("accounts", w.accounts.as_ref().map(Spanned::span)),
        ("zipf_exponent", w.zipf_exponent.as_ref().map(Spanned::span)),
        ("first_account", w.first_account.as_ref().map(Spanned::span)),
        ("last_account", w.last_account.as_ref().map(Spanned::span)),
        ("amount", w.amount.as_ref().map(Spanned::span)),
    ];
    if let Some((key, Some(span))) = old.into_iter().find(|(_, s)| s.is_some()) {
        let message = format!("workload.{key} is a key of the built-in transfer and cannot be mixed with workload.template: describe the payload with [workload.generators]");
        return Err(src.err(src.at(span.start), message));
    }
    if o.zipf_exponent.is_some() {
        let message = "applies to the built-in transfer only; with workload.template give an int generator distribution = \"zipf\" and an exponent";
        return Err(src.err("--zipf-exponent", message));
    }
    let Some(template) = &w.template else {
        let at = w.generators.as_ref().map_or(0, |g| g.span().start);
        return Err(src.err(src.at(at), "workload.generators needs workload.template, the payload they fill"));
    };
    let span = template.span();
    let json = template_json(template.get_ref())
        .map_err(|m| src.err(src.at(span.start), format!("workload.template: {m}")))?;
    let dir = Path::new(src.path).parent().unwrap_or(Path::new(""));
    let mut gens = Vec::new();
    let mut keys = Vec::new();
    for (name, raw) in w.generators.as_ref().map(|g| g.get_ref().iter()).into_iter().flatten() {
        let k = keys_of(src, name, raw);
        gens.push((name.clone(), generator(src, &k, raw.get_ref(), dir)?));
        keys.push(k);
    }
    let workload = Workload::template(json, gens).map_err(|e| located(src, span, &keys, e))?;
    if let (Some((name, rows)), Some(calls)) = (workload.unique_rows(), load.planned_calls()) {
        if calls > rows as u64 {
            let k = keys.iter().find(|k| k.name == name).expect("a generator of the scenario");
            let message = format!("each of its {rows} rows serves one call, but the load plans {calls} calls");
            return Err(k.err(src, "unique", message));
        }
    }
    Ok(workload)
}

/// A workload error at the value it is about.
fn located(src: &Source, span: std::ops::Range<usize>, keys: &[Keys], e: WorkloadError) -> ScenarioError {
    let in_template = |needle: &str| {
        let text = src.text.get(span.clone()).unwrap_or("");
        src.at(span.start + text.find(needle).unwrap_or(0))
    };
    let generator = |name: &str| keys.iter().find(|k| k.name == name);
    let at = match &e {
        WorkloadError::UnknownGenerator { name }
        | WorkloadError::NotARow { name, .. }
        | WorkloadError::UnknownColumn { name, .. } => in_template(&format!("{{{{{name}")),
        WorkloadError::Unclosed { text } => in_template(text),
        WorkloadError::Unused { name } => generator(name).map_or_else(|| src.at(span.start), |k| k.at.clone()),
        WorkloadError::Generator { name, key, .. } => generator(name).map_or_else(|| src.at(span.start), |k| k.at(key)),
        WorkloadError::Builtin { .. } | WorkloadError::NoAccounts => src.at(span.start),
    };
    src.err(at, e.to_string())
}

/// The template as JSON: a TOML string is JSON text, a table or array is the value.
fn template_json(t: &toml::Value) -> Result<Value, String> {
    match t {
        toml::Value::String(text) => serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}")),
        other => json(other),
    }
}

/// A TOML value as JSON (dates as RFC 3339 text).
fn json(v: &toml::Value) -> Result<Value, String> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            Value::Number(serde_json::Number::from_f64(*f).ok_or(format!("{f} is not a JSON number"))?)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(json).collect::<Result<_, _>>()?),
        toml::Value::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| Ok((k.clone(), json(v)?))).collect::<Result<_, String>>()?)
        }
    })
}

fn keys_of(src: &Source, name: &str, raw: &Spanned<RawGenerator>) -> Keys {
    let g = raw.get_ref();
    let s = |k: &'static str, span: Option<std::ops::Range<usize>>| span.map(|s| (k, src.at(s.start)));
    let keys = [
        s("kind", Some(g.kind.span())),
        s("min", g.min.as_ref().map(Spanned::span)),
        s("max", g.max.as_ref().map(Spanned::span)),
        s("distribution", g.distribution.as_ref().map(Spanned::span)),
        s("exponent", g.exponent.as_ref().map(Spanned::span)),
        s("of", g.of.as_ref().map(Spanned::span)),
        s("scale", g.scale.as_ref().map(Spanned::span)),
        s("values", g.values.as_ref().map(Spanned::span)),
        s("weights", g.weights.as_ref().map(Spanned::span)),
        s("length", g.length.as_ref().map(Spanned::span)),
        s("alphabet", g.alphabet.as_ref().map(Spanned::span)),
        s("from", g.from.as_ref().map(Spanned::span)),
        s("to", g.to.as_ref().map(Spanned::span)),
        s("file", g.file.as_ref().map(Spanned::span)),
        s("order", g.order.as_ref().map(Spanned::span)),
        s("unique", g.unique.as_ref().map(Spanned::span)),
    ];
    Keys { name: name.to_string(), at: src.at(raw.span().start), keys: keys.into_iter().flatten().collect() }
}

/// The keys each kind takes.
fn allowed(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "int" => &["min", "max", "distribution", "exponent"],
        "other" => &["of"],
        "decimal" => &["min", "max", "scale"],
        "uuid" => &[],
        "choice" => &["values", "weights"],
        "string" => &["length", "alphabet"],
        "timestamp" => &["from", "to"],
        "row" => &["file", "order", "unique"],
        _ => return None,
    })
}

/// One generator's definition, its keys checked against its kind.
fn generator(src: &Source, k: &Keys, g: &RawGenerator, dir: &Path) -> Result<Gen, ScenarioError> {
    let kind = g.kind.get_ref().as_str();
    let Some(allowed) = allowed(kind) else {
        let kinds = "\"int\", \"other\", \"decimal\", \"uuid\", \"choice\", \"string\", \"timestamp\", \"row\"";
        return Err(k.err(src, "kind", format!("{kind:?} is not one of {kinds}")));
    };
    if let Some((key, _)) = k.keys.iter().find(|(key, _)| *key != "kind" && !allowed.contains(key)) {
        return Err(k.err(src, key, format!("is not used by kind {kind:?} (it takes {})", allowed.join(", "))));
    }
    let need = |key: &str| k.err(src, key, format!("kind {kind:?} needs {key}"));
    let int = |key: &str, n: Option<RawNumber>| match n {
        Some(RawNumber::Int(i)) => Ok(i),
        Some(RawNumber::Float(f)) => Err(k.err(src, key, format!("must be an integer, got {f}"))),
        None => Err(need(key)),
    };
    let float = |key: &str, n: Option<RawNumber>| match n {
        Some(RawNumber::Int(i)) => Ok(i as f64),
        Some(RawNumber::Float(f)) => Ok(f),
        None => Err(need(key)),
    };
    Ok(match kind {
        "int" => Gen::Int {
            min: int("min", v(&g.min))?,
            max: int("max", v(&g.max))?,
            distribution: match v(&g.distribution).as_deref() {
                None | Some("uniform") => Distribution::Uniform,
                Some("zipf") => Distribution::Zipf,
                Some("sequential") => Distribution::Sequential,
                Some(d) => {
                    return Err(k.err(
                        src,
                        "distribution",
                        format!("{d:?} is not one of \"uniform\", \"zipf\", \"sequential\""),
                    ))
                }
            },
            exponent: v(&g.exponent),
        },
        "other" => Gen::Other { of: v(&g.of).ok_or_else(|| need("of"))? },
        "decimal" => Gen::Decimal {
            min: float("min", v(&g.min))?,
            max: float("max", v(&g.max))?,
            scale: match v(&g.scale) {
                None => 2,
                Some(s) => u32::try_from(s).map_err(|_| k.err(src, "scale", format!("must be 0 to 9, got {s}")))?,
            },
        },
        "uuid" => Gen::Uuid,
        "choice" => Gen::Choice {
            values: v(&g.values)
                .ok_or_else(|| need("values"))?
                .iter()
                .map(json)
                .collect::<Result<_, _>>()
                .map_err(|m| k.err(src, "values", m))?,
            weights: v(&g.weights),
        },
        "string" => {
            let (min, max) = match v(&g.length) {
                None => (16, 16),
                Some(AmountValue::One(n)) => (n, n),
                Some(AmountValue::Range(r)) if r.len() == 2 => (r[0], r[1]),
                Some(AmountValue::Range(_)) => return Err(k.err(src, "length", "must be a number or [min, max]")),
            };
            let len = |n: i64| u32::try_from(n).map_err(|_| k.err(src, "length", format!("must be >= 0, got {n}")));
            Gen::String { min_length: len(min)?, max_length: len(max)?, alphabet: v(&g.alphabet) }
        }
        "timestamp" => Gen::Timestamp { from: v(&g.from), to: v(&g.to) },
        _ => row(src, k, g, dir)?,
    })
}

/// A key's value, if given.
fn v<T: Clone>(s: &Option<Spanned<T>>) -> Option<T> {
    s.as_ref().map(|s| s.get_ref().clone())
}

/// A `row` generator: its data file read now, its rows carried in the plan.
fn row(src: &Source, k: &Keys, g: &RawGenerator, dir: &Path) -> Result<Gen, ScenarioError> {
    let file =
        g.file.as_ref().map(|f| f.get_ref().clone()).ok_or_else(|| k.err(src, "file", "kind \"row\" needs file"))?;
    let path = dir.join(&file);
    let shown = path.display().to_string();
    let size = std::fs::metadata(&path).map_err(|e| k.err(src, "file", format!("cannot read {shown}: {e}")))?.len();
    if size > MAX_ROWS_BYTES as u64 {
        let message = format!("{shown} has {size} bytes; data files travel inside the plan, at most {MAX_ROWS_BYTES}");
        return Err(k.err(src, "file", message));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| k.err(src, "file", format!("cannot read {shown}: {e}")))?;
    let parsed = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => formats::csv_rows(&text),
        Some("jsonl" | "ndjson") => formats::json_lines_rows(&text),
        _ => {
            return Err(k.err(
                src,
                "file",
                format!("{file:?} must end in .csv (with a header line) or .jsonl (JSON Lines)"),
            ))
        }
    };
    let (columns, rows) = parsed
        .map_err(|(line, m)| src.err(format!("{shown}:{line}"), format!("workload.generators.{}.file: {m}", k.name)))?;
    let order = match g.order.as_ref().map(|o| o.get_ref().as_str()) {
        None | Some("round-robin") => Order::RoundRobin,
        Some("random") => Order::Random,
        Some(o) => return Err(k.err(src, "order", format!("{o:?} is not one of \"round-robin\", \"random\""))),
    };
    let unique = g.unique.as_ref().is_some_and(|u| *u.get_ref());
    Ok(Gen::Row { file, columns, rows, order, unique })
}

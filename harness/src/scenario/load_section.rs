//! `[load]`: the load model (batches, closed, open; constant or in stages) and its
//! planned duration, from the file's keys and the flags that replace them.

#[allow(unused_imports)]
use super::raw::*;
use super::*;

/// The `[load]` keys as given (file or flag), each with its position.
struct LoadKeys {
    model: F<String>,
    parallel: Option<F<i64>>,
    batches: Option<F<i64>>,
    in_flight: Option<F<i64>>,
    calls: Option<F<i64>>,
    duration: Option<F<DurationValue>>,
    rate: Option<F<f64>>,
    stages: Option<F<Vec<Spanned<raw::RawStage>>>>,
    max_in_flight: Option<F<i64>>,
    start_rate: Option<F<f64>>,
    start_in_flight: Option<F<i64>>,
}

impl LoadKeys {
    fn read(src: &Source, section_at: &str, l: &RawLoad, o: &Overrides) -> LoadKeys {
        let mut k = LoadKeys {
            model: src.f(l.model.clone()).unwrap_or(F { v: String::new(), at: section_at.to_string() }),
            parallel: src.f(l.parallel.clone()),
            batches: src.f(l.batches.clone()),
            in_flight: src.f(l.in_flight.clone()),
            calls: src.f(l.calls.clone()),
            duration: src.f(l.duration.clone()),
            rate: src.f(l.rate.clone()),
            stages: src.f(l.stages.clone()),
            max_in_flight: src.f(l.max_in_flight.clone()),
            start_rate: src.f(l.start_rate.clone()),
            start_in_flight: src.f(l.start_in_flight.clone()),
        };
        flag(&mut k.parallel, o.parallel, "--parallel");
        flag(&mut k.batches, o.batches, "--batches");
        flag(&mut k.in_flight, o.in_flight, "--in-flight");
        flag(&mut k.calls, o.calls, "--calls");
        flag(&mut k.duration, o.duration.clone().map(DurationValue::Text), "--duration");
        flag(&mut k.rate, o.rate, "--rate");
        k
    }

    /// Keys that the chosen model does not use are refused, not silently ignored.
    fn unused(&self, src: &Source, keys: &[(&str, Option<&str>)]) -> Result<(), ScenarioError> {
        match keys.iter().find_map(|(k, at)| at.map(|a| (k, a))) {
            Some((k, at)) => Err(src.err(at, format!("load.{k} is not used by model {:?}", self.model.v))),
            None => Ok(()),
        }
    }

    /// A count the model needs, within 1..=max.
    fn need(&self, src: &Source, f: &Option<F<i64>>, key: &str, max: i64) -> Result<u64, ScenarioError> {
        match f {
            None => Err(src.err(&self.model.at, format!("model {:?} needs load.{key}", self.model.v))),
            Some(f) => Ok(positive(src, f, &format!("load.{key}"), max)? as u64),
        }
    }

    fn duration_s(&self, src: &Source) -> Result<Option<f64>, ScenarioError> {
        let d = self.duration.as_ref();
        d.map(|f| f.v.seconds().map_err(|m| src.err(&f.at, format!("load.duration: {m}")))).transpose()
    }
}

/// The load model and its planned duration in seconds, if it has one.
pub(super) fn load_model(
    src: &Source,
    raw: &RawScenario,
    o: &Overrides,
) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    if raw.call.iter().any(|c| c.get_ref().load.is_some()) {
        return per_kind(src, raw, o);
    }
    let Some(section) = raw.load.as_ref() else {
        return Err(src.err(src.path, "missing [load] section: set model = \"batches\", \"closed\" or \"open\""));
    };
    one_model(src, section, o)
}

/// The model one `[load]` table (the scenario's or a kind's) describes.
fn one_model(
    src: &Source,
    section: &Spanned<RawLoad>,
    o: &Overrides,
) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    let k = LoadKeys::read(src, &src.at(section.span().start), section.get_ref(), o);
    match k.model.v.as_str() {
        "batches" => batches_model(src, k),
        "closed" => closed_model(src, k),
        "open" => open_model(src, k),
        "" => Err(src.err(&k.model.at, "[load] needs model = \"batches\", \"closed\" or \"open\"")),
        other => {
            Err(src.err(&k.model.at, format!("load.model {other:?} is not one of \"batches\", \"closed\", \"open\"")))
        }
    }
}

/// A load model per kind of call (`[[call]] load = {..}`), as k6's scenarios each with
/// its executor: every kind needs one, `[load]`, the kinds' weights and the load flags
/// have no meaning then and are refused. The run's planned duration is its longest
/// kind's.
fn per_kind(src: &Source, raw: &RawScenario, o: &Overrides) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    if let Some(l) = &raw.load {
        let message = "[load] is not used when the kinds of call have loads of their own: give every [[call]] a load";
        return Err(src.err(src.at(l.span().start), message));
    }
    let flags = [
        ("--parallel", o.parallel.is_some()),
        ("--batches", o.batches.is_some()),
        ("--in-flight", o.in_flight.is_some()),
        ("--calls", o.calls.is_some()),
        ("--duration", o.duration.is_some()),
        ("--rate", o.rate.is_some()),
    ];
    if let Some((flag, _)) = flags.iter().find(|(_, given)| *given) {
        let message = format!("{flag} cannot change a scenario whose kinds of call each have a load: edit their loads");
        return Err(src.err(src.path, message));
    }
    let (mut loads, mut planned) = (Vec::new(), Some(0.0f64));
    for c in &raw.call {
        let call = c.get_ref();
        let name = call.name.as_ref().map_or_else(|| format!("{}", loads.len() + 1), |n| format!("{:?}", n.get_ref()));
        let Some(section) = &call.load else {
            let message = format!("call {name} needs a load of its own: the other kinds of call have one");
            return Err(src.err(src.at(c.span().start), message));
        };
        if let Some(w) = &call.weight {
            let message = format!("call.weight is not used when each kind of call has its own load (call {name})");
            return Err(src.err(src.at(w.span().start), message));
        }
        let (model, duration) = one_model(src, section, &Overrides::default())?;
        planned = planned.zip(duration).map(|(a, b)| a.max(b));
        loads.push(model);
    }
    Ok((LoadModel::Kinds { loads }, planned))
}

fn batches_model(src: &Source, k: LoadKeys) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    k.unused(
        src,
        &[
            ("in_flight", at(&k.in_flight)),
            ("calls", at(&k.calls)),
            ("duration", k.duration.as_ref().map(|f| f.at.as_str())),
            ("rate", k.rate.as_ref().map(|f| f.at.as_str())),
            ("stages", k.stages.as_ref().map(|f| f.at.as_str())),
            ("max_in_flight", at(&k.max_in_flight)),
            ("start_rate", k.start_rate.as_ref().map(|f| f.at.as_str())),
            ("start_in_flight", at(&k.start_in_flight)),
        ],
    )?;
    let max = workers::limits::MAX_PARALLEL as i64;
    let parallel = k.need(src, &k.parallel, "parallel", max)?;
    let batches = k.need(src, &k.batches, "batches", max)?;
    Ok((LoadModel::Batches { parallel, batches }, None))
}

fn closed_model(src: &Source, mut k: LoadKeys) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    k.unused(
        src,
        &[
            ("parallel", at(&k.parallel)),
            ("batches", at(&k.batches)),
            ("rate", k.rate.as_ref().map(|f| f.at.as_str())),
            ("max_in_flight", at(&k.max_in_flight)),
            ("start_rate", k.start_rate.as_ref().map(|f| f.at.as_str())),
        ],
    )?;
    if let Some(stages) = k.stages.take() {
        return closed_ramp(src, k, stages);
    }
    k.unused(src, &[("start_in_flight", at(&k.start_in_flight))])?;
    let in_flight = k.need(src, &k.in_flight, "in_flight", workers::limits::MAX_PARALLEL as i64)?;
    let duration_s = k.duration_s(src)?;
    let max_calls = workers::limits::MAX_CALLS as i64;
    let calls = k.calls.as_ref().map(|c| positive(src, c, "load.calls", max_calls).map(|v| v as u64)).transpose()?;
    if calls.is_none() && duration_s.is_none() {
        return Err(
            src.err(&k.model.at, "model \"closed\" needs load.calls, load.duration, or both (it stops at the first)")
        );
    }
    Ok((LoadModel::Closed { in_flight, calls, duration_s }, duration_s))
}

/// A ramping closed model: `stages = [{ target = N, duration = ".." }, ..]`, from
/// `start_in_flight` (default 0).
fn closed_ramp(
    src: &Source,
    k: LoadKeys,
    stages: F<Vec<Spanned<raw::RawStage>>>,
) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    let with_stages = "replaces it: a ramping closed model runs for its stages";
    for (key, given) in [("in_flight", at(&k.in_flight)), ("calls", at(&k.calls))] {
        if let Some(a) = given {
            return Err(
                src.err(a, format!("load.{key} is not used with load.stages: the stages' targets {with_stages}"))
            );
        }
    }
    if let Some(d) = &k.duration {
        return Err(
            src.err(&d.at, format!("load.duration is not used with load.stages: the stages' durations {with_stages}"))
        );
    }
    let max = workers::limits::MAX_PARALLEL as i64;
    let start = match &k.start_in_flight {
        None => 0,
        Some(f) if (0..=max).contains(&f.v) => f.v as u64,
        Some(f) => return Err(src.err(&f.at, format!("load.start_in_flight must be between 0 and {max}, got {}", f.v))),
    };
    if stages.v.is_empty() {
        return Err(src.err(stages.at, "load.stages is empty: give at least one {target, duration}"));
    }
    let mut levels = Vec::new();
    for st in stages.v {
        let at = src.at(st.span().start);
        let st = st.into_inner();
        if let Some(r) = &st.rate {
            return Err(
                src.err(src.at(r.span().start), "a closed model's stage takes target (calls in flight), not rate")
            );
        }
        let target = st.target.ok_or_else(|| src.err(&at, "each stage needs target (calls in flight) and duration"))?;
        let (t, t_at) = (*target.get_ref(), src.at(target.span().start));
        if !(t.fract() == 0.0 && (0.0..=max as f64).contains(&t)) {
            return Err(src.err(t_at, format!("stage target must be a whole number of calls from 0 to {max}, got {t}")));
        }
        let duration_s = st
            .duration
            .get_ref()
            .seconds()
            .map_err(|m| src.err(src.at(st.duration.span().start), format!("load.stages duration: {m}")))?;
        levels.push(workers::load::Level { target: t as u64, duration_ms: (duration_s * 1_000.0).round() as u64 });
    }
    let total = levels.iter().map(|l| l.duration_ms as f64 / 1_000.0).sum();
    let model = LoadModel::ClosedRamp { start, stages: levels };
    if model.max_in_flight() == 0 {
        return Err(src.err(&k.model.at, "load.stages never has a call in flight: give a target above 0"));
    }
    Ok((model, Some(total)))
}

fn open_model(src: &Source, k: LoadKeys) -> Result<(LoadModel, Option<f64>), ScenarioError> {
    k.unused(
        src,
        &[
            ("parallel", at(&k.parallel)),
            ("batches", at(&k.batches)),
            ("in_flight", at(&k.in_flight)),
            ("calls", at(&k.calls)),
            ("start_in_flight", at(&k.start_in_flight)),
        ],
    )?;
    let max_in_flight = match &k.max_in_flight {
        None => 1_000,
        Some(f) => positive(src, f, "load.max_in_flight", workers::limits::MAX_PARALLEL as i64)? as u64,
    };
    let start_rate = k.start_rate.map(|f| (f.v, f.at));
    let stages = open_stages(src, &k.model, k.rate, k.duration, k.stages, start_rate)?;
    let total = stages.iter().map(|s| s.duration_s).sum();
    Ok((LoadModel::Open { stages, max_in_flight, slot: workers::load::Slot::WHOLE }, Some(total)))
}

fn at(f: &Option<F<i64>>) -> Option<&str> {
    f.as_ref().map(|f| f.at.as_str())
}

fn open_stages(
    src: &Source,
    model: &F<String>,
    rate: Option<F<f64>>,
    duration: Option<F<DurationValue>>,
    stages: Option<F<Vec<Spanned<raw::RawStage>>>>,
    start_rate: Option<(f64, String)>,
) -> Result<Vec<Stage>, ScenarioError> {
    let check_rate = |r: f64, at: &str| -> Result<f64, ScenarioError> {
        if r.is_finite() && r > 0.0 && r <= 1_000_000.0 {
            Ok(r)
        } else {
            Err(src.err(at, format!("rate must be > 0 and at most 1000000 calls/s, got {}", workers::limits::shown(r))))
        }
    };
    match (rate, duration, stages) {
        (Some(r), Some(d), None) => {
            if let Some((_, at)) = start_rate {
                return Err(src.err(at, "load.start_rate is only used with load.stages (a ramp's first target)"));
            }
            let rate = check_rate(r.v, &r.at)?;
            let duration_s = d.v.seconds().map_err(|m| src.err(&d.at, format!("load.duration: {m}")))?;
            Ok(vec![Stage { rate, duration_s, ramp_from: None }])
        }
        (None, None, Some(s)) if !s.v.is_empty() => {
            // A ramp starts where the stage before it ended (the first from start_rate, or 0).
            let mut previous = match start_rate {
                Some((r, at)) if !(r.is_finite() && (0.0..=1_000_000.0).contains(&r)) => {
                    return Err(src.err(at, format!("load.start_rate must be 0 to 1000000 calls/s, got {r}")))
                }
                Some((r, _)) => r,
                None => 0.0,
            };
            let mut out = Vec::new();
            for st in s.v {
                let at = src.at(st.span().start);
                let st = st.into_inner();
                let duration_s = st
                    .duration
                    .get_ref()
                    .seconds()
                    .map_err(|m| src.err(src.at(st.duration.span().start), format!("load.stages duration: {m}")))?;
                let stage = match (st.rate, st.target) {
                    (Some(r), None) => {
                        Stage { rate: check_rate(*r.get_ref(), &src.at(r.span().start))?, duration_s, ramp_from: None }
                    }
                    (None, Some(t)) => {
                        let (to, t_at) = (*t.get_ref(), src.at(t.span().start));
                        if !(to.is_finite() && (0.0..=1_000_000.0).contains(&to)) || to + previous <= 0.0 {
                            return Err(src.err(
                                t_at,
                                format!("stage target must be 0 to 1000000 calls/s, and a ramp from {previous} to {to} makes no calls"),
                            ));
                        }
                        Stage { rate: to, duration_s, ramp_from: Some(previous) }
                    }
                    _ => return Err(src.err(at, "each stage needs rate (constant) or target (ramp to), not both")),
                };
                previous = stage.rate;
                out.push(stage);
            }
            Ok(out)
        }
        (None, None, Some(s)) => Err(src.err(s.at, "load.stages is empty: give at least one {rate, duration}")),
        (_, _, Some(s)) => {
            Err(src.err(s.at, "load.stages replaces load.rate and load.duration: give one or the other"))
        }
        _ => Err(src.err(
            &model.at,
            "model \"open\" needs load.rate and load.duration, or load.stages = [{rate = .., duration = ..}, ..]",
        )),
    }
}

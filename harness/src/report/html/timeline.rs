//! The charts over time: throughput and goodput, errors by class, calls in flight (with
//! a closed model's planned level), an open model's planned and realised arrival rate,
//! and the latency percentiles; each with the baseline's curves when one is given.

use workers::ErrorClass;

use super::panel::{join, round, Line, Panel, Style, BLUE, GREEN, GREY, ORANGE, PALETTE, PURPLE, RED};
use super::{buckets, Bucket};
use crate::report::planned;
use crate::summary::RunReport;

/// One run's seconds (in buckets) and where each ends.
struct Seconds<'a> {
    report: &'a RunReport,
    buckets: Vec<Bucket>,
    t: Vec<f64>,
}

impl<'a> Seconds<'a> {
    fn of(report: &'a RunReport) -> Seconds<'a> {
        let buckets = buckets(&report.intervals);
        let t = buckets.iter().map(|b| b.end_s).collect();
        Seconds { report, buckets, t }
    }

    fn line(&self, label: &str, style: Style, color: &'static str, f: impl Fn(&Bucket) -> Option<f64>) -> Line {
        Line::new(label, style, color, self.buckets.iter().map(|b| f(b).map(round)).collect())
    }
}

fn per_s(n: u64, b: &Bucket) -> Option<f64> {
    Some(if b.seconds > 0.0 { n as f64 / b.seconds } else { 0.0 })
}

/// This run's curves and the baseline's (dashed, grey, named "baseline ..."), on one x.
fn panel(mut p: Panel, run: &Seconds, base: Option<&Seconds>, lines: impl Fn(&Seconds, bool) -> Vec<Line>) -> Panel {
    let mut curves = vec![(run.t.as_slice(), lines(run, false))];
    if let Some(b) = base {
        curves.push((b.t.as_slice(), lines(b, true)));
    }
    (p.x, p.series) = join(&curves);
    p
}

/// The style, colour and label of a curve of this run or of the baseline.
fn styled(baseline: bool, style: Style, color: &'static str, label: &str) -> (Style, &'static str, String) {
    if baseline {
        (Style::Dash, GREY, format!("baseline {label}"))
    } else {
        (style, color, label.to_string())
    }
}

pub fn panels(r: &RunReport, baseline: Option<&RunReport>) -> Vec<Panel> {
    let run = Seconds::of(r);
    let base = baseline.map(Seconds::of);
    let base = base.as_ref();
    vec![throughput(&run, base), errors(&run), in_flight(&run, base), rate(&run), latency(&run, base)]
}

fn throughput(run: &Seconds, base: Option<&Seconds>) -> Panel {
    let p = Panel::over_time("throughput", "Throughput and goodput", "calls per second", "/s");
    panel(p, run, base, |s, b| {
        let (st, c, calls) = styled(b, Style::Line, BLUE, "calls/s");
        let (gst, gc, good) = styled(b, Style::Area, GREEN, "goodput/s");
        vec![
            s.line(&calls, st, c, |k| per_s(k.calls, k)),
            s.line(&good, gst, if b { "#b0b0b0" } else { gc }, |k| per_s(k.successes, k)),
        ]
    })
}

fn errors(run: &Seconds) -> Panel {
    let p = Panel::over_time("errors", "Errors per second by class", "errors per second", "/s");
    let classes: Vec<ErrorClass> =
        ErrorClass::ALL.into_iter().filter(|c| run.report.totals.errors.get(c).is_some_and(|n| *n > 0)).collect();
    if classes.is_empty() {
        return p.left_out("no call failed");
    }
    let lines = classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            run.line(&format!("{}/s", c.name()), Style::Line, PALETTE[i % PALETTE.len()], |k| {
                per_s(k.errors.get(c).copied().unwrap_or(0), k)
            })
        })
        .collect();
    panel(p, run, None, |_, _| Vec::clone(&lines))
}

fn in_flight(run: &Seconds, base: Option<&Seconds>) -> Panel {
    let p = Panel::over_time("in-flight", "Calls in flight", "calls in flight", "");
    panel(p, run, base, |s, b| {
        let (st, c, label) = styled(b, Style::Line, PURPLE, "in flight");
        let mut lines = vec![s.line(&label, st, c, |k| Some(k.in_flight as f64))];
        let load = &s.report.plan.engine.load;
        if !b && planned::in_flight(load, 0.0).is_some() {
            lines.push(s.line("planned in flight", Style::Dash, ORANGE, |k| planned::in_flight(load, k.end_s)));
        }
        lines
    })
}

fn rate(run: &Seconds) -> Panel {
    let p = Panel::over_time("planned-rate", "Planned and realised arrival rate", "calls started per second", "/s");
    let load = &run.report.plan.engine.load;
    if planned::rate(load, 0.0, 1.0).is_none() {
        return p.left_out(format!(
            "the {} load model sets the calls in flight, not an arrival rate (see Calls in flight)",
            model_name(load)
        ));
    }
    let lines = vec![
        run.line("planned calls/s", Style::Dash, ORANGE, |k| planned::rate(load, k.end_s - k.seconds, k.end_s)),
        run.line("started calls/s", Style::Line, BLUE, |k| per_s(k.started, k)),
    ];
    panel(p, run, None, |_, _| Vec::clone(&lines))
}

pub fn model_name(load: &workers::LoadModel) -> &'static str {
    match load {
        workers::LoadModel::Batches { .. } => "batches",
        workers::LoadModel::Closed { .. } => "closed",
        workers::LoadModel::ClosedRamp { .. } => "ramping closed",
        workers::LoadModel::Open { .. } => "open",
        workers::LoadModel::Kinds { .. } => "per kind of call",
    }
}

fn latency(run: &Seconds, base: Option<&Seconds>) -> Panel {
    let p = Panel::over_time("latency", "Client latency percentiles per second", "milliseconds", "ms");
    let ms = |q: f64| move |k: &Bucket| (k.latency_us.count() > 0).then(|| k.latency_us.quantile(q) as f64 / 1_000.0);
    panel(p, run, base, |s, b| {
        if b {
            return [(0.5, "p50"), (0.99, "p99")]
                .into_iter()
                .map(|(q, name)| s.line(&format!("baseline {name}"), Style::Dash, GREY, ms(q)))
                .collect();
        }
        [(0.5, "p50", GREEN), (0.9, "p90", BLUE), (0.99, "p99", ORANGE), (1.0, "max", RED)]
            .into_iter()
            .map(|(q, name, color)| s.line(name, Style::Line, color, ms(q)))
            .collect()
    })
}

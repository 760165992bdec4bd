//! One row of the gate: a figure, its limit and the baseline's figure, in words for
//! people and as numbers with a unit for programs.

use workers::Hist;

use crate::summary::{Check, Measure};

pub(crate) fn check(name: &str, value: String, limit: String, passed: bool) -> Check {
    Check { name: name.to_string(), value, limit, baseline: None, passed, measure: None }
}

/// A check of a figure against its limit (`value op limit`, and the baseline's figure),
/// in words and in numbers.
pub(crate) fn measured(
    name: &str,
    (value, op, limit, baseline): (f64, &str, f64, Option<f64>),
    unit: Unit,
    passed: bool,
) -> Check {
    let measure = Measure { value, op: op.into(), limit, baseline, unit: unit.name().into() };
    // JSON has no infinity: a figure that is not finite (a run of no time) has no numbers.
    let finite = [Some(value), Some(limit), baseline].into_iter().flatten().all(f64::is_finite);
    Check {
        baseline: baseline.map(|b| unit.show(b)),
        measure: finite.then_some(measure),
        ..check(name, unit.show(value), format!("{op} {}", unit.show(limit)), passed)
    }
}

/// The histogram's q-quantile in milliseconds.
pub(crate) fn ms(h: &Hist, q: f64) -> f64 {
    h.quantile(q) as f64 / 1_000.0
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Unit {
    Pct,
    Ms,
    PerS,
}

impl Unit {
    /// The unit's name in `Measure`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Unit::Pct => "percent",
            Unit::Ms => "ms",
            Unit::PerS => "calls/s",
        }
    }

    pub(crate) fn show(self, v: f64) -> String {
        match self {
            Unit::Pct => format!("{v:.2}%"),
            Unit::Ms => format!("{v:.2} ms"),
            Unit::PerS => format!("{v:.1} calls/s"),
        }
    }

    /// A bare number at the unit's precision (for ranges).
    pub(crate) fn number(self, v: f64) -> String {
        match self {
            Unit::Pct | Unit::Ms => format!("{v:.2}"),
            Unit::PerS => format!("{v:.1}"),
        }
    }
}

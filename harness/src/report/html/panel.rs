//! One chart of the page as data: its x values, its series (each the same length as x,
//! `null` where a series has no point), how to draw each, or why it is left out. The
//! page's script draws any such panel with uPlot; nothing here knows about pixels.

use serde::Serialize;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    Line,
    /// A line with the area under it filled (goodput under throughput).
    Area,
    /// A baseline's curve or a plan: dashed.
    Dash,
    Bars,
    /// A step line (a histogram's outline, e.g. the baseline's beside this run's bars).
    Step,
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub label: String,
    pub style: Style,
    pub color: &'static str,
    pub values: Vec<Option<f64>>,
}

impl Line {
    pub fn new(label: impl Into<String>, style: Style, color: &'static str, values: Vec<Option<f64>>) -> Line {
        Line { label: label.into(), style, color, values }
    }
}

/// A chart, or the one line saying why it is left out.
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    pub id: &'static str,
    pub title: String,
    /// Why the panel carries no information for this run (then nothing else is drawn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_out: Option<String>,
    pub x_label: &'static str,
    pub y_label: &'static str,
    /// Appended to x values in the hover read-out ("s", "ms"; "" for none).
    pub x_unit: &'static str,
    pub y_unit: &'static str,
    /// A log scale on x (latency histogram, account ranks).
    pub x_log: bool,
    /// Named x positions (percentiles, worker names) instead of numbers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub x_ticks: Vec<(f64, String)>,
    pub x: Vec<f64>,
    pub series: Vec<Line>,
}

/// This run's colours, and the baseline's grey.
pub const BLUE: &str = "#1f77b4";
pub const GREEN: &str = "#2ca02c";
pub const ORANGE: &str = "#ff7f0e";
pub const RED: &str = "#d62728";
pub const PURPLE: &str = "#9467bd";
pub const BROWN: &str = "#8c564b";
pub const PINK: &str = "#e377c2";
pub const GREY: &str = "#7f7f7f";
pub const PALETTE: [&str; 7] = [RED, ORANGE, PURPLE, BROWN, PINK, BLUE, GREEN];

impl Panel {
    /// A chart with no series yet, x in seconds into the run.
    pub fn over_time(id: &'static str, title: &str, y_label: &'static str, y_unit: &'static str) -> Panel {
        Panel {
            id,
            title: title.to_string(),
            left_out: None,
            x_label: "seconds into the run",
            y_label,
            x_unit: "s",
            y_unit,
            x_log: false,
            x_ticks: Vec::new(),
            x: Vec::new(),
            series: Vec::new(),
        }
    }

    /// The panel, left out with `why`.
    pub fn left_out(mut self, why: impl Into<String>) -> Panel {
        self.left_out = Some(why.into());
        self.x.clear();
        self.series.clear();
        self
    }
}

/// Curves with different x values on one x axis: the union of the xs, in order, each
/// curve `None` where it has no point (a baseline's seconds beside this run's).
pub fn join(curves: &[(&[f64], Vec<Line>)]) -> (Vec<f64>, Vec<Line>) {
    let mut xs: Vec<f64> = curves.iter().flat_map(|(x, _)| x.iter().copied()).filter(|x| x.is_finite()).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let mut lines = Vec::new();
    for (x, curve) in curves {
        for line in curve {
            let mut values = vec![None; xs.len()];
            for (at, v) in x.iter().zip(&line.values) {
                if let Ok(k) = xs.binary_search_by(|p| p.total_cmp(at)) {
                    values[k] = *v;
                }
            }
            lines.push(Line { values, ..line.clone() });
        }
    }
    (xs, lines)
}

/// Values rounded for the page (4 significant digits are more than a chart shows),
/// so the embedded JSON stays small.
pub fn round(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() { 0.0 } else { f64::NAN };
    }
    let scale = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_on_different_seconds_share_one_axis() {
        let a = Line::new("run", Style::Line, BLUE, vec![Some(1.0), Some(2.0)]);
        let b = Line::new("baseline", Style::Dash, GREY, vec![Some(5.0), Some(6.0), Some(7.0)]);
        let (x, lines) = join(&[(&[1.0, 2.0], vec![a]), (&[1.0, 2.5, 3.0], vec![b])]);
        assert_eq!(x, [1.0, 2.0, 2.5, 3.0]);
        assert_eq!(lines[0].values, [Some(1.0), Some(2.0), None, None]);
        assert_eq!(lines[1].values, [Some(5.0), None, Some(6.0), Some(7.0)]);
        assert_eq!((round(123_456.0), round(0.012_345_6), round(0.0)), (123_500.0, 0.012_35, 0.0));
    }
}

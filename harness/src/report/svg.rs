//! Inline SVG charts for the HTML report: no scripts, no fonts or files to fetch, so the
//! report opens anywhere, offline. Each chart is an `<svg class="chart">` with a title,
//! axes with ticks, a legend, and a `<title>` tooltip on every point or bar.

use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 32.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 44.0;
pub const COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart. `x_ticks` replaces the automatic ticks (for transformed axes).
pub struct LineChart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series>,
    pub x_ticks: Option<Vec<(f64, String)>>,
    /// How a point's x is shown in its tooltip.
    pub x_name: fn(f64) -> String,
}

impl LineChart<'_> {
    pub fn render(&self) -> String {
        let all = self.series.iter().flat_map(|s| s.points.iter());
        let (x_max, y_max) = all.fold((0.0f64, 0.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
        let x_min = self.series.iter().flat_map(|s| s.points.iter()).map(|p| p.0).fold(f64::INFINITY, f64::min);
        let x_min = if x_min.is_finite() { x_min.min(0.0) } else { 0.0 };
        let y_top = nice_ceiling(y_max);
        let x_top = if x_max > x_min { x_max } else { x_min + 1.0 };
        let sx = |x: f64| LEFT + (x - x_min) / (x_top - x_min) * (W - LEFT - RIGHT);
        let sy = y_scale(y_top);
        let mut s = open(self.id, self.title);
        y_grid(&mut s, y_top);
        let x_ticks = self.x_ticks.clone().unwrap_or_else(|| ticks(x_min, x_top));
        for (v, label) in x_ticks {
            let x = sx(v);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"##,
                H - BOTTOM,
                H - BOTTOM + 16.0,
                esc(&label)
            );
        }
        axes(&mut s, self.x_label, self.y_label);
        for (i, series) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let path: Vec<String> = series.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y))).collect();
            let _ = write!(
                s,
                r#"<polyline class="series" fill="none" stroke="{color}" stroke-width="1.8" points="{}"/>"#,
                path.join(" ")
            );
            for &(x, y) in &series.points {
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{color}"><title>{}: {} at {}</title></circle>"#,
                    sx(x),
                    sy(y),
                    esc(&series.name),
                    short(y),
                    (self.x_name)(x)
                );
            }
        }
        let names: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        legend(&mut s, &names);
        s + "</svg>\n"
    }
}

/// A vertical bar chart.
pub struct BarChart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub bars: Vec<(String, f64)>,
}

impl BarChart<'_> {
    pub fn render(&self) -> String {
        let y_top = nice_ceiling(self.bars.iter().map(|b| b.1).fold(0.0, f64::max));
        let sy = y_scale(y_top);
        let mut s = open(self.id, self.title);
        y_grid(&mut s, y_top);
        axes(&mut s, self.x_label, self.y_label);
        let slot = (W - LEFT - RIGHT) / self.bars.len().max(1) as f64;
        for (i, (label, v)) in self.bars.iter().enumerate() {
            let x = LEFT + slot * i as f64 + slot * 0.15;
            let y = sy(*v);
            let _ = write!(
                s,
                r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                slot * 0.7,
                (H - BOTTOM - y).max(0.0),
                COLORS[0],
                esc(label),
                short(*v)
            );
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"#,
                x + slot * 0.35,
                H - BOTTOM + 16.0,
                esc(label)
            );
        }
        s + "</svg>\n"
    }
}

fn open(id: &str, title: &str) -> String {
    format!(
        r#"<svg class="chart" id="{id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}"><text x="{LEFT}" y="20" font-size="14" font-weight="bold">{t}</text>"#,
        t = esc(title)
    )
}

/// Value to y coordinate, 0 at the x axis and `y_top` at the top of the plot.
fn y_scale(y_top: f64) -> impl Fn(f64) -> f64 {
    move |y| H - BOTTOM - y / y_top * (H - TOP - BOTTOM)
}

/// Horizontal grid lines with their labels, from 0 to `y_top`.
fn y_grid(s: &mut String, y_top: f64) {
    let sy = y_scale(y_top);
    for (v, label) in ticks(0.0, y_top) {
        let y = sy(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11">{label}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
}

fn axes(s: &mut String, x_label: &str, y_label: &str) {
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{b}" stroke="#333"/><line x1="{LEFT}" x2="{r}" y1="{b}" y2="{b}" stroke="#333"/><text x="{cx}" y="{}" text-anchor="middle" font-size="12">{}</text><text transform="translate(14,{cy}) rotate(-90)" text-anchor="middle" font-size="12">{}</text>"##,
        H - 8.0,
        esc(x_label),
        esc(y_label),
        b = H - BOTTOM,
        r = W - RIGHT,
        cx = (LEFT + W - RIGHT) / 2.0,
        cy = (TOP + H - BOTTOM) / 2.0,
    );
}

/// The series' names and colours in a row at the top right.
fn legend(s: &mut String, names: &[&str]) {
    let width = |name: &str| 24.0 + 7.0 * name.chars().count() as f64;
    let mut x = W - RIGHT - names.iter().map(|n| width(n)).sum::<f64>();
    for (i, name) in names.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="10" width="12" height="12" fill="{color}"/><text x="{:.1}" y="20" font-size="12">{}</text>"#,
            x + 16.0,
            esc(name)
        );
        x += width(name);
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v` (1 for nothing).
pub fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|c| *c >= v * 0.9999).unwrap_or(10.0 * magnitude)
}

/// About five evenly spaced ticks from `lo` to `hi`, labelled.
fn ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let step = nice_ceiling((hi - lo) / 5.0);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + step * 1e-9 {
        out.push((v, short(v)));
        v += step;
    }
    out
}

/// A number in few characters: 1.5k, 250, 0.25.
pub fn short(v: f64) -> String {
    let trim = |t: String| if t.contains('.') { t.trim_end_matches('0').trim_end_matches('.').to_string() } else { t };
    let a = v.abs();
    if a >= 1e6 {
        trim(format!("{:.3}", v / 1e6)) + "M"
    } else if a >= 1e4 {
        trim(format!("{:.1}", v / 1e3)) + "k"
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        trim(format!("{v:.3}"))
    }
}

/// Escape text for HTML and SVG.
pub use super::markup::escape as esc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_numbers_and_labels() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert_eq!(nice_ceiling(0.04), 0.05);
        assert_eq!(short(1_500_000.0), "1.5M");
        assert_eq!(short(25_000.0), "25k");
        assert_eq!(short(12.5), "12.5");
        assert_eq!(ticks(0.0, 10.0).len(), 6);
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}

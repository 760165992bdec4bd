//! report.html in headless Chromium (scripts/browser/check-report.mjs): what every
//! report must show at 1,000 and 1,600 px, and the panels it drew or left out.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::common::{provisioned, text};

/// Every chart panel of report.html, drawn or left out with the line saying why.
const PANELS: [&str; 10] = [
    "throughput",
    "errors",
    "in-flight",
    "planned-rate",
    "latency",
    "histogram",
    "distribution",
    "retries",
    "hot-accounts-chart",
    "workers",
];

/// Where the browser test keeps its screenshots: target/test-artifacts/report-html/CASE/.
fn artifacts(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/report-html").join(case);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A chart drawn: its id and its series' labels.
pub type Drawn = (String, Vec<String>);

/// Open `dir`'s report.html in headless Chromium at 1,000 and 1,600 px (screenshots in
/// the case's artifacts folder) and check what any report must show: no errors, no
/// request, no sideways scrolling, every panel drawn or explained, a value on hover.
/// Returns the panels drawn and left out (id, then its series or its line).
pub fn browse(dir: &Path, case: &str) -> (Vec<Drawn>, Vec<(String, String)>) {
    provisioned(); // Chromium, Node.js and playwright-core
    let script = format!("{}/../scripts/browser/check-report.mjs", env!("CARGO_MANIFEST_DIR"));
    let shots = artifacts(case);
    let out = Command::new("node")
        .arg(&script)
        .arg(dir.join("report.html"))
        .args(["--widths", "1000,1600", "--screenshot-dir"])
        .arg(&shots)
        .output()
        .expect("run scripts/browser/check-report.mjs");
    assert!(out.status.success(), "{}", text(&out));
    let seen: Value = serde_json::from_slice(&out.stdout).expect("the browser check prints JSON");
    for key in ["consoleErrors", "pageErrors", "requests"] {
        assert_eq!(seen[key], serde_json::json!([]), "{case}: no {key}: {seen:#}");
    }
    let head = &seen["latencySummaryHead"];
    assert_eq!(
        (&head[2], &head[3], &head[4]),
        (&"mean".into(), &"sd".into(), &"p50".into()),
        "{case}: mean, sd, p50.."
    );
    let mut last = (Vec::new(), Vec::new());
    for at in seen["widths"].as_array().unwrap() {
        let width = at["width"].as_u64().unwrap();
        assert!(
            at["scrollWidth"].as_u64() <= at["innerWidth"].as_u64(),
            "{case} at {width} px scrolls sideways: {at:#}"
        );
        let drawn: Vec<Drawn> = at["charts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["drawn"], true, "{case}: {c}");
                assert!(c["right"].as_u64().unwrap() <= width, "{case}: the chart fits the window: {c}");
                // Full width: one column at 1,000 px, two of about 770 at 1,600.
                assert!(c["width"].as_u64().unwrap() * 100 > width * 45, "{case} at {width} px: {c}");
                let id = c["id"].as_str().unwrap().to_string();
                let read = at["hover"][&id].as_array().unwrap();
                let shown = read[1..]
                    .iter()
                    .any(|r| r["value"].as_str().is_some_and(|v| v.chars().any(|c| c.is_ascii_digit())));
                assert!(shown, "{case} at {width} px: hovering over {id} shows a value in its legend: {read:?}");
                (id, c["series"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect())
            })
            .collect();
        let left: Vec<(String, String)> = at["leftOut"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["id"].as_str().unwrap().to_string(), l["text"].as_str().unwrap().to_string()))
            .collect();
        for id in PANELS {
            let explained = left.iter().any(|(l, t)| l == id && t.contains(": left out because "));
            assert!(drawn.iter().any(|(d, _)| d == id) ^ explained, "{case}: {id} is drawn or explained, once: {at:#}");
        }
        let png = std::fs::read(at["screenshot"].as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a real screenshot, {} bytes", png.len());
        last = (drawn, left);
    }
    last
}

pub fn series<'a>(drawn: &'a [Drawn], id: &str) -> &'a [String] {
    &drawn.iter().find(|(d, _)| d == id).unwrap_or_else(|| panic!("{id} is drawn: {drawn:?}")).1
}

pub fn left_out(left: &[(String, String)], id: &str) -> String {
    left.iter().find(|(l, _)| l == id).unwrap_or_else(|| panic!("{id} is left out: {left:?}")).1.clone()
}

/// A scenario file in a temporary folder.
pub fn scenario_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("name = \"{name}\"\n{text}")).unwrap();
    path.to_str().unwrap().to_string()
}

//! `harness check RUN`: the CI gate.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::check::{self, BaselineRule, Check};
use crate::cli::{CheckArgs, Format};
use crate::report::console::checks_table;
use crate::run_dir::{self, RunDir};
use crate::scenario::{self, Overrides};

/// The version of `check --format json` (schemas/check.schema.json); 2: values, limits
/// and baselines as numbers with a unit (before, display strings); 3: a history of
/// baselines, intervals and spreads.
const CHECK_JSON_VERSION: u32 = 3;

/// The CI gate: thresholds and an optional baseline, as a table or JSON (and JUnit XML,
/// and a Markdown summary).
pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let summary_md = args.summary_md.as_deref().map(super::append_to).transpose()?;
    let mut report = run_dir::read(&args.run)?;
    let mut thresholds = match &args.thresholds {
        Some(path) => scenario::load(path, &Overrides::default())?.thresholds,
        None => report.plan.thresholds.clone(),
    };
    if let Some(t) = args.tolerance_pct {
        anyhow::ensure!(t.is_finite() && t >= 0.0, "--tolerance-pct must be >= 0, got {t}");
        thresholds.baseline_tolerance_pct = Some(t);
    }
    if let Some(s) = args.max_shift {
        anyhow::ensure!((0.0..=1.0).contains(&s), "--max-shift must be between 0 and 1, got {s}");
        thresholds.max_latency_shift = Some(s);
    }
    let history = if args.baseline.is_empty() {
        Vec::new()
    } else {
        check::history::load(&args.baseline, &report, &args.run, args.history)?
    };
    let rule = BaselineRule::from(&thresholds);
    let rows = check::evaluate_rows(&report, &thresholds, Some((&history, rule)));
    let checks: Vec<Check> = rows.iter().map(|r| r.check.clone()).collect();
    let passed = checks.iter().all(|c| c.passed);
    // The latest baseline run names the baseline (with the number of runs when several).
    let baseline = history.last().map(|b| match history.len() {
        1 => (b.run_id.clone(), &b.plan.name),
        n => (format!("{} and {} earlier runs", b.run_id, n - 1), &b.plan.name),
    });
    match args.format {
        Format::Table => {
            println!("Run {} ({})", report.run_id, report.plan.name);
            if let Some((b, name)) = &baseline {
                println!("Baseline {b} ({name})");
            }
            print!("{}", checks_table(&checks));
        }
        Format::Json => {
            let verdict = serde_json::json!({
                "schema_version": CHECK_JSON_VERSION,
                "run": report.run_id,
                "scenario": report.plan.name,
                "baseline": history.last().map(|b| &b.run_id),
                "baselines": history.iter().map(|b| &b.run_id).collect::<Vec<_>>(),
                "passed": passed,
                "checks": rows.iter().map(check::Row::to_json).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&verdict)?);
        }
    }
    if let Some((mut file, path)) = summary_md {
        let text = crate::report::markdown::render(&report, &checks, baseline.as_ref().map(|b| b.0.as_str()));
        file.write_all(text.as_bytes()).with_context(|| format!("writing --summary-md {}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, crate::report::junit::render(&report.plan.name, &checks))
            .with_context(|| format!("writing --junit {}", path.display()))?;
    }
    if args.update_report {
        report.checks = checks;
        let dir = RunDir::open(&args.run);
        dir.write(&report)?;
        println!("Recorded in {} (report.html shows these checks)", dir.path().join(run_dir::SUMMARY).display());
    }
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

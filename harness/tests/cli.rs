//! The real `harness` binary, run as a user would.

use std::process::Command;

fn harness(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness")).args(args).output().expect("run harness");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quickstart_runs_the_workshop_chapters_on_the_local_stack_and_verifies() {
    let (ok, stdout, stderr) = harness(&["quickstart", "--accounts", "50", "--calls", "150", "--parallel", "16"]);
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains(r#"{"greeting":"Hello DAT401!"}"#), "{stdout}");
    assert!(stdout.contains("connected to PostgreSQL successfully!"), "{stdout}");
    assert!(stdout.contains(r#"chapter 3 (transfer 1->2, 10): {"balance":90,"#), "{stdout}");
    assert!(stdout.contains("burst: 150 transfers at 16 parallel"), "{stdout}");
    assert!(stdout.contains("0 errors"), "{stdout}");
    assert!(stdout.contains("sum of balances 5000 (expected 5000)"), "{stdout}");
    assert!(stdout.contains("history rows +151 for 151 committed transfers: PASS"), "{stdout}");
}

#[test]
fn bad_flags_are_refused_with_the_flag_named() {
    let (ok, _, stderr) = harness(&["quickstart", "--accounts", "1"]);
    assert!(!ok);
    assert!(stderr.contains("--accounts must be at least 2"), "{stderr}");
    let (ok, _, stderr) = harness(&["quickstart", "--retry-policy", "forever"]);
    assert!(!ok);
    assert!(stderr.contains("--retry-policy") && stderr.contains("backoff:MAX"), "{stderr}");
}

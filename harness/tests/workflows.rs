//! The GitHub workflows in .github/workflows: every one passes actionlint (with ShellCheck
//! over its `run:` scripts) and zizmor (offline: pinning, permissions, credentials left in
//! the checkout, template injection, ...), each action they use is pinned by a commit
//! with its version beside it, and the release workflow builds what the issue asks for.
//! Both tools come from scripts/install-deps.sh; a missing tool fails the test, never
//! skips it. A deliberately broken workflow shows that neither check is blind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::*;

const INSTALL: &str = "scripts/install-deps.sh installs it (run it as root, or install what it names)";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every workflow file, as a path relative to the repository's root.
fn workflows() -> Vec<PathBuf> {
    let dir = root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflow in {}", dir.display());
    files
}

fn run(command: &mut Command, tool: &str) -> Output {
    command.current_dir(root()).output().unwrap_or_else(|e| panic!("run {tool}: {e}; {INSTALL}"))
}

/// actionlint over `files`: every check, ShellCheck's among them.
fn actionlint(files: &[PathBuf]) -> Output {
    run(Command::new("actionlint").arg("-no-color").args(files), "actionlint")
}

/// zizmor over `input` (a file or a folder), offline: the audits that need the GitHub
/// API are left out, so the result depends on the files alone. A file that is not a valid
/// workflow fails too, rather than being skipped with a warning.
fn zizmor(input: &Path) -> Output {
    run(
        Command::new("zizmor")
            .args(["--offline", "--strict-collection", "--no-progress", "--color", "never"])
            .arg(input),
        "zizmor",
    )
}

#[test]
fn every_workflow_passes_actionlint_and_zizmor() {
    provisioned(); // actionlint, zizmor, ShellCheck
    let files = workflows();
    let out = actionlint(&files);
    assert!(out.status.success(), "actionlint {files:?}: {}", text(&out));
    let out = zizmor(Path::new(".github/workflows"));
    assert!(out.status.success(), "zizmor .github/workflows: {}", text(&out));
    // zizmor looked at each of them.
    let log = String::from_utf8_lossy(&out.stderr);
    for file in &files {
        assert!(log.contains(&*file.to_string_lossy()), "zizmor did not audit {}: {}", file.display(), text(&out));
    }
}

/// zizmor checks that third-party actions are pinned by commit; this adds that each pin
/// says which release it is, so that an update can be seen in review.
#[test]
fn every_action_is_pinned_by_commit_with_its_version() {
    for file in workflows() {
        let workflow = std::fs::read_to_string(root().join(&file)).unwrap();
        for (n, line) in workflow.lines().enumerate() {
            let Some(uses) = line.trim_start().trim_start_matches("- ").strip_prefix("uses:") else { continue };
            let uses = uses.trim();
            if uses.starts_with("./") || uses.starts_with("docker://") {
                continue;
            }
            let at = format!("{}:{}: {uses}", file.display(), n + 1);
            let (_, pin) = uses.split_once('@').unwrap_or_else(|| panic!("{at}: no @ref"));
            let (sha, version) = pin.split_once(" # ").unwrap_or_else(|| panic!("{at}: no `# version` comment"));
            assert!(sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{at}: not a full commit SHA");
            assert!(!version.trim().is_empty(), "{at}: an empty version comment");
        }
    }
}

/// The release workflow: on a tag v*, static (musl) binaries for x86_64 and arm64 built on
/// runners of their own architecture, attached to a release of the tag with their SHA-256
/// sums, and the image for both platforms on ghcr.io.
#[test]
fn the_release_workflow_builds_static_binaries_and_the_image_on_a_tag() {
    let release = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    for needed in [
        "tags:\n      - \"v*\"",
        "target: x86_64-unknown-linux-musl\n            runner: ubuntu-24.04\n",
        "target: aarch64-unknown-linux-musl\n            runner: ubuntu-24.04-arm\n",
        "musl-tools",
        "cargo build --locked --release -p harness --bin harness --target \"$TARGET\"",
        "statically linked",
        "sha256sum",
        "gh release create \"$TAG\"",
        "platform: linux/amd64",
        "platform: linux/arm64",
        "ghcr.io/${GITHUB_REPOSITORY,,}",
        "uses: docker/build-push-action@",
        "docker buildx imagetools create --tag \"$image:$TAG\"",
    ] {
        assert!(release.contains(needed), "release.yml lacks {needed:?}");
    }
}

/// Writes `files` (name, text) into a fresh `.github/workflows` folder.
fn workflows_folder(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    for (name, text) in files {
        std::fs::write(workflows.join(name), text).unwrap();
    }
    (dir, workflows)
}

/// A workflow with a script injection (an issue's title pasted into a `run:` script) and
/// an unknown key: both tools reject it, run as the real check runs them. actionlint
/// names both faults; zizmor the injection (it does not look for unknown keys: that is
/// actionlint's part).
#[test]
fn the_checks_reject_a_broken_workflow() {
    provisioned();
    let bad = "name: greet\n\
               on: issues\n\
               permissions: {}\n\
               jobs:\n  \
                 greet:\n    \
                   runs-on: ubuntu-latest\n    \
                   timeout: 10\n    \
                   steps:\n      \
                     - run: echo \"Thanks for ${{ github.event.issue.title }}\"\n";
    let (_dir, workflows) = workflows_folder(&[("bad.yml", bad)]);

    let out = actionlint(&[workflows.join("bad.yml")]);
    assert!(!out.status.success(), "actionlint passed a broken workflow: {}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("\"github.event.issue.title\" is potentially untrusted"), "{}", text(&out));
    assert!(report.contains("unexpected key \"timeout\""), "{}", text(&out));

    let out = zizmor(&workflows);
    assert!(!out.status.success(), "zizmor passed a script injection: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("error[template-injection]"), "{}", text(&out));
}

/// A file in the folder that is not a workflow at all (no `jobs`) fails the check rather
/// than being skipped with a warning while its neighbours pass (zizmor's default).
#[test]
fn the_checks_reject_a_file_that_is_no_workflow() {
    provisioned();
    let fine = "name: build\n\
                on: push\n\
                permissions: {}\n\
                jobs:\n  \
                  build:\n    \
                    runs-on: ubuntu-latest\n    \
                    steps:\n      \
                      - run: echo hello\n";
    let broken = "name: broken\non: push\npermissions: {}\njobz: {}\n";
    let (_dir, workflows) = workflows_folder(&[("fine.yml", fine), ("broken.yml", broken)]);

    let out = actionlint(&[workflows.join("fine.yml")]);
    assert!(out.status.success(), "actionlint: {}", text(&out));
    let out = actionlint(&[workflows.join("fine.yml"), workflows.join("broken.yml")]);
    assert!(!out.status.success(), "actionlint passed a file with no jobs: {}", text(&out));

    let out = zizmor(&workflows);
    assert!(!out.status.success(), "zizmor passed a file with no jobs: {}", text(&out));
    assert!(text(&out).contains("broken.yml"), "{}", text(&out));
}

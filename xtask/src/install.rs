//! Installing what the commands need when it is missing: Debian packages (apt-get, as root) and
//! Python tools, each in its own virtualenv under the user's cache (outside the clone, reused
//! between runs). A leaf module: it uses only [`crate::util`], so every other module may use it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

use crate::util::{have, is_root, root, run, step};

/// Installs Debian `packages` with apt-get (as root; otherwise fails saying what to install).
pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    if !is_root() {
        bail!(
            "{} missing and this is not root; install with: sudo apt-get install -y {}",
            packages.join(", "),
            packages.join(" ")
        );
    }
    static UPDATED: OnceLock<()> = OnceLock::new();
    if UPDATED.get().is_none() {
        step("apt-get update");
        run("apt-get", &["update", "-qq"])?;
        let _ = UPDATED.set(());
    }
    step(&format!("apt-get install {}", packages.join(" ")));
    let status = std::process::Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    if !status.success() {
        bail!("apt-get install {} failed", packages.join(" "));
    }
    Ok(())
}

/// Installs `packages` unless `program` is already on PATH.
pub fn ensure_program(program: &str, packages: &[&str]) -> anyhow::Result<()> {
    if have(program) {
        return Ok(());
    }
    apt_install(packages)?;
    if !have(program) {
        bail!(
            "{program} is still missing after installing {}",
            packages.join(" ")
        );
    }
    Ok(())
}

/// Where the virtualenvs live: `$XDG_CACHE_HOME` or `~/.cache`, `retail-platform/venvs`.
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
        apt_install(&["python3-venv"])?;
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

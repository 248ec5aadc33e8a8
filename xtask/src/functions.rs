//! The functions locally: `cargo lambda watch` (PyPI `cargo-lambda`, in its own virtualenv)
//! serves every function in `functions/` on 127.0.0.1:9000, and `cargo xtask esm` runs the
//! event source mappings that feed each function's SQS queue into it, as Lambda does in AWS.

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command};

use anyhow::Context;
use function_kit::local::EventSourceMapping;
use function_kit::topology::{Created, QueueSpec, Topology};

use crate::aws::{MOTO_URL, SDK_ENV};
use crate::install::venv;
use crate::util::{root, spawn_logged, step, target_dir};

/// Port of the local Lambda invoke API.
pub const LAMBDA_PORT: u16 = 9000;

/// Concurrent pollers per queue, and instances per function: Lambda starts an SQS event
/// source with five concurrent batches. With one at a time, a backlog in a function's queue
/// only grows under load (and moto's SQS slows down with the length of a queue).
pub const CONCURRENCY: usize = 5;

/// The queues whose function exists in `functions/`.
pub fn served(topology: &Topology) -> Vec<QueueSpec> {
    topology
        .queues
        .iter()
        .filter(|q| {
            root()
                .join("functions")
                .join(&q.function)
                .join("Cargo.toml")
                .exists()
        })
        .cloned()
        .collect()
}

/// The name of the local Secrets Manager secret holding the account token key.
pub const ACCOUNT_KEY_SECRET: &str = "users/account-token-key";
/// Where local account links point (the gateway; there is no shop front-end locally).
pub const ACCOUNT_LINK_BASE: &str = "http://127.0.0.1:8080/account";

/// The local account token key shared by users and the notifier, kept in `dir` so restarts
/// keep links working (created on first use).
pub fn account_token_key(dir: &std::path::Path) -> anyhow::Result<String> {
    let path = dir.join("account-token-key");
    if let Ok(key) = fs::read_to_string(&path)
        && events::sealed::SealKey::from_base64(&key).is_ok()
    {
        return Ok(key.trim().to_owned());
    }
    let key = events::sealed::SealKey::generate()?;
    fs::create_dir_all(dir)?;
    fs::write(&path, &key)?;
    Ok(key)
}

/// Creates the local AWS topology (idempotent) and writes the functions' environment.
pub async fn prepare() -> anyhow::Result<(Topology, Created)> {
    let dir = root().join(".local");
    fs::create_dir_all(&dir)?;
    prepare_at(MOTO_URL, MOTO_URL, &dir.join("functions.env")).await
}

/// Creates the AWS topology on the moto at `moto` (idempotent) and writes the functions'
/// environment to `env_file`, with their AWS clients on `endpoint` (moto, or a proxy to it).
pub async fn prepare_at(
    moto: &str,
    endpoint: &str,
    env_file: &std::path::Path,
) -> anyhow::Result<(Topology, Created)> {
    let topology = Topology::committed()?;
    let config = function_kit::aws::for_endpoint(moto).await;
    let created = function_kit::topology::ensure(&config, &topology, "").await?;
    let dir = env_file
        .parent()
        .context("the functions' environment file has no directory")?;
    put_secret(&config, ACCOUNT_KEY_SECRET, &account_token_key(dir)?).await?;
    let mut env: Vec<String> = SDK_ENV
        .iter()
        .map(|(k, v)| {
            if *k == "AWS_ENDPOINT_URL" {
                format!("{k}={endpoint}")
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    env.push(format!(
        "IDEMPOTENCY_TABLE={}",
        created.tables["notifier-idempotency"]
    ));
    env.push(format!("EMAIL_FROM={}", topology.ses_sender));
    env.push(format!("ACCOUNT_TOKEN_KEY_SECRET_ARN={ACCOUNT_KEY_SECRET}"));
    env.push(format!("ACCOUNT_LINK_BASE_URL={ACCOUNT_LINK_BASE}"));
    env.push("METRICS_NAMESPACE=Retail/Business".to_owned());
    env.push(format!(
        "SUBSCRIPTIONS_TABLE={}",
        created.tables["webhook-subscriptions"]
    ));
    env.push(format!(
        "DELIVERIES_TABLE={}",
        created.tables["webhook-deliveries"]
    ));
    env.push("WEBHOOK_SECRET_PREFIX=webhooks/".to_owned());
    // Local partners run on this machine.
    env.push("ALLOW_PRIVATE_ENDPOINTS=true".to_owned());
    env.push("RUST_LOG=info".to_owned());
    fs::write(env_file, env.join("\n") + "\n")?;
    Ok((topology, created))
}

/// Creates the secret `name` with `value`, or sets its value when it exists.
pub async fn put_secret(
    config: &aws_config::SdkConfig,
    name: &str,
    value: &str,
) -> anyhow::Result<()> {
    let secrets = aws_sdk_secretsmanager::Client::new(config);
    let created = secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    if created.is_err() {
        secrets
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "secret {name}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok(())
}

/// The `cargo-lambda` binary (PyPI `cargo-lambda`, in its own virtualenv).
pub fn cargo_lambda() -> anyhow::Result<PathBuf> {
    Ok(venv("cargo-lambda", &["cargo-lambda==1.9.2"])?.join("cargo-lambda"))
}

/// Starts `cargo lambda watch` for the workspace's functions.
pub fn spawn_watch(release: bool) -> anyhow::Result<Child> {
    let logs = root().join(".local").join("logs");
    fs::create_dir_all(&logs)?;
    spawn_watch_at(
        release,
        LAMBDA_PORT,
        &root().join(".local").join("functions.env"),
        &logs.join("lambda.log"),
    )
}

/// Starts `cargo lambda watch` on `port` with the environment in `env_file`, logging to `log`.
pub fn spawn_watch_at(
    release: bool,
    port: u16,
    env_file: &std::path::Path,
    log: &std::path::Path,
) -> anyhow::Result<Child> {
    let bin = venv("cargo-lambda", &["cargo-lambda==1.9.2"])?;
    let log = File::create(log)?;
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    step(&format!("starting cargo lambda watch on 127.0.0.1:{port}"));
    let mut command = Command::new(bin.join("cargo-lambda"));
    command
        .args([
            "lambda",
            "watch",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--env-file",
        ])
        .arg(env_file)
        .args(if release { &["--release"][..] } else { &[][..] })
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target_dir())
        .current_dir(root());
    spawn_logged(&mut command, log).context("starting cargo lambda watch")
}

/// `cargo xtask esm`: feeds every served queue into its function until Ctrl-C or SIGTERM.
pub async fn run_mappings() -> anyhow::Result<()> {
    let (topology, created) = prepare().await?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for mapping in mappings(&topology, &created, MOTO_URL, LAMBDA_PORT).await? {
        tasks.push(tokio::spawn(mapping.run(stop_rx.clone())));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// The event source mappings of every served queue ([`CONCURRENCY`] pollers each): SQS on
/// `endpoint`, functions on `lambda_port`.
pub async fn mappings(
    topology: &Topology,
    created: &Created,
    endpoint: &str,
    lambda_port: u16,
) -> anyhow::Result<Vec<EventSourceMapping>> {
    let config = function_kit::aws::for_endpoint(endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut mappings = Vec::new();
    for queue in served(topology) {
        let url = created.queue_urls[&queue.name].clone();
        let arn = format!("arn:aws:sqs:us-east-1:123456789012:{}", queue.name);
        let mapping = EventSourceMapping {
            sqs: sqs.clone(),
            queue_url: url,
            queue_arn: arn,
            invoke_url: format!(
                "http://127.0.0.1:{lambda_port}/2015-03-31/functions/{}/invocations",
                queue.function
            ),
            batch_size: 10,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(u64::from(
                    queue.visibility_timeout_seconds,
                )))
                .build()?,
        };
        mappings.extend(std::iter::repeat_n(mapping, CONCURRENCY));
        println!("event source mapping: {} -> {}", queue.name, queue.function);
    }
    Ok(mappings)
}

/// The path of the running xtask binary (to start `xtask esm` as its own process).
pub fn xtask_binary() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("locating the xtask binary")
}

/// Invokes every function once and waits for the answers: `cargo lambda watch` builds a
/// function on its first invocation, which would otherwise time out the gateway's first call.
pub async fn warm_up(client: &reqwest::Client) -> anyhow::Result<()> {
    warm_up_at(client, LAMBDA_PORT).await
}

/// [`warm_up`] for `cargo lambda watch` on `port`.
pub async fn warm_up_at(client: &reqwest::Client, port: u16) -> anyhow::Result<()> {
    step("building and starting the functions (first invocation of each)");
    let sqs = serde_json::json!({"Records": []});
    let http = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/admin/webhooks",
        "rawQueryString": "", "headers": {},
        "requestContext": {"http": {"method": "GET", "path": "/admin/webhooks"}, "stage": "$default"},
        "isBase64Encoded": false
    });
    for (function, payload) in [
        ("notifier", &sqs),
        ("webhook-dispatcher", &sqs),
        ("analytics", &sqs),
        ("webhook-admin", &http),
    ] {
        let started = std::time::Instant::now();
        loop {
            let answer = client
                .post(format!(
                    "http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations"
                ))
                .timeout(std::time::Duration::from_secs(600))
                .json(payload)
                .send()
                .await;
            match answer {
                Ok(answer) if answer.status().is_success() => break,
                Ok(answer) => anyhow::bail!(
                    "{function} failed its first invocation: {} {}",
                    answer.status(),
                    answer.text().await.unwrap_or_default()
                ),
                // cargo lambda watch is still starting.
                Err(_) if started.elapsed() < std::time::Duration::from_secs(60) => {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(())
}

/// Client libraries of the long-running services that no Lambda function may link: each adds
/// cold-start time and package size for code a function never runs (service-kit keeps them
/// behind its `postgres`, `redis` and `amqp` features).
const SERVICE_ONLY_CRATES: [&str; 3] = ["sqlx", "lapin", "redis"];

/// Fails when a crate in `functions/` depends, directly or not, on a [`SERVICE_ONLY_CRATES`]
/// crate (normal dependencies: what the deployed binary links).
pub fn check_lean() -> anyhow::Result<()> {
    step("functions link none of sqlx, lapin or redis (cargo tree)");
    let mut packages = Vec::new();
    for entry in fs::read_dir(root().join("functions"))? {
        let manifest = entry?.path().join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .with_context(|| format!("no package name in {}", manifest.display()))?;
        packages.push(name.to_owned());
    }
    packages.sort();
    if packages.is_empty() {
        anyhow::bail!("no function crates found under functions/");
    }
    for package in &packages {
        let output = Command::new(crate::util::cargo_bin())
            .args(["tree", "--locked", "-p", package, "-e", "normal"])
            .args(["--prefix", "none", "-f", "{p}"])
            .current_dir(root())
            .output()
            .context("running cargo tree")?;
        if !output.status.success() {
            anyhow::bail!(
                "cargo tree -p {package} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        let linked: std::collections::BTreeSet<&str> = tree
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| {
                SERVICE_ONLY_CRATES
                    .iter()
                    .any(|c| *name == *c || name.starts_with(&format!("{c}-")))
            })
            .collect();
        if !linked.is_empty() {
            anyhow::bail!(
                "function {package} links {}: a service-only client (check its service-kit features)",
                linked.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    println!(
        "    {} function crates: {}",
        packages.len(),
        packages.join(", ")
    );
    Ok(())
}

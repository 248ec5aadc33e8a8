//! The `functions` group of `cargo xtask bench`: each Lambda function's package size and cold
//! start, beside a bare `lambda_runtime` function (`tests/lambda-baseline`) built the same way.
//!
//! Every function is built as CI builds it (`cargo lambda build --release --output-format zip`,
//! for this machine's architecture) and run from its unpacked `bootstrap` against a Lambda
//! Runtime API served here, as Lambda runs it: the process gets the reserved `AWS_LAMBDA_*`
//! variables and the function's own environment (on moto), and polls
//! `GET /2018-06-01/runtime/invocation/next`. What is measured, per process start:
//!
//! - **init**: from spawning the process to its first poll for an event, i.e. ready for its
//!   first event (telemetry, AWS configuration, secrets read at start);
//! - **first event**: from handing over the first event to its response (what work the
//!   function defers to its first event); **cold start**: from spawning the process to that
//!   response (`BENCHMARKS.md`'s "process start -> first event handled");
//! - **warm event**: the median of the next five events;
//! - the CPU the process spent until ready, and its peak resident memory.
//!
//! No `cargo lambda` process sits between: the figures are the function's own. Each function
//! is started [`STARTS`] times, interleaved with the others, and the median is published.
//! `--before REV` builds the functions of another commit the same way (in a clone, once: the
//! zips are kept in `.local/bench/functions-<REV>/`) and measures them in the same run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::bench::{Figure, Pinning, median_of, status_mb};
use crate::functions::{cargo_lambda, prepare_at, put_secret};
use crate::util::{root, run as run_program, step, target_dir};

/// Process starts per function.
pub const STARTS: usize = 5;
/// Events handled after the first, per start.
const WARM_EVENTS: usize = 5;
/// The baseline package.
const BASELINE: &str = "lambda-baseline";
/// The Secrets Manager secret psp-webhook reads its signing secrets from, in this bench.
const PSP_SECRET: &str = "bench/psp-webhook-signing";

/// One measured package: its name and where its `bootstrap.zip` is.
#[derive(Debug, Clone)]
pub struct Package {
    /// Function (package) name.
    pub name: String,
    /// Label in the table: the function, with `@rev` for another commit's build.
    pub label: String,
    /// The zip `cargo lambda build --output-format zip` wrote.
    pub zip: PathBuf,
}

/// Figures of one process start.
#[derive(Debug, Clone, Copy)]
struct Start {
    init_ms: f64,
    cold_ms: f64,
    first_ms: f64,
    warm_ms: f64,
    init_cpu_ms: f64,
    peak_rss_mb: f64,
}

/// The functions in this tree (`functions/*/src/main.rs`).
pub fn functions_in(tree: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(tree.join("functions"))? {
        let entry = entry?;
        if entry.path().join("src").join("main.rs").exists() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// `cargo lambda build --release --output-format zip` of `packages` in `tree`; the zips land
/// in the shared target directory's `lambda/<package>/bootstrap.zip`.
fn build_zips(tree: &Path, packages: &[String]) -> anyhow::Result<()> {
    let bin = cargo_lambda()?;
    let bin_dir = bin.parent().context("cargo-lambda has no directory")?;
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(&bin);
    command
        .args(["lambda", "build", "--release", "--output-format", "zip"])
        .args(packages.iter().flat_map(|p| ["--package", p.as_str()]))
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target_dir())
        .current_dir(tree);
    let status = command.status().context("running cargo lambda build")?;
    if !status.success() {
        bail!("cargo lambda build in {} failed ({status})", tree.display());
    }
    Ok(())
}

fn built_zip(package: &str) -> PathBuf {
    target_dir()
        .join("lambda")
        .join(package)
        .join("bootstrap.zip")
}

/// Builds this tree's functions and the baseline.
fn build_current() -> anyhow::Result<Vec<Package>> {
    let mut names = functions_in(&root())?;
    names.push(BASELINE.to_owned());
    step(&format!(
        "cargo lambda build --release --output-format zip: {}",
        names.join(", ")
    ));
    build_zips(&root(), &names)?;
    Ok(names
        .iter()
        .map(|name| Package {
            name: name.clone(),
            label: name.clone(),
            zip: built_zip(name),
        })
        .collect())
}

/// Builds the functions of commit `rev` in a clone of this repository, and keeps their zips
/// under `.local/bench/functions-<rev>/`.
fn build_before(rev: &str) -> anyhow::Result<Vec<Package>> {
    let keep = root()
        .join(".local")
        .join("bench")
        .join(format!("functions-{rev}"));
    let kept: Vec<Package> = std::fs::read_dir(&keep)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    Package {
                        label: format!("{name}@{rev}"),
                        zip: entry.path().join("bootstrap.zip"),
                        name,
                    }
                })
                .filter(|p| p.zip.exists())
                .collect()
        })
        .unwrap_or_default();
    if !kept.is_empty() {
        step(&format!(
            "using the zips of {rev} kept in {}",
            keep.display()
        ));
        let mut kept = kept;
        kept.sort_by(|a, b| a.name.cmp(&b.name));
        return Ok(kept);
    }
    let clone = std::env::temp_dir().join(format!("retail-bench-{rev}"));
    if clone.exists() {
        std::fs::remove_dir_all(&clone)?;
    }
    step(&format!("cloning this repository at {rev}"));
    let root = root();
    run_program(
        "git",
        &[
            "clone",
            "-q",
            &root.to_string_lossy(),
            &clone.to_string_lossy(),
        ],
    )?;
    run_program(
        "git",
        &["-C", &clone.to_string_lossy(), "checkout", "-q", rev],
    )?;
    let names = functions_in(&clone)?;
    step(&format!(
        "cargo lambda build --release --output-format zip at {rev}: {}",
        names.join(", ")
    ));
    build_zips(&clone, &names)?;
    let keep = root
        .join(".local")
        .join("bench")
        .join(format!("functions-{rev}"));
    let mut packages = Vec::new();
    for name in &names {
        let dir = keep.join(name);
        std::fs::create_dir_all(&dir)?;
        let zip = dir.join("bootstrap.zip");
        std::fs::copy(built_zip(name), &zip)
            .with_context(|| format!("keeping {name}'s zip from {rev}"))?;
        packages.push(Package {
            name: name.clone(),
            label: format!("{name}@{rev}"),
            zip,
        });
    }
    std::fs::remove_dir_all(&clone)?;
    Ok(packages)
}

/// Unpacks `zip`'s `bootstrap` into `dir`, executable; its size in bytes.
fn unpack(zip: &Path, dir: &Path) -> anyhow::Result<(PathBuf, u64)> {
    std::fs::create_dir_all(dir)?;
    run_program(
        "python3",
        &[
            "-m",
            "zipfile",
            "-e",
            &zip.to_string_lossy(),
            &dir.to_string_lossy(),
        ],
    )?;
    let bootstrap = dir.join("bootstrap");
    let size = std::fs::metadata(&bootstrap)
        .with_context(|| format!("{} holds no bootstrap", zip.display()))?
        .len();
    run_program("chmod", &["+x", &bootstrap.to_string_lossy()])?;
    Ok((bootstrap, size))
}

/// What the Runtime API saw, in order.
#[derive(Debug)]
enum Seen {
    /// A poll for the next event.
    Poll(Instant),
    /// Event `n` handed over.
    Given(usize, Instant),
    /// The response to event `n`.
    Answered(usize, Instant),
    /// An invocation or initialisation error the function reported.
    Failed(String),
}

#[derive(Clone)]
struct RuntimeApi {
    events: Arc<Vec<Value>>,
    given: Arc<tokio::sync::Mutex<usize>>,
    seen: mpsc::UnboundedSender<Seen>,
    function: String,
}

async fn next_event(State(api): State<RuntimeApi>) -> Response {
    let _ = api.seen.send(Seen::Poll(Instant::now()));
    let n = {
        let mut given = api.given.lock().await;
        let n = *given;
        *given += 1;
        n
    };
    let Some(event) = api.events.get(n) else {
        // No more events: the poll stays open until the process is stopped, as Lambda's
        // does while a sandbox is frozen.
        std::future::pending::<()>().await;
        return StatusCode::NO_CONTENT.into_response();
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() + 30_000);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", format!("bench-{n}"));
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            api.function
        ),
    );
    set(
        "lambda-runtime-trace-id",
        format!("Root=1-00000000-{n:024x};Parent=0000000000000001;Sampled=0"),
    );
    let _ = api.seen.send(Seen::Given(n, Instant::now()));
    (StatusCode::OK, headers, axum::Json(event.clone())).into_response()
}

fn request_number(id: &str) -> Option<usize> {
    id.strip_prefix("bench-")?.parse().ok()
}

async fn response(State(api): State<RuntimeApi>, UrlPath(id): UrlPath<String>) -> StatusCode {
    let now = Instant::now();
    let seen = match request_number(&id) {
        Some(n) => Seen::Answered(n, now),
        None => Seen::Failed(format!("a response for an unknown request {id}")),
    };
    let _ = api.seen.send(seen);
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(api): State<RuntimeApi>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = api
        .seen
        .send(Seen::Failed(format!("invocation {id} failed: {body}")));
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<RuntimeApi>, body: String) -> StatusCode {
    let _ = api
        .seen
        .send(Seen::Failed(format!("initialisation failed: {body}")));
    StatusCode::ACCEPTED
}

/// CPU time of every thread of `pid` so far, in ms (`/proc/<pid>/task/*/schedstat`, ns).
fn cpu_ms(pid: u32) -> Option<f64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total as f64 / 1e6)
}

struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bootstrap` once against a fresh Runtime API and measures it.
async fn start_once(
    pinning: &Pinning,
    name: &str,
    bootstrap: &Path,
    env: &[(String, String)],
    event: &Value,
    log: &Path,
) -> anyhow::Result<Start> {
    let (seen, mut observed) = mpsc::unbounded_channel();
    let api = RuntimeApi {
        events: Arc::new(vec![event.clone(); 1 + WARM_EVENTS]),
        given: Arc::default(),
        seen,
        function: name.to_owned(),
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_event))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut command = pinning.server(bootstrap);
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("_HANDLER", "bootstrap")
        .env(
            "LAMBDA_TASK_ROOT",
            bootstrap.parent().unwrap_or(Path::new("/")),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(log)?))
        .stderr(Stdio::from(
            std::fs::OpenOptions::new().append(true).open(log)?,
        ));
    let spawned = Instant::now();
    let child = Stopped(
        command
            .spawn()
            .with_context(|| format!("starting {name}"))?,
    );
    let pid = child.0.id();

    let mut ready = None;
    let mut init_cpu = None;
    let mut given = BTreeMap::new();
    let mut answered = BTreeMap::new();
    while answered.len() < 1 + WARM_EVENTS {
        let seen = tokio::time::timeout(Duration::from_secs(60), observed.recv())
            .await
            .ok()
            .flatten();
        match seen {
            Some(Seen::Poll(at)) => {
                if ready.is_none() {
                    ready = Some(at);
                    init_cpu = cpu_ms(pid);
                }
            }
            Some(Seen::Given(n, at)) => {
                given.insert(n, at);
            }
            Some(Seen::Answered(n, at)) => {
                answered.insert(n, at);
            }
            Some(Seen::Failed(why)) => bail!("{name}: {why} (log: {})", log.display()),
            None => bail!(
                "{name} handled {} of {} events within 60 s (log: {})",
                answered.len(),
                1 + WARM_EVENTS,
                log.display()
            ),
        }
    }
    let peak = status_mb(pid, "VmHWM");
    drop(child);
    server.abort();

    let ready = ready.context("answered before polling")?;
    let took = |n: usize| -> anyhow::Result<f64> {
        let given = given
            .get(&n)
            .context("an answer for an event never given")?;
        let answered = answered.get(&n).context("an event never answered")?;
        Ok(answered.duration_since(*given).as_secs_f64() * 1000.0)
    };
    let mut warm = Vec::new();
    for n in 1..=WARM_EVENTS {
        warm.push(took(n)?);
    }
    Ok(Start {
        init_ms: ready.duration_since(spawned).as_secs_f64() * 1000.0,
        cold_ms: answered
            .get(&0)
            .context("the first event was never answered")?
            .duration_since(spawned)
            .as_secs_f64()
            * 1000.0,
        first_ms: took(0)?,
        warm_ms: median_of(&warm).value,
        init_cpu_ms: init_cpu.unwrap_or(f64::NAN),
        peak_rss_mb: peak.unwrap_or(f64::NAN),
    })
}

/// The event each function is given: an empty SQS batch for the queue consumers, a request
/// answered without AWS calls for the HTTP ones (an admin call without the gateway's
/// signature, a provider callback without a signature), the batch for the baseline.
fn event_for(name: &str) -> Value {
    let http = |path: &str, method: &str| {
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path,
            "rawQueryString": "", "headers": {"content-type": "application/json"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "bench", "domainName": "bench.lambda-url.us-east-1.on.aws",
                "domainPrefix": "bench", "requestId": "bench", "routeKey": "$default", "stage": "$default",
                "time": "07/Dec/2026:00:00:00 +0000", "timeEpoch": 0,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"}
            },
            "body": "{}", "isBase64Encoded": false
        })
    };
    match name {
        "webhook-admin" => http("/admin/webhooks", "GET"),
        "psp-webhook" => http("/", "POST"),
        _ => json!({"Records": []}),
    }
}

/// The environment of every function: what `cargo xtask up` gives them (on moto), plus
/// psp-webhook's signing secret, callback queue and replay table.
async fn environment(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    crate::aws::ensure_moto()?;
    let env_file = dir.join("functions.env");
    let (_, created) = prepare_at(crate::aws::MOTO_URL, crate::aws::MOTO_URL, &env_file).await?;
    let config = function_kit::aws::for_endpoint(crate::aws::MOTO_URL).await;
    put_secret(&config, PSP_SECRET, "whsec_bench").await?;
    let mut env: Vec<(String, String)> = std::fs::read_to_string(&env_file)?
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let queue = created
        .queue_urls
        .get("payments-psp-callbacks")
        .context("moto has no payments-psp-callbacks queue")?;
    let replay = created
        .tables
        .get("psp-callbacks-seen")
        .context("moto has no psp-callbacks-seen table")?;
    env.push(("PSP_WEBHOOK_SECRET_ARN".to_owned(), PSP_SECRET.to_owned()));
    env.push(("PSP_CALLBACKS_QUEUE_URL".to_owned(), queue.clone()));
    env.push(("REPLAY_TABLE".to_owned(), replay.clone()));
    env.retain(|(k, _)| k != "RUST_LOG");
    env.push(("RUST_LOG".to_owned(), "info".to_owned()));
    Ok(env)
}

/// Figures of one package over its starts.
struct Measured {
    package: Package,
    zip_bytes: u64,
    binary_bytes: u64,
    starts: Vec<Start>,
}

impl Measured {
    fn median(&self, field: impl Fn(&Start) -> f64) -> f64 {
        median_of(&self.starts.iter().map(field).collect::<Vec<_>>()).value
    }

    fn figure(&self, what: &str, unit: &str, field: impl Fn(&Start) -> f64) -> Figure {
        let samples: Vec<f64> = self.starts.iter().map(field).collect();
        Figure::measured(
            &format!("{}_{what}", figure_name(&self.package.label)),
            &samples,
            unit,
        )
    }
}

fn figure_name(label: &str) -> String {
    label.replace(['-', '@'], "_")
}

/// `cargo xtask bench functions [--before REV]`.
pub async fn run(pinning: &Pinning, before: Option<&str>) -> anyhow::Result<Vec<Figure>> {
    let mut packages = Vec::new();
    if let Some(rev) = before {
        packages.extend(build_before(rev)?);
    }
    packages.extend(build_current()?);
    let dir = root().join(".local").join("bench").join("functions");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let env = environment(&dir).await?;

    let mut measured = Vec::new();
    for package in &packages {
        let zip_bytes = std::fs::metadata(&package.zip)
            .with_context(|| format!("no zip at {}", package.zip.display()))?
            .len();
        let (_, binary_bytes) = unpack(&package.zip, &dir.join(&package.label))?;
        measured.push(Measured {
            package: package.clone(),
            zip_bytes,
            binary_bytes,
            starts: Vec::new(),
        });
    }
    step(&format!(
        "starting each of {} packages {STARTS} times, interleaved, against a local Runtime API",
        measured.len()
    ));
    for round in 0..STARTS {
        for m in &mut measured {
            let unpacked = dir.join(&m.package.label);
            let start = start_once(
                pinning,
                &m.package.name,
                &unpacked.join("bootstrap"),
                &env,
                &event_for(&m.package.name),
                &unpacked.join(format!("start-{round}.log")),
            )
            .await?;
            m.starts.push(start);
        }
    }

    println!();
    println!(
        "functions as cargo lambda build --release builds them, each started {STARTS} times under a local Runtime API (medians; init = process start to first poll for an event)"
    );
    println!(
        "  {:<30} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7}",
        "", "zip KiB", "bin KiB", "init ms", "init CPU", "1st ms", "cold ms", "warm ms", "RSS MB"
    );
    for m in &measured {
        println!(
            "  {:<30} {:>9.0} {:>9.0} {:>8.1} {:>9.1} {:>8.1} {:>8.1} {:>8.2} {:>7.1}",
            m.package.label,
            m.zip_bytes as f64 / 1024.0,
            m.binary_bytes as f64 / 1024.0,
            m.median(|s| s.init_ms),
            m.median(|s| s.init_cpu_ms),
            m.median(|s| s.first_ms),
            m.median(|s| s.cold_ms),
            m.median(|s| s.warm_ms),
            m.median(|s| s.peak_rss_mb),
        );
    }

    let baseline = measured
        .iter()
        .find(|m| m.package.name == BASELINE)
        .context("the baseline was not measured")?;
    let base_init = baseline.figure("init_ms", "ms", |s| s.init_ms);
    let base_cold = baseline.figure("cold_start_ms", "ms", |s| s.cold_ms);
    let base_zip = Figure::single(
        &format!("{}_zip_bytes", figure_name(BASELINE)),
        baseline.zip_bytes as f64,
        "bytes",
    );
    let mut figures = vec![base_init.clone(), base_cold.clone(), base_zip.clone()];
    for m in measured.iter().filter(|m| m.package.name != BASELINE) {
        let label = figure_name(&m.package.label);
        figures.push(m.figure("init_ms", "ms", |s| s.init_ms).against(&base_init));
        figures.push(
            m.figure("cold_start_ms", "ms", |s| s.cold_ms)
                .against(&base_cold),
        );
        figures.push(m.figure("init_cpu_ms", "ms", |s| s.init_cpu_ms));
        figures.push(m.figure("first_event_ms", "ms", |s| s.first_ms));
        figures.push(m.figure("warm_event_ms", "ms", |s| s.warm_ms));
        figures.push(m.figure("peak_rss_mb", "MB", |s| s.peak_rss_mb));
        figures.push(
            Figure::single(&format!("{label}_zip_bytes"), m.zip_bytes as f64, "bytes")
                .against(&base_zip),
        );
        figures.push(Figure::single(
            &format!("{label}_binary_bytes"),
            m.binary_bytes as f64,
            "bytes",
        ));
    }
    Ok(figures)
}

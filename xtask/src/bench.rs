//! `cargo xtask bench [read|checkout|serverless|all]`: load figures as ratios against a
//! baseline measured in the same run, the way `../shared/BENCHMARKS.md` says. Each group prints
//! a table and writes `.local/bench/<group>.json`; no argument (or `all`) runs every group.
//!
//! - `read`: `GET /products/{id}` answered from cache, directly from catalog, through the
//!   gateway anonymously (its response cache) and signed in (claims and session held in
//!   memory, catalog's first level), against a bare Axum handler returning the same bytes
//!   (`bench-baseline`): `wrk`, 3 runs each, the median, with the CPU each process spent per
//!   request (from `/proc`); p99 at a fixed rate of half the gateway's maximum (`hey`); the
//!   services' resident memory after the load; search latency over the 10,000-product demo
//!   catalog (cache miss, then hit) and over the demo catalog grown to 1,000,000 products with
//!   `COPY` (see `bench_search`); the idle memory of the other four services. Every process runs
//!   the platform's telemetry at its defaults (`info`, one access log line per 100 successful
//!   requests, no new trace sampled): the baseline installs the same subscriber, and has no
//!   request of its own to log.
//! - `checkout`: orders confirmed per second beside `pgbench` TPS, open-loop and idle
//!   accept -> CONFIRMED latency, CPU per order per process (see `bench_checkout`).
//! - `serverless`: order confirmed -> e-mail recorded against the SNS -> SQS hop, on the
//!   platform as `up --release` runs it (see `bench_serverless`).
//! - `functions`: each function's zip size and cold start (process start to ready for its
//!   first event) beside a bare `lambda_runtime` function built the same way, optionally with
//!   another commit's build (`--before REV`) in the same run (see `bench_functions`).
//!
//! `read`, `checkout` and `functions` pin the load generator (this process, `wrk`, `pgbench`)
//! to core 0 and every server (services, PostgreSQL, RabbitMQ, functions) to core 1, and
//! restore the affinities after; `serverless` runs the platform unpinned, as `up` starts it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::demo::{self, DemoCatalog};
use crate::infra::{self, POSTGRES_URL};
use crate::install::ensure_program;
use crate::stack::{spawn_service, stop_pid, wait_ready};
use crate::util::{cargo, root, run as run_program, step, target_dir};

const BENCH_DB: &str = "catalog_bench";
const USERS_BENCH_DB: &str = "users_bench";
const CATALOG_PORT: u16 = 18081;
const USERS_PORT: u16 = 18085;
const BASELINE_PORT: u16 = 18090;
const GATEWAY_PORT: u16 = 18080;
/// wrk settings shared by every run: one thread, 32 connections, 10 s (2 cores: wrk gets one).
const WRK_ARGS: &[&str] = &["-t1", "-c32", "-d10s", "--latency"];
/// Runs per wrk figure; the median is published.
const RUNS: usize = 3;

struct Figures {
    requests_per_second: f64,
    /// Requests completed in the run.
    requests: f64,
    p50_ms: f64,
    p99_ms: f64,
}

struct Stopper(Vec<Child>);

impl Drop for Stopper {
    fn drop(&mut self) {
        for child in &mut self.0 {
            stop_pid(child.id());
            let _ = child.wait();
        }
    }
}

/// The median of some runs, with their range.
#[derive(Debug, Clone, Copy)]
pub struct Median {
    /// The median.
    pub value: f64,
    /// The lowest run.
    pub min: f64,
    /// The highest run.
    pub max: f64,
}

/// The median of `samples` (the upper one of an even count) with the range.
pub fn median_of(samples: &[f64]) -> Median {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Median {
        value: sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
        min: sorted.first().copied().unwrap_or(f64::NAN),
        max: sorted.last().copied().unwrap_or(f64::NAN),
    }
}

/// One published figure (`BENCHMARKS.md`: names are stable once published).
#[derive(Debug, Clone)]
pub struct Figure {
    name: String,
    value: f64,
    range: Option<(f64, f64)>,
    unit: String,
    baseline: Option<(String, f64)>,
}

impl Figure {
    /// The median of several runs, with their range.
    pub fn measured(name: &str, samples: &[f64], unit: &str) -> Self {
        let median = median_of(samples);
        Self {
            name: name.to_owned(),
            value: median.value,
            range: (samples.len() > 1).then_some((median.min, median.max)),
            unit: unit.to_owned(),
            baseline: None,
        }
    }

    /// A value measured once (or derived).
    pub fn single(name: &str, value: f64, unit: &str) -> Self {
        Self {
            name: name.to_owned(),
            value,
            range: None,
            unit: unit.to_owned(),
            baseline: None,
        }
    }

    /// Tracked as a ratio to `baseline`.
    #[must_use]
    pub fn against(mut self, baseline: &Figure) -> Self {
        self.baseline = Some((baseline.name.clone(), baseline.value));
        self
    }

    fn ratio(&self) -> Option<f64> {
        self.baseline.as_ref().map(|(_, base)| self.value / base)
    }

    fn to_json(&self) -> Value {
        let mut figure = json!({"name": self.name, "value": round(self.value), "unit": self.unit});
        if let Some((min, max)) = self.range {
            figure["min"] = json!(round(min));
            figure["max"] = json!(round(max));
        }
        if let (Some((baseline, _)), Some(ratio)) = (&self.baseline, self.ratio()) {
            figure["baseline"] = json!(baseline);
            figure["ratio"] = json!((ratio * 10_000.0).round() / 10_000.0);
        }
        figure
    }

    fn print(&self) {
        let range = self
            .range
            .map(|(min, max)| format!("({} - {})", short(min), short(max)))
            .unwrap_or_default();
        let ratio = self
            .ratio()
            .map(|r| {
                format!(
                    "{r:.3}x {}",
                    self.baseline.as_ref().map_or("", |b| b.0.as_str())
                )
            })
            .unwrap_or_default();
        println!(
            "  {:<44} {:>12} {:<9} {:<24} {}",
            self.name,
            short(self.value),
            self.unit,
            range,
            ratio
        );
    }
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn short(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// The 0..1 percentile of sorted samples (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Where the load generator and the servers run. On two or more cores: the load on core 0,
/// every server on core 1 (PostgreSQL's and RabbitMQ's running processes are moved there for
/// the group and given back every core afterwards).
#[derive(Debug)]
pub struct Pinning {
    cores: usize,
    moved: Vec<u32>,
}

impl Pinning {
    /// Pins this process and the shared servers.
    pub fn apply() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut pinning = Self {
            cores,
            moved: Vec::new(),
        };
        if cores < 2 {
            return Ok(pinning);
        }
        ensure_program("taskset", &["util-linux"])?;
        run_program(
            "taskset",
            &["-a", "-p", "-c", "0", &std::process::id().to_string()],
        )?;
        for comm in ["postgres", "beam.smp"] {
            for pid in crate::bench_checkout::pids_named(comm) {
                if run_program("taskset", &["-a", "-p", "-c", "1", &pid.to_string()]).is_ok() {
                    pinning.moved.push(pid);
                }
            }
        }
        Ok(pinning)
    }

    /// How the cores are shared, as the JSON records it.
    pub fn describe(&self) -> &'static str {
        if self.cores >= 2 {
            "load=0 servers=1"
        } else {
            "none (one core)"
        }
    }

    fn prefix(&self, core: &str) -> Vec<String> {
        if self.cores >= 2 {
            vec!["taskset".into(), "-c".into(), core.into()]
        } else {
            Vec::new()
        }
    }

    /// A load-generating command, on the load core.
    pub fn load(&self, program: &str) -> Command {
        let mut argv = self.prefix("0");
        argv.push(program.to_owned());
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        command
    }

    /// A server command, on the server core.
    pub fn server(&self, binary: &Path) -> Command {
        let prefix = self.prefix("1");
        match prefix.split_first() {
            Some((taskset, args)) => {
                let mut command = Command::new(taskset);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        }
    }

    /// Starts a service binary on the server core (see [`spawn_service`]).
    pub fn spawn_server(
        &self,
        binary: &Path,
        name: &str,
        port: u16,
        database: &str,
        redis_prefix: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<Child> {
        let prefix = self.prefix("1");
        spawn_service(binary, name, port, database, redis_prefix, env, &prefix)
    }
}

impl Drop for Pinning {
    fn drop(&mut self) {
        if self.cores < 2 {
            return;
        }
        let all = format!("0-{}", self.cores - 1);
        for pid in self.moved.iter().copied().chain([std::process::id()]) {
            let _ = run_program("taskset", &["-a", "-p", "-c", &all, &pid.to_string()]);
        }
    }
}

/// TPC-B-like `pgbench` on the platform's PostgreSQL: 16 clients, 10 s; TPS.
pub fn pgbench_tps(pinning: &Pinning) -> anyhow::Result<f64> {
    let db = "pgbench_cobench";
    infra::drop_database(db)?;
    infra::ensure_database(db)?;
    let target = format!("{POSTGRES_URL}/{db}");
    run_program("pgbench", &["-i", "-q", "-s", "10", &target])?;
    let output = pinning
        .load("pgbench")
        .args(["-c", "16", "-j", "1", "-T", "10", &target])
        .stderr(Stdio::null())
        .output()
        .context("running pgbench")?;
    infra::drop_database(db)?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("pgbench printed no tps: {text}"))
}

/// Writes a group's figures to `.local/bench/<group>.json` and prints them.
fn publish(group: &str, pinning: &str, figures: &[Figure]) -> anyhow::Result<()> {
    let commit = run_program("git", &["rev-parse", "--short", "HEAD"])
        .map(|c| c.trim().to_owned())
        .unwrap_or_default();
    let machine = Machine::read();
    let cores = machine.cores;
    let document = json!({
        "group": group,
        "commit": commit,
        "machine": {
            "cores": cores,
            "pinning": pinning,
            "cpu": machine.cpu,
            "clocksource": machine.clocksource,
            "kernel": machine.kernel,
        },
        "figures": figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
    });
    let dir = root().join(".local").join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{group}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&document)? + "\n")?;
    println!();
    println!("{group} (commit {commit}, pinning {pinning}; median of runs, range in brackets):");
    println!(
        "  machine: {} x{cores}, clock source {}, kernel {}",
        machine.cpu, machine.clocksource, machine.kernel
    );
    for figure in figures {
        figure.print();
    }
    println!("  written to {}", path.display());
    Ok(())
}

/// What the figures depend on beyond the code, so runs on different machines can be told
/// apart: sessions land on different hosts, and the same commit has measured 0.43x on one and
/// 0.77x on another. The clock source matters because the services read the clock several
/// times per request: `tsc` is read in user space, others can cost a system call each.
struct Machine {
    /// Every core of the machine (this process is pinned to one while it measures, so
    /// `available_parallelism` would say 1).
    cores: usize,
    cpu: String,
    clocksource: String,
    kernel: String,
}

impl Machine {
    fn read() -> Self {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|text| text.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned())
        };
        let cpuinfo = read("/proc/cpuinfo");
        let cores = cpuinfo
            .lines()
            .filter(|line| {
                line.split(':')
                    .next()
                    .is_some_and(|k| k.trim() == "processor")
            })
            .count()
            .max(1);
        let cpu = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            cores,
            cpu,
            clocksource: read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
            kernel: read("/proc/sys/kernel/osrelease"),
        }
    }
}

const GROUPS: &[&str] = &["read", "checkout", "serverless", "functions"];

/// `cargo xtask bench [group] [--binaries DIR] [--before REV]`: `DIR` holds release binaries
/// to measure instead of this tree's (for before/after figures of another commit's build);
/// `REV` is a commit whose functions the `functions` group builds and measures beside this
/// tree's.
pub async fn run(flags: &[&str]) -> anyhow::Result<()> {
    let mut groups: Vec<&str> = Vec::new();
    let mut binaries: Option<PathBuf> = None;
    let mut before: Option<&str> = None;
    let mut args = flags.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--binaries" => binaries = args.next().map(PathBuf::from),
            "--before" => before = args.next().copied(),
            "all" => groups.extend(GROUPS),
            group if GROUPS.contains(&group) => groups.push(group),
            other => bail!("unknown bench argument {other:?}: groups are {GROUPS:?} or all"),
        }
    }
    if groups.is_empty() {
        groups.extend(GROUPS);
    }
    infra::ensure_all()?;
    ensure_program("wrk", &["wrk"])?;
    ensure_program("hey", &["hey"])?;
    ensure_program("pgbench", &["postgresql"])?;
    let services = groups.iter().any(|g| matches!(*g, "read" | "checkout"));
    let binaries = match binaries {
        Some(dir) => dir,
        None if !services => target_dir().join("release"),
        None => {
            step(
                "building release binaries (catalog, gateway, users, inventory, orders, payments, bridge, bench-baseline)",
            );
            let packages = [
                "-p",
                "catalog",
                "-p",
                "gateway",
                "-p",
                "users",
                "-p",
                "inventory",
                "-p",
                "orders",
                "-p",
                "payments",
                "-p",
                "bridge",
                "-p",
                "bench-baseline",
            ];
            cargo(
                &[&["build", "--release", "--locked"][..], &packages[..]].concat(),
                &[],
            )?;
            target_dir().join("release")
        }
    };
    for group in groups {
        match group {
            "read" => {
                let pinning = Pinning::apply()?;
                let figures = run_read(&binaries, &pinning).await?;
                publish("read", pinning.describe(), &figures)?;
            }
            "checkout" => {
                let pinning = Pinning::apply()?;
                let figures = crate::bench_checkout::run(binaries.clone(), &pinning).await?;
                publish("checkout", pinning.describe(), &figures)?;
            }
            "functions" => {
                let pinning = Pinning::apply()?;
                let figures = crate::bench_functions::run(&pinning, before).await?;
                publish("functions", pinning.describe(), &figures)?;
            }
            _ => {
                let figures = run_serverless().await?;
                publish(
                    "serverless",
                    "none (the platform as `up --release` runs it)",
                    &figures,
                )?;
            }
        }
    }
    Ok(())
}

async fn run_read(release: &Path, pinning: &Pinning) -> anyhow::Result<Vec<Figure>> {
    infra::drop_database(BENCH_DB)?;
    infra::ensure_database(BENCH_DB)?;
    let prefix = format!("bench:{}:", std::process::id());
    let mut catalog = pinning.spawn_server(
        &release.join("catalog"),
        "catalog-bench",
        CATALOG_PORT,
        BENCH_DB,
        &prefix,
        &[],
    )?;
    let client = reqwest::Client::new();
    let catalog_url = format!("http://127.0.0.1:{CATALOG_PORT}");
    wait_ready(&client, "catalog-bench", &catalog_url, &mut catalog).await?;
    infra::drop_database(USERS_BENCH_DB)?;
    infra::ensure_database(USERS_BENCH_DB)?;
    let mut users = pinning.spawn_server(
        &release.join("users"),
        "users-bench",
        USERS_PORT,
        USERS_BENCH_DB,
        &format!("{prefix}users:"),
        &[],
    )?;
    let users_url = format!("http://127.0.0.1:{USERS_PORT}");
    wait_ready(&client, "users-bench", &users_url, &mut users).await?;
    let gateway_env = [
        ("APP__UPSTREAMS__CATALOG__URL", catalog_url.clone()),
        ("APP__UPSTREAMS__USERS__URL", users_url.clone()),
        (
            "APP__AUTH__JWKS_URL",
            format!("{users_url}/.well-known/jwks.json"),
        ),
        // One wrk client is one IP: lift the anonymous quota so the limiter runs but never refuses.
        (
            "APP__RATE_LIMITS__ANONYMOUS__LIMIT",
            "1000000000".to_owned(),
        ),
        (
            "APP__RATE_LIMITS__AUTHENTICATED__LIMIT",
            "1000000000".to_owned(),
        ),
        // The announcements of this catalog's invalidations.
        (
            "APP__RESPONSE_CACHE__INVALIDATION_CHANNEL",
            format!("{prefix}cache:invalidated"),
        ),
    ];
    let mut gateway = pinning.spawn_server(
        &release.join("gateway"),
        "gateway-bench",
        GATEWAY_PORT,
        BENCH_DB,
        &format!("{prefix}gw:"),
        &gateway_env,
    )?;
    let gateway_url = format!("http://127.0.0.1:{GATEWAY_PORT}");
    wait_ready(&client, "gateway-bench", &gateway_url, &mut gateway).await?;
    let mut processes = Stopper(vec![catalog, users, gateway]);
    // Idle: ready and settled, before any load (the figure the memory target is about; the
    // one after the load below holds caches and connection buffers too).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle: Vec<(&str, f64)> = ["catalog", "users", "gateway"]
        .into_iter()
        .zip(&processes.0)
        .filter_map(|(name, child)| rss_mb(child.id()).map(|mb| (name, mb)))
        .collect();

    step(&format!("loading {} demo products", demo::DEMO_PRODUCTS));
    let started = Instant::now();
    demo::load(&client, &catalog_url, demo::DEMO_PRODUCTS).await?;
    println!("    loaded in {:.1} s", started.elapsed().as_secs_f64());

    let page: serde_json::Value = client
        .get(format!("{catalog_url}/products?limit=1"))
        .send()
        .await?
        .json()
        .await?;
    let id = page["items"][0]["id"]
        .as_str()
        .context("no product to benchmark")?
        .to_owned();
    let product_url = format!("{catalog_url}/products/{id}");
    client.get(&product_url).send().await?;
    let warm = client.get(&product_url).send().await?;
    if !matches!(
        warm.headers().get("x-cache").and_then(|v| v.to_str().ok()),
        Some("hit" | "local")
    ) {
        bail!("the product was not served from the cache after warming");
    }
    let body = warm.bytes().await?;
    let body_file = std::env::temp_dir().join(format!("bench-body-{}.json", std::process::id()));
    std::fs::write(&body_file, &body)?;
    let baseline = pinning
        .server(&release.join("bench-baseline"))
        .envs(crate::stack::ALLOCATOR_ENV)
        .arg(BASELINE_PORT.to_string())
        .arg(&body_file)
        .spawn()
        .context("starting bench-baseline")?;
    processes.0.push(baseline);
    let baseline_url = format!("http://127.0.0.1:{BASELINE_PORT}/products/{id}");
    wait_http(&client, &baseline_url).await?;
    let token = shopper_token(&client, &users_url).await?;
    let bearer = format!("Authorization: Bearer {token}");
    // One signed-in request first: the gateway fetches the JWK Set on the first token it sees.
    client
        .get(format!("{gateway_url}/api/v1/products/{id}"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?;

    step(&format!(
        "wrk {} x{RUNS} per target (response body {} bytes)",
        WRK_ARGS.join(" "),
        body.len()
    ));
    let pid = |index: usize| processes.0[index].id();
    let (catalog_pid, gateway_pid, baseline_pid) = (pid(0), pid(2), pid(3));
    let gateway_product = format!("{gateway_url}/api/v1/products/{id}");
    let base = wrk_runs(pinning, &baseline_url, &[], &[("baseline", baseline_pid)])?;
    let hit = wrk_runs(pinning, &product_url, &[], &[("catalog", catalog_pid)])?;
    let through_gateway = wrk_runs(
        pinning,
        &gateway_product,
        &[],
        &[("gateway", gateway_pid), ("catalog", catalog_pid)],
    )?;
    // Signed-in callers are served what anonymous ones stored (catalog marks its pages
    // `public`) but never fill the cache: anonymous browsing, one request a second here, keeps
    // the hot product in it, as it does in a shop.
    let browsing = {
        let client = client.clone();
        let url = gateway_product.clone();
        tokio::spawn(async move {
            loop {
                let _ = client.get(&url).send().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let signed_in = wrk_runs(
        pinning,
        &gateway_product,
        &["-H", &bearer],
        &[("gateway", gateway_pid), ("catalog", catalog_pid)],
    );
    browsing.abort();
    let signed_in = signed_in?;
    // Latency at an offered rate the gateway can keep: half its maximum, `hey` holding the rate.
    let half = (through_gateway.requests_per_second / 2.0).round();
    step(&format!(
        "hey at a fixed {half:.0} requests/s through the gateway"
    ));
    let mut fixed = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        fixed.push(hey_fixed_rate(pinning, &gateway_product, half)?);
    }
    let fixed_p99: Vec<f64> = fixed.iter().map(|f| f.p99_ms).collect();
    let fixed_rps: Vec<f64> = fixed.iter().map(|f| f.requests_per_second).collect();
    // Settled: what each release service holds once the load is over.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss: Vec<(&str, f64)> = [
        ("catalog", catalog_pid),
        ("users", pid(1)),
        ("gateway", gateway_pid),
    ]
    .into_iter()
    .filter_map(|(name, pid)| rss_mb(pid).map(|mb| (name, mb)))
    .collect();

    step("search latency over the demo catalog");
    let terms = DemoCatalog::search_terms();
    let cold = measure_searches(&client, &catalog_url, &terms).await?;
    let hot = measure_searches(&client, &catalog_url, &terms).await?;
    if cold.failed + hot.failed > 0 {
        bail!(
            "{} searches over the demo catalog failed",
            cold.failed + hot.failed
        );
    }
    let (cold, hot) = (cold.samples, hot.samples);

    let grown = crate::bench_search::grow_catalog(
        &format!("{POSTGRES_URL}/{BENCH_DB}"),
        crate::bench_search::MILLION,
    )
    .await?;
    // Every answer cached so far is of the small catalog: a new generation in Redis, and the
    // announcement that empties catalog's first level.
    for command in [
        vec!["INCR".to_owned(), format!("{prefix}cache:gen")],
        vec![
            "PUBLISH".to_owned(),
            format!("{prefix}cache:invalidated"),
            "bench".to_owned(),
        ],
    ] {
        let mut args = vec!["-u", infra::REDIS_URL];
        args.extend(command.iter().map(String::as_str));
        run_program("redis-cli", &args)?;
    }
    step(&format!(
        "search latency over {} products",
        crate::bench_search::MILLION
    ));
    let million = measure_searches(&client, &catalog_url, &terms).await?;

    let rest = idle_rss_of_the_rest(release, pinning, &client).await?;
    drop(processes);
    let _ = std::fs::remove_file(&body_file);
    infra::drop_database(BENCH_DB)?;
    infra::drop_database(USERS_BENCH_DB)?;

    println!();
    println!(
        "GET /products/{{id}} (cache hit) directly, and as /api/v1/products/{{id}} through the gateway, vs a bare Axum handler with the same {} bytes; median of {RUNS} runs, CPU per request from /proc",
        body.len()
    );
    println!(
        "  {:<28} {:>12} {:>10} {:>10}  CPU us/request",
        "", "requests/s", "p50 ms", "p99 ms"
    );
    let rows = [
        ("bare axum (baseline)", &base),
        ("catalog direct (cache hit)", &hit),
        ("gateway anonymous", &through_gateway),
        ("gateway signed in", &signed_in),
    ];
    for (name, f) in rows {
        let cpu: Vec<String> = f
            .cpu_us_per_request
            .iter()
            .map(|(process, us)| format!("{process} {us:.1}"))
            .collect();
        println!(
            "  {name:<28} {:>12.0} {:>10.3} {:>10.3}  {}",
            f.requests_per_second,
            f.p50_ms,
            f.p99_ms,
            cpu.join(", ")
        );
    }
    for (name, f, against) in [
        ("catalog/baseline", &hit, &base),
        ("gateway anonymous/baseline", &through_gateway, &base),
        ("gateway signed in/baseline", &signed_in, &base),
    ] {
        println!(
            "  ratio {name}: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x",
            f.requests_per_second / against.requests_per_second,
            f.p50_ms / against.p50_ms,
            f.p99_ms / against.p99_ms
        );
    }
    println!(
        "  gateway anonymous at a fixed {half:.0}/s (half its maximum): achieved {:.0}/s, p99 {:.3} ms",
        median_of(&fixed_rps).value,
        median_of(&fixed_p99).value
    );
    println!();
    println!(
        "Resident memory, settled 5 s: idle after start; catalog, users and gateway also after the load above"
    );
    for (name, mb) in idle.iter().chain(&rest) {
        let after = rss
            .iter()
            .find(|(n, _)| n == name)
            .map_or(String::new(), |(_, mb)| {
                format!("{mb:>8.1} MB after the load")
            });
        println!("  {name:<28} {mb:>8.1} MB idle  {after}");
    }
    let idle_mb: f64 = idle.iter().chain(&rest).map(|(_, mb)| mb).sum();
    let total_mb: f64 = rss.iter().chain(&rest).map(|(_, mb)| mb).sum();
    println!(
        "  {:<28} {idle_mb:>8.1} MB idle  {total_mb:>8.1} MB with catalog, users and gateway after the load ({} services)",
        "all",
        idle.len() + rest.len()
    );
    println!();
    println!(
        "GET /products?q=... over {} products, {} distinct queries, sequential",
        demo::DEMO_PRODUCTS,
        terms.len()
    );
    println!(
        "  {:<28} {:>10} {:>10} {:>10}",
        "", "p50 ms", "p95 ms", "p99 ms"
    );
    for (name, samples) in [
        ("cache miss (PostgreSQL)", &cold),
        ("cache hit (Redis)", &hot),
    ] {
        println!(
            "  {name:<28} {:>10.3} {:>10.3} {:>10.3}",
            percentile(samples, 0.50),
            percentile(samples, 0.95),
            percentile(samples, 0.99)
        );
    }
    println!(
        "  ratio miss/hit p50: {:.1}x",
        percentile(&cold, 0.50) / percentile(&hot, 0.50)
    );
    let million_cold = million.samples;
    let million_failed = million.failed;
    println!(
        "GET /products?q=... over {} products, the same {} queries (the demo catalog grown by COPY: {} rows in {:.1} s, GIN indexes and ANALYZE {:.1} s)",
        crate::bench_search::MILLION,
        terms.len(),
        grown.added,
        grown.copy_s,
        grown.index_s
    );
    println!(
        "  {:<28} {:>10.3} {:>10.3} {:>10.3}",
        "cache miss (PostgreSQL)",
        percentile(&million_cold, 0.50),
        percentile(&million_cold, 0.95),
        percentile(&million_cold, 0.99)
    );
    let slowest: Vec<String> = million
        .slowest
        .iter()
        .map(|(ms, term)| format!("{term:?} {ms:.1} ms"))
        .collect();
    println!("  slowest: {}", slowest.join(", "));
    println!(
        "  {million_failed} of {} queries failed (catalog's statement timeout is 5 s; their time is in the percentiles)",
        million_cold.len()
    );
    let base_rps = Figure::measured("bare_axum_rps", &base.rps_runs, "req/s");
    let mut figures = vec![
        base_rps.clone(),
        Figure::measured("catalog_direct_cache_hit_rps", &hit.rps_runs, "req/s").against(&base_rps),
        Figure::measured(
            "gateway_anonymous_cache_hit_rps",
            &through_gateway.rps_runs,
            "req/s",
        )
        .against(&base_rps),
        Figure::measured("gateway_signed_in_read_rps", &signed_in.rps_runs, "req/s")
            .against(&base_rps),
        Figure::measured("gateway_cache_hit_p99_ms", &through_gateway.p99_runs, "ms"),
        Figure::measured("gateway_signed_in_p99_ms", &signed_in.p99_runs, "ms"),
        Figure::measured("gateway_p99_at_half_max_ms", &fixed_p99, "ms"),
        Figure::measured("gateway_half_max_achieved_rps", &fixed_rps, "req/s"),
        Figure::single("search_cache_miss_p50_ms", percentile(&cold, 0.50), "ms"),
        Figure::single("search_cache_miss_p95_ms", percentile(&cold, 0.95), "ms"),
        Figure::single("search_cache_miss_p99_ms", percentile(&cold, 0.99), "ms"),
        Figure::single("search_cache_hit_p95_ms", percentile(&hot, 0.95), "ms"),
        Figure::single(
            "search_1m_cache_miss_p50_ms",
            percentile(&million_cold, 0.50),
            "ms",
        ),
        Figure::single(
            "search_1m_cache_miss_p95_ms",
            percentile(&million_cold, 0.95),
            "ms",
        ),
        Figure::single(
            "search_1m_cache_miss_p99_ms",
            percentile(&million_cold, 0.99),
            "ms",
        ),
        Figure::single("search_1m_failed_queries", million_failed as f64, "queries"),
        Figure::single("search_1m_queries", million_cold.len() as f64, "queries"),
    ];
    for (target, f) in [
        ("baseline", &base),
        ("catalog_direct", &hit),
        ("gateway_anonymous", &through_gateway),
        ("gateway_signed_in", &signed_in),
    ] {
        for (process, us) in &f.cpu_us_per_request {
            figures.push(Figure::single(
                &format!("{target}_cpu_us_per_request_{process}"),
                *us,
                "us",
            ));
        }
    }
    for (name, mb) in rss {
        figures.push(Figure::single(
            &format!("rss_after_load_mb_{name}"),
            mb,
            "MB",
        ));
    }
    for (name, mb) in idle.into_iter().chain(rest) {
        figures.push(Figure::single(&format!("rss_idle_mb_{name}"), mb, "MB"));
    }
    figures.push(Figure::single("rss_idle_all_services_mb", idle_mb, "MB"));
    figures.push(Figure::single("rss_all_services_mb", total_mb, "MB"));
    Ok(figures)
}

/// The resident memory of the services `read` does not load (inventory, orders, payments,
/// bridge), each started on a database of its own and a RabbitMQ virtual host of its own
/// (the bridge with a topic on moto), ready, then settled 5 s. Removes what it created.
async fn idle_rss_of_the_rest(
    release: &Path,
    pinning: &Pinning,
    client: &reqwest::Client,
) -> anyhow::Result<Vec<(&'static str, f64)>> {
    const REST: [(&str, u16); 4] = [
        ("inventory", 18282),
        ("orders", 18283),
        ("payments", 18284),
        ("bridge", 18286),
    ];
    step("idle memory of inventory, orders, payments and bridge");
    let tag = std::process::id();
    let vhost = format!("bench-rss-{tag}");
    run_program("rabbitmqctl", &["-q", "add_vhost", &vhost])?;
    run_program(
        "rabbitmqctl",
        &[
            "-q",
            "set_permissions",
            "-p",
            &vhost,
            "guest",
            ".*",
            ".*",
            ".*",
        ],
    )?;
    let config = function_kit::aws::for_endpoint(crate::aws::MOTO_URL).await;
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns
        .create_topic()
        .name(format!("bench-rss-{tag}"))
        .send()
        .await
        .context("creating the bridge's topic on moto")?
        .topic_arn()
        .map(str::to_owned)
        .context("moto returned no topic ARN")?;
    let measured = async {
        let mut processes = Stopper(Vec::new());
        for (name, port) in REST {
            let database = format!("{name}_rssbench");
            infra::drop_database(&database)?;
            infra::ensure_database(&database)?;
            let mut env = vec![(
                "APP__AMQP__URL",
                format!("amqp://guest:guest@127.0.0.1:5672/{vhost}"),
            )];
            if name == "bridge" {
                env.push(("APP__SNS__TOPIC_ARN", topic.clone()));
                for (key, value) in crate::aws::SDK_ENV {
                    env.push((key, (*value).to_owned()));
                }
            }
            let mut child = pinning.spawn_server(
                &release.join(name),
                &format!("{name}-rssbench"),
                port,
                &database,
                &format!("bench:{tag}:rss:{name}:"),
                &env,
            )?;
            wait_ready(
                client,
                name,
                &format!("http://127.0.0.1:{port}"),
                &mut child,
            )
            .await?;
            processes.0.push(child);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rss: Vec<(&'static str, f64)> = REST
            .iter()
            .zip(&processes.0)
            .filter_map(|((name, _), child)| rss_mb(child.id()).map(|mb| (*name, mb)))
            .collect();
        drop(processes);
        anyhow::Ok(rss)
    }
    .await;
    for (name, _) in REST {
        let _ = infra::drop_database(&format!("{name}_rssbench"));
    }
    let _ = sns.delete_topic().topic_arn(&topic).send().await;
    let _ = run_program("rabbitmqctl", &["-q", "delete_vhost", &vhost]);
    measured
}

/// The median figures of [`RUNS`] wrk runs against one URL, with the CPU each listed process
/// spent per request over those runs.
struct Runs {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    rps_runs: Vec<f64>,
    p99_runs: Vec<f64>,
    cpu_us_per_request: Vec<(&'static str, f64)>,
}

fn wrk_runs(
    pinning: &Pinning,
    url: &str,
    extra: &[&str],
    processes: &[(&'static str, u32)],
) -> anyhow::Result<Runs> {
    let ticks = |pid: u32| crate::bench_checkout::cpu_ticks(pid).unwrap_or(0);
    let before: Vec<u64> = processes.iter().map(|(_, pid)| ticks(*pid)).collect();
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        runs.push(wrk(pinning, url, extra)?);
    }
    let requests: f64 = runs.iter().map(|f| f.requests).sum();
    let tick_us = 1e6 / crate::bench_checkout::clock_ticks_per_second();
    let cpu_us_per_request = processes
        .iter()
        .zip(before)
        .map(|((name, pid), before)| {
            let spent = ticks(*pid).saturating_sub(before) as f64 * tick_us;
            (*name, spent / requests.max(1.0))
        })
        .collect();
    let rps_runs: Vec<f64> = runs.iter().map(|f| f.requests_per_second).collect();
    let p50_runs: Vec<f64> = runs.iter().map(|f| f.p50_ms).collect();
    let p99_runs: Vec<f64> = runs.iter().map(|f| f.p99_ms).collect();
    Ok(Runs {
        requests_per_second: median_of(&rps_runs).value,
        p50_ms: median_of(&p50_runs).value,
        p99_ms: median_of(&p99_runs).value,
        rps_runs,
        p99_runs,
        cpu_us_per_request,
    })
}

/// `hey` with 16 workers holding `rate` requests per second between them for 10 s.
fn hey_fixed_rate(pinning: &Pinning, url: &str, rate: f64) -> anyhow::Result<Figures> {
    const WORKERS: f64 = 16.0;
    let per_worker = format!("{:.3}", rate / WORKERS);
    let output = pinning
        .load("hey")
        .args(["-z", "10s", "-c", "16", "-q", &per_worker])
        .arg(url)
        .output()
        .context("running hey")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "hey failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_hey(&text).with_context(|| format!("cannot read hey output:\n{text}"))
}

fn parse_hey(text: &str) -> Option<Figures> {
    let mut p50 = None;
    let mut p99 = None;
    let mut rps = None;
    let mut requests = None;
    for line in text.lines().map(str::trim) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["50%", "in", secs, ..] => p50 = secs.parse::<f64>().ok().map(|s| s * 1000.0),
            ["99%", "in", secs, ..] => p99 = secs.parse::<f64>().ok().map(|s| s * 1000.0),
            ["Requests/sec:", value, ..] => rps = value.parse().ok(),
            [count, "responses"] | ["[200]", count, "responses"] => {
                requests = count.parse().ok();
            }
            _ => {}
        }
    }
    if text.contains("Error distribution") {
        return None;
    }
    Some(Figures {
        requests_per_second: rps?,
        requests: requests.unwrap_or(0.0),
        p50_ms: p50?,
        p99_ms: p99?,
    })
}

/// Registers a shopper with users and signs in; the access token.
async fn shopper_token(client: &reqwest::Client, users_url: &str) -> anyhow::Result<String> {
    let email = format!("bench-{}@example.com", std::process::id());
    let password = "bench password 1234";
    let registered = client
        .post(format!("{users_url}/auth/register"))
        .json(&json!({"email": email, "password": password, "name": "Bench"}))
        .send()
        .await?;
    if !registered.status().is_success() {
        bail!(
            "registering the bench shopper answered {}",
            registered.status()
        );
    }
    let login: Value = client
        .post(format!("{users_url}/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    login["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access token in the login answer")
}

/// Resident memory of a process, in MB.
fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS")
}

/// A memory field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, ...), in MB.
pub fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The serverless group on the platform as `up --release` runs it.
async fn run_serverless() -> anyhow::Result<Vec<Figure>> {
    if crate::stack::running() {
        bail!(
            "the serverless benchmark starts the platform itself: stop it with `cargo xtask down`"
        );
    }
    step("starting the platform (up --detach --release)");
    crate::stack::up(&crate::stack::UpOptions::for_bench()).await?;
    let (_, created) = crate::functions::prepare().await?;
    let serverless = crate::bench_serverless::run_serverless(&created.topic_arn).await;
    crate::stack::down()?;
    let serverless = serverless?;
    println!();
    println!(
        "event to email: order CONFIRMED (timeline) -> email recorded in moto, {} orders, sequential; vs SNS publish -> SQS receive on moto",
        serverless.orders
    );
    println!(
        "  event -> email p50 ms          {:>10.1}",
        serverless.email_p50_ms
    );
    println!(
        "  event -> email p95 ms          {:>10.1}",
        serverless.email_p95_ms
    );
    println!(
        "  SNS -> SQS hop p50 ms          {:>10.1}",
        serverless.hop_p50_ms
    );
    println!(
        "  ratio event->email p50 / hop p50: {:.1}x",
        serverless.email_p50_ms / serverless.hop_p50_ms
    );

    let hop = Figure::single("sns_to_sqs_hop_p50_ms", serverless.hop_p50_ms, "ms");
    let figures = vec![
        hop.clone(),
        Figure::single("event_to_email_p50_ms", serverless.email_p50_ms, "ms").against(&hop),
        Figure::single("event_to_email_p95_ms", serverless.email_p95_ms, "ms").against(&hop),
    ];
    Ok(figures)
}

async fn wait_http(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if client.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not answer")
}

/// Sequential searches: every answer's time (sorted), how many failed, the five slowest.
struct SearchTimes {
    samples: Vec<f64>,
    failed: usize,
    slowest: Vec<(f64, String)>,
}

/// One search per term, in order. A failed answer (an error status, or no answer within
/// 10 s, twice catalog's statement timeout) is counted and its time kept, so one slow query
/// cannot stop the run.
async fn measure_searches(
    client: &reqwest::Client,
    base: &str,
    terms: &[String],
) -> anyhow::Result<SearchTimes> {
    let mut timed = Vec::with_capacity(terms.len());
    let mut failed = 0;
    for term in terms {
        let url =
            reqwest::Url::parse_with_params(&format!("{base}/products"), &[("q", term.as_str())])?;
        let started = Instant::now();
        let answered = match client
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
        {
            Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        if !answered {
            failed += 1;
        }
        timed.push((started.elapsed().as_secs_f64() * 1000.0, term.clone()));
    }
    let mut samples: Vec<f64> = timed.iter().map(|(ms, _)| *ms).collect();
    samples.sort_by(f64::total_cmp);
    timed.sort_by(|a, b| b.0.total_cmp(&a.0));
    timed.truncate(5);
    Ok(SearchTimes {
        samples,
        failed,
        slowest: timed,
    })
}

fn wrk(pinning: &Pinning, url: &str, extra: &[&str]) -> anyhow::Result<Figures> {
    let output = pinning
        .load("wrk")
        .args(WRK_ARGS)
        .args(extra)
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        bail!("wrk saw errors against {url}:\n{text}");
    }
    parse_wrk(&text).with_context(|| format!("cannot read wrk output:\n{text}"))
}

fn parse_wrk(text: &str) -> Option<Figures> {
    let mut p50 = None;
    let mut p99 = None;
    let mut rps = None;
    let mut requests = None;
    for line in text.lines().map(str::trim) {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some("50%"), Some(value)) => p50 = parse_duration_ms(value),
            (Some("99%"), Some(value)) => p99 = parse_duration_ms(value),
            (Some("Requests/sec:"), Some(value)) => rps = value.parse().ok(),
            (Some(count), Some("requests")) => requests = count.parse().ok(),
            _ => {}
        }
    }
    Some(Figures {
        requests_per_second: rps?,
        requests: requests?,
        p50_ms: p50?,
        p99_ms: p99?,
    })
}

fn parse_duration_ms(value: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_described() {
        let machine = Machine::read();
        assert_ne!(machine.cpu, "unknown", "no model name in /proc/cpuinfo");
        assert_eq!(
            Some(machine.cores),
            std::thread::available_parallelism()
                .ok()
                .map(std::num::NonZero::get),
            "unpinned, the cores counted are the cores this process may use"
        );
        assert!(!machine.cpu.contains(':'));
        assert_ne!(machine.clocksource, "unknown");
        assert!(
            machine
                .kernel
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        );
    }

    #[test]
    fn wrk_output_is_read() {
        let text = "Running 10s test\n  Latency Distribution\n     50%  635.00us\n     75%    1.10ms\n     90%    2.00ms\n     99%    1.23s\n  412345 requests in 10.00s\nRequests/sec:  41234.56\nTransfer/sec: 12.00MB\n";
        let f = parse_wrk(text).unwrap();
        assert!((f.p50_ms - 0.635).abs() < 1e-9);
        assert!((f.p99_ms - 1230.0).abs() < 1e-9);
        assert!((f.requests - 412_345.0).abs() < 1e-9);
        assert!((f.requests_per_second - 41234.56).abs() < 1e-9);
    }

    #[test]
    fn hey_output_is_read() {
        let text = "\nSummary:\n  Total:\t10.0012 secs\n  Requests/sec:\t9998.1234\n\nLatency distribution:\n  10% in 0.0003 secs\n  50% in 0.0005 secs\n  99% in 0.0021 secs\n\nStatus code distribution:\n  [200]\t99990 responses\n";
        let f = parse_hey(text).unwrap();
        assert!((f.p50_ms - 0.5).abs() < 1e-9);
        assert!((f.p99_ms - 2.1).abs() < 1e-9);
        assert!((f.requests - 99_990.0).abs() < 1e-9);
        assert!((f.requests_per_second - 9998.1234).abs() < 1e-9);
    }
}

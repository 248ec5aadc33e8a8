//! `cargo xtask bench [read|checkout|serverless|all]`: load figures as ratios against a
//! baseline measured in the same run, the way `../shared/BENCHMARKS.md` says. Each group prints
//! a table and writes `.local/bench/<group>.json`; no argument (or `all`) runs every group.
//!
//! - `read`: `GET /products/{id}` answered from the cache, directly and through the gateway,
//!   against a bare Axum handler returning the same bytes (`bench-baseline`), all driven by
//!   `wrk`; search latency over the 10,000-product demo catalog (cache miss, then hit).
//! - `checkout`: orders confirmed per second beside `pgbench` TPS, open-loop and idle
//!   accept -> CONFIRMED latency, CPU per order per process (see `bench_checkout`).
//! - `serverless`: function cold starts, and order confirmed -> e-mail recorded against the
//!   SNS -> SQS hop, on the platform as `up --release` runs it (see `bench_serverless`).
//!
//! `read` and `checkout` pin the load generator (this process, `wrk`, `pgbench`) to core 0 and
//! every server (services, PostgreSQL, RabbitMQ) to core 1, and restore the affinities after;
//! `serverless` runs the platform unpinned, as `up` starts it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::demo::{self, DemoCatalog};
use crate::infra::{self, POSTGRES_URL, ensure_program};
use crate::stack::{spawn_service, stop_pid, wait_ready};
use crate::util::{cargo, root, run as run_program, step, target_dir};

const BENCH_DB: &str = "catalog_bench";
const CATALOG_PORT: u16 = 18081;
const BASELINE_PORT: u16 = 18090;
const GATEWAY_PORT: u16 = 18080;
/// wrk settings shared by every run: one thread, 32 connections, 10 s (2 cores: wrk gets one).
const WRK_ARGS: &[&str] = &["-t1", "-c32", "-d10s", "--latency"];

struct Figures {
    requests_per_second: f64,
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
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let document = json!({
        "group": group,
        "commit": commit,
        "machine": {"cores": cores, "pinning": pinning},
        "figures": figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
    });
    let dir = root().join(".local").join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{group}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&document)? + "\n")?;
    println!();
    println!("{group} (commit {commit}, pinning {pinning}; median of runs, range in brackets):");
    for figure in figures {
        figure.print();
    }
    println!("  written to {}", path.display());
    Ok(())
}

const GROUPS: &[&str] = &["read", "checkout", "serverless"];

/// `cargo xtask bench [group] [--binaries DIR]`: `DIR` holds release binaries to measure
/// instead of this tree's (for before/after figures of another commit's build).
pub async fn run(flags: &[&str]) -> anyhow::Result<()> {
    let mut groups: Vec<&str> = Vec::new();
    let mut binaries: Option<PathBuf> = None;
    let mut args = flags.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--binaries" => binaries = args.next().map(PathBuf::from),
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
    ensure_program("pgbench", &["postgresql"])?;
    let binaries = match binaries {
        Some(dir) => dir,
        None => {
            step(
                "building release binaries (catalog, gateway, users, inventory, orders, payments, bench-baseline)",
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
    let gateway_env = [
        ("APP__UPSTREAMS__CATALOG__URL", catalog_url.clone()),
        // One wrk client is one IP: lift the anonymous quota so the limiter runs but never refuses.
        (
            "APP__RATE_LIMITS__ANONYMOUS__LIMIT",
            "1000000000".to_owned(),
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
    let mut processes = Stopper(vec![catalog, gateway]);

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
    if warm.headers().get("x-cache").and_then(|v| v.to_str().ok()) != Some("hit") {
        bail!("the product was not served from the cache after warming");
    }
    let body = warm.bytes().await?;
    let body_file = std::env::temp_dir().join(format!("bench-body-{}.json", std::process::id()));
    std::fs::write(&body_file, &body)?;
    let baseline = pinning
        .server(&release.join("bench-baseline"))
        .arg(BASELINE_PORT.to_string())
        .arg(&body_file)
        .spawn()
        .context("starting bench-baseline")?;
    processes.0.push(baseline);
    let baseline_url = format!("http://127.0.0.1:{BASELINE_PORT}/products/{id}");
    wait_http(&client, &baseline_url).await?;

    step(&format!(
        "wrk {} (response body {} bytes)",
        WRK_ARGS.join(" "),
        body.len()
    ));
    let base = wrk(pinning, &baseline_url)?;
    let hit = wrk(pinning, &product_url)?;
    let through_gateway = wrk(pinning, &format!("{gateway_url}/api/v1/products/{id}"))?;

    step("search latency over the demo catalog");
    let terms = DemoCatalog::search_terms();
    let cold = measure_searches(&client, &catalog_url, &terms).await?;
    let hot = measure_searches(&client, &catalog_url, &terms).await?;

    drop(processes);
    let _ = std::fs::remove_file(&body_file);
    infra::drop_database(BENCH_DB)?;

    println!();
    println!(
        "GET /products/{{id}} (cache hit) directly, and as /api/v1/products/{{id}} through the gateway, vs a bare Axum handler with the same {} bytes",
        body.len()
    );
    println!(
        "  {:<28} {:>12} {:>10} {:>10}",
        "", "requests/s", "p50 ms", "p99 ms"
    );
    let rows = [
        ("bare axum (baseline)", &base),
        ("catalog direct (cache hit)", &hit),
        ("gateway -> catalog", &through_gateway),
    ];
    for (name, f) in rows {
        println!(
            "  {name:<28} {:>12.0} {:>10.3} {:>10.3}",
            f.requests_per_second, f.p50_ms, f.p99_ms
        );
    }
    let ratios = [
        ("catalog/baseline", &hit, &base),
        ("gateway/baseline", &through_gateway, &base),
        ("gateway/catalog", &through_gateway, &hit),
    ];
    for (name, f, against) in ratios {
        println!(
            "  ratio {name}: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x",
            f.requests_per_second / against.requests_per_second,
            f.p50_ms / against.p50_ms,
            f.p99_ms / against.p99_ms
        );
    }
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
    let mut figures = vec![
        Figure::single("bare_axum_rps", base.requests_per_second, "req/s"),
        Figure::single(
            "catalog_direct_cache_hit_rps",
            hit.requests_per_second,
            "req/s",
        ),
        Figure::single(
            "gateway_anonymous_cache_hit_rps",
            through_gateway.requests_per_second,
            "req/s",
        ),
        Figure::single("gateway_cache_hit_p99_ms", through_gateway.p99_ms, "ms"),
        Figure::single("search_cache_miss_p95_ms", percentile(&cold, 0.95), "ms"),
        Figure::single("search_cache_hit_p95_ms", percentile(&hot, 0.95), "ms"),
    ];
    let base_figure = figures[0].clone();
    figures[1] = figures[1].clone().against(&base_figure);
    figures[2] = figures[2].clone().against(&base_figure);
    Ok(figures)
}

/// The serverless group on the platform as `up --release` runs it.
async fn run_serverless() -> anyhow::Result<Vec<Figure>> {
    if crate::stack::running() {
        bail!(
            "the serverless benchmark starts the platform itself: stop it with `cargo xtask down`"
        );
    }
    step("starting the platform (up --detach --release)");
    // `up` invokes each function once (cargo lambda builds it with its own feature set);
    // restarting cargo lambda then leaves built binaries with no running instance.
    crate::stack::up(&crate::stack::UpOptions::for_bench()).await?;
    crate::stack::restart_functions(true).await?;
    let (_, created) = crate::functions::prepare().await?;
    let serverless = crate::bench_serverless::run_serverless(&created.topic_arn).await;
    crate::stack::down()?;
    let serverless = serverless?;
    println!();
    println!(
        "functions under cargo lambda watch --release, binaries built: first invocation after a restart (cargo lambda's up-to-date check, process start, AWS clients, first event) vs warm (median of 5)"
    );
    println!(
        "  {:<20} {:>10} {:>10} {:>8}",
        "", "cold ms", "warm ms", "ratio"
    );
    for (function, cold, warm) in &serverless.cold_starts {
        println!(
            "  {function:<20} {cold:>10.1} {warm:>10.1} {:>7.1}x",
            cold / warm
        );
    }
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
    let mut figures = vec![
        hop.clone(),
        Figure::single("event_to_email_p50_ms", serverless.email_p50_ms, "ms").against(&hop),
        Figure::single("event_to_email_p95_ms", serverless.email_p95_ms, "ms").against(&hop),
    ];
    for (function, cold, warm) in &serverless.cold_starts {
        let name = function.replace('-', "_");
        let warm = Figure::single(&format!("{name}_warm_invoke_ms"), *warm, "ms");
        figures.push(Figure::single(&format!("{name}_cold_start_ms"), *cold, "ms").against(&warm));
        figures.push(warm);
    }
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

async fn measure_searches(
    client: &reqwest::Client,
    base: &str,
    terms: &[String],
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(terms.len());
    for term in terms {
        let url =
            reqwest::Url::parse_with_params(&format!("{base}/products"), &[("q", term.as_str())])?;
        let started = Instant::now();
        let response = client.get(url).send().await?;
        let status = response.status();
        response.bytes().await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            bail!("search for {term:?} answered {status}");
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}

fn wrk(pinning: &Pinning, url: &str) -> anyhow::Result<Figures> {
    let output = pinning
        .load("wrk")
        .args(WRK_ARGS)
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
    for line in text.lines().map(str::trim) {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some("50%"), Some(value)) => p50 = parse_duration_ms(value),
            (Some("99%"), Some(value)) => p99 = parse_duration_ms(value),
            (Some("Requests/sec:"), Some(value)) => rps = value.parse().ok(),
            _ => {}
        }
    }
    Some(Figures {
        requests_per_second: rps?,
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
    fn wrk_output_is_read() {
        let text = "Running 10s test\n  Latency Distribution\n     50%  635.00us\n     75%    1.10ms\n     90%    2.00ms\n     99%    1.23s\n  412345 requests in 10.00s\nRequests/sec:  41234.56\nTransfer/sec: 12.00MB\n";
        let f = parse_wrk(text).unwrap();
        assert!((f.p50_ms - 0.635).abs() < 1e-9);
        assert!((f.p99_ms - 1230.0).abs() < 1e-9);
        assert!((f.requests_per_second - 41234.56).abs() < 1e-9);
    }
}

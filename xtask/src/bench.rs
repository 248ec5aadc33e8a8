//! `cargo xtask bench`: load figures as ratios against a baseline measured in the same run.
//!
//! 1. `GET /products/{id}` answered from the cache, against a bare Axum handler returning the
//!    same bytes (the `bench-baseline` binary), both release builds, both driven by `wrk` with
//!    the same settings: the ratio is the figure we track.
//! 2. Search latency over the 10,000-product demo catalog: distinct shopper queries (each a
//!    cache miss, so PostgreSQL does the search), then the same queries again (cache hits).
//! 3. Checkout throughput and accept-to-confirmed latency beside `pgbench` TPS (see
//!    `bench_checkout`).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::demo::{self, DemoCatalog};
use crate::infra::{self, ensure_program};
use crate::stack::{spawn_service, stop_pid, wait_ready};
use crate::util::{cargo, step, target_dir};

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

/// Runs every benchmark and prints the figures.
pub async fn run() -> anyhow::Result<()> {
    infra::ensure_all()?;
    ensure_program("wrk", &["wrk"])?;
    ensure_program("pgbench", &["postgresql"])?;
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
    let release = target_dir().join("release");

    infra::drop_database(BENCH_DB)?;
    infra::ensure_database(BENCH_DB)?;
    let prefix = format!("bench:{}:", std::process::id());
    let mut catalog = spawn_service(
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
    let mut gateway = spawn_service(
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
    let baseline = Command::new(release.join("bench-baseline"))
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
    let base = wrk(&baseline_url)?;
    let hit = wrk(&product_url)?;
    let through_gateway = wrk(&format!("{gateway_url}/api/v1/products/{id}"))?;

    step("search latency over the demo catalog");
    let terms = DemoCatalog::search_terms();
    let cold = measure_searches(&client, &catalog_url, &terms).await?;
    let hot = measure_searches(&client, &catalog_url, &terms).await?;

    drop(processes);
    let _ = std::fs::remove_file(&body_file);
    infra::drop_database(BENCH_DB)?;

    let checkout = crate::bench_checkout::run_checkout().await?;

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
    println!();
    println!(
        "checkout: {} orders by {} concurrent shoppers (tok_visa), accept -> CONFIRMED, beside pgbench (TPC-B-like, 16 clients, scale 10) on the same PostgreSQL",
        crate::bench_checkout::ORDERS,
        crate::bench_checkout::CONCURRENCY
    );
    println!(
        "  checkouts accepted/s           {:>10.1}",
        checkout.accepted_per_second
    );
    println!(
        "  orders confirmed/s             {:>10.1}",
        checkout.confirmed_per_second
    );
    println!("  accept -> confirmed p50 ms     {:>10.1}", checkout.p50_ms);
    println!("  accept -> confirmed p95 ms     {:>10.1}", checkout.p95_ms);
    println!(
        "  pgbench tps                    {:>10.1}",
        checkout.pgbench_tps
    );
    println!(
        "  ratio confirmed orders/s / pgbench tps: {:.3}x",
        checkout.confirmed_per_second / checkout.pgbench_tps
    );
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
    Ok(())
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn wrk(url: &str) -> anyhow::Result<Figures> {
    let output = Command::new("wrk")
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

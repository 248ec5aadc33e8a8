//! The checkout part of `cargo xtask bench`: orders per second reaching CONFIRMED, and
//! accept-to-confirmed latency, with catalog, users, inventory, orders, payments and the
//! provider simulator as release builds on the local PostgreSQL and RabbitMQ; printed beside
//! `pgbench` (TPC-B-like) TPS measured on the same PostgreSQL in the same run.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use service_kit::messaging;

use crate::infra::{self, AMQP_URL, POSTGRES_URL, psql};
use crate::stack::{spawn_service, stop_pid, wait_path};
use crate::util::{run, step, target_dir};

/// Orders placed in the measured run.
pub const ORDERS: usize = 1000;
/// Shoppers checking out at once.
pub const CONCURRENCY: usize = 16;
const SERVICES: &[(&str, &str, u16)] = &[
    ("catalog", "catalog", 18181),
    ("users", "users", 18185),
    ("inventory", "inventory", 18182),
    ("psp-simulator", "payments", 18190),
    ("payments", "payments", 18184),
    ("orders", "orders", 18183),
];

fn database(service: &str) -> String {
    format!("{service}_cobench")
}

/// Figures of one checkout run.
pub struct CheckoutFigures {
    /// Orders confirmed per second, first accept to last confirmation.
    pub confirmed_per_second: f64,
    /// Accept-to-confirmed latency percentiles, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Checkouts accepted per second (HTTP 202).
    pub accepted_per_second: f64,
    /// pgbench TPS on the same server.
    pub pgbench_tps: f64,
}

struct Processes(Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            stop_pid(child.id());
            let _ = child.wait();
        }
    }
}

/// Runs the checkout benchmark. The release binaries must be built.
pub async fn run_checkout() -> anyhow::Result<CheckoutFigures> {
    let release = target_dir().join("release");
    let tag = std::process::id();
    let exchange = format!("bench.events.{tag}");
    for (service, _, _) in SERVICES {
        let db = database(service);
        infra::drop_database(&db)?;
        infra::ensure_database(&db)?;
    }
    // Everything the platform emits must be routable, as the bridge makes it in a deployment.
    let (connection, channel) = messaging::connect(AMQP_URL).await?;
    let sink = messaging::Topology {
        exchange: exchange.clone(),
        queue: format!("bench.sink.{tag}"),
        bindings: vec!["#".into()],
        retry_delays: Vec::new(),
    };
    messaging::declare_exchange(&channel, &exchange).await?;
    sink.declare(&channel).await?;

    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let port = |name: &str| SERVICES.iter().find(|s| s.0 == name).map_or(0, |s| s.2);
    let client = reqwest::Client::new();
    let mut processes = Processes(Vec::new());
    for (name, _, service_port) in SERVICES {
        let db = database(if *name == "psp-simulator" {
            "payments"
        } else {
            name
        });
        let env = vec![
            ("APP__AMQP__EXCHANGE", exchange.clone()),
            ("APP__AMQP__QUEUE", format!("bench.{name}.{tag}")),
            ("APP__UPSTREAMS__CATALOG_URL", url(port("catalog"))),
            ("APP__UPSTREAMS__USERS_URL", url(port("users"))),
            ("APP__PROVIDER__URL", url(port("psp-simulator"))),
            (
                "APP__PROVIDER__CALLBACK_URL",
                format!("{}/internal/psp/callback", url(port("payments"))),
            ),
            ("APP__TELEMETRY__LOG_FILTER", "warn".to_owned()),
        ];
        let mut child = spawn_service(
            &release.join(name),
            &format!("{name}-cobench"),
            *service_port,
            &db,
            &format!("cobench:{tag}:{name}:"),
            &env,
        )?;
        let ready = if *name == "psp-simulator" {
            "/healthz"
        } else {
            "/readyz"
        };
        wait_path(&client, name, &url(*service_port), ready, &mut child).await?;
        processes.0.push(child);
    }

    step(&format!(
        "checkout: {ORDERS} orders, {CONCURRENCY} shoppers at a time"
    ));
    let admin = |r: reqwest::RequestBuilder| {
        r.header("x-auth-subject", "bench-admin")
            .header("x-auth-roles", "admin")
    };
    let created = admin(client.post(format!("{}/admin/products", url(port("catalog")))))
        .json(&json!({"sku": "BENCH-1", "name": "Bench lamp", "description": "A lamp", "price": {"amount": 1000, "currency": "EUR"}}))
        .send()
        .await?;
    if !created.status().is_success() {
        bail!("creating the bench product: {}", created.text().await?);
    }
    let stocked = admin(client.put(format!(
        "{}/admin/inventory/BENCH-1",
        url(port("inventory"))
    )))
    .json(&json!({"on_hand": 1_000_000, "reason": "bench", "low_threshold": 0}))
    .send()
    .await?;
    if !stocked.status().is_success() {
        bail!("stocking the bench product: {}", stocked.text().await?);
    }
    let ids = psql(
        &database("users"),
        &format!(
            "insert into users (id, email, password_hash, name) \
             select gen_random_uuid(), 'bench' || g || '@example.com', 'x', 'Bench Shopper' \
             from generate_series(1, {ORDERS}) g returning id"
        ),
    )?;
    // Registration writes default preferences with the account; so does the bench.
    psql(
        &database("users"),
        "insert into preferences (user_id) select id from users on conflict do nothing",
    )?;
    let shoppers: Vec<String> = ids
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let orders_url = url(port("orders"));
    for chunk in shoppers.chunks(CONCURRENCY) {
        let mut adds = tokio::task::JoinSet::new();
        for shopper in chunk {
            let request = client
                .put(format!("{orders_url}/cart/lines/BENCH-1"))
                .header("x-auth-subject", shopper)
                .header("x-auth-roles", "shopper")
                .json(&json!({"quantity": 1}));
            adds.spawn(async move {
                let response = request.send().await?;
                if !response.status().is_success() {
                    bail!("filling a cart: {}", response.text().await?);
                }
                anyhow::Ok(())
            });
        }
        while let Some(added) = adds.join_next().await {
            added??;
        }
    }

    let started = Instant::now();
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(shoppers));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let queue = queue.clone();
        let client = client.clone();
        let orders_url = orders_url.clone();
        workers.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            loop {
                let Some(shopper) = queue.lock().await.pop() else {
                    break;
                };
                let response = client
                    .post(format!("{orders_url}/checkout"))
                    .header("x-auth-subject", &shopper)
                    .header("x-auth-roles", "shopper")
                    .header("idempotency-key", format!("bench-{shopper}"))
                    .json(&json!({"payment_method": "tok_visa"}))
                    .send()
                    .await?;
                if response.status() != reqwest::StatusCode::ACCEPTED {
                    bail!(
                        "checkout answered {}: {}",
                        response.status(),
                        response.text().await?
                    );
                }
                let body: Value = response.json().await?;
                accepted.push(body["order_id"].as_str().unwrap_or_default().to_owned());
            }
            anyhow::Ok(accepted)
        }));
    }
    let mut accepted = 0;
    for worker in workers {
        accepted += worker.await??.len();
    }
    let accept_seconds = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let open = psql(
            &database("orders"),
            "select count(*) from orders where status not in ('CONFIRMED', 'CANCELLED')",
        )?;
        if open.trim() == "0" {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} orders still open after 5 minutes", open.trim());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let figures = psql(
        &database("orders"),
        "with t as (select o.id, o.created_at as accepted, \
             (select at from order_timeline s where s.order_id = o.id and s.step = 'confirmed') as confirmed \
           from orders o) \
         select count(confirmed), \
           extract(epoch from max(confirmed) - min(accepted)), \
           1000 * extract(epoch from percentile_cont(0.5) within group (order by confirmed - accepted)), \
           1000 * extract(epoch from percentile_cont(0.95) within group (order by confirmed - accepted)) \
         from t",
    )?;
    let parts: Vec<f64> = figures
        .trim()
        .split('|')
        .map(|p| p.parse().unwrap_or(f64::NAN))
        .collect();
    let [confirmed, span, p50_ms, p95_ms] = parts[..] else {
        bail!("unexpected figures: {figures}");
    };
    if confirmed as usize != ORDERS {
        bail!("{confirmed} of {ORDERS} orders confirmed");
    }
    drop(processes);
    for (service, _, _) in SERVICES {
        infra::drop_database(&database(service))?;
    }
    for service in ["inventory", "orders", "payments", "sink"] {
        let name = format!("bench.{service}.{tag}");
        for queue in [
            name.clone(),
            format!("{name}.dlq"),
            format!("{name}.retry.1000ms"),
            format!("{name}.retry.5000ms"),
            format!("{name}.retry.30000ms"),
        ] {
            let _ = channel
                .queue_delete(
                    queue.as_str().into(),
                    lapin::options::QueueDeleteOptions::default(),
                )
                .await;
        }
    }
    let _ = channel
        .exchange_delete(
            exchange.as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await;
    drop((channel, connection));

    let pgbench_tps = pgbench()?;
    Ok(CheckoutFigures {
        confirmed_per_second: confirmed / span,
        p50_ms,
        p95_ms,
        accepted_per_second: accepted as f64 / accept_seconds,
        pgbench_tps,
    })
}

/// TPC-B-like pgbench on the same server: 16 clients, 10 s.
fn pgbench() -> anyhow::Result<f64> {
    let db = "pgbench_cobench";
    infra::drop_database(db)?;
    infra::ensure_database(db)?;
    let target = format!("{POSTGRES_URL}/{db}");
    run("pgbench", &["-i", "-q", "-s", "10", &target])?;
    let output = run("pgbench", &["-c", "16", "-j", "2", "-T", "10", &target])?;
    infra::drop_database(db)?;
    output
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("pgbench printed no tps")
}

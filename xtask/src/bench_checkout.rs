//! `cargo xtask bench checkout`: how fast an order goes from accepted to CONFIRMED, and how
//! many the platform confirms per second, against what the same PostgreSQL commits
//! (`pgbench`, TPC-B-like) in the same run. Measured the way `../shared/BENCHMARKS.md` says:
//! release builds; the load generator (this process, `pgbench`) on core 0 and every server
//! (the services, PostgreSQL, RabbitMQ) on core 1; three runs of each figure, median with the
//! range; the same log level (`warn`) and connection counts as in the baseline's spirit.
//!
//! Figures:
//! - **max sustained throughput**: 2,000 checkouts from 32 shoppers at a time (a closed
//!   loop that keeps the pipeline saturated), confirmed orders per second from the first accept
//!   to the last confirmation;
//! - **open-loop latency** at half that rate: checkouts sent on a fixed schedule, whatever the
//!   earlier ones are doing, for 10 s; each one's latency is from the client's send to the
//!   `clock_timestamp()` of its `confirmed` timeline step, written in the transaction that
//!   commits CONFIRMED;
//! - **idle latency** (measured first, on the fresh platform): single orders, one at a time,
//!   the platform quiet in between;
//! - **CPU per order**: `utime + stime` of each process (services, PostgreSQL, RabbitMQ) over
//!   the throughput runs, divided by the orders, read from `/proc`.
//!
//! The sink queue the bridge would consume in a deployment is drained as events arrive.
//! Accepts go straight to the orders service (no gateway in the way; the gateway has its own
//! group). Shoppers buy one of 20 SKUs, with stock for the whole run, and pay with `pm_card_visa`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use service_kit::messaging;
use time::OffsetDateTime;

use crate::bench::{Figure, Pinning, median_of, percentile, pgbench_tps};
use crate::infra::{self, AMQP_URL, psql};
use crate::stack::{stop_pid, wait_path};
use crate::util::step;

/// Orders per throughput run.
pub const THROUGHPUT_ORDERS: usize = 2000;
/// Shoppers checking out at once in the throughput runs.
pub const CONCURRENCY: usize = 32;
/// Length of an open-loop run.
const OPEN_LOOP: Duration = Duration::from_secs(10);
/// Orders per idle run.
const IDLE_ORDERS: usize = 30;
/// Runs of each figure.
const RUNS: usize = 3;
/// Distinct SKUs the shoppers buy.
const SKUS: usize = 20;

const SERVICES: &[(&str, u16)] = &[
    ("catalog", 18181),
    ("users", 18185),
    ("inventory", 18182),
    ("psp-simulator", 18190),
    ("payments", 18184),
    ("orders", 18183),
];

fn database(service: &str) -> String {
    let owner = if service == "psp-simulator" {
        "payments"
    } else {
        service
    };
    format!("{owner}_cobench")
}

fn url(service: &str) -> String {
    let port = SERVICES.iter().find(|s| s.0 == service).map_or(0, |s| s.1);
    format!("http://127.0.0.1:{port}")
}

struct Processes(Vec<(String, Child)>);

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in self.0.iter_mut().rev() {
            stop_pid(child.id());
            let _ = child.wait();
        }
    }
}

/// CPU time (user + system) of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Every process whose command name is `comm`.
pub fn pids_named(comm: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// CPU ticks per process group: each service, all of PostgreSQL, all of RabbitMQ.
fn cpu_snapshot(processes: &Processes) -> BTreeMap<String, BTreeMap<u32, u64>> {
    let mut groups: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
    for (name, child) in &processes.0 {
        if let Some(ticks) = cpu_ticks(child.id()) {
            groups
                .entry(name.clone())
                .or_default()
                .insert(child.id(), ticks);
        }
    }
    for (group, comm) in [("postgresql", "postgres"), ("rabbitmq", "beam.smp")] {
        for pid in pids_named(comm) {
            if let Some(ticks) = cpu_ticks(pid) {
                groups.entry(group.into()).or_default().insert(pid, ticks);
            }
        }
    }
    groups
}

/// Microseconds of CPU per order for each group between two snapshots.
fn cpu_per_order(
    before: &BTreeMap<String, BTreeMap<u32, u64>>,
    after: &BTreeMap<String, BTreeMap<u32, u64>>,
    orders: usize,
) -> BTreeMap<String, f64> {
    let tick_us = 1e6 / clock_ticks_per_second();
    after
        .iter()
        .map(|(group, pids)| {
            let spent: u64 = pids
                .iter()
                .map(|(pid, ticks)| {
                    let start = before.get(group).and_then(|b| b.get(pid)).copied();
                    ticks.saturating_sub(start.unwrap_or(0))
                })
                .sum();
            (group.clone(), spent as f64 * tick_us / orders as f64)
        })
        .collect()
}

pub fn clock_ticks_per_second() -> f64 {
    crate::util::run("getconf", &["CLK_TCK"])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The platform under test, with shoppers ready to buy.
struct Bench {
    client: reqwest::Client,
    /// The orders database, on one connection kept open (a `psql` per poll would cost
    /// PostgreSQL a backend start each time, counted against the orders).
    orders_db: sqlx::PgPool,
    /// The inventory and payments databases, for the time each hop took.
    inventory_db: sqlx::PgPool,
    payments_db: sqlx::PgPool,
    drain: tokio::task::JoinHandle<anyhow::Result<()>>,
    processes: Processes,
    exchange: String,
    tag: u32,
    /// product id and SKU of each bench product.
    products: Vec<(String, String)>,
}

impl Bench {
    async fn start(binaries: &Path, pinning: &Pinning) -> anyhow::Result<Self> {
        let tag = std::process::id();
        let exchange = format!("bench.events.{tag}");
        for (service, _) in SERVICES {
            infra::drop_database(&database(service))?;
            infra::ensure_database(&database(service))?;
        }
        // Everything the platform emits must be routable, as the bridge makes it in a deployment.
        let (connection, channel) = messaging::connect(AMQP_URL).await?;
        messaging::declare_exchange(&channel, &exchange).await?;
        let sink = messaging::Topology {
            exchange: exchange.clone(),
            queue: format!("bench.sink.{tag}"),
            bindings: vec!["#".into()],
            retry_delays: Vec::new(),
        };
        sink.declare(&channel).await?;
        drop((channel, connection));
        // What the bridge does in a deployment: take every event off the sink, so nothing
        // piles up in the broker while the platform runs.
        let drain = tokio::spawn(drain_sink(sink.queue.clone()));

        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY * 2)
            .build()?;
        let mut processes = Processes(Vec::new());
        for (name, port) in SERVICES {
            let env = vec![
                ("APP__AMQP__EXCHANGE", exchange.clone()),
                ("APP__AMQP__QUEUE", format!("bench.{name}.{tag}")),
                ("APP__UPSTREAMS__CATALOG_URL", url("catalog")),
                ("APP__UPSTREAMS__USERS_URL", url("users")),
                ("APP__PROVIDER__URL", url("psp-simulator")),
                (
                    "APP__SIMULATOR__LISTEN",
                    url("psp-simulator")
                        .trim_start_matches("http://")
                        .to_owned(),
                ),
                (
                    "APP__SIMULATOR__WEBHOOK_URL",
                    format!("{}/internal/psp/callback", url("payments")),
                ),
                ("APP__TELEMETRY__LOG_FILTER", "warn".to_owned()),
            ];
            let mut child = pinning.spawn_server(
                &binaries.join(name),
                &format!("{name}-cobench"),
                *port,
                &database(name),
                &format!("cobench:{tag}:{name}:"),
                &env,
            )?;
            let ready = if *name == "psp-simulator" {
                "/healthz"
            } else {
                "/readyz"
            };
            wait_path(&client, name, &url(name), ready, &mut child).await?;
            processes.0.push(((*name).to_owned(), child));
        }
        let mut products = Vec::new();
        for n in 1..=SKUS {
            let sku = format!("BENCH-{n:02}");
            let created: Value = crate::demo::admin(
                client.post(format!("{}/admin/products", url("catalog"))),
            )
            .json(&json!({"sku": sku, "name": format!("Bench lamp {n}"), "description": "A lamp", "price": {"amount": 1000, "currency": "EUR"}}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
            let id = created["id"]
                .as_str()
                .context("the created product has no id")?
                .to_owned();
            crate::demo::admin(client.put(format!("{}/admin/inventory/{sku}", url("inventory"))))
                .json(&json!({"on_hand": 10_000_000, "reason": "bench", "low_threshold": 0}))
                .send()
                .await?
                .error_for_status()?;
            products.push((id, sku));
        }
        let connect = |service: &str| {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy(&format!("{}/{}", infra::POSTGRES_URL, database(service)))
        };
        let orders_db = connect("orders")?;
        let inventory_db = connect("inventory")?;
        let payments_db = connect("payments")?;
        Ok(Self {
            client,
            orders_db,
            inventory_db,
            payments_db,
            drain,
            processes,
            exchange,
            tag,
            products,
        })
    }

    /// `count` new shoppers, each with one unit of one bench SKU in the cart (written the way
    /// registration and the cart API write them); returns their ids.
    fn shoppers(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let ids = psql(
            &database("users"),
            &format!(
                "with made as (insert into users (id, email, password_hash, name) \
                 select gen_random_uuid(), 'bench-' || gen_random_uuid() || '@example.com', 'x', 'Bench Shopper' \
                 from generate_series(1, {count}) returning id), \
                 prefs as (insert into preferences (user_id) select id from made) \
                 select id from made"
            ),
        )?;
        let shoppers: Vec<String> = ids
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let products: Vec<String> = self
            .products
            .iter()
            .map(|(id, sku)| format!("('{sku}', '{id}'::uuid)"))
            .collect();
        let values: Vec<String> = shoppers
            .iter()
            .enumerate()
            .map(|(i, s)| format!("('{s}', {})", i % SKUS))
            .collect();
        psql(
            &database("orders"),
            &format!(
                "with p as (select row_number() over () - 1 as n, sku, id from (values {}) v (sku, id)), \
                 s (customer, n) as (values {}), \
                 c as (insert into carts (customer_id, version) select customer, 1 from s) \
                 insert into cart_lines (customer_id, sku, product_id, name, quantity, unit_amount, currency) \
                 select s.customer, p.sku, p.id, 'Bench lamp', 1, 1000, 'EUR' from s join p on p.n = s.n",
                products.join(", "),
                values.join(", ")
            ),
        )?;
        Ok(shoppers)
    }

    /// Checks out for `shopper`; the send time and the order id.
    async fn checkout(
        client: &reqwest::Client,
        shopper: &str,
    ) -> anyhow::Result<(OffsetDateTime, String)> {
        let sent = OffsetDateTime::now_utc();
        let response = client
            .post(format!("{}/checkout", url("orders")))
            .header("x-auth-subject", shopper)
            .header("x-auth-roles", "shopper")
            .header("idempotency-key", format!("bench-{shopper}"))
            .json(&json!({"payment_method": "pm_card_visa"}))
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
        let id = body["order_id"].as_str().context("no order id")?.to_owned();
        Ok((sent, id))
    }

    /// Waits until none of the orders is in flight (bounded), looking every 100 ms.
    async fn settle(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let open: i64 = sqlx::query_scalar(
                "select count(*) from orders where status not in ('CONFIRMED', 'CANCELLED')",
            )
            .fetch_one(&self.orders_db)
            .await?;
            if open == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{open} orders still open after {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Unix seconds of the `confirmed` step of each order (`clock_timestamp()` in the
    /// confirming transaction), keyed by order id; cancelled orders are an error.
    async fn confirmations(&self, ids: &[String]) -> anyhow::Result<BTreeMap<String, f64>> {
        let rows: Vec<(String, String, Option<f64>)> = sqlx::query_as(
            "select o.id::text, o.status, extract(epoch from t.at)::float8 from orders o \
             left join order_timeline t on t.order_id = o.id and t.step = 'confirmed' \
             where o.id::text = any($1)",
        )
        .bind(ids)
        .fetch_all(&self.orders_db)
        .await?;
        let mut confirmed = BTreeMap::new();
        for (id, status, at) in rows {
            match at {
                Some(at) if status == "CONFIRMED" => {
                    confirmed.insert(id, at);
                }
                _ => bail!("order {id} ended {status}"),
            }
        }
        if confirmed.len() != ids.len() {
            bail!("{} of {} orders found", confirmed.len(), ids.len());
        }
        Ok(confirmed)
    }

    /// Transactions committed so far in each service's database (PostgreSQL's statistics).
    async fn commits(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select datname::text, xact_commit from pg_stat_database where datname like '%\\_cobench'",
        )
        .fetch_all(&self.orders_db)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Where each order's time went, per hop, from the times the services wrote down: the
    /// client's send; inventory's transaction on `order.placed`; payments' intent to
    /// authorize (before the provider call) on `inventory.reserved`; payments' transaction
    /// recording the answer; orders' transaction on `payment.authorized`; its `confirmed`
    /// step. Each hop from one service to the next includes the outbox relay and the broker.
    /// Median milliseconds per hop.
    async fn hops(
        &self,
        placed: &[(OffsetDateTime, String)],
    ) -> anyhow::Result<Vec<(&'static str, f64)>> {
        let ids: Vec<String> = placed.iter().map(|(_, id)| id.clone()).collect();
        let events = |pool: &sqlx::PgPool, event_type: &'static str| {
            let pool = pool.clone();
            let ids = ids.clone();
            async move {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "select aggregate_id, id from outbox where event_type = $1 and aggregate_id = any($2)",
                )
                .bind(event_type)
                .bind(&ids)
                .fetch_all(&pool)
                .await?;
                anyhow::Ok(rows.into_iter().collect::<BTreeMap<String, String>>())
            }
        };
        let handled = |pool: &sqlx::PgPool, event_ids: Vec<String>| {
            let pool = pool.clone();
            async move {
                let rows: Vec<(String, f64)> = sqlx::query_as(
                    "select event_id, extract(epoch from processed_at)::float8 from processed_events \
                     where event_id = any($1)",
                )
                .bind(&event_ids)
                .fetch_all(&pool)
                .await?;
                anyhow::Ok(rows.into_iter().collect::<BTreeMap<String, f64>>())
            }
        };
        let placed_events = events(&self.orders_db, "order.placed").await?;
        let reserved_events = events(&self.inventory_db, "inventory.reserved").await?;
        let authorized_events = events(&self.payments_db, "payment.authorized").await?;
        let at_inventory = handled(
            &self.inventory_db,
            placed_events.values().cloned().collect(),
        )
        .await?;
        let at_payments = handled(
            &self.payments_db,
            reserved_events.values().cloned().collect(),
        )
        .await?;
        let at_orders = handled(
            &self.orders_db,
            authorized_events.values().cloned().collect(),
        )
        .await?;
        // Builds from before payments recorded its intent have no such column: their
        // provider call then counts in the hop before it.
        let intents: BTreeMap<String, f64> = sqlx::query_as::<_, (String, f64)>(
            "select order_id, extract(epoch from authorize_requested_at)::float8 from payments \
             where order_id = any($1) and authorize_requested_at is not null",
        )
        .bind(&ids)
        .fetch_all(&self.payments_db)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect();
        let confirmed = self.confirmations(&ids).await?;
        let names = [
            "send -> inventory reserves",
            "-> payments asks the provider",
            "-> payments records the answer",
            "-> orders confirms",
            "-> CONFIRMED committed",
        ];
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for (sent, id) in placed {
            let times = (|| {
                Some([
                    unix(*sent),
                    *at_inventory.get(placed_events.get(id)?)?,
                    *intents
                        .get(id)
                        .or_else(|| at_payments.get(reserved_events.get(id)?))?,
                    *at_payments.get(reserved_events.get(id)?)?,
                    *at_orders.get(authorized_events.get(id)?)?,
                    *confirmed.get(id)?,
                ])
            })();
            if let Some(times) = times {
                for (hop, pair) in times.windows(2).enumerate() {
                    samples[hop].push((pair[1] - pair[0]) * 1000.0);
                }
            }
        }
        Ok(names
            .into_iter()
            .zip(samples)
            .map(|(name, mut values)| {
                values.sort_by(f64::total_cmp);
                (name, percentile(&values, 0.5))
            })
            .collect())
    }

    /// One closed-loop run: orders confirmed per second, the CPU each process spent, and the
    /// transactions each database committed, per order.
    async fn throughput(&self) -> anyhow::Result<(f64, f64, BTreeMap<String, f64>)> {
        let shoppers = self.shoppers(THROUGHPUT_ORDERS)?;
        let queue = Arc::new(tokio::sync::Mutex::new(shoppers));
        // Statistics reach the shared counters within a second of a backend going idle.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let commits_before = self.commits().await?;
        let before = cpu_snapshot(&self.processes);
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..CONCURRENCY {
            let queue = queue.clone();
            let client = self.client.clone();
            workers.push(tokio::spawn(async move {
                let mut placed = Vec::new();
                loop {
                    let Some(shopper) = queue.lock().await.pop() else {
                        break;
                    };
                    placed.push(Self::checkout(&client, &shopper).await?);
                }
                anyhow::Ok(placed)
            }));
        }
        let mut placed = Vec::new();
        for worker in workers {
            placed.extend(worker.await??);
        }
        let accept_seconds = started.elapsed().as_secs_f64();
        self.settle(Duration::from_secs(300)).await?;
        let after = cpu_snapshot(&self.processes);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let commits_after = self.commits().await?;
        let ids: Vec<String> = placed.iter().map(|(_, id)| id.clone()).collect();
        let confirmed = self.confirmations(&ids).await?;
        let first_sent = placed
            .iter()
            .map(|(sent, _)| unix(*sent))
            .fold(f64::INFINITY, f64::min);
        let last_confirmed = confirmed.values().copied().fold(0.0, f64::max);
        let mut per_order = cpu_per_order(&before, &after, ids.len());
        for (database, committed) in commits_after {
            let start = commits_before.get(&database).copied().unwrap_or(0);
            per_order.insert(
                format!("commits:{}", database.trim_end_matches("_cobench")),
                (committed - start) as f64 / ids.len() as f64,
            );
        }
        Ok((
            ids.len() as f64 / (last_confirmed - first_sent),
            ids.len() as f64 / accept_seconds,
            per_order,
        ))
    }

    /// One open-loop run at `rate` checkouts per second: sorted latencies, ms, and the hops.
    async fn open_loop(&self, rate: f64) -> anyhow::Result<(Vec<f64>, Vec<(&'static str, f64)>)> {
        let count = (rate * OPEN_LOOP.as_secs_f64()).round().max(1.0) as usize;
        let shoppers = self.shoppers(count)?;
        let interval = Duration::from_secs_f64(1.0 / rate);
        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        let mut sends = tokio::task::JoinSet::new();
        for (n, shopper) in shoppers.into_iter().enumerate() {
            let at = start + interval * u32::try_from(n).unwrap_or(u32::MAX);
            let client = self.client.clone();
            sends.spawn(async move {
                tokio::time::sleep_until(at).await;
                Self::checkout(&client, &shopper).await
            });
        }
        let mut placed = Vec::new();
        while let Some(sent) = sends.join_next().await {
            placed.push(sent??);
        }
        self.settle(Duration::from_secs(300)).await?;
        Ok((self.latencies(&placed).await?, self.hops(&placed).await?))
    }

    /// Orders one at a time, each after the previous one was confirmed: sorted latencies, ms,
    /// and the hops.
    async fn idle(&self) -> anyhow::Result<(Vec<f64>, Vec<(&'static str, f64)>)> {
        let shoppers = self.shoppers(IDLE_ORDERS)?;
        let mut placed = Vec::new();
        for shopper in shoppers {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let order = Self::checkout(&self.client, &shopper).await?;
            self.settle(Duration::from_secs(30)).await?;
            placed.push(order);
        }
        Ok((self.latencies(&placed).await?, self.hops(&placed).await?))
    }

    async fn latencies(&self, placed: &[(OffsetDateTime, String)]) -> anyhow::Result<Vec<f64>> {
        let ids: Vec<String> = placed.iter().map(|(_, id)| id.clone()).collect();
        let confirmed = self.confirmations(&ids).await?;
        let mut latencies: Vec<f64> = placed
            .iter()
            .map(|(sent, id)| (confirmed[id] - unix(*sent)) * 1000.0)
            .collect();
        latencies.sort_by(f64::total_cmp);
        Ok(latencies)
    }

    async fn stop(self) -> anyhow::Result<()> {
        for pool in [&self.orders_db, &self.inventory_db, &self.payments_db] {
            pool.close().await;
        }
        self.drain.abort();
        drop(self.processes);
        for (service, _) in SERVICES {
            infra::drop_database(&database(service))?;
        }
        let (connection, channel) = messaging::connect(AMQP_URL).await?;
        for service in ["inventory", "orders", "payments", "sink"] {
            let name = format!("bench.{service}.{}", self.tag);
            let mut queues = vec![name.clone(), format!("{name}.dlq")];
            queues.extend(["1000ms", "5000ms", "30000ms"].map(|d| format!("{name}.retry.{d}")));
            for queue in queues {
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
                self.exchange.as_str().into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await;
        drop((channel, connection));
        Ok(())
    }
}

/// Consumes the sink queue (no acks, as cheaply as the broker allows) until aborted.
async fn drain_sink(queue: String) -> anyhow::Result<()> {
    use futures::StreamExt as _;
    let (_connection, channel) = messaging::connect(AMQP_URL).await?;
    let mut deliveries = channel
        .basic_consume(
            queue.as_str().into(),
            "bench-sink".into(),
            lapin::options::BasicConsumeOptions {
                no_ack: true,
                ..lapin::options::BasicConsumeOptions::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await?;
    while let Some(delivery) = deliveries.next().await {
        delivery?;
    }
    Ok(())
}

fn unix(at: OffsetDateTime) -> f64 {
    at.unix_timestamp_nanos() as f64 / 1e9
}

/// Runs the checkout group with the release binaries in `binaries`; returns its figures.
pub async fn run(binaries: PathBuf, pinning: &Pinning) -> anyhow::Result<Vec<Figure>> {
    step("checkout: pgbench baseline on the same PostgreSQL (3 runs)");
    let mut tps = Vec::new();
    for _ in 0..RUNS {
        tps.push(pgbench_tps(pinning)?);
    }
    let bench = Bench::start(&binaries, pinning).await?;
    step(&format!(
        "checkout: idle latency, {IDLE_ORDERS} single orders one at a time (3 runs)"
    ));
    let mut idle = [Vec::new(), Vec::new()];
    let mut idle_hops: Vec<(&str, Vec<f64>)> = Vec::new();
    for _ in 0..RUNS {
        let (latencies, hops) = bench.idle().await?;
        for (n, (hop, ms)) in hops.into_iter().enumerate() {
            if idle_hops.len() <= n {
                idle_hops.push((hop, Vec::new()));
            }
            idle_hops[n].1.push(ms);
        }
        for (slot, p) in idle.iter_mut().zip([0.50, 0.95]) {
            slot.push(percentile(&latencies, p));
        }
    }
    step(&format!(
        "checkout: max sustained throughput, {THROUGHPUT_ORDERS} orders by {CONCURRENCY} shoppers at a time (3 runs)"
    ));
    let mut confirmed_rates = Vec::new();
    let mut accepted_rates = Vec::new();
    let mut cpu: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..RUNS {
        let (confirmed, accepted, per_process) = bench.throughput().await?;
        println!("    {confirmed:.1} orders confirmed/s ({accepted:.1} accepted/s)");
        confirmed_rates.push(confirmed);
        accepted_rates.push(accepted);
        for (process, us) in per_process {
            cpu.entry(process).or_default().push(us);
        }
    }
    let max_rate = median_of(&confirmed_rates).value;
    let rate = (max_rate / 2.0).max(1.0);
    step(&format!(
        "checkout: open-loop latency at {rate:.0} orders/s (half the max), {} s each (3 runs)",
        OPEN_LOOP.as_secs()
    ));
    let mut open = [Vec::new(), Vec::new(), Vec::new()];
    let mut open_hops: Vec<(&str, Vec<f64>)> = Vec::new();
    for _ in 0..RUNS {
        let (latencies, hops) = bench.open_loop(rate).await?;
        for (n, (hop, ms)) in hops.into_iter().enumerate() {
            if open_hops.len() <= n {
                open_hops.push((hop, Vec::new()));
            }
            open_hops[n].1.push(ms);
        }
        for (slot, p) in open.iter_mut().zip([0.50, 0.95, 0.99]) {
            slot.push(percentile(&latencies, p));
        }
    }
    bench.stop().await?;
    for (label, hops) in [("idle", &idle_hops), ("open loop", &open_hops)] {
        println!("  {label}: median time per hop (ms, median of runs)");
        for (hop, runs) in hops.iter() {
            println!("    {hop:<34} {:>8.2}", median_of(runs).value);
        }
    }

    let tps_figure = Figure::measured("pgbench_tps", &tps, "tx/s");
    let mut figures = vec![tps_figure.clone()];
    figures.push(
        Figure::measured(
            "checkout_confirmed_orders_per_s",
            &confirmed_rates,
            "orders/s",
        )
        .against(&tps_figure),
    );
    figures.push(Figure::measured(
        "checkout_accepted_per_s",
        &accepted_rates,
        "orders/s",
    ));
    figures.push(Figure::single("checkout_open_loop_rate", rate, "orders/s"));
    for (name, samples) in ["p50", "p95", "p99"].iter().zip(&open) {
        figures.push(Figure::measured(
            &format!("checkout_open_loop_{name}_ms"),
            samples,
            "ms",
        ));
    }
    for (name, samples) in ["p50", "p95"].iter().zip(&idle) {
        figures.push(Figure::measured(
            &format!("checkout_idle_{name}_ms"),
            samples,
            "ms",
        ));
    }
    for (process, samples) in &cpu {
        let figure = match process.strip_prefix("commits:") {
            Some(database) => Figure::measured(
                &format!("checkout_pg_commits_per_order_{database}"),
                samples,
                "tx",
            ),
            None => Figure::measured(
                &format!("checkout_cpu_us_per_order_{}", process.replace('-', "_")),
                samples,
                "us",
            ),
        };
        figures.push(figure);
    }
    let total: Vec<f64> = (0..RUNS)
        .map(|run| {
            cpu.iter()
                .filter(|(process, _)| !process.starts_with("commits:"))
                .filter_map(|(_, s)| s.get(run))
                .sum()
        })
        .collect();
    figures.push(Figure::measured(
        "checkout_cpu_us_per_order_total",
        &total,
        "us",
    ));
    Ok(figures)
}

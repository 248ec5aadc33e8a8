//! `cargo xtask chaos`: the platform as separate processes on servers of its own, checkouts at
//! a fixed rate through the gateway, and a seeded schedule of faults applied one at a time
//! (process kills, broker, database and cache outages, AWS unreachable, a cut broker link).
//! Then it waits for quiescence and checks that nothing was lost, duplicated or oversold.
//!
//! - [`cluster`]: the run's own PostgreSQL, Redis, RabbitMQ and moto;
//! - [`platform`]: the services (supervised, restarted like Kubernetes does) and functions;
//! - [`load`]: shoppers and checkouts;
//! - [`faults`]: the schedule and recovery;
//! - [`check`]: the snapshot and the invariants.

mod check;
mod cluster;
mod faults;
mod load;
mod platform;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::util::{root, step};
use check::{Delivery, Order, Parked, Payment, Snapshot};
use platform::Platform;

/// A small seeded generator (SplitMix64): the same seed gives the same orders and schedule.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Flags of `chaos`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Checkouts to place.
    pub orders: usize,
    /// Arrivals per second.
    pub rate: f64,
    /// Seed of the orders and the schedule.
    pub seed: u64,
    /// Fault list (`all`, kinds or names, comma-separated).
    pub faults: String,
    /// Release builds (as `up --release`).
    pub release: bool,
}

impl Options {
    /// Parses `--orders N --rate R --seed S --faults LIST --debug`.
    pub fn parse(flags: &[&str]) -> anyhow::Result<Self> {
        let mut options = Self {
            orders: 10_000,
            // What the whole platform, its serverless half on moto included, sustains on a
            // 2-core machine (moto is the bottleneck above about 5 orders/s).
            rate: 4.0,
            seed: 1,
            faults: "all".into(),
            release: true,
        };
        let mut it = flags.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .copied()
                    .with_context(|| format!("{flag} needs a value"))
            };
            match *flag {
                "--orders" => options.orders = value()?.parse().context("--orders")?,
                "--rate" => options.rate = value()?.parse().context("--rate")?,
                "--seed" => options.seed = value()?.parse().context("--seed")?,
                "--faults" => options.faults = value()?.to_owned(),
                "--debug" => options.release = false,
                other => bail!(
                    "unknown flag `{other}` for chaos (known: --orders, --rate, --seed, --faults, --debug)"
                ),
            }
        }
        if options.orders == 0 || options.rate <= 0.0 || !options.rate.is_finite() {
            bail!("--orders and --rate must be positive");
        }
        Ok(options)
    }
}

/// `cargo xtask chaos`.
pub async fn run(options: &Options) -> anyhow::Result<()> {
    let mut rng = Rng::new(options.seed);
    let schedule = faults::schedule(&options.faults, &mut rng)?;
    crate::infra::ensure_programs_for_chaos()?;
    let profile = if options.release { "release" } else { "debug" };
    step(&format!("building services ({profile})"));
    let mut args = vec!["build", "--locked"];
    if options.release {
        args.push("--release");
    }
    for service in crate::stack::SERVICES {
        if !args.contains(&service.package) {
            args.extend(["-p", service.package]);
        }
    }
    crate::util::cargo(&args, &[])?;
    // The functions too, each as `cargo lambda watch` builds it (`--bin`, so with its own
    // feature set): it then finds them built instead of building each on first invocation.
    for function in [
        "notifier",
        "webhook-dispatcher",
        "analytics",
        "webhook-admin",
    ] {
        let mut args = vec!["build", "--locked", "--bin", function];
        if options.release {
            args.push("--release");
        }
        crate::util::cargo(&args, &[])?;
    }

    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let dir = std::env::temp_dir().join(format!("retail-chaos-{id}"));
    let logs = root().join(".local").join("chaos").join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let platform = Platform::start(&dir, &logs, options.release, &id).await?;
    let outcome = drive(platform, options, &schedule, &mut rng, &id).await;
    if outcome.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!(
            "the run's data and server logs are kept in {}; service logs in .local/chaos/logs",
            dir.display()
        );
    }
    outcome
}

async fn drive(
    mut platform: Platform,
    options: &Options,
    schedule: &[faults::Fault],
    rng: &mut Rng,
    id: &str,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let catalog = platform.service("catalog")?.url();
    let inventory = platform.service("inventory")?.url();

    // Stock that runs out: about 60 % of what approving tokens would buy.
    let skus_count = 20.max(options.orders / 100).min(200);
    let demand = options.orders as f64 * 2.25 * 0.7;
    let stock_each = ((demand * 0.6) / skus_count as f64).ceil().max(1.0) as i64;
    step(&format!(
        "{skus_count} products with {stock_each} units each"
    ));
    let skus = load::products(&http, &catalog, &inventory, skus_count, stock_each, rng).await?;
    let initial_stock: BTreeMap<String, i64> =
        skus.iter().map(|s| (s.clone(), stock_each)).collect();

    let gateway = platform.gateway();
    let clients = load::Clients::new(gateway.clone(), platform.started)?;
    let shoppers_count = ((options.rate * 8.0).ceil() as usize)
        .clamp(10, 400)
        .min(options.orders);
    step(&format!(
        "{shoppers_count} shoppers sign up and in through the gateway"
    ));
    let mut shoppers = Vec::new();
    for n in 0..shoppers_count {
        shoppers.push(clients.shopper(n, id).await?);
    }

    // An administrator: webhooks are subscribed through the gateway, and the recovery probe
    // reaches every service as one.
    let users_db = pool(&platform.database("users")).await?;
    let admin_email = format!("chaos-admin-{id}@example.com");
    clients.shopper(shoppers_count, id).await?;
    sqlx::query("update users set roles = '{admin,shopper}', email = $1 where email = $2")
        .bind(&admin_email)
        .bind(format!("shopper-{shoppers_count}-{id}@example.com"))
        .execute(&users_db)
        .await?;
    let probe = faults::Probe {
        http: reqwest::Client::new(),
        gateway: gateway.clone(),
        admin: (admin_email, "chaos-shopper-password".into()),
        admin_token: tokio::sync::Mutex::new(String::new()),
        sku: skus[0].clone(),
    };
    if !probe.sign_in().await {
        bail!("the administrator could not sign in");
    }
    let receiver = Receiver::start().await?;
    let subscribed = http
        .post(format!("{gateway}/api/v1/admin/webhooks"))
        .bearer_auth(probe.admin_token.lock().await.clone())
        .json(&json!({"url": receiver.url, "event_types": ["order.confirmed", "order.cancelled"], "description": "chaos receiver"}))
        .send()
        .await?;
    if subscribed.status() != reqwest::StatusCode::CREATED {
        bail!(
            "subscribing the webhook receiver: {} {}",
            subscribed.status(),
            subscribed.text().await.unwrap_or_default()
        );
    }

    // Stock sampled during the run: it must never go below zero.
    let inventory_db = pool(&platform.database("inventory")).await?;
    let lowest = Arc::new(tokio::sync::Mutex::new(None::<i64>));
    let sampler = {
        let lowest = lowest.clone();
        let db = inventory_db.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(Some(low)) = sqlx::query_scalar::<_, Option<i64>>(
                    "select min(on_hand - reserved)::bigint from stock",
                )
                .fetch_one(&db)
                .await
                {
                    let mut l = lowest.lock().await;
                    *l = Some(l.map_or(low, |x: i64| x.min(low)));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    // The load: one arrival every 1/rate seconds, each with an idle shopper.
    let span = options.orders as f64 / options.rate;
    step(&format!(
        "{} checkouts at {}/s ({span:.0} s), {} faults, seed {}",
        options.orders,
        options.rate,
        schedule.len(),
        options.seed
    ));
    let (idle_tx, idle_rx) = async_channel(shoppers);
    let load = {
        let clients = clients.clone();
        let mut rng = Rng::new(options.seed ^ 0x5EED);
        let orders = options.orders;
        let rate = options.rate;
        let skus = skus.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for n in 0..orders {
                tokio::time::sleep_until(started + Duration::from_secs_f64(n as f64 / rate)).await;
                let (lines, token) = load::draw_order(&mut rng, &skus);
                let key = uuid::Uuid::from_u64_pair(rng.next(), rng.next()).to_string();
                let clients = clients.clone();
                let idle_rx = idle_rx.clone();
                let idle_tx = idle_tx.clone();
                tasks.spawn(async move {
                    let Some(shopper) = idle_rx.lock().await.recv().await else {
                        return;
                    };
                    if let Err(err) = clients
                        .checkout(&shopper, lines.clone(), token, key.clone())
                        .await
                    {
                        clients.recorded.placed.lock().await.push(load::Placed {
                            key,
                            customer: shopper.id.clone(),
                            token,
                            lines,
                            order_ids: Vec::new(),
                            outcome: format!("gave up: {err:#}"),
                        });
                    }
                    let _ = idle_tx.send(shopper).await;
                });
            }
            while tasks.join_next().await.is_some() {}
        })
    };

    // Progress, for long runs.
    let ticker = {
        let recorded = clients.recorded.clone();
        let started = platform.started;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let done = recorded.placed.lock().await.len();
                let samples = recorded.samples.lock().await;
                let errors = samples
                    .iter()
                    .filter(|x| x.status == 0 || x.status >= 500)
                    .count();
                println!(
                    "    {:>7.1}s  {done} checkouts done, {} requests, {errors} 5xx or failed",
                    started.elapsed().as_secs_f64(),
                    samples.len()
                );
            }
        })
    };

    // The faults, spread over the load with time to recover between them.
    let mut applied = Vec::new();
    let load_started = platform.now();
    let slot = span / (schedule.len() as f64 + 1.0);
    for (n, fault) in schedule.iter().enumerate() {
        let due = load_started + slot * (n as f64 + 1.0);
        let wait = due - platform.now();
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        applied.push(faults::apply(&mut platform, *fault, &probe).await?);
    }
    load.await?;
    ticker.abort();
    let load_ended = platform.now();
    step(&format!(
        "load done at {load_ended:.1} s; waiting for quiescence"
    ));
    let quiet = quiescence(&platform, Duration::from_secs(300)).await?;
    sampler.abort();

    step("checking invariants");
    let placed = clients.recorded.placed.lock().await.clone();
    let samples = clients.recorded.samples.lock().await.clone();
    let lowest_available = *lowest.lock().await;
    let snapshot = collect(
        &platform,
        placed,
        samples,
        initial_stock,
        lowest_available,
        applied,
        &receiver,
    )
    .await?;
    let outcomes = check::check(&snapshot);
    let report = report(options, &platform, &snapshot, &outcomes, quiet, load_ended);
    let path = root().join(".local").join("chaos");
    std::fs::create_dir_all(&path)?;
    std::fs::write(
        path.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    println!("report: {}", path.join("report.json").display());
    platform.stop().await;
    let broken: Vec<_> = outcomes
        .iter()
        .filter(|o| !o.held())
        .map(|o| o.name)
        .collect();
    if !broken.is_empty() {
        bail!("invariants broken: {}", broken.join("; "));
    }
    Ok(())
}

type Idle = (
    tokio::sync::mpsc::Sender<load::Shopper>,
    Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<load::Shopper>>>,
);

/// A pool of idle shoppers: an order takes one and gives it back when done.
fn async_channel(shoppers: Vec<load::Shopper>) -> Idle {
    let (tx, rx) = tokio::sync::mpsc::channel(shoppers.len().max(1));
    for shopper in shoppers {
        let _ = tx.try_send(shopper);
    }
    (tx, Arc::new(tokio::sync::Mutex::new(rx)))
}

async fn pool(url: &str) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?)
}

/// Waits until no order is in flight, every outbox is drained and every queue (broker and
/// SQS) is empty, for 3 s in a row; returns how long that took.
async fn quiescence(platform: &Platform, bound: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    let orders = pool(&platform.database("orders")).await?;
    let outboxes = [
        pool(&platform.database("orders")).await?,
        pool(&platform.database("inventory")).await?,
        pool(&platform.database("payments")).await?,
    ];
    let sqs = aws_sdk_sqs::Client::new(&function_kit::aws::for_endpoint(&platform.moto.url).await);
    let mut quiet_since: Option<Instant> = None;
    let mut last_said = Instant::now();
    loop {
        let mut busy = Vec::new();
        let in_flight: i64 = sqlx::query_scalar(
            "select count(*) from orders where status in ('PENDING', 'RESERVED', 'PAID')",
        )
        .fetch_one(&orders)
        .await
        .unwrap_or(-1);
        if in_flight != 0 {
            busy.push(format!("{in_flight} orders in flight"));
        }
        for db in &outboxes {
            let pending: i64 =
                sqlx::query_scalar("select count(*) from outbox where published_at is null")
                    .fetch_one(db)
                    .await
                    .unwrap_or(-1);
            if pending != 0 {
                busy.push(format!("{pending} outbox rows"));
            }
        }
        if let Ok((_connection, channel)) =
            service_kit::messaging::connect(&platform.rabbit.url()).await
        {
            for queue in platform::CONSUMERS {
                let depth = queue_depth(&channel, queue).await;
                if depth != 0 {
                    busy.push(format!("{queue} queue {depth}"));
                }
            }
        }
        for (name, url) in &platform.created.queue_urls {
            let depth = sqs_depth(&sqs, url).await;
            if depth != 0 {
                busy.push(format!("{name} SQS {depth}"));
            }
        }
        let now = Instant::now();
        if busy.is_empty() {
            let since = *quiet_since.get_or_insert(now);
            if now - since >= Duration::from_secs(3) {
                return Ok(started.elapsed().as_secs_f64());
            }
        } else {
            quiet_since = None;
        }
        if started.elapsed() > bound {
            println!("    not quiet after {bound:?}: {}", busy.join(", "));
            return Ok(started.elapsed().as_secs_f64());
        }
        if !busy.is_empty() && now.duration_since(last_said) >= Duration::from_secs(10) {
            println!("    {:>7.1}s  waiting: {}", platform.now(), busy.join(", "));
            last_said = now;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn queue_depth(channel: &lapin::Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .map_or(0, |q| q.message_count())
}

async fn sqs_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let Ok(attributes) = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Name::All)
        .send()
        .await
    else {
        return 1;
    };
    [
        Name::ApproximateNumberOfMessages,
        Name::ApproximateNumberOfMessagesNotVisible,
        Name::ApproximateNumberOfMessagesDelayed,
    ]
    .into_iter()
    .map(|name| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1)
    })
    .sum()
}

/// A payment with its ledger summed per kind, as read.
#[derive(sqlx::FromRow)]
struct PaymentRow {
    order_id: String,
    status: String,
    amount: i64,
    psp_reference: Option<String>,
    authorized: i64,
    captured: i64,
    voided: i64,
    refunded: i64,
}

/// Reads what the platform holds after the run.
async fn collect(
    platform: &Platform,
    placed: Vec<load::Placed>,
    samples: Vec<load::Sample>,
    initial_stock: BTreeMap<String, i64>,
    lowest_available: Option<i64>,
    faults: Vec<faults::Applied>,
    receiver: &Receiver,
) -> anyhow::Result<Snapshot> {
    let orders_db = pool(&platform.database("orders")).await?;
    let inventory_db = pool(&platform.database("inventory")).await?;
    let payments_db = pool(&platform.database("payments")).await?;

    let mut orders: BTreeMap<String, Order> = BTreeMap::new();
    let rows: Vec<(uuid::Uuid, String, String, i64, f64)> = sqlx::query_as(
        "select id, customer_id, status, total_amount, \
                extract(epoch from (updated_at - created_at))::float8 from orders",
    )
    .fetch_all(&orders_db)
    .await?;
    for (id, customer, status, total, settled) in rows {
        orders.insert(
            id.to_string(),
            Order {
                customer,
                status,
                total,
                lines: Vec::new(),
                settled_seconds: settled,
            },
        );
    }
    let lines: Vec<(uuid::Uuid, String, i32)> =
        sqlx::query_as("select order_id, sku, quantity from order_lines")
            .fetch_all(&orders_db)
            .await?;
    for (id, sku, quantity) in lines {
        if let Some(order) = orders.get_mut(&id.to_string()) {
            order.lines.push((sku, i64::from(quantity)));
        }
    }

    let stock: BTreeMap<String, (i64, i64)> =
        sqlx::query_as::<_, (String, i32, i32)>("select sku, on_hand, reserved from stock")
            .fetch_all(&inventory_db)
            .await?
            .into_iter()
            .map(|(sku, on_hand, reserved)| (sku, (i64::from(on_hand), i64::from(reserved))))
            .collect();

    let mut payments: BTreeMap<String, Payment> = BTreeMap::new();
    let rows: Vec<PaymentRow> = sqlx::query_as(
        "select p.order_id, p.status, p.amount, p.psp_reference, \
                coalesce(sum(l.amount) filter (where l.kind = 'authorization'), 0)::bigint as authorized, \
                coalesce(sum(l.amount) filter (where l.kind = 'capture'), 0)::bigint as captured, \
                coalesce(sum(l.amount) filter (where l.kind = 'void'), 0)::bigint as voided, \
                coalesce(sum(l.amount) filter (where l.kind = 'refund'), 0)::bigint as refunded \
         from payments p left join ledger_entries l on l.payment_id = p.id \
         group by p.id",
    )
    .fetch_all(&payments_db)
    .await?;
    for row in rows {
        payments.insert(
            row.order_id,
            Payment {
                status: row.status,
                amount: row.amount,
                reference: row.psp_reference,
                authorized: row.authorized,
                captured: row.captured,
                voided: row.voided,
                refunded: row.refunded,
            },
        );
    }

    let http = reqwest::Client::new();
    let simulator = platform.service("psp-simulator")?.url();
    let made: Value = http
        .get(format!("{simulator}/_simulator/payment_intents"))
        .send()
        .await?
        .json()
        .await?;
    let provider: BTreeMap<String, String> = made["status"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();

    // moto renders its state while requests change it, and now and then answers with an
    // error page: read again.
    let mut data = Value::Null;
    for _ in 0..20 {
        if let Ok(answer) = http
            .get(format!("{}/moto-api/data.json", platform.moto.url))
            .send()
            .await
            && let Ok(value) = answer.json::<Value>().await
        {
            data = value;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if data.is_null() {
        bail!("moto's data.json could not be read");
    }
    let mut emails: BTreeMap<String, u32> = BTreeMap::new();
    for message in data["ses"]["Message"].as_array().into_iter().flatten() {
        for id in check::uuids_in(&message.to_string()) {
            if orders.contains_key(&id) {
                *emails.entry(id).or_default() += 1;
            }
        }
    }

    let mut outbox_pending = BTreeMap::new();
    for (name, db) in [
        ("orders", &orders_db),
        ("inventory", &inventory_db),
        ("payments", &payments_db),
    ] {
        let pending: i64 =
            sqlx::query_scalar("select count(*) from outbox where published_at is null")
                .fetch_one(db)
                .await?;
        outbox_pending.insert(name.to_owned(), pending);
    }

    let mut dead_letters = Vec::new();
    let (_connection, channel) = service_kit::messaging::connect(&platform.rabbit.url()).await?;
    for queue in platform::CONSUMERS {
        for letter in service_kit::messaging::list_dead_letters(&channel, queue).await? {
            dead_letters.push(Parked {
                queue: format!("{queue}.dlq"),
                id: letter.id,
                reason: letter
                    .error
                    .unwrap_or_else(|| "(no reason recorded)".into()),
            });
        }
    }
    let sqs = aws_sdk_sqs::Client::new(&function_kit::aws::for_endpoint(&platform.moto.url).await);
    for (name, url) in &platform.created.dlq_urls {
        let depth = sqs_depth(&sqs, url).await;
        if depth > 0 {
            let bodies = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .send()
                .await
                .map(|r| {
                    r.messages()
                        .iter()
                        .map(|m| {
                            m.body()
                                .unwrap_or_default()
                                .chars()
                                .take(200)
                                .collect::<String>()
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            dead_letters.push(Parked {
                queue: format!("{name}-dlq (SQS)"),
                id: format!("{depth} messages"),
                reason: format!(
                    "failed every receive of its function; first bodies: {}",
                    bodies.join(" | ")
                ),
            });
        }
    }

    Ok(Snapshot {
        orders,
        placed,
        initial_stock,
        stock,
        lowest_available,
        payments,
        provider,
        emails,
        webhooks: receiver.deliveries().await,
        outbox_pending,
        dead_letters,
        samples,
        faults,
    })
}

/// The partner endpoint the webhook subscription points at: it counts every delivery.
struct Receiver {
    url: String,
    seen: Arc<tokio::sync::Mutex<Vec<Delivery>>>,
}

impl Receiver {
    async fn start() -> anyhow::Result<Self> {
        let seen: Arc<tokio::sync::Mutex<Vec<Delivery>>> = Arc::default();
        let app = {
            let seen = seen.clone();
            axum::Router::new().route(
                "/hooks",
                axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                    let seen = seen.clone();
                    async move {
                        let event: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        let delivery = Delivery {
                            id: headers
                                .get("webhook-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned(),
                            event_type: event["type"].as_str().unwrap_or_default().to_owned(),
                            order_id: event["data"]["order_id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        };
                        seen.lock().await.push(delivery);
                        axum::http::StatusCode::NO_CONTENT
                    }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            url: format!("http://{addr}/hooks"),
            seen,
        })
    }

    async fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().await.clone()
    }
}

/// Prints the report and returns it as JSON.
fn report(
    options: &Options,
    platform: &Platform,
    s: &Snapshot,
    outcomes: &[check::Outcome],
    quiet: f64,
    load_ended: f64,
) -> Value {
    let count = |status: &str| s.orders.values().filter(|o| o.status == status).count();
    let accepted = s.placed.iter().filter(|p| !p.order_ids.is_empty()).count();
    let refused: BTreeMap<String, usize> =
        s.placed
            .iter()
            .filter(|p| p.order_ids.is_empty())
            .fold(BTreeMap::new(), |mut m, p| {
                let reason: String = p.outcome.chars().take(60).collect();
                *m.entry(reason).or_default() += 1;
                m
            });
    let redelivered = s.webhooks.len()
        - s.webhooks
            .iter()
            .map(|d| d.id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
    let mut recovery: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for f in &s.faults {
        if let Some(r) = f.recovered {
            recovery.entry(f.kind).or_default().push(r - f.at);
        }
    }
    println!();
    println!(
        "chaos run: {} checkouts at {}/s, seed {}, {} faults",
        options.orders,
        options.rate,
        options.seed,
        s.faults.len()
    );
    println!(
        "  accepted {accepted}, confirmed {}, cancelled {}, refused at checkout {}",
        count("CONFIRMED"),
        count("CANCELLED"),
        s.placed.len() - accepted
    );
    for (reason, n) in &refused {
        println!("    refused {n:>5}  {reason}");
    }
    println!(
        "  quiet {quiet:.1} s after the load ended at {load_ended:.1} s; webhook redeliveries {redelivered}"
    );
    println!();
    println!(
        "  {:<22} {:>8} {:>8} {:>10}",
        "fault", "at s", "down s", "recovered"
    );
    for f in &s.faults {
        println!(
            "  {:<22} {:>8.1} {:>8.1} {:>10}",
            f.name,
            f.at,
            f.healed - f.at,
            f.recovered
                .map_or("NO".to_owned(), |r| format!("{:.1} s", r - f.at))
        );
    }
    println!();
    let phases = check::phases(s);
    println!(
        "  {:<22} {:>8} {:>7} {:>8} {:>8} {:>8}",
        "phase", "requests", "errors", "p50 ms", "p95 ms", "p99 ms"
    );
    for p in &phases {
        println!(
            "  {:<22} {:>8} {:>7} {:>8.1} {:>8.1} {:>8.1}",
            p["phase"].as_str().unwrap_or_default(),
            p["requests"].as_u64().unwrap_or_default(),
            p["errors"].as_u64().unwrap_or_default(),
            p["p50_ms"].as_f64().unwrap_or_default(),
            p["p95_ms"].as_f64().unwrap_or_default(),
            p["p99_ms"].as_f64().unwrap_or_default()
        );
    }
    println!();
    println!("  {:<64} {:>8} {:>7}", "invariant", "checked", "failed");
    for o in outcomes {
        println!(
            "  {:<64} {:>8} {:>7}  {}",
            o.name,
            o.checked,
            o.failed,
            if o.held() { "ok" } else { "FAILED" }
        );
        for example in &o.examples {
            println!("      {example}");
        }
    }
    let mut settle: Vec<f64> = s.orders.values().map(|o| o.settled_seconds).collect();
    settle.sort_by(f64::total_cmp);
    let settle_at = |p: f64| {
        settle
            .get(((p / 100.0) * settle.len().saturating_sub(1) as f64).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "  accepted -> ended (last change of the order): p50 {:.2} s, p95 {:.2} s, p99 {:.2} s, max {:.2} s",
        settle_at(50.0),
        settle_at(95.0),
        settle_at(99.0),
        settle_at(100.0)
    );
    let restarts: BTreeMap<&str, Value> = platform
        .services
        .iter()
        .map(|svc| {
            let exits = svc.exits.try_lock().map(|e| e.clone()).unwrap_or_default();
            (
                svc.name,
                json!({
                    "restarts": svc.restarts.load(std::sync::atomic::Ordering::SeqCst),
                    "exits_by_itself": exits.iter().map(|(at, status)| json!({"at": at, "status": status})).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    json!({
        "command": format!(
            "cargo xtask chaos --orders {} --rate {} --seed {} --faults {}{}",
            options.orders, options.rate, options.seed, options.faults,
            if options.release { "" } else { " --debug" }
        ),
        "build": if options.release { "release" } else { "debug" },
        "commit": crate::util::run("git", &["rev-parse", "--short", "HEAD"]).map(|c| c.trim().to_owned()).unwrap_or_default(),
        "orders": {
            "placed": s.placed.len(),
            "accepted": accepted,
            "confirmed": count("CONFIRMED"),
            "cancelled": count("CANCELLED"),
            "in_flight": s.orders.len() - count("CONFIRMED") - count("CANCELLED"),
            "refused_at_checkout": refused,
        },
        "lost": outcomes.iter().filter(|o| o.name.starts_with("orders: every") || o.name.starts_with("notifications") || o.name.starts_with("webhooks")).map(|o| o.failed).sum::<usize>(),
        "duplicated": outcomes.iter().filter(|o| o.name.starts_with("orders: one")).map(|o| o.failed).sum::<usize>(),
        "oversold": outcomes.iter().filter(|o| o.name.starts_with("stock")).map(|o| o.failed).sum::<usize>(),
        "webhook_redeliveries": redelivered,
        "accepted_to_ended_seconds": {"p50": settle_at(50.0), "p95": settle_at(95.0), "p99": settle_at(99.0), "max": settle_at(100.0)},
        "quiescence_seconds": quiet,
        "load_seconds": load_ended,
        "faults": s.faults.iter().map(|f| json!({
            "name": f.name, "kind": f.kind, "at": f.at, "down_seconds": f.healed - f.at,
            "recovered_after_seconds": f.recovered.map(|r| r - f.at),
        })).collect::<Vec<_>>(),
        "recovery_seconds_by_kind": recovery.iter().map(|(k, v)| (k.to_string(), json!({
            "max": v.iter().copied().fold(0.0, f64::max),
            "mean": v.iter().sum::<f64>() / v.len() as f64,
        }))).collect::<serde_json::Map<_, _>>(),
        "processes": restarts,
        "phases": phases,
        "invariants": outcomes.iter().map(|o| json!({
            "name": o.name, "checked": o.checked, "failed": o.failed, "held": o.held(), "examples": o.examples,
        })).collect::<Vec<_>>(),
        "dead_letters": s.dead_letters.iter().map(|d| json!({"queue": d.queue, "id": d.id, "reason": d.reason})).collect::<Vec<_>>(),
        "ok": outcomes.iter().all(check::Outcome::held),
    })
}

//! The serverless part of `cargo xtask bench`, on the whole platform as `cargo xtask up
//! --release` runs it (moto, `cargo lambda watch --release`, the event source mappings):
//!
//! - event-to-email latency: from the order's `confirmed` timeline step to the email recorded
//!   in moto, p50 and p95, against the floor of the AWS hop measured in the same run (publish to
//!   the SNS topic, received from a subscribed SQS queue on moto).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::aws::MOTO_URL;
use crate::util::step;

/// Orders whose confirmation email is timed.
pub const ORDERS: usize = 20;

/// Figures of one serverless run.
pub struct ServerlessFigures {
    /// Order confirmed to email in moto, ms.
    pub email_p50_ms: f64,
    /// 95th percentile, ms.
    pub email_p95_ms: f64,
    /// SNS publish to SQS receive on moto, median ms.
    pub hop_p50_ms: f64,
    /// Orders timed.
    pub orders: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Median of publishing to the topic and receiving from a queue subscribed to it (raw
/// delivery), on moto: the floor under any event-to-email latency.
async fn aws_hop(topic_arn: &str) -> anyhow::Result<f64> {
    let config = function_kit::aws::for_endpoint(MOTO_URL).await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = format!("bench-hop-{}", std::process::id());
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .context("creating the hop queue")?;
    let url = queue.queue_url().unwrap_or_default().to_owned();
    let arn = format!("arn:aws:sqs:us-east-1:123456789012:{name}");
    let subscription = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(&arn)
        .attributes("RawMessageDelivery", "true")
        .attributes(
            "FilterPolicy",
            json!({"event_type": ["bench.hop"]}).to_string(),
        )
        .send()
        .await
        .context("subscribing the hop queue")?;
    let mut hops = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        sns.publish()
            .topic_arn(topic_arn)
            .message(format!("hop {i}"))
            .message_attributes(
                "event_type",
                aws_sdk_sns::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("bench.hop")
                    .build()?,
            )
            .send()
            .await?;
        loop {
            let got = sqs
                .receive_message()
                .queue_url(&url)
                .wait_time_seconds(1)
                .send()
                .await?;
            if let Some(message) = got.messages().first() {
                hops.push(started.elapsed().as_secs_f64() * 1000.0);
                if let Some(handle) = message.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
                break;
            }
        }
    }
    if let Some(arn) = subscription.subscription_arn() {
        let _ = sns.unsubscribe().subscription_arn(arn).send().await;
    }
    let _ = sqs.delete_queue().queue_url(&url).send().await;
    hops.sort_by(f64::total_cmp);
    Ok(percentile(&hops, 0.5))
}

async fn sign_up(client: &reqwest::Client, gateway: &str) -> anyhow::Result<String> {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "correct horse battery staple";
    let registered = client
        .post(format!("{gateway}/api/v1/auth/register"))
        .json(&json!({"email": email, "password": password, "name": "Bench"}))
        .send()
        .await?;
    if !registered.status().is_success() {
        bail!("register: {}", registered.status());
    }
    let tokens: Value = client
        .post(format!("{gateway}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .json()
        .await?;
    tokens["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access token")
}

/// The signed-up shopper's user id.
async fn user_id(client: &reqwest::Client, gateway: &str, token: &str) -> anyhow::Result<String> {
    let me: Value = client
        .get(format!("{gateway}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    me["id"].as_str().map(str::to_owned).context("no user id")
}

/// Places one order with `pm_card_visa` straight at the orders service as the shopper (the
/// gateway's per-shopper checkout quota would otherwise pace the run); returns its id.
async fn place(client: &reqwest::Client, shopper: &str) -> anyhow::Result<String> {
    let orders = "http://127.0.0.1:8083";
    let put = client
        .put(format!("{orders}/cart/lines/ELE-00002"))
        .header("x-auth-subject", shopper)
        .header("x-auth-roles", "shopper")
        .json(&json!({"quantity": 1}))
        .send()
        .await?;
    if !put.status().is_success() {
        bail!(
            "cart: {} {}",
            put.status(),
            put.text().await.unwrap_or_default()
        );
    }
    let placed = client
        .post(format!("{orders}/checkout"))
        .header("x-auth-subject", shopper)
        .header("x-auth-roles", "shopper")
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"payment_method": "pm_card_visa"}))
        .send()
        .await?;
    if placed.status() != reqwest::StatusCode::ACCEPTED {
        bail!(
            "checkout: {} {}",
            placed.status(),
            placed.text().await.unwrap_or_default()
        );
    }
    let body: Value = placed.json().await?;
    body["order_id"]
        .as_str()
        .map(str::to_owned)
        .context("no order id")
}

/// When the order reached CONFIRMED (its timeline step), as unix seconds.
async fn confirmed_at(client: &reqwest::Client, order: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    loop {
        let detail: Value =
            crate::demo::admin(client.get(format!("http://127.0.0.1:8083/admin/orders/{order}")))
                .send()
                .await?
                .json()
                .await?;
        let step = detail["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["step"] == "confirmed")
            .and_then(|s| s["at"].as_str())
            .map(str::to_owned);
        if let Some(at) = step {
            let at =
                time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)?;
            return Ok(at.unix_timestamp_nanos() as f64 / 1e9);
        }
        if detail["status"] == "CANCELLED" || started.elapsed() > Duration::from_secs(60) {
            bail!(
                "order {order} did not reach CONFIRMED: {}",
                detail["status"]
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the serverless benchmark on a platform just started with `up --detach --release`.
pub async fn run_serverless(topic_arn: &str) -> anyhow::Result<ServerlessFigures> {
    let client = reqwest::Client::new();
    step("AWS hop on moto: SNS publish to SQS receive");
    let hop_p50_ms = aws_hop(topic_arn).await?;
    step(&format!(
        "event to email: {ORDERS} orders confirmed, emails awaited in moto"
    ));
    let gateway = "http://127.0.0.1:8080";
    let token = sign_up(&client, gateway).await?;
    let shopper = user_id(&client, gateway, &token).await?;
    // Enough stock for the run, whatever earlier runs sold.
    let restocked =
        crate::demo::admin(client.put("http://127.0.0.1:8082/admin/inventory/ELE-00002"))
            .json(&json!({"adjust": ORDERS, "reason": "serverless benchmark"}))
            .send()
            .await?;
    if !restocked.status().is_success() {
        bail!("restocking ELE-00002: {}", restocked.status());
    }
    let mut latencies = Vec::new();
    for _ in 0..ORDERS {
        let order = place(&client, &shopper).await?;
        let confirmed = confirmed_at(&client, &order).await?;
        let started = Instant::now();
        loop {
            // moto now and then answers an error page while its state changes: poll again.
            let data: Value = match client
                .get(format!("{MOTO_URL}/moto-api/data.json"))
                .send()
                .await?
                .json()
                .await
            {
                Ok(data) => data,
                Err(_) => Value::Null,
            };
            if data["ses"]["Message"].to_string().contains(&order) {
                let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
                latencies.push((now - confirmed) * 1000.0);
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("no email for order {order} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(ServerlessFigures {
        email_p50_ms: percentile(&latencies, 0.5),
        email_p95_ms: percentile(&latencies, 0.95),
        hop_p50_ms,
        orders: latencies.len(),
    })
}

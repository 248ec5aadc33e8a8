//! The shoppers of a chaos run: products whose stock runs out, shoppers who sign up and in
//! through the gateway, and checkouts at a fixed arrival rate with mixed payment tokens. Each
//! client retries the way a well-behaved client does: the same idempotency key on every retry
//! of a checkout, a new sign-in when its session is gone, and a backoff on 429 and 5xx.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::Rng;

/// Stripe test payment methods the simulator knows and how often each is used (out of 100).
pub const TOKENS: &[(&str, u32)] = &[
    ("pm_card_visa", 60),
    ("pm_card_chargeDeclined", 10),
    ("pm_card_threeDSecure2Required", 10),
    ("pm_card_threeDSecureRequiredChargeDeclined", 10),
    ("pm_card_simulatorTimeout", 10),
];

/// Whether a token can end in a confirmed order (stock permitting).
pub fn approves(token: &str) -> bool {
    matches!(token, "pm_card_visa" | "pm_card_threeDSecure2Required")
}

/// One HTTP answer the clients saw.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds into the run when the request was sent.
    pub at: f64,
    /// How long the answer took.
    pub latency_ms: f64,
    /// Status code; 0 when the connection failed or timed out.
    pub status: u16,
    /// What the request was (`cart`, `checkout`, `login`, ...).
    pub what: &'static str,
}

/// A checkout as the client knows it.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Its idempotency key.
    pub key: String,
    /// The shopper (user id).
    pub customer: String,
    /// The payment token.
    pub token: &'static str,
    /// `(sku, quantity)`.
    pub lines: Vec<(String, i64)>,
    /// Every order id an answer to this key named (one, unless a key was accepted twice).
    pub order_ids: Vec<String>,
    /// The final answer (`202`, or the refusal).
    pub outcome: String,
}

/// A signed-in shopper.
#[derive(Debug)]
pub struct Shopper {
    /// User id.
    pub id: String,
    email: String,
    token: Mutex<String>,
}

/// What the clients recorded.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Every answer.
    pub samples: Mutex<Vec<Sample>>,
    /// Every checkout.
    pub placed: Mutex<Vec<Placed>>,
}

/// The shoppers' side of the run.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The gateway.
    pub gateway: String,
    http: reqwest::Client,
    started: Instant,
    /// What they saw.
    pub recorded: Arc<Recorded>,
}

const PASSWORD: &str = "chaos-shopper-password";

/// How long a client keeps retrying one request before it gives up.
const GIVE_UP: Duration = Duration::from_secs(240);

impl Clients {
    /// Clients of the gateway at `gateway`, on the run's clock.
    pub fn new(gateway: String, started: Instant) -> anyhow::Result<Self> {
        Ok(Self {
            gateway,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(64)
                .build()?,
            started,
            recorded: Arc::new(Recorded::default()),
        })
    }

    async fn record(&self, sent: Instant, status: u16, what: &'static str) {
        let sample = Sample {
            at: sent.duration_since(self.started).as_secs_f64(),
            latency_ms: sent.elapsed().as_secs_f64() * 1000.0,
            status,
            what,
        };
        self.recorded.samples.lock().await.push(sample);
    }

    /// Sends a request until it gets an answer that is not a 429, a 5xx or a failed connection
    /// (recording each), signing in again when the session is gone.
    async fn send(
        &self,
        shopper: Option<&Shopper>,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        what: &'static str,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let first = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.gateway));
            if let Some(shopper) = shopper {
                let token = shopper.token.lock().await.clone();
                request = request.bearer_auth(token);
            }
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let sent = Instant::now();
            let answer = request.send().await;
            let retry = match answer {
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    self.record(sent, status.as_u16(), what).await;
                    if status == StatusCode::UNAUTHORIZED
                        && let Some(shopper) = shopper
                    {
                        Box::pin(self.sign_in(shopper)).await?;
                        continue;
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS
                        || status.is_server_error()
                        // An earlier attempt with this key is still being handled.
                        || (key.is_some() && status == StatusCode::CONFLICT
                            && text.contains("retry"))
                    {
                        format!("{status} {text}")
                    } else {
                        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        return Ok((status, value));
                    }
                }
                Err(err) => {
                    self.record(sent, 0, what).await;
                    err.to_string()
                }
            };
            if first.elapsed() > GIVE_UP {
                bail!("{what} {path}: gave up after {GIVE_UP:?}: {retry}");
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Registers a shopper through the gateway and signs in.
    pub async fn shopper(&self, n: usize, run: &str) -> anyhow::Result<Shopper> {
        let email = format!("shopper-{n}-{run}@example.com");
        let (status, body) = self
            .send(
                None,
                Method::POST,
                "/api/v1/auth/register",
                Some(
                    &json!({"email": email, "password": PASSWORD, "name": format!("Shopper {n}")}),
                ),
                None,
                "register",
            )
            .await?;
        // 202 whether or not the email is known (a retried registration included).
        if status != StatusCode::ACCEPTED {
            bail!("registering {email}: {status} {body}");
        }
        let shopper = Shopper {
            id: String::new(),
            email,
            token: Mutex::new(String::new()),
        };
        self.sign_in(&shopper).await?;
        let (status, me) = self
            .send(Some(&shopper), Method::GET, "/api/v1/me", None, None, "me")
            .await?;
        let id = me["id"]
            .as_str()
            .with_context(|| format!("/me answered {status} {me}"))?
            .to_owned();
        Ok(Shopper { id, ..shopper })
    }

    async fn sign_in(&self, shopper: &Shopper) -> anyhow::Result<()> {
        let (status, tokens) = self
            .send(
                None,
                Method::POST,
                "/api/v1/auth/login",
                Some(&json!({"email": shopper.email, "password": PASSWORD})),
                None,
                "login",
            )
            .await?;
        let token = tokens["access_token"]
            .as_str()
            .with_context(|| format!("login answered {status} {tokens}"))?;
        *shopper.token.lock().await = token.to_owned();
        Ok(())
    }

    /// Fills the cart and checks out once; records what happened.
    pub async fn checkout(
        &self,
        shopper: &Shopper,
        lines: Vec<(String, i64)>,
        token: &'static str,
        key: String,
    ) -> anyhow::Result<()> {
        let mut placed = Placed {
            key: key.clone(),
            customer: shopper.id.clone(),
            token,
            lines: lines.clone(),
            order_ids: Vec::new(),
            outcome: String::new(),
        };
        let mut refused = None;
        for (sku, quantity) in &lines {
            let (status, body) = self
                .send(
                    Some(shopper),
                    Method::PUT,
                    &format!("/api/v1/cart/lines/{sku}"),
                    Some(&json!({"quantity": quantity})),
                    None,
                    "cart",
                )
                .await?;
            if status != StatusCode::OK {
                refused = Some(format!("cart {status} {}", body["detail"]));
                break;
            }
        }
        if refused.is_none() {
            // The same key on every retry: the order is placed once, whatever got lost.
            {
                let (status, body) = self
                    .send(
                        Some(shopper),
                        Method::POST,
                        "/api/v1/checkout",
                        Some(&json!({"payment_method": token})),
                        Some(&key),
                        "checkout",
                    )
                    .await?;
                if status == StatusCode::ACCEPTED {
                    let id = body["order_id"].as_str().unwrap_or_default().to_owned();
                    placed.order_ids.push(id);
                    // Ask once more with the same key, as a client whose answer got lost
                    // would: the platform must name the same order.
                    let (again, replay) = self
                        .send(
                            Some(shopper),
                            Method::POST,
                            "/api/v1/checkout",
                            Some(&json!({"payment_method": token})),
                            Some(&key),
                            "checkout",
                        )
                        .await?;
                    if again == StatusCode::ACCEPTED
                        && let Some(other) = replay["order_id"].as_str()
                        && !placed.order_ids.iter().any(|o| o == other)
                    {
                        placed.order_ids.push(other.to_owned());
                    }
                    placed.outcome = "202".into();
                } else {
                    refused = Some(format!("checkout {status} {}", body["detail"]));
                }
            }
        }
        if let Some(reason) = refused {
            placed.outcome = reason;
            // Leave an empty cart for the shopper's next order.
            self.send(
                Some(shopper),
                Method::DELETE,
                "/api/v1/cart",
                None,
                None,
                "cart",
            )
            .await?;
        }
        self.recorded.placed.lock().await.push(placed);
        Ok(())
    }
}

/// The order a chaos run places: `(lines, token)`, drawn from the seeded generator.
pub fn draw_order(rng: &mut Rng, skus: &[String]) -> (Vec<(String, i64)>, &'static str) {
    let count = 1 + rng.below(2) as usize;
    let mut lines: Vec<(String, i64)> = Vec::new();
    while lines.len() < count {
        let sku = &skus[rng.below(skus.len() as u64) as usize];
        if !lines.iter().any(|(s, _)| s == sku) {
            lines.push((sku.clone(), 1 + rng.below(2) as i64));
        }
    }
    let mut pick = rng.below(100) as u32;
    let mut token = TOKENS[0].0;
    for (name, weight) in TOKENS {
        if pick < *weight {
            token = name;
            break;
        }
        pick -= weight;
    }
    (lines, token)
}

/// Creates `count` products (catalog's admin API) and counts their stock (inventory's).
pub async fn products(
    http: &reqwest::Client,
    catalog: &str,
    inventory: &str,
    count: usize,
    stock_each: i64,
    rng: &mut Rng,
) -> anyhow::Result<Vec<String>> {
    let mut skus = Vec::new();
    for n in 1..=count {
        let sku = format!("CHAOS-{n:04}");
        let price = 500 + 100 * rng.below(90) as i64;
        let created = crate::demo::admin(http.post(format!("{catalog}/admin/products")))
            .json(&json!({
                "sku": sku,
                "name": format!("Chaos product {n}"),
                "description": "A product whose stock runs out during a chaos run",
                "price": {"amount": price, "currency": "EUR"},
            }))
            .send()
            .await?;
        if created.status() != StatusCode::CREATED {
            bail!(
                "creating {sku}: {} {}",
                created.status(),
                created.text().await.unwrap_or_default()
            );
        }
        let stocked = crate::demo::admin(http.put(format!("{inventory}/admin/inventory/{sku}")))
            .json(&json!({"on_hand": stock_each, "reason": "chaos run", "low_threshold": 0}))
            .send()
            .await?;
        if stocked.status() != StatusCode::OK {
            bail!(
                "stocking {sku}: {} {}",
                stocked.status(),
                stocked.text().await.unwrap_or_default()
            );
        }
        skus.push(sku);
    }
    Ok(skus)
}

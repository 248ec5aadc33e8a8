//! The faults of a chaos run, one at a time: what each does, the seeded order they come in,
//! and when the platform recovered from each.

use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::Method;

use super::Rng;
use super::platform::{BROKER_CLIENTS, Platform};

/// Processes a kill fault can hit.
pub const KILLABLE: &[&str] = &[
    "catalog",
    "users",
    "gateway",
    "inventory",
    "orders",
    "payments",
    "bridge",
];

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL of a service process; the supervisor restarts it.
    Kill(&'static str),
    /// `rabbitmqctl stop_app`, then `start_app`.
    RabbitStopApp,
    /// SIGKILL of the RabbitMQ node, then a start on the same data.
    RabbitKill,
    /// `pg_ctl stop -m immediate`, then a start.
    PostgresStop,
    /// Redis killed and started empty.
    RedisRestart,
    /// moto unreachable (its proxy refuses and closes every connection).
    AwsOutage,
    /// The connection between one service and the broker cut for a while.
    BrokerCut(&'static str),
}

impl Fault {
    /// Its name in reports and in `--faults`.
    pub fn name(&self) -> String {
        match self {
            Self::Kill(service) => format!("kill-{service}"),
            Self::BrokerCut(service) => format!("broker-cut-{service}"),
            other => other.kind().to_owned(),
        }
    }

    /// Its kind (the recovery table groups by it).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Kill(_) => "kill",
            Self::RabbitStopApp => "rabbitmq-stop-app",
            Self::RabbitKill => "rabbitmq-kill",
            Self::PostgresStop => "postgres-stop",
            Self::RedisRestart => "redis-restart",
            Self::AwsOutage => "aws-outage",
            Self::BrokerCut(_) => "broker-cut",
        }
    }
}

/// Every fault kind, for `--faults all`.
pub const KINDS: &[&str] = &[
    "kill",
    "rabbitmq-stop-app",
    "rabbitmq-kill",
    "postgres-stop",
    "redis-restart",
    "aws-outage",
    "broker-cut",
];

/// The faults `list` names (comma-separated kinds or names; `all` for every kind), in the
/// seeded order they will be applied. A `kill` is one per process; a `broker-cut` hits a
/// service the seed picks.
pub fn schedule(list: &str, rng: &mut Rng) -> anyhow::Result<Vec<Fault>> {
    let mut faults = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let add: Vec<Fault> = match item {
            "all" => {
                let mut all = Vec::new();
                for kind in KINDS {
                    all.extend(of_kind(kind, rng)?);
                }
                all
            }
            other => match other.strip_prefix("kill-") {
                Some(service) => vec![Fault::Kill(killable(service)?)],
                None => match other.strip_prefix("broker-cut-") {
                    Some(service) => vec![Fault::BrokerCut(broker_client(service)?)],
                    None => of_kind(other, rng)?,
                },
            },
        };
        for fault in add {
            if !faults.contains(&fault) {
                faults.push(fault);
            }
        }
    }
    // Fisher-Yates with the run's generator: the seed decides the order.
    for i in (1..faults.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        faults.swap(i, j);
    }
    Ok(faults)
}

fn killable(service: &str) -> anyhow::Result<&'static str> {
    match KILLABLE.iter().find(|s| **s == service) {
        Some(s) => Ok(s),
        None => bail!(
            "unknown service `{service}` (kill: {})",
            KILLABLE.join(", ")
        ),
    }
}

fn broker_client(service: &str) -> anyhow::Result<&'static str> {
    match BROKER_CLIENTS.iter().find(|s| **s == service) {
        Some(s) => Ok(s),
        None => bail!(
            "`{service}` has no broker connection (broker-cut: {})",
            BROKER_CLIENTS.join(", ")
        ),
    }
}

fn of_kind(kind: &str, rng: &mut Rng) -> anyhow::Result<Vec<Fault>> {
    Ok(match kind {
        "kill" => KILLABLE.iter().map(|s| Fault::Kill(s)).collect(),
        "rabbitmq-stop-app" => vec![Fault::RabbitStopApp],
        "rabbitmq-kill" => vec![Fault::RabbitKill],
        "rabbitmq" => vec![Fault::RabbitStopApp, Fault::RabbitKill],
        "postgres-stop" => vec![Fault::PostgresStop],
        "redis-restart" => vec![Fault::RedisRestart],
        "aws-outage" => vec![Fault::AwsOutage],
        "broker-cut" => {
            let service = BROKER_CLIENTS[rng.below(BROKER_CLIENTS.len() as u64) as usize];
            vec![Fault::BrokerCut(service)]
        }
        other => bail!(
            "unknown fault `{other}` (kinds: all, {}, rabbitmq; or kill-<service>, broker-cut-<service>)",
            KINDS.join(", ")
        ),
    })
}

/// A fault as it happened, in seconds into the run.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Fault name.
    pub name: String,
    /// Fault kind.
    pub kind: &'static str,
    /// When it was applied.
    pub at: f64,
    /// When the fault itself ended (process restarted, server back, link up).
    pub healed: f64,
    /// When every process was ready and every route answered again; `None` when it did not
    /// within the bound.
    pub recovered: Option<f64>,
}

/// How long an AWS outage lasts.
pub const AWS_OUTAGE: Duration = Duration::from_secs(30);
/// How long a server stays down before it is started again.
const SERVER_DOWN: Duration = Duration::from_secs(5);
/// How long a broker link stays cut.
const LINK_DOWN: Duration = Duration::from_secs(10);
/// How long the platform gets to recover before the run counts the fault as not recovered.
const RECOVERY_BOUND: Duration = Duration::from_secs(180);

/// Applies one fault, ends it, and waits until the platform has recovered.
pub async fn apply(
    platform: &mut Platform,
    fault: Fault,
    probe: &Probe,
) -> anyhow::Result<Applied> {
    let at = platform.now();
    println!("    {at:>7.1}s  fault {}", fault.name());
    match fault {
        Fault::Kill(service) => {
            platform.service(service)?.kill().await?;
            tokio::time::sleep(super::platform::RESTART_DELAY).await;
        }
        Fault::RabbitStopApp => {
            platform.rabbit.stop_app()?;
            tokio::time::sleep(SERVER_DOWN).await;
            platform.rabbit.start_app().await?;
        }
        Fault::RabbitKill => {
            platform.rabbit.kill()?;
            tokio::time::sleep(SERVER_DOWN).await;
            platform.rabbit.restart().await?;
        }
        Fault::PostgresStop => {
            platform.postgres.stop_immediate()?;
            tokio::time::sleep(SERVER_DOWN).await;
            platform.postgres.start_again()?;
        }
        Fault::RedisRestart => platform.redis.restart()?,
        Fault::AwsOutage => {
            platform.moto.proxy.down();
            tokio::time::sleep(AWS_OUTAGE).await;
            platform.moto.proxy.up();
        }
        Fault::BrokerCut(service) => {
            if let Some(link) = platform.broker_links.get(service) {
                link.down();
                tokio::time::sleep(LINK_DOWN).await;
                link.up();
            }
        }
    }
    let healed = platform.now();
    let waited = Instant::now();
    let mut recovered = None;
    // A killed process needs its restart first: give the supervisor a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while waited.elapsed() < RECOVERY_BOUND {
        if platform.all_ready(&probe.http).await && probe.routes_answer().await {
            recovered = Some(platform.now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    match recovered {
        Some(t) => println!(
            "    {t:>7.1}s  recovered from {} ({:.1} s after it began)",
            fault.name(),
            t - at
        ),
        None => println!(
            "    {:>7.1}s  NOT recovered from {} within {RECOVERY_BOUND:?}",
            platform.now(),
            fault.name()
        ),
    }
    Ok(Applied {
        name: fault.name(),
        kind: fault.kind(),
        at,
        healed,
        recovered,
    })
}

/// Requests through the gateway that reach every service: the platform has recovered when
/// they all answer 200.
pub struct Probe {
    /// Client.
    pub http: reqwest::Client,
    /// Gateway base URL.
    pub gateway: String,
    /// An administrator's e-mail and password (the probe signs in again when Redis lost its
    /// session).
    pub admin: (String, String),
    /// Its access token.
    pub admin_token: tokio::sync::Mutex<String>,
    /// A SKU that exists.
    pub sku: String,
}

impl Probe {
    /// Signs the administrator in; false when that failed.
    pub async fn sign_in(&self) -> bool {
        let answer = self
            .http
            .post(format!("{}/api/v1/auth/login", self.gateway))
            .json(&serde_json::json!({"email": self.admin.0, "password": self.admin.1}))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let Ok(answer) = answer else { return false };
        let Ok(tokens) = answer.json::<serde_json::Value>().await else {
            return false;
        };
        match tokens["access_token"].as_str() {
            Some(token) => {
                *self.admin_token.lock().await = token.to_owned();
                true
            }
            None => false,
        }
    }

    async fn routes_answer(&self) -> bool {
        let token = self.admin_token.lock().await.clone();
        for path in [
            "/api/v1/products?limit=1".to_owned(),
            format!("/api/v1/inventory/{}", self.sku),
            "/api/v1/me".to_owned(),
            "/api/v1/cart".to_owned(),
            "/api/v1/admin/payments?limit=1".to_owned(),
        ] {
            let ok = self
                .http
                .request(Method::GET, format!("{}{path}", self.gateway))
                .bearer_auth(&token)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            match ok {
                Ok(r) if r.status().is_success() => {}
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    self.sign_in().await;
                    return false;
                }
                _ => return false,
            }
        }
        true
    }
}

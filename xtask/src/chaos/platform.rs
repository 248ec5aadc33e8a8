//! The platform of a chaos run, as `cargo xtask up` runs it: every service its own process,
//! the functions under `cargo lambda watch` fed by event source mappings, all on the run's own
//! servers. A supervisor restarts a process that exits or is killed, after a delay, as
//! Kubernetes restarts a container.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use service_kit::testing::{TcpProxy, server_port};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::cluster::{Moto, Postgres, Rabbit, Redis};
use crate::stack::SERVICES;
use crate::util::{spawn_logged, step, target_dir};

/// How long a killed or exited process stays down before it is started again.
pub const RESTART_DELAY: Duration = Duration::from_secs(2);

/// A service process under supervision.
pub struct Supervised {
    /// Service name.
    pub name: &'static str,
    /// Its HTTP port.
    pub port: u16,
    /// Path answering 200 when it is ready.
    pub ready: &'static str,
    binary: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Mutex<Option<Child>>,
    killed: AtomicBool,
    /// Restarts so far.
    pub restarts: AtomicU32,
    /// Exits nobody asked for: `(seconds into the run, status)`.
    pub exits: Mutex<Vec<(f64, String)>>,
}

impl Supervised {
    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn spawn(&self) -> anyhow::Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = Command::new(&self.binary);
        command
            .envs(crate::stack::ALLOCATOR_ENV)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let child = spawn_logged(&mut command, log)
            .with_context(|| format!("starting {}", self.binary.display()))?;
        *self.child.lock().await = Some(child);
        Ok(())
    }

    /// SIGKILL (the supervisor starts it again after [`RESTART_DELAY`]).
    pub async fn kill(&self) -> anyhow::Result<()> {
        let guard = self.child.lock().await;
        let child = guard.as_ref().context("not running")?;
        self.killed.store(true, Ordering::SeqCst);
        crate::util::run("kill", &["-KILL", &child.id().to_string()]).map(|_| ())
    }

    /// The exit status, once the process has exited (and is not restarted yet).
    async fn exited(&self) -> Option<String> {
        let mut guard = self.child.lock().await;
        let child = guard.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                *guard = None;
                Some(status.to_string())
            }
            _ => None,
        }
    }

    /// Asks the process to stop (SIGTERM); [`Platform`]'s drop kills what is left.
    async fn terminate(&self) {
        if let Some(child) = self.child.lock().await.as_ref() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
    }
}

/// Restarts each process that exits, after [`RESTART_DELAY`].
fn supervise(
    service: Arc<Supervised>,
    started: Instant,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            if *stop.borrow() {
                return;
            }
            let Some(status) = service.exited().await else {
                continue;
            };
            let at = started.elapsed().as_secs_f64();
            if !service.killed.swap(false, Ordering::SeqCst) {
                println!(
                    "    {:>7.1}s  {} exited by itself ({status})",
                    at, service.name
                );
                service.exits.lock().await.push((at, status));
            }
            tokio::time::sleep(RESTART_DELAY).await;
            if *stop.borrow() {
                return;
            }
            service.restarts.fetch_add(1, Ordering::SeqCst);
            if let Err(err) = service.spawn().await {
                println!("    {} could not be restarted: {err:#}", service.name);
            }
        }
    })
}

/// The running platform.
pub struct Platform {
    /// PostgreSQL.
    pub postgres: Postgres,
    /// Redis.
    pub redis: Redis,
    /// RabbitMQ.
    pub rabbit: Rabbit,
    /// moto and the proxy the platform reaches it through.
    pub moto: Moto,
    /// The broker proxy of each consuming service (a cut isolates one service).
    pub broker_links: BTreeMap<&'static str, TcpProxy>,
    /// Every service process.
    pub services: Vec<Arc<Supervised>>,
    /// The functions' topology on moto.
    pub created: function_kit::topology::Created,
    /// When the platform was up (the run's clock starts here).
    pub started: Instant,
    watch_process: Child,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// The services connected to the broker (a cut can isolate any of them): the consumers, and
/// users, which only publishes (account events).
pub const BROKER_CLIENTS: &[&str] = &["users", "inventory", "orders", "payments", "bridge"];
/// The services with a queue of their own (and its retry queues and DLQ).
pub const CONSUMERS: &[&str] = &["inventory", "orders", "payments", "bridge"];

impl Platform {
    /// Starts the servers, the services and the functions.
    pub async fn start(dir: &Path, logs: &Path, release: bool, id: &str) -> anyhow::Result<Self> {
        fs::create_dir_all(dir)?;
        let postgres = Postgres::start(dir)?;
        for db in crate::infra::DATABASES {
            create_database(&postgres.url(), db).await?;
        }
        let redis = Redis::start(dir)?;
        let rabbit = Rabbit::start(dir, id).await?;
        step("starting moto behind a proxy (the AWS outage switch)");
        let moto = Moto::start(dir).await?;
        let rabbit_addr = SocketAddr::from(([127, 0, 0, 1], rabbit.port));
        let mut broker_links = BTreeMap::new();
        for name in BROKER_CLIENTS {
            broker_links.insert(*name, TcpProxy::start(rabbit_addr).await);
        }

        let env_file = dir.join("functions.env");
        let (topology, created) =
            crate::functions::prepare_at(&moto.url, &moto.endpoint(), &env_file).await?;
        let lambda_port = server_port();
        let lambda = format!("http://127.0.0.1:{lambda_port}");

        let ports: BTreeMap<&str, u16> = SERVICES.iter().map(|s| (s.name, server_port())).collect();
        let url = |name: &str| format!("http://127.0.0.1:{}", ports[name]);
        let profile = if release { "release" } else { "debug" };
        let (stop, stop_rx) = watch::channel(false);
        let started = Instant::now();
        let mut services = Vec::new();
        let mut tasks = Vec::new();
        let client = reqwest::Client::new();
        for service in SERVICES {
            let mut env: Vec<(String, String)> = vec![
                ("APP__HTTP__PORT".into(), ports[service.name].to_string()),
                (
                    "APP__DATABASE__URL".into(),
                    format!("{}/{}", postgres.url(), service.database),
                ),
                ("APP__REDIS__URL".into(), redis.url()),
                (
                    "APP__REDIS__KEY_PREFIX".into(),
                    format!("{}:", service.name),
                ),
                ("APP__TELEMETRY__LOG_FILTER".into(), "info".into()),
            ];
            if let Some(link) = broker_links.get(service.name) {
                env.push((
                    "APP__AMQP__URL".into(),
                    format!("amqp://guest:guest@{}/%2f", link.addr()),
                ));
                env.push(("APP__AMQP__QUEUE".into(), service.name.into()));
            }
            let aws = || {
                crate::aws::SDK_ENV.iter().map(|(k, v)| {
                    if *k == "AWS_ENDPOINT_URL" {
                        ((*k).to_owned(), moto.endpoint())
                    } else {
                        ((*k).to_owned(), (*v).to_owned())
                    }
                })
            };
            let secret = format!("whsec_chaos_{id}");
            let simulator = [
                (
                    "APP__SIMULATOR__LISTEN".to_owned(),
                    url("psp-simulator")
                        .trim_start_matches("http://")
                        .to_owned(),
                ),
                (
                    "APP__SIMULATOR__WEBHOOK_URL".to_owned(),
                    format!("{}/internal/psp/callback", url("payments")),
                ),
                ("APP__SIMULATOR__WEBHOOK_SECRET".to_owned(), secret.clone()),
            ];
            let provider = [
                ("APP__PROVIDER__URL".to_owned(), url("psp-simulator")),
                ("APP__PROVIDER__WEBHOOK_SECRET".to_owned(), secret),
            ];
            match service.name {
                "psp-simulator" => env.extend(simulator),
                "payments" => env.extend(provider),
                "users" => env.push((
                    "APP__ACCOUNT__TOKEN_KEY".into(),
                    crate::functions::account_token_key(dir)?,
                )),
                "orders" => {
                    env.push(("APP__UPSTREAMS__CATALOG_URL".into(), url("catalog")));
                    env.push(("APP__UPSTREAMS__USERS_URL".into(), url("users")));
                }
                "bridge" => {
                    env.push(("APP__SNS__TOPIC_ARN".into(), created.topic_arn.clone()));
                    env.extend(aws());
                }
                "gateway" => {
                    for upstream in [
                        "catalog",
                        "inventory",
                        "users",
                        "orders",
                        "payments",
                        "bridge",
                    ] {
                        env.push((
                            format!("APP__UPSTREAMS__{}__URL", upstream.to_uppercase()),
                            url(upstream),
                        ));
                    }
                    env.push((
                        "APP__AUTH__JWKS_URL".into(),
                        format!("{}/.well-known/jwks.json", url("users")),
                    ));
                    // The load comes from one address: rate limiting is not what this tests.
                    for class in ["ANONYMOUS", "AUTHENTICATED", "AUTH", "CHECKOUT"] {
                        env.push((
                            format!("APP__RATE_LIMITS__{class}__LIMIT"),
                            "1000000".into(),
                        ));
                    }
                    env.extend(aws());
                    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), lambda.clone()));
                }
                _ => {}
            }
            let supervised = Arc::new(Supervised {
                name: service.name,
                port: ports[service.name],
                ready: service.ready,
                binary: target_dir().join(profile).join(service.name),
                env,
                log: logs.join(format!("{}.log", service.name)),
                child: Mutex::new(None),
                killed: AtomicBool::new(false),
                restarts: AtomicU32::new(0),
                exits: Mutex::new(Vec::new()),
            });
            step(&format!(
                "starting {} on 127.0.0.1:{}",
                service.name, supervised.port
            ));
            supervised.spawn().await?;
            wait_ready(&client, &supervised).await?;
            tasks.push(supervise(supervised.clone(), started, stop_rx.clone()));
            services.push(supervised);
        }

        let watch_process = crate::functions::spawn_watch_at(
            release,
            lambda_port,
            &env_file,
            &logs.join("lambda.log"),
        )?;
        crate::functions::warm_up_at(&client, lambda_port).await?;
        for mapping in
            crate::functions::mappings(&topology, &created, &moto.endpoint(), lambda_port).await?
        {
            tasks.push(tokio::spawn(mapping.run(stop_rx.clone())));
        }
        Ok(Self {
            postgres,
            redis,
            rabbit,
            moto,
            broker_links,
            services,
            created,
            started,
            watch_process,
            stop,
            tasks,
        })
    }

    /// A service by name.
    pub fn service(&self, name: &str) -> anyhow::Result<&Arc<Supervised>> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .with_context(|| format!("no service {name}"))
    }

    /// The gateway's base URL.
    pub fn gateway(&self) -> String {
        self.service("gateway").map(|s| s.url()).unwrap_or_default()
    }

    /// A service database's URL.
    pub fn database(&self, name: &str) -> String {
        format!("{}/{name}", self.postgres.url())
    }

    /// Seconds since the platform was up.
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Whether every process answers its readiness check now.
    pub async fn all_ready(&self, client: &reqwest::Client) -> bool {
        for service in &self.services {
            let ok = client
                .get(format!("{}{}", service.url(), service.ready))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if !ok {
                return false;
            }
        }
        true
    }

    /// Stops everything this run started.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        for service in self.services.iter().rev() {
            service.terminate().await;
        }
        // A moment for graceful exits; the drop kills whatever is still running.
        tokio::time::sleep(Duration::from_secs(3)).await;
        // Drop ends the rest: functions, broker, database.
    }
}

/// Whatever way a run ends (done, failed, interrupted), nothing it started outlives it.
impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
        for service in &self.services {
            if let Ok(mut guard) = service.child.try_lock()
                && let Some(mut child) = guard.take()
            {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        kill_tree(&mut self.watch_process);
        self.rabbit.shutdown();
        self.postgres.shutdown();
    }
}

/// Kills `cargo lambda watch` and the function processes it started.
fn kill_tree(child: &mut Child) {
    // Its own process group: the functions and cargo it runs are in it.
    crate::util::kill_group("KILL", child.id());
    let _ = child.kill();
    let _ = child.wait();
}

async fn create_database(server: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Executor as _;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{server}/postgres"))
        .await?;
    pool.execute(sqlx::AssertSqlSafe(format!("create database \"{name}\"")))
        .await?;
    pool.close().await;
    Ok(())
}

async fn wait_ready(client: &reqwest::Client, service: &Supervised) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(90) {
        if service.exited().await.is_some() {
            bail!(
                "{} exited during start-up; see {}",
                service.name,
                service.log.display()
            );
        }
        if let Ok(response) = client
            .get(format!("{}{}", service.url(), service.ready))
            .send()
            .await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "{} was not ready within 90 s; see {}",
        service.name,
        service.log.display()
    )
}

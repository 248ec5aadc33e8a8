//! `cargo xtask up` / `down`: the whole platform on this machine.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::demo;
use crate::infra::{self, POSTGRES_URL, REDIS_URL};
use crate::util::{cargo, root, spawn_logged, step, target_dir};

/// A service `up` runs.
pub struct Service {
    /// Name (binary, log file).
    pub name: &'static str,
    /// Cargo package holding the binary.
    pub package: &'static str,
    /// Its database.
    pub database: &'static str,
    /// Path answering 200 once it is ready.
    pub ready: &'static str,
    /// Local port.
    pub port: u16,
    /// Path of its main resource, for the printed URLs.
    pub example: &'static str,
    /// Path of its API document.
    pub docs: &'static str,
}

/// Every service, in start order.
pub const SERVICES: &[Service] = &[
    Service {
        name: "catalog",
        package: "catalog",
        database: "catalog",
        ready: "/readyz",
        port: 8081,
        example: "/products?q=wireless+headphones",
        docs: "/openapi.json",
    },
    Service {
        name: "inventory",
        package: "inventory",
        database: "inventory",
        ready: "/readyz",
        port: 8082,
        example: "/inventory/ELE-00001",
        docs: "/openapi.json",
    },
    Service {
        name: "users",
        package: "users",
        database: "users",
        ready: "/readyz",
        port: 8085,
        example: "/.well-known/jwks.json",
        docs: "/openapi.json",
    },
    Service {
        name: "psp-simulator",
        package: "payments",
        database: "payments",
        ready: "/healthz",
        port: 8090,
        example: "/healthz",
        docs: "/healthz",
    },
    Service {
        name: "payments",
        package: "payments",
        database: "payments",
        ready: "/readyz",
        port: 8084,
        example: "/admin/payments",
        docs: "/openapi.json",
    },
    Service {
        name: "orders",
        package: "orders",
        database: "orders",
        ready: "/readyz",
        port: 8083,
        example: "/orders",
        docs: "/openapi.json",
    },
    Service {
        name: "bridge",
        package: "bridge",
        database: "bridge",
        ready: "/readyz",
        port: 8086,
        example: "/readyz",
        docs: "/openapi.json",
    },
    Service {
        name: "gateway",
        package: "gateway",
        database: "gateway",
        ready: "/readyz",
        port: 8080,
        example: "/api/v1/products?q=wireless+headphones",
        docs: "/api/v1/openapi.json",
    },
];

/// Flags of `up`.
pub struct UpOptions {
    detach: bool,
    release: bool,
    observe: bool,
    raise_rate_limits: bool,
}

impl UpOptions {
    /// For `cargo xtask test`: detached, with the gateway's rate limits and the users sign-in
    /// throttle raised (the API contract run sends thousands of requests from one address).
    pub fn for_tests() -> Self {
        Self {
            detach: true,
            release: false,
            observe: false,
            raise_rate_limits: true,
        }
    }

    /// For the benchmarks: detached release builds.
    pub fn for_bench() -> Self {
        Self {
            detach: true,
            release: true,
            observe: false,
            raise_rate_limits: false,
        }
    }

    /// Parses `--detach`, `--release` and `--observe`.
    pub fn parse(flags: &[&str]) -> anyhow::Result<Self> {
        let mut options = Self {
            detach: false,
            release: false,
            observe: false,
            raise_rate_limits: false,
        };
        for flag in flags {
            match *flag {
                "--detach" | "-d" => options.detach = true,
                "--release" => options.release = true,
                "--observe" => options.observe = true,
                other => {
                    bail!("unknown flag `{other}` for up (known: --detach, --release, --observe)")
                }
            }
        }
        Ok(options)
    }
}

fn run_dir() -> PathBuf {
    root().join(".local").join("run")
}

fn log_dir() -> PathBuf {
    root().join(".local").join("logs")
}

fn pid_alive(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

/// Whether anything `up --detach` started is still running.
pub fn running() -> bool {
    running_pids().into_iter().any(|(_, pid)| pid_alive(pid))
}

fn running_pids() -> Vec<(String, u32)> {
    let Ok(entries) = fs::read_dir(run_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .strip_suffix(".pid")?
                .to_owned();
            let pid = fs::read_to_string(e.path()).ok()?.trim().parse().ok()?;
            Some((name, pid))
        })
        .collect()
}

/// What the service images set for the allocator (see the Dockerfile): local runs, benches
/// and chaos runs start the release binaries the same way.
pub const ALLOCATOR_ENV: [(&str, &str); 1] = [("MIMALLOC_PURGE_DELAY", "0")];

/// Starts a service binary with the local settings; it gets its own process group so a
/// terminal's Ctrl-C reaches it only through us (and `--detach` survives the terminal).
pub fn spawn_service(
    binary: &Path,
    name: &str,
    port: u16,
    database: &str,
    redis_prefix: &str,
    extra_env: &[(&str, String)],
    wrapper: &[String],
) -> anyhow::Result<Child> {
    fs::create_dir_all(log_dir())?;
    let log = File::create(log_dir().join(format!("{name}.log")))?;
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .env("APP__HTTP__PORT", port.to_string())
        .env("APP__DATABASE__URL", format!("{POSTGRES_URL}/{database}"))
        .env("APP__REDIS__URL", REDIS_URL)
        .env("APP__REDIS__KEY_PREFIX", redis_prefix)
        .envs(ALLOCATOR_ENV)
        .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())));
    spawn_logged(&mut command, log).with_context(|| format!("starting {}", binary.display()))
}

/// Waits until `GET {url}/readyz` answers 200.
pub async fn wait_ready(
    client: &reqwest::Client,
    name: &str,
    url: &str,
    child: &mut Child,
) -> anyhow::Result<()> {
    wait_path(client, name, url, "/readyz", child).await
}

/// Waits until `GET {url}{path}` answers 200.
pub async fn wait_path(
    client: &reqwest::Client,
    name: &str,
    url: &str,
    path: &str,
    child: &mut Child,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited during start-up ({status}); see .local/logs/{name}.log");
        }
        if let Ok(response) = client.get(format!("{url}{path}")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{name} was not ready within 60 s; see .local/logs/{name}.log")
}

/// Sends SIGTERM and waits briefly for the process to go.
pub fn stop_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let started = Instant::now();
    while pid_alive(pid) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `cargo xtask up`.
pub async fn up(options: &UpOptions) -> anyhow::Result<()> {
    let alive: Vec<_> = running_pids()
        .into_iter()
        .filter(|(_, pid)| pid_alive(*pid))
        .collect();
    if !alive.is_empty() {
        bail!("the platform is already running ({alive:?}); stop it with `cargo xtask down`");
    }
    infra::ensure_all()?;
    for service in SERVICES {
        if std::net::TcpStream::connect(("127.0.0.1", service.port)).is_ok() {
            bail!(
                "port {} (for {}) is taken by another process",
                service.port,
                service.name
            );
        }
    }
    let profile = if options.release { "release" } else { "debug" };
    step(&format!("building services ({profile})"));
    let mut args = vec!["build", "--locked"];
    if options.release {
        args.push("--release");
    }
    for service in SERVICES {
        if !args.contains(&service.package) {
            args.extend(["-p", service.package]);
        }
    }
    cargo(&args, &[])?;
    // The gateway serves the admin dashboard at /admin.
    crate::dashboard::build()?;

    fs::create_dir_all(run_dir())?;
    let client = reqwest::Client::new();
    step("creating the local AWS topology on moto (topic, queues, DLQs, tables, SES sender)");
    let (_, created) = crate::functions::prepare().await?;
    let topic_arn = created.topic_arn.clone();
    let mut children = Vec::new();
    for service in SERVICES {
        step(&format!(
            "starting {} on 127.0.0.1:{}",
            service.name, service.port
        ));
        let binary = target_dir().join(profile).join(service.name);
        let mut env: Vec<(&str, String)> = Vec::new();
        if service.name == "bridge" {
            env.push(("APP__SNS__TOPIC_ARN", topic_arn.clone()));
            for (key, value) in crate::aws::SDK_ENV {
                env.push((key, (*value).to_owned()));
            }
        }
        if service.name == "users" {
            // The notifier opens account links with the same key.
            env.push((
                "APP__ACCOUNT__TOKEN_KEY",
                crate::functions::account_token_key(&root().join(".local"))?,
            ));
        }
        if service.name == "users" && options.raise_rate_limits {
            // The contract run signs in with wrong passwords thousands of times from one
            // address; the throttle would then refuse the run's own sign-ins.
            for key in [
                "APP__AUTH__MAX_FAILURES_PER_CLIENT",
                "APP__AUTH__MAX_FAILURES_PER_IP",
                "APP__AUTH__ACCOUNT_SLOWDOWN_AFTER",
            ] {
                env.push((key, "1000000".to_owned()));
            }
        }
        if service.name == "gateway" && options.raise_rate_limits {
            for key in [
                "APP__RATE_LIMITS__ANONYMOUS__LIMIT",
                "APP__RATE_LIMITS__AUTHENTICATED__LIMIT",
                "APP__RATE_LIMITS__AUTH__LIMIT",
                "APP__RATE_LIMITS__CHECKOUT__LIMIT",
            ] {
                env.push((key, "1000000".to_owned()));
            }
        }
        if service.name == "gateway" {
            // Function upstreams (webhook admin) are invoked on `cargo lambda watch`.
            for (key, value) in crate::aws::SDK_ENV {
                env.push((key, (*value).to_owned()));
            }
            env.push((
                "AWS_ENDPOINT_URL_LAMBDA",
                format!("http://127.0.0.1:{}", crate::functions::LAMBDA_PORT),
            ));
        }
        let mut child = spawn_service(
            &binary,
            service.name,
            service.port,
            service.database,
            &format!("{}:", service.name),
            &env,
            &[],
        )?;
        fs::write(
            run_dir().join(format!("{}.pid", service.name)),
            child.id().to_string(),
        )?;
        let url = format!("http://127.0.0.1:{}", service.port);
        wait_path(&client, service.name, &url, service.ready, &mut child).await?;
        children.push((service.name, child));
    }

    // The functions: `cargo lambda watch` builds and serves them; `xtask esm` feeds their
    // queues into them, as Lambda's event source mappings do in AWS.
    let watch = crate::functions::spawn_watch(options.release)?;
    fs::write(run_dir().join("lambda.pid"), watch.id().to_string())?;
    children.push(("lambda", watch));
    fs::create_dir_all(log_dir())?;
    let esm_log = File::create(log_dir().join("esm.log"))?;
    let mut esm_command = Command::new(crate::functions::xtask_binary()?);
    esm_command.arg("esm").current_dir(root());
    let esm =
        spawn_logged(&mut esm_command, esm_log).context("starting the event source mappings")?;
    fs::write(run_dir().join("esm.pid"), esm.id().to_string())?;
    children.push(("esm", esm));
    if options.observe {
        // Prometheus (Debian package) scraping every service with the platform's rules.
        crate::install::ensure_program("prometheus", &["prometheus"])?;
        enable_rabbitmq_metrics();
        step("starting Prometheus on 127.0.0.1:9090 (observability/prometheus/local.yml)");
        let log = File::create(log_dir().join("prometheus.log"))?;
        let mut command = Command::new("prometheus");
        command
            .arg(format!(
                "--config.file={}",
                root().join("observability/prometheus/local.yml").display()
            ))
            .arg("--web.listen-address=127.0.0.1:9090")
            .arg(format!(
                "--storage.tsdb.path={}",
                root().join(".local/prometheus").display()
            ));
        let mut prometheus = spawn_logged(&mut command, log).context("starting prometheus")?;
        fs::write(
            run_dir().join("prometheus.pid"),
            prometheus.id().to_string(),
        )?;
        wait_path(
            &client,
            "prometheus",
            "http://127.0.0.1:9090",
            "/-/ready",
            &mut prometheus,
        )
        .await?;
        children.push(("prometheus", prometheus));
    }
    crate::functions::warm_up(&client).await?;

    let catalog = "http://127.0.0.1:8081";
    let existing: serde_json::Value = client
        .get(format!("{catalog}/products?limit=1"))
        .send()
        .await?
        .json()
        .await?;
    if existing["items"].as_array().is_none_or(Vec::is_empty) {
        step(&format!(
            "loading the demo catalog ({} products)",
            demo::DEMO_PRODUCTS
        ));
        demo::load(&client, catalog, demo::DEMO_PRODUCTS).await?;
    } else {
        step("demo catalog already loaded");
    }
    let inventory = "http://127.0.0.1:8082";
    let stocked = demo::admin(client.get(format!("{inventory}/admin/inventory/ELE-00001")))
        .send()
        .await?;
    if stocked.status() == reqwest::StatusCode::NOT_FOUND {
        step("counting demo stock");
        demo::load_stock(&client, inventory, demo::DEMO_PRODUCTS).await?;
    }
    demo::load_admin(&client, "http://127.0.0.1:8085").await?;

    println!();
    println!("retail-platform is up:");
    println!(
        "  admin dashboard http://127.0.0.1:8080/admin ({} / {})",
        demo::ADMIN_EMAIL,
        demo::ADMIN_PASSWORD
    );
    if options.observe {
        println!("  prometheus      http://127.0.0.1:9090/alerts");
    }
    for service in SERVICES {
        let base = format!("http://127.0.0.1:{}", service.port);
        println!("  {:<13} {base}{}", service.name, service.example);
        if service.ready == "/readyz" {
            println!(
                "  {:<13} {base}{}  {base}/metrics  {base}/readyz",
                "", service.docs
            );
        }
    }
    println!("  {:<10} {POSTGRES_URL}", "postgres");
    println!("  {:<10} {REDIS_URL}", "redis");
    println!("  {:<10} {}", "rabbitmq", infra::AMQP_URL);
    println!(
        "  {:<10} {}  (email: {}/moto-api/data.json)",
        "aws (moto)",
        crate::aws::MOTO_URL,
        crate::aws::MOTO_URL
    );
    println!(
        "  {:<10} http://127.0.0.1:{}/2015-03-31/functions/<name>/invocations",
        "functions",
        crate::functions::LAMBDA_PORT
    );
    println!("  {:<10} {}", "logs", log_dir().display());
    println!();

    if options.detach {
        println!("running in the background; stop with `cargo xtask down`");
        return Ok(());
    }
    println!("press Ctrl-C to stop");
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = poll.tick() => {
                let mut exited = None;
                for (name, child) in &mut children {
                    if let Some(status) = child.try_wait()? {
                        exited = Some((*name, status));
                        break;
                    }
                }
                if let Some((name, status)) = exited {
                    eprintln!("{name} exited ({status}); see .local/logs/{name}.log");
                    stop_all(&mut children);
                    bail!("{name} stopped unexpectedly");
                }
            }
        }
    }
    step("stopping");
    stop_all(&mut children);
    Ok(())
}

fn stop_all(children: &mut [(&str, Child)]) {
    for (name, child) in children.iter_mut().rev() {
        stop_pid(child.id());
        let _ = child.wait();
        let _ = fs::remove_file(run_dir().join(format!("{name}.pid")));
    }
}

/// `cargo xtask down`.
pub fn down() -> anyhow::Result<()> {
    let pids = running_pids();
    if pids.is_empty() {
        println!("nothing is running");
    }
    for (name, pid) in pids {
        if pid_alive(pid) {
            step(&format!("stopping {name} (pid {pid})"));
            stop_pid(pid);
        }
        fs::remove_file(run_dir().join(format!("{name}.pid")))?;
    }
    Ok(())
}

/// The broker's own metrics (queue depths per queue, for the RabbitMQ dashboard and alerts)
/// come from its `rabbitmq_prometheus` plugin on 15692. Enabling it is idempotent and online;
/// where the local broker cannot be changed (not ours, no rights) the rabbitmq target stays
/// down and everything else still works, so this warns instead of failing.
fn enable_rabbitmq_metrics() {
    if !crate::util::have("rabbitmq-plugins") {
        eprintln!("warning: rabbitmq-plugins not found; Prometheus's rabbitmq target stays down");
        return;
    }
    step("enabling RabbitMQ's Prometheus plugin (metrics on 127.0.0.1:15692)");
    let done = Command::new("rabbitmq-plugins")
        .args(["enable", "--online", "rabbitmq_prometheus"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();
    if !matches!(done, Ok(status) if status.success()) {
        eprintln!(
            "warning: `rabbitmq-plugins enable rabbitmq_prometheus` failed; Prometheus's rabbitmq target stays down"
        );
    }
}

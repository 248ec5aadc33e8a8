//! The local infrastructure: PostgreSQL, Redis and RabbitMQ on their loopback ports, started or
//! installed (Debian packages) when missing.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::install::{apt_install, ensure_program};
use crate::util::{have, is_root, run, step};

/// PostgreSQL server URL (no database) every service and test uses locally.
pub const POSTGRES_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432";
/// Redis URL.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// RabbitMQ URL.
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The flags that make a Redis server a cache only: nothing kept on disk, the least recently
/// used keys evicted when memory runs out.
pub const REDIS_CACHE_ARGS: &[&str] = &[
    "--save",
    "",
    "--appendonly",
    "no",
    "--maxmemory-policy",
    "allkeys-lru",
];
/// The databases the services own.
pub const DATABASES: &[&str] = &["catalog", "users", "inventory", "orders", "payments"];

/// Makes sure all three servers answer, and the service databases exist.
pub fn ensure_all() -> anyhow::Result<()> {
    ensure_postgres()?;
    ensure_redis()?;
    ensure_rabbitmq()?;
    crate::aws::ensure_moto()?;
    for db in DATABASES {
        ensure_database(db)?;
    }
    Ok(())
}

/// The server programs `cargo xtask chaos` runs instances of its own of: PostgreSQL's
/// `initdb`/`pg_ctl`, `redis-server`, `rabbitmq-server` (installed with apt-get when missing; moto comes from its
/// virtualenv).
pub fn ensure_programs_for_chaos() -> anyhow::Result<()> {
    if !std::path::Path::new("/usr/lib/postgresql").exists() {
        apt_install(&["postgresql", "postgresql-contrib"])?;
    }
    ensure_program("redis-server", &["redis-server"])?;
    ensure_program("rabbitmq-server", &["rabbitmq-server"])
}

/// The environment tests run with.
pub fn test_env() -> Vec<(String, String)> {
    vec![
        ("TEST_POSTGRES_URL".into(), POSTGRES_URL.into()),
        ("TEST_REDIS_URL".into(), REDIS_URL.into()),
        ("TEST_AMQP_URL".into(), AMQP_URL.into()),
        ("TEST_AWS_ENDPOINT_URL".into(), crate::aws::MOTO_URL.into()),
    ]
}

/// Whether something listens on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Waits until 127.0.0.1:`port` listens, failing after `timeout`.
pub fn wait_for_port(name: &str, port: u16, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if port_open(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!(
        "{name} did not start listening on 127.0.0.1:{port} within {}s",
        timeout.as_secs()
    )
}

fn ensure_postgres() -> anyhow::Result<()> {
    if !port_open(5432) {
        if !have("pg_ctlcluster") {
            apt_install(&["postgresql", "postgresql-contrib"])?;
        }
        step("starting PostgreSQL");
        let versions = std::fs::read_dir("/etc/postgresql")
            .context("no PostgreSQL cluster in /etc/postgresql")?;
        let mut versions: Vec<String> = versions
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        versions.sort();
        let version = versions
            .last()
            .context("no PostgreSQL cluster in /etc/postgresql")?;
        run(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", version, "main", "start"],
        )?;
        wait_for_port("PostgreSQL", 5432, Duration::from_secs(30))?;
    }
    ensure_program("psql", &["postgresql-client"])?;
    // Fresh Debian installs use password authentication on TCP: give `postgres` the local
    // password the services use. Where trust authentication is configured this is a no-op.
    if psql("postgres", "select 1").is_err() {
        if !is_root() {
            bail!("cannot log in to PostgreSQL as postgres/postgres on 127.0.0.1:5432");
        }
        run(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                "psql",
                "-qc",
                "alter user postgres password 'postgres'",
            ],
        )?;
        psql("postgres", "select 1")
            .context("PostgreSQL refuses postgres/postgres even after setting it")?;
    }
    Ok(())
}

/// Runs one SQL statement with psql; returns its unaligned output.
pub fn psql(database: &str, sql: &str) -> anyhow::Result<String> {
    run(
        "psql",
        &[
            &format!("{POSTGRES_URL}/{database}"),
            "-qAtX",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
    )
}

/// Creates `name` unless it exists.
pub fn ensure_database(name: &str) -> anyhow::Result<()> {
    let exists = psql(
        "postgres",
        &format!("select 1 from pg_database where datname = '{name}'"),
    )?;
    if exists.trim() != "1" {
        step(&format!("creating database {name}"));
        psql("postgres", &format!("create database \"{name}\""))?;
    }
    Ok(())
}

/// Drops `name` if it exists (bench databases).
pub fn drop_database(name: &str) -> anyhow::Result<()> {
    psql(
        "postgres",
        &format!("drop database if exists \"{name}\" with (force)"),
    )
    .map(|_| ())
}

fn ensure_redis() -> anyhow::Result<()> {
    if port_open(6379) {
        return Ok(());
    }
    ensure_program("redis-server", &["redis-server"])?;
    step("starting Redis");
    let daemon = [
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "--port",
        "6379",
    ];
    run("redis-server", &[&daemon[..], REDIS_CACHE_ARGS].concat())?;
    wait_for_port("Redis", 6379, Duration::from_secs(15))
}

fn ensure_rabbitmq() -> anyhow::Result<()> {
    if port_open(5672) {
        return Ok(());
    }
    ensure_program("rabbitmq-server", &["rabbitmq-server"])?;
    step("starting RabbitMQ");
    run("rabbitmq-server", &["-detached"])?;
    // `-detached` returns before the node registers with epmd, so
    // `rabbitmqctl await_startup` can fail with "node not running at all".
    // The AMQP listener opens last in the boot, so the port is the signal.
    // A node that was killed recovers its queues first: that can take minutes.
    wait_for_port("RabbitMQ", 5672, Duration::from_secs(300))
        .context("RabbitMQ did not boot; its log is under /var/log/rabbitmq/")
}

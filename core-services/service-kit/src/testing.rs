//! Test helpers (feature `test-util`): real servers, isolated per test.
//!
//! [`TestDatabase`] creates a database with a unique name and drops it when the test ends;
//! [`TestRedisPrefix`] gives a unique key prefix and deletes its keys at the end; [`TcpProxy`]
//! stands between a service and a server so a test can cut the connection without touching the
//! shared server other tests use.

use std::net::SocketAddr;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config::{DEFAULT_POSTGRES_SERVER, DEFAULT_REDIS_URL};

/// Environment variable naming the PostgreSQL server tests use (without a database name).
pub const TEST_POSTGRES_ENV: &str = "TEST_POSTGRES_URL";
/// Environment variable naming the Redis server tests use.
pub const TEST_REDIS_ENV: &str = "TEST_REDIS_URL";

/// Environment variable naming the RabbitMQ server tests use.
pub const TEST_AMQP_ENV: &str = "TEST_AMQP_URL";

/// The RabbitMQ server for tests.
pub fn amqp_url() -> String {
    std::env::var(TEST_AMQP_ENV)
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The PostgreSQL server for tests.
pub fn postgres_server() -> String {
    std::env::var(TEST_POSTGRES_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_SERVER.to_owned())
}

/// The Redis server for tests.
pub fn redis_url() -> String {
    std::env::var(TEST_REDIS_ENV).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// Env var with the AWS emulator (moto) endpoint for tests.
pub const TEST_AWS_ENV: &str = "TEST_AWS_ENDPOINT_URL";

/// The AWS emulator endpoint (`TEST_AWS_ENDPOINT_URL`, default the local moto server).
pub fn aws_endpoint() -> String {
    std::env::var(TEST_AWS_ENV).unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

/// A database of its own for one test, dropped (connections included) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// The database name.
    pub name: String,
    /// A URL to connect to it.
    pub url: String,
    server: PgConnectOptions,
}

impl TestDatabase {
    /// Creates `<prefix>_<random>` on the test server.
    pub async fn create(prefix: &str) -> Self {
        let server_url = postgres_server();
        let server = PgConnectOptions::from_str(&server_url)
            .expect("TEST_POSTGRES_URL is not a PostgreSQL URL")
            .database("postgres");
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = server
            .connect()
            .await
            .expect("cannot reach the test PostgreSQL server");
        sqlx::query(AssertSqlSafe(format!(r#"create database "{name}""#)))
            .execute(&mut conn)
            .await
            .expect("cannot create the test database");
        conn.close().await.ok();
        let url = format!("{}/{name}", server_url.trim_end_matches('/'));
        Self { name, url, server }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut conn = server.connect().await.ok()?;
                sqlx::query(AssertSqlSafe(format!(
                    r#"drop database if exists "{name}" with (force)"#
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// A Redis key prefix of its own for one test; its keys are deleted when this is dropped.
#[derive(Debug)]
pub struct TestRedisPrefix {
    /// The prefix, ending in `:`.
    pub prefix: String,
    url: String,
}

impl TestRedisPrefix {
    /// A fresh prefix on the test Redis server.
    pub fn new(service: &str) -> Self {
        Self {
            prefix: format!("test:{}:{service}:", uuid::Uuid::new_v4().simple()),
            url: redis_url(),
        }
    }

    /// A blocking connection for assertions on Redis state.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .and_then(|c| c.get_connection())
            .expect("cannot reach the test Redis server")
    }

    /// Every key under this prefix.
    pub fn keys(&self) -> Vec<String> {
        let mut conn = self.connection();
        let pattern = format!("{}*", self.prefix);
        redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut conn)
            .unwrap_or_default()
    }
}

impl Drop for TestRedisPrefix {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// A TCP forwarder between a service and a server, which a test can cut.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    reset: watch::Sender<u64>,
    down: watch::Sender<bool>,
}

impl TcpProxy {
    /// Forwards a fresh loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (cut, mut cut_rx) = watch::channel(false);
        let (reset, reset_rx) = watch::channel(0_u64);
        let (down, down_rx) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cut_rx.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        if *down_rx.borrow() {
                            // The server is "down": close at once.
                            drop(client);
                            continue;
                        }
                        let mut cut_rx = cut_rx.clone();
                        let mut reset_rx = reset_rx.clone();
                        let mut down_rx = down_rx.clone();
                        // Only resets from now on concern this connection.
                        reset_rx.borrow_and_update();
                        tokio::spawn(async move {
                            let Ok(mut server) = TcpStream::connect(target).await else { return };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = cut_rx.changed() => {}
                                _ = reset_rx.changed() => {}
                                _ = down_rx.wait_for(|down| *down) => {}
                            }
                        });
                    }
                }
            }
            // Dropping the listener makes new connections fail with "connection refused".
        });
        Self {
            addr,
            cut,
            reset,
            down,
        }
    }

    /// The address to give the service instead of the server's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every forwarded connection and stops accepting new ones.
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }

    /// Closes every forwarded connection but keeps accepting new ones (a network blip).
    pub fn reset(&self) {
        self.reset.send_modify(|g| *g += 1);
    }

    /// An outage: closes every forwarded connection and closes new ones at once, until
    /// [`TcpProxy::up`].
    pub fn down(&self) {
        let _ = self.down.send(true);
    }

    /// Ends an outage started by [`TcpProxy::down`].
    pub fn up(&self) {
        let _ = self.down.send(false);
    }
}

/// The metric names (`# TYPE` lines) in a Prometheus text exposition.
pub fn metric_names(exposition: &str) -> std::collections::BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Writes metric names to `.local/<file>` at the workspace root, one per line, for the
/// observability cross-check of `cargo xtask test` (every metric a rule, dashboard or canary
/// analysis uses must be in one of these files).
pub fn write_exported_metrics(
    file: &str,
    names: &std::collections::BTreeSet<String>,
) -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local");
    std::fs::create_dir_all(&dir)?;
    let list: Vec<&str> = names.iter().map(String::as_str).collect();
    std::fs::write(dir.join(file), list.join("\n") + "\n")
}

/// A loopback port for a server that a test starts later (a broker node, a service process).
///
/// `bind(":0")` hands out ports from the kernel's ephemeral range, the same range it uses for
/// the local end of outgoing connections. Between the moment such a port is released and the
/// moment the server binds it, any outgoing connection of a busy test run may take it, and the
/// server then fails to start. The port returned here lies below that range, so only another
/// listener could take it; it was free when this returned.
pub fn server_port() -> u16 {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let low = 10_000_u16;
    if ephemeral_start < low + 1_000 {
        // An unusual range: nothing sits below it, so take what the kernel gives.
        return std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("cannot bind a loopback port");
    }
    let span = u128::from(ephemeral_start - low);
    for _ in 0..1_000 {
        let offset = u16::try_from(uuid::Uuid::new_v4().as_u128() % span).unwrap_or(0);
        let port = low + offset;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {low} and {ephemeral_start}");
}

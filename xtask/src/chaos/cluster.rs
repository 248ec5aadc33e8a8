//! The servers a chaos run owns: its own PostgreSQL cluster, Redis server, RabbitMQ node and
//! moto, each on a free loopback port with its data under the run's directory, so faults can
//! stop and kill them without touching the servers the machine shares with other work.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use service_kit::testing::{TcpProxy, server_port};

use crate::infra::REDIS_CACHE_ARGS;
use crate::util::{is_root, spawn_logged, step};

fn wait_port(name: &str, port: u16, within: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < within {
        if std::net::TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(300),
        )
        .is_ok()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{name} did not listen on 127.0.0.1:{port} within {within:?}")
}

/// Runs a program, as the `postgres` user when we are root (PostgreSQL refuses root).
fn as_postgres(program: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !output.status.success() {
        bail!(
            "`{} {}` failed: {}{}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The newest installed PostgreSQL server binaries (Debian layout).
fn postgres_bin() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL server binaries not found in /usr/lib/postgresql")?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no PostgreSQL version in /usr/lib/postgresql")
}

/// A PostgreSQL cluster of the run's own.
pub struct Postgres {
    /// Its port.
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
}

impl Postgres {
    /// `initdb` in `dir` (trust authentication on loopback only) and start.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = postgres_bin()?;
        let port = server_port();
        let data = dir.join("pg");
        fs::create_dir_all(&data)?;
        if is_root() {
            crate::util::run(
                "chown",
                &["-R", "postgres:postgres", &dir.to_string_lossy()],
            )?;
        }
        step(&format!(
            "initdb: a PostgreSQL cluster of its own on 127.0.0.1:{port}"
        ));
        let data_arg = data.to_string_lossy().into_owned();
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                &data_arg,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )?;
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 300\nshared_buffers = 128MB\n",
            data.display()
        );
        let mut existing = fs::read_to_string(data.join("postgresql.conf"))?;
        existing.push_str(&conf);
        fs::write(data.join("postgresql.conf"), existing)?;
        let pg = Self {
            port,
            bin,
            log: dir.join("postgres.log"),
            data,
        };
        pg.start_again()?;
        Ok(pg)
    }

    /// The server URL (no database), for the services and the checker.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start_again(&self) -> anyhow::Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        let log = self.log.to_string_lossy().into_owned();
        if is_root() && !self.log.exists() {
            File::create(&self.log)?;
            crate::util::run("chown", &["postgres:postgres", &log])?;
        }
        as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-l", &log, "-w", "-t", "60", "start"],
        )
    }

    /// `pg_ctl stop -m immediate`: every backend dies at once, no checkpoint (a crash).
    pub fn stop_immediate(&self) -> anyhow::Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        )
    }

    /// Stops the cluster for good (end of the run).
    pub fn shutdown(&self) {
        let data = self.data.to_string_lossy().into_owned();
        let _ = as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "fast", "-w", "stop"],
        );
    }
}

/// A Redis server of the run's own, keeping nothing on disk.
pub struct Redis {
    /// Its port.
    pub port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Redis {
    /// Starts it.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let mut redis = Self {
            port: server_port(),
            log: dir.join("redis.log"),
            child: None,
        };
        redis.spawn()?;
        Ok(redis)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(REDIS_CACHE_ARGS);
        let child = spawn_logged(&mut command, log).context("starting redis-server")?;
        self.child = Some(child);
        wait_port("Redis", self.port, Duration::from_secs(15))
    }

    /// The URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL and start again: every key is gone, as after a pod restart.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A RabbitMQ node of the run's own (own node name, ports and data directory).
pub struct Rabbit {
    /// Erlang node name.
    pub node: String,
    /// AMQP port.
    pub port: u16,
    dir: PathBuf,
    dist_port: u16,
    child: Option<Child>,
}

impl Rabbit {
    /// Starts the node and waits until AMQP answers.
    pub async fn start(dir: &Path, id: &str) -> anyhow::Result<Self> {
        let dir = dir.join("rabbitmq");
        fs::create_dir_all(dir.join("mnesia"))?;
        fs::create_dir_all(dir.join("log"))?;
        fs::write(dir.join("enabled_plugins"), "[].\n")?;
        let port = server_port();
        fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"),
        )?;
        if is_root() {
            // As root, the server script runs the broker as `rabbitmq`: let it write.
            crate::util::run(
                "chown",
                &["-R", "rabbitmq:rabbitmq", &dir.to_string_lossy()],
            )?;
        }
        let mut rabbit = Self {
            node: format!("chaos{id}@localhost"),
            port,
            dist_port: server_port(),
            dir,
            child: None,
        };
        step(&format!(
            "starting RabbitMQ node {} on 127.0.0.1:{port}",
            rabbit.node
        ));
        rabbit.spawn()?;
        rabbit.wait_accepting(Duration::from_secs(120)).await?;
        Ok(rabbit)
    }

    /// The AMQP URL.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let dir = &self.dir;
        let child = Command::new("rabbitmq-server")
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_MNESIA_DIR", dir.join("mnesia/node"))
            .env("RABBITMQ_FEATURE_FLAGS_FILE", dir.join("feature_flags"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting rabbitmq-server (cargo xtask installs it)")?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until a connection opens.
    pub async fn wait_accepting(&self, within: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Ok((connection, _channel)) = service_kit::messaging::connect(&self.url()).await {
                let _ = connection.close(200, "ready".into()).await;
                return Ok(());
            }
            if started.elapsed() > within {
                bail!("RabbitMQ node {} did not accept connections", self.node);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn ctl(&self, command: &str) -> anyhow::Result<()> {
        crate::util::run("rabbitmqctl", &["-q", "-n", &self.node, command]).map(|_| ())
    }

    /// `rabbitmqctl stop_app`: every connection closes; new ones are refused.
    pub fn stop_app(&self) -> anyhow::Result<()> {
        self.ctl("stop_app")
    }

    /// `rabbitmqctl start_app`, then waits for AMQP.
    pub async fn start_app(&self) -> anyhow::Result<()> {
        self.ctl("start_app")?;
        self.wait_accepting(Duration::from_secs(120)).await
    }

    /// SIGKILL of the Erlang VM (a node crash), nothing flushed.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let pid: String = match fs::read_to_string(self.dir.join("pid")) {
            Ok(pid) if !pid.trim().is_empty() => pid.trim().to_owned(),
            // No pid file: ask the VM for its OS pid.
            _ => crate::util::run(
                "rabbitmqctl",
                &["-q", "-n", &self.node, "eval", "os:getpid()."],
            )?
            .chars()
            .filter(char::is_ascii_digit)
            .collect(),
        };
        if pid.is_empty() {
            bail!("no pid for RabbitMQ node {}", self.node);
        }
        crate::util::run("kill", &["-KILL", &pid])?;
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        Ok(())
    }

    /// Starts the node again on its data directory.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        self.wait_accepting(Duration::from_secs(120)).await
    }

    /// Stops the node for good.
    pub fn shutdown(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "-n", &self.node, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// moto of the run's own, and the proxy every AWS client of the platform goes through (an
/// outage closes the proxy; the checker reads moto directly).
pub struct Moto {
    /// moto itself.
    pub url: String,
    /// The proxy in front of it.
    pub proxy: TcpProxy,
    child: Child,
}

impl Moto {
    /// Starts moto and its proxy.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let port = server_port();
        let log = File::create(dir.join("moto.log"))?;
        let child = crate::aws::spawn_moto(port, log)?;
        wait_port("moto", port, Duration::from_secs(60))?;
        let proxy = TcpProxy::start(SocketAddr::from(([127, 0, 0, 1], port))).await;
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            proxy,
            child,
        })
    }

    /// The endpoint the platform uses (through the proxy).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.proxy.addr())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

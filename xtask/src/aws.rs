//! Local AWS: moto in server mode (PyPI `moto[server]`, in its own virtualenv) on
//! 127.0.0.1:5000, emulating SNS, SQS, SES, DynamoDB and Secrets Manager.

use std::fs::{self, File};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::install::venv;
use crate::util::{root, spawn_logged, step};

/// moto's port.
pub const MOTO_PORT: u16 = 5000;
/// moto's endpoint, as AWS SDKs take it (`AWS_ENDPOINT_URL`).
pub const MOTO_URL: &str = "http://127.0.0.1:5000";
/// The pinned moto.
pub const MOTO: &str = "moto[server]==5.2.5";

fn answering() -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], MOTO_PORT)),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// Starts the pinned moto (installed into its virtualenv when missing) on 127.0.0.1:`port`,
/// detached in its own process group and logging to `log`; does not wait for it to answer.
pub fn spawn_moto(port: u16, log: File) -> anyhow::Result<Child> {
    let bin = venv("moto", &[MOTO])?;
    let mut command = Command::new(bin.join("moto_server"));
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    spawn_logged(&mut command, log).context("starting moto_server")
}

/// Starts moto unless something already answers on its port.
pub fn ensure_moto() -> anyhow::Result<()> {
    if answering() {
        return Ok(());
    }
    step(&format!("starting moto on {MOTO_URL}"));
    let logs = root().join(".local").join("logs");
    fs::create_dir_all(&logs)?;
    let log = File::create(logs.join("moto.log"))?;
    // Detached: it outlives this command, like the other local servers.
    spawn_moto(MOTO_PORT, log)?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if answering() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!("moto did not answer on {MOTO_URL} within 60 s; see .local/logs/moto.log")
}

/// The environment AWS SDKs need to talk to moto.
pub const SDK_ENV: &[(&str, &str)] = &[
    ("AWS_ENDPOINT_URL", MOTO_URL),
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
];

//! A background task that dies takes the service down visibly: `/readyz` answers 503, then the
//! process exits non-zero (so Kubernetes restarts it). The service runs in a child process (this
//! test binary, started again with the test's name), wired as a service's `main` is: its
//! consumer under a [`Supervisor`], its HTTP server, and an exit code from the result.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use events::Envelope;
use events::payloads::StockLow;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use service_kit::config::HttpSettings;
use service_kit::health::Readiness;
use service_kit::http::ServiceApp;
use service_kit::messaging::{self, Consumer, Handler, HandlerError, Received, Topology};
use service_kit::tasks::Supervisor;
use service_kit::testing::{TestDatabase, amqp_url};
use sqlx::{PgConnection, PgPool};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Set in the child process: `<database url>|<exchange>|<queue>`.
const CHILD: &str = "SERVICE_KIT_SUPERVISION_CHILD";
const TEST: &str = "a_consumer_task_that_panics_turns_readyz_to_503_and_the_process_exits_non_zero";

/// Handles stock alerts; a bug makes it panic on the SKU `BOOM`.
struct Explodes;

impl Handler for Explodes {
    async fn handle(&self, _tx: &mut PgConnection, event: &Received) -> Result<(), HandlerError> {
        let envelope = Envelope::<StockLow>::parse(&event.body)
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        assert_ne!(envelope.data.sku, "BOOM", "a handler bug");
        Ok(())
    }
}

fn topology(exchange: &str, queue: &str) -> Topology {
    Topology {
        exchange: exchange.to_owned(),
        queue: queue.to_owned(),
        bindings: vec!["stock.low".into()],
        retry_delays: vec![Duration::from_millis(100)],
    }
}

/// The child: a service as `main` runs it, exiting 1 when `serve` fails.
async fn child(spec: &str) -> ! {
    let mut parts = spec.split('|');
    let (url, exchange, queue) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let pool = PgPool::connect(url).await.unwrap();
    messaging::ensure_schema(&pool).await.unwrap();
    let metrics = service_kit::metrics::Metrics::new("supervision-test").unwrap();
    let mut supervisor = Supervisor::new().with_grace(Duration::from_secs(3));
    let consumer = Consumer {
        name: "supervision".into(),
        topology: topology(exchange, queue),
        prefetch: 4,
        metrics: None,
    };
    supervisor.spawn(
        "event consumer",
        consumer.run(pool, amqp_url(), Explodes, supervisor.stop_signal()),
    );
    let http = HttpSettings {
        host: "127.0.0.1".into(),
        port: 0,
        request_timeout_ms: 5_000,
        body_limit_bytes: 65_536,
    };
    let server = ServiceApp::new(metrics, http)
        .readiness(Readiness::new(Duration::from_secs(1)).supervised(&supervisor))
        .bind()
        .await
        .unwrap();
    println!("LISTENING {}", server.local_addr().port());
    let served = supervisor.serve(server, std::future::pending()).await;
    eprintln!("served: {served:?}");
    // What `main` does with an error: exit code 1.
    std::process::exit(i32::from(served.is_err()));
}

/// `GET /readyz`: the status code, and the body.
async fn readyz(port: u16) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, response)
}

#[tokio::test]
async fn a_consumer_task_that_panics_turns_readyz_to_503_and_the_process_exits_non_zero() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec).await;
    }
    let db = TestDatabase::create("supervision").await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let topology = topology(
        &format!("test.events.{id}"),
        &format!("test.supervision.{id}"),
    );
    let (connection, channel) = messaging::connect(&amqp_url()).await.unwrap();
    topology.declare(&channel).await.unwrap();

    let mut service = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([TEST, "--exact", "--nocapture", "--test-threads", "1"])
        .env(
            CHILD,
            format!("{}|{}|{}", db.url, topology.exchange, topology.queue),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(service.stdout.take().unwrap()).lines();
    let port: u16 = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // libtest may have printed the test's name on the same line.
            if let Some((_, port)) = line.split_once("LISTENING ") {
                return port.trim().parse().unwrap();
            }
        }
        panic!("the service ended before listening");
    })
    .await
    .unwrap();
    // Keep reading its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let (status, body) = readyz(port).await;
    assert_eq!(status, 200, "{body}");
    let emit = |sku: &str| {
        Envelope::new(
            "/inventory",
            sku,
            None,
            StockLow {
                sku: sku.into(),
                available: 1,
                threshold: 5,
            },
        )
        .to_json()
        .unwrap()
    };
    for sku in ["FINE-1", "BOOM"] {
        messaging::publish_confirmed(
            &channel,
            &topology.exchange,
            "stock.low",
            &emit(sku),
            FieldTable::default(),
            sku,
        )
        .await
        .unwrap();
    }

    let unready = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (status, body) = readyz(port).await;
            if status == 503 {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("/readyz never turned 503");
    assert!(unready.contains("background_tasks"), "{unready}");
    assert!(unready.contains("event consumer panicked"), "{unready}");

    let exit = tokio::time::timeout(Duration::from_secs(30), service.wait())
        .await
        .expect("the service did not exit")
        .unwrap();
    assert_eq!(exit.code(), Some(1), "{exit:?}");

    for queue in [
        topology.queue.clone(),
        topology.dlq(),
        topology.retry_queue(Duration::from_millis(100)),
    ] {
        let _ = channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = channel
        .exchange_delete(
            topology.exchange.clone().into(),
            ExchangeDeleteOptions::default(),
        )
        .await;
    drop(connection);
}

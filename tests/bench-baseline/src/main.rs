//! A bare Axum server that answers every GET with the same bytes: the in-run baseline for
//! `cargo xtask bench` ("how fast can this machine serve this response at all?").
//!
//! Usage: `bench-baseline <port> <body-file>`.
//!
//! It installs the platform's telemetry with the services' settings (`APP__TELEMETRY__*`,
//! defaults included), so both sides run at the same log level and sampling; the handler itself
//! has nothing to log.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;

/// The settings it reads: the telemetry section.
#[derive(Debug, serde::Deserialize)]
struct Settings {
    telemetry: service_kit::config::TelemetrySettings,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .ok_or("usage: bench-baseline <port> <body-file>")?
        .parse()?;
    let body = Bytes::from(std::fs::read(args.next().ok_or("missing body file")?)?);
    let settings: Settings = service_kit::config::load("bench-baseline", port, Ok)?;
    let _telemetry = service_kit::telemetry::init("bench-baseline", &settings.telemetry)?;
    let handler = move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    };
    let app = Router::new().route("/{*path}", get(handler));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

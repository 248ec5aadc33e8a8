//! Logs and traces of a function.
//!
//! Logs are JSON lines on stdout (CloudWatch Logs keeps them; Logs Insights reads the fields).
//! Spans go to an OTLP/HTTP endpoint when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: in AWS that is
//! the ADOT collector extension on `localhost:4318`, which forwards them to X-Ray or the
//! platform's collector; locally, any OTLP receiver. A record's span continues the trace of the
//! request that caused the event ([`crate::trace`]), so Jaeger shows checkout, saga, bridge and
//! function work as one trace.
//!
//! Lambda freezes the process between invocations, so a background exporter may never get to
//! send: [`flush`] exports what an invocation recorded before it answers. [`crate::batch::process`]
//! flushes after each batch; HTTP functions call [`flush`] after each request.

use std::sync::OnceLock;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The variable naming the OTLP/HTTP endpoint (standard OpenTelemetry name).
pub const ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logs {
    /// Standard output (most functions).
    Stdout,
    /// Standard error, for a function whose stdout carries data (analytics' EMF lines).
    Stderr,
}

/// Installs logging and tracing for the function `service`, exporting spans when
/// [`ENDPOINT_ENV`] is set. Call once, first thing in `main`.
pub fn init(service: &'static str, logs: Logs) -> anyhow::Result<()> {
    let endpoint = std::env::var(ENDPOINT_ENV)
        .ok()
        .filter(|e| !e.trim().is_empty());
    init_with(service, logs, endpoint.as_deref())
}

/// [`init`] with an explicit endpoint (`None`: spans are recorded for the logs, not exported).
pub fn init_with(service: &'static str, logs: Logs, endpoint: Option<&str>) -> anyhow::Result<()> {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    if let Some(endpoint) = endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()
            .context("building the OTLP span exporter")?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer(service);
    if PROVIDER.set(provider).is_err() {
        anyhow::bail!("telemetry is already initialised");
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().json().without_time();
    let fmt = match logs {
        Logs::Stdout => fmt.boxed(),
        Logs::Stderr => fmt.with_writer(std::io::stderr).boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(fmt)
        .try_init()
        .context("a global subscriber is already installed")
}

/// Exports every finished span now (a no-op before [`init`] or without an endpoint). Export
/// failures are logged, never returned: telemetry must not fail an invocation.
pub async fn flush() {
    let Some(provider) = PROVIDER.get() else {
        return;
    };
    let provider = provider.clone();
    match tokio::task::spawn_blocking(move || provider.force_flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => eprintln!("telemetry: span export failed: {err}"),
        Err(err) => eprintln!("telemetry: flush task failed: {err}"),
    }
}

/// The span an HTTP request is handled in, continuing the caller's `traceparent` if it sent
/// one (the gateway does).
pub fn request_span(method: &str, path: &str, traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {path}"),
        otel.kind = "server",
        http.request.method = method,
        url.path = path,
    );
    if let Some(parent) = traceparent.and_then(crate::trace::parse) {
        crate::trace::continue_trace(&span, &parent);
    }
    span
}

//! Logs and traces.
//!
//! One subscriber for every service: JSON lines carrying `service`, the request's `request_id`
//! and, when the request has a trace, `trace_id` and `span_id` (or plain text for local
//! terminals); an OpenTelemetry layer assigning W3C trace ids; and an OTLP/HTTP exporter when an
//! endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`). [`extract_context`] and
//! [`inject_current`] carry the trace across HTTP (and later, broker) hops as `traceparent`.
//!
//! Cheap on the hot path: log lines go through a bounded queue to a writer thread (a request
//! never waits for stdout; lines beyond the queue are dropped), successful requests get an
//! access log line one in `access_log_every` times, and new traces are recorded at
//! `trace_sample_ratio` under a parent-based sampler. At a ratio of 0 (the default) a request
//! that arrives without a `traceparent` can never be recorded, so its span skips the
//! OpenTelemetry layer altogether ([`UNTRACED`]): no span builder, attributes or ids for a trace
//! nobody keeps. Its log lines are tied together by `request_id` (also sent back to the client as
//! `x-request-id`), and the services it calls start no trace either, as before.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context as _;
use http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, global};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::{OpenTelemetrySpanExt, get_otel_context};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::TelemetrySettings;

/// One successful request in this many gets an `info` access log line (see
/// [`access_log_sampled`]); set by [`init`], every request until then.
static ACCESS_LOG_EVERY: AtomicU64 = AtomicU64::new(1);
static ACCESS_LOG_COUNT: AtomicU64 = AtomicU64::new(0);

/// Whether a request arriving without a trace context may start a recorded trace
/// (`trace_sample_ratio` above 0); set by [`init`].
static NEW_TRACES: AtomicBool = AtomicBool::new(true);

/// The target of request spans that no trace can record: the OpenTelemetry layer never sees
/// them (see the module's documentation).
pub const UNTRACED: &str = "service_kit::untraced";

/// Whether a request without a `traceparent` may be recorded (`trace_sample_ratio` above 0).
pub fn new_traces_recorded() -> bool {
    NEW_TRACES.load(Ordering::Relaxed)
}

/// Whether this successful request's access log line is one of the sampled ones.
pub fn access_log_sampled() -> bool {
    match ACCESS_LOG_EVERY.load(Ordering::Relaxed) {
        0 => false,
        1 => true,
        every => ACCESS_LOG_COUNT
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(every),
    }
}

/// Flushes pending spans and log lines when dropped; keep it alive for the life of `main`.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    _logs: tracing_appender::non_blocking::WorkerGuard,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {err}");
        }
    }
}

/// Installs the global subscriber and propagator for `service`.
pub fn init(service: &'static str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    ACCESS_LOG_EVERY.store(settings.access_log_every, Ordering::Relaxed);
    let ratio = settings.trace_sample_ratio.clamp(0.0, 1.0);
    NEW_TRACES.store(ratio > 0.0, Ordering::Relaxed);
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(Resource::builder().with_service_name(service).build());
    if let Some(endpoint) = settings.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()
            .context("building the OTLP span exporter")?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    global::set_tracer_provider(provider.clone());
    // Spans carry what a trace view needs (name, attributes, timing, parent); the layer's extras
    // cost every request CPU whether or not it is sampled (measured with `perf` on a cached read
    // through the gateway: about 8% of its CPU), so they are off: busy/idle time per span
    // (a clock read on every poll), thread and source-location attributes, and activating an
    // OpenTelemetry context on every poll (nothing here reads `Context::current()`; the trace
    // context is taken from the tracing span, `OpenTelemetrySpanExt::context`).
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_context_activation(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.target() != UNTRACED
        }));
    let filter = EnvFilter::try_new(&settings.log_filter).context("invalid log filter")?;
    let (writer, logs) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(settings.log_buffer_lines.max(1))
        .thread_name("log-writer")
        .finish(std::io::stdout());
    let fmt = if settings.json_logs {
        tracing_subscriber::fmt::layer()
            .event_format(JsonLines { service })
            .fmt_fields(NoSpanFields)
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(writer).boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(fmt)
        .try_init()
        .context("a global subscriber is already installed")?;
    Ok(TelemetryGuard {
        provider,
        _logs: logs,
    })
}

/// The trace context a request carries in its `traceparent`/`tracestate` headers.
pub fn extract_context(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Writes the current span's trace context into outgoing headers.
pub fn inject_current(headers: &mut HeaderMap) {
    let cx = tracing::Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(headers)));
}

/// The current span's W3C `traceparent`, if it belongs to a sampled or remote trace.
pub fn current_traceparent() -> Option<String> {
    let mut headers = HeaderMap::new();
    inject_current(&mut headers);
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(key),
            http::HeaderValue::try_from(value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// One JSON object per event: time, level, service, target, message and fields, the innermost
/// span's name, and the trace and span ids that tie it to its trace.
struct JsonLines {
    service: &'static str,
}

/// The JSON lines name the current span and its trace, never its fields, so the fmt layer need
/// not format every span's fields into a string when the span opens (which it does for each
/// request, logged or not: 5% of a cached read's CPU, measured with `perf`).
struct NoSpanFields;

impl<'writer> FormatFields<'writer> for NoSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _writer: Writer<'writer>,
        _fields: R,
    ) -> std::fmt::Result {
        Ok(())
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = Map::new();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        line.insert("timestamp".into(), Value::String(now));
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        line.insert("service".into(), Value::String(self.service.to_owned()));
        line.insert(
            "target".into(),
            Value::String(event.metadata().target().to_owned()),
        );
        event.record(&mut JsonVisitor(&mut line));
        if let Some(id) = crate::request::current_request_id() {
            line.insert("request_id".into(), Value::String(id));
        }
        if let Some(span) = ctx.lookup_current() {
            line.insert("span".into(), Value::String(span.name().to_owned()));
            let otel = tracing::dispatcher::get_default(|d| get_otel_context(&span.id(), d));
            if let Some(cx) = otel {
                let span_context = cx.span().span_context().clone();
                if span_context.is_valid() {
                    let trace_id = span_context.trace_id().to_string();
                    line.insert("trace_id".into(), Value::String(trace_id));
                    let span_id = span_context.span_id().to_string();
                    line.insert("span_id".into(), Value::String(span_id));
                }
            }
        }
        let mut text = serde_json::to_string(&Value::Object(line)).map_err(|_| std::fmt::Error)?;
        text.push('\n');
        writer.write_str(&text)
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.0.insert(field.name().into(), Value::from(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_through_headers() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let mut incoming = HeaderMap::new();
        incoming.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let cx = extract_context(&incoming);
        let mut outgoing = HeaderMap::new();
        global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut HeaderInjector(&mut outgoing));
        });
        assert_eq!(
            outgoing["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }
}

//! What the log lines of a request carry at the default trace sampling (none): the request id
//! always, the trace and span ids only when the caller sent a trace context. The test runs
//! itself again as a child process that installs the process-global subscriber and serves two
//! requests, and reads the child's JSON lines from its stdout.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use serde_json::Value;
use service_kit::config::{HttpSettings, TelemetrySettings};
use service_kit::http::ServiceApp;
use service_kit::metrics::Metrics;
use tower::ServiceExt;

const CHILD: &str = "REQUEST_LOGS_CHILD";
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The child: telemetry at its defaults (JSON, no new trace sampled), every access logged.
fn serve_two_requests() {
    let settings = TelemetrySettings {
        log_filter: "info".into(),
        json_logs: true,
        otlp_endpoint: None,
        trace_sample_ratio: 0.0,
        access_log_every: 1,
        log_buffer_lines: 1024,
    };
    let guard = service_kit::telemetry::init("logs-test", &settings).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let routes = Router::new().route(
            "/{which}",
            get(|| async {
                tracing::warn!("inside the handler");
                "ok"
            }),
        );
        let settings = HttpSettings {
            host: "127.0.0.1".into(),
            port: 0,
            request_timeout_ms: 1_000,
            body_limit_bytes: 64,
        };
        let router = ServiceApp::new(Metrics::new("logs-test").unwrap(), settings)
            .routes(routes)
            .into_router();
        let plain = Request::get("/plain")
            .header("x-request-id", "plain-request")
            .body(Body::empty())
            .unwrap();
        router.clone().oneshot(plain).await.unwrap();
        let traced = Request::get("/traced")
            .header("x-request-id", "traced-request")
            .header(
                "traceparent",
                format!("00-{CALLER_TRACE}-00f067aa0ba902b7-01"),
            )
            .body(Body::empty())
            .unwrap();
        router.oneshot(traced).await.unwrap();
    });
    drop(guard); // flushes the log writer
}

#[test]
fn log_lines_carry_the_request_id_and_the_trace_only_when_there_is_one() {
    if std::env::var_os(CHILD).is_some() {
        serve_two_requests();
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "log_lines_carry_the_request_id_and_the_trace_only_when_there_is_one",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &Value| line["service"] == "logs-test")
        .collect();
    let of = |request: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|line| line["request_id"] == request)
            .collect()
    };
    let (plain, traced) = (of("plain-request"), of("traced-request"));
    // The handler's warning and the access line, each tied to its request.
    assert_eq!(plain.len(), 2, "{lines:?}");
    assert_eq!(traced.len(), 2, "{lines:?}");
    for line in plain {
        assert!(
            line.get("trace_id").is_none(),
            "no trace can record this request: {line}"
        );
    }
    for line in traced {
        assert_eq!(line["trace_id"], CALLER_TRACE, "{line}");
        assert!(line["span_id"].is_string(), "{line}");
    }
}

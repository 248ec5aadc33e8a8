//! Traces leave the process over OTLP/HTTP when an endpoint is configured. A test binary of its
//! own, because it installs the process-global subscriber.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use service_kit::config::TelemetrySettings;

/// A minimal OTLP/HTTP receiver: records each request's first line and body, answers 200.
fn receiver() -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            let _ = tx.send((request_line.trim().to_owned(), body));
        }
    });
    (format!("http://{addr}"), rx)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn spans_are_exported_to_the_configured_otlp_endpoint() {
    let (endpoint, requests) = receiver();
    let settings = TelemetrySettings {
        log_filter: "info".into(),
        json_logs: true,
        otlp_endpoint: Some(endpoint),
        // Record every new trace (the default, 0, records only traces a caller sampled).
        trace_sample_ratio: 1.0,
        access_log_every: 1,
        log_buffer_lines: 1024,
    };
    let guard = service_kit::telemetry::init("otlp-test-service", &settings).unwrap();
    {
        let span = tracing::info_span!("reserve_stock");
        let _entered = span.enter();
        tracing::info!("inside the span");
    }
    drop(guard); // shutting down flushes the batch
    let (request_line, body) = requests.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        request_line.starts_with("POST /v1/traces "),
        "{request_line}"
    );
    assert!(
        contains(&body, b"otlp-test-service"),
        "the resource names the service"
    );
    assert!(
        contains(&body, b"reserve_stock"),
        "the span is in the export"
    );
}

//! Prometheus metrics, one registry per running service.
//!
//! Each [`Metrics`] owns its registry (no process-global state), so several services, or several
//! test instances of one, can run in one process with separate counts. Services register their
//! own collectors with [`Metrics::register`]. Label values are always bounded: matched route
//! templates, never raw paths or ids.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

/// One request series: method, status and its two handles.
type Series = (String, u16, IntCounter, Histogram);

/// Request duration buckets in seconds, dense where latency objectives live (5 ms to 1 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
];

/// The RED metrics every service exports, plus the registry services add theirs to.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    service: &'static str,
    /// `http_server_requests_total{service,method,route,status}`.
    pub requests: IntCounterVec,
    /// `http_server_request_duration_seconds{service,method,route,status}`.
    pub duration: HistogramVec,
    /// The handles of every request series seen, by route: a request finds its counter and
    /// histogram without building label values or hashing them into the vectors.
    /// Never waited for (`try_` locks): a request that finds it locked uses the vectors.
    series: Arc<tokio::sync::RwLock<HashMap<String, Vec<Series>>>>,
}

impl Metrics {
    /// Creates the registry and the HTTP metrics for `service`.
    pub fn new(service: &'static str) -> anyhow::Result<Self> {
        let registry = Registry::new();
        let labels = &["service", "method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new(
                "http_server_requests_total",
                "HTTP requests served, by route and status.",
            ),
            labels,
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_server_request_duration_seconds",
                "Time from request received to response headers sent, in seconds.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            labels,
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self {
            registry,
            service,
            requests,
            duration,
            series: Arc::default(),
        })
    }

    /// The service name used as the `service` label.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Registers a service-specific collector and returns it.
    pub fn register<C: Collector + Clone + 'static>(&self, collector: C) -> anyhow::Result<C> {
        self.registry
            .register(Box::new(collector.clone()))
            .context("registering a metric")?;
        Ok(collector)
    }

    /// Records one served request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let matches = |(m, s, _, _): &&Series| m == method && *s == status;
        if let Ok(series) = self.series.try_read()
            && let Some((_, _, counter, histogram)) =
                series.get(route).and_then(|s| s.iter().find(matches))
        {
            counter.inc();
            histogram.observe(seconds);
            return;
        }
        let status_text = status.to_string();
        let labels = [self.service, method, route, status_text.as_str()];
        let counter = self.requests.with_label_values(&labels);
        let histogram = self.duration.with_label_values(&labels);
        counter.inc();
        histogram.observe(seconds);
        if let Ok(mut series) = self.series.try_write() {
            let of_route = series.entry(route.to_owned()).or_default();
            if !of_route.iter().any(|s| matches(&s)) {
                of_route.push((method.to_owned(), status, counter, histogram));
            }
        }
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(err) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %err, "could not encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_metrics_carry_the_red_labels() {
        let metrics = Metrics::new("catalog").unwrap();
        metrics.observe_request("GET", "/products/{id}", 200, 0.003);
        let text = metrics.render();
        assert!(text.contains(
            r#"http_server_requests_total{method="GET",route="/products/{id}",service="catalog",status="200"} 1"#
        ));
        assert!(text.contains("http_server_request_duration_seconds_bucket"));
    }
}

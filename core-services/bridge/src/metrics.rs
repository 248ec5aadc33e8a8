//! Bridge metrics.

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, Opts};
use service_kit::metrics::{LATENCY_BUCKETS, Metrics};

/// What the bridge counts.
#[derive(Debug, Clone)]
pub struct BridgeMetrics {
    /// `bridge_events_forwarded_total`.
    pub forwarded: IntCounter,
    /// `bridge_publish_failures_total`: entries SNS refused (each retry counts).
    pub failures: IntCounter,
    /// `bridge_dead_lettered_total`.
    pub dead_lettered: IntCounter,
    /// `bridge_publish_duration_seconds`: one `PublishBatch` call.
    pub publish_seconds: Histogram,
    /// `bridge_lag_seconds`: age of the last forwarded event when SNS accepted it.
    pub lag_seconds: Gauge,
}

impl BridgeMetrics {
    /// Registers the collectors.
    pub fn new(metrics: &Metrics) -> anyhow::Result<Self> {
        let opts = |name: &str, help: &str| {
            Opts::new(name, help).const_label("service", metrics.service())
        };
        Ok(Self {
            forwarded: metrics.register(IntCounter::with_opts(opts(
                "bridge_events_forwarded_total",
                "Events SNS accepted.",
            ))?)?,
            failures: metrics.register(IntCounter::with_opts(opts(
                "bridge_publish_failures_total",
                "Events SNS refused or failed to take (each attempt counts).",
            ))?)?,
            dead_lettered: metrics.register(IntCounter::with_opts(opts(
                "bridge_dead_lettered_total",
                "Messages parked because SNS can never take them.",
            ))?)?,
            publish_seconds: metrics.register(Histogram::with_opts(
                HistogramOpts::new(
                    "bridge_publish_duration_seconds",
                    "Duration of one PublishBatch call.",
                )
                .const_label("service", metrics.service())
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?)?,
            lag_seconds: metrics.register(Gauge::with_opts(opts(
                "bridge_lag_seconds",
                "Age of the last forwarded event when SNS accepted it.",
            ))?)?,
        })
    }
}

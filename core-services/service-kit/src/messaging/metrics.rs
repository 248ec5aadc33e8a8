//! The messaging metrics a service exports.

/// The messaging metrics of a service, registered in its own registry.
#[derive(Clone, Debug)]
pub struct MessagingMetrics {
    /// `messaging_outbox_pending`: events written and not yet confirmed by the broker.
    pub outbox_pending: prometheus::IntGauge,
    /// `messaging_outbox_lag_seconds`: age of the oldest unpublished event (0 when none).
    pub outbox_lag: prometheus::Gauge,
    /// `messaging_outbox_published_total`: events the broker confirmed.
    pub published: prometheus::IntCounter,
    /// `messaging_outbox_publish_failures_total`: publishes refused or failed.
    pub publish_failures: prometheus::IntCounter,
    /// `messaging_events_consumed_total{queue,outcome}`: outcome is `handled`, `duplicate`,
    /// `retried` or `dead_lettered`.
    pub consumed: prometheus::IntCounterVec,
    /// `messaging_dead_letter_depth{queue}`: messages parked in the queue's DLQ.
    pub dlq_depth: prometheus::IntGaugeVec,
}

impl MessagingMetrics {
    /// Creates and registers the collectors.
    pub fn new(metrics: &crate::metrics::Metrics) -> anyhow::Result<Self> {
        let opts = |name: &str, help: &str| {
            prometheus::Opts::new(name, help).const_label("service", metrics.service())
        };
        Ok(Self {
            outbox_pending: metrics.register(prometheus::IntGauge::with_opts(opts(
                "messaging_outbox_pending",
                "Events in the outbox not yet confirmed by the broker.",
            ))?)?,
            outbox_lag: metrics.register(prometheus::Gauge::with_opts(opts(
                "messaging_outbox_lag_seconds",
                "Age of the oldest unpublished outbox event, in seconds.",
            ))?)?,
            published: metrics.register(prometheus::IntCounter::with_opts(opts(
                "messaging_outbox_published_total",
                "Outbox events confirmed by the broker.",
            ))?)?,
            publish_failures: metrics.register(prometheus::IntCounter::with_opts(opts(
                "messaging_outbox_publish_failures_total",
                "Outbox publishes the broker refused or that failed.",
            ))?)?,
            consumed: metrics.register(prometheus::IntCounterVec::new(
                opts("messaging_events_consumed_total", "Deliveries by outcome."),
                &["queue", "outcome"],
            )?)?,
            dlq_depth: metrics.register(prometheus::IntGaugeVec::new(
                opts(
                    "messaging_dead_letter_depth",
                    "Messages parked in the dead-letter queue.",
                ),
                &["queue"],
            )?)?,
        })
    }
}

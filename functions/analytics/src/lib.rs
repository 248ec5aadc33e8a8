//! # analytics
//!
//! A Lambda function fed by the `analytics` SQS queue. Each event becomes one CloudWatch
//! Embedded Metric Format (EMF) document on stdout: CloudWatch Logs turns it into metrics in
//! the configured namespace without any API call (so the function needs no CloudWatch
//! permission). Dimensions are bounded: event type, currency, cancellation reason.
//!
//! Metrics: `OrdersPlaced`, `OrdersConfirmed`, `OrdersCancelled` (by `Reason`), `Revenue`
//! (captured, minor units, by `Currency`), `Refunds` (minor units, by `Currency`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use events::payloads::{
    OrderCancelled, OrderConfirmed, OrderPlaced, PaymentCaptured, PaymentRefunded,
};
use events::{Attributes, Envelope, Event};
use function_kit::batch::{self, RecordError};
use serde_json::{Value, json};

/// The environment variable with the metric namespace.
pub const NAMESPACE_ENV: &str = "METRICS_NAMESPACE";

/// One EMF document: `metric` with `value` in `unit`, under `dimensions`.
pub fn emf(
    namespace: &str,
    metric: &str,
    value: f64,
    unit: &str,
    dimensions: &[(&str, &str)],
    timestamp_ms: i64,
) -> Value {
    let names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [names],
                "Metrics": [{ "Name": metric, "Unit": unit }]
            }]
        },
        metric: value,
    });
    if let Value::Object(map) = &mut doc {
        for (k, v) in dimensions {
            map.insert((*k).to_owned(), json!(v));
        }
    }
    doc
}

/// The metric documents an event yields (none for types that carry no business figure).
pub fn documents(namespace: &str, body: &[u8]) -> Result<Vec<Value>, RecordError> {
    let bad = |e: events::EnvelopeError| RecordError::Unprocessable(e.to_string());
    let attributes = Attributes::peek(body).map_err(bad)?;
    let at = time::OffsetDateTime::now_utc();
    let ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let kind = attributes.event_type.as_str();
    let docs = match kind {
        OrderPlaced::TYPE => {
            let e = Envelope::<OrderPlaced>::parse(body).map_err(bad)?.data;
            vec![emf(
                namespace,
                "OrdersPlaced",
                1.0,
                "Count",
                &[("Currency", e.total.currency().as_str())],
                ms,
            )]
        }
        OrderConfirmed::TYPE => {
            let e = Envelope::<OrderConfirmed>::parse(body).map_err(bad)?.data;
            vec![emf(
                namespace,
                "OrdersConfirmed",
                1.0,
                "Count",
                &[("Currency", e.total.currency().as_str())],
                ms,
            )]
        }
        OrderCancelled::TYPE => {
            let e = Envelope::<OrderCancelled>::parse(body).map_err(bad)?.data;
            vec![emf(
                namespace,
                "OrdersCancelled",
                1.0,
                "Count",
                &[("Reason", &e.reason)],
                ms,
            )]
        }
        PaymentCaptured::TYPE => {
            let e = Envelope::<PaymentCaptured>::parse(body).map_err(bad)?.data;
            #[allow(clippy::cast_precision_loss)]
            let value = e.amount.amount() as f64;
            vec![emf(
                namespace,
                "Revenue",
                value,
                "None",
                &[("Currency", e.amount.currency().as_str())],
                ms,
            )]
        }
        PaymentRefunded::TYPE => {
            let e = Envelope::<PaymentRefunded>::parse(body).map_err(bad)?.data;
            #[allow(clippy::cast_precision_loss)]
            let value = e.amount.amount() as f64;
            vec![emf(
                namespace,
                "Refunds",
                value,
                "None",
                &[("Currency", e.amount.currency().as_str())],
                ms,
            )]
        }
        _ => Vec::new(),
    };
    Ok(docs)
}

/// Handles a batch, printing one EMF line per metric.
pub async fn handle(namespace: &str, event: SqsEvent) -> SqsBatchResponse {
    batch::process(event, |record: SqsMessage| async move {
        let body = record.body.unwrap_or_default();
        for doc in documents(namespace, body.as_bytes())? {
            println!("{doc}");
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::Money;
    use events::payloads::Contact;

    #[test]
    fn events_become_emf_documents_with_bounded_dimensions() {
        let cancelled = Envelope::new(
            "/orders",
            "o-1",
            None,
            OrderCancelled {
                order_id: "o-1".into(),
                customer_id: "c-1".into(),
                reason: "out_of_stock".into(),
                contact: Contact {
                    email: "a@example.com".into(),
                    phone: None,
                    name: "A".into(),
                    locale: "en".into(),
                    notify_email: true,
                    notify_sms: false,
                },
            },
        );
        let docs = documents("Retail/Business", &cancelled.to_json().unwrap()).unwrap();
        assert_eq!(docs.len(), 1);
        let doc = &docs[0];
        assert_eq!(doc["OrdersCancelled"], 1.0);
        assert_eq!(doc["Reason"], "out_of_stock");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Retail/Business"
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Reason"
        );

        let captured = Envelope::new(
            "/payments",
            "o-1",
            None,
            PaymentCaptured {
                order_id: "o-1".into(),
                payment_id: "p".into(),
                amount: Money::parse(5900, "EUR").unwrap(),
            },
        );
        let docs = documents("Retail/Business", &captured.to_json().unwrap()).unwrap();
        assert_eq!(docs[0]["Revenue"], 5900.0);
        assert!(matches!(
            documents("x", b"{nope"),
            Err(RecordError::Unprocessable(_))
        ));
    }
}

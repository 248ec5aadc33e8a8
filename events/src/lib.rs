//! # events
//!
//! The contract between services and functions: every event travels as a CloudEvents 1.0
//! structured-mode JSON document ([`Envelope`]) whose `type` is `<aggregate>.<verb>` and whose
//! `data` is one of the typed payloads in [`payloads`]. Each payload type has a version; adding
//! an optional field is compatible, removing or renaming one needs a new version. Amounts are
//! [`Money`], checked as they are read: a payload with a negative amount or an unknown currency
//! does not parse. JSON Schemas of every payload are generated into `events/schemas/` (`cargo
//! xtask schemas`), and a test fails when the committed files drift from the types.
//!
//! On RabbitMQ the routing key is the event type and the CloudEvents attributes also travel as
//! `cloudEvents:`-prefixed headers ([`Envelope::amqp_headers`]), so consumers can route and
//! deduplicate without parsing bodies.

pub mod money;
pub mod payloads;
pub mod sealed;

pub use money::{Currency, MAX_AMOUNT, Money, MoneyError};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// CloudEvents specification version.
pub const SPEC_VERSION: &str = "1.0";
/// Prefix of CloudEvents attributes as AMQP headers (CloudEvents AMQP binding).
pub const AMQP_HEADER_PREFIX: &str = "cloudEvents:";

/// A payload type with its name on the wire.
pub trait Event: Serialize + DeserializeOwned + schemars::JsonSchema {
    /// The CloudEvents `type`, also the routing key: `<aggregate>.<verb>`.
    const TYPE: &'static str;
    /// The payload version; bumped on incompatible changes.
    const VERSION: u32;

    /// The `dataschema` URI naming type and version.
    fn schema_uri() -> String {
        format!(
            "urn:retail-platform:events:{}:v{}",
            Self::TYPE,
            Self::VERSION
        )
    }
}

/// A CloudEvents 1.0 event in structured JSON mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per event (UUIDv7: time-ordered); consumers deduplicate on it.
    pub id: String,
    /// The producing service, e.g. `/orders`.
    pub source: String,
    /// Event type, e.g. `order.placed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the change happened (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// Payload type and version.
    pub dataschema: String,
    /// W3C trace context of the change, so traces continue across the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Id shared by every event of one business flow (e.g. the order id).
    pub correlationid: String,
    /// Id of the event that caused this one, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causationid: Option<String>,
    /// The payload.
    pub data: T,
}

/// Why a message could not be read as an event.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or not an envelope.
    #[error("not a CloudEvents envelope: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A different spec version.
    #[error("unsupported specversion {0}")]
    SpecVersion(String),
    /// The envelope carries another type or version than expected.
    #[error("expected {expected}, got {actual}")]
    WrongType {
        /// The expected `type`/`dataschema`.
        expected: String,
        /// What the message says.
        actual: String,
    },
}

impl<T: Event> Envelope<T> {
    /// A new event from `source`, part of flow `correlation_id`, caused by `causation_id`.
    pub fn new(source: &str, correlation_id: &str, causation_id: Option<&str>, data: T) -> Self {
        Self {
            specversion: SPEC_VERSION.to_owned(),
            id: Uuid::now_v7().to_string(),
            source: source.to_owned(),
            event_type: T::TYPE.to_owned(),
            time: OffsetDateTime::now_utc(),
            datacontenttype: "application/json".to_owned(),
            dataschema: T::schema_uri(),
            traceparent: None,
            correlationid: correlation_id.to_owned(),
            causationid: causation_id.map(str::to_owned),
            data,
        }
    }

    /// Parses a structured-mode message as this event type, checking type and version.
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        // Attributes first: a message of another type is a routing problem, not a bad payload.
        let envelope: Envelope<serde_json::Value> = serde_json::from_slice(bytes)?;
        if envelope.specversion != SPEC_VERSION {
            return Err(EnvelopeError::SpecVersion(envelope.specversion));
        }
        if envelope.event_type != T::TYPE || envelope.dataschema != T::schema_uri() {
            return Err(EnvelopeError::WrongType {
                expected: T::schema_uri(),
                actual: format!("{} {}", envelope.event_type, envelope.dataschema),
            });
        }
        let data = serde_json::from_value(envelope.data)?;
        Ok(Envelope {
            specversion: envelope.specversion,
            id: envelope.id,
            source: envelope.source,
            event_type: envelope.event_type,
            time: envelope.time,
            datacontenttype: envelope.datacontenttype,
            dataschema: envelope.dataschema,
            traceparent: envelope.traceparent,
            correlationid: envelope.correlationid,
            causationid: envelope.causationid,
            data,
        })
    }
}

impl<T: Serialize> Envelope<T> {
    /// The JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// The CloudEvents attributes as AMQP application properties (`cloudEvents:type`, ...).
    pub fn amqp_headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            ("specversion", self.specversion.clone()),
            ("id", self.id.clone()),
            ("source", self.source.clone()),
            ("type", self.event_type.clone()),
            (
                "time",
                self.time
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            ),
            ("datacontenttype", self.datacontenttype.clone()),
            ("dataschema", self.dataschema.clone()),
            ("correlationid", self.correlationid.clone()),
        ];
        if let Some(traceparent) = &self.traceparent {
            headers.push(("traceparent", traceparent.clone()));
        }
        if let Some(causation) = &self.causationid {
            headers.push(("causationid", causation.clone()));
        }
        headers
            .into_iter()
            .map(|(k, v)| (format!("{AMQP_HEADER_PREFIX}{k}"), v))
            .collect()
    }
}

/// The attributes of any event, without parsing its payload (routing, dead-letter tooling).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Attributes {
    /// Event id.
    pub id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Producer.
    pub source: String,
    /// Flow id.
    pub correlationid: String,
    /// W3C trace context, when the producer was traced.
    #[serde(default)]
    pub traceparent: Option<String>,
}

impl Attributes {
    /// Reads only the attributes of a structured-mode message.
    pub fn peek(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payloads::{OrderCancelled, StockLow};

    #[test]
    fn envelopes_round_trip_and_check_their_type() {
        let event = Envelope::new(
            "/inventory",
            "order-1",
            Some("evt-0"),
            StockLow {
                sku: "HP-1".into(),
                available: 2,
                threshold: 5,
            },
        );
        let bytes = event.to_json().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "stock.low");
        assert_eq!(
            json["dataschema"],
            "urn:retail-platform:events:stock.low:v1"
        );
        assert_eq!(Envelope::<StockLow>::parse(&bytes).unwrap(), event);
        assert!(matches!(
            Envelope::<OrderCancelled>::parse(&bytes),
            Err(EnvelopeError::WrongType { .. })
        ));
        assert_eq!(Attributes::peek(&bytes).unwrap().event_type, "stock.low");
    }

    #[test]
    fn amqp_headers_carry_every_attribute_with_the_binding_prefix() {
        let mut event = Envelope::new(
            "/inventory",
            "c-1",
            None,
            StockLow {
                sku: "A".into(),
                available: 0,
                threshold: 1,
            },
        );
        event.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        let headers = event.amqp_headers();
        let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        for attribute in [
            "id",
            "type",
            "source",
            "time",
            "specversion",
            "traceparent",
            "correlationid",
        ] {
            assert!(
                names.contains(&format!("cloudEvents:{attribute}").as_str()),
                "{attribute}"
            );
        }
        assert!(!names.contains(&"cloudEvents:causationid"));
    }
}

//! SNS message attributes for an event: what subscription filter policies match on
//! (`event_type`, `source`) plus identity and trace context. SNS allows at most 10 attributes
//! per message; [`ATTRIBUTE_NAMES`] is the complete list and a test keeps it within the limit.

use aws_sdk_sns::types::MessageAttributeValue;
use events::Attributes;

/// SNS's limit of message attributes per message.
pub const SNS_MAX_ATTRIBUTES: usize = 10;

/// Every attribute the bridge may set.
pub const ATTRIBUTE_NAMES: &[&str] = &[
    "event_type",
    "source",
    "event_id",
    "correlation_id",
    "traceparent",
    "aggregate_id",
];

// Checked when compiling: adding an attribute beyond the limit fails the build.
const _: () = assert!(ATTRIBUTE_NAMES.len() <= SNS_MAX_ATTRIBUTES);

fn text(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

/// The attributes of one event (empty values are left out: SNS refuses them).
pub fn for_event(
    attributes: &Attributes,
    aggregate_id: Option<&str>,
) -> Vec<(&'static str, MessageAttributeValue)> {
    let values = [
        ("event_type", Some(attributes.event_type.as_str())),
        ("source", Some(attributes.source.as_str())),
        ("event_id", Some(attributes.id.as_str())),
        ("correlation_id", Some(attributes.correlationid.as_str())),
        ("traceparent", attributes.traceparent.as_deref()),
        ("aggregate_id", aggregate_id),
    ];
    values
        .into_iter()
        .filter_map(|(name, value)| {
            let value = value.filter(|v| !v.is_empty())?;
            Some((name, text(value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_is_named_and_the_list_is_within_the_sns_limit() {
        let attributes: Attributes = serde_json::from_value(serde_json::json!({
            "specversion": "1.0", "id": "e-1", "source": "/orders", "type": "order.placed",
            "time": "2026-01-01T00:00:00Z", "correlationid": "o-1",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        }))
        .unwrap();
        let set = for_event(&attributes, Some("o-1"));
        assert!(set.len() <= SNS_MAX_ATTRIBUTES);
        for (name, _) in &set {
            assert!(
                ATTRIBUTE_NAMES.contains(name),
                "{name} is not in ATTRIBUTE_NAMES"
            );
        }
        assert_eq!(set.len(), ATTRIBUTE_NAMES.len());
    }
}

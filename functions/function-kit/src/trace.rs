//! The W3C trace context that travels with each event (the `traceparent` message attribute the
//! bridge sets from the event's AMQP headers), so a function's work on a record is logged in the
//! trace of the request that caused it: every log line inside the record's span carries
//! `trace_id` and `parent_span_id`, and the span itself is exported as a child of the
//! publisher's span ([`crate::telemetry`]).

use aws_lambda_events::event::sqs::SqsMessage;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The message attribute holding the trace context.
pub const ATTRIBUTE: &str = "traceparent";

/// A parsed `traceparent` (version 00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits: the span that published the event.
    pub parent_id: String,
    /// Whether the caller sampled the trace.
    pub sampled: bool,
}

fn hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

/// Parses a `traceparent` value; `None` for anything malformed or all-zero ids.
pub fn parse(value: &str) -> Option<TraceParent> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || parts.next().is_some() || !hex(trace_id, 32) || !hex(parent_id, 16) {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16)
        .ok()
        .filter(|_| flags.len() == 2)?;
    Some(TraceParent {
        trace_id: trace_id.to_owned(),
        parent_id: parent_id.to_owned(),
        sampled: flags & 1 == 1,
    })
}

/// The trace context of an SQS record, if it carries one.
pub fn of_record(record: &SqsMessage) -> Option<TraceParent> {
    record
        .message_attributes
        .get(ATTRIBUTE)
        .and_then(|a| a.string_value.as_deref())
        .and_then(parse)
}

impl TraceParent {
    /// The remote span context this names, for OpenTelemetry.
    pub fn span_context(&self) -> SpanContext {
        SpanContext::new(
            TraceId::from_hex(&self.trace_id).unwrap_or(TraceId::INVALID),
            SpanId::from_hex(&self.parent_id).unwrap_or(SpanId::INVALID),
            if self.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            true,
            TraceState::default(),
        )
    }
}

/// Makes `span` a child of the remote span `parent` (when an OpenTelemetry layer is installed;
/// otherwise only the log fields carry the trace).
pub fn continue_trace(span: &tracing::Span, parent: &TraceParent) {
    let context = opentelemetry::Context::new().with_remote_span_context(parent.span_context());
    // Without an OpenTelemetry layer there is nothing to parent; the fields still log it.
    let _ = span.set_parent(context);
}

/// The span a record is handled in: its message id and, when present, its trace context, as
/// log fields and as the OpenTelemetry parent.
pub fn record_span(record: &SqsMessage) -> tracing::Span {
    let id = record.message_id.as_deref().unwrap_or_default();
    match of_record(record) {
        Some(parent) => {
            let span = tracing::info_span!(
                "record",
                otel.name = "process sqs record",
                otel.kind = "consumer",
                message_id = id,
                trace_id = %parent.trace_id,
                parent_span_id = %parent.parent_id,
                sampled = parent.sampled
            );
            continue_trace(&span, &parent);
            span
        }
        None => tracing::info_span!(
            "record",
            otel.name = "process sqs record",
            otel.kind = "consumer",
            message_id = id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_contexts_parse_and_malformed_ones_do_not() {
        let parsed = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(parsed.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.parent_id, "00f067aa0ba902b7");
        assert!(parsed.sampled);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let mut record = SqsMessage::default();
        assert_eq!(of_record(&record), None);
        let mut attribute = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
        attribute.string_value =
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".into());
        attribute.data_type = Some("String".into());
        record
            .message_attributes
            .insert(ATTRIBUTE.into(), attribute);
        assert!(!of_record(&record).unwrap().sampled);
    }
}

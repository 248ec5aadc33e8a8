//! The time window of an admin report (`?from=&to=`, RFC 3339), validated the same way by
//! every service that reports.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::ApiError;

/// The longest window a report covers.
pub const MAX_WINDOW_DAYS: i64 = 366;

/// `from` (inclusive) to `to` (exclusive).
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// At or after (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[param(value_type = String, format = DateTime)]
    pub from: OffsetDateTime,
    /// Before (RFC 3339); after `from`, at most 366 days later.
    #[serde(with = "time::serde::rfc3339")]
    #[param(value_type = String, format = DateTime)]
    pub to: OffsetDateTime,
}

impl Window {
    /// The window when `to` is after `from` and it spans at most [`MAX_WINDOW_DAYS`]; 422
    /// naming `to` otherwise.
    pub fn validated(self) -> Result<Self, ApiError> {
        if self.to <= self.from {
            return Err(ApiError::invalid_field("to", "must be after `from`"));
        }
        if self.to - self.from > time::Duration::days(MAX_WINDOW_DAYS) {
            return Err(ApiError::invalid_field(
                "to",
                format!("the window may be at most {MAX_WINDOW_DAYS} days"),
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(from: &str, to: &str) -> Window {
        serde_json::from_value(serde_json::json!({"from": from, "to": to})).unwrap()
    }

    #[test]
    fn windows_must_run_forward_and_stay_short() {
        assert!(
            window("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
                .validated()
                .is_ok()
        );
        for (from, to) in [
            ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
            ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            ("2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ] {
            let err = window(from, to).validated().unwrap_err();
            assert!(
                matches!(err, ApiError::Validation(ref f) if f[0].field == "to"),
                "{err:?}"
            );
        }
    }
}

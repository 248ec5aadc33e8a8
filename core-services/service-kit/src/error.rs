//! RFC 9457 problem details: the one error shape every service answers with.
//!
//! Handlers return [`ApiError`]; its [`IntoResponse`] renders an [`Problem`] as
//! `application/problem+json` with `type`, `title`, `status`, `detail`, `instance` (the request
//! path), the request id, and for validation failures one entry per offending field. Server-side
//! failures (5xx) answer an opaque body; their cause chain is logged once, here.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Base of the `type` URIs; the slug names the kind of problem.
pub const PROBLEM_TYPE_BASE: &str = "https://retail-platform.dev/problems/";

/// One invalid input, named by its JSON path or query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path of the offending field, e.g. `price.amount` or `limit`.
    pub field: String,
    /// What is wrong with it, in words a client developer can act on.
    pub message: String,
}

impl FieldError {
    /// A field error for `field` with `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem details document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI identifying the kind of problem.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the kind of problem; the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path this occurrence concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id (also in the `x-request-id` header), for support and log search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// One entry per invalid field (validation problems only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem of kind `slug` with the given status and title, tied to the current request.
    pub fn new(status: StatusCode, slug: &str, title: &str) -> Self {
        let (instance, request_id) = crate::request::current_request().map_or((None, None), |r| {
            (Some(r.path().to_owned()), r.request_id().map(str::to_owned))
        });
        Self {
            type_uri: format!("{PROBLEM_TYPE_BASE}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            instance,
            request_id,
            errors: Vec::new(),
        }
    }

    /// Adds the occurrence-specific explanation.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds field errors.
    #[must_use]
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// Every way a request can fail, shared by all services.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be read (malformed JSON, bad query parameter, bad cursor): 400.
    #[error("bad request: {detail}")]
    BadRequest {
        /// What is wrong.
        detail: String,
        /// The offending fields, if known.
        errors: Vec<FieldError>,
    },
    /// The request is well-formed but its content breaks the rules: 422.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// No such resource (or not visible to the caller): 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with the current state (duplicate key, ...): 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// `If-Match` did not match the current version: 412.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// A conditional header is required and missing: 428.
    #[error("precondition required: {0}")]
    PreconditionRequired(String),
    /// No or invalid credentials: 401.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Authenticated but not allowed: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Body larger than the limit: 413.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// Body of the wrong media type: 415.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// Too many requests; retry after the given number of seconds: 429.
    #[error("too many requests: {detail}")]
    TooManyRequests {
        /// What was limited.
        detail: String,
        /// Seconds until a retry can succeed (`Retry-After`).
        retry_after_seconds: u64,
    },
    /// A dependency is unavailable or the request ran out of time: 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the cause is logged, never shown: 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 400 naming one field.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::BadRequest {
            detail: format!("invalid `{field}`: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// A 422 naming one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Renders the problem document for this error.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        match self {
            Self::BadRequest { detail, errors } => {
                Problem::new(status, "bad-request", "The request could not be read")
                    .with_detail(detail.clone())
                    .with_errors(errors.clone())
            }
            Self::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                Problem::new(status, "validation", "The request has invalid fields")
                    .with_detail(format!("invalid fields: {}", fields.join(", ")))
                    .with_errors(errors.clone())
            }
            Self::NotFound(d) => Problem::new(status, "not-found", "Not found").with_detail(d),
            Self::Conflict(d) => Problem::new(status, "conflict", "Conflict").with_detail(d),
            Self::PreconditionFailed(d) => {
                Problem::new(status, "precondition-failed", "Precondition failed").with_detail(d)
            }
            Self::PreconditionRequired(d) => {
                Problem::new(status, "precondition-required", "Precondition required")
                    .with_detail(d)
            }
            Self::Unauthorized(d) => {
                Problem::new(status, "unauthorized", "Authentication required").with_detail(d)
            }
            Self::Forbidden(d) => Problem::new(status, "forbidden", "Forbidden").with_detail(d),
            Self::PayloadTooLarge(d) => {
                Problem::new(status, "payload-too-large", "Request body too large").with_detail(d)
            }
            Self::UnsupportedMediaType(d) => {
                Problem::new(status, "unsupported-media-type", "Unsupported media type")
                    .with_detail(d)
            }
            Self::TooManyRequests { detail, .. } => {
                Problem::new(status, "too-many-requests", "Too many requests").with_detail(detail)
            }
            Self::Unavailable(d) => {
                Problem::new(status, "unavailable", "Service unavailable").with_detail(d)
            }
            Self::Internal(_) => Problem::new(status, "internal", "Internal server error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut response = self.to_problem().into_response();
        if let Self::TooManyRequests {
            retry_after_seconds,
            ..
        } = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
        }
        response
    }
}

/// Maps database errors: unique violations are conflicts, foreign-key and check violations are
/// invalid input, anything else is internal. Services that know which constraint means which
/// field map those first and fall back to this.
#[cfg(feature = "postgres")]
impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(db) = err.as_database_error() {
            let constraint = db.constraint().unwrap_or("unknown").to_owned();
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    return Self::Conflict(format!(
                        "a resource with the same `{constraint}` exists"
                    ));
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return Self::invalid_field(
                        &constraint,
                        "refers to something that does not exist",
                    );
                }
                sqlx::error::ErrorKind::CheckViolation => {
                    return Self::invalid_field(&constraint, "violates a constraint");
                }
                _ => {}
            }
            // 57014 query_canceled: the statement timeout ended a query that took too long.
            // The request was sound and may succeed later; nothing was changed.
            if db.code().as_deref() == Some("57014") {
                tracing::warn!(error = %db.message(), "a database statement timed out");
                return Self::Unavailable(
                    "the database took too long to answer; try again shortly".into(),
                );
            }
        }
        if matches!(err, sqlx::Error::PoolTimedOut) {
            return Self::Unavailable("the database is not answering".into());
        }
        Self::Internal(anyhow::Error::new(err).context("database error"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problem_lists_every_field_and_uses_problem_json() {
        let err = ApiError::Validation(vec![
            FieldError::new("name", "must not be empty"),
            FieldError::new("price.amount", "must not be negative"),
        ]);
        let problem = err.to_problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors.len(), 2);
        assert_eq!(
            problem.detail.as_deref(),
            Some("invalid fields: name, price.amount")
        );
        let response = err.into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::Internal(anyhow::anyhow!("password=hunter2 connection refused"));
        let json = serde_json::to_string(&err.to_problem()).unwrap();
        assert!(!json.contains("hunter2"));
        assert!(json.contains("\"status\":500"));
    }
}

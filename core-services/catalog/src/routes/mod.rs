//! HTTP routes: the public catalog, the admin API and categories.

pub mod admin;
pub mod categories;
pub mod products;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::AppState;
use crate::cache::{Entry, Lookup};

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let import_limit = state.import.body_limit_bytes;
    Router::new()
        .merge(products::router())
        .merge(categories::router())
        .merge(admin::router(import_limit))
        .with_state(state)
}

/// Header telling which way a public read was served (`hit`, `miss`, `error`): for operators
/// and tests; the counts are in `catalog_cache_lookups_total`.
pub const CACHE_STATUS_HEADER: &str = "x-cache";

/// A cacheable public response: 304 when the client's `If-None-Match` matches, else the body
/// with its `ETag`.
pub fn respond_cached(entry: Entry, request: &HeaderMap, lookup: Lookup) -> Response {
    let status_label = lookup.label();
    let Entry { etag, body } = entry;
    let mut response = if if_none_match(request, etag.to_str().unwrap_or_default()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(Body::from(body));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=30"),
    );
    headers.insert(CACHE_STATUS_HEADER, HeaderValue::from_static(status_label));
    response
}

/// Weak comparison (RFC 9110 13.1.2): `W/"x"` matches `"x"`; `*` matches anything.
fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    fn strip(tag: &str) -> &str {
        tag.trim().trim_start_matches("W/")
    }
    let ours = strip(etag);
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|value| {
            value
                .split(',')
                .any(|candidate| candidate.trim() == "*" || strip(candidate) == ours)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison_and_lists() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"1\", W/\"7\""),
        );
        assert!(if_none_match(&headers, "\"7\""));
        assert!(!if_none_match(&headers, "\"8\""));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&headers, "\"8\""));
    }
}

//! HTTP routes: the public catalog, the admin API and categories.

pub mod admin;
pub mod categories;
pub mod products;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use service_kit::http::if_none_match;

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

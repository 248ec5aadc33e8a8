//! HTTP bootstrap: the middleware stack, the operational endpoints and the server.
//!
//! A request passes, outermost first: request id (kept from `x-request-id` or made, echoed on
//! the response) -> observe (trace span named by the matched route, parent taken from the W3C
//! `traceparent`, RED metrics, one access log line) -> timeout (503 problem) -> panic catcher
//! (500 problem) -> body limit -> the service's handler. Unknown routes and methods answer
//! problem+json too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, Method, StatusCode, header};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::HttpSettings;
use crate::error::ApiError;
use crate::health::Readiness;
use crate::metrics::Metrics;

/// Header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the error renderer needs to know about the request being served.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The request path, used as the problem's `instance`.
    pub path: String,
    /// The request id, if the request had or was given one.
    pub request_id: Option<String>,
}

tokio::task_local! {
    static REQUEST: RequestInfo;
}

/// The client's address as the nearest trusted hop saw it, for throttles and audit.
///
/// Each proxy in front appends the address it saw to `X-Forwarded-For`, so only entries
/// counted from the right are trustworthy; what is left of them came from the client. With
/// `trusted_hops` proxies in front (1 behind the ALB; 1 for a service behind the gateway), the
/// client is the `trusted_hops`-th entry from the right. With 0, without the header, or when that
/// entry is not an address, it is the TCP peer. A header shorter than `trusted_hops` yields its
/// leftmost entry, the one the outermost proxy present wrote.
pub fn client_address(
    headers: &http::HeaderMap,
    peer: std::net::IpAddr,
    trusted_hops: usize,
) -> std::net::IpAddr {
    if trusted_hops == 0 {
        return peer;
    }
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        entries.extend(text.split(',').map(str::trim));
    }
    let Some(entry) = entries
        .len()
        .checked_sub(trusted_hops)
        .map_or(entries.first(), |at| entries.get(at))
    else {
        return peer;
    };
    entry
        .parse::<std::net::IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .unwrap_or(peer)
}

/// The request being served by the current task, if any.
pub fn current_request() -> Option<RequestInfo> {
    REQUEST.try_with(Clone::clone).ok()
}

/// A service's routes plus everything every service has.
#[derive(Debug)]
pub struct ServiceApp {
    metrics: Metrics,
    settings: HttpSettings,
    routes: Router,
    readiness: Readiness,
    openapi: String,
}

#[derive(Clone)]
struct OpsState {
    metrics: Metrics,
    readiness: Readiness,
    openapi: Arc<String>,
}

impl ServiceApp {
    /// Starts an app with no routes, no dependency checks and an empty API document.
    pub fn new(metrics: Metrics, settings: HttpSettings) -> Self {
        let title = metrics.service();
        Self {
            metrics,
            settings,
            routes: Router::new(),
            readiness: Readiness::new(Duration::from_secs(1)),
            openapi: format!(
                r#"{{"openapi":"3.1.0","info":{{"title":"{title}","version":"{}"}},"paths":{{}}}}"#,
                env!("CARGO_PKG_VERSION")
            ),
        }
    }

    /// The service's own routes.
    #[must_use]
    pub fn routes(mut self, routes: Router) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }

    /// The dependency checks behind `/readyz`.
    #[must_use]
    pub fn readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// The document served at `/openapi.json`, completed with the answers and rules the
    /// shared stack adds to every operation ([`crate::openapi::complete`]).
    #[must_use]
    pub fn openapi(mut self, openapi: &utoipa::openapi::OpenApi) -> Self {
        let completed = serde_json::to_value(openapi).and_then(|mut doc| {
            crate::openapi::complete(&mut doc);
            serde_json::to_string(&doc)
        });
        match completed {
            Ok(json) => self.openapi = json,
            Err(err) => tracing::error!(error = %err, "cannot serialize the OpenAPI document"),
        }
        self
    }

    /// The complete router with the middleware stack.
    pub fn into_router(self) -> Router {
        let ops = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/openapi.json", get(openapi_json))
            .with_state(OpsState {
                metrics: self.metrics.clone(),
                readiness: self.readiness,
                openapi: Arc::new(self.openapi),
            });
        let timeout = self.settings.request_timeout();
        self.routes
            .merge(ops)
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(self.settings.body_limit_bytes))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(middleware::from_fn_with_state(timeout, enforce_timeout))
            // Shared, not cloned: the middleware's state is cloned for every request.
            .layer(middleware::from_fn_with_state(
                Arc::new(self.metrics),
                observe,
            ))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    }

    /// Binds the listener (port 0 picks a free port).
    pub async fn bind(self) -> std::io::Result<Server> {
        let listener = TcpListener::bind((self.settings.host.as_str(), self.settings.port)).await?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            addr,
            router: self.into_router(),
        })
    }
}

/// A bound, not yet serving, HTTP server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
}

impl Server {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then stops accepting and drains in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.addr, "listening");
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "alive" }))
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let report = state.readiness.report().await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn openapi_json(State(state): State<OpsState>) -> Response {
    let mut response = state.openapi.as_str().to_owned().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no resource at this path".into())
}

async fn method_not_allowed() -> Response {
    crate::error::Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
    )
    .with_detail("this resource does not support the request method")
    .into_response()
}

#[allow(clippy::needless_pass_by_value)] // the signature tower-http's CatchPanicLayer requires
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

/// The request's first checks, in one middleware to keep the hot path short: a path or query
/// holding a control character is refused ([`crate::text`]), and the handler gets `limit` to
/// answer.
async fn enforce_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    if let Err(err) = crate::text::check_target(req.uri().path(), req.uri().query()) {
        return err.into_response();
    }
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "the request did not complete within {} ms",
            limit.as_millis()
        ))
        .into_response(),
    }
}

/// Bounded method label: the standard methods by name, anything else as `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

async fn observe(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let span = tracing::info_span!(
        "http_request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = request_id.as_deref().unwrap_or_default(),
    );
    // Continue the caller's trace when it sent a valid `traceparent`.
    if let Err(err) = span.set_parent(crate::telemetry::extract_context(req.headers())) {
        tracing::debug!(error = ?err, "could not attach the remote trace context");
    }
    let info = RequestInfo {
        path: req.uri().path().to_owned(),
        request_id,
    };
    let response = REQUEST
        .scope(info, next.run(req))
        .instrument(span.clone())
        .await;

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.observe_request(method, route, status, elapsed.as_secs_f64());
    span.record("http.response.status_code", status);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(method, route, status, latency_ms, "request completed");
        } else if status >= 400 || crate::telemetry::access_log_sampled() {
            tracing::info!(method, route, status, latency_ms, "request completed");
        } else {
            tracing::debug!(method, route, status, latency_ms, "request completed");
        }
    });
    response
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use std::net::IpAddr;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for value in values {
            map.append(
                "x-forwarded-for",
                http::HeaderValue::from_str(value).expect("header"),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn the_client_address_is_what_the_nearest_trusted_hop_saw() {
        let peer = ip("10.0.0.9");
        // The client wrote 6.6.6.6 itself; the ALB appended what it saw.
        let spoofed = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(client_address(&spoofed, peer, 1), ip("203.0.113.7"));
        // Behind the gateway too (ALB, then gateway): still what the ALB saw.
        let two = headers(&["6.6.6.6, 203.0.113.7", "198.51.100.2"]);
        assert_eq!(client_address(&two, peer, 1), ip("198.51.100.2"));
        assert_eq!(client_address(&two, peer, 2), ip("203.0.113.7"));
        // Nothing trusted: the peer, whatever the header says.
        assert_eq!(client_address(&spoofed, peer, 0), peer);
        // No header, junk, a short header.
        assert_eq!(client_address(&headers(&[]), peer, 1), peer);
        assert_eq!(client_address(&headers(&["not-an-ip"]), peer, 1), peer);
        assert_eq!(
            client_address(&headers(&["203.0.113.7"]), peer, 3),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(&headers(&["1.1.1.1, [2001:db8::1]:443"]), peer, 1),
            ip("2001:db8::1")
        );
    }
}

//! HTTP bootstrap: the middleware stack, the operational endpoints and the server.
//!
//! Every request passes one layer ([`Edge`]) before the body limit and the service's handler. In
//! order: request id (kept from `x-request-id` or made, echoed on the response), the rule for
//! control characters in the path and query (400 problem), a trace span named by the matched
//! route (parent taken from the W3C `traceparent`), a time limit (503 problem), a panic catcher
//! (500 problem), then RED metrics and the access log line. One layer rather than one per
//! concern: each layer costs every request a clone of the stack below it and a boxed future
//! (measured with `perf` on cached reads). Unknown routes and methods answer problem+json too.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tokio::net::TcpListener;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::HttpSettings;
use crate::error::ApiError;
use crate::health::Readiness;
use crate::metrics::Metrics;
use crate::request::{REQUEST_ID_HEADER, RequestInfo};

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
        let edge = Edge {
            shared: Arc::new(EdgeShared {
                metrics: self.metrics,
                timeout: self.settings.request_timeout(),
            }),
        };
        self.routes
            .merge(ops)
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(self.settings.body_limit_bytes))
            .layer(edge)
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

fn panic_response(panic: &(dyn std::any::Any + Send + 'static)) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

fn timed_out(limit: Duration) -> Response {
    ApiError::Unavailable(format!(
        "the request did not complete within {} ms",
        limit.as_millis()
    ))
    .into_response()
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

/// What [`Edge`] needs, shared by every route's copy of it.
struct EdgeShared {
    metrics: Metrics,
    timeout: Duration,
}

/// The per-request work every service does, as one tower layer (see the module's doc).
#[derive(Clone)]
struct Edge {
    shared: Arc<EdgeShared>,
}

impl<S> tower::Layer<S> for Edge {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EdgeService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// [`Edge`] around one route.
#[derive(Clone)]
struct EdgeService<S> {
    inner: S,
    shared: Arc<EdgeShared>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

impl<S> tower::Service<Request> for EdgeService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = match req.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                    .unwrap_or_else(|_| HeaderValue::from_static("-"));
                req.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let method = method_label(req.method());
        let matched = req.extensions().get::<MatchedPath>().cloned();
        let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
        macro_rules! request_span {
            ($($target:tt)*) => {
                tracing::info_span!(
                    $($target)*
                    "http_request",
                    otel.name = %format_args!("{method} {route}"),
                    otel.kind = "server",
                    http.request.method = method,
                    http.route = %route,
                    http.response.status_code = tracing::field::Empty,
                    request_id = request_id.to_str().unwrap_or_default(),
                )
            };
        }
        let remote = req.headers().contains_key("traceparent");
        let span = if remote || crate::telemetry::new_traces_recorded() {
            request_span!()
        } else {
            // No trace can record this request: the OpenTelemetry layer never sees its span.
            request_span!(target: crate::telemetry::UNTRACED,)
        };
        // Continue the caller's trace when it sent a `traceparent` (and skip the propagator
        // when it did not).
        if remote
            && let Err(err) = span.set_parent(crate::telemetry::extract_context(req.headers()))
        {
            tracing::debug!(error = ?err, "could not attach the remote trace context");
        }
        let info = RequestInfo {
            uri: req.uri().clone(),
            request_id: request_id.clone(),
        };
        // Route services are always ready, so the handler's future is made here, not after
        // cloning the service into the future.
        let call = crate::text::check_target(req.uri().path(), req.uri().query())
            .map(|()| std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req))));
        let shared = self.shared.clone();
        let work = async move {
            let limit = shared.timeout;
            let mut response = match call {
                Err(refused) => refused.into_response(),
                Ok(Err(panic)) => panic_response(&*panic),
                Ok(Ok(future)) => {
                    match tokio::time::timeout(limit, AssertUnwindSafe(future).catch_unwind()).await
                    {
                        Ok(Ok(Ok(response))) => response,
                        Ok(Ok(Err(never))) => match never {},
                        Ok(Err(panic)) => panic_response(&*panic),
                        Err(_) => timed_out(limit),
                    }
                }
            };
            // Still in the request's span and scope, so the access line is tied to both.
            let status = response.status().as_u16();
            let elapsed = started.elapsed();
            let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
            shared
                .metrics
                .observe_request(method, route, status, elapsed.as_secs_f64());
            tracing::Span::current().record("http.response.status_code", status);
            let latency_ms = elapsed.as_secs_f64() * 1000.0;
            if status >= 500 {
                tracing::error!(method, route, status, latency_ms, "request completed");
            } else if status >= 400 || crate::telemetry::access_log_sampled() {
                tracing::info!(method, route, status, latency_ms, "request completed");
            } else {
                tracing::debug!(method, route, status, latency_ms, "request completed");
            }
            response
                .headers_mut()
                .entry(REQUEST_ID)
                .or_insert(request_id);
            Ok(response)
        };
        Box::pin(crate::request::scope(info, work).instrument(span))
    }
}

/// Whether `request`'s `If-None-Match` matches `etag`, by weak comparison (RFC 9110
/// 13.1.2): `W/"x"` matches `"x"`; `*` matches anything; several headers and comma-separated
/// lists are each looked at.
pub fn if_none_match(request: &http::HeaderMap, etag: &str) -> bool {
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
    use super::{client_address, if_none_match};
    use std::net::IpAddr;

    #[test]
    fn if_none_match_uses_weak_comparison_and_lists() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::IF_NONE_MATCH,
            http::HeaderValue::from_static("\"1\", W/\"7\""),
        );
        assert!(if_none_match(&headers, "\"7\""));
        assert!(!if_none_match(&headers, "\"8\""));
        headers.insert(
            http::header::IF_NONE_MATCH,
            http::HeaderValue::from_static("*"),
        );
        assert!(if_none_match(&headers, "\"8\""));
    }

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

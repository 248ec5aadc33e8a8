//! Forwarding to upstreams: pooled HTTP/1.1 connections, a time limit per upstream, one retry
//! for idempotent body-less requests, a circuit breaker, and problem answers for every way an
//! upstream can fail (502, 503, 504).
//!
//! A request body is read whole from the client before any upstream is called (as a buffering
//! reverse proxy does), within the body limit (413) and `client_body_timeout` (408). So a
//! client that sends its body slowly, or goes away halfway, costs only its own request: no
//! upstream waits on it, and nothing the client does counts against an upstream's circuit
//! breaker. Responses stream back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::Limited;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prometheus::IntCounterVec;
use service_kit::ApiError;
use service_kit::identity::{Identity, ROLES_HEADER, SUBJECT_HEADER};

use crate::breaker::{CircuitBreaker, Permit};
use crate::config::{BreakerSettings, UpstreamSettings};

/// Headers that describe one connection, never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Where an upstream lives.
#[derive(Debug)]
enum Target {
    /// An HTTP service.
    Http(Uri),
    /// A Lambda function (name, optionally `:alias`).
    Lambda(String),
}

/// One upstream.
#[derive(Debug)]
pub struct Upstream {
    name: String,
    target: Target,
    timeout: Duration,
    breaker: CircuitBreaker,
}

/// All upstreams and the shared connection pool.
#[derive(Debug, Clone)]
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    lambda: Option<aws_sdk_lambda::Client>,
    upstreams: Arc<HashMap<String, Upstream>>,
    outcomes: IntCounterVec,
    body_limit: usize,
    client_body_timeout: Duration,
}

/// What a forwarded request ended as (metric label).
fn outcome_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=399 => "ok",
        400..=499 => "client_error",
        502..=504 => "unavailable",
        _ => "server_error",
    }
}

impl Proxy {
    /// Builds the pool and the upstream table; `lambda` is required when an upstream is a
    /// function.
    pub fn new(
        upstreams: &HashMap<String, UpstreamSettings>,
        breaker: &BreakerSettings,
        outcomes: IntCounterVec,
        body_limit: usize,
        client_body_timeout: Duration,
        lambda: Option<aws_sdk_lambda::Client>,
    ) -> anyhow::Result<Self> {
        let mut table = HashMap::new();
        for (name, settings) in upstreams {
            let target = match crate::lambda::function_of(&settings.url) {
                Some(function) if lambda.is_some() => Target::Lambda(function.to_owned()),
                Some(_) => anyhow::bail!(
                    "upstream {name} is a Lambda function but no AWS client was set up"
                ),
                None => {
                    let base: Uri = settings.url.trim_end_matches('/').parse()?;
                    if base.scheme_str() != Some("http") || base.authority().is_none() {
                        anyhow::bail!(
                            "upstream {name}: `{}` must be an http:// URL or lambda:<function>",
                            settings.url
                        );
                    }
                    Target::Http(base)
                }
            };
            table.insert(
                name.clone(),
                Upstream {
                    name: name.clone(),
                    target,
                    timeout: Duration::from_millis(settings.timeout_ms),
                    breaker: CircuitBreaker::new(
                        breaker.failure_threshold,
                        Duration::from_millis(breaker.open_ms),
                    ),
                },
            );
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Self {
            client,
            lambda,
            upstreams: Arc::new(table),
            outcomes,
            body_limit,
            client_body_timeout,
        })
    }

    /// Names of the configured upstreams.
    pub fn names(&self) -> Vec<&str> {
        self.upstreams.keys().map(String::as_str).collect()
    }

    /// The base URL of an HTTP upstream.
    pub fn base(&self, name: &str) -> Option<String> {
        match &self.upstreams.get(name)?.target {
            Target::Http(base) => Some(base.to_string().trim_end_matches('/').to_owned()),
            Target::Lambda(_) => None,
        }
    }

    /// Forwards `request` to `path_and_query` on upstream `name`, as `identity`.
    pub async fn forward(
        &self,
        name: &str,
        path_and_query: &str,
        request: Request<Body>,
        identity: Option<&Identity>,
        client_ip: &str,
    ) -> Response {
        let Some(upstream) = self.upstreams.get(name) else {
            return ApiError::Internal(anyhow::anyhow!("route names unknown upstream {name}"))
                .into_response();
        };
        let (parts, body) = request.into_parts();
        if parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|length| length > self.body_limit)
        {
            return ApiError::PayloadTooLarge("the request body exceeds the size limit".into())
                .into_response();
        }
        // Only requests without a body can be sent twice.
        let bodyless = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
            && parts
                .headers
                .get(header::CONTENT_LENGTH)
                .is_none_or(|v| v == "0")
            && parts.headers.get(header::TRANSFER_ENCODING).is_none();
        let bytes = if bodyless {
            Bytes::new()
        } else {
            match self.read_client_body(&upstream.name, body).await {
                Ok(bytes) => bytes,
                Err(response) => return response,
            }
        };
        let base = match &upstream.target {
            Target::Http(base) => base,
            Target::Lambda(function) => {
                return self
                    .invoke(
                        upstream,
                        function,
                        path_and_query,
                        parts,
                        bytes,
                        identity,
                        client_ip,
                    )
                    .await;
            }
        };
        let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
        let Ok(uri) = Uri::builder()
            .scheme("http")
            .authority(authority)
            .path_and_query(path_and_query)
            .build()
        else {
            return ApiError::bad_field("path", "cannot be forwarded").into_response();
        };
        let headers = upstream_headers(&parts.headers, identity, client_ip);
        let attempts = if bodyless { 2 } else { 1 };
        let mut last = None;
        for attempt in 0..attempts {
            let permit = upstream.breaker.permit();
            if let Permit::Refused(retry_after) = permit {
                self.outcomes
                    .with_label_values(&[&upstream.name, "circuit_open"])
                    .inc();
                return circuit_open(&upstream.name, retry_after);
            }
            let this_body = if bodyless {
                Body::empty()
            } else {
                Body::from(bytes.clone())
            };
            let mut outgoing = Request::builder()
                .method(parts.method.clone())
                .uri(uri.clone());
            if let Some(h) = outgoing.headers_mut() {
                h.extend(headers.clone());
            }
            let Ok(outgoing) = outgoing.body(this_body) else {
                return ApiError::Internal(anyhow::anyhow!("cannot build the upstream request"))
                    .into_response();
            };
            let response = match tokio::time::timeout(
                upstream.timeout,
                self.client.request(outgoing),
            )
            .await
            {
                Err(_) => {
                    upstream.breaker.failure();
                    self.outcomes
                        .with_label_values(&[&upstream.name, "timeout"])
                        .inc();
                    return gateway_problem(
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream-timeout",
                        "Upstream timed out",
                        &format!(
                            "{} did not answer within {} ms",
                            upstream.name,
                            upstream.timeout.as_millis()
                        ),
                    );
                }
                Ok(Err(err)) if err.is_connect() => {
                    upstream.breaker.failure();
                    tracing::warn!(upstream = %upstream.name, error = %err, attempt, "upstream unreachable");
                    last = Some(gateway_problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "upstream-unavailable",
                        "Upstream unavailable",
                        &format!("{} is not reachable", upstream.name),
                    ));
                    if attempt + 1 < attempts {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
                Ok(Err(err)) => {
                    upstream.breaker.failure();
                    tracing::warn!(upstream = %upstream.name, error = %err, "bad upstream answer");
                    self.outcomes
                        .with_label_values(&[&upstream.name, "bad_gateway"])
                        .inc();
                    return gateway_problem(
                        StatusCode::BAD_GATEWAY,
                        "bad-gateway",
                        "Bad gateway",
                        &format!("{} gave no valid answer", upstream.name),
                    );
                }
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            if matches!(status.as_u16(), 502..=504) {
                upstream.breaker.failure();
                if attempt + 1 < attempts {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            } else {
                upstream.breaker.success();
            }
            self.outcomes
                .with_label_values(&[&upstream.name, outcome_label(status)])
                .inc();
            let (mut parts, incoming) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            return Response::from_parts(parts, Body::new(incoming));
        }
        self.outcomes
            .with_label_values(&[&upstream.name, "unavailable"])
            .inc();
        last.unwrap_or_else(|| {
            gateway_problem(
                StatusCode::BAD_GATEWAY,
                "bad-gateway",
                "Bad gateway",
                "no answer from the upstream",
            )
        })
    }
}

impl Proxy {
    /// Reads the client's whole body, within the body limit and the client body timeout. A
    /// failure is the client's: it is answered here (408, 413 or 400), counted under the
    /// upstream's `client_timeout`/`client_aborted` outcomes, and never touches the breaker.
    async fn read_client_body(&self, upstream: &str, body: Body) -> Result<Bytes, Response> {
        let read = http_body_util::BodyExt::collect(Limited::new(body, self.body_limit));
        let failure = match tokio::time::timeout(self.client_body_timeout, read).await {
            Ok(Ok(collected)) => return Ok(collected.to_bytes()),
            Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
                return Err(ApiError::PayloadTooLarge(
                    "the request body exceeds the size limit".into(),
                )
                .into_response());
            }
            Ok(Err(err)) => {
                tracing::info!(upstream, error = %err, "the client's body ended early");
                (
                    "client_aborted",
                    ApiError::BadRequest {
                        detail: "the request body ended before its announced length".into(),
                        errors: Vec::new(),
                    }
                    .into_response(),
                )
            }
            Err(_) => ("client_timeout", client_timeout(self.client_body_timeout)),
        };
        self.outcomes
            .with_label_values(&[upstream, failure.0])
            .inc();
        Err(failure.1)
    }

    /// Invokes a function upstream with the request as an HTTP API event.
    #[allow(clippy::too_many_arguments)]
    async fn invoke(
        &self,
        upstream: &Upstream,
        function: &str,
        path_and_query: &str,
        parts: http::request::Parts,
        bytes: Bytes,
        identity: Option<&Identity>,
        client_ip: &str,
    ) -> Response {
        let Some(client) = &self.lambda else {
            return ApiError::Internal(anyhow::anyhow!("no Lambda client")).into_response();
        };
        let headers = upstream_headers(&parts.headers, identity, client_ip);
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let payload = crate::lambda::event(
            &parts.method,
            path_and_query,
            &headers,
            &bytes,
            client_ip,
            request_id,
        );
        if let Permit::Refused(retry_after) = upstream.breaker.permit() {
            self.outcomes
                .with_label_values(&[&upstream.name, "circuit_open"])
                .inc();
            return circuit_open(&upstream.name, retry_after);
        }
        let call = client
            .invoke()
            .function_name(function)
            .payload(aws_sdk_lambda::primitives::Blob::new(
                serde_json::to_vec(&payload).unwrap_or_default(),
            ))
            .send();
        let answer = match tokio::time::timeout(upstream.timeout, call).await {
            Err(_) => {
                upstream.breaker.failure();
                self.outcomes
                    .with_label_values(&[&upstream.name, "timeout"])
                    .inc();
                return gateway_problem(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream-timeout",
                    "Upstream timed out",
                    &format!(
                        "{} did not answer within {} ms",
                        upstream.name,
                        upstream.timeout.as_millis()
                    ),
                );
            }
            Ok(Err(err)) => {
                upstream.breaker.failure();
                tracing::warn!(upstream = %upstream.name, error = %aws_sdk_lambda::error::DisplayErrorContext(&err), "function invocation failed");
                self.outcomes
                    .with_label_values(&[&upstream.name, "unavailable"])
                    .inc();
                return gateway_problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream-unavailable",
                    "Upstream unavailable",
                    &format!("{} could not be invoked", upstream.name),
                );
            }
            Ok(Ok(output)) => output,
        };
        let converted = match answer.function_error() {
            Some(kind) => Err(format!("the function failed ({kind})")),
            None => crate::lambda::response(
                answer
                    .payload()
                    .map(aws_sdk_lambda::primitives::Blob::as_ref)
                    .unwrap_or_default(),
            ),
        };
        match converted {
            Ok(response) => {
                let status = response.status();
                if matches!(status.as_u16(), 502..=504) {
                    upstream.breaker.failure();
                } else {
                    upstream.breaker.success();
                }
                self.outcomes
                    .with_label_values(&[&upstream.name, outcome_label(status)])
                    .inc();
                response
            }
            Err(reason) => {
                upstream.breaker.failure();
                tracing::warn!(upstream = %upstream.name, reason, "bad function answer");
                self.outcomes
                    .with_label_values(&[&upstream.name, "bad_gateway"])
                    .inc();
                gateway_problem(
                    StatusCode::BAD_GATEWAY,
                    "bad-gateway",
                    "Bad gateway",
                    &format!("{} gave no valid answer", upstream.name),
                )
            }
        }
    }
}

fn circuit_open(upstream: &str, retry_after: u64) -> Response {
    let mut response = gateway_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "circuit-open",
        "Upstream unavailable",
        &format!("{upstream} is failing; calls are paused"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
    response
}

/// 408 for a client that did not send its body in time; the connection is closed after it
/// (RFC 9110 15.5.9), since the rest of that body may still arrive.
fn client_timeout(limit: Duration) -> Response {
    let mut response = gateway_problem(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        "Request timeout",
        &format!(
            "the request body did not arrive within {} ms",
            limit.as_millis()
        ),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn gateway_problem(status: StatusCode, slug: &str, title: &str, detail: &str) -> Response {
    service_kit::Problem::new(status, slug, title)
        .with_detail(detail)
        .into_response()
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// The headers an upstream sees: the client's, minus hop-by-hop, `Host` and anything claiming
/// an identity; plus the verified identity, the forwarding chain and the trace context.
pub fn upstream_headers(
    incoming: &HeaderMap,
    identity: Option<&Identity>,
    client_ip: &str,
) -> HeaderMap {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.remove(header::AUTHORIZATION);
    let claimed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-auth-"))
        .cloned()
        .collect();
    for name in claimed {
        headers.remove(name);
    }
    if let Some(identity) = identity {
        if let Ok(subject) = HeaderValue::from_str(&identity.subject) {
            headers.insert(SUBJECT_HEADER, subject);
        }
        if let Ok(roles) = HeaderValue::from_str(&identity.roles.join(",")) {
            headers.insert(ROLES_HEADER, roles);
        }
    }
    let forwarded = match incoming
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(chain) => format!("{chain}, {client_ip}"),
        None => client_ip.to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert("x-forwarded-for", value);
    }
    // Continue the trace from the gateway's own span when tracing is on; otherwise pass the
    // caller's context through unchanged.
    let mut own = HeaderMap::new();
    service_kit::telemetry::inject_current(&mut own);
    if let Some(traceparent) = own.remove("traceparent") {
        headers.insert("traceparent", traceparent);
        match own.remove("tracestate") {
            Some(state) => headers.insert("tracestate", state),
            None => headers.remove("tracestate"),
        };
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_identity_headers_and_hop_by_hop_headers_never_pass() {
        let mut incoming = HeaderMap::new();
        incoming.insert("x-auth-subject", HeaderValue::from_static("forged"));
        incoming.insert("x-auth-roles", HeaderValue::from_static("admin"));
        incoming.insert("x-auth-anything", HeaderValue::from_static("x"));
        incoming.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        incoming.insert("x-secret", HeaderValue::from_static("1"));
        incoming.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        incoming.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let anonymous = upstream_headers(&incoming, None, "10.0.0.1");
        assert!(anonymous.keys().all(|k| !k.as_str().starts_with("x-auth-")));
        assert!(anonymous.get("x-secret").is_none() && anonymous.get(header::CONNECTION).is_none());
        assert!(anonymous.get(header::AUTHORIZATION).is_none());
        assert_eq!(anonymous["x-forwarded-for"], "10.0.0.1");
        assert_eq!(anonymous[header::ACCEPT], "application/json");

        let identity = Identity {
            subject: "u-1".into(),
            roles: vec!["shopper".into()],
        };
        let signed_in = upstream_headers(&incoming, Some(&identity), "10.0.0.1");
        assert_eq!(signed_in[SUBJECT_HEADER], "u-1");
        assert_eq!(signed_in[ROLES_HEADER], "shopper");
    }
}

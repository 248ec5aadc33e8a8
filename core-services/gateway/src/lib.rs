//! # gateway
//!
//! The platform's only public listener. For every request: match the route table (public path
//! prefix -> upstream path), authenticate a bearer token against the users service's JWK Set
//! and its session, enforce the route's access level (public, shopper, admin), apply the rate
//! limit of the caller's class, strip client-sent `x-auth-*` headers, set the verified identity,
//! and stream the request to the upstream with a timeout, a circuit breaker and bounded
//! retries. Also serves the merged OpenAPI document at `/api/v1/openapi.json`.
//!
//! Run with `cargo xtask up` (port 8080).

pub mod admin_ui;
pub mod auth;
pub mod breaker;
pub mod cache;
pub mod config;
pub mod lambda;
pub mod openapi;
pub mod proxy;
pub mod ratelimit;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{HeaderValue, header};
use prometheus::{IntCounterVec, Opts};
use service_kit::ApiError;
use service_kit::health::Readiness;
use service_kit::http::{Server, ServiceApp};
use service_kit::identity::{Identity, ROLE_ADMIN};
use service_kit::metrics::Metrics;
use service_kit::redis::RedisClient;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::Authenticator;
use crate::cache::ResponseCache;
use crate::config::{RateLimitSettings, SERVICE, Settings};
use crate::proxy::Proxy;
use crate::ratelimit::{LocalLimiter, RateLimiter};
use crate::routes::{Access, RateClass, Route};

/// What every request shares.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// Token and session verification.
    pub auth: Arc<Authenticator>,
    /// Rate limits kept in Redis (auth, checkout).
    pub limiter: RateLimiter,
    /// The anonymous rate limit (per client address, [`ratelimit::client_of`]), kept in this
    /// process.
    pub anonymous: LocalLimiter<std::net::IpAddr>,
    /// The signed-in rate limit (per subject), kept in this process.
    pub authenticated: LocalLimiter,
    /// Answers to public GETs, when enabled.
    pub cache: Option<ResponseCache>,
    /// Quotas.
    pub quotas: RateLimitSettings,
    /// Upstreams.
    pub proxy: Proxy,
    /// Route table.
    pub routes: Arc<Vec<Route>>,
    /// Proxies in front of the gateway that append to `X-Forwarded-For` (the ALB: 1).
    pub trusted_proxy_hops: usize,
    /// The merged API document, built at most once a minute.
    pub openapi: Arc<openapi::DocumentCache>,
}

/// The gateway, bound and ready to serve.
#[derive(Debug)]
pub struct Application {
    server: Server,
}

impl Application {
    /// Wires routes, middleware and clients and binds the listener. Function upstreams are
    /// invoked with the default AWS chain (IRSA in EKS; `AWS_ENDPOINT_URL_LAMBDA` locally).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let aws = if settings
            .upstreams
            .values()
            .any(|u| lambda::function_of(&u.url).is_some())
        {
            Some(
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await,
            )
        } else {
            None
        };
        Self::build_with(settings, aws.as_ref()).await
    }

    /// As [`Application::build`], with the AWS configuration for function upstreams given.
    pub async fn build_with(
        settings: Settings,
        aws: Option<&aws_config::SdkConfig>,
    ) -> anyhow::Result<Self> {
        let metrics = Metrics::new(SERVICE)?;
        let redis = RedisClient::new(&settings.redis)?;
        let redis_failures = metrics.register(IntCounterVec::new(
            Opts::new(
                "gateway_redis_failures_total",
                "Redis calls that failed; the gateway failed open (rate_limit, session).",
            ),
            &["purpose"],
        )?)?;
        // Exported from the start (0), so dashboards and alerts see the series before a failure.
        for purpose in ["session", "rate_limit"] {
            redis_failures.with_label_values(&[purpose]);
        }
        let decisions = metrics.register(IntCounterVec::new(
            Opts::new(
                "gateway_rate_limit_decisions_total",
                "Rate-limit decisions by policy and outcome.",
            ),
            &["policy", "decision"],
        )?)?;
        let outcomes = metrics.register(IntCounterVec::new(
            Opts::new(
                "gateway_upstream_requests_total",
                "Forwarded requests by upstream and outcome.",
            ),
            &["upstream", "outcome"],
        )?)?;
        let cache_lookups = metrics.register(IntCounterVec::new(
            Opts::new(
                "gateway_response_cache_total",
                "Response cache outcomes: hit (200 served), revalidated (304 served), miss, stored, bypass (signed-in or not cacheable).",
            ),
            &["result"],
        )?)?;
        let cache = settings.response_cache.enabled.then(|| {
            ResponseCache::new(
                settings.response_cache.max_bytes,
                settings.response_cache.max_entry_bytes,
                &cache_lookups,
            )
        });
        if let Some(cache) = &cache {
            // Catalog's writes made anywhere empty the cache (see `cache.rs`).
            let cache = cache.clone();
            redis
                .follow(
                    settings.response_cache.invalidation_channel.clone(),
                    move || cache.clear(),
                )
                .await;
        }
        let share = |quota| ratelimit::share(quota, settings.rate_limits.replicas);
        let anonymous = LocalLimiter::new(
            "anonymous",
            share(settings.rate_limits.anonymous),
            settings.rate_limits.max_tracked_clients,
            &decisions,
        );
        let authenticated = LocalLimiter::new(
            "authenticated",
            share(settings.rate_limits.authenticated),
            settings.rate_limits.max_tracked_clients,
            &decisions,
        );
        let lambda = aws.map(aws_sdk_lambda::Client::new);
        let proxy = Proxy::new(
            &settings.upstreams,
            &settings.breaker,
            outcomes,
            settings.http.body_limit_bytes,
            Duration::from_millis(settings.client_body_timeout_ms),
            lambda,
        )?;
        let routes = routes::parse(&settings.routes_json, &proxy.names())?;
        let auth_checks = metrics.register(IntCounterVec::new(
            Opts::new(
                "gateway_auth_checks_total",
                "Token signature verifications and session look-ups in Redis actually made (those answered from memory are not counted).",
            ),
            &["check"],
        )?)?;
        let gateway = Gateway {
            auth: Arc::new(Authenticator::new(
                settings.auth.clone(),
                redis.clone(),
                redis_failures.clone(),
                auth_checks,
            )?),
            limiter: RateLimiter::new(redis.clone(), redis_failures, decisions),
            anonymous,
            authenticated,
            cache,
            quotas: settings.rate_limits.clone(),
            proxy,
            routes: Arc::new(routes),
            trusted_proxy_hops: settings.trusted_proxy_hops,
            openapi: Arc::default(),
        };
        let router = router(&gateway)
            .merge(admin_ui::router(settings.admin_ui_dir.clone().into()))
            .layer(CorsWhenAsked(cors(&settings.cors.allowed_origins)));
        let readiness =
            Readiness::new(Duration::from_secs(1)).with_check("redis", false, move || {
                let redis = redis.clone();
                async move { redis.ping().await }
            });
        let server = ServiceApp::new(metrics, settings.http.clone())
            .routes(router)
            .readiness(readiness)
            .bind()
            .await?;
        Ok(Self { server })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.server.run_until_stopped(shutdown).await
    }
}

fn cors(origins: &str) -> CorsLayer {
    let origins: Arc<[HeaderValue]> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .filter_map(|o| o.parse().ok())
        .collect();
    // A predicate over a shared list rather than `AllowOrigin::list`: the layer is cloned for
    // every request, and a list is cloned with it (a Vec and a reference count per origin).
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origins.iter().any(|allowed| allowed == origin)
        }))
        .allow_methods([
            http::Method::GET,
            http::Method::POST,
            http::Method::PUT,
            http::Method::PATCH,
            http::Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            http::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            http::HeaderName::from_static("ratelimit"),
            http::HeaderName::from_static("ratelimit-policy"),
            http::HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(600))
}

/// The `Vary` tower-http's CORS layer sets with this configuration (the allowed origin depends
/// on the request's; the allowed methods and headers are fixed).
const CORS_VARY: HeaderValue = HeaderValue::from_static("origin");

/// CORS for the requests that take part in it (those with an `Origin`), by tower-http's layer.
/// That layer builds its headers for every request, asked or not (a header map, the `Vary` list
/// joined anew, the exposed headers): most requests to an API have no `Origin` (apps, servers,
/// the load generator), so they skip it and get only its `Vary`, which keeps shared caches from
/// handing a cross-origin caller an answer made for another origin.
#[derive(Debug, Clone)]
struct CorsWhenAsked(CorsLayer);

impl<S> tower::Layer<S> for CorsWhenAsked {
    type Service = CorsWhenAskedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsWhenAskedService(self.0.layer(inner))
    }
}

#[derive(Debug, Clone)]
struct CorsWhenAskedService<S>(tower_http::cors::Cors<S>);

impl<S> tower::Service<Request> for CorsWhenAskedService<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::Either<
        tower_http::cors::ResponseFuture<S::Future>,
        futures::future::MapOk<S::Future, fn(Response) -> Response>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures::TryFutureExt as _;
        if request.headers().contains_key(header::ORIGIN) {
            return futures::future::Either::Left(self.0.call(request));
        }
        fn vary(mut response: Response) -> Response {
            response.headers_mut().append(header::VARY, CORS_VARY);
            response
        }
        futures::future::Either::Right(
            self.0
                .get_mut()
                .call(request)
                .map_ok(vary as fn(Response) -> Response),
        )
    }
}

/// One axum route per table entry (and everything below it), so metrics and spans carry the
/// route template, not the raw path.
fn router(gateway: &Gateway) -> Router {
    let mut router = Router::new().route(
        "/api/v1/openapi.json",
        get(openapi::merged).with_state(gateway.clone()),
    );
    // Shared by every route's handler: a request clones one `Arc`, not the whole `Gateway`.
    let shared = Arc::new(gateway.clone());
    for route in gateway.routes.iter() {
        let route = Arc::new(route.clone());
        let handler = {
            let gateway = shared.clone();
            let route = route.clone();
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request| {
                let gateway = gateway.clone();
                let route = route.clone();
                async move { handle(gateway, route, peer, request).await }
            }
        };
        router = router.route(&route.prefix, any(handler.clone()));
        if !route.prefix.ends_with(".json") {
            router = router.route(&format!("{}/{{*rest}}", route.prefix), any(handler));
        }
    }
    router
}

fn client_ip(gateway: &Gateway, request: &Request, peer: SocketAddr) -> std::net::IpAddr {
    service_kit::http::client_address(request.headers(), peer.ip(), gateway.trusted_proxy_hops)
}

fn unauthorized(err: ApiError) -> Response {
    let mut response = err.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

async fn handle(
    gateway: Arc<Gateway>,
    route: Arc<Route>,
    peer: SocketAddr,
    request: Request,
) -> Response {
    let ip = client_ip(&gateway, &request, peer);
    let read_only = matches!(
        *request.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    );
    let identity = match gateway
        .auth
        .authenticate(request.headers(), read_only)
        .await
    {
        Ok(identity) => identity,
        Err(err) if err.status() == http::StatusCode::UNAUTHORIZED => return unauthorized(err),
        Err(err) => {
            // The session store is out: a write with a token may be retried in a moment.
            let mut response = err.into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    };
    if let Err(err) = authorize(route.access, identity.as_ref()) {
        return if err.status() == http::StatusCode::UNAUTHORIZED {
            unauthorized(err)
        } else {
            err.into_response()
        };
    }
    let decision = match (route.rate_class, &identity) {
        (RateClass::Auth, _) => {
            gateway
                .limiter
                .check("auth", &format!("ip:{ip}"), gateway.quotas.auth)
                .await
        }
        (RateClass::Checkout, Some(id)) => {
            gateway
                .limiter
                .check(
                    "checkout",
                    &format!("sub:{}", id.subject),
                    gateway.quotas.checkout,
                )
                .await
        }
        (_, Some(id)) => Some(gateway.authenticated.check(&id.subject)),
        (_, None) => Some(gateway.anonymous.check(&ratelimit::client_of(ip))),
    };
    if let Some(decision) = decision.as_ref().filter(|d| !d.allowed) {
        return decision.refusal();
    }
    let lookup = gateway.cache.as_ref().and_then(|cache| {
        cache.lookup_for(
            request.method(),
            route.access == Access::Public,
            identity.is_some(),
            request.headers(),
            &route.upstream,
            request
                .uri()
                .path_and_query()
                .map_or(request.uri().path(), http::uri::PathAndQuery::as_str),
        )
    });
    if let (Some(cache), Some(lookup)) = (&gateway.cache, &lookup)
        && let Some(mut response) = cache.get(lookup, request.headers())
    {
        if let Some(decision) = decision {
            decision.write_headers(response.headers_mut());
        }
        return response;
    }
    // A signed-in request may be served a shared answer, but its own answer is never stored.
    let lookup = lookup.filter(|lookup| !lookup.signed_in());
    // What selects a variant (`Vary`) is in the request headers, which forwarding consumes.
    let request_headers = lookup.as_ref().map(|_| request.headers().clone());
    let path = request.uri().path();
    let mut target = route.upstream_path(path);
    if let Some(query) = request.uri().query() {
        target = format!("{target}?{query}");
    }
    let mut response = gateway
        .proxy
        .forward(
            &route.upstream,
            &target,
            request,
            identity.as_ref(),
            &ip.to_string(),
        )
        .await;
    rewrite_location(&gateway.routes, &route.upstream, response.headers_mut());
    if let Some(cache) = &gateway.cache {
        if let (Some(lookup), Some(request_headers)) = (lookup, &request_headers) {
            response = cache.store(lookup, request_headers, response).await;
        } else if !read_only
            && (response.status().is_success() || response.status().is_redirection())
        {
            // A write through this replica: its writer reads it back at once.
            cache.invalidate_upstream(&route.upstream);
        }
    }
    if let Some(decision) = decision {
        decision.write_headers(response.headers_mut());
    }
    response
}

/// Upstreams answer `Location` in their own paths (`/products/{id}`); clients need the public
/// one (`/api/v1/products/{id}`): the route of the same upstream with the longest matching
/// target says which.
fn rewrite_location(routes: &[Route], upstream: &str, headers: &mut http::HeaderMap) {
    let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if !location.starts_with('/') {
        return;
    }
    let public = routes
        .iter()
        .filter(|r| r.upstream == upstream)
        .filter(|r| location == r.target || location.starts_with(&format!("{}/", r.target)))
        .max_by_key(|r| r.target.len())
        .map(|r| format!("{}{}", r.prefix, &location[r.target.len()..]));
    if let Some(value) = public.and_then(|p| HeaderValue::from_str(&p).ok()) {
        headers.insert(header::LOCATION, value);
    }
}

fn authorize(access: Access, identity: Option<&Identity>) -> Result<(), ApiError> {
    match (access, identity) {
        (Access::Public, _) => Ok(()),
        (Access::Shopper | Access::Admin, None) => Err(ApiError::Unauthorized(
            "sign in to use this resource".into(),
        )),
        (Access::Shopper, Some(_)) => Ok(()),
        (Access::Admin, Some(identity)) => identity.require_role(ROLE_ADMIN),
    }
}

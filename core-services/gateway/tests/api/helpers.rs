use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use gateway::config::{Quota, Settings, UpstreamSettings};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use service_kit::testing::{TestDatabase, TestRedisPrefix};
use tokio::sync::oneshot;
use users::domain::keys::KeyConfig;

pub struct Platform {
    pub base: String,
    /// catalog itself, for writes that do not pass through this gateway.
    pub catalog_base: String,
    /// Requests the `cacheable` stub upstream has answered.
    pub cacheable_calls: Arc<AtomicUsize>,
    pub client: reqwest::Client,
    pub keys: Vec<KeyConfig>,
    pub issuer: String,
    pub audience: String,
    _redis: TestRedisPrefix,
    shutdowns: Vec<oneshot::Sender<()>>,
    _databases: Vec<TestDatabase>,
}

impl Drop for Platform {
    fn drop(&mut self) {
        for tx in self.shutdowns.drain(..) {
            let _ = tx.send(());
        }
    }
}

fn serve_with_shutdown<F>(run: impl FnOnce(oneshot::Receiver<()>) -> F) -> oneshot::Sender<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    tokio::spawn(run(rx));
    tx
}

/// A stub upstream that answers with the headers it received, or sleeps first.
async fn stub(delay: Duration) -> (SocketAddr, oneshot::Sender<()>) {
    let app = axum::Router::new().route(
        "/{*path}",
        get(move |headers: http::HeaderMap| async move {
            tokio::time::sleep(delay).await;
            let map: HashMap<String, String> = headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            Json(json!({ "headers": map }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tx = serve_with_shutdown(|rx| async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    (addr, tx)
}

/// A stub upstream whose answers a shared cache may keep: `Cache-Control` from the `cc` query
/// parameter (default `public, max-age=60`), `Vary` from `vary`, a fixed `ETag`; it counts
/// the requests it answers.
async fn cacheable() -> (SocketAddr, Arc<AtomicUsize>, oneshot::Sender<()>) {
    #[derive(serde::Deserialize)]
    struct Params {
        cc: Option<String>,
        vary: Option<String>,
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/{*path}",
        get(
            move |axum::extract::Query(params): axum::extract::Query<Params>,
                  headers: http::HeaderMap| {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    let lang = headers
                        .get("accept-language")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let mut response = axum::response::IntoResponse::into_response(Json(
                        json!({ "n": n, "lang": lang }),
                    ));
                    let h = response.headers_mut();
                    h.insert(
                        "cache-control",
                        params
                            .cc
                            .unwrap_or_else(|| "public, max-age=60".into())
                            .parse()
                            .unwrap(),
                    );
                    h.insert("etag", "\"v1\"".parse().unwrap());
                    if let Some(vary) = params.vary {
                        h.insert("vary", vary.parse().unwrap());
                    }
                    response
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tx = serve_with_shutdown(|rx| async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    (addr, calls, tx)
}

pub struct Options {
    pub keys: Vec<KeyConfig>,
    pub anonymous_quota: Quota,
    pub authenticated_quota: Quota,
    pub gateway_redis_url: Option<String>,
    /// `auth.session_check_ms`, when not the default.
    pub session_check_ms: Option<u64>,
    /// `auth.jwks_min_refresh_ms` (0 unless set: tests rotate keys at will).
    pub jwks_min_refresh_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            keys: vec![KeyConfig::generate("test-key-1").unwrap()],
            anonymous_quota: Quota {
                limit: 1000,
                window_seconds: 60,
            },
            authenticated_quota: Quota {
                limit: 1000,
                window_seconds: 60,
            },
            gateway_redis_url: None,
            session_check_ms: None,
            jwks_min_refresh_ms: 0,
        }
    }
}

pub async fn spawn_platform(options: Options) -> Platform {
    let redis = TestRedisPrefix::new("platform");
    let session_prefix = format!("{}session:", redis.prefix);
    let mut shutdowns = Vec::new();

    let users_db = TestDatabase::create("gw_users_test").await;
    let mut users_settings = users::config::Settings::load().unwrap();
    users_settings.http.port = 0;
    users_settings.database.url = users_db.url.clone().into();
    users_settings.redis.url = service_kit::testing::redis_url().into();
    users_settings.redis.key_prefix = format!("{}users:", redis.prefix);
    users_settings.auth.session_key_prefix = session_prefix.clone();
    users_settings.jwt.signing_keys = Some(serde_json::to_string(&options.keys).unwrap().into());
    // Account events go to an exchange of this test's own.
    users_settings.amqp.url = service_kit::testing::amqp_url().into();
    users_settings.amqp.exchange = format!("test.gw-users.{}", uuid::Uuid::new_v4().simple());
    let users_app = users::Application::build(users_settings.clone())
        .await
        .unwrap();
    let users_addr = users_app.local_addr();
    shutdowns.push(serve_with_shutdown(|rx| async move {
        let _ = users_app
            .run_until_stopped(async move {
                let _ = rx.await;
            })
            .await;
    }));

    let catalog_db = TestDatabase::create("gw_catalog_test").await;
    let mut catalog_settings = catalog::config::Settings::load().unwrap();
    catalog_settings.http.port = 0;
    catalog_settings.database.url = catalog_db.url.clone().into();
    catalog_settings.redis.url = service_kit::testing::redis_url().into();
    catalog_settings.redis.key_prefix = format!("{}catalog:", redis.prefix);
    let catalog_app = catalog::Application::build(catalog_settings).await.unwrap();
    let catalog_addr = catalog_app.local_addr();
    shutdowns.push(serve_with_shutdown(|rx| async move {
        let _ = catalog_app
            .run_until_stopped(async move {
                let _ = rx.await;
            })
            .await;
    }));

    let (echo_addr, echo_stop) = stub(Duration::ZERO).await;
    let (cacheable_addr, cacheable_calls, cacheable_stop) = cacheable().await;
    shutdowns.push(cacheable_stop);
    let (slow_addr, slow_stop) = stub(Duration::from_secs(3)).await;
    shutdowns.push(echo_stop);
    shutdowns.push(slow_stop);
    // An upstream that answers with something that is not HTTP.
    let garbled_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbled_addr = garbled_listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        while let Ok((mut socket, _)) = garbled_listener.accept().await {
            let _ = socket.write_all(b"SPLAT this is not http\r\n\r\n").await;
        }
    });
    // A port nothing listens on.
    let down_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let mut settings = Settings::load().unwrap();
    settings.http.port = 0;
    settings.redis.url = options
        .gateway_redis_url
        .clone()
        .unwrap_or_else(service_kit::testing::redis_url)
        .into();
    settings.redis.key_prefix = format!("{}gateway:", redis.prefix);
    settings.response_cache.invalidation_channel =
        format!("{}catalog:cache:invalidated", redis.prefix);
    settings.auth.jwks_url = format!("http://{users_addr}/.well-known/jwks.json");
    settings.auth.issuer = users_settings.jwt.issuer.clone();
    settings.auth.audience = users_settings.jwt.audience.clone();
    settings.auth.session_key_prefix = session_prefix;
    settings.auth.jwks_min_refresh_ms = options.jwks_min_refresh_ms;
    if let Some(ms) = options.session_check_ms {
        settings.auth.session_check_ms = ms;
    }
    settings.client_body_timeout_ms = 1000;
    settings.rate_limits.anonymous = options.anonymous_quota;
    settings.rate_limits.authenticated = options.authenticated_quota;
    let upstream = |addr: SocketAddr, timeout_ms| UpstreamSettings {
        url: format!("http://{addr}"),
        timeout_ms,
    };
    settings
        .upstreams
        .insert("users".into(), upstream(users_addr, 5000));
    settings
        .upstreams
        .insert("catalog".into(), upstream(catalog_addr, 5000));
    settings
        .upstreams
        .insert("echo".into(), upstream(echo_addr, 5000));
    settings
        .upstreams
        .insert("cacheable".into(), upstream(cacheable_addr, 5000));
    settings
        .upstreams
        .insert("slow".into(), upstream(slow_addr, 300));
    settings
        .upstreams
        .insert("down".into(), upstream(down_addr, 1000));
    settings
        .upstreams
        .insert("garbled".into(), upstream(garbled_addr, 1000));
    let mut routes: Vec<Value> = serde_json::from_str(gateway::config::DEFAULT_ROUTES).unwrap();
    routes.push(json!({"prefix": "/api/v1/echo", "upstream": "echo", "target": "/echo", "access": "public"}));
    routes.push(json!({"prefix": "/api/v1/echo-private", "upstream": "echo", "target": "/echo", "access": "shopper"}));
    routes.push(json!({"prefix": "/api/v1/cacheable", "upstream": "cacheable", "target": "/c", "access": "public"}));
    routes.push(json!({"prefix": "/api/v1/cacheable-shopper", "upstream": "cacheable", "target": "/c", "access": "shopper"}));
    routes.push(json!({"prefix": "/api/v1/slow", "upstream": "slow", "target": "/slow", "access": "public"}));
    routes.push(json!({"prefix": "/api/v1/down", "upstream": "down", "target": "/down", "access": "public"}));
    routes.push(json!({"prefix": "/api/v1/garbled", "upstream": "garbled", "target": "/x", "access": "public"}));
    settings.routes_json = serde_json::to_string(&routes).unwrap();
    let gateway_app = gateway::Application::build(settings).await.unwrap();
    let base = format!("http://{}", gateway_app.local_addr());
    shutdowns.push(serve_with_shutdown(|rx| async move {
        let _ = gateway_app
            .run_until_stopped(async move {
                let _ = rx.await;
            })
            .await;
    }));

    Platform {
        base,
        catalog_base: format!("http://{catalog_addr}"),
        cacheable_calls,
        client: reqwest::Client::new(),
        keys: options.keys,
        issuer: users_settings.jwt.issuer,
        audience: users_settings.jwt.audience,
        _redis: redis,
        shutdowns,
        _databases: vec![users_db, catalog_db],
    }
}

impl Platform {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Registers and signs in; returns (user id, token response).
    pub async fn sign_up(&self, email: &str) -> (String, Value) {
        let registered = self
            .post(
                "/api/v1/auth/register",
                json!({"email": email, "password": "correct horse battery", "name": "T"}),
            )
            .await;
        assert_eq!(registered.status(), StatusCode::ACCEPTED);
        let login = self
            .post(
                "/api/v1/auth/login",
                json!({"email": email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(login.status(), StatusCode::OK);
        let tokens: Value = login.json().await.unwrap();
        // The user id is the token's subject (asking /me would spend the caller's quota).
        let payload = tokens["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        (claims["sub"].as_str().unwrap().to_owned(), tokens)
    }
}

/// Polls `GET /api/v1/me` with `token` until it is refused; a revoked session must be refused
/// within a second (`auth.session_check_ms`, 500 ms, is how long a confirmed session is
/// trusted). Returns the refusal.
pub async fn refused_within_a_second(platform: &Platform, token: &str) -> Response {
    let revoked = std::time::Instant::now();
    loop {
        let response = platform.get("/api/v1/me", Some(token)).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            return response;
        }
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "a revoked session was still accepted after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

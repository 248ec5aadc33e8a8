//! # users
//!
//! Accounts for the retail platform: registration, sign-in with Argon2id password hashes
//! (throttled per client and account and per client address; guesses against one account are
//! slowed down without locking its owner out: see `sessions`), EdDSA access tokens with a
//! published JWK Set and key rotation, single-use refresh tokens whose reuse revokes the
//! session, sessions in Redis with an idle TTL (the gateway refuses tokens of ended sessions),
//! profiles and notification preferences.
//!
//! Data flow: `routes` -> `domain` (validation, keys) -> `store` (PostgreSQL) and `sessions`
//! (Redis). Run with `cargo xtask up`; grant the first admin with
//! `cargo run -p users -- promote-admin <email>` after registering that account.

pub mod config;
pub mod domain;
pub mod openapi;
pub mod passwords;
pub mod routes;
pub mod sessions;
pub mod store;
pub mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use service_kit::db;
use service_kit::health::Readiness;
use service_kit::http::{Server, ServiceApp};
use service_kit::metrics::Metrics;
use service_kit::redis::RedisClient;
use utoipa::OpenApi as _;

use crate::config::{SERVICE, Settings};
use crate::domain::keys::{KeyConfig, KeyRing};
use crate::sessions::AuthState;
use crate::store::Store;
use crate::tokens::Issuer;

/// The users migrations, applied at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// PostgreSQL.
    pub store: Store,
    /// Sessions and throttling (Redis).
    pub auth: AuthState,
    /// Token signing.
    pub issuer: Arc<Issuer>,
    /// A hash to verify against for unknown accounts (equal timing).
    pub dummy_hash: Arc<str>,
}

/// The users service, bound and ready to serve.
#[derive(Debug)]
pub struct Application {
    server: Server,
    state: AppState,
}

/// Reads the configured signing keys, or generates one for a local run.
pub fn signing_keys(settings: &Settings) -> anyhow::Result<Vec<KeyConfig>> {
    match &settings.jwt.signing_keys {
        Some(json) => Ok(serde_json::from_str(json.expose_secret())?),
        None => {
            tracing::warn!(
                "no APP__JWT__SIGNING_KEYS: generated a signing key for this process only"
            );
            Ok(vec![KeyConfig::generate(&format!(
                "local-{}",
                uuid::Uuid::now_v7().simple()
            ))?])
        }
    }
}

impl Application {
    /// Connects, migrates, loads keys, wires the routes and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new(SERVICE)?;
        let pool = db::pool(&settings.database, SERVICE, &[])?;
        db::migrate(&pool, &MIGRATOR).await?;
        let redis = RedisClient::new(&settings.redis)?;
        let keys = KeyRing::new(
            &signing_keys(&settings)?,
            Duration::from_secs(settings.jwt.access_ttl_seconds),
            time::OffsetDateTime::now_utc(),
        )?;
        let dummy_hash: Arc<str> = passwords::hash(uuid::Uuid::new_v4().to_string())
            .await?
            .into();
        let state = AppState {
            store: Store::new(pool.clone()),
            auth: AuthState::new(redis.clone(), &settings.auth, &metrics)?,
            issuer: Arc::new(Issuer::new(keys, &settings.jwt)),
            dummy_hash,
        };
        let readiness = Readiness::postgres_and_redis(pool.clone(), redis.clone());
        let server = ServiceApp::new(metrics, settings.http.clone())
            .routes(routes::router(state.clone()))
            .readiness(readiness)
            .openapi(&openapi::ApiDoc::openapi())
            .bind()
            .await?;
        Ok(Self { server, state })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.server.run_until_stopped(shutdown).await
    }
}

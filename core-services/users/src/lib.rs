//! # users
//!
//! Accounts for the retail platform: registration, sign-in with Argon2id password hashes
//! (throttled per client and account and per client address; guesses against one account are
//! slowed down without locking its owner out: see `sessions`), EdDSA access tokens with a
//! published JWK Set and key rotation, single-use refresh tokens whose reuse revokes the
//! session, sessions in Redis with an idle TTL (the gateway refuses tokens of ended sessions),
//! profiles and notification preferences, and the account flows: email verification,
//! forgotten and changed passwords, "sign out everywhere". Account emails ride on the event
//! path: `user.*` events leave through the outbox (see `events::sealed` for the tokens they
//! carry) and the notifier function sends them.
//!
//! Data flow: `routes` -> `domain` (validation, keys) -> `store` (PostgreSQL, outbox) and
//! `sessions` (Redis). Run with `cargo xtask up`; grant the first admin with
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
use service_kit::messaging;
use service_kit::metrics::Metrics;
use service_kit::redis::RedisClient;
use service_kit::tasks::Supervisor;
use utoipa::OpenApi as _;

use crate::config::{AccountSettings, SERVICE, Settings};
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
    /// Seals account tokens for the notifier.
    pub seal: Arc<events::sealed::SealKey>,
    /// Link lifetimes and mail limits.
    pub account: Arc<AccountSettings>,
}

/// The users service, bound and ready to serve.
#[derive(Debug)]
pub struct Application {
    server: Server,
    state: AppState,
    supervisor: Supervisor,
}

/// Reads the configured account token key, or generates one for a local run.
pub fn seal_key(settings: &AccountSettings) -> anyhow::Result<events::sealed::SealKey> {
    let encoded = match &settings.token_key {
        Some(key) => key.expose_secret().to_owned(),
        None => {
            tracing::warn!(
                "no APP__ACCOUNT__TOKEN_KEY: generated an account token key for this process \
                 only; the notifier cannot open the links of its account emails"
            );
            events::sealed::SealKey::generate()?
        }
    };
    Ok(events::sealed::SealKey::from_base64(&encoded)?)
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
        let messaging_metrics = messaging::MessagingMetrics::new(&metrics)?;
        let pool = db::pool(&settings.database, SERVICE, &[])?;
        db::migrate(&pool, &MIGRATOR).await?;
        messaging::ensure_schema(&pool).await?;
        let mut supervisor = Supervisor::new();
        messaging::start_relay(&settings.amqp, &pool, &messaging_metrics, &mut supervisor);
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
            seal: Arc::new(seal_key(&settings.account)?),
            account: Arc::new(settings.account.clone()),
        };
        let readiness =
            Readiness::postgres_and_redis(pool.clone(), redis.clone()).supervised(&supervisor);
        let server = ServiceApp::new(metrics, settings.http.clone())
            .routes(routes::router(state.clone()))
            .readiness(readiness)
            .openapi(&openapi::ApiDoc::openapi())
            .bind()
            .await?;
        Ok(Self {
            server,
            state,
            supervisor,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops the outbox relay. Fails when the relay
    /// died (the service stopped itself).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.supervisor.serve(self.server, shutdown).await
    }
}

//! # catalog
//!
//! Products and categories for the retail platform: lookup by id or SKU, listings with filters
//! (category and its sub-categories, brand, price range, attributes), sorting, keyset
//! pagination and full-text search (weighted `tsvector`, `websearch_to_tsquery`, trigram typo
//! tolerance for short queries); admin writes with optimistic concurrency and bulk import.
//!
//! Data flow: `routes` (HTTP, validation into `domain` types) -> `cache` (Redis cache-aside,
//! single flight, generation-based invalidation) -> `store` (PostgreSQL). Writes go to
//! PostgreSQL first, then invalidate the cache.
//!
//! Run it with `cargo xtask up` (all services, demo data) or `cargo run -p catalog` with
//! PostgreSQL and Redis on loopback; settings come from `APP__...` variables (see [`config`]).

pub mod cache;
pub mod config;
pub mod domain;
pub mod openapi;
pub mod routes;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use service_kit::db;
use service_kit::health::Readiness;
use service_kit::http::{Server, ServiceApp};
use service_kit::metrics::Metrics;
use service_kit::redis::RedisClient;

use crate::cache::Cache;
use crate::config::{ImportSettings, SERVICE, Settings};
use crate::store::Store;

/// The catalog's migrations, applied at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Word similarity needed for a short query to match a name despite typos (pg_trgm default 0.6
/// misses common single-letter slips such as "hedphones").
const WORD_SIMILARITY_THRESHOLD: &str = "0.45";

/// What every handler shares, behind one `Arc`: axum clones a route's state for every request,
/// and cloning the parts one by one (the pool, the Redis client with its connection settings,
/// the caches, the metric handles) cost a cached read 5% of its CPU (measured with `perf`).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// PostgreSQL.
    pub store: Store,
    /// Redis cache-aside.
    pub cache: Cache,
    /// Bulk import limits.
    pub import: ImportSettings,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The catalog service, bound and ready to serve.
#[derive(Debug)]
pub struct Application {
    server: Server,
    state: AppState,
}

impl Application {
    /// Connects, migrates, wires the routes and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new(SERVICE)?;
        let pool = db::pool(
            &settings.database,
            SERVICE,
            &[(
                "pg_trgm.word_similarity_threshold",
                WORD_SIMILARITY_THRESHOLD,
            )],
        )?;
        db::migrate(&pool, &MIGRATOR).await?;
        let redis = RedisClient::new(&settings.redis)?;
        let cache = Cache::new(
            redis.clone(),
            Duration::from_secs(settings.cache.ttl_seconds),
            &metrics,
        )?
        .with_local(
            settings.cache.local_max_bytes,
            Duration::from_secs(settings.cache.local_ttl_seconds),
        );
        cache.follow_invalidations().await;
        let state = AppState(Arc::new(Shared {
            store: Store::new(pool.clone()),
            cache,
            import: settings.import.clone(),
        }));

        let readiness = Readiness::postgres_and_redis(pool.clone(), redis.clone());
        let server = ServiceApp::new(metrics, settings.http.clone())
            .routes(routes::router(state.clone()))
            .readiness(readiness)
            .openapi(&openapi::document(&settings.import))
            .bind()
            .await?;
        Ok(Self { server, state })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The shared state (tests inspect the cache through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.server.run_until_stopped(shutdown).await
    }
}

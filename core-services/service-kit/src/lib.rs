//! # service-kit
//!
//! The library every retail-platform service is built on, so that each service's own crate holds
//! only its domain. A service's `main` reads its [`config`], starts [`telemetry`], opens its
//! PostgreSQL pool ([`db`], migrations included) and its Redis client ([`redis`]), builds its
//! routes and hands them to [`http::ServiceApp`], which adds the shared middleware stack
//! (request id, trace span per matched route, RED metrics, timeout, body limit, panic -> 500),
//! the operational endpoints (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`) and graceful
//! shutdown ([`shutdown`]). Background tasks (consumers, relays, sweepers) run under a
//! [`tasks::Supervisor`]: one that dies makes the service unready and stops it.
//!
//! Errors leave every service as RFC 9457 `application/problem+json` ([`error`]); request bodies
//! and query strings are read through extractors whose rejections are problems too ([`extract`]);
//! control characters in text input are refused by one rule ([`text`]).
//! Callers are identified by the headers the gateway sets ([`identity`]).
//!
//! Domain types every service shares live here too: [`Money`] (from the event contract, which
//! carries it) and [`sku::Sku`].
//!
//! The clients sit behind features (`postgres`, `redis`, `amqp`), so a crate that needs only the
//! HTTP side (the webhook-admin function) links none of them.
//!
//! With the `test-util` feature, [`testing`] starts real services on port 0 against a fresh
//! database and their own Redis key prefix.

/// With the `mimalloc` feature every service allocates with mimalloc instead of glibc's malloc.
/// glibc keeps freed memory in per-thread arenas: users' password hashing (19 MiB per hash)
/// left that much resident per hashing thread for good, and small allocations on the request
/// path cost more. mimalloc returns freed pages to the OS (at once with the images'
/// `MIMALLOC_PURGE_DELAY=0`; see the README). It is built without transparent huge pages:
/// asked for them (`madvise`), it backed each thread's heap with 2 MiB pages and doubled the
/// idle services' resident memory.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod config;
#[cfg(feature = "postgres")]
pub mod db;
#[cfg(feature = "amqp")]
pub mod dead_letters;
pub mod error;
pub mod extract;
pub mod health;
pub mod http;
pub mod identity;
pub mod jwt;
#[cfg(feature = "amqp")]
pub mod messaging;
pub mod metrics;
pub mod names;
pub mod openapi;
#[cfg(feature = "redis")]
pub mod redis;
pub mod request;
pub mod shutdown;
pub mod singleflight;
pub mod sku;
pub mod tasks;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod text;
pub mod window;

pub use error::{ApiError, FieldError, Problem};
/// Money: integer minor units and an ISO 4217 currency. It is defined in the event contract
/// (`events::money`), which carries it in payloads; services use it from here.
pub use events::money;
pub use events::money::Money;

/// For [`path_id!`]: the UUID type, reachable from the macro in any crate.
#[doc(hidden)]
pub use uuid as __uuid;

/// For [`named_enum!`]: sqlx, reachable from the macro in any crate.
#[cfg(feature = "postgres")]
#[doc(hidden)]
pub use sqlx as __sqlx;

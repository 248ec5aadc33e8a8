//! The checkout saga end to end: every service running on the real PostgreSQL, Redis and
//! RabbitMQ, each test on a platform of its own.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)]

mod exported;
mod idempotency;
mod outcomes;
mod pipeline;
mod provider;
mod reliability;

use std::time::Duration;

/// How long a saga may take in these tests (generous: CI machines are slow and shared).
pub const SETTLE: Duration = Duration::from_secs(60);

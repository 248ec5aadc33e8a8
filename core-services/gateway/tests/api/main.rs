//! End-to-end tests through the gateway: real users and catalog services (own databases and
//! Redis prefixes), plus small stub upstreams for echo, slowness and absence.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)]

mod auth;
mod cache;
mod helpers;
mod resilience;

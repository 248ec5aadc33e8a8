//! Integration tests: the real catalog on port 0, a fresh PostgreSQL database and its own Redis
//! key prefix per test.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)]

mod cache;
mod crud;
mod helpers;
mod operations;
mod pagination;
mod search;
mod validation;

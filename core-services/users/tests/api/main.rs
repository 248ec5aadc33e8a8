//! Integration tests: the real users service on port 0 with its own database and Redis prefix.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)]

mod account_flows;
mod accounts;
mod helpers;
mod tokens;

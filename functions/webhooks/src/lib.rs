//! # webhooks
//!
//! What the webhook functions share: the subscription and delivery-log layout in DynamoDB and
//! the endpoint secrets in Secrets Manager ([`store`]), Standard Webhooks signing
//! ([`signing`]), and the guard that keeps endpoints off private networks ([`ssrf`]).
//! `webhook-dispatcher` delivers events with it; `webhook-admin` manages subscriptions.

pub mod signing;
pub mod ssrf;
pub mod store;

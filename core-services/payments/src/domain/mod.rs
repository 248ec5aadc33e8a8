//! The payment's rules, with no I/O: its states ([`PaymentStatus`]), which provider event or
//! order event moves it where ([`on_provider_event`], [`on_order_cancelled`],
//! [`on_order_confirmed`]), and the money it may move ([`Amounts`]). `crate::flow` (the saga's
//! side) and `crate::webhooks` (the provider's side) carry the decisions out in PostgreSQL; SQL
//! maps [`PaymentStatus`] to and from its text column here and nowhere else.

mod payment;

pub use payment::{
    Amounts, Cancellation, Confirmation, MoneyError, PaymentStatus, ProviderDecision,
    ProviderEvent, on_order_cancelled, on_order_confirmed, on_provider_event,
};

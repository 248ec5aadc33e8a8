//! The payment's rules, with no I/O: its states ([`PaymentStatus`]), which provider event or
//! order event moves it where ([`on_provider_event`], [`on_order_cancelled`],
//! [`on_order_confirmed`]), and the money it may move ([`Amounts`]). `crate::consumer` and
//! `crate::flow` (the saga's side) and `crate::webhooks` (the provider's side) carry the
//! decisions out in PostgreSQL; SQL maps [`PaymentStatus`] to and from its text column here and
//! nowhere else.

mod payment;

pub use payment::{
    Amounts, Cancellation, Confirmation, MoneyError, PaymentStatus, ProviderDecision,
    ProviderEvent, on_order_cancelled, on_order_confirmed, on_provider_event,
};

service_kit::path_id!(
    /// An order id in a path (`/admin/payments/{order_id}`): one that is not a UUID is an order
    /// that does not exist (404), as an unknown one is.
    pub struct OrderId,
    "order"
);

impl OrderId {
    /// As the payment's `order_id` column holds it.
    pub fn key(&self) -> String {
        self.0.to_string()
    }
}

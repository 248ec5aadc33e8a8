//! The order's rules, with no I/O: its states ([`OrderStatus`]), why it was cancelled
//! ([`CancelReason`]), and which event or request moves it where ([`decide`]). The saga
//! (`crate::saga`) and the routes apply these decisions to PostgreSQL; SQL maps the enums to
//! and from their text columns here and nowhere else.

mod order;

pub use order::{CancelReason, Decision, Input, OrderStatus, PaymentFailure, decide};

service_kit::path_id!(
    /// An order id in a path (`/orders/{id}`): one that is not a UUID is an order that does not
    /// exist (404), as an unknown one is.
    pub struct OrderId,
    "order"
);

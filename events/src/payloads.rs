//! One struct per event type and version. Amounts are [`Money`]: integer minor units with an
//! ISO 4217 code; ids are UUIDs as strings; times are RFC 3339.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Event;
use crate::money::Money;

macro_rules! event {
    ($type:ident, $name:literal, $version:literal) => {
        impl Event for $type {
            const TYPE: &'static str = $name;
            const VERSION: u32 = $version;
        }
    };
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    /// SKU.
    pub sku: String,
    /// Units ordered.
    pub quantity: u32,
    /// Price per unit when the order was placed.
    pub unit_price: Money,
}

/// How and whether to reach the customer about this order, captured at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    /// Email address.
    pub email: String,
    /// Phone in E.164, if given.
    #[serde(default)]
    pub phone: Option<String>,
    /// Display name.
    pub name: String,
    /// Language for messages.
    pub locale: String,
    /// Send order updates by email.
    pub notify_email: bool,
    /// Send order updates by SMS.
    pub notify_sms: bool,
}

/// A shopper placed an order (state PENDING).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPlaced {
    /// Order id.
    pub order_id: String,
    /// Customer (user id).
    pub customer_id: String,
    /// Lines.
    pub lines: Vec<OrderLine>,
    /// Order total.
    pub total: Money,
    /// Contact snapshot for notifications.
    pub contact: Contact,
    /// The Stripe PaymentMethod id of the shopper's payment method (for example `pm_card_visa`).
    /// An opaque, provider-issued reference: card data never enters the platform.
    #[serde(default)]
    pub payment_method: Option<String>,
}
event!(OrderPlaced, "order.placed", 1);

/// An order reached CONFIRMED (stock committed, payment captured).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderConfirmed {
    /// Order id.
    pub order_id: String,
    /// Customer.
    pub customer_id: String,
    /// Order total.
    pub total: Money,
    /// Contact snapshot.
    pub contact: Contact,
}
event!(OrderConfirmed, "order.confirmed", 1);

/// An order reached CANCELLED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCancelled {
    /// Order id.
    pub order_id: String,
    /// Customer.
    pub customer_id: String,
    /// Why: `out_of_stock`, `payment_declined`, `payment_timeout`, `reservation_expired`,
    /// `cancelled_by_customer`.
    pub reason: String,
    /// Contact snapshot.
    pub contact: Contact,
}
event!(OrderCancelled, "order.cancelled", 1);

/// A confirmed order left the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderShipped {
    /// Order id.
    pub order_id: String,
    /// Customer.
    pub customer_id: String,
    /// Carrier, if known.
    #[serde(default)]
    pub carrier: Option<String>,
    /// Tracking number, if known.
    #[serde(default)]
    pub tracking_number: Option<String>,
    /// Contact snapshot.
    pub contact: Contact,
}
event!(OrderShipped, "order.shipped", 1);

/// Every line of an order is reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryReserved {
    /// Order id.
    pub order_id: String,
    /// Reservation id.
    pub reservation_id: String,
    /// When the reservation lapses without an outcome (RFC 3339).
    pub expires_at: String,
    /// Amount to authorize.
    pub total: Money,
}
event!(InventoryReserved, "inventory.reserved", 1);

/// A line that could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Shortage {
    /// SKU.
    pub sku: String,
    /// Units asked for.
    pub requested: u32,
    /// Units available.
    pub available: u32,
}

/// An order could not be reserved (nothing was reserved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryRejected {
    /// Order id.
    pub order_id: String,
    /// The lines short of stock.
    pub shortages: Vec<Shortage>,
}
event!(InventoryRejected, "inventory.rejected", 1);

/// A reservation was released (order cancelled or reservation expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryReleased {
    /// Order id.
    pub order_id: String,
    /// Reservation id.
    pub reservation_id: String,
    /// `order_cancelled` or `expired`.
    pub reason: String,
}
event!(InventoryReleased, "inventory.released", 1);

/// Available stock of a SKU fell to or below its threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockLow {
    /// SKU.
    pub sku: String,
    /// Units available now.
    pub available: u32,
    /// The configured threshold.
    pub threshold: u32,
}
event!(StockLow, "stock.low", 1);

/// The provider authorized the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentAuthorized {
    /// Order id.
    pub order_id: String,
    /// Payment id.
    pub payment_id: String,
    /// Amount authorized.
    pub amount: Money,
}
event!(PaymentAuthorized, "payment.authorized", 1);

/// The payment failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentFailed {
    /// Order id.
    pub order_id: String,
    /// Payment id.
    pub payment_id: String,
    /// `declined`, `timeout` or `error`.
    pub reason: String,
}
event!(PaymentFailed, "payment.failed", 1);

/// The authorized amount was captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentCaptured {
    /// Order id.
    pub order_id: String,
    /// Payment id.
    pub payment_id: String,
    /// Amount captured.
    pub amount: Money,
}
event!(PaymentCaptured, "payment.captured", 1);

/// Money went back to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRefunded {
    /// Order id.
    pub order_id: String,
    /// Payment id.
    pub payment_id: String,
    /// Refund id.
    pub refund_id: String,
    /// Amount refunded.
    pub amount: Money,
    /// Contact snapshot, when the order service provided one.
    #[serde(default)]
    pub contact: Option<Contact>,
}
event!(PaymentRefunded, "payment.refunded", 1);

/// A product as events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductChanged {
    /// Product id.
    pub product_id: String,
    /// SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Price.
    pub price: Money,
    /// Visible to shoppers.
    pub active: bool,
    /// Version after the change.
    pub version: i64,
}

/// A product was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductCreated(pub ProductChanged);
event!(ProductCreated, "product.created", 1);

/// A product changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductUpdated(pub ProductChanged);
event!(ProductUpdated, "product.updated", 1);

/// A product was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductDeleted {
    /// Product id.
    pub product_id: String,
    /// SKU.
    pub sku: String,
}
event!(ProductDeleted, "product.deleted", 1);

/// Who an account email goes to: account emails are sent whatever the notification
/// preferences say (they are about the account itself, not marketing or order updates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountHolder {
    /// User id.
    pub user_id: String,
    /// Email address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Language for messages.
    pub locale: String,
}

/// An account was created; its owner is asked to confirm the email address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserRegistered {
    /// User id.
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Language.
    pub locale: String,
    /// Display name (absent in events written before account emails).
    #[serde(default)]
    pub name: Option<String>,
    /// The single-use email verification token, sealed for the notifier (see
    /// [`crate::sealed`]); absent in events written before account emails.
    #[serde(default)]
    pub verification: Option<String>,
    /// When the verification link stops working (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub verification_expires_at: Option<time::OffsetDateTime>,
}
event!(UserRegistered, "user.registered", 1);

/// Someone tried to register an email that already has an account. The owner is told (the
/// person registering gets the same answer as for a new email).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserRegistrationAttempted {
    /// The existing account.
    pub account: AccountHolder,
}
event!(UserRegistrationAttempted, "user.registration_attempted", 1);

/// The owner of an account asked to reset a forgotten password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserPasswordResetRequested {
    /// The account.
    pub account: AccountHolder,
    /// The single-use reset token, sealed for the notifier (see [`crate::sealed`]).
    pub token: String,
    /// When the reset link stops working (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub expires_at: time::OffsetDateTime,
}
event!(
    UserPasswordResetRequested,
    "user.password_reset_requested",
    1
);

/// An account's password changed (by its owner, or through a reset link); every session that
/// used the old password has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserPasswordChanged {
    /// The account.
    pub account: AccountHolder,
    /// `changed` (current password given) or `reset` (through an emailed link).
    pub how: String,
}
event!(UserPasswordChanged, "user.password_changed", 1);

/// Account events carry personal data and sealed single-use tokens: they go to the notifier
/// only, never to outbound webhooks or analytics.
pub fn account_types() -> Vec<&'static str> {
    vec![
        UserRegistered::TYPE,
        UserRegistrationAttempted::TYPE,
        UserPasswordResetRequested::TYPE,
        UserPasswordChanged::TYPE,
    ]
}

/// The event types partners may subscribe to with outbound webhooks: every type but the
/// account events.
pub fn subscribable_types() -> Vec<&'static str> {
    let private = account_types();
    types()
        .into_iter()
        .filter(|t| !private.contains(t))
        .collect()
}

fn schema<T: Event>() -> (String, serde_json::Value) {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    if let Some(object) = schema.as_object_mut() {
        object.insert("$id".into(), serde_json::Value::String(T::schema_uri()));
    }
    (format!("{}.v{}.json", T::TYPE, T::VERSION), schema)
}

/// Every event type's JSON Schema with its file name (`<type>.v<version>.json`).
pub fn schemas() -> Vec<(String, serde_json::Value)> {
    vec![
        schema::<OrderPlaced>(),
        schema::<OrderConfirmed>(),
        schema::<OrderCancelled>(),
        schema::<OrderShipped>(),
        schema::<InventoryReserved>(),
        schema::<InventoryRejected>(),
        schema::<InventoryReleased>(),
        schema::<StockLow>(),
        schema::<PaymentAuthorized>(),
        schema::<PaymentFailed>(),
        schema::<PaymentCaptured>(),
        schema::<PaymentRefunded>(),
        schema::<ProductCreated>(),
        schema::<ProductUpdated>(),
        schema::<ProductDeleted>(),
        schema::<UserRegistered>(),
        schema::<UserRegistrationAttempted>(),
        schema::<UserPasswordResetRequested>(),
        schema::<UserPasswordChanged>(),
    ]
}

/// Every event type name (routing keys).
pub fn types() -> Vec<&'static str> {
    vec![
        OrderPlaced::TYPE,
        OrderConfirmed::TYPE,
        OrderCancelled::TYPE,
        OrderShipped::TYPE,
        InventoryReserved::TYPE,
        InventoryRejected::TYPE,
        InventoryReleased::TYPE,
        StockLow::TYPE,
        PaymentAuthorized::TYPE,
        PaymentFailed::TYPE,
        PaymentCaptured::TYPE,
        PaymentRefunded::TYPE,
        ProductCreated::TYPE,
        ProductUpdated::TYPE,
        ProductDeleted::TYPE,
        UserRegistered::TYPE,
        UserRegistrationAttempted::TYPE,
        UserPasswordResetRequested::TYPE,
        UserPasswordChanged::TYPE,
    ]
}

//! `POST /checkout`: the cart becomes a PENDING order and `order.placed`, in one transaction,
//! behind an `Idempotency-Key`.
//!
//! Keys are per customer and kept 24 hours. The key is claimed in the transaction that places
//! the order, together with the answer: a failed attempt leaves no claim behind, and a second
//! request with the same key waits for the first to commit, then replays its answer. The same
//! key with another body is 422. (A claim still marked `in_progress`, as left by a process that
//! died between two commits in an older release, answers 409 and is taken over after a minute.)
//!
//! The shopper's contact details come in one call to users and the prices in one call per
//! line to catalog, all before the transaction, which then makes seven round trips: begin,
//! claim, cart version, order with its lines and timeline in one statement, outbox, cart
//! emptied, commit.

use aws_lc_rs::digest;
use events::Envelope;
use events::payloads::{Contact, OrderLine, OrderPlaced};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use service_kit::identity::Identity;
use service_kit::messaging::enqueue;
use service_kit::money::Money;
use service_kit::{ApiError, FieldError};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::cart::{self, Cart, CartStore};
use crate::domain::OrderStatus;
use crate::saga::SOURCE;
use crate::upstream::Upstream;

/// The header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// What the shopper sends.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutInput {
    /// The Stripe PaymentMethod id (`pm_...`; in test mode Stripe's test methods such as
    /// `pm_card_visa`). The earlier test tokens (`tok_visa`, `tok_chargeDeclined`,
    /// `tok_insufficientFunds`, `tok_async`, `tok_asyncDeclined`, `tok_mastercard`,
    /// `tok_timeout`) are still accepted as aliases of the matching test methods.
    #[schema(
        pattern = "^(pm_[A-Za-z0-9_]{1,100}|tok_visa|tok_mastercard|tok_chargeDeclined|tok_insufficientFunds|tok_async|tok_asyncDeclined|tok_timeout)$"
    )]
    pub payment_method: String,
}

/// The earlier test tokens and the Stripe test PaymentMethods they stand for.
pub const TOKEN_ALIASES: &[(&str, &str)] = &[
    ("tok_visa", "pm_card_visa"),
    ("tok_mastercard", "pm_card_mastercard"),
    ("tok_chargeDeclined", "pm_card_chargeDeclined"),
    (
        "tok_insufficientFunds",
        "pm_card_chargeDeclinedInsufficientFunds",
    ),
    ("tok_async", "pm_card_threeDSecure2Required"),
    (
        "tok_asyncDeclined",
        "pm_card_threeDSecureRequiredChargeDeclined",
    ),
    ("tok_timeout", "pm_card_simulatorTimeout"),
];

impl CheckoutInput {
    fn validate(&self) -> Result<(), ApiError> {
        let method = self.payment_method.as_str();
        let well_formed = method.len() <= 103
            && method
                .split_once('_')
                .is_some_and(|(prefix, rest)| prefix == "pm" && !rest.is_empty())
            && method
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if well_formed || TOKEN_ALIASES.iter().any(|(alias, _)| *alias == method) {
            Ok(())
        } else {
            Err(ApiError::invalid_field(
                "payment_method",
                "must be a Stripe PaymentMethod id such as `pm_card_visa`",
            ))
        }
    }

    /// The PaymentMethod id to charge (an alias resolved).
    pub fn payment_method_id(&self) -> &str {
        TOKEN_ALIASES
            .iter()
            .find(|(alias, _)| *alias == self.payment_method)
            .map_or(self.payment_method.as_str(), |(_, id)| id)
    }
}

/// The answer to an accepted checkout.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckoutAccepted {
    /// The new order.
    pub order_id: Uuid,
    /// Always `PENDING`: follow `Location` for the outcome.
    pub status: String,
    /// Amount to be charged.
    pub total: Money,
}

/// How a checkout went.
#[derive(Debug)]
pub enum Claim {
    /// The order was placed now: this status and body.
    Fresh(u16, Value),
    /// Already answered for this key: this status and body.
    Replay(u16, Value),
}

/// Validates the key header.
pub fn key(headers: &http::HeaderMap) -> Result<String, ApiError> {
    let Some(raw) = headers.get(IDEMPOTENCY_KEY) else {
        return Err(ApiError::BadRequest {
            detail: "checkout needs an `Idempotency-Key` header (a fresh UUID per purchase)".into(),
            errors: vec![FieldError::new("Idempotency-Key", "missing")],
        });
    };
    let key = raw.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::bad_field(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(key.to_owned())
}

/// SHA-256 of the canonical JSON of the request (object keys sorted).
pub fn fingerprint(body: &Value) -> String {
    let canonical = serde_json::to_vec(body).unwrap_or_default();
    digest::digest(&digest::SHA256, &canonical)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stored key: request hash, state, response status and body.
type StoredKey = (
    String,
    String,
    Option<i32>,
    Option<sqlx::types::Json<Value>>,
);

/// A stored key, and whether it no longer binds (older than a day, or an abandoned claim).
type StoredRow = (
    String,
    String,
    Option<i32>,
    Option<sqlx::types::Json<Value>>,
    bool,
);

/// What an earlier request with this key decided, if one did: its answer to replay, or why
/// this request cannot go ahead. `None` when the key is free (never used, expired, or an
/// abandoned claim).
pub async fn stored(
    pool: &PgPool,
    customer: &str,
    key: &str,
    hash: &str,
) -> Result<Option<Claim>, ApiError> {
    let row: Option<StoredRow> = sqlx::query_as(
        "select request_hash, state, response_status, response_body, \
             created_at < now() - interval '24 hours' \
               or (state = 'in_progress' and created_at < now() - interval '1 minute') \
             from idempotency_keys where customer_id = $1 and key = $2",
    )
    .bind(customer)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    match row {
        None | Some((_, _, _, _, true)) => Ok(None),
        Some((stored, state, code, body, false)) => {
            decide((stored, state, code, body), hash).map(Some)
        }
    }
}

fn decide(row: StoredKey, hash: &str) -> Result<Claim, ApiError> {
    match row {
        (stored, _, _, _) if stored != hash => Err(ApiError::invalid_field(
            "Idempotency-Key",
            "this key was already used with a different request body; use a new key",
        )),
        (_, state, Some(code), Some(body)) if state == "done" => {
            Ok(Claim::Replay(u16::try_from(code).unwrap_or(500), body.0))
        }
        _ => Err(ApiError::Conflict(
            "a request with this Idempotency-Key is still being processed; retry later".into(),
        )),
    }
}

/// Claims `key` with its answer inside the order's transaction. False when another request
/// holds it (that request's transaction committed first; this one waited for it).
async fn claim(
    tx: &mut PgConnection,
    customer: &str,
    key: &str,
    hash: &str,
    answer: &Value,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into idempotency_keys (customer_id, key, request_hash, state, response_status, response_body) \
         values ($1, $2, $3, 'done', 202, $4) \
         on conflict (customer_id, key) do update set request_hash = excluded.request_hash, \
           state = 'done', response_status = 202, response_body = excluded.response_body, created_at = now() \
         where idempotency_keys.created_at < now() - interval '24 hours' \
            or (idempotency_keys.state = 'in_progress' and idempotency_keys.created_at < now() - interval '1 minute')",
    )
    .bind(customer)
    .bind(key)
    .bind(hash)
    .bind(sqlx::types::Json(answer))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Checks the cart against catalog: every product still sold at the price in the cart. Prices
/// that changed are updated in the cart, and the shopper is asked to review (409).
async fn recheck(
    carts: &CartStore,
    upstream: &Upstream,
    identity: &Identity,
    cart: &Cart,
) -> Result<(), ApiError> {
    let lookups = cart
        .lines
        .iter()
        .map(|line| upstream.product(identity, &line.sku));
    let products = futures::future::try_join_all(lookups).await?;
    let mut problems = Vec::new();
    for (line, product) in cart.lines.iter().zip(products) {
        match product {
            Some(p) if p.active => {
                if p.price != line.unit_price {
                    problems.push(format!(
                        "{}: price changed from {} to {} {} (the cart now shows the new price)",
                        line.sku,
                        line.unit_price.amount(),
                        p.price.amount(),
                        p.price.currency()
                    ));
                    let mut updated = line.clone();
                    updated.unit_price = p.price;
                    updated.name = p.name;
                    carts.set_line(&identity.subject, &updated).await?;
                }
            }
            _ => problems.push(format!(
                "{}: no longer sold (remove it from the cart)",
                line.sku
            )),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "review your cart before checking out: {}",
            problems.join("; ")
        )))
    }
}

/// Places the order behind `key` (the request's fingerprint is `hash`), or replays what an
/// earlier request with the key answered.
pub async fn checkout(
    pool: &PgPool,
    carts: &CartStore,
    upstream: &Upstream,
    identity: &Identity,
    key: &str,
    hash: &str,
    input: &CheckoutInput,
) -> Result<Claim, ApiError> {
    input.validate()?;
    let customer = identity.subject.as_str();
    if let Some(decided) = stored(pool, customer, key, hash).await? {
        return Ok(decided);
    }
    let mut conn = pool.acquire().await?;
    let cart = cart::load(&mut conn, customer).await?;
    drop(conn);
    if cart.lines.is_empty() {
        // A request with the same key may have placed the order, and emptied the cart, since
        // the first look: then this one answers as that one did.
        if let Some(decided) = stored(pool, customer, key, hash).await? {
            return Ok(decided);
        }
        return Err(ApiError::invalid_field("cart", "the cart is empty"));
    }
    let (checked, contact) = tokio::join!(
        recheck(carts, upstream, identity, &cart),
        upstream.contact(identity)
    );
    checked?;
    let contact: Contact = contact?;
    // The lines summed again, overflow-checked: the order's total is what is charged.
    let total = cart::subtotal(&cart.lines)?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a cart with lines has no subtotal")))?;
    let id = Uuid::now_v7();
    let accepted = CheckoutAccepted {
        order_id: id,
        status: OrderStatus::Pending.as_str().into(),
        total,
    };
    let answer = serde_json::to_value(&accepted).map_err(|e| ApiError::Internal(e.into()))?;

    let mut tx = pool.begin().await?;
    if !claim(&mut tx, customer, key, hash, &answer).await? {
        drop(tx);
        return match stored(pool, customer, key, hash).await? {
            Some(decided) => Ok(decided),
            None => Err(ApiError::Conflict(
                "this Idempotency-Key is being released; retry".into(),
            )),
        };
    }
    let version = cart::bump(&mut tx, customer).await?;
    if version != cart.version + 1 {
        return Err(ApiError::Conflict(
            "the cart changed while checking out; review it and try again".into(),
        ));
    }
    let lines: Vec<OrderLine> = cart
        .lines
        .iter()
        .map(|line| OrderLine {
            sku: line.sku.clone(),
            quantity: u32::try_from(line.quantity).unwrap_or(0),
            unit_price: line.unit_price,
        })
        .collect();
    let timeline =
        json!({"lines": cart.lines.len(), "total": total.amount(), "currency": total.currency()});
    sqlx::query(
        "with placed as ( \
           insert into orders (id, customer_id, status, total_amount, currency, contact) \
           values ($1, $2, 'PENDING', $3, $4, $5) returning id), \
         lines as ( \
           insert into order_lines (order_id, sku, product_id, name, quantity, unit_amount) \
           select placed.id, l.sku, l.product_id, l.name, l.quantity, l.unit_amount from placed, \
             unnest($6::text[], $7::uuid[], $8::text[], $9::int4[], $10::int8[]) \
               as l (sku, product_id, name, quantity, unit_amount)) \
         insert into order_timeline (order_id, step, status, detail) \
         select id, 'placed', 'PENDING', $11 from placed",
    )
    .bind(id)
    .bind(customer)
    .bind(total.amount())
    .bind(total.currency().as_str())
    .bind(sqlx::types::Json(&contact))
    .bind(cart.lines.iter().map(|l| l.sku.clone()).collect::<Vec<_>>())
    .bind(cart.lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
    .bind(
        cart.lines
            .iter()
            .map(|l| l.name.clone())
            .collect::<Vec<_>>(),
    )
    .bind(cart.lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
    .bind(
        cart.lines
            .iter()
            .map(|l| l.unit_price.amount())
            .collect::<Vec<_>>(),
    )
    .bind(sqlx::types::Json(&timeline))
    .execute(&mut *tx)
    .await?;
    let placed = OrderPlaced {
        order_id: id.to_string(),
        customer_id: customer.to_owned(),
        lines,
        total,
        contact,
        payment_method: Some(input.payment_method_id().to_owned()),
    };
    let envelope = Envelope::new(SOURCE, &id.to_string(), None, placed);
    enqueue(&mut tx, &envelope, &id.to_string())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    sqlx::query("delete from cart_lines where customer_id = $1")
        .bind(customer)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    carts
        .cache(
            customer,
            &Cart {
                lines: Vec::new(),
                subtotal: None,
                version,
            },
        )
        .await;
    Ok(Claim::Fresh(202, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(method: &str) -> CheckoutInput {
        CheckoutInput {
            payment_method: method.to_owned(),
        }
    }

    #[test]
    fn payment_methods_are_stripe_ids_and_the_old_tokens_are_aliases() {
        for (given, charged) in [
            ("pm_card_visa", "pm_card_visa"),
            ("pm_1PqRsTuVwXyZ", "pm_1PqRsTuVwXyZ"),
            ("tok_visa", "pm_card_visa"),
            ("tok_async", "pm_card_threeDSecure2Required"),
            (
                "tok_insufficientFunds",
                "pm_card_chargeDeclinedInsufficientFunds",
            ),
        ] {
            let input = input(given);
            assert!(input.validate().is_ok(), "{given}");
            assert_eq!(input.payment_method_id(), charged);
        }
        let longest = format!("pm_{}", "a".repeat(100));
        assert!(input(&longest).validate().is_ok());
        for refused in [
            "pm_",
            "tok_unknown",
            "card_visa",
            "pm_card visa",
            "pm_card-visa",
            &format!("{longest}a"),
        ] {
            assert!(input(refused).validate().is_err(), "{refused}");
        }
    }
}

//! Stock and reservations. Every change locks the stock rows it touches in SKU order (no
//! deadlocks between concurrent orders) and re-checks availability under the lock, and the
//! table's checks refuse `reserved > on_hand` or negative numbers: stock never goes below zero.

use std::collections::BTreeMap;
use std::time::Duration;

use events::payloads::{Shortage, StockLow};
use service_kit::ApiError;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{
    Action, Current, Input, ReleaseReason, ReservationStatus, Stock, can_hold, decide, per_sku,
};

/// Stock of one SKU.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StockLevel {
    /// SKU.
    pub sku: String,
    /// Units in the warehouse.
    pub on_hand: i32,
    /// Units held for orders in flight.
    pub reserved: i32,
    /// `stock.low` is emitted at or below this availability.
    pub low_threshold: i32,
}

impl StockLevel {
    /// Its units, for the stock arithmetic.
    pub fn stock(&self) -> Stock {
        Stock {
            on_hand: self.on_hand,
            reserved: self.reserved,
            low_threshold: self.low_threshold,
        }
    }

    /// Units that can still be sold.
    pub fn available(&self) -> i32 {
        self.stock().available()
    }

    /// Whether it is at or below its low-stock threshold.
    pub fn is_low(&self) -> bool {
        self.stock().is_low()
    }

    fn low_alert(&self) -> Option<StockLow> {
        self.stock().low_alert(&self.sku)
    }
}

/// The result of asking to reserve an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every line is held.
    Held {
        /// Reservation id.
        id: Uuid,
        /// When it lapses.
        expires_at: OffsetDateTime,
        /// SKUs that fell to or below their threshold.
        low: Vec<StockLow>,
    },
    /// Nothing was held: these lines are short.
    Rejected(Vec<Shortage>),
    /// The order was already reserved or decided (a repeated event).
    AlreadyDecided,
}

async fn lock(
    tx: &mut PgConnection,
    skus: &[String],
) -> Result<BTreeMap<String, StockLevel>, sqlx::Error> {
    let rows: Vec<StockLevel> = sqlx::query_as(
        "select sku, on_hand, reserved, low_threshold from stock where sku = any($1) order by sku for update",
    )
    .bind(skus)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.sku.clone(), r)).collect())
}

/// The reservation of `order_id`, if it has one: its id and where it is, locked for this
/// transaction.
async fn locked_reservation(
    tx: &mut PgConnection,
    order_id: &str,
) -> Result<Option<(Uuid, Current)>, sqlx::Error> {
    let row: Option<(Uuid, ReservationStatus, Option<String>)> = sqlx::query_as(
        "select id, status, reason from reservations where order_id = $1 for update",
    )
    .bind(order_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|(id, status, reason)| (id, Current::from_row(status, reason.as_deref()))))
}

/// Holds every line of `order_id`, or none.
pub async fn reserve(
    tx: &mut PgConnection,
    order_id: &str,
    lines: &[(String, u32)],
    hold: Duration,
) -> Result<Reservation, sqlx::Error> {
    let existing: Option<(ReservationStatus, Option<String>)> =
        sqlx::query_as("select status, reason from reservations where order_id = $1")
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?;
    let current = existing.map(|(status, reason)| Current::from_row(status, reason.as_deref()));
    match decide(current, Input::OrderPlaced) {
        Action::Hold => {}
        Action::Commit | Action::CommitAfterExpiry | Action::Release(_) | Action::Nothing => {
            return Ok(Reservation::AlreadyDecided);
        }
    }
    let wanted = per_sku(lines);
    let skus: Vec<String> = wanted.keys().cloned().collect();
    let stock = lock(tx, &skus).await?;
    if let Err(shortages) = can_hold(
        wanted
            .iter()
            .map(|(sku, requested)| (sku.as_str(), *requested)),
        |sku| stock.get(sku).map(StockLevel::stock),
    ) {
        return Ok(Reservation::Rejected(shortages));
    }
    let id = Uuid::now_v7();
    let expires_at = OffsetDateTime::now_utc() + hold;
    sqlx::query(
        "insert into reservations (id, order_id, status, expires_at) values ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(order_id)
    .bind(ReservationStatus::Held)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    let mut low = Vec::new();
    for (sku, quantity) in &wanted {
        let quantity = i32::try_from(*quantity).unwrap_or(i32::MAX);
        let level: StockLevel = sqlx::query_as(
            "update stock set reserved = reserved + $2, updated_at = now() where sku = $1 \
             returning sku, on_hand, reserved, low_threshold",
        )
        .bind(sku)
        .bind(quantity)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "insert into reservation_lines (reservation_id, sku, quantity) values ($1, $2, $3)",
        )
        .bind(id)
        .bind(sku)
        .bind(quantity)
        .execute(&mut *tx)
        .await?;
        low.extend(level.low_alert());
    }
    Ok(Reservation::Held {
        id,
        expires_at,
        low,
    })
}

/// Finishes the held reservation `id` of `order_id` as `action` says: [`Action::Commit`] ships
/// the units, [`Action::Release`] returns them to stock (any other action changes nothing).
/// Returns low-stock alerts.
async fn finish(
    tx: &mut PgConnection,
    id: Uuid,
    order_id: &str,
    action: Action,
) -> Result<Vec<StockLow>, sqlx::Error> {
    let release = match action {
        Action::Commit => None,
        Action::Release(reason) => Some(reason),
        Action::Hold | Action::CommitAfterExpiry | Action::Nothing => return Ok(Vec::new()),
    };
    let commit = release.is_none();
    let lines: Vec<(String, i32)> = sqlx::query_as(
        "select sku, quantity from reservation_lines where reservation_id = $1 order by sku",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let skus: Vec<String> = lines.iter().map(|(s, _)| s.clone()).collect();
    lock(tx, &skus).await?;
    let mut low = Vec::new();
    for (sku, quantity) in &lines {
        let sql = if commit {
            "update stock set on_hand = on_hand - $2, reserved = reserved - $2, updated_at = now() \
             where sku = $1 returning sku, on_hand, reserved, low_threshold"
        } else {
            "update stock set reserved = reserved - $2, updated_at = now() \
             where sku = $1 returning sku, on_hand, reserved, low_threshold"
        };
        let level: StockLevel = sqlx::query_as(sql)
            .bind(sku)
            .bind(quantity)
            .fetch_one(&mut *tx)
            .await?;
        if commit {
            sqlx::query("insert into stock_movements (sku, delta, reason) values ($1, $2, $3)")
                .bind(sku)
                .bind(-quantity)
                .bind(format!("order {order_id} confirmed"))
                .execute(&mut *tx)
                .await?;
            low.extend(level.low_alert());
        }
    }
    let update = sqlx::query(
        "update reservations set status = $2, reason = $3, updated_at = now() where id = $1",
    )
    .bind(id);
    match release {
        Some(reason) => update.bind(ReservationStatus::Released).bind(reason),
        None => update
            .bind(ReservationStatus::Committed)
            .bind(action.commit_reason()),
    }
    .execute(&mut *tx)
    .await?;
    Ok(low)
}

/// What confirming an order did to stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shipment {
    /// The held units were shipped.
    Shipped(Vec<StockLow>),
    /// The reservation had expired, but the units were still there and were shipped.
    ShippedAfterExpiry(Vec<StockLow>),
    /// Already shipped, released by a cancellation, or never reserved: nothing to do.
    Nothing,
    /// The reservation expired and the stock is gone: a confirmed order cannot be filled.
    Short(Vec<Shortage>),
}

/// Ships the held units of a confirmed order. When the reservation expired just before the
/// confirmation arrived (orders and inventory decide on separate clocks), the units are taken
/// again if they are still available.
pub async fn commit(tx: &mut PgConnection, order_id: &str) -> Result<Shipment, sqlx::Error> {
    let found = locked_reservation(tx, order_id).await?;
    let action = decide(found.map(|(_, current)| current), Input::OrderConfirmed);
    let Some((id, _)) = found else {
        return Ok(Shipment::Nothing);
    };
    match action {
        Action::Commit => return Ok(Shipment::Shipped(finish(tx, id, order_id, action).await?)),
        Action::CommitAfterExpiry => {}
        Action::Hold | Action::Release(_) | Action::Nothing => return Ok(Shipment::Nothing),
    }
    let lines: Vec<(String, i32)> = sqlx::query_as(
        "select sku, quantity from reservation_lines where reservation_id = $1 order by sku",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let skus: Vec<String> = lines.iter().map(|(s, _)| s.clone()).collect();
    let stock = lock(tx, &skus).await?;
    if let Err(shortages) = can_hold(
        lines
            .iter()
            .map(|(sku, quantity)| (sku.as_str(), u32::try_from(*quantity).unwrap_or(0))),
        |sku| stock.get(sku).map(StockLevel::stock),
    ) {
        return Ok(Shipment::Short(shortages));
    }
    let mut low = Vec::new();
    for (sku, quantity) in &lines {
        let level: StockLevel = sqlx::query_as(
            "update stock set on_hand = on_hand - $2, updated_at = now() where sku = $1 \
             returning sku, on_hand, reserved, low_threshold",
        )
        .bind(sku)
        .bind(quantity)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("insert into stock_movements (sku, delta, reason) values ($1, $2, $3)")
            .bind(sku)
            .bind(-quantity)
            .bind(format!(
                "order {order_id} confirmed after its reservation expired"
            ))
            .execute(&mut *tx)
            .await?;
        low.extend(level.low_alert());
    }
    sqlx::query(
        "update reservations set status = $2, reason = $3, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(ReservationStatus::Committed)
    .bind(action.commit_reason())
    .execute(&mut *tx)
    .await?;
    Ok(Shipment::ShippedAfterExpiry(low))
}

/// Applies a cancellation or an expiry (`input`) to the reservation of `order_id`: held units
/// return to stock. Returns the reservation id and why it was released, or `None` when nothing
/// was held (or `input` releases nothing).
pub async fn release(
    tx: &mut PgConnection,
    order_id: &str,
    input: Input,
) -> Result<Option<(Uuid, ReleaseReason)>, sqlx::Error> {
    let found = locked_reservation(tx, order_id).await?;
    match (found, decide(found.map(|(_, current)| current), input)) {
        (Some((id, _)), action @ Action::Release(reason)) => {
            finish(tx, id, order_id, action).await?;
            Ok(Some((id, reason)))
        }
        _ => Ok(None),
    }
}

/// Held reservations past their expiry (oldest first), locked for this transaction.
pub async fn expired(tx: &mut PgConnection, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select order_id from reservations where status = $2 and expires_at < now() \
         order by expires_at limit $1 for update skip locked",
    )
    .bind(limit)
    .bind(ReservationStatus::Held)
    .fetch_all(&mut *tx)
    .await
}

/// The stock of a SKU.
pub async fn level(pool: &PgPool, sku: &str) -> Result<Option<StockLevel>, ApiError> {
    Ok(
        sqlx::query_as("select sku, on_hand, reserved, low_threshold from stock where sku = $1")
            .bind(sku)
            .fetch_optional(pool)
            .await?,
    )
}

/// Sets (`on_hand`) or adjusts (`delta`) the units on hand, recording the reason.
pub async fn restock(
    pool: &PgPool,
    sku: &str,
    on_hand: Option<i32>,
    delta: Option<i32>,
    low_threshold: Option<i32>,
    reason: &str,
) -> Result<StockLevel, ApiError> {
    let mut tx = pool.begin().await?;
    sqlx::query("insert into stock (sku, on_hand) values ($1, 0) on conflict (sku) do nothing")
        .bind(sku)
        .execute(&mut *tx)
        .await?;
    let current = lock(&mut tx, &[sku.to_owned()]).await?.remove(sku);
    let current =
        current.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stock row vanished")))?;
    let target = match (on_hand, delta) {
        (Some(value), _) => value,
        (None, Some(delta)) => current.on_hand.saturating_add(delta),
        (None, None) => current.on_hand,
    };
    if target < current.reserved {
        return Err(ApiError::Conflict(format!(
            "{} units are reserved for orders in flight; on hand cannot go below that (asked for {target})",
            current.reserved
        )));
    }
    let level: StockLevel = sqlx::query_as(
        "update stock set on_hand = $2, low_threshold = coalesce($3, low_threshold), updated_at = now() \
         where sku = $1 returning sku, on_hand, reserved, low_threshold",
    )
    .bind(sku)
    .bind(target)
    .bind(low_threshold)
    .fetch_one(&mut *tx)
    .await?;
    if target != current.on_hand {
        sqlx::query("insert into stock_movements (sku, delta, reason) values ($1, $2, $3)")
            .bind(sku)
            .bind(target - current.on_hand)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(level)
}

/// Sets units on hand for many SKUs at once, in SKU order (one transaction, all or nothing).
pub async fn count(
    pool: &PgPool,
    lines: &[(String, i32)],
    reason: &str,
) -> Result<usize, ApiError> {
    let mut sorted: Vec<&(String, i32)> = lines.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut tx = pool.begin().await?;
    for (sku, on_hand) in sorted {
        let before: Option<(i32, i32)> =
            sqlx::query_as("select on_hand, reserved from stock where sku = $1 for update")
                .bind(sku)
                .fetch_optional(&mut *tx)
                .await?;
        let (previous, reserved) = before.unwrap_or((0, 0));
        if *on_hand < reserved {
            return Err(ApiError::Conflict(format!(
                "{sku}: {reserved} units are reserved; the count {on_hand} is lower"
            )));
        }
        sqlx::query(
            "insert into stock (sku, on_hand) values ($1, $2) \
             on conflict (sku) do update set on_hand = excluded.on_hand, updated_at = now()",
        )
        .bind(sku)
        .bind(on_hand)
        .execute(&mut *tx)
        .await?;
        if *on_hand != previous {
            sqlx::query("insert into stock_movements (sku, delta, reason) values ($1, $2, $3)")
                .bind(sku)
                .bind(on_hand - previous)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(lines.len())
}

/// A page of stock levels in SKU order after `after`; only low ones when `low_only`.
pub async fn levels(
    pool: &PgPool,
    low_only: bool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<StockLevel>, ApiError> {
    Ok(sqlx::query_as::<_, StockLevel>(
        "select sku, on_hand, reserved, low_threshold from stock \
         where ($1::text is null or sku > $1) \
           and (not $2 or on_hand - reserved <= low_threshold) \
         order by sku limit $3",
    )
    .bind(after)
    .bind(low_only)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// One line of a reservation in flight.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HeldLine {
    /// The order holding the units.
    pub order_id: String,
    /// SKU.
    pub sku: String,
    /// Units held.
    pub quantity: i32,
    /// When the hold lapses unless the order is confirmed (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}

/// A page of held reservation lines in `(order_id, sku)` order after `after`.
pub async fn held(
    pool: &PgPool,
    after: Option<&(String, String)>,
    limit: i64,
) -> Result<Vec<HeldLine>, ApiError> {
    Ok(sqlx::query_as::<_, HeldLine>(
        "select r.order_id, l.sku, l.quantity, r.expires_at \
         from reservations r join reservation_lines l on l.reservation_id = r.id \
         where r.status = $4 \
           and ($1::text is null or (r.order_id, l.sku) > ($1, $2)) \
         order by r.order_id, l.sku limit $3",
    )
    .bind(after.map(|a| a.0.as_str()))
    .bind(after.map_or("", |a| a.1.as_str()))
    .bind(limit)
    .bind(ReservationStatus::Held)
    .fetch_all(pool)
    .await?)
}

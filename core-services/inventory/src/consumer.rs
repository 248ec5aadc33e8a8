//! Events in and out: `order.placed` reserves, `order.confirmed` ships, `order.cancelled`
//! releases; the answers (`inventory.reserved`, `inventory.rejected`, `inventory.released`,
//! `stock.low`) go through the outbox in the same transaction.

use std::time::Duration;

use events::payloads::{
    InventoryRejected, InventoryReleased, InventoryReserved, OrderCancelled, OrderConfirmed,
    OrderPlaced, StockLow,
};
use events::{Envelope, Event};
use service_kit::messaging::{Handler, HandlerError, Received, enqueue};
use sqlx::{PgConnection, PgPool};

use crate::domain::Input;
use crate::store::{self, Reservation, Shipment};

/// The `source` of every event this service emits.
pub const SOURCE: &str = "/inventory";

/// The routing keys the inventory queue is bound to.
pub const CONSUMES: &[&str] = &[
    OrderPlaced::TYPE,
    OrderCancelled::TYPE,
    OrderConfirmed::TYPE,
];

/// Applies order events to stock.
#[derive(Debug, Clone)]
pub struct OrderEvents {
    /// How long a reservation holds stock.
    pub hold: Duration,
}

fn parse<T: Event>(event: &Received) -> Result<Envelope<T>, HandlerError> {
    Envelope::<T>::parse(&event.body).map_err(|e| HandlerError::Permanent(e.to_string()))
}

/// Database and outbox failures, classified (an unreachable database costs no attempt).
fn retry(err: impl Into<HandlerError>) -> HandlerError {
    err.into()
}

async fn emit<T: Event>(
    tx: &mut PgConnection,
    cause: &Received,
    aggregate: &str,
    data: T,
) -> Result<(), HandlerError> {
    let envelope = Envelope::new(
        SOURCE,
        &cause.attributes.correlationid,
        Some(&cause.attributes.id),
        data,
    );
    enqueue(tx, &envelope, aggregate).await.map_err(retry)
}

async fn emit_low(
    tx: &mut PgConnection,
    cause: &Received,
    low: Vec<StockLow>,
) -> Result<(), HandlerError> {
    for alert in low {
        let sku = alert.sku.clone();
        emit(tx, cause, &sku, alert).await?;
    }
    Ok(())
}

impl Handler for OrderEvents {
    async fn handle(&self, tx: &mut PgConnection, event: &Received) -> Result<(), HandlerError> {
        match event.attributes.event_type.as_str() {
            OrderPlaced::TYPE => {
                let order = parse::<OrderPlaced>(event)?.data;
                let lines: Vec<(String, u32)> = order
                    .lines
                    .iter()
                    .map(|l| (l.sku.clone(), l.quantity))
                    .collect();
                match store::reserve(tx, &order.order_id, &lines, self.hold)
                    .await
                    .map_err(retry)?
                {
                    Reservation::Held {
                        id,
                        expires_at,
                        low,
                    } => {
                        let expires_at = expires_at
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default();
                        let reserved = InventoryReserved {
                            order_id: order.order_id.clone(),
                            reservation_id: id.to_string(),
                            expires_at,
                            total: order.total,
                        };
                        emit(tx, event, &order.order_id, reserved).await?;
                        emit_low(tx, event, low).await
                    }
                    Reservation::Rejected(shortages) => {
                        let rejected = InventoryRejected {
                            order_id: order.order_id.clone(),
                            shortages,
                        };
                        emit(tx, event, &order.order_id, rejected).await
                    }
                    Reservation::AlreadyDecided => Ok(()),
                }
            }
            OrderConfirmed::TYPE => {
                let order = parse::<OrderConfirmed>(event)?.data;
                match store::commit(tx, &order.order_id).await.map_err(retry)? {
                    Shipment::Shipped(low) => emit_low(tx, event, low).await,
                    Shipment::ShippedAfterExpiry(low) => {
                        tracing::warn!(order = %order.order_id, "order confirmed after its reservation expired; units taken again");
                        emit_low(tx, event, low).await
                    }
                    Shipment::Nothing => Ok(()),
                    // Parked with the reason for operations: a confirmed order that stock cannot fill.
                    Shipment::Short(shortages) => Err(HandlerError::Permanent(format!(
                        "order {} was confirmed after its reservation expired and stock is short: {}",
                        order.order_id,
                        shortages
                            .iter()
                            .map(|s| format!(
                                "{} wants {}, {} available",
                                s.sku, s.requested, s.available
                            ))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))),
                }
            }
            OrderCancelled::TYPE => {
                let order = parse::<OrderCancelled>(event)?.data;
                if let Some((id, reason)) =
                    store::release(tx, &order.order_id, Input::OrderCancelled)
                        .await
                        .map_err(retry)?
                {
                    let released = InventoryReleased {
                        order_id: order.order_id.clone(),
                        reservation_id: id.to_string(),
                        reason: reason.to_string(),
                    };
                    emit(tx, event, &order.order_id, released).await?;
                }
                Ok(())
            }
            // Bound only to the keys above; anything else is not ours to act on.
            _ => Ok(()),
        }
    }
}

/// Releases reservations whose time ran out and says so (`inventory.released`, reason
/// `expired`), which cancels their orders. Returns how many were released.
pub async fn sweep_expired(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let orders = store::expired(&mut tx, 100).await?;
    for order_id in &orders {
        if let Some((id, reason)) = store::release(&mut tx, order_id, Input::Expired).await? {
            let released = InventoryReleased {
                order_id: order_id.clone(),
                reservation_id: id.to_string(),
                reason: reason.to_string(),
            };
            let envelope = Envelope::new(SOURCE, order_id, None, released);
            enqueue(&mut tx, &envelope, order_id)
                .await
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        }
    }
    tx.commit().await?;
    Ok(orders.len())
}

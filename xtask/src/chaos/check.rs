//! After the run: what the platform holds ([`Snapshot`], read from its databases, the provider,
//! moto, the broker and the webhook receiver) and the invariants it must satisfy ([`check`]).
//! The check is a pure function of the snapshot, so its own tests plant defects in one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::faults::Applied;
use super::load::{Placed, Sample, approves};

/// An order as orders stores it.
#[derive(Debug, Clone, Default)]
pub struct Order {
    /// Shopper.
    pub customer: String,
    /// Status.
    pub status: String,
    /// Total in minor units.
    pub total: i64,
    /// `(sku, quantity)`.
    pub lines: Vec<(String, i64)>,
    /// Seconds from its creation to its last change.
    pub settled_seconds: f64,
}

/// A payment with its ledger summed per kind.
#[derive(Debug, Clone, Default)]
pub struct Payment {
    /// Payment status.
    pub status: String,
    /// Amount asked.
    pub amount: i64,
    /// The provider's authorization id.
    pub reference: Option<String>,
    /// Ledger: authorized.
    pub authorized: i64,
    /// Ledger: captured.
    pub captured: i64,
    /// Ledger: voided.
    pub voided: i64,
    /// Ledger: refunded.
    pub refunded: i64,
}

/// One webhook delivery the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `webhook-id` (the event id).
    pub id: String,
    /// Event type.
    pub event_type: String,
    /// The order it is about.
    pub order_id: String,
}

/// A message parked in a dead-letter queue.
#[derive(Debug, Clone)]
pub struct Parked {
    /// The queue.
    pub queue: String,
    /// Message id.
    pub id: String,
    /// Why it was parked.
    pub reason: String,
}

/// Everything the invariants are checked against.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Orders by id.
    pub orders: BTreeMap<String, Order>,
    /// Checkouts as the clients know them.
    pub placed: Vec<Placed>,
    /// Units on hand per SKU at the start.
    pub initial_stock: BTreeMap<String, i64>,
    /// `(on_hand, reserved)` per SKU at the end.
    pub stock: BTreeMap<String, (i64, i64)>,
    /// The lowest `on_hand - reserved` sampled during the run.
    pub lowest_available: Option<i64>,
    /// Payments by order id.
    pub payments: BTreeMap<String, Payment>,
    /// The provider's authorization status by authorization id.
    pub provider: BTreeMap<String, String>,
    /// E-mails sent, per order id they mention.
    pub emails: BTreeMap<String, u32>,
    /// Webhook deliveries received.
    pub webhooks: Vec<Delivery>,
    /// Unpublished outbox rows per service.
    pub outbox_pending: BTreeMap<String, i64>,
    /// Dead-lettered messages.
    pub dead_letters: Vec<Parked>,
    /// Every answer the clients saw.
    pub samples: Vec<Sample>,
    /// The faults.
    pub faults: Vec<Applied>,
}

/// One invariant's result.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Invariant.
    pub name: &'static str,
    /// Items checked.
    pub checked: usize,
    /// Items that broke it.
    pub failed: usize,
    /// The first few breaches.
    pub examples: Vec<String>,
}

impl Outcome {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }

    fn pass(&mut self) {
        self.checked += 1;
    }

    fn fail(&mut self, detail: String) {
        self.checked += 1;
        self.failed += 1;
        if self.examples.len() < 10 {
            self.examples.push(detail);
        }
    }

    /// Whether it held.
    pub fn held(&self) -> bool {
        self.failed == 0
    }
}

/// Answers seen within this long after a fault's recovery still count as the fault's.
pub const GRACE_SECONDS: f64 = 2.0;

fn terminal(status: &str) -> bool {
    matches!(status, "CONFIRMED" | "CANCELLED")
}

/// Checks every invariant.
pub fn check(s: &Snapshot) -> Vec<Outcome> {
    vec![
        orders(s),
        idempotency(s),
        outcomes(s),
        stock(s),
        money(s),
        notifications(s),
        webhooks(s),
        queues(s),
        clients(s),
    ]
}

/// Every accepted order is in exactly one terminal state.
fn orders(s: &Snapshot) -> Outcome {
    let mut o = Outcome::new("orders: every accepted order ended, once");
    for placed in &s.placed {
        for id in &placed.order_ids {
            match s.orders.get(id) {
                Some(order) if !terminal(&order.status) => {
                    o.fail(format!("order {id} is still {}", order.status));
                }
                Some(order) if order.customer != placed.customer || !same_lines(order, placed) => {
                    o.fail(format!(
                        "order {id} of {} with {:?} is not what {} put in the cart: {:?}",
                        order.customer, order.lines, placed.customer, placed.lines
                    ));
                }
                Some(_) => o.pass(),
                None => o.fail(format!("order {id} was accepted but does not exist")),
            }
        }
        if placed.outcome.starts_with("gave up") {
            o.fail(format!(
                "checkout {} never got an answer: {}",
                placed.key, placed.outcome
            ));
        }
    }
    o
}

fn same_lines(order: &Order, placed: &Placed) -> bool {
    let mut a = order.lines.clone();
    let mut b = placed.lines.clone();
    a.sort();
    b.sort();
    a == b
}

/// No idempotency key led to two orders; no order exists that no client was told about.
fn idempotency(s: &Snapshot) -> Outcome {
    let mut o = Outcome::new("orders: one order per idempotency key");
    let mut known = BTreeSet::new();
    for placed in &s.placed {
        if placed.order_ids.len() > 1 {
            o.fail(format!(
                "key {} was accepted as {} orders: {:?}",
                placed.key,
                placed.order_ids.len(),
                placed.order_ids
            ));
        } else {
            o.pass();
        }
        known.extend(placed.order_ids.iter().cloned());
    }
    for (id, order) in &s.orders {
        if !known.contains(id) {
            o.fail(format!(
                "order {id} of {} ({}) answers no client's key",
                order.customer, order.status
            ));
        }
    }
    o
}

/// A declined, failed or timed-out payment never confirms an order.
fn outcomes(s: &Snapshot) -> Outcome {
    let mut o = Outcome::new("orders: declined payments never confirm");
    for placed in &s.placed {
        for id in &placed.order_ids {
            if let Some(order) = s.orders.get(id) {
                if order.status == "CONFIRMED" && !approves(placed.token) {
                    o.fail(format!(
                        "order {id} paid with {} is CONFIRMED",
                        placed.token
                    ));
                } else {
                    o.pass();
                }
            }
        }
    }
    o
}

/// Per SKU: initial stock minus confirmed units is on hand; nothing stays reserved; stock never
/// went below zero.
fn stock(s: &Snapshot) -> Outcome {
    let mut o = Outcome::new("stock: on hand = initial - confirmed, none reserved, never < 0");
    let mut sold: BTreeMap<&str, i64> = BTreeMap::new();
    for order in s.orders.values().filter(|o| o.status == "CONFIRMED") {
        for (sku, quantity) in &order.lines {
            *sold.entry(sku.as_str()).or_default() += quantity;
        }
    }
    for (sku, initial) in &s.initial_stock {
        let expected = initial - sold.get(sku.as_str()).copied().unwrap_or(0);
        match s.stock.get(sku) {
            Some((on_hand, reserved)) if *on_hand == expected && *reserved == 0 => o.pass(),
            Some((on_hand, reserved)) => o.fail(format!(
                "{sku}: on hand {on_hand} (expected {initial} - {} = {expected}), reserved {reserved}",
                initial - expected
            )),
            None => o.fail(format!("{sku}: no stock row")),
        }
    }
    match s.lowest_available {
        Some(low) if low < 0 => o.fail(format!("available stock went down to {low}")),
        _ => o.pass(),
    }
    o
}

/// Per order, the ledger reconciles with the order and with the provider.
fn money(s: &Snapshot) -> Outcome {
    let mut o = Outcome::new("money: captured = total if confirmed; else nothing, hold voided");
    for (id, order) in &s.orders {
        let payment = s.payments.get(id);
        let provider = payment
            .and_then(|p| p.reference.as_ref())
            .and_then(|r| s.provider.get(r))
            .map(String::as_str);
        match (order.status.as_str(), payment) {
            ("CONFIRMED", Some(p)) => {
                if p.captured == order.total
                    && p.amount == order.total
                    && p.authorized == order.total
                    && p.voided == 0
                    && p.refunded == 0
                    && p.status == "captured"
                    && provider == Some("succeeded")
                {
                    o.pass();
                } else {
                    o.fail(format!(
                        "confirmed order {id} (total {}): payment {} of {} authorized {} captured {} voided {}, provider {provider:?}",
                        order.total, p.status, p.amount, p.authorized, p.captured, p.voided
                    ));
                }
            }
            ("CONFIRMED", None) => o.fail(format!("confirmed order {id} has no payment")),
            ("CANCELLED", Some(p)) => {
                let hold_released = p.authorized == 0 || p.voided == p.authorized;
                let provider_released = !matches!(provider, Some("requires_capture" | "succeeded"));
                if p.captured == 0 && hold_released && provider_released {
                    o.pass();
                } else {
                    o.fail(format!(
                        "cancelled order {id}: payment {} authorized {} captured {} voided {}, provider {provider:?}",
                        p.status, p.authorized, p.captured, p.voided
                    ));
                }
            }
            _ => o.pass(),
        }
    }
    for id in s.payments.keys() {
        if !s.orders.contains_key(id) {
            o.fail(format!("payment for unknown order {id}"));
        }
    }
    o
}

/// Exactly one e-mail (confirmation or cancellation) per ended order.
fn notifications(s: &Snapshot) -> Outcome {
    let mut o = Outcome::new("notifications: one e-mail per order");
    for (id, order) in &s.orders {
        if !terminal(&order.status) {
            continue;
        }
        match s.emails.get(id).copied().unwrap_or(0) {
            1 => o.pass(),
            0 => o.fail(format!("no e-mail for {} order {id}", order.status)),
            n => o.fail(format!("{n} e-mails for {} order {id}", order.status)),
        }
    }
    o
}

/// Each ended order's event reached the subscription, as one event (redeliveries of the same
/// `webhook-id` are the at-least-once contract, counted in the report).
fn webhooks(s: &Snapshot) -> Outcome {
    let mut o = Outcome::new("webhooks: each event delivered to the subscriber");
    let mut events: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for d in &s.webhooks {
        events
            .entry(d.order_id.as_str())
            .or_default()
            .insert((d.event_type.as_str(), d.id.as_str()));
    }
    for (id, order) in &s.orders {
        if !terminal(&order.status) {
            continue;
        }
        let expected = format!("order.{}", order.status.to_lowercase());
        let got = events.get(id.as_str()).cloned().unwrap_or_default();
        let matching: Vec<_> = got.iter().filter(|(t, _)| *t == expected).collect();
        match matching.len() {
            1 => o.pass(),
            0 => o.fail(format!("{expected} of {id} never reached the subscriber")),
            n => o.fail(format!(
                "{expected} of {id} reached the subscriber as {n} different events"
            )),
        }
    }
    o
}

/// Outboxes are empty; nothing is dead-lettered.
fn queues(s: &Snapshot) -> Outcome {
    let mut o = Outcome::new("queues: outboxes empty, nothing dead-lettered");
    for (service, pending) in &s.outbox_pending {
        if *pending == 0 {
            o.pass();
        } else {
            o.fail(format!("{service}: {pending} events never published"));
        }
    }
    for parked in &s.dead_letters {
        o.fail(format!(
            "{} parked {}: {}",
            parked.queue, parked.id, parked.reason
        ));
    }
    o
}

/// The fault window a moment falls in.
pub fn window_of(faults: &[Applied], from: f64, to: f64) -> Option<&Applied> {
    faults.iter().find(|f| {
        let end = f.recovered.unwrap_or(f64::INFINITY) + GRACE_SECONDS;
        from <= end && to >= f.at
    })
}

/// Server errors and failed connections happen only inside an injected outage.
fn clients(s: &Snapshot) -> Outcome {
    let mut o = Outcome::new("clients: 5xx only inside a fault window");
    for sample in &s.samples {
        let errored = sample.status == 0 || sample.status >= 500;
        let end = sample.at + sample.latency_ms / 1000.0;
        if errored && window_of(&s.faults, sample.at, end).is_none() {
            o.fail(format!(
                "{} answered {} at {:.1}s, outside any fault",
                sample.what,
                if sample.status == 0 {
                    "no response".to_owned()
                } else {
                    sample.status.to_string()
                },
                sample.at
            ));
        } else {
            o.pass();
        }
    }
    for fault in &s.faults {
        if fault.recovered.is_none() {
            o.fail(format!("the platform did not recover from {}", fault.name));
        }
    }
    o
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Requests, errors and latency per phase: steady (no fault) and each fault.
pub fn phases(s: &Snapshot) -> Vec<Value> {
    let mut by: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
    for sample in &s.samples {
        let end = sample.at + sample.latency_ms / 1000.0;
        let phase =
            window_of(&s.faults, sample.at, end).map_or("steady".to_owned(), |f| f.name.clone());
        by.entry(phase).or_default().push(sample);
    }
    by.into_iter()
        .map(|(phase, samples)| {
            let errors = samples
                .iter()
                .filter(|x| x.status == 0 || x.status >= 500)
                .count();
            let mut latencies: Vec<f64> = samples.iter().map(|x| x.latency_ms).collect();
            latencies.sort_by(f64::total_cmp);
            json!({
                "phase": phase,
                "requests": samples.len(),
                "errors": errors,
                "error_rate": errors as f64 / samples.len().max(1) as f64,
                "p50_ms": percentile(&latencies, 50.0),
                "p95_ms": percentile(&latencies, 95.0),
                "p99_ms": percentile(&latencies, 99.0),
            })
        })
        .collect()
}

/// Finds the order ids (UUIDs) a text mentions.
pub fn uuids_in(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut found = BTreeSet::new();
    if bytes.len() < 36 {
        return found;
    }
    let mut i = 0;
    while i + 36 <= bytes.len() {
        let window = &bytes[i..i + 36];
        let shaped = window.iter().enumerate().all(|(k, b)| match k {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
        if shaped {
            found.insert(String::from_utf8_lossy(window).to_lowercase());
            i += 36;
        } else {
            i += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0193e0a0-0000-7000-8000-00000000000a";
    const B: &str = "0193e0a0-0000-7000-8000-00000000000b";

    fn placed(key: &str, customer: &str, order: &str, token: &'static str, units: i64) -> Placed {
        Placed {
            key: key.into(),
            customer: customer.into(),
            token,
            lines: vec![("SKU-1".into(), units)],
            order_ids: vec![order.into()],
            outcome: "202".into(),
        }
    }

    /// Two orders, one confirmed and one cancelled after its hold was voided, with everything
    /// that follows from them.
    fn healthy() -> Snapshot {
        let mut s = Snapshot::default();
        s.orders.insert(
            A.into(),
            Order {
                customer: "c1".into(),
                status: "CONFIRMED".into(),
                total: 2000,
                lines: vec![("SKU-1".into(), 2)],
                ..Order::default()
            },
        );
        s.orders.insert(
            B.into(),
            Order {
                customer: "c2".into(),
                status: "CANCELLED".into(),
                total: 1000,
                lines: vec![("SKU-1".into(), 1)],
                ..Order::default()
            },
        );
        s.placed = vec![
            placed("k1", "c1", A, "pm_card_visa", 2),
            placed(
                "k2",
                "c2",
                B,
                "pm_card_threeDSecureRequiredChargeDeclined",
                1,
            ),
        ];
        s.initial_stock.insert("SKU-1".into(), 5);
        s.stock.insert("SKU-1".into(), (3, 0));
        s.lowest_available = Some(2);
        s.payments.insert(
            A.into(),
            Payment {
                status: "captured".into(),
                amount: 2000,
                reference: Some("auth-a".into()),
                authorized: 2000,
                captured: 2000,
                ..Payment::default()
            },
        );
        s.payments.insert(
            B.into(),
            Payment {
                status: "voided".into(),
                amount: 1000,
                reference: Some("auth-b".into()),
                authorized: 1000,
                voided: 1000,
                ..Payment::default()
            },
        );
        s.provider.insert("auth-a".into(), "succeeded".into());
        s.provider.insert("auth-b".into(), "canceled".into());
        s.emails.insert(A.into(), 1);
        s.emails.insert(B.into(), 1);
        for (id, order, kind) in [("e1", A, "order.confirmed"), ("e2", B, "order.cancelled")] {
            s.webhooks.push(Delivery {
                id: id.into(),
                event_type: kind.into(),
                order_id: order.into(),
            });
        }
        s.outbox_pending.insert("orders".into(), 0);
        s.samples.push(Sample {
            at: 1.0,
            latency_ms: 5.0,
            status: 202,
            what: "checkout",
        });
        s
    }

    fn broken(s: &Snapshot) -> Vec<&'static str> {
        check(s)
            .into_iter()
            .filter(|o| !o.held())
            .map(|o| o.name)
            .collect()
    }

    #[test]
    fn a_healthy_run_passes_every_invariant() {
        assert_eq!(broken(&healthy()), Vec::<&str>::new());
    }

    #[test]
    fn an_order_left_in_flight_fails_the_orders_invariant() {
        let mut s = healthy();
        s.orders.get_mut(A).unwrap().status = "PAID".into();
        assert!(broken(&s).contains(&"orders: every accepted order ended, once"));
    }

    #[test]
    fn a_duplicated_email_fails_the_notifications_invariant() {
        let mut s = healthy();
        s.emails.insert(B.into(), 2);
        assert_eq!(broken(&s), vec!["notifications: one e-mail per order"]);
    }

    #[test]
    fn stock_off_by_one_fails_the_stock_invariant() {
        let mut s = healthy();
        s.stock.insert("SKU-1".into(), (4, 0));
        assert_eq!(
            broken(&s),
            vec!["stock: on hand = initial - confirmed, none reserved, never < 0"]
        );
    }

    #[test]
    fn a_removed_ledger_row_fails_the_money_invariant() {
        let mut s = healthy();
        // The void of the cancelled order's hold is gone.
        s.payments.get_mut(B).unwrap().voided = 0;
        assert_eq!(
            broken(&s),
            vec!["money: captured = total if confirmed; else nothing, hold voided"]
        );
        let mut s = healthy();
        s.payments.get_mut(A).unwrap().captured = 0;
        assert_eq!(
            broken(&s),
            vec!["money: captured = total if confirmed; else nothing, hold voided"]
        );
    }

    #[test]
    fn a_key_accepted_twice_and_an_unknown_order_fail_idempotency() {
        let mut s = healthy();
        s.placed[0].order_ids.push(B.into());
        assert!(broken(&s).contains(&"orders: one order per idempotency key"));
        let mut s = healthy();
        s.placed.pop();
        assert!(broken(&s).contains(&"orders: one order per idempotency key"));
    }

    #[test]
    fn a_missing_webhook_a_parked_message_and_a_stray_5xx_each_fail() {
        let mut s = healthy();
        s.webhooks.pop();
        assert_eq!(
            broken(&s),
            vec!["webhooks: each event delivered to the subscriber"]
        );
        let mut s = healthy();
        s.dead_letters.push(Parked {
            queue: "orders.dlq".into(),
            id: "m1".into(),
            reason: "boom".into(),
        });
        assert_eq!(
            broken(&s),
            vec!["queues: outboxes empty, nothing dead-lettered"]
        );
        let mut s = healthy();
        s.samples.push(Sample {
            at: 50.0,
            latency_ms: 3.0,
            status: 502,
            what: "cart",
        });
        assert_eq!(broken(&s), vec!["clients: 5xx only inside a fault window"]);
        // The same answer inside a fault's window is the fault's.
        s.faults.push(Applied {
            name: "kill-orders".into(),
            kind: "kill",
            at: 49.0,
            healed: 51.0,
            recovered: Some(52.0),
        });
        assert_eq!(broken(&s), Vec::<&str>::new());
    }

    #[test]
    fn an_order_that_is_not_what_was_in_the_cart_fails() {
        let mut s = healthy();
        s.orders.get_mut(A).unwrap().lines = vec![("SKU-1".into(), 3)];
        assert!(broken(&s).contains(&"orders: every accepted order ended, once"));
    }

    #[test]
    fn a_declined_payment_that_confirms_fails() {
        let mut s = healthy();
        s.placed[0].token = "pm_card_chargeDeclined";
        assert_eq!(broken(&s), vec!["orders: declined payments never confirm"]);
    }

    #[test]
    fn uuids_are_found_in_text() {
        let text = format!("Your order {A} is confirmed.\n{A} {B}x");
        let found = uuids_in(&text);
        assert_eq!(found.len(), 2);
        assert!(found.contains(A) && found.contains(B));
        assert!(uuids_in("short").is_empty());
    }
}

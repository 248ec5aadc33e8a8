//! The inventory's rules, with no I/O: a reservation's states ([`ReservationStatus`]) and why
//! it was committed or released ([`CommitReason`], [`ReleaseReason`]), what an order event or
//! an expiry does to it ([`decide`]), and the stock arithmetic ([`Stock`]: what is available,
//! when a SKU is low; [`can_hold`]: every line of an order or none). `crate::store` carries
//! the decisions out in PostgreSQL under row locks; SQL maps the enums to and from their text
//! columns here and nowhere else.

mod reservation;
mod stock;

pub use reservation::{
    Action, CommitReason, Current, Input, ReleaseReason, ReservationStatus, decide,
};
pub use stock::{Stock, can_hold, per_sku, shortage};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const SKUS: [&str; 2] = ["A", "B"];
    const ORDERS: usize = 4;

    /// What can happen, as the consumer, the sweeper and the back office see it.
    #[derive(Debug, Clone)]
    enum Step {
        /// `order.placed` with these lines (SKUs repeated, some unknown).
        Placed(usize, Vec<(String, u32)>),
        /// `order.confirmed`, `order.cancelled` or the sweeper (a repeated `order.placed` is a
        /// second [`Step::Placed`] of the same order).
        Event(usize, Input),
        /// A stock count sets `on_hand` (refused below the reserved units).
        Count(&'static str, i32),
    }

    fn any_step() -> impl Strategy<Value = Step> {
        let order = 0..ORDERS;
        let sku = prop::sample::select(&["A", "B", "C"][..]);
        prop_oneof![
            (
                order.clone(),
                prop::collection::vec((sku, 1_u32..6), 1..4)
                    .prop_map(|lines| lines.into_iter().map(|(s, q)| (s.to_owned(), q)).collect())
            )
                .prop_map(|(o, lines)| Step::Placed(o, lines)),
            (
                order,
                prop_oneof![
                    Just(Input::OrderConfirmed),
                    Just(Input::OrderCancelled),
                    Just(Input::Expired),
                ]
            )
                .prop_map(|(o, input)| Step::Event(o, input)),
            (prop::sample::select(&SKUS[..]), 0_i32..12).prop_map(|(s, n)| Step::Count(s, n)),
        ]
    }

    fn units(q: u32) -> i32 {
        i32::try_from(q).unwrap_or(i32::MAX)
    }

    /// The store as the domain sees it: stock per SKU, each order's reservation and held
    /// lines, and what `on_hand` must be (counts minus shipped units).
    #[derive(Debug)]
    struct World {
        stock: BTreeMap<String, Stock>,
        orders: BTreeMap<usize, (Current, BTreeMap<String, u32>)>,
        on_hand: BTreeMap<String, i32>,
    }

    impl World {
        fn new(initial: &[i32]) -> Self {
            let stock: BTreeMap<String, Stock> = SKUS
                .iter()
                .zip(initial)
                .map(|(sku, on_hand)| {
                    let level = Stock {
                        on_hand: *on_hand,
                        reserved: 0,
                        low_threshold: 2,
                    };
                    ((*sku).to_owned(), level)
                })
                .collect();
            let on_hand = stock
                .iter()
                .map(|(sku, level)| (sku.clone(), level.on_hand))
                .collect();
            Self {
                stock,
                orders: BTreeMap::new(),
                on_hand,
            }
        }

        fn can_hold(&self, lines: &BTreeMap<String, u32>) -> bool {
            can_hold(lines.iter().map(|(s, q)| (s.as_str(), *q)), |sku| {
                self.stock.get(sku).copied()
            })
            .is_ok()
        }

        /// Applies `action` to `order` as the store does; whether anything changed.
        fn apply(&mut self, order: usize, action: Action, lines: &[(String, u32)]) -> bool {
            let held = self
                .orders
                .get(&order)
                .map(|(_, held)| held.clone())
                .unwrap_or_default();
            let (current, lines) = match action {
                Action::Hold => {
                    let wanted = per_sku(lines);
                    if !self.can_hold(&wanted) {
                        return false;
                    }
                    for (sku, q) in &wanted {
                        // can_hold found every SKU: an unknown one has nothing to hold.
                        if let Some(level) = self.stock.get_mut(sku) {
                            *level = level.hold(units(*q));
                        }
                    }
                    (Current::HELD, wanted)
                }
                Action::Commit | Action::CommitAfterExpiry => {
                    let again = action == Action::CommitAfterExpiry;
                    if again && !self.can_hold(&held) {
                        return false;
                    }
                    for (sku, q) in &held {
                        if let Some(level) = self.stock.get_mut(sku) {
                            *level = if again {
                                level.take(units(*q))
                            } else {
                                level.commit(units(*q))
                            };
                        }
                        if let Some(n) = self.on_hand.get_mut(sku) {
                            *n -= units(*q);
                        }
                    }
                    let reason = action.commit_reason().map(CommitReason::as_str);
                    (
                        Current::from_row(ReservationStatus::Committed, reason),
                        held,
                    )
                }
                Action::Release(reason) => {
                    for (sku, q) in &held {
                        if let Some(level) = self.stock.get_mut(sku) {
                            *level = level.release(units(*q));
                        }
                    }
                    let reason = Some(reason.as_str());
                    (Current::from_row(ReservationStatus::Released, reason), held)
                }
                Action::Nothing => return false,
            };
            self.orders.insert(order, (current, lines));
            true
        }

        /// A stock count, refused below the reserved units as the store refuses it.
        fn count(&mut self, sku: &str, count: i32) {
            if let Some(level) = self.stock.get_mut(sku)
                && count >= level.reserved
            {
                level.on_hand = count;
                self.on_hand.insert(sku.to_owned(), count);
            }
        }

        /// Units held for `sku` by the reservations that are held.
        fn held_units(&self, sku: &str) -> i32 {
            let held: u32 = self
                .orders
                .values()
                .filter(|(current, _)| current.status == ReservationStatus::Held)
                .filter_map(|(_, lines)| lines.get(sku))
                .sum();
            units(held)
        }
    }

    proptest! {
        /// Whatever arrives, in whatever order and however often, driven by [`decide`] and the
        /// stock arithmetic as the store applies them: no level ever fails the table's checks
        /// (available never below zero), `reserved` is exactly the units of the held
        /// reservations, `on_hand` moves only by counts and shipped units (nothing created or
        /// lost), a committed reservation never changes again and a released one only when its
        /// hold expired and the units were taken again.
        #[test]
        fn reservations_conserve_units_and_never_oversell(
            initial in prop::collection::vec(0_i32..12, SKUS.len()),
            history in prop::collection::vec(any_step(), 0..40),
        ) {
            let mut world = World::new(&initial);
            for step in history {
                let (order, input, lines) = match &step {
                    Step::Placed(order, lines) => (*order, Input::OrderPlaced, lines.as_slice()),
                    Step::Event(order, input) => (*order, *input, &[][..]),
                    Step::Count(sku, count) => {
                        world.count(sku, *count);
                        continue;
                    }
                };
                let before = world.orders.get(&order).map(|(current, _)| *current);
                let action = decide(before, input);
                let applied = world.apply(order, action, lines);
                let after = world.orders.get(&order).map(|(current, _)| *current);
                let (from, to) = (before.map(|c| c.status), after.map(|c| c.status));
                if applied {
                    prop_assert_eq!(action.next(from), to);
                } else {
                    prop_assert_eq!(before, after, "{:?} changed on {:?}", before, action);
                }
                if from == Some(ReservationStatus::Committed) {
                    prop_assert_eq!(to, from);
                }
                if from == Some(ReservationStatus::Released) && to != from {
                    prop_assert_eq!(action, Action::CommitAfterExpiry);
                    prop_assert_eq!(
                        before.and_then(|c| c.released_for),
                        Some(ReleaseReason::Expired)
                    );
                }
                for (sku, level) in &world.stock {
                    prop_assert!(
                        level.is_valid() && level.available() >= 0,
                        "{sku}: {level:?} after {step:?}"
                    );
                    prop_assert_eq!(level.reserved, world.held_units(sku), "{} reserved", sku);
                    prop_assert_eq!(
                        Some(&level.on_hand),
                        world.on_hand.get(sku),
                        "{} on hand",
                        sku
                    );
                }
            }
        }
    }
}

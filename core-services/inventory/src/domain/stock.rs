//! Stock arithmetic: what is available, when a SKU is low, whether an order can be held.
//!
//! `available = on_hand - reserved`. Holding moves units from available to reserved, releasing
//! moves them back, committing takes them out of both `on_hand` and `reserved`; the table's
//! checks (`0 <= reserved <= on_hand`) make available stock never go below zero, and
//! [`can_hold`] is what keeps a hold within them: every line of an order is held, or none is.

use std::collections::BTreeMap;

use events::payloads::{Shortage, StockLow};

/// The units of one SKU (a `stock` row without its SKU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock {
    /// Units in the warehouse.
    pub on_hand: i32,
    /// Units held for orders in flight.
    pub reserved: i32,
    /// `stock.low` is emitted at or below this availability.
    pub low_threshold: i32,
}

impl Stock {
    /// Units that can still be sold (negative only for a row the table would refuse).
    pub const fn available(self) -> i32 {
        self.on_hand.saturating_sub(self.reserved)
    }

    /// Units that can be held now: what is available, never less than zero.
    pub fn holdable(self) -> u32 {
        u32::try_from(self.available().max(0)).unwrap_or(0)
    }

    /// Whether the SKU is low: available at or below its threshold.
    pub const fn is_low(self) -> bool {
        self.available() <= self.low_threshold
    }

    /// `stock.low` for `sku` when it is low.
    pub fn low_alert(self, sku: &str) -> Option<StockLow> {
        self.is_low().then(|| StockLow {
            sku: sku.to_owned(),
            available: u32::try_from(self.available()).unwrap_or(0),
            threshold: u32::try_from(self.low_threshold).unwrap_or(0),
        })
    }

    /// Whether the table's checks accept it: nothing negative, no more reserved than on hand.
    pub const fn is_valid(self) -> bool {
        self.on_hand >= 0
            && self.reserved >= 0
            && self.low_threshold >= 0
            && self.reserved <= self.on_hand
    }

    /// After holding `units` for an order (`reserved + units`).
    pub const fn hold(self, units: i32) -> Self {
        Self {
            reserved: self.reserved.saturating_add(units),
            ..self
        }
    }

    /// After returning `units` held to stock (`reserved - units`).
    pub const fn release(self, units: i32) -> Self {
        Self {
            reserved: self.reserved.saturating_sub(units),
            ..self
        }
    }

    /// After shipping `units` held (`on_hand - units`, `reserved - units`).
    pub const fn commit(self, units: i32) -> Self {
        Self {
            on_hand: self.on_hand.saturating_sub(units),
            reserved: self.reserved.saturating_sub(units),
            ..self
        }
    }

    /// After shipping `units` that were no longer held (a confirmation after the hold expired:
    /// `on_hand - units`).
    pub const fn take(self, units: i32) -> Self {
        Self {
            on_hand: self.on_hand.saturating_sub(units),
            ..self
        }
    }
}

/// An order's lines per SKU: an order may list a SKU more than once, and its units are held
/// together.
pub fn per_sku(lines: &[(String, u32)]) -> BTreeMap<String, u32> {
    let mut wanted: BTreeMap<String, u32> = BTreeMap::new();
    for (sku, quantity) in lines {
        let units = wanted.entry(sku.clone()).or_default();
        *units = units.saturating_add(*quantity);
    }
    wanted
}

/// The line of `sku` when `requested` units are more than `stock` can hold (an unknown SKU
/// holds none).
pub fn shortage(sku: &str, requested: u32, stock: Option<Stock>) -> Option<Shortage> {
    let available = stock.map_or(0, Stock::holdable);
    (available < requested).then(|| Shortage {
        sku: sku.to_owned(),
        requested,
        available,
    })
}

/// Whether every line can be held, all or nothing: `Err` with each line that cannot (in the
/// order given, with what is available of it). `stock` gives a SKU's level, `None` for a SKU
/// never stocked.
pub fn can_hold<'a>(
    lines: impl IntoIterator<Item = (&'a str, u32)>,
    stock: impl Fn(&str) -> Option<Stock>,
) -> Result<(), Vec<Shortage>> {
    let shortages: Vec<Shortage> = lines
        .into_iter()
        .filter_map(|(sku, requested)| shortage(sku, requested, stock(sku)))
        .collect();
    if shortages.is_empty() {
        Ok(())
    } else {
        Err(shortages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const fn stock(on_hand: i32, reserved: i32, low_threshold: i32) -> Stock {
        Stock {
            on_hand,
            reserved,
            low_threshold,
        }
    }

    #[test]
    fn available_and_low() {
        let level = stock(10, 4, 5);
        assert_eq!(level.available(), 6);
        assert!(!level.is_low());
        assert_eq!(level.low_alert("A-1"), None);
        let level = stock(10, 5, 5);
        assert_eq!(
            level.low_alert("A-1"),
            Some(StockLow {
                sku: "A-1".into(),
                available: 5,
                threshold: 5
            })
        );
        // A row the table would refuse still alerts with zero, never a wrapped number.
        assert_eq!(stock(1, 3, 0).holdable(), 0);
        assert_eq!(
            stock(1, 3, 0).low_alert("A-1").map(|l| l.available),
            Some(0)
        );
    }

    #[test]
    fn an_order_is_held_whole_or_the_short_lines_are_named() {
        let levels = BTreeMap::from([
            ("A".to_owned(), stock(5, 2, 0)),
            ("B".to_owned(), stock(4, 0, 0)),
        ]);
        let find = |sku: &str| levels.get(sku).copied();
        let wanted = per_sku(&[("A".into(), 2), ("B".into(), 4), ("A".into(), 1)]);
        assert_eq!(wanted, BTreeMap::from([("A".into(), 3), ("B".into(), 4)]));
        assert_eq!(
            can_hold(wanted.iter().map(|(s, q)| (s.as_str(), *q)), find),
            Ok(())
        );
        assert_eq!(
            can_hold([("A", 4), ("B", 1), ("C", 1)], find),
            Err(vec![
                Shortage {
                    sku: "A".into(),
                    requested: 4,
                    available: 3
                },
                Shortage {
                    sku: "C".into(),
                    requested: 1,
                    available: 0
                },
            ])
        );
    }

    fn any_stock() -> impl Strategy<Value = Stock> {
        (0_i32..40, 0_i32..12).prop_flat_map(|(on_hand, low_threshold)| {
            (0..=on_hand).prop_map(move |reserved| stock(on_hand, reserved, low_threshold))
        })
    }

    /// A level with something available, and a hold it can take.
    fn any_hold() -> impl Strategy<Value = (Stock, i32)> {
        any_stock()
            .prop_filter("something available", |level| level.available() > 0)
            .prop_flat_map(|level| (Just(level), 1..=level.available()))
    }

    const SKUS: [&str; 4] = ["A", "B", "C", "D"];

    /// Stock of some of the SKUs (`D` is never stocked).
    fn any_levels() -> impl Strategy<Value = BTreeMap<String, Stock>> {
        prop::collection::btree_map(prop::sample::select(&SKUS[..3]), any_stock(), 0..4).prop_map(
            |levels| {
                levels
                    .into_iter()
                    .map(|(sku, level)| (sku.to_owned(), level))
                    .collect()
            },
        )
    }

    /// An order's lines, SKUs repeated.
    fn any_lines() -> impl Strategy<Value = Vec<(String, u32)>> {
        prop::collection::vec((prop::sample::select(&SKUS[..]), 1_u32..25), 0..8)
            .prop_map(|lines| lines.into_iter().map(|(s, q)| (s.to_owned(), q)).collect())
    }

    proptest! {
        /// Whatever the stock and the order (SKUs repeated, unknown SKUs): either every line is
        /// held and no level goes below zero or past the table's checks, or nothing is held and
        /// the shortages are exactly the lines asking more than is available.
        #[test]
        fn holding_is_all_or_nothing_and_never_goes_below_zero(
            levels in any_levels(),
            lines in any_lines(),
        ) {
            let wanted = per_sku(&lines);
            prop_assert_eq!(
                wanted.values().sum::<u32>(),
                lines.iter().map(|(_, q)| q).sum::<u32>()
            );
            // What is free of each SKU, counted apart from `Stock`.
            let free = |sku: &str| {
                levels.get(sku).map_or(0, |l| i64::from(l.on_hand) - i64::from(l.reserved))
            };
            let expected: Vec<Shortage> = wanted
                .iter()
                .filter(|(sku, q)| free(sku) < i64::from(**q))
                .map(|(sku, q)| Shortage {
                    sku: sku.clone(),
                    requested: *q,
                    available: u32::try_from(free(sku)).unwrap_or(0),
                })
                .collect();
            let lines = wanted.iter().map(|(s, q)| (s.as_str(), *q));
            match can_hold(lines, |sku| levels.get(sku).copied()) {
                Ok(()) => {
                    prop_assert!(expected.is_empty());
                    for (sku, q) in &wanted {
                        let before = levels.get(sku).copied();
                        prop_assert!(before.is_some(), "{sku} held without stock");
                        let after = before.map(|l| l.hold(i32::try_from(*q).unwrap_or(i32::MAX)));
                        prop_assert!(
                            after.is_some_and(|l| l.is_valid() && l.available() >= 0),
                            "{sku}: {before:?} -> {after:?}"
                        );
                    }
                }
                Err(shortages) => {
                    prop_assert!(!shortages.is_empty());
                    prop_assert_eq!(shortages, expected);
                }
            }
        }

        /// A hold, then its release, leaves the level as it was; a hold, then its commit, takes
        /// exactly the units out of `on_hand` and leaves `reserved` as it was: units are never
        /// created or lost, and every step passes the table's checks.
        #[test]
        fn committing_or_releasing_a_hold_conserves_units((level, units) in any_hold()) {
            let requested = u32::try_from(units).unwrap_or(u32::MAX);
            prop_assert_eq!(shortage("X", requested, Some(level)), None);
            let held = level.hold(units);
            prop_assert!(held.is_valid());
            prop_assert_eq!(held.on_hand, level.on_hand);
            prop_assert_eq!(held.available(), level.available() - units);

            prop_assert_eq!(held.release(units), level);

            let shipped = held.commit(units);
            prop_assert!(shipped.is_valid());
            prop_assert_eq!(shipped.on_hand, level.on_hand - units);
            prop_assert_eq!(shipped.reserved, level.reserved);
            prop_assert_eq!(shipped.available(), held.available());
            prop_assert_eq!(shipped, level.take(units));
        }
    }
}

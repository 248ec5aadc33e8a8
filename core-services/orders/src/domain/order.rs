//! The order state machine.
//!
//! ```text
//! PENDING --stock reserved--> RESERVED --payment authorized--> CONFIRMED --shipped--> SHIPPED
//!    |  \________________payment authorized_________________/^
//!    +--(PENDING or RESERVED) stock rejected / reservation expired / payment failed /
//!       timeout / shop --> CANCELLED;  the customer may cancel while PENDING only
//! ```
//! CONFIRMED and CANCELLED are the two outcomes: an order reaches at most one of them and
//! never leaves it (SHIPPED only follows CONFIRMED). Events that arrive after the order moved on
//! are [`Decision::Late`]: kept on the timeline, changing nothing. `PAID` is a state the schema
//! allows and the admin filter lists, but no decision leads to it: an authorized payment
//! confirms the order at once.

use serde::{Deserialize, Serialize};

/// Where an order is (column `orders.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed; waiting for stock.
    Pending,
    /// Stock held; waiting for payment.
    Reserved,
    /// Payment authorized (allowed by the schema; the saga confirms instead).
    Paid,
    /// Outcome: stock committed, payment authorized (captured on confirmation).
    Confirmed,
    /// A confirmed order left the warehouse.
    Shipped,
    /// Outcome: given up, with a [`CancelReason`].
    Cancelled,
}

impl OrderStatus {
    /// Every state, in the order of the flow.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Reserved,
        Self::Paid,
        Self::Confirmed,
        Self::Shipped,
        Self::Cancelled,
    ];

    /// States from which the saga can still go either way.
    pub const IN_FLIGHT: [Self; 3] = [Self::Pending, Self::Reserved, Self::Paid];

    /// The name stored and shown (`PENDING`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Reserved => "RESERVED",
            Self::Paid => "PAID",
            Self::Confirmed => "CONFIRMED",
            Self::Shipped => "SHIPPED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Whether the saga can still confirm or cancel it.
    pub const fn is_in_flight(self) -> bool {
        matches!(self, Self::Pending | Self::Reserved | Self::Paid)
    }
}

service_kit::named_enum!(OrderStatus, "an order state");

/// Why an order was cancelled (column `orders.cancel_reason`, and `order.cancelled`'s
/// `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// Inventory could not hold every line.
    OutOfStock,
    /// The stock hold ran out before the payment came.
    ReservationExpired,
    /// The card was declined.
    PaymentDeclined,
    /// The payment provider did not answer in time.
    PaymentTimeout,
    /// The payment failed for another reason.
    PaymentFailed,
    /// The order stayed in flight past the saga's time limit.
    Timeout,
    /// The customer cancelled while the order was PENDING.
    CancelledByCustomer,
    /// The shop cancelled an order in flight.
    CancelledByShop,
}

impl CancelReason {
    /// Every reason.
    pub const ALL: [Self; 8] = [
        Self::OutOfStock,
        Self::ReservationExpired,
        Self::PaymentDeclined,
        Self::PaymentTimeout,
        Self::PaymentFailed,
        Self::Timeout,
        Self::CancelledByCustomer,
        Self::CancelledByShop,
    ];

    /// The name stored, sent and counted (`out_of_stock`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OutOfStock => "out_of_stock",
            Self::ReservationExpired => "reservation_expired",
            Self::PaymentDeclined => "payment_declined",
            Self::PaymentTimeout => "payment_timeout",
            Self::PaymentFailed => "payment_failed",
            Self::Timeout => "timeout",
            Self::CancelledByCustomer => "cancelled_by_customer",
            Self::CancelledByShop => "cancelled_by_shop",
        }
    }
}

service_kit::named_enum!(CancelReason, "a cancellation reason");

/// Why payments gave up on a payment (`payment.failed`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentFailure {
    /// `declined`.
    Declined,
    /// `timeout`.
    Timeout,
    /// Anything else.
    Other,
}

impl PaymentFailure {
    /// From the event's `reason`.
    pub fn from_reason(reason: &str) -> Self {
        match reason {
            "declined" => Self::Declined,
            "timeout" => Self::Timeout,
            _ => Self::Other,
        }
    }

    const fn cancel_reason(self) -> CancelReason {
        match self {
            Self::Declined => CancelReason::PaymentDeclined,
            Self::Timeout => CancelReason::PaymentTimeout,
            Self::Other => CancelReason::PaymentFailed,
        }
    }
}

/// What can happen to an order: the events the saga consumes, and the requests of the
/// customer, the shop and the sweeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `inventory.reserved`.
    StockReserved,
    /// `inventory.rejected`.
    StockRejected,
    /// `inventory.released`; `expired` when the hold ran out (other releases follow a
    /// cancellation or a confirmation and only go on the timeline).
    StockReleased {
        /// The release's reason was `expired`.
        expired: bool,
    },
    /// `payment.authorized`.
    PaymentAuthorized,
    /// `payment.failed`.
    PaymentFailed(PaymentFailure),
    /// `payment.captured`.
    PaymentCaptured,
    /// `payment.refunded`.
    PaymentRefunded,
    /// `POST /orders/{id}/cancel`.
    CustomerCancels,
    /// `POST /admin/orders/{id}/cancel`.
    ShopCancels,
    /// The sweeper: in flight past the time limit.
    TimedOut,
    /// `POST /admin/orders/{id}/ship`.
    Ship,
}

/// What an [`Input`] does to an order in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// PENDING -> RESERVED.
    Reserve,
    /// -> CONFIRMED (`order.confirmed`).
    Confirm,
    /// -> CANCELLED with this reason (`order.cancelled`).
    Cancel(CancelReason),
    /// CONFIRMED -> SHIPPED (`order.shipped`).
    Ship,
    /// A step for the timeline that changes no state (captures, refunds, releases).
    Record,
    /// An event that arrived after the order moved on: noted, nothing changes.
    Late,
    /// A request the state does not allow (the route answers 409).
    Refuse,
}

impl Decision {
    /// The state after the decision.
    pub const fn next(self, from: OrderStatus) -> OrderStatus {
        match self {
            Self::Reserve => OrderStatus::Reserved,
            Self::Confirm => OrderStatus::Confirmed,
            Self::Cancel(_) => OrderStatus::Cancelled,
            Self::Ship => OrderStatus::Shipped,
            Self::Record | Self::Late | Self::Refuse => from,
        }
    }
}

/// The transition function: what `input` does to an order that is `state`.
pub const fn decide(state: OrderStatus, input: Input) -> Decision {
    let in_flight = state.is_in_flight();
    match input {
        Input::StockReserved => match state {
            OrderStatus::Pending => Decision::Reserve,
            _ => Decision::Late,
        },
        Input::StockRejected if in_flight => Decision::Cancel(CancelReason::OutOfStock),
        Input::StockReleased { expired: true } if in_flight => {
            Decision::Cancel(CancelReason::ReservationExpired)
        }
        Input::StockReleased { .. } | Input::PaymentCaptured | Input::PaymentRefunded => {
            Decision::Record
        }
        Input::PaymentAuthorized => match state {
            OrderStatus::Pending | OrderStatus::Reserved => Decision::Confirm,
            // Cancelled meanwhile: payments voids the hold on `order.cancelled`.
            _ => Decision::Late,
        },
        Input::PaymentFailed(failure) if in_flight => Decision::Cancel(failure.cancel_reason()),
        Input::StockRejected | Input::PaymentFailed(_) => Decision::Late,
        Input::CustomerCancels => match state {
            OrderStatus::Pending => Decision::Cancel(CancelReason::CancelledByCustomer),
            _ => Decision::Refuse,
        },
        Input::ShopCancels if in_flight => Decision::Cancel(CancelReason::CancelledByShop),
        Input::TimedOut if in_flight => Decision::Cancel(CancelReason::Timeout),
        Input::ShopCancels | Input::TimedOut => Decision::Refuse,
        Input::Ship => match state {
            OrderStatus::Confirmed => Decision::Ship,
            _ => Decision::Refuse,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip() {
        for state in OrderStatus::ALL {
            assert_eq!(state.as_str().parse::<OrderStatus>(), Ok(state));
            assert_eq!(
                serde_json::to_value(state).ok(),
                Some(serde_json::json!(state.as_str()))
            );
        }
        for reason in CancelReason::ALL {
            assert_eq!(
                serde_json::to_value(reason).ok(),
                Some(serde_json::json!(reason.as_str()))
            );
        }
        assert!("SHIPPING".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn the_happy_path_and_its_late_arrivals() {
        use OrderStatus::*;
        assert_eq!(decide(Pending, Input::StockReserved), Decision::Reserve);
        assert_eq!(
            decide(Reserved, Input::PaymentAuthorized),
            Decision::Confirm
        );
        // The payment can come before the stock: confirmed from PENDING.
        assert_eq!(decide(Pending, Input::PaymentAuthorized), Decision::Confirm);
        assert_eq!(decide(Confirmed, Input::StockReserved), Decision::Late);
        assert_eq!(decide(Confirmed, Input::Ship), Decision::Ship);
        assert_eq!(decide(Shipped, Input::Ship), Decision::Refuse);
        assert_eq!(decide(Cancelled, Input::PaymentAuthorized), Decision::Late);
        assert_eq!(decide(Confirmed, Input::PaymentCaptured), Decision::Record);
    }

    #[test]
    fn each_failure_has_its_reason() {
        use OrderStatus::*;
        let cancel = |state, input| match decide(state, input) {
            Decision::Cancel(reason) => Some(reason),
            _ => None,
        };
        assert_eq!(
            cancel(Pending, Input::StockRejected),
            Some(CancelReason::OutOfStock)
        );
        assert_eq!(
            cancel(Reserved, Input::StockReleased { expired: true }),
            Some(CancelReason::ReservationExpired)
        );
        assert_eq!(
            cancel(Reserved, Input::StockReleased { expired: false }),
            None
        );
        for (failure, reason) in [
            (PaymentFailure::Declined, CancelReason::PaymentDeclined),
            (PaymentFailure::Timeout, CancelReason::PaymentTimeout),
            (PaymentFailure::Other, CancelReason::PaymentFailed),
        ] {
            assert_eq!(
                cancel(Reserved, Input::PaymentFailed(failure)),
                Some(reason)
            );
        }
        assert_eq!(
            cancel(Pending, Input::CustomerCancels),
            Some(CancelReason::CancelledByCustomer)
        );
        assert_eq!(decide(Reserved, Input::CustomerCancels), Decision::Refuse);
        assert_eq!(
            cancel(Reserved, Input::ShopCancels),
            Some(CancelReason::CancelledByShop)
        );
        assert_eq!(cancel(Paid, Input::TimedOut), Some(CancelReason::Timeout));
        assert_eq!(decide(Confirmed, Input::TimedOut), Decision::Refuse);
    }

    fn any_input() -> impl Strategy<Value = Input> {
        prop_oneof![
            Just(Input::StockReserved),
            Just(Input::StockRejected),
            any::<bool>().prop_map(|expired| Input::StockReleased { expired }),
            Just(Input::PaymentAuthorized),
            prop_oneof![
                Just(PaymentFailure::Declined),
                Just(PaymentFailure::Timeout),
                Just(PaymentFailure::Other)
            ]
            .prop_map(Input::PaymentFailed),
            Just(Input::PaymentCaptured),
            Just(Input::PaymentRefunded),
            Just(Input::CustomerCancels),
            Just(Input::ShopCancels),
            Just(Input::TimedOut),
            Just(Input::Ship),
        ]
    }

    /// A delivery history: events in any order, some delivered twice (a redelivery right
    /// after the first, or much later).
    fn any_history() -> impl Strategy<Value = Vec<Input>> {
        prop::collection::vec((any_input(), any::<bool>(), any::<bool>()), 0..24).prop_map(
            |steps| {
                let mut history = Vec::new();
                let mut redelivered = Vec::new();
                for (input, again_now, again_later) in steps {
                    history.push(input);
                    if again_now {
                        history.push(input);
                    }
                    if again_later {
                        redelivered.push(input);
                    }
                }
                history.extend(redelivered);
                history
            },
        )
    }

    proptest! {
        /// Whatever arrives, in whatever order and however often: at most one outcome is ever
        /// reached, an outcome is never left, SHIPPED only follows CONFIRMED, and every change
        /// of state is one the machine allows.
        #[test]
        fn an_order_reaches_at_most_one_outcome_and_never_leaves_it(history in any_history()) {
            let mut state = OrderStatus::Pending;
            let mut outcomes = Vec::new();
            for input in history {
                let decision = decide(state, input);
                let next = decision.next(state);
                match state {
                    OrderStatus::Cancelled => prop_assert_eq!(next, OrderStatus::Cancelled),
                    OrderStatus::Confirmed => prop_assert!(
                        matches!(next, OrderStatus::Confirmed | OrderStatus::Shipped)
                    ),
                    OrderStatus::Shipped => prop_assert_eq!(next, OrderStatus::Shipped),
                    _ => {}
                }
                if next == OrderStatus::Shipped && state != OrderStatus::Shipped {
                    prop_assert_eq!(state, OrderStatus::Confirmed);
                }
                if next != state {
                    prop_assert!(state.is_in_flight() || decision == Decision::Ship,
                        "{state} moved to {next} on {input:?}");
                    if matches!(next, OrderStatus::Confirmed | OrderStatus::Cancelled) {
                        outcomes.push(next);
                    }
                }
                // Repeating what just happened changes nothing more.
                prop_assert_eq!(decide(next, input).next(next), next);
                state = next;
            }
            prop_assert!(outcomes.len() <= 1, "outcomes {outcomes:?}");
        }
    }
}

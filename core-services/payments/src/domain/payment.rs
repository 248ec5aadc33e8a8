//! The payment state machine.
//!
//! ```text
//! created -> authorizing -> authorized -> captured
//!    |            |   \          \-> voided
//!    |            |    -> pending -> authorized
//!    +------------+--------+-> failed | cancelled
//! ```
//! States only move forward (see [`PaymentStatus::rank`]); `captured`, `voided`, `failed` and
//! `cancelled` are final. The money a payment moves is bounded by [`Amounts`]: never more
//! captured than authorized, never more refunded than captured.

use serde::{Deserialize, Serialize};
use service_kit::money::{Currency, Money};

/// Where a payment is (column `payments.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Recorded from `order.placed`; the provider not asked yet.
    Created,
    /// The provider is being asked to authorize (recorded before the call).
    Authorizing,
    /// The provider holds the authorization open (3-D Secure, processing).
    Pending,
    /// Funds held, to capture on confirmation or void on cancellation.
    Authorized,
    /// Final: funds taken.
    Captured,
    /// Final: an authorization released.
    Voided,
    /// Final: declined, or the provider gave no answer.
    Failed,
    /// Final: the order was cancelled before funds were held (or its pending hold released).
    Cancelled,
}

impl PaymentStatus {
    /// Every state.
    pub const ALL: [Self; 8] = [
        Self::Created,
        Self::Authorizing,
        Self::Pending,
        Self::Authorized,
        Self::Captured,
        Self::Voided,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The name stored and shown (`created`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Authorizing => "authorizing",
            Self::Pending => "pending",
            Self::Authorized => "authorized",
            Self::Captured => "captured",
            Self::Voided => "voided",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// How far along the flow: a payment's rank never decreases.
    pub const fn rank(self) -> u8 {
        match self {
            Self::Created => 0,
            Self::Authorizing => 1,
            Self::Pending => 2,
            Self::Authorized => 3,
            Self::Captured | Self::Voided | Self::Failed | Self::Cancelled => 4,
        }
    }

    /// Whether nothing can change it any more.
    pub const fn is_final(self) -> bool {
        self.rank() == 4
    }

    /// Whether the provider may have been asked and not have answered for good: an approval,
    /// a failure or a cancellation from it can still decide the payment.
    pub const fn awaits_provider(self) -> bool {
        matches!(self, Self::Authorizing | Self::Pending)
    }
}

service_kit::named_enum!(PaymentStatus, "a payment state");

/// The provider events payments applies (Stripe's names in [`ProviderEvent::from_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderEvent {
    /// `payment_intent.amount_capturable_updated`: funds held.
    Approved,
    /// `payment_intent.payment_failed`.
    Failed,
    /// `payment_intent.succeeded`: captured.
    Succeeded,
    /// `payment_intent.canceled`; `ours` when we cancelled it (our void of a pending payment).
    Canceled {
        /// Cancelled with our own cancellation reason.
        ours: bool,
    },
    /// `charge.refunded`.
    Refunded,
}

impl ProviderEvent {
    /// From Stripe's event type; `None` for the types payments does not apply.
    pub fn from_kind(kind: &str, canceled_by_us: bool) -> Option<Self> {
        Some(match kind {
            "payment_intent.amount_capturable_updated" => Self::Approved,
            "payment_intent.payment_failed" => Self::Failed,
            "payment_intent.succeeded" => Self::Succeeded,
            "payment_intent.canceled" => Self::Canceled {
                ours: canceled_by_us,
            },
            "charge.refunded" => Self::Refunded,
            _ => return None,
        })
    }
}

/// What a provider event does to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderDecision {
    /// -> authorized (`payment.authorized`).
    Authorize,
    /// The order was cancelled while the provider held funds: void them (the payment stays
    /// cancelled).
    ReleaseHold,
    /// -> failed (`payment.failed`, declined).
    Fail,
    /// -> captured (`payment.captured`).
    Capture,
    /// -> voided (cancelled at the provider after the hold).
    Void,
    /// -> cancelled: our own void of a pending payment.
    Cancel,
    /// A refund made at the provider, beyond ours: recorded (`payment.refunded`).
    RecordRefund,
    /// Nothing: the payment is past what the event could change (late or duplicate).
    Nothing,
}

impl ProviderDecision {
    /// The state after the decision.
    pub const fn next(self, from: PaymentStatus) -> PaymentStatus {
        match self {
            Self::Authorize => PaymentStatus::Authorized,
            Self::Fail => PaymentStatus::Failed,
            Self::Capture => PaymentStatus::Captured,
            Self::Void => PaymentStatus::Voided,
            Self::Cancel => PaymentStatus::Cancelled,
            Self::ReleaseHold | Self::RecordRefund | Self::Nothing => from,
        }
    }
}

/// The provider's side of the transition function.
pub const fn on_provider_event(status: PaymentStatus, event: ProviderEvent) -> ProviderDecision {
    use PaymentStatus as S;
    match (event, status) {
        (ProviderEvent::Approved, S::Authorizing | S::Pending) => ProviderDecision::Authorize,
        (ProviderEvent::Approved, S::Cancelled) => ProviderDecision::ReleaseHold,
        (ProviderEvent::Failed, S::Authorizing | S::Pending) => ProviderDecision::Fail,
        (ProviderEvent::Succeeded, S::Authorized) => ProviderDecision::Capture,
        (ProviderEvent::Canceled { .. }, S::Authorized) => ProviderDecision::Void,
        (ProviderEvent::Canceled { ours: true }, S::Authorizing | S::Pending) => {
            ProviderDecision::Cancel
        }
        // Cancelled elsewhere (the provider's dashboard, an expiry): the order must not wait.
        (ProviderEvent::Canceled { ours: false }, S::Authorizing | S::Pending) => {
            ProviderDecision::Fail
        }
        (ProviderEvent::Refunded, S::Captured) => ProviderDecision::RecordRefund,
        _ => ProviderDecision::Nothing,
    }
}

/// What `order.cancelled` does to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellation {
    /// Funds held: void them at the provider, then -> voided.
    VoidHold,
    /// An open (pending) authorization: cancel it at the provider, then -> cancelled.
    VoidPending,
    /// The provider holds nothing yet: -> cancelled (an authorization in flight is released by
    /// its own step, which finds the payment cancelled).
    CancelUnasked,
    /// Final already: nothing held.
    Nothing,
}

/// The saga's side: `order.cancelled`.
pub const fn on_order_cancelled(status: PaymentStatus) -> Cancellation {
    match status {
        PaymentStatus::Authorized => Cancellation::VoidHold,
        PaymentStatus::Pending => Cancellation::VoidPending,
        PaymentStatus::Created | PaymentStatus::Authorizing => Cancellation::CancelUnasked,
        // captured cannot happen: orders never cancels a confirmed order.
        _ => Cancellation::Nothing,
    }
}

/// What `order.confirmed` does to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Capture the held funds, then -> captured.
    Capture,
    /// Captured before (a repeated delivery, or the provider's event came first).
    Done,
    /// The order was confirmed without a held payment: a bug elsewhere, never retried.
    Inconsistent,
}

/// The saga's side: `order.confirmed`.
pub const fn on_order_confirmed(status: PaymentStatus) -> Confirmation {
    match status {
        PaymentStatus::Authorized => Confirmation::Capture,
        PaymentStatus::Captured => Confirmation::Done,
        _ => Confirmation::Inconsistent,
    }
}

/// Money a payment may not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// A capture above the authorized amount.
    #[error("a capture of {} is more than the {} authorized", .wanted.amount(), .authorized.amount())]
    OverCapture {
        /// Asked.
        wanted: Money,
        /// Authorized.
        authorized: Money,
    },
    /// A refund above what is left of the capture.
    #[error("a refund of {} is more than the {} left to refund", .wanted.amount(), .left.amount())]
    OverRefund {
        /// Asked.
        wanted: Money,
        /// Captured and not refunded yet.
        left: Money,
    },
    /// Not a positive amount, or a sum that overflows.
    #[error("not a valid amount: {}", .0.amount())]
    Invalid(Money),
    /// An amount in another currency than the payment's.
    #[error("{wanted} is not in the payment's currency ({currency})")]
    OtherCurrency {
        /// Asked.
        wanted: Money,
        /// The payment's.
        currency: Currency,
    },
}

/// The money of one payment, all in its currency: what was authorized, captured and refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    /// Held by the authorization.
    pub authorized: Money,
    /// Taken (zero until captured).
    pub captured: Money,
    /// Given back, all refunds together.
    pub refunded: Money,
}

impl Amounts {
    /// A payment authorized for `authorized`.
    pub const fn authorized(authorized: Money) -> Self {
        Self {
            authorized,
            captured: Money::zero(authorized.currency()),
            refunded: Money::zero(authorized.currency()),
        }
    }

    /// `amount` if it is in the payment's currency and not zero.
    fn positive(self, amount: Money) -> Result<Money, MoneyError> {
        let currency = self.authorized.currency();
        if amount.currency() != currency {
            return Err(MoneyError::OtherCurrency {
                wanted: amount,
                currency,
            });
        }
        if amount.is_zero() {
            return Err(MoneyError::Invalid(amount));
        }
        Ok(amount)
    }

    /// After capturing `amount` (at most the authorized amount, once).
    pub fn capture(self, amount: Money) -> Result<Self, MoneyError> {
        let amount = self.positive(amount)?;
        if !self.captured.is_zero() {
            return Err(MoneyError::Invalid(amount));
        }
        if amount.amount() > self.authorized.amount() {
            return Err(MoneyError::OverCapture {
                wanted: amount,
                authorized: self.authorized,
            });
        }
        Ok(Self {
            captured: amount,
            ..self
        })
    }

    /// What is left to refund (zero when the refunds reach the capture).
    pub fn refundable(self) -> Money {
        self.captured
            .checked_sub(self.refunded)
            .unwrap_or(Money::zero(self.captured.currency()))
    }

    /// After refunding `amount` (at most what is left).
    pub fn refund(self, amount: Money) -> Result<Self, MoneyError> {
        let amount = self.positive(amount)?;
        let left = self.refundable();
        if amount.amount() > left.amount() {
            return Err(MoneyError::OverRefund {
                wanted: amount,
                left,
            });
        }
        let refunded = self
            .refunded
            .checked_add(amount)
            .map_err(|_| MoneyError::Invalid(amount))?;
        Ok(Self { refunded, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip() {
        for state in PaymentStatus::ALL {
            assert_eq!(state.as_str().parse::<PaymentStatus>(), Ok(state));
            assert_eq!(
                serde_json::to_value(state).ok(),
                Some(serde_json::json!(state.as_str()))
            );
        }
        assert!("refunded".parse::<PaymentStatus>().is_err());
    }

    #[test]
    fn provider_events_move_only_what_they_can() {
        use PaymentStatus as S;
        assert_eq!(
            on_provider_event(S::Pending, ProviderEvent::Approved),
            ProviderDecision::Authorize
        );
        assert_eq!(
            on_provider_event(S::Cancelled, ProviderEvent::Approved),
            ProviderDecision::ReleaseHold
        );
        assert_eq!(
            on_provider_event(S::Authorized, ProviderEvent::Approved),
            ProviderDecision::Nothing
        );
        assert_eq!(
            on_provider_event(S::Pending, ProviderEvent::Canceled { ours: true }),
            ProviderDecision::Cancel
        );
        assert_eq!(
            on_provider_event(S::Pending, ProviderEvent::Canceled { ours: false }),
            ProviderDecision::Fail
        );
        assert_eq!(
            on_provider_event(S::Authorized, ProviderEvent::Canceled { ours: false }),
            ProviderDecision::Void
        );
        assert_eq!(
            on_provider_event(S::Captured, ProviderEvent::Refunded),
            ProviderDecision::RecordRefund
        );
        assert_eq!(
            on_provider_event(S::Voided, ProviderEvent::Succeeded),
            ProviderDecision::Nothing
        );
    }

    fn eur(amount: i64) -> Money {
        Money::parse(amount, "EUR").expect("an amount in range")
    }

    #[test]
    fn money_is_bounded() {
        let held = Amounts::authorized(eur(1_000));
        assert_eq!(
            held.capture(eur(1_001)),
            Err(MoneyError::OverCapture {
                wanted: eur(1_001),
                authorized: eur(1_000)
            })
        );
        let taken = held.capture(eur(800)).expect("a partial capture");
        assert_eq!(taken.capture(eur(100)), Err(MoneyError::Invalid(eur(100))));
        let part = taken.refund(eur(300)).expect("a partial refund");
        assert_eq!(part.refundable(), eur(500));
        assert_eq!(
            part.refund(eur(501)),
            Err(MoneyError::OverRefund {
                wanted: eur(501),
                left: eur(500)
            })
        );
        assert_eq!(part.refund(eur(0)), Err(MoneyError::Invalid(eur(0))));
        let usd = Money::parse(100, "USD").expect("an amount in range");
        assert!(matches!(
            part.refund(usd),
            Err(MoneyError::OtherCurrency { .. })
        ));
    }

    /// Everything that can happen to a payment: provider events (any order, duplicated) and
    /// the saga's order events, with the amounts they carry.
    #[derive(Debug, Clone, Copy)]
    enum Happening {
        Provider(ProviderEvent, i64),
        OrderCancelled,
        OrderConfirmed(i64),
        Refund(i64),
    }

    fn any_happening() -> impl Strategy<Value = Happening> {
        let amount = 1_i64..3_000;
        prop_oneof![
            (
                prop_oneof![
                    Just(ProviderEvent::Approved),
                    Just(ProviderEvent::Failed),
                    Just(ProviderEvent::Succeeded),
                    any::<bool>().prop_map(|ours| ProviderEvent::Canceled { ours }),
                    Just(ProviderEvent::Refunded),
                ],
                amount.clone()
            )
                .prop_map(|(event, amount)| Happening::Provider(event, amount)),
            Just(Happening::OrderCancelled),
            amount.clone().prop_map(Happening::OrderConfirmed),
            amount.prop_map(Happening::Refund),
        ]
    }

    proptest! {
        /// Whatever happens, in whatever order and however often, starting from a payment the
        /// provider is asked about: the state never moves back, a final state is never left,
        /// and the money applied through [`Amounts`] never captures more than was authorized
        /// nor refunds more than was captured.
        #[test]
        fn a_payment_only_moves_forward_and_never_takes_more_than_it_held(
            authorized in 1_i64..2_000,
            happenings in prop::collection::vec((any_happening(), any::<bool>()), 0..32),
        ) {
            let mut status = PaymentStatus::Authorizing;
            let mut money = Amounts::authorized(eur(authorized));
            let mut finals = 0;
            let steps = happenings
                .into_iter()
                .flat_map(|(h, twice)| std::iter::repeat_n(h, if twice { 2 } else { 1 }));
            for happening in steps {
                let next = match happening {
                    Happening::Provider(event, amount) => {
                        let decision = on_provider_event(status, event);
                        match decision {
                            ProviderDecision::Capture => match money.capture(eur(amount)) {
                                Ok(after) => {
                                    money = after;
                                    decision.next(status)
                                }
                                // Refused: the payment stays as it is.
                                Err(_) => status,
                            },
                            ProviderDecision::RecordRefund => {
                                if let Ok(after) = money.refund(eur(amount)) {
                                    money = after;
                                }
                                status
                            }
                            other => other.next(status),
                        }
                    }
                    Happening::OrderCancelled => match on_order_cancelled(status) {
                        Cancellation::VoidHold => PaymentStatus::Voided,
                        Cancellation::VoidPending | Cancellation::CancelUnasked => {
                            PaymentStatus::Cancelled
                        }
                        Cancellation::Nothing => status,
                    },
                    Happening::OrderConfirmed(amount) => match on_order_confirmed(status) {
                        Confirmation::Capture => match money.capture(eur(amount)) {
                            Ok(after) => {
                                money = after;
                                PaymentStatus::Captured
                            }
                            Err(_) => status,
                        },
                        Confirmation::Done | Confirmation::Inconsistent => status,
                    },
                    Happening::Refund(amount) => {
                        if status == PaymentStatus::Captured
                            && let Ok(after) = money.refund(eur(amount))
                        {
                            money = after;
                        }
                        status
                    }
                };
                prop_assert!(next.rank() >= status.rank(), "{status} went back to {next}");
                if status.is_final() {
                    prop_assert_eq!(next, status, "left the final state {}", status);
                }
                if next.is_final() && !status.is_final() {
                    finals += 1;
                }
                prop_assert!(money.captured.amount() <= money.authorized.amount());
                prop_assert!(money.refunded.amount() <= money.captured.amount());
                prop_assert!(money.captured.is_zero() || next == PaymentStatus::Captured);
                status = next;
            }
            prop_assert!(finals <= 1);
        }
    }
}

//! The reservation state machine: one reservation per order.
//!
//! ```text
//! (none) --order placed, every line available--> held --order confirmed--> committed
//!                                                  \--order cancelled / expired--> released
//! released (expired) --order confirmed, units still there--> committed
//! ```
//! An order placed while stock is short gets no reservation at all (nothing is held). A
//! reservation is placed once: a repeated `order.placed` changes nothing. `committed` is never
//! left; `released` only when the hold expired before a confirmation that was already on its way
//! (orders and inventory decide on separate clocks) and the units can still be taken.

/// Where a reservation is (column `reservations.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// The units are held for the order (counted in `stock.reserved`).
    Held,
    /// The units left the warehouse with the confirmed order.
    Committed,
    /// The units went back to stock, with a [`ReleaseReason`].
    Released,
}

impl ReservationStatus {
    /// Every state, in the order of the flow.
    pub const ALL: [Self; 3] = [Self::Held, Self::Committed, Self::Released];

    /// The name stored (`held`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Committed => "committed",
            Self::Released => "released",
        }
    }
}

service_kit::named_enum!(ReservationStatus, "a reservation state");

/// Why a reservation was committed (column `reservations.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitReason {
    /// The order was confirmed while its units were held.
    OrderConfirmed,
    /// The order was confirmed after its hold expired, and the units were taken again.
    ConfirmedAfterExpiry,
}

impl CommitReason {
    /// Every reason.
    pub const ALL: [Self; 2] = [Self::OrderConfirmed, Self::ConfirmedAfterExpiry];

    /// The name stored (`order_confirmed`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrderConfirmed => "order_confirmed",
            Self::ConfirmedAfterExpiry => "confirmed_after_expiry",
        }
    }
}

service_kit::named_enum!(CommitReason, "a commit reason");

/// Why a reservation was released (column `reservations.reason`, and `inventory.released`'s
/// `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseReason {
    /// The order was cancelled.
    OrderCancelled,
    /// The hold ran out before the order had an outcome (this cancels the order).
    Expired,
}

impl ReleaseReason {
    /// Every reason.
    pub const ALL: [Self; 2] = [Self::OrderCancelled, Self::Expired];

    /// The name stored and sent (`order_cancelled`, `expired`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrderCancelled => "order_cancelled",
            Self::Expired => "expired",
        }
    }
}

service_kit::named_enum!(ReleaseReason, "a release reason");

/// An order's reservation as the transitions see it: its state and, once released, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    /// Its state.
    pub status: ReservationStatus,
    /// Why it was released; `None` unless `status` is released (and the reason is known).
    pub released_for: Option<ReleaseReason>,
}

impl Current {
    /// A reservation whose units are held.
    pub const HELD: Self = Self {
        status: ReservationStatus::Held,
        released_for: None,
    };

    /// From a row: its `status` and its `reason` column (read only when released).
    pub fn from_row(status: ReservationStatus, reason: Option<&str>) -> Self {
        let released_for = match status {
            ReservationStatus::Released => reason.and_then(|r| r.parse().ok()),
            ReservationStatus::Held | ReservationStatus::Committed => None,
        };
        Self {
            status,
            released_for,
        }
    }
}

/// What can happen to an order's reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `order.placed`.
    OrderPlaced,
    /// `order.confirmed`.
    OrderConfirmed,
    /// `order.cancelled`.
    OrderCancelled,
    /// The sweeper: the hold is past its expiry.
    Expired,
}

/// What an [`Input`] does to an order's reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// No reservation yet: hold every line or none ([`can_hold`](super::can_hold) decides);
    /// -> held (`inventory.reserved`), or no reservation (`inventory.rejected`).
    Hold,
    /// Ship the held units: held -> committed ([`CommitReason::OrderConfirmed`]).
    Commit,
    /// The hold expired before the confirmation: take the units again when they are still
    /// available ([`can_hold`](super::can_hold)), released -> committed
    /// ([`CommitReason::ConfirmedAfterExpiry`]); otherwise the confirmed order cannot be filled.
    CommitAfterExpiry,
    /// Return the held units to stock: held -> released with this reason
    /// (`inventory.released`).
    Release(ReleaseReason),
    /// Already decided, or nothing held: nothing changes.
    Nothing,
}

impl Action {
    /// The state after the action (when [`Action::Hold`] and [`Action::CommitAfterExpiry`] find
    /// the stock they need).
    pub const fn next(self, from: Option<ReservationStatus>) -> Option<ReservationStatus> {
        match self {
            Self::Hold => Some(ReservationStatus::Held),
            Self::Commit | Self::CommitAfterExpiry => Some(ReservationStatus::Committed),
            Self::Release(_) => Some(ReservationStatus::Released),
            Self::Nothing => from,
        }
    }

    /// The reason a commit records.
    pub const fn commit_reason(self) -> Option<CommitReason> {
        match self {
            Self::Commit => Some(CommitReason::OrderConfirmed),
            Self::CommitAfterExpiry => Some(CommitReason::ConfirmedAfterExpiry),
            Self::Hold | Self::Release(_) | Self::Nothing => None,
        }
    }
}

/// The transition function: what `input` does to an order whose reservation is `current`
/// (`None`: the order has none).
pub const fn decide(current: Option<Current>, input: Input) -> Action {
    use ReservationStatus as S;
    let Some(current) = current else {
        return match input {
            Input::OrderPlaced => Action::Hold,
            // Rejected, never placed, or not placed yet: nothing is held.
            Input::OrderConfirmed | Input::OrderCancelled | Input::Expired => Action::Nothing,
        };
    };
    match (input, current.status, current.released_for) {
        (Input::OrderConfirmed, S::Held, _) => Action::Commit,
        (Input::OrderConfirmed, S::Released, Some(ReleaseReason::Expired)) => {
            Action::CommitAfterExpiry
        }
        (Input::OrderCancelled, S::Held, _) => Action::Release(ReleaseReason::OrderCancelled),
        (Input::Expired, S::Held, _) => Action::Release(ReleaseReason::Expired),
        // A repeated `order.placed`, or an outcome that came after another.
        _ => Action::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in ReservationStatus::ALL {
            assert_eq!(status.as_str().parse::<ReservationStatus>(), Ok(status));
        }
        for reason in CommitReason::ALL {
            assert_eq!(reason.as_str().parse::<CommitReason>(), Ok(reason));
        }
        for reason in ReleaseReason::ALL {
            assert_eq!(reason.as_str().parse::<ReleaseReason>(), Ok(reason));
        }
        assert!("reserved".parse::<ReservationStatus>().is_err());
        assert!("order_confirmed".parse::<ReleaseReason>().is_err());
    }

    #[test]
    fn the_reason_is_read_only_for_a_release() {
        use ReservationStatus as S;
        assert_eq!(
            Current::from_row(S::Released, Some("expired")).released_for,
            Some(ReleaseReason::Expired)
        );
        assert_eq!(
            Current::from_row(S::Released, Some("order_cancelled")).released_for,
            Some(ReleaseReason::OrderCancelled)
        );
        assert_eq!(Current::from_row(S::Released, None).released_for, None);
        assert_eq!(
            Current::from_row(S::Committed, Some("confirmed_after_expiry")).released_for,
            None
        );
        assert_eq!(Current::from_row(S::Held, None), Current::HELD);
    }

    #[test]
    fn each_input_does_what_the_service_did() {
        let released = |reason| Some(Current::from_row(ReservationStatus::Released, reason));
        let committed = Some(Current::from_row(ReservationStatus::Committed, None));
        let held = Some(Current::HELD);

        assert_eq!(decide(None, Input::OrderPlaced), Action::Hold);
        for current in [held, committed, released(Some("expired"))] {
            assert_eq!(decide(current, Input::OrderPlaced), Action::Nothing);
        }

        assert_eq!(decide(held, Input::OrderConfirmed), Action::Commit);
        assert_eq!(
            decide(released(Some("expired")), Input::OrderConfirmed),
            Action::CommitAfterExpiry
        );
        assert_eq!(
            decide(released(Some("order_cancelled")), Input::OrderConfirmed),
            Action::Nothing
        );
        assert_eq!(decide(committed, Input::OrderConfirmed), Action::Nothing);
        assert_eq!(decide(None, Input::OrderConfirmed), Action::Nothing);

        assert_eq!(
            decide(held, Input::OrderCancelled),
            Action::Release(ReleaseReason::OrderCancelled)
        );
        assert_eq!(
            decide(held, Input::Expired),
            Action::Release(ReleaseReason::Expired)
        );
        for input in [Input::OrderCancelled, Input::Expired] {
            assert_eq!(decide(None, input), Action::Nothing);
            assert_eq!(decide(committed, input), Action::Nothing);
            assert_eq!(decide(released(Some("expired")), input), Action::Nothing);
        }

        assert_eq!(
            Action::Commit.commit_reason(),
            Some(CommitReason::OrderConfirmed)
        );
        assert_eq!(
            Action::CommitAfterExpiry.commit_reason(),
            Some(CommitReason::ConfirmedAfterExpiry)
        );
    }
}

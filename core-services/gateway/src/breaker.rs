//! A circuit breaker per upstream: after `threshold` consecutive failures the circuit opens and
//! calls fail fast (503) for `open_for`; then one trial call is let through, whose outcome
//! closes or re-opens the circuit.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Breaker state, lock-free.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    failures: AtomicU32,
    open_until_ms: AtomicU64,
    trial_in_flight: AtomicBool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Closed circuit.
    Allowed,
    /// Half-open: this call is the trial.
    Trial,
    /// Open: fail fast; retry after this many seconds.
    Refused(u64),
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            trial_in_flight: AtomicBool::new(false),
        }
    }

    /// Asks to make a call.
    pub fn permit(&self) -> Permit {
        let open_until = self.open_until_ms.load(Ordering::Acquire);
        if open_until == 0 {
            return Permit::Allowed;
        }
        let now = now_ms();
        if now < open_until {
            return Permit::Refused((open_until - now).div_ceil(1000));
        }
        if self
            .trial_in_flight
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            Permit::Trial
        } else {
            Permit::Refused(1)
        }
    }

    /// Records a successful call.
    pub fn success(&self) {
        self.failures.store(0, Ordering::Release);
        self.open_until_ms.store(0, Ordering::Release);
        self.trial_in_flight.store(false, Ordering::Release);
    }

    /// Records a failed call; returns true when this opened the circuit.
    pub fn failure(&self) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let was_trial = self.trial_in_flight.swap(false, Ordering::AcqRel);
        if failures >= self.threshold || was_trial {
            let until = now_ms() + u64::try_from(self.open_for.as_millis()).unwrap_or(u64::MAX / 2);
            self.open_until_ms.store(until, Ordering::Release);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_closes_after_a_good_trial() {
        let breaker = CircuitBreaker::new(3, Duration::from_millis(30));
        assert_eq!(breaker.permit(), Permit::Allowed);
        assert!(!breaker.failure());
        assert!(!breaker.failure());
        assert!(breaker.failure());
        assert!(matches!(breaker.permit(), Permit::Refused(_)));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(breaker.permit(), Permit::Trial);
        assert!(
            matches!(breaker.permit(), Permit::Refused(_)),
            "one trial at a time"
        );
        breaker.success();
        assert_eq!(breaker.permit(), Permit::Allowed);
    }

    #[test]
    fn a_failed_trial_reopens_at_once() {
        let breaker = CircuitBreaker::new(1, Duration::from_millis(20));
        breaker.failure();
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(breaker.permit(), Permit::Trial);
        assert!(breaker.failure());
        assert!(matches!(breaker.permit(), Permit::Refused(_)));
    }
}

//! The [`Clock`] port's two implementations: the system clock, and one tests move by hand.

use crate::domain::time::UnixTime;
use crate::ports::Clock;
use std::sync::atomic::{AtomicI64, Ordering};

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock that reads `now` until moved.
    pub fn at(now: UnixTime) -> Self {
        Self(AtomicI64::new(now))
    }
    /// Moves the clock to `now`.
    pub fn set(&self, now: UnixTime) {
        self.0.store(now, Ordering::SeqCst);
    }
    /// Moves the clock `seconds` on.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Clock;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at(100);
        assert_eq!(clock.now(), 100);
        clock.advance(50);
        assert_eq!(clock.now(), 150);
    }
}

//! The emulator clock: real time plus an offset that `/_emulator/clock/advance` moves forward.

use std::time::{SystemTime, UNIX_EPOCH};

/// Real unix time in seconds.
pub fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Emulator time: starts at real now, keeps flowing, and can jump forward. A frozen clock
/// (Stripe's test clocks are) moves only when advanced.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: i64,
    frozen_at: Option<i64>,
}

impl Clock {
    /// A clock stopped at real now, moved only by [`Clock::set`].
    pub fn frozen() -> Self {
        Clock {
            offset: 0,
            frozen_at: Some(real_now()),
        }
    }

    /// Current emulator time (unix seconds).
    pub fn now(&self) -> i64 {
        self.frozen_at.unwrap_or_else(|| real_now() + self.offset)
    }

    /// Moves the clock so that now is `t`; never backwards.
    pub fn set(&mut self, t: i64) {
        if t > self.now() {
            match &mut self.frozen_at {
                Some(at) => *at = t,
                None => self.offset = t - real_now(),
            }
        }
    }
}

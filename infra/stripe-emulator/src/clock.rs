//! The emulator clock: real time plus an offset that `/_emulator/clock/advance` moves forward.

use std::time::{SystemTime, UNIX_EPOCH};

/// Real unix time in seconds.
pub fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Emulator time: starts at real now, keeps flowing, and can jump forward.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: i64,
}

impl Clock {
    /// Current emulator time (unix seconds).
    pub fn now(&self) -> i64 {
        real_now() + self.offset
    }

    /// Moves the clock so that now is `t`; never backwards.
    pub fn set(&mut self, t: i64) {
        if t > self.now() {
            self.offset = t - real_now();
        }
    }
}

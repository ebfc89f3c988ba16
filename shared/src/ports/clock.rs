//! Where "now" comes from: the system clock in the functions (`crate::time::SystemClock`), a
//! clock moved by hand in tests (`crate::time::FixedClock`).

use crate::domain::time::UnixTime;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch, now.
    fn now(&self) -> UnixTime;
}

//! Time-based proration as Stripe computes it, and the instant it is computed for. Stripe's
//! invoice preview is the authoritative amount; this arithmetic explains it, is cross-checked
//! against it, and decides which proration instants a caller may ask for.

use super::InvalidInput;
use crate::domain::time::UnixTime;

/// How long a previewed proration instant stays acceptable for the upgrade that follows it.
pub const PREVIEW_VALIDITY_SECONDS: i64 = 3600;

/// How far ahead of our clock a proration instant may be (clock skew between us and Stripe).
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// `amount × (end − t) / (end − start)`, rounded half away from zero, as Stripe rounds each
/// proration line; `t` is clamped into the period.
pub fn remaining_share(amount: i64, t: UnixTime, start: UnixTime, end: UnixTime) -> i64 {
    if end <= start {
        return 0;
    }
    let t = t.clamp(start, end);
    let numerator = i128::from(amount) * i128::from(end - t);
    let denominator = i128::from(end - start);
    let rounded = if numerator >= 0 {
        (2 * numerator + denominator) / (2 * denominator)
    } else {
        -((-2 * numerator + denominator) / (2 * denominator))
    };
    rounded as i64
}

/// What moving from `old` to `new` (per-period amounts of the same interval) costs at `t`
/// within `[start, end)`: the credit for the unused time (negative) plus the charge for the
/// remaining time at the new price, each rounded on its own.
pub fn upgrade_amount(old: i64, new: i64, t: UnixTime, start: UnixTime, end: UnixTime) -> i64 {
    remaining_share(new, t, start, end) - remaining_share(old, t, start, end)
}

/// Proration instants are whole minutes: a preview and the upgrade that follows within the
/// same minute (or a double click) agree on the instant, and so on the amount and the
/// idempotency key.
pub const PRORATION_GRANULARITY_SECONDS: i64 = 60;

/// The instant a new preview (or an upgrade without one) prorates at: now, to the minute,
/// kept inside the current period (Stripe refuses a proration date outside it; our clock may
/// trail a test clock that has moved on).
pub fn proration_instant(now: UnixTime, start: UnixTime, end: UnixTime) -> UnixTime {
    let minute = now - now.rem_euclid(PRORATION_GRANULARITY_SECONDS);
    minute.clamp(start, (end - 1).max(start))
}

/// Accepts the proration instant a caller brings back from a preview: inside the period, not
/// in the future, and at most [`PREVIEW_VALIDITY_SECONDS`] old. A later instant would charge
/// less, so an unbounded one would let a caller pick their own price.
pub fn accept_proration_date(
    requested: UnixTime,
    now: UnixTime,
    start: UnixTime,
    end: UnixTime,
) -> Result<UnixTime, InvalidInput> {
    let current = proration_instant(now, start, end);
    let earliest = (current - PREVIEW_VALIDITY_SECONDS).max(start);
    let latest = (current + CLOCK_SKEW_SECONDS).min(end - 1);
    if requested < earliest || requested > latest {
        return Err(InvalidInput(
            "proration_date is stale or outside the current period: preview the change again"
                .into(),
        ));
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_half_away_from_zero() {
        assert_eq!(remaining_share(4900, 0, 0, 100), 4900);
        assert_eq!(remaining_share(4900, 100, 0, 100), 0);
        assert_eq!(remaining_share(4900, 50, 0, 100), 2450);
        assert_eq!(remaining_share(1, 50, 0, 100), 1, "0.5 rounds up");
        assert_eq!(
            remaining_share(-1, 50, 0, 100),
            -1,
            "-0.5 rounds away from zero"
        );
        assert_eq!(
            remaining_share(1900, 10, 0, 3),
            0,
            "clamped to the period end"
        );
        assert_eq!(remaining_share(1900, 5, 5, 5), 0, "an empty period");
    }

    #[test]
    fn upgrade_costs_the_difference_for_the_time_left() {
        let (start, end) = (1_000, 1_000 + 30 * 86_400);
        assert_eq!(upgrade_amount(1900, 4900, start, start, end), 3000);
        assert_eq!(
            upgrade_amount(1900, 4900, start + 15 * 86_400, start, end),
            1500
        );
        // Each line is rounded on its own: 1/3 of 1900 and of 4900.
        let t = start + 20 * 86_400;
        assert_eq!(remaining_share(1900, t, start, end), 633);
        assert_eq!(remaining_share(4900, t, start, end), 1633);
        assert_eq!(upgrade_amount(1900, 4900, t, start, end), 1000);
    }

    #[test]
    fn the_proration_instant_stays_in_the_period() {
        assert_eq!(proration_instant(150, 0, 1000), 120, "whole minutes");
        assert_eq!(
            proration_instant(150, 130, 1000),
            130,
            "not before the period"
        );
        assert_eq!(
            proration_instant(-5, 0, 100),
            0,
            "our clock trails a test clock"
        );
        assert_eq!(proration_instant(500, 0, 100), 99);
    }

    #[test]
    fn a_previewed_instant_is_accepted_only_while_fresh() {
        let (start, end) = (0, 30 * 86_400);
        let now = 10 * 86_400;
        assert_eq!(
            accept_proration_date(now - 30, now, start, end),
            Ok(now - 30)
        );
        assert_eq!(
            accept_proration_date(now + 30, now, start, end),
            Ok(now + 30)
        );
        assert!(accept_proration_date(now - 2 * 3600, now, start, end).is_err());
        assert!(
            accept_proration_date(end - 10, now, start, end).is_err(),
            "a cheaper future"
        );
        assert!(
            accept_proration_date(-1, 5, start, end).is_err(),
            "before the period"
        );
    }
}

//! Discounts: what a coupon takes off a full-price first invoice (for previews made without
//! Stripe), and the discount a subscription carries, as the profile keeps it.

use super::time::UnixTime;
use serde::{Deserialize, Serialize};

/// The discount on the subscription, as last applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveDiscount {
    /// Stripe's `di_...`.
    pub id: String,
    /// The coupon's display name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it takes off each invoice; `None` until Stripe's copy with the coupon was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off: Option<CouponOff>,
    /// The currency of an amount off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// When it stops applying; `None` for a forever coupon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<UnixTime>,
}

/// A coupon's reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponOff {
    /// Hundredths of a percent (Stripe's `percent_off` carries at most two decimals).
    PercentHundredths(i64),
    /// Minor units off, capped at the amount.
    Amount(i64),
}

impl CouponOff {
    /// From Stripe's `percent_off` or `amount_off` (percent first, as Stripe allows only one).
    pub fn from_stripe(percent_off: Option<f64>, amount_off: Option<i64>) -> Option<Self> {
        match (percent_off, amount_off) {
            // Two decimals at most: the rounding only removes float noise.
            (Some(pct), _) => Some(Self::PercentHundredths((pct * 100.0).round() as i64)),
            (None, Some(off)) => Some(Self::Amount(off)),
            (None, None) => None,
        }
    }
}

/// What `off` takes off `amount` minor units: a percentage rounded half away from zero to the
/// minor unit, as Stripe rounds it; an amount never more than there is.
pub fn discount_of(amount: i64, off: CouponOff) -> i64 {
    match off {
        CouponOff::PercentHundredths(h) => {
            let product = i128::from(amount) * i128::from(h.clamp(0, 10_000));
            let rounded = (product + product.signum() * 5_000) / 10_000;
            i64::try_from(rounded).unwrap_or(amount)
        }
        CouponOff::Amount(off) => off.clamp(0, amount.max(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_to_the_minor_unit_and_amounts_cap_at_the_total() {
        let cases = [
            (4900, CouponOff::PercentHundredths(2000), 980),
            (1900, CouponOff::PercentHundredths(1250), 238), // 237.5 rounds up
            (999, CouponOff::PercentHundredths(3333), 333),  // 332.97
            (4900, CouponOff::PercentHundredths(10_000), 4900),
            (4900, CouponOff::Amount(500), 500),
            (300, CouponOff::Amount(500), 300),
            (0, CouponOff::PercentHundredths(5000), 0),
        ];
        for (amount, off, want) in cases {
            assert_eq!(discount_of(amount, off), want, "{amount} {off:?}");
        }
        assert_eq!(
            CouponOff::from_stripe(Some(12.5), None),
            Some(CouponOff::PercentHundredths(1250))
        );
        assert_eq!(
            CouponOff::from_stripe(None, Some(700)),
            Some(CouponOff::Amount(700))
        );
        assert_eq!(CouponOff::from_stripe(None, None), None);
    }
}

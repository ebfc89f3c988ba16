//! Coupons and the promotion codes customers type to redeem them.

use super::{has_id, null_as_default};
use serde::{Deserialize, Serialize};

/// A promotion code (`promo_...`): a customer-facing code for a coupon.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromotionCode {
    /// `promo_...`: what `discounts[][promotion_code]` takes.
    pub id: String,
    /// What the customer types (case-insensitive in Stripe's lookups).
    #[serde(default)]
    pub code: String,
    /// Whether it can be redeemed at all.
    #[serde(default, deserialize_with = "null_as_default")]
    pub active: bool,
    /// The coupon it redeems.
    #[serde(default)]
    pub coupon: Coupon,
    /// When it stops being redeemable, Unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A coupon: what a discount takes off, and for how long.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coupon {
    /// The coupon's id.
    #[serde(default)]
    pub id: String,
    /// Its display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Percent off (0-100), when it takes a share.
    #[serde(default)]
    pub percent_off: Option<f64>,
    /// Minor units off, when it takes an amount.
    #[serde(default)]
    pub amount_off: Option<i64>,
    /// The currency of `amount_off`.
    #[serde(default)]
    pub currency: Option<String>,
    /// `once`, `repeating` or `forever`.
    #[serde(default)]
    pub duration: Option<String>,
    /// Months a `repeating` coupon lasts.
    #[serde(default)]
    pub duration_in_months: Option<u32>,
}

/// A coupon redeemed on a subscription (`di_...`), with when it stops applying.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discount {
    /// `di_...`.
    pub id: String,
    /// The coupon it applies.
    #[serde(default)]
    pub coupon: Coupon,
    /// When it stops applying, Unix seconds; absent for a `forever` coupon.
    #[serde(default)]
    pub end: Option<i64>,
}

has_id!(Discount);

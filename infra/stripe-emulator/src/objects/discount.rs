//! Coupons, promotion codes and the discounts that apply them.

use serde_json::{json, Map, Value};

use crate::store::Store;

/// A coupon: what a discount takes off, and for how long.
#[derive(Debug, Clone)]
pub struct Coupon {
    /// Its id (given, or 8 random characters as Stripe makes them).
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Shown to customers.
    pub name: Option<String>,
    /// Percent off (`0 < p <= 100`, up to two decimals).
    pub percent_off: Option<f64>,
    /// Amount off in minor units of `currency`.
    pub amount_off: Option<i64>,
    /// Currency of `amount_off`.
    pub currency: Option<String>,
    /// `once`, `repeating` or `forever`.
    pub duration: String,
    /// Months of a `repeating` coupon.
    pub duration_in_months: Option<i64>,
    /// `applies_to.products`: the products it discounts (`None`: all).
    pub products: Option<Vec<String>>,
    /// Redemptions allowed in all.
    pub max_redemptions: Option<i64>,
    /// Last time it can be redeemed.
    pub redeem_by: Option<i64>,
    /// Times redeemed.
    pub times_redeemed: i64,
    /// Metadata.
    pub metadata: Map<String, Value>,
}

impl Coupon {
    /// Whether it can still be redeemed (Stripe's `valid`).
    pub fn valid(&self, now: i64) -> bool {
        self.redeem_by.is_none_or(|t| now < t)
            && self.max_redemptions.is_none_or(|m| self.times_redeemed < m)
    }

    /// Whether it discounts a line of this product.
    pub fn applies_to(&self, product: &str) -> bool {
        self.products
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p == product))
    }

    /// The coupon object (`applies_to` and `currency_options` are includable: kept only when
    /// expanded).
    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "id": self.id,
            "object": "coupon",
            "amount_off": self.amount_off,
            "applies_to": self.products.as_ref().map(|p| json!({"products": p})),
            "created": self.created,
            "currency": self.currency,
            "currency_options": self.amount_off.zip(self.currency.as_ref()).map(|(a, c)| json!({c: {"amount_off": a}})),
            "duration": self.duration,
            "duration_in_months": self.duration_in_months,
            "livemode": false,
            "max_redemptions": self.max_redemptions,
            "metadata": self.metadata,
            "name": self.name,
            "percent_off": self.percent_off,
            "redeem_by": self.redeem_by,
            "times_redeemed": self.times_redeemed,
            "valid": self.valid(now)
        })
    }
}

/// A promotion code: a customer-facing code for a coupon, with its own limits.
#[derive(Debug, Clone)]
pub struct PromotionCode {
    /// `promo_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// The code customers type (`SUMMER20`); unique among active codes, case-insensitively.
    pub code: String,
    /// The coupon it redeems.
    pub coupon: String,
    /// Whether it can be redeemed.
    pub active: bool,
    /// Only this customer may redeem it.
    pub customer: Option<String>,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Redemptions allowed.
    pub max_redemptions: Option<i64>,
    /// Times redeemed.
    pub times_redeemed: i64,
    /// `restrictions.first_time_transaction`.
    pub first_time_transaction: bool,
    /// `restrictions.minimum_amount`.
    pub minimum_amount: Option<i64>,
    /// `restrictions.minimum_amount_currency`.
    pub minimum_amount_currency: Option<String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
}

impl PromotionCode {
    /// The promotion code object (its coupon embedded, as basil renders it).
    pub fn to_json(&self, store: &Store) -> Value {
        let now = store.now();
        json!({
            "id": self.id,
            "object": "promotion_code",
            "active": self.active,
            "code": self.code,
            "coupon": store.coupons.get(&self.coupon).map(|c| c.to_json(now)),
            "created": self.created,
            "customer": self.customer,
            "expires_at": self.expires_at,
            "livemode": false,
            "max_redemptions": self.max_redemptions,
            "metadata": self.metadata,
            "restrictions": {
                "currency_options": {},
                "first_time_transaction": self.first_time_transaction,
                "minimum_amount": self.minimum_amount,
                "minimum_amount_currency": self.minimum_amount_currency
            },
            "times_redeemed": self.times_redeemed
        })
    }
}

/// A discount: a coupon (maybe through a promotion code) redeemed onto a subscription.
#[derive(Debug, Clone)]
pub struct Discount {
    /// `di_...`.
    pub id: String,
    /// The coupon.
    pub coupon: String,
    /// The promotion code redeemed, if any.
    pub promotion_code: Option<String>,
    /// Customer.
    pub customer: Option<String>,
    /// Subscription it applies to.
    pub subscription: Option<String>,
    /// Checkout session it was redeemed in.
    pub checkout_session: Option<String>,
    /// Redemption time.
    pub start: i64,
    /// End of a `repeating` discount (`start` + `duration_in_months`); `None` otherwise.
    pub end: Option<i64>,
    /// A `once` discount that an invoice has used up.
    pub used: bool,
}

impl Discount {
    /// Whether it still applies to an invoice made at `at`.
    pub fn in_effect(&self, at: i64) -> bool {
        !self.used && self.end.is_none_or(|end| at < end)
    }

    /// The discount object (its coupon embedded).
    pub fn to_json(&self, store: &Store) -> Value {
        json!({
            "id": self.id,
            "object": "discount",
            "checkout_session": self.checkout_session,
            "coupon": store.coupons.get(&self.coupon).map(|c| c.to_json(store.now())),
            "customer": self.customer,
            "end": self.end,
            "invoice": null,
            "invoice_item": null,
            "promotion_code": self.promotion_code,
            "start": self.start,
            "subscription": self.subscription,
            "subscription_item": null
        })
    }
}

//! Products and prices.

use serde_json::{json, Map, Value};

use crate::calendar::Interval;

/// A product.
#[derive(Debug, Clone)]
pub struct Product {
    /// `prod_...` or a caller-chosen id.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Last update.
    pub updated: i64,
    /// Name, used in invoice line descriptions.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Whether it can be bought.
    pub active: bool,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Default price.
    pub default_price: Option<String>,
}

impl Product {
    /// The product object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "product",
            "active": self.active,
            "created": self.created,
            "default_price": self.default_price,
            "description": self.description,
            "images": [],
            "livemode": false,
            "marketing_features": [],
            "metadata": self.metadata,
            "name": self.name,
            "package_dimensions": null,
            "shippable": null,
            "statement_descriptor": null,
            "tax_code": null,
            "type": "service",
            "unit_label": null,
            "updated": self.updated,
            "url": null
        })
    }
}

/// A price's billing recurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurring {
    /// Interval unit.
    pub interval: Interval,
    /// Number of units per period.
    pub interval_count: i64,
}

/// A price.
#[derive(Debug, Clone)]
pub struct Price {
    /// `price_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Product id.
    pub product: String,
    /// Amount in minor units.
    pub unit_amount: i64,
    /// Three-letter lower-case currency.
    pub currency: String,
    /// `None` for one-time prices.
    pub recurring: Option<Recurring>,
    /// Lookup key (unique among prices).
    pub lookup_key: Option<String>,
    /// Whether it can be used for new purchases.
    pub active: bool,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Nickname.
    pub nickname: Option<String>,
}

impl Price {
    /// The price object.
    pub fn to_json(&self) -> Value {
        let recurring = self.recurring.map(|r| {
            json!({
                "interval": r.interval.as_str(),
                "interval_count": r.interval_count,
                "meter": null,
                "trial_period_days": null,
                "usage_type": "licensed"
            })
        });
        json!({
            "id": self.id,
            "object": "price",
            "active": self.active,
            "billing_scheme": "per_unit",
            "created": self.created,
            "currency": self.currency,
            "custom_unit_amount": null,
            "livemode": false,
            "lookup_key": self.lookup_key,
            "metadata": self.metadata,
            "nickname": self.nickname,
            "product": self.product,
            "recurring": recurring,
            "tax_behavior": "unspecified",
            "tiers_mode": null,
            "transform_quantity": null,
            "type": if self.recurring.is_some() { "recurring" } else { "one_time" },
            "unit_amount": self.unit_amount,
            "unit_amount_decimal": self.unit_amount.to_string()
        })
    }

    /// The legacy `plan` rendering of a recurring price (still present on items and lines).
    pub fn plan_json(&self) -> Value {
        let r = self.recurring;
        json!({
            "id": self.id,
            "object": "plan",
            "active": self.active,
            "amount": self.unit_amount,
            "amount_decimal": self.unit_amount.to_string(),
            "billing_scheme": "per_unit",
            "created": self.created,
            "currency": self.currency,
            "interval": r.map(|r| r.interval.as_str()),
            "interval_count": r.map(|r| r.interval_count),
            "livemode": false,
            "metadata": self.metadata,
            "meter": null,
            "nickname": self.nickname,
            "product": self.product,
            "tiers_mode": null,
            "transform_usage": null,
            "trial_period_days": null,
            "usage_type": "licensed"
        })
    }
}

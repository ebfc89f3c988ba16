//! Products and prices, found by lookup key.

use super::{has_id, null_as_default, Expandable, Metadata};
use crate::domain::PriceFacts;
use serde::{Deserialize, Serialize};

/// Metadata key that marks a product or price as belonging to a tier (catalog-sync sets it).
pub const TIER_METADATA_KEY: &str = "tierflow_tier";
/// Metadata key that records a price's billing cycle (catalog-sync sets it).
pub const CYCLE_METADATA_KEY: &str = "tierflow_cycle";

/// A product: one per paid tier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// `prod_...`, or the id Tierflow chose (`tierflow_starter`).
    pub id: String,
    /// Shown at Checkout and on invoices.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether it can be bought (false once archived).
    #[serde(default, deserialize_with = "null_as_default")]
    pub active: bool,
    /// Shown at Checkout, when set.
    #[serde(default)]
    pub description: Option<String>,
    /// Catalog-sync marks the tier here ([`TIER_METADATA_KEY`]).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// A price. `unit_amount` is absent for metered and decimal prices, `recurring` for one-time
/// ones; old plan-shaped prices carry neither.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// `price_...`.
    pub id: String,
    /// Whether new purchases may use it; a retired price still bills its subscriptions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub active: bool,
    /// The catalog's name for it (`tierflow_starter_monthly`), unique among prices.
    #[serde(default)]
    pub lookup_key: Option<String>,
    /// Per unit, in the currency's minor unit.
    #[serde(default)]
    pub unit_amount: Option<i64>,
    /// Three-letter ISO code, lowercase.
    #[serde(default)]
    pub currency: Option<String>,
    /// How often it bills.
    #[serde(default)]
    pub recurring: Option<Recurring>,
    /// The product it sells (expanded when asked).
    #[serde(default)]
    pub product: Option<Expandable<Product>>,
    /// A name only the Dashboard shows.
    #[serde(default)]
    pub nickname: Option<String>,
    /// Catalog-sync marks the tier and cycle here.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
}

/// How often a recurring price bills.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurring {
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    /// Intervals per billing period (3 with `month` bills quarterly); 1 when absent.
    #[serde(default)]
    pub interval_count: Option<u32>,
}

impl Price {
    /// `recurring.interval`, when the price recurs.
    pub fn interval(&self) -> Option<&str> {
        self.recurring.as_ref().map(|r| r.interval.as_str())
    }

    /// The product's id, expanded or not.
    pub fn product_id(&self) -> Option<&str> {
        self.product.as_ref().map(Expandable::id)
    }

    /// What the catalog needs to know to say which plan this price bills for.
    pub fn facts(&self) -> PriceFacts<'_> {
        let product_tier_mark = match &self.product {
            Some(Expandable::Object(product)) => product.metadata.get(TIER_METADATA_KEY),
            _ => None,
        };
        PriceFacts {
            price_id: &self.id,
            lookup_key: self.lookup_key.as_deref(),
            tier_mark: self.metadata.get(TIER_METADATA_KEY).map(String::as_str),
            cycle_mark: self.metadata.get(CYCLE_METADATA_KEY).map(String::as_str),
            product_tier_mark: product_tier_mark.map(String::as_str),
            product_id: self.product_id(),
            interval: self.interval(),
            interval_count: self.recurring.as_ref().and_then(|r| r.interval_count),
        }
    }
}

has_id!(Product, Price);

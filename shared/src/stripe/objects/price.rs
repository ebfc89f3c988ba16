//! Products and prices, found by lookup key.

use super::{has_id, null_as_default, Expandable, Metadata};
use serde::{Deserialize, Serialize};

/// A product: one per paid tier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub active: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// A price. `unit_amount` is absent for metered and decimal prices, `recurring` for one-time
/// ones; old plan-shaped prices carry neither.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub active: bool,
    #[serde(default)]
    pub lookup_key: Option<String>,
    #[serde(default)]
    pub unit_amount: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub recurring: Option<Recurring>,
    #[serde(default)]
    pub product: Option<Expandable<Product>>,
    #[serde(default)]
    pub nickname: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    #[serde(default)]
    pub created: Option<i64>,
}

/// How often a recurring price bills.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurring {
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
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
}

has_id!(Product, Price);

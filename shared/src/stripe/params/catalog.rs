//! The catalog's products and prices (`catalog-sync`).

use crate::stripe::form::Form;
use crate::stripe::objects::Metadata;

/// `POST /v1/products`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewProduct {
    /// A chosen id (`tierflow_starter`); Stripe generates one when absent.
    pub id: Option<String>,
    /// Shown at Checkout and on invoices.
    pub name: String,
    /// The tier mark.
    pub metadata: Metadata,
}

impl NewProduct {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("id", self.id.as_deref())
            .field("name", &self.name)
            .map("metadata", &self.metadata)
    }
}

/// `POST /v1/products/{id}`: only the fields that are set change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductUpdate {
    /// A new name.
    pub name: Option<String>,
    /// `Some(true)` brings an archived product back.
    pub active: Option<bool>,
    /// Keys to set; keys not named stay as they are.
    pub metadata: Metadata,
}

impl ProductUpdate {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("name", self.name.as_deref())
            .opt("active", self.active)
            .map("metadata", &self.metadata)
    }
}

/// `POST /v1/prices` for a recurring price.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPrice {
    /// The product's id.
    pub product: String,
    /// Per period, in the currency's minor unit.
    pub unit_amount: i64,
    /// Three-letter ISO code, lowercase.
    pub currency: String,
    /// `month` or `year`.
    pub interval: String,
    /// The catalog's name for the price.
    pub lookup_key: Option<String>,
    /// Take the lookup key from the price that holds it.
    pub transfer_lookup_key: bool,
    /// A name only the Dashboard shows.
    pub nickname: Option<String>,
    /// The tier and cycle marks.
    pub metadata: Metadata,
}

impl NewPrice {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .field("product", &self.product)
            .field("unit_amount", self.unit_amount)
            .field("currency", &self.currency)
            .field("recurring[interval]", &self.interval)
            .opt("lookup_key", self.lookup_key.as_deref())
            .opt(
                "transfer_lookup_key",
                self.transfer_lookup_key.then_some(true),
            )
            .opt("nickname", self.nickname.as_deref())
            .map("metadata", &self.metadata)
    }
}

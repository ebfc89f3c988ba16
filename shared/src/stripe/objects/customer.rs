//! Customers, live and deleted.

use super::{has_id, null_as_default, Expandable, Metadata, PaymentMethod};
use serde::{Deserialize, Serialize};

/// A Stripe customer. `deleted` is true in `customer.deleted` events and deletion answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// `cus_...`.
    pub id: String,
    /// The customer's email, absent when none was given.
    #[serde(default)]
    pub email: Option<String>,
    /// The customer's full name, when set.
    #[serde(default)]
    pub name: Option<String>,
    /// Tierflow stores `user_id` here.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Unix seconds; absent on deleted customers.
    #[serde(default)]
    pub created: Option<i64>,
    /// True for a deleted customer (its other fields are then absent).
    #[serde(default, deserialize_with = "null_as_default")]
    pub deleted: bool,
    /// Invoice defaults; absent on deleted customers.
    #[serde(default)]
    pub invoice_settings: Option<CustomerInvoiceSettings>,
}

/// The customer's invoice defaults; Tierflow reads the default card.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerInvoiceSettings {
    /// The payment method invoices charge unless the subscription names one.
    #[serde(default)]
    pub default_payment_method: Option<Expandable<PaymentMethod>>,
}

impl Customer {
    /// The id of the card invoices are charged to by default, if one is set.
    pub fn default_payment_method_id(&self) -> Option<&str> {
        self.invoice_settings
            .as_ref()?
            .default_payment_method
            .as_ref()
            .map(Expandable::id)
    }
}

/// What `DELETE /v1/customers/{id}` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedCustomer {
    /// The deleted customer's id.
    pub id: String,
    /// Always true in a deletion answer.
    #[serde(default)]
    pub deleted: bool,
}

has_id!(Customer, DeletedCustomer);

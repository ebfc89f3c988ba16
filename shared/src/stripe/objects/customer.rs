//! Customers, live and deleted.

use super::{has_id, null_as_default, Expandable, Metadata, PaymentMethod};
use serde::{Deserialize, Serialize};

/// A Stripe customer. `deleted` is true in `customer.deleted` events and deletion answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub deleted: bool,
    #[serde(default)]
    pub invoice_settings: Option<CustomerInvoiceSettings>,
}

/// The customer's invoice defaults; Tierflow reads the default card.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerInvoiceSettings {
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
    pub id: String,
    #[serde(default)]
    pub deleted: bool,
}

has_id!(Customer, DeletedCustomer);

//! Creating and updating a customer.

use crate::stripe::form::Form;
use crate::stripe::objects::Metadata;

/// `POST /v1/customers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCustomer {
    /// For receipts and invoices.
    pub email: Option<String>,
    /// The customer's full name.
    pub name: Option<String>,
    /// Tierflow's `user_id`, which the customer search looks for.
    pub metadata: Metadata,
}

impl NewCustomer {
    /// A customer for a Tierflow user, findable again by `metadata[user_id]`.
    pub fn for_user(user_id: &str, email: Option<&str>) -> Self {
        Self {
            email: email.map(str::to_owned),
            name: None,
            metadata: Metadata::from([("user_id".to_owned(), user_id.to_owned())]),
        }
    }

    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("email", self.email.as_deref())
            .opt("name", self.name.as_deref())
            .map("metadata", &self.metadata)
    }
}

/// `POST /v1/customers/{id}`: only the fields that are set change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerUpdate {
    /// A new email.
    pub email: Option<String>,
    /// A new name.
    pub name: Option<String>,
    /// Keys to set; keys not named stay as they are.
    pub metadata: Metadata,
    /// Becomes `invoice_settings[default_payment_method]`.
    pub default_payment_method: Option<String>,
}

impl CustomerUpdate {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("email", self.email.as_deref())
            .opt("name", self.name.as_deref())
            .map("metadata", &self.metadata)
            .opt(
                "invoice_settings[default_payment_method]",
                self.default_payment_method.as_deref(),
            )
    }
}

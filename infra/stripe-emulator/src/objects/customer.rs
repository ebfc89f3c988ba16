//! Customers.

use serde_json::{json, Map, Value};

use crate::store::Store;

/// A customer.
#[derive(Debug, Clone)]
pub struct Customer {
    /// `cus_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Email.
    pub email: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// `invoice_settings.default_payment_method`.
    pub default_payment_method: Option<String>,
    /// Credit balance in minor units (negative = credit).
    pub balance: i64,
    /// Prefix of invoice numbers.
    pub invoice_prefix: String,
    /// Next invoice number.
    pub next_invoice_sequence: u32,
    /// Whether the customer was deleted.
    pub deleted: bool,
    /// `address` (`city`, `country`, `line1`, `line2`, `postal_code`, `state`).
    pub address: Option<Value>,
}

impl Customer {
    /// The customer object (or the deleted stub).
    pub fn to_json(&self, store: &Store) -> Value {
        if self.deleted {
            return self.deleted_stub();
        }
        self.full_json(store)
    }

    /// The full object, also for deleted customers (as in `customer.deleted` events).
    pub fn full_json(&self, store: &Store) -> Value {
        let delinquent = store
            .subscriptions
            .oldest_first()
            .any(|s| s.customer == self.id && s.status == "past_due");
        let currency = store
            .subscriptions
            .oldest_first()
            .find(|s| s.customer == self.id)
            .map(|s| s.currency.clone());
        json!({
            "id": self.id,
            "object": "customer",
            "address": self.address,
            "balance": self.balance,
            "created": self.created,
            "currency": currency,
            "default_source": null,
            "delinquent": delinquent,
            "description": self.description,
            "discount": null,
            "email": self.email,
            "invoice_prefix": self.invoice_prefix,
            "invoice_settings": {
                "custom_fields": null,
                "default_payment_method": self.default_payment_method,
                "footer": null,
                "rendering_options": null
            },
            "livemode": false,
            "metadata": self.metadata,
            "name": self.name,
            "next_invoice_sequence": self.next_invoice_sequence,
            "phone": self.phone,
            "preferred_locales": [],
            "shipping": null,
            "tax_exempt": "none",
            "tax_ids": super::list_of(
                store.tax_ids.newest_first().filter(|t| t.customer == self.id).map(TaxId::to_json).collect(),
                &format!("/v1/customers/{}/tax_ids", self.id)
            ),
            "test_clock": null
        })
    }

    /// `{"id","object":"customer","deleted":true}`.
    pub fn deleted_stub(&self) -> Value {
        json!({"id": self.id, "object": "customer", "deleted": true})
    }
}

/// A customer's tax ID (`POST /v1/customers/{id}/tax_ids`, or entered in Checkout).
#[derive(Debug, Clone)]
pub struct TaxId {
    /// `txi_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Owner.
    pub customer: String,
    /// `eu_vat`, `gb_vat`, `us_ein`, ...
    pub kind: String,
    /// The number as entered.
    pub value: String,
    /// Issuing country (from the type, or a VAT number's prefix).
    pub country: Option<String>,
}

impl TaxId {
    /// The `tax_id` object (test mode verifies VAT numbers at once).
    pub fn to_json(&self) -> Value {
        let verifiable = matches!(self.kind.as_str(), "eu_vat" | "gb_vat");
        json!({
            "id": self.id,
            "object": "tax_id",
            "country": self.country,
            "created": self.created,
            "customer": self.customer,
            "livemode": false,
            "owner": {"account": null, "application": null, "customer": self.customer, "type": "customer"},
            "type": self.kind,
            "value": self.value,
            "verification": {
                "status": if verifiable { "verified" } else { "unavailable" },
                "verified_address": null,
                "verified_name": null
            }
        })
    }
}

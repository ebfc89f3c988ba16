//! Checkout and Customer Portal sessions.

use super::{
    has_id, null_as_default, Customer, Expandable, Invoice, Metadata, PaymentIntent, Subscription,
};
use serde::{Deserialize, Serialize};

/// A Checkout session (hosted payment page).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// Where to send the customer; `null` once the session is complete or expired.
    #[serde(default)]
    pub url: Option<String>,
    /// `payment`, `setup` or `subscription`.
    #[serde(default)]
    pub mode: Option<String>,
    /// `open`, `complete` or `expired` (absent on very old sessions).
    #[serde(default)]
    pub status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub subscription: Option<Expandable<Subscription>>,
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub invoice: Option<Expandable<Invoice>>,
    #[serde(default)]
    pub created: Option<i64>,
}

impl CheckoutSession {
    /// The customer's id, if the session has one.
    pub fn customer_id(&self) -> Option<&str> {
        self.customer.as_ref().map(Expandable::id)
    }

    /// The subscription's id, for subscription-mode sessions once complete.
    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription.as_ref().map(Expandable::id)
    }

    /// Whether the customer has paid (or nothing was owed).
    pub fn is_paid(&self) -> bool {
        matches!(
            self.payment_status.as_deref(),
            Some("paid" | "no_payment_required")
        )
    }
}

/// A Customer Portal session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortalSession {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub return_url: Option<String>,
}

/// A Customer Portal configuration: what the portal lets a customer change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortalConfiguration {
    pub id: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub metadata: super::Metadata,
}

has_id!(CheckoutSession, PortalSession, PortalConfiguration);

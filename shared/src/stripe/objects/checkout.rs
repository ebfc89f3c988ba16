//! Checkout and Customer Portal sessions.

use super::{
    has_id, null_as_default, Customer, Expandable, Invoice, Metadata, PaymentIntent, Subscription,
};
use serde::{Deserialize, Serialize};

/// A Checkout session (hosted payment page).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckoutSession {
    /// `cs_...`.
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
    /// The customer it was made for, or the one Checkout created; absent before completion
    /// when none was given.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// Tierflow's user id, set when the session was made.
    #[serde(default)]
    pub client_reference_id: Option<String>,
    /// The subscription a subscription-mode session created, once complete (expanded on retrieve).
    #[serde(default)]
    pub subscription: Option<Expandable<Subscription>>,
    /// The PaymentIntent of a payment-mode session.
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// The session's own metadata (not the subscription's).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// The total after discounts and taxes, in the currency's minor unit.
    #[serde(default)]
    pub amount_total: Option<i64>,
    /// Three-letter ISO code, lowercase.
    #[serde(default)]
    pub currency: Option<String>,
    /// The invoice the session created, if any (a subscription's first one).
    #[serde(default)]
    pub invoice: Option<Expandable<Invoice>>,
    /// Unix seconds.
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
    /// `bps_...`.
    pub id: String,
    /// The short-lived link that opens the portal for the customer.
    pub url: String,
    /// The customer it opens the portal for (`cus_...`).
    #[serde(default)]
    pub customer: Option<String>,
    /// Where the portal's back link goes.
    #[serde(default)]
    pub return_url: Option<String>,
}

/// A Customer Portal configuration: what the portal lets a customer change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortalConfiguration {
    /// `bpc_...`.
    pub id: String,
    /// Whether new sessions may use it.
    #[serde(default)]
    pub active: bool,
    /// Whether sessions without a `configuration` use it.
    #[serde(default)]
    pub is_default: bool,
    /// Catalog-sync marks its own configuration here.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub metadata: super::Metadata,
}

has_id!(CheckoutSession, PortalSession, PortalConfiguration);

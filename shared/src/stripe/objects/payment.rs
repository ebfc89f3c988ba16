//! Money movements: PaymentIntents, saved cards, charges, refunds and disputes.

use super::{has_id, null_as_default, Customer, Expandable, Metadata};
use serde::{Deserialize, Serialize};

/// A PaymentIntent (basil: it names its `latest_charge`, never an invoice; an invoice's
/// `invoice_payment` names the PaymentIntent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    #[serde(default)]
    pub currency: Option<String>,
    /// `requires_payment_method`, `requires_action`, `processing`, `succeeded`, `canceled`, ...
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    #[serde(default)]
    pub latest_charge: Option<Expandable<Charge>>,
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
    #[serde(default)]
    pub next_action: Option<NextAction>,
    #[serde(default)]
    pub payment_method: Option<Expandable<PaymentMethod>>,
    #[serde(default)]
    pub created: Option<i64>,
}

/// Why the last attempt failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentError {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What the customer must do next, e.g. 3-D Secure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextAction {
    /// `redirect_to_url`, `use_stripe_sdk`, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub redirect_to_url: Option<RedirectToUrl>,
}

/// A page the customer must visit to authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectToUrl {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub return_url: Option<String>,
}

impl PaymentIntent {
    /// The most recent charge's id, expanded or not.
    pub fn latest_charge_id(&self) -> Option<&str> {
        self.latest_charge.as_ref().map(Expandable::id)
    }

    /// The customer's id, expanded or not.
    pub fn customer_id(&self) -> Option<&str> {
        self.customer.as_ref().map(Expandable::id)
    }

    /// The customer must authenticate (3-D Secure) before it can succeed.
    pub fn requires_action(&self) -> bool {
        self.status == "requires_action"
    }

    /// The authentication page, when Stripe gave one.
    pub fn action_url(&self) -> Option<&str> {
        self.next_action
            .as_ref()?
            .redirect_to_url
            .as_ref()?
            .url
            .as_deref()
    }
}

/// A saved payment method.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub card: Option<Card>,
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    #[serde(default)]
    pub created: Option<i64>,
}

/// What Tierflow shows of a card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    #[serde(default)]
    pub brand: String,
    #[serde(default)]
    pub last4: String,
    #[serde(default)]
    pub exp_month: u32,
    #[serde(default)]
    pub exp_year: u32,
}

/// A charge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount_refunded: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub refunded: bool,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    #[serde(default)]
    pub payment_method_details: Option<ChargePaymentMethodDetails>,
    #[serde(default)]
    pub receipt_url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created: Option<i64>,
    /// `succeeded`, `pending` or `failed`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub disputed: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// How a charge was paid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargePaymentMethodDetails {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub card: Option<ChargeCard>,
}

/// The card a charge used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeCard {
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
}

impl Charge {
    /// Everything was given back.
    pub fn is_fully_refunded(&self) -> bool {
        self.refunded || (self.amount > 0 && self.amount_refunded >= self.amount)
    }

    /// The customer's id, expanded or not.
    pub fn customer_id(&self) -> Option<&str> {
        self.customer.as_ref().map(Expandable::id)
    }

    /// The PaymentIntent's id, expanded or not.
    pub fn payment_intent_id(&self) -> Option<&str> {
        self.payment_intent.as_ref().map(Expandable::id)
    }

    /// The card used, when paid by card.
    pub fn card(&self) -> Option<&ChargeCard> {
        self.payment_method_details.as_ref()?.card.as_ref()
    }
}

/// A refund.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub charge: Option<Expandable<Charge>>,
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub created: Option<i64>,
}

/// A dispute (chargeback).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: String,
    #[serde(default)]
    pub charge: Option<Expandable<Charge>>,
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created: Option<i64>,
}

impl Dispute {
    /// The disputed charge's id, expanded or not.
    pub fn charge_id(&self) -> Option<&str> {
        self.charge.as_ref().map(Expandable::id)
    }
}

has_id!(PaymentIntent, PaymentMethod, Charge, Refund, Dispute);

//! Money movements: PaymentIntents, saved cards, charges, refunds and disputes.

use super::{has_id, null_as_default, Customer, Expandable, Metadata};
use serde::{Deserialize, Serialize};

/// A PaymentIntent (basil: it names its `latest_charge`, never an invoice; an invoice's
/// `invoice_payment` names the PaymentIntent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentIntent {
    /// `pi_...`.
    pub id: String,
    /// What it collects, in the currency's minor unit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    /// Three-letter ISO code, lowercase.
    #[serde(default)]
    pub currency: Option<String>,
    /// `requires_payment_method`, `requires_action`, `processing`, `succeeded`, `canceled`, ...
    #[serde(default)]
    pub status: String,
    /// What the browser confirms it with (Stripe.js).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The customer it charges, when it has one.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// Shown in the Dashboard and on receipts.
    #[serde(default)]
    pub description: Option<String>,
    /// Tierflow puts the user id here for one-time payments.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// The last charge attempt, once one was made.
    #[serde(default)]
    pub latest_charge: Option<Expandable<Charge>>,
    /// Why the last attempt failed; cleared when a new attempt starts.
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
    /// What the customer must do, when `status` is `requires_action`.
    #[serde(default)]
    pub next_action: Option<NextAction>,
    /// The payment method attached or used.
    #[serde(default)]
    pub payment_method: Option<Expandable<PaymentMethod>>,
    /// Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
}

/// Why the last attempt failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentError {
    /// Stripe's `type`: `card_error`, `invalid_request_error`, ...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `card_declined`, `expired_card`, `authentication_required`, ...
    #[serde(default)]
    pub code: Option<String>,
    /// The issuer's reason for a decline (`insufficient_funds`, ...).
    #[serde(default)]
    pub decline_code: Option<String>,
    /// A message that may be shown to the customer.
    #[serde(default)]
    pub message: Option<String>,
}

/// What the customer must do next, e.g. 3-D Secure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextAction {
    /// `redirect_to_url`, `use_stripe_sdk`, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Set when `type` is `redirect_to_url`.
    #[serde(default)]
    pub redirect_to_url: Option<RedirectToUrl>,
}

/// A page the customer must visit to authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectToUrl {
    /// The authentication page.
    #[serde(default)]
    pub url: Option<String>,
    /// Where the customer lands afterwards.
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
    /// `pm_...`.
    pub id: String,
    /// Stripe's `type`: `card`, `sepa_debit`, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Present when `type` is `card`.
    #[serde(default)]
    pub card: Option<Card>,
    /// The customer it is saved to; absent when detached.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
}

/// What Tierflow shows of a card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// `visa`, `mastercard`, `amex`, ...
    #[serde(default)]
    pub brand: String,
    /// The last four digits.
    #[serde(default)]
    pub last4: String,
    /// 1 to 12.
    #[serde(default)]
    pub exp_month: u32,
    /// Four digits.
    #[serde(default)]
    pub exp_year: u32,
}

/// A charge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    /// `ch_...` (`py_...` for some payment methods).
    pub id: String,
    /// What it charged, in the currency's minor unit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    /// What was refunded so far, in the minor unit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount_refunded: i64,
    /// True once fully refunded.
    #[serde(default, deserialize_with = "null_as_default")]
    pub refunded: bool,
    /// Three-letter ISO code, lowercase.
    #[serde(default)]
    pub currency: Option<String>,
    /// The customer charged, when it has one.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// The PaymentIntent it belongs to; absent on bare charges.
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// How it was paid.
    #[serde(default)]
    pub payment_method_details: Option<ChargePaymentMethodDetails>,
    /// The customer's receipt page.
    #[serde(default)]
    pub receipt_url: Option<String>,
    /// Copied from the PaymentIntent.
    #[serde(default)]
    pub description: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    /// `succeeded`, `pending` or `failed`.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether a dispute was opened on it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub disputed: bool,
    /// The charge's own metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// How a charge was paid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargePaymentMethodDetails {
    /// Stripe's `type`: `card`, ...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Present when paid by card.
    #[serde(default)]
    pub card: Option<ChargeCard>,
}

/// The card a charge used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeCard {
    /// `visa`, `mastercard`, ...
    #[serde(default)]
    pub brand: Option<String>,
    /// The last four digits.
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
    /// `re_...`.
    pub id: String,
    /// What it gives back, in the currency's minor unit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    /// Three-letter ISO code, lowercase.
    #[serde(default)]
    pub currency: Option<String>,
    /// The charge refunded.
    #[serde(default)]
    pub charge: Option<Expandable<Charge>>,
    /// The PaymentIntent refunded, when the charge had one.
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    /// `duplicate`, `fraudulent`, `requested_by_customer` or absent.
    #[serde(default)]
    pub reason: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
}

/// A dispute (chargeback).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dispute {
    /// `dp_...`.
    pub id: String,
    /// The disputed charge.
    #[serde(default)]
    pub charge: Option<Expandable<Charge>>,
    /// The disputed charge's PaymentIntent, when it had one.
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// The disputed amount, in the currency's minor unit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    /// Three-letter ISO code, lowercase.
    #[serde(default)]
    pub currency: Option<String>,
    /// `fraudulent`, `product_not_received`, `duplicate`, ...
    #[serde(default)]
    pub reason: Option<String>,
    /// `needs_response`, `under_review`, `won`, `lost`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// Unix seconds.
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

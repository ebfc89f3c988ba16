//! Invoices and their lines, in basil's layout (2025-03-31.basil): the subscription under
//! `parent.subscription_details`, a line's proration flag under `lines.data[].parent.*` and its
//! price under `pricing`, and the payments in the `payments` list, which Stripe includes only
//! when asked (`expand[]=payments`) and never in a webhook: which invoice a PaymentIntent pays
//! is asked from `GET /v1/invoice_payments` (see `StripeApi::find_invoice_payment`).

use super::{
    has_id, null_as_default, Charge, Customer, Expandable, List, Metadata, PaymentIntent, Price,
    Subscription,
};
use serde::{Deserialize, Serialize};

/// An invoice, or an invoice preview (whose id is null or absent: read as empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// What the invoice is for (a subscription, ...).
    #[serde(default)]
    pub parent: Option<InvoiceParent>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount_due: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount_paid: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount_remaining: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub total: i64,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    #[serde(default)]
    pub invoice_pdf: Option<String>,
    /// Only when expanded (`expand[]=payments`).
    #[serde(default)]
    pub payments: Option<List<InvoicePayment>>,
    /// `subscription_create`, `subscription_cycle`, `subscription_update`, `manual`, ...
    #[serde(default)]
    pub billing_reason: Option<String>,
    #[serde(default)]
    pub period_start: Option<i64>,
    #[serde(default)]
    pub period_end: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub lines: List<InvoiceLine>,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub status_transitions: Option<StatusTransitions>,
    #[serde(default)]
    pub next_payment_attempt: Option<i64>,
    #[serde(default)]
    pub attempt_count: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// Why the invoice exists (basil): a subscription, a quote, ...
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceParent {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub subscription_details: Option<InvoiceSubscriptionDetails>,
}

/// The subscription behind a subscription invoice (basil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceSubscriptionDetails {
    #[serde(default)]
    pub subscription: Option<Expandable<Subscription>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// One payment towards an invoice (`invoice_payment`: an item of the `payments` list and of
/// `GET /v1/invoice_payments`): the link between an invoice and what paid it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoicePayment {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// `open`, `paid` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub amount_paid: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub invoice: Option<Expandable<Invoice>>,
    #[serde(default)]
    pub payment: Option<InvoicePaymentRef>,
}

impl InvoicePayment {
    /// The invoice's id, expanded or not.
    pub fn invoice_id(&self) -> Option<&str> {
        self.invoice.as_ref().map(Expandable::id)
    }

    /// The PaymentIntent that paid it.
    pub fn payment_intent_id(&self) -> Option<&str> {
        self.payment
            .as_ref()?
            .payment_intent
            .as_ref()
            .map(Expandable::id)
    }

    /// The bare charge that paid it (Stripe names one only when no PaymentIntent is involved).
    pub fn charge_id(&self) -> Option<&str> {
        self.payment.as_ref()?.charge.as_ref().map(Expandable::id)
    }
}

/// What paid it: a PaymentIntent or (rarely) a bare charge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoicePaymentRef {
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    #[serde(default)]
    pub charge: Option<Expandable<Charge>>,
}

/// When the invoice changed status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusTransitions {
    #[serde(default)]
    pub finalized_at: Option<i64>,
    #[serde(default)]
    pub paid_at: Option<i64>,
    #[serde(default)]
    pub voided_at: Option<i64>,
}

/// A start/end pair in Unix seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub start: i64,
    pub end: i64,
}

/// One line of an invoice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceLine {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub period: Option<Period>,
    #[serde(default)]
    pub quantity: Option<u64>,
    /// Where the line comes from, with its proration flag.
    #[serde(default)]
    pub parent: Option<InvoiceLineParent>,
    /// How it was priced, with its price.
    #[serde(default)]
    pub pricing: Option<LinePricing>,
}

/// Where a line comes from (basil): a subscription item or a one-off invoice item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceLineParent {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub subscription_item_details: Option<LineItemDetails>,
    #[serde(default)]
    pub invoice_item_details: Option<LineItemDetails>,
}

/// The proration flag and origin of a line (basil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineItemDetails {
    #[serde(default, deserialize_with = "null_as_default")]
    pub proration: bool,
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default)]
    pub subscription_item: Option<String>,
}

/// How a line was priced (basil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinePricing {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub price_details: Option<LinePriceDetails>,
    #[serde(default)]
    pub unit_amount_decimal: Option<String>,
}

/// The price behind a line (basil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinePriceDetails {
    #[serde(default)]
    pub price: Option<Expandable<Price>>,
    #[serde(default)]
    pub product: Option<String>,
}

impl Invoice {
    /// The subscription that billed this invoice (`parent.subscription_details.subscription`).
    pub fn subscription_id(&self) -> Option<&str> {
        self.parent
            .as_ref()?
            .subscription_details
            .as_ref()?
            .subscription
            .as_ref()
            .map(Expandable::id)
    }

    /// The customer's id, expanded or not.
    pub fn customer_id(&self) -> Option<&str> {
        self.customer.as_ref().map(Expandable::id)
    }

    /// The subscription's metadata as it was when the invoice was made
    /// (`parent.subscription_details.metadata`; empty for other invoices).
    pub fn subscription_metadata(&self) -> Option<&Metadata> {
        Some(
            &self
                .parent
                .as_ref()?
                .subscription_details
                .as_ref()?
                .metadata,
        )
    }

    /// The payments, when `payments` was expanded (never in a webhook).
    fn payment_items(&self) -> impl Iterator<Item = &InvoicePayment> {
        self.payments.iter().flat_map(|list| list.data.iter())
    }

    /// The PaymentIntent of its first payment (only when `payments` was expanded).
    pub fn payment_intent_id(&self) -> Option<&str> {
        self.payment_items()
            .find_map(InvoicePayment::payment_intent_id)
    }

    /// The expanded PaymentIntent (`expand[]=latest_invoice.payments.data.payment.payment_intent`),
    /// to read its status and 3-D Secure action.
    pub fn expanded_payment_intent(&self) -> Option<&PaymentIntent> {
        self.payment_items()
            .find_map(|p| p.payment.as_ref()?.payment_intent.as_ref()?.as_object())
    }

    /// The bare charge of a payment without a PaymentIntent (only when `payments` was expanded).
    pub fn charge_id(&self) -> Option<&str> {
        self.payment_items().find_map(InvoicePayment::charge_id)
    }

    /// When it was paid.
    pub fn paid_at(&self) -> Option<i64> {
        self.status_transitions.as_ref()?.paid_at
    }

    /// The sum of the proration lines: what an upgrade costs now, credits included.
    pub fn proration_amount(&self) -> i64 {
        self.lines
            .data
            .iter()
            .filter(|line| line.is_proration())
            .map(|line| line.amount)
            .sum()
    }
}

impl InvoiceLine {
    /// Whether the line prorates a change (`parent.*_details.proration`).
    pub fn is_proration(&self) -> bool {
        self.parent.as_ref().is_some_and(|p| {
            [&p.subscription_item_details, &p.invoice_item_details]
                .into_iter()
                .flatten()
                .any(|d| d.proration)
        })
    }

    /// The line's price id (`pricing.price_details.price`).
    pub fn price_id(&self) -> Option<&str> {
        self.pricing
            .as_ref()?
            .price_details
            .as_ref()?
            .price
            .as_ref()
            .map(Expandable::id)
    }
}

has_id!(Invoice, InvoiceLine, InvoicePayment);

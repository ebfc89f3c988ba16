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
    /// `in_...`; empty for a preview.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The customer billed.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// What the invoice is for (a subscription, ...).
    #[serde(default)]
    pub parent: Option<InvoiceParent>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    #[serde(default)]
    pub status: Option<String>,
    /// What the customer owes, in the currency's minor unit (after credit balance).
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount_due: i64,
    /// What was paid so far, in the minor unit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount_paid: i64,
    /// What is still owed, in the minor unit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount_remaining: i64,
    /// The total after discounts and taxes, in the minor unit; negative for a net credit.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total: i64,
    /// Three-letter ISO code, lowercase.
    #[serde(default)]
    pub currency: Option<String>,
    /// The page where the customer can pay or view it; absent on drafts.
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    /// The PDF's link; absent on drafts.
    #[serde(default)]
    pub invoice_pdf: Option<String>,
    /// Only when expanded (`expand[]=payments`).
    #[serde(default)]
    pub payments: Option<List<InvoicePayment>>,
    /// `subscription_create`, `subscription_cycle`, `subscription_update`, `manual`, ...
    #[serde(default)]
    pub billing_reason: Option<String>,
    /// Start of the period in which its items were added, Unix seconds (a line's own period
    /// says what it covers).
    #[serde(default)]
    pub period_start: Option<i64>,
    /// End of that period, Unix seconds.
    #[serde(default)]
    pub period_end: Option<i64>,
    /// The first page of its lines (Stripe includes up to ten).
    #[serde(default, deserialize_with = "null_as_default")]
    pub lines: List<InvoiceLine>,
    /// Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    /// When it was finalized, paid or voided.
    #[serde(default)]
    pub status_transitions: Option<StatusTransitions>,
    /// When Stripe retries a failed payment, Unix seconds; absent when no retry is planned.
    #[serde(default)]
    pub next_payment_attempt: Option<i64>,
    /// Payment attempts so far.
    #[serde(default)]
    pub attempt_count: Option<u32>,
    /// The invoice's own metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Before discounts and exclusive tax.
    #[serde(default)]
    pub subtotal: i64,
    /// What each discount took off the invoice.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_discount_amounts: Vec<DiscountAmount>,
    /// The tax added to the invoice, per rate (Stripe Tax's among them).
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_taxes: Vec<TaxAmount>,
}

/// An amount a discount took off, in the invoice's minor unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountAmount {
    /// Minor units.
    pub amount: i64,
}

/// Tax added to an invoice, in its minor unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxAmount {
    /// Minor units.
    pub amount: i64,
}

impl Invoice {
    /// Everything the discounts took off.
    pub fn discount_total(&self) -> i64 {
        self.total_discount_amounts.iter().map(|d| d.amount).sum()
    }

    /// All the tax added.
    pub fn tax_total(&self) -> i64 {
        self.total_taxes.iter().map(|t| t.amount).sum()
    }
}

/// Why the invoice exists (basil): a subscription, a quote, ...
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceParent {
    /// Stripe's `type`: `subscription_details` or `quote_details`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Present when a subscription billed it.
    #[serde(default)]
    pub subscription_details: Option<InvoiceSubscriptionDetails>,
}

/// The subscription behind a subscription invoice (basil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceSubscriptionDetails {
    /// The subscription that billed the invoice.
    #[serde(default)]
    pub subscription: Option<Expandable<Subscription>>,
    /// The subscription's metadata when the invoice was finalized.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// One payment towards an invoice (`invoice_payment`: an item of the `payments` list and of
/// `GET /v1/invoice_payments`): the link between an invoice and what paid it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoicePayment {
    /// `inpay_...`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// `open`, `paid` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    /// In the currency's minor unit; absent until paid.
    #[serde(default)]
    pub amount_paid: Option<i64>,
    /// Three-letter ISO code, lowercase.
    #[serde(default)]
    pub currency: Option<String>,
    /// The invoice paid (expanded when asked).
    #[serde(default)]
    pub invoice: Option<Expandable<Invoice>>,
    /// The PaymentIntent or charge that paid it.
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
    /// Set when `type` is `payment_intent`.
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// Set when `type` is `charge`.
    #[serde(default)]
    pub charge: Option<Expandable<Charge>>,
}

/// When the invoice changed status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusTransitions {
    /// Unix seconds; absent while a draft.
    #[serde(default)]
    pub finalized_at: Option<i64>,
    /// Unix seconds; absent until paid.
    #[serde(default)]
    pub paid_at: Option<i64>,
    /// Unix seconds; absent unless voided.
    #[serde(default)]
    pub voided_at: Option<i64>,
}

/// A start/end pair in Unix seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Unix seconds, inclusive.
    pub start: i64,
    /// Unix seconds, exclusive.
    pub end: i64,
}

/// One line of an invoice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// `il_...`; empty on preview lines.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// In the currency's minor unit; negative for a credit (an unused-time proration).
    #[serde(default, deserialize_with = "null_as_default")]
    pub amount: i64,
    /// Three-letter ISO code, lowercase.
    #[serde(default)]
    pub currency: Option<String>,
    /// What the customer reads on the invoice (`Remaining time on Pro after ...`).
    #[serde(default)]
    pub description: Option<String>,
    /// The time the line covers.
    #[serde(default)]
    pub period: Option<Period>,
    /// Units billed; absent on some one-off items.
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
    /// Stripe's `type`: `subscription_item_details` or `invoice_item_details`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Present on lines from a subscription item.
    #[serde(default)]
    pub subscription_item_details: Option<LineItemDetails>,
    /// Present on lines from an invoice item (a pending proration among them).
    #[serde(default)]
    pub invoice_item_details: Option<LineItemDetails>,
}

/// The proration flag and origin of a line (basil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineItemDetails {
    /// Whether the line is a proration of a mid-period change.
    #[serde(default, deserialize_with = "null_as_default")]
    pub proration: bool,
    /// The subscription's id (`sub_...`), when it has one.
    #[serde(default)]
    pub subscription: Option<String>,
    /// The subscription item's id (`si_...`), on subscription item lines.
    #[serde(default)]
    pub subscription_item: Option<String>,
}

/// How a line was priced (basil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinePricing {
    /// Stripe's `type`: `price_details` for lines priced by a Price.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The price and product, for `price_details` lines.
    #[serde(default)]
    pub price_details: Option<LinePriceDetails>,
    /// The unit amount in the minor unit, as a decimal string (`1900`, `0.5`).
    #[serde(default)]
    pub unit_amount_decimal: Option<String>,
}

/// The price behind a line (basil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinePriceDetails {
    /// The price the line bills (an id unless expanded).
    #[serde(default)]
    pub price: Option<Expandable<Price>>,
    /// The product's id (`prod_...`).
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

//! Invoices, their lines and invoice items.

use serde_json::{json, Map, Value};

use super::list_of;
use crate::store::Store;

/// A tax on a line, as the emulator's Stripe Tax computed it (exclusive).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineTax {
    /// Tax in minor units.
    pub amount: i64,
    /// What it was computed on: the line's amount after discounts.
    pub taxable_amount: i64,
    /// The tax rate (`txr_...`, see `billing::tax`).
    pub tax_rate: String,
    /// `standard_rated`, or `not_collecting` where the emulator's table has no tax.
    pub taxability_reason: String,
}

/// A line of an invoice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line {
    /// `il_...`.
    pub id: String,
    /// Amount (negative for credits).
    pub amount: i64,
    /// Stripe's description.
    pub description: String,
    /// Service period start.
    pub period_start: i64,
    /// Service period end.
    pub period_end: i64,
    /// Price.
    pub price: String,
    /// Quantity.
    pub quantity: i64,
    /// Whether this is a proration.
    pub proration: bool,
    /// Subscription item.
    pub subscription_item: Option<String>,
    /// Invoice item it came from (pending prorations).
    pub invoice_item: Option<String>,
    /// Discounts that apply to it (`di_...`).
    pub discounts: Vec<String>,
    /// What each discount took off (0 for a proration: its amount is already net, as basil's
    /// `proration_discounts=included` renders it).
    pub discount_amounts: Vec<(String, i64)>,
    /// Taxes on it.
    pub taxes: Vec<LineTax>,
}

impl Line {
    /// Amount after discounts, before tax.
    pub fn net(&self) -> i64 {
        self.amount - self.discount_amounts.iter().map(|(_, a)| a).sum::<i64>()
    }

    /// Amount after discounts and tax.
    pub fn total(&self) -> i64 {
        self.net() + self.taxes.iter().map(|t| t.amount).sum::<i64>()
    }
}

/// An invoice item: a pending proration until an invoice sweeps it.
#[derive(Debug, Clone)]
pub struct InvoiceItem {
    /// `ii_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Customer.
    pub customer: String,
    /// Subscription.
    pub subscription: Option<String>,
    /// Currency.
    pub currency: String,
    /// The line it becomes.
    pub line: Line,
    /// Invoice that swept it; `None` while pending.
    pub invoice: Option<String>,
}

impl InvoiceItem {
    /// The invoice item object.
    pub fn to_json(&self, store: &Store) -> Value {
        let product = store
            .prices
            .get(&self.line.price)
            .map(|p| p.product.clone());
        json!({
            "id": self.id,
            "object": "invoiceitem",
            "amount": self.line.amount,
            "currency": self.currency,
            "customer": self.customer,
            "date": self.created,
            "description": self.line.description,
            "discountable": false,
            "discounts": self.line.discounts,
            "invoice": self.invoice,
            "livemode": false,
            "metadata": {},
            "parent": {
                "subscription_details": {"subscription": self.subscription, "subscription_item": self.line.subscription_item},
                "type": "subscription_details"
            },
            "period": {"end": self.line.period_end, "start": self.line.period_start},
            "pricing": {"price_details": {"price": self.line.price, "product": product}, "type": "price_details", "unit_amount_decimal": null},
            "proration": self.line.proration,
            "quantity": self.line.quantity,
            "tax_rates": [],
            "test_clock": null
        })
    }
}

/// An invoice.
#[derive(Debug, Clone)]
pub struct Invoice {
    /// `in_...` (or `upcoming_in_...` for previews, never stored).
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Customer.
    pub customer: String,
    /// Subscription.
    pub subscription: Option<String>,
    /// `draft`, `open`, `paid`, `void`.
    pub status: String,
    /// `subscription_create`, `subscription_update`, `subscription_cycle`, `manual`.
    pub billing_reason: String,
    /// Currency.
    pub currency: String,
    /// Lines.
    pub lines: Vec<Line>,
    /// Period start.
    pub period_start: i64,
    /// Period end.
    pub period_end: i64,
    /// Customer balance applied (negative = credit).
    pub starting_balance: i64,
    /// Number (`ABCD1234-0001`), set at finalization.
    pub number: Option<String>,
    /// Payment intent.
    pub payment_intent: Option<String>,
    /// Successful charge.
    pub charge: Option<String>,
    /// Payment attempts.
    pub attempt_count: i64,
    /// Amount paid.
    pub amount_paid: i64,
    /// Finalization time.
    pub finalized_at: Option<i64>,
    /// Payment time.
    pub paid_at: Option<i64>,
    /// Void time.
    pub voided_at: Option<i64>,
    /// Next automatic retry.
    pub next_payment_attempt: Option<i64>,
    /// When the first payment attempt failed: the retry schedule counts from here.
    pub first_failed_at: Option<i64>,
    /// Subscription metadata snapshot (`parent.subscription_details.metadata`).
    pub subscription_metadata: Map<String, Value>,
    /// Discounts applied to its lines (`di_...`).
    pub discounts: Vec<String>,
    /// `automatic_tax.status` when Stripe Tax is on: `complete` or `requires_location_inputs`.
    pub tax_status: Option<String>,
    /// The customer's address when taxes were computed (`customer_address`).
    pub customer_address: Option<Value>,
    /// Why finalization failed (`last_finalization_error.message`).
    pub finalization_error: Option<String>,
}

impl Invoice {
    /// Sum of the lines' amounts, before discounts and tax.
    pub fn subtotal(&self) -> i64 {
        self.lines.iter().map(|l| l.amount).sum()
    }

    /// Sum of the lines after discounts, before tax.
    pub fn total_excluding_tax(&self) -> i64 {
        self.lines.iter().map(Line::net).sum()
    }

    /// Subtotal − discounts + tax.
    pub fn total(&self) -> i64 {
        self.lines.iter().map(Line::total).sum()
    }

    /// `total_discount_amounts`: what each discount took off, over all lines.
    pub fn discount_totals(&self) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> = Vec::new();
        for (d, a) in self.lines.iter().flat_map(|l| l.discount_amounts.iter()) {
            match out.iter_mut().find(|(id, _)| id == d) {
                Some((_, sum)) => *sum += a,
                None => out.push((d.clone(), *a)),
            }
        }
        out
    }

    /// `total_taxes`: the lines' taxes summed per rate.
    pub fn tax_totals(&self) -> Vec<LineTax> {
        let mut out: Vec<LineTax> = Vec::new();
        for t in self.lines.iter().flat_map(|l| l.taxes.iter()) {
            match out.iter_mut().find(|o| o.tax_rate == t.tax_rate) {
                Some(o) => {
                    o.amount += t.amount;
                    o.taxable_amount += t.taxable_amount;
                }
                None => out.push(t.clone()),
            }
        }
        out
    }

    /// Amount to collect after the customer's credit balance.
    pub fn amount_due(&self) -> i64 {
        (self.total() + self.starting_balance).max(0)
    }

    /// Credit left on the customer's balance afterwards.
    pub fn ending_balance(&self) -> i64 {
        (self.total() + self.starting_balance).min(0)
    }

    /// The invoice object.
    pub fn to_json(&self, store: &Store) -> Value {
        let customer = store.customers.get(&self.customer);
        let due = self.amount_due();
        let paid = self.status == "paid";
        let lines: Vec<Value> = self
            .lines
            .iter()
            .map(|l| line_json(store, self, l))
            .collect();
        let pi = self
            .payment_intent
            .as_ref()
            .and_then(|id| store.payment_intents.get(id));
        // Includable: `crate::expand` drops it unless `expand[]` asked for it.
        let payments: Vec<Value> = self.payment_json(store).into_iter().collect();
        let finalized = self.status != "draft";
        json!({
            "id": self.id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Tierflow (Stripe emulator)",
            "account_tax_ids": null,
            "amount_due": due,
            "amount_overpaid": 0,
            "amount_paid": self.amount_paid,
            "amount_remaining": if paid || self.status == "void" { 0 } else { due - self.amount_paid },
            "amount_shipping": 0,
            "application": null,
            "attempt_count": self.attempt_count,
            "attempted": self.attempt_count > 0,
            "auto_advance": !paid && self.status != "void",
            "automatic_tax": {
                "disabled_reason": null,
                "enabled": self.tax_status.is_some(),
                "liability": self.tax_status.as_ref().map(|_| json!({"account": null, "type": "self"})),
                "provider": self.tax_status.as_ref().map(|_| "stripe"),
                "status": self.tax_status
            },
            "automatically_finalizes_at": null,
            "billing_reason": self.billing_reason,
            "collection_method": "charge_automatically",
            "confirmation_secret": pi.map(|pi| json!({"client_secret": pi.client_secret, "type": "payment_intent"})),
            "created": self.created,
            "currency": self.currency,
            "custom_fields": null,
            "customer": self.customer,
            "customer_address": self.customer_address,
            "customer_email": customer.and_then(|c| c.email.clone()),
            "customer_name": customer.and_then(|c| c.name.clone()),
            "customer_phone": null,
            "customer_shipping": null,
            "customer_tax_exempt": "none",
            "customer_tax_ids": [],
            "default_payment_method": null,
            "default_source": null,
            "default_tax_rates": [],
            "description": null,
            "discounts": self.discounts,
            "due_date": null,
            "effective_at": self.finalized_at,
            "ending_balance": if finalized { Some(self.ending_balance()) } else { None },
            "footer": null,
            "from_invoice": null,
            "hosted_invoice_url": if finalized { Some(format!("{}/invoices/{}", store.public_url, self.id)) } else { None },
            "invoice_pdf": if finalized { Some(format!("{}/invoices/{}/pdf", store.public_url, self.id)) } else { None },
            "issuer": {"type": "self"},
            "last_finalization_error": self.finalization_error.as_ref().map(|m| json!({
                "code": "customer_tax_location_invalid",
                "doc_url": "https://stripe.com/docs/error-codes/customer-tax-location-invalid",
                "message": m,
                "param": "customer",
                "type": "invalid_request_error"
            })),
            "latest_revision": null,
            "lines": list_of(lines, &format!("/v1/invoices/{}/lines", self.id)),
            "livemode": false,
            "metadata": {},
            "next_payment_attempt": self.next_payment_attempt,
            "number": self.number,
            "on_behalf_of": null,
            "parent": self.subscription.as_ref().map(|s| json!({
                "quote_details": null,
                "subscription_details": {"metadata": self.subscription_metadata, "subscription": s},
                "type": "subscription_details"
            })),
            "payment_settings": {"default_mandate": null, "payment_method_options": null, "payment_method_types": null},
            "payments": list_of(payments, &format!("/v1/invoices/{}/payments", self.id)),
            "period_end": self.period_end,
            "period_start": self.period_start,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "receipt_number": null,
            "rendering": null,
            "shipping_cost": null,
            "shipping_details": null,
            "starting_balance": self.starting_balance,
            "statement_descriptor": null,
            "status": self.status,
            "status_transitions": {
                "finalized_at": self.finalized_at,
                "marked_uncollectible_at": null,
                "paid_at": self.paid_at,
                "voided_at": self.voided_at
            },
            "subtotal": self.subtotal(),
            "subtotal_excluding_tax": self.subtotal(),
            "test_clock": null,
            "total": self.total(),
            "total_discount_amounts": self.discount_totals().iter().map(|(d, a)| json!({"amount": a, "discount": d})).collect::<Vec<_>>(),
            "total_excluding_tax": self.total_excluding_tax(),
            "total_pretax_credit_amounts": self.discount_totals().iter().map(|(d, a)| json!({
                "amount": a, "credit_balance_transaction": null, "discount": d, "type": "discount"
            })).collect::<Vec<_>>(),
            "total_taxes": self.tax_totals().iter().map(tax_json).collect::<Vec<_>>(),
            "webhooks_delivered_at": self.finalized_at
        })
    }
}

impl Invoice {
    /// Its `invoice_payment` (one per PaymentIntent; the emulator makes one per invoice):
    /// `inpay_` + the PaymentIntent's id suffix.
    pub fn payment_json(&self, store: &Store) -> Option<Value> {
        let pi = store.payment_intents.get(self.payment_intent.as_ref()?)?;
        let paid = self.status == "paid";
        Some(json!({
            "id": format!("inpay_{}", &pi.id[3..]),
            "object": "invoice_payment",
            "amount_paid": if paid { Some(pi.amount) } else { None },
            "amount_requested": pi.amount,
            "created": pi.created,
            "currency": pi.currency,
            "invoice": self.id,
            "is_default": true,
            "livemode": false,
            "payment": {"payment_intent": pi.id, "type": "payment_intent"},
            "status": if paid { "paid" } else { "open" },
            "status_transitions": {"canceled_at": null, "paid_at": self.paid_at}
        }))
    }
}

fn line_json(store: &Store, invoice: &Invoice, line: &Line) -> Value {
    let price = store.prices.get(&line.price);
    let invoice_id = if invoice.id.starts_with("in_") {
        Some(invoice.id.clone())
    } else {
        None
    };
    json!({
        "id": line.id,
        "object": "line_item",
        "amount": line.amount,
        "currency": invoice.currency,
        "description": line.description,
        "discount_amounts": line.discount_amounts.iter().map(|(d, a)| json!({"amount": a, "discount": d})).collect::<Vec<_>>(),
        "discountable": !line.proration,
        "discounts": line.discounts,
        "invoice": invoice_id,
        "livemode": false,
        "metadata": {},
        "parent": {
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": line.invoice_item,
                "proration": line.proration,
                "proration_details": {"credited_items": null},
                "subscription": invoice.subscription,
                "subscription_item": line.subscription_item
            },
            "type": "subscription_item_details"
        },
        "period": {"end": line.period_end, "start": line.period_start},
        "pretax_credit_amounts": line.discount_amounts.iter().map(|(d, a)| json!({
            "amount": a, "credit_balance_transaction": null, "discount": d, "type": "discount"
        })).collect::<Vec<_>>(),
        "pricing": {
            "price_details": {"price": line.price, "product": price.map(|p| p.product.clone())},
            "type": "price_details",
            "unit_amount_decimal": price.map(|p| p.unit_amount.to_string())
        },
        "quantity": line.quantity,
        "subscription": invoice.subscription,
        "taxes": line.taxes.iter().map(tax_json).collect::<Vec<_>>()
    })
}

/// A line's or an invoice's tax entry (`taxes[]`, `total_taxes[]`).
fn tax_json(t: &LineTax) -> Value {
    json!({
        "amount": t.amount,
        "tax_behavior": "exclusive",
        "tax_rate_details": {"tax_rate": t.tax_rate},
        "taxability_reason": t.taxability_reason,
        "taxable_amount": t.taxable_amount,
        "type": "tax_rate_details"
    })
}

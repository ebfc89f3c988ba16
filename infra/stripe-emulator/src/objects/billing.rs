//! Subscriptions and subscription schedules (invoices live in `invoice.rs`).

use serde_json::{json, Map, Value};

use super::list_of;
use crate::store::Store;

pub use super::invoice::{Invoice, InvoiceItem, Line};

/// One price on a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct SubItem {
    /// `si_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Price id.
    pub price: String,
    /// Quantity.
    pub quantity: i64,
}

/// Changes held back until the update's invoice is paid (`payment_behavior=pending_if_incomplete`).
#[derive(Debug, Clone)]
pub struct PendingUpdate {
    /// When the pending update is discarded.
    pub expires_at: i64,
    /// The item set to apply.
    pub items: Vec<SubItem>,
    /// The unpaid invoice that carries the update.
    pub invoice: String,
    /// A new billing period when the interval changes.
    pub new_period: Option<(i64, i64)>,
}

/// A subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// `sub_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Customer.
    pub customer: String,
    /// `incomplete`, `trialing`, `active`, `past_due`, `paused`, `canceled`, `unpaid`.
    pub status: String,
    /// Items.
    pub items: Vec<SubItem>,
    /// Currency of its prices.
    pub currency: String,
    /// Start of the billing cycle.
    pub billing_cycle_anchor: i64,
    /// Current period start.
    pub current_period_start: i64,
    /// Current period end (next renewal).
    pub current_period_end: i64,
    /// Cancel at the end of the current period.
    pub cancel_at_period_end: bool,
    /// Scheduled cancellation time.
    pub cancel_at: Option<i64>,
    /// When cancellation was requested.
    pub canceled_at: Option<i64>,
    /// When the subscription ended.
    pub ended_at: Option<i64>,
    /// `cancellation_details.reason`.
    pub cancellation_reason: Option<String>,
    /// Latest invoice.
    pub latest_invoice: Option<String>,
    /// Payment method used for its invoices.
    pub default_payment_method: Option<String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Attached schedule.
    pub schedule: Option<String>,
    /// Pending update.
    pub pending_update: Option<PendingUpdate>,
    /// Start date.
    pub start_date: i64,
    /// Trial start, when the subscription began with a trial.
    pub trial_start: Option<i64>,
    /// Trial end (the trial's period is `[trial_start, trial_end)`).
    pub trial_end: Option<i64>,
    /// `trial_settings.end_behavior.missing_payment_method`: `create_invoice`, `cancel`, `pause`.
    pub trial_end_behavior: String,
    /// Whether `customer.subscription.trial_will_end` was emitted for the current trial end.
    pub trial_will_end_sent: bool,
    /// Discounts applied to its invoices (`di_...`, oldest first).
    pub discounts: Vec<String>,
    /// `automatic_tax.enabled`: Stripe Tax computes its invoices' taxes.
    pub automatic_tax: bool,
}

impl Subscription {
    /// The subscription object.
    pub fn to_json(&self, store: &Store) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|i| item_json(store, self, i))
            .collect();
        let pending = self.pending_update.as_ref().map(|p| {
            let items: Vec<Value> = p.items.iter().map(|i| item_json(store, self, i)).collect();
            json!({
                "billing_cycle_anchor": p.new_period.map(|(s, _)| s),
                "expires_at": p.expires_at,
                "subscription_items": items,
                "trial_end": null,
                "trial_from_plan": null
            })
        });
        json!({
            "id": self.id,
            "object": "subscription",
            "application": null,
            "application_fee_percent": null,
            "automatic_tax": {"disabled_reason": null, "enabled": self.automatic_tax, "liability": self.automatic_tax.then(|| json!({"account": null, "type": "self"}))},
            "billing_cycle_anchor": self.billing_cycle_anchor,
            "billing_cycle_anchor_config": null,
            "cancel_at": self.cancel_at,
            "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": self.canceled_at,
            "cancellation_details": {"comment": null, "feedback": null, "reason": self.cancellation_reason},
            "collection_method": "charge_automatically",
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "days_until_due": null,
            "default_payment_method": self.default_payment_method,
            "default_source": null,
            "default_tax_rates": [],
            "description": null,
            "discounts": self.discounts,
            "ended_at": self.ended_at,
            "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
            "items": list_of(items, &format!("/v1/subscription_items?subscription={}", self.id)),
            "latest_invoice": self.latest_invoice,
            "livemode": false,
            "metadata": self.metadata,
            "next_pending_invoice_item_invoice": null,
            "on_behalf_of": null,
            "pause_collection": null,
            "payment_settings": {"payment_method_options": null, "payment_method_types": null, "save_default_payment_method": "off"},
            "pending_invoice_item_interval": null,
            "pending_setup_intent": null,
            "pending_update": pending,
            "schedule": self.schedule,
            "start_date": self.start_date,
            "status": self.status,
            "test_clock": null,
            "transfer_data": null,
            "trial_end": self.trial_end,
            "trial_settings": {"end_behavior": {"missing_payment_method": self.trial_end_behavior}},
            "trial_start": self.trial_start
        })
    }
}

fn item_json(store: &Store, sub: &Subscription, item: &SubItem) -> Value {
    let price = store.prices.get(&item.price);
    json!({
        "id": item.id,
        "object": "subscription_item",
        "created": item.created,
        "current_period_end": sub.current_period_end,
        "current_period_start": sub.current_period_start,
        "discounts": [],
        "metadata": {},
        "plan": price.map(|p| p.plan_json()),
        "price": price.map(|p| p.to_json()),
        "quantity": item.quantity,
        "subscription": sub.id,
        "tax_rates": []
    })
}

/// One phase of a subscription schedule.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Phase start.
    pub start_date: i64,
    /// Phase end.
    pub end_date: i64,
    /// `(price, quantity)` pairs.
    pub items: Vec<(String, i64)>,
    /// `create_prorations`, `none`, `always_invoice`.
    pub proration_behavior: String,
    /// Metadata.
    pub metadata: Map<String, Value>,
}

/// A subscription schedule (used for downgrades at period end).
#[derive(Debug, Clone)]
pub struct Schedule {
    /// `sub_sched_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Customer.
    pub customer: String,
    /// Managed subscription.
    pub subscription: Option<String>,
    /// `not_started`, `active`, `completed`, `released`, `canceled`.
    pub status: String,
    /// Phases in order.
    pub phases: Vec<Phase>,
    /// Index of the phase in effect.
    pub current_phase: usize,
    /// `release` or `cancel`.
    pub end_behavior: String,
    /// Release time.
    pub released_at: Option<i64>,
    /// Subscription released.
    pub released_subscription: Option<String>,
    /// Cancel time.
    pub canceled_at: Option<i64>,
    /// Completion time.
    pub completed_at: Option<i64>,
    /// Metadata.
    pub metadata: Map<String, Value>,
}

impl Schedule {
    /// The subscription schedule object.
    pub fn to_json(&self, store: &Store) -> Value {
        let current = if self.status == "active" {
            self.phases
                .get(self.current_phase)
                .map(|p| json!({"end_date": p.end_date, "start_date": p.start_date}))
        } else {
            None
        };
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|p| {
                let currency = p
                    .items
                    .first()
                    .and_then(|(price, _)| store.prices.get(price))
                    .map(|x| x.currency.clone());
                json!({
                    "add_invoice_items": [],
                    "application_fee_percent": null,
                    "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
                    "billing_cycle_anchor": null,
                    "collection_method": null,
                    "currency": currency,
                    "default_payment_method": null,
                    "default_tax_rates": [],
                    "description": null,
                    "discounts": [],
                    "end_date": p.end_date,
                    "invoice_settings": null,
                    "items": p.items.iter().map(|(price, qty)| json!({
                        "discounts": [], "metadata": {},
                        "plan": price, "price": price, "quantity": qty, "tax_rates": []
                    })).collect::<Vec<_>>(),
                    "metadata": p.metadata,
                    "on_behalf_of": null,
                    "proration_behavior": p.proration_behavior,
                    "start_date": p.start_date,
                    "transfer_data": null,
                    "trial_end": null
                })
            })
            .collect();
        json!({
            "id": self.id,
            "object": "subscription_schedule",
            "application": null,
            "canceled_at": self.canceled_at,
            "completed_at": self.completed_at,
            "created": self.created,
            "current_phase": current,
            "customer": self.customer,
            "default_settings": {
                "application_fee_percent": null,
                "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
                "billing_cycle_anchor": "automatic",
                "collection_method": "charge_automatically",
                "default_payment_method": null,
                "description": null,
                "invoice_settings": {"account_tax_ids": null, "days_until_due": null, "issuer": {"type": "self"}},
                "on_behalf_of": null,
                "transfer_data": null
            },
            "end_behavior": self.end_behavior,
            "livemode": false,
            "metadata": self.metadata,
            "phases": phases,
            "released_at": self.released_at,
            "released_subscription": self.released_subscription,
            "status": self.status,
            "subscription": self.subscription,
            "test_clock": null
        })
    }
}

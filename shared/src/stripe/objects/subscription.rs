//! Subscriptions, their items, and the schedules that carry changes at period end.

use super::{
    has_id, null_as_default, Customer, Discount, Expandable, Invoice, List, Metadata,
    PaymentMethod, Price,
};
use serde::{Deserialize, Serialize};

/// A subscription. Since 2025-03-31.basil the billing period lives on each item:
/// [`Subscription::current_period_end`] reads the item that renews first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// `sub_...`.
    pub id: String,
    /// The customer billed.
    #[serde(default)]
    pub customer: Expandable<Customer>,
    /// Stripe's status word (`active`, `past_due`, `canceled`, ...).
    #[serde(default)]
    pub status: String,
    /// Its priced lines; Tierflow's subscriptions have one.
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: List<SubscriptionItem>,
    /// Whether it ends when the current period does.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cancel_at_period_end: bool,
    /// When it is set to end, Unix seconds; absent when no end is set.
    #[serde(default)]
    pub cancel_at: Option<i64>,
    /// When the cancellation was asked for, Unix seconds.
    #[serde(default)]
    pub canceled_at: Option<i64>,
    /// When it ended, Unix seconds; absent while it runs.
    #[serde(default)]
    pub ended_at: Option<i64>,
    /// The most recent invoice (expanded with its payments after a price change).
    #[serde(default)]
    pub latest_invoice: Option<Expandable<Invoice>>,
    /// The card its invoices charge, over the customer's default.
    #[serde(default)]
    pub default_payment_method: Option<Expandable<PaymentMethod>>,
    /// Tierflow puts the user id here.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// The schedule that will change it, when one is attached.
    #[serde(default)]
    pub schedule: Option<Expandable<SubscriptionSchedule>>,
    /// The change waiting for its invoice to be paid, if any.
    #[serde(default)]
    pub pending_update: Option<PendingUpdate>,
    /// Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    /// When its trial began, Unix seconds; absent for a subscription that never had one.
    #[serde(default)]
    pub trial_start: Option<i64>,
    /// When its trial ends (or ended), Unix seconds.
    #[serde(default)]
    pub trial_end: Option<i64>,
    /// The discounts it carries: ids, or objects where Tierflow asked for `expand[]=discounts`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub discounts: Vec<Expandable<Discount>>,
}

/// One priced line of a subscription.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionItem {
    /// `si_...`: a price change names it.
    pub id: String,
    /// The price it bills.
    #[serde(default)]
    pub price: Price,
    /// Units billed; absent for metered prices.
    #[serde(default)]
    pub quantity: Option<u64>,
    /// Start of the item's current period, Unix seconds (basil).
    #[serde(default)]
    pub current_period_start: Option<i64>,
    /// End of the item's current period, Unix seconds (basil).
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

/// Changes Stripe holds back until a payment succeeds (`payment_behavior=pending_if_incomplete`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingUpdate {
    /// When Stripe drops the update if the invoice is still unpaid, Unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl Subscription {
    /// The customer's id, expanded or not.
    pub fn customer_id(&self) -> &str {
        self.customer.id()
    }

    /// The item Tierflow manages: its subscriptions have exactly one.
    pub fn primary_item(&self) -> Option<&SubscriptionItem> {
        self.items.data.first()
    }

    /// The price of the primary item.
    pub fn price(&self) -> Option<&Price> {
        self.primary_item().map(|item| &item.price)
    }

    /// The item whose period ends first: it is the next renewal.
    fn renewing_item(&self) -> Option<&SubscriptionItem> {
        self.items
            .data
            .iter()
            .filter(|item| item.current_period_end.is_some())
            .min_by_key(|item| item.current_period_end)
    }

    /// End of the current billing period: the earliest item period end.
    pub fn current_period_end(&self) -> Option<i64> {
        self.renewing_item()?.current_period_end
    }

    /// Start of the current billing period: that of the item that renews first.
    pub fn current_period_start(&self) -> Option<i64> {
        self.renewing_item()?.current_period_start
    }

    /// The latest invoice's id, expanded or not.
    pub fn latest_invoice_id(&self) -> Option<&str> {
        self.latest_invoice.as_ref().map(Expandable::id)
    }

    /// The schedule's id, when one is attached (a pending downgrade).
    pub fn schedule_id(&self) -> Option<&str> {
        self.schedule.as_ref().map(Expandable::id)
    }
}

/// A subscription schedule: phases applied to a subscription over time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionSchedule {
    /// `sub_sched_...`.
    pub id: String,
    /// The subscription it manages; absent once released or before it starts.
    #[serde(default)]
    pub subscription: Option<Expandable<Subscription>>,
    /// `not_started`, `active`, `completed`, `released` or `canceled`.
    #[serde(default)]
    pub status: String,
    /// `release` or `cancel`.
    #[serde(default)]
    pub end_behavior: Option<String>,
    /// Its phases in order, past ones included.
    #[serde(default, deserialize_with = "null_as_default")]
    pub phases: Vec<SchedulePhase>,
    /// The subscription it let go of, once released.
    #[serde(default)]
    pub released_subscription: Option<String>,
    /// Tierflow marks the change it carries here.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// One phase of a schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulePhase {
    /// Unix seconds.
    #[serde(default)]
    pub start_date: Option<i64>,
    /// Unix seconds; absent on an open-ended last phase.
    #[serde(default)]
    pub end_date: Option<i64>,
    /// What the subscription bills during the phase.
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<SchedulePhaseItem>,
    /// How moving into the phase prorates (`none` for Tierflow's downgrades).
    #[serde(default)]
    pub proration_behavior: Option<String>,
}

/// A price in a phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulePhaseItem {
    /// The price billed in the phase.
    #[serde(default)]
    pub price: Expandable<Price>,
    /// Units billed in the phase.
    #[serde(default)]
    pub quantity: Option<u64>,
}

impl SubscriptionSchedule {
    /// The subscription's id, expanded or not.
    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription.as_ref().map(Expandable::id)
    }
}

has_id!(Subscription, SubscriptionItem, SubscriptionSchedule);

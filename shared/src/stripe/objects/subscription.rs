//! Subscriptions, their items, and the schedules that carry changes at period end.

use super::{
    has_id, null_as_default, Customer, Expandable, Invoice, List, Metadata, PaymentMethod, Price,
};
use serde::{Deserialize, Serialize};

/// A subscription. Since 2025-03-31.basil the billing period lives on each item:
/// [`Subscription::current_period_end`] reads the item that renews first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    #[serde(default)]
    pub customer: Expandable<Customer>,
    /// Stripe's status word (`active`, `past_due`, `canceled`, ...).
    #[serde(default)]
    pub status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: List<SubscriptionItem>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub cancel_at: Option<i64>,
    #[serde(default)]
    pub canceled_at: Option<i64>,
    #[serde(default)]
    pub ended_at: Option<i64>,
    #[serde(default)]
    pub latest_invoice: Option<Expandable<Invoice>>,
    #[serde(default)]
    pub default_payment_method: Option<Expandable<PaymentMethod>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    #[serde(default)]
    pub schedule: Option<Expandable<SubscriptionSchedule>>,
    #[serde(default)]
    pub pending_update: Option<PendingUpdate>,
    #[serde(default)]
    pub created: Option<i64>,
}

/// One priced line of a subscription.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionItem {
    pub id: String,
    #[serde(default)]
    pub price: Price,
    #[serde(default)]
    pub quantity: Option<u64>,
    #[serde(default)]
    pub current_period_start: Option<i64>,
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

/// Changes Stripe holds back until a payment succeeds (`payment_behavior=pending_if_incomplete`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingUpdate {
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
    pub id: String,
    #[serde(default)]
    pub subscription: Option<Expandable<Subscription>>,
    /// `not_started`, `active`, `completed`, `released` or `canceled`.
    #[serde(default)]
    pub status: String,
    /// `release` or `cancel`.
    #[serde(default)]
    pub end_behavior: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub phases: Vec<SchedulePhase>,
    #[serde(default)]
    pub released_subscription: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// One phase of a schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulePhase {
    #[serde(default)]
    pub start_date: Option<i64>,
    #[serde(default)]
    pub end_date: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<SchedulePhaseItem>,
    #[serde(default)]
    pub proration_behavior: Option<String>,
}

/// A price in a phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulePhaseItem {
    #[serde(default)]
    pub price: Expandable<Price>,
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

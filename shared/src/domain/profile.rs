//! A user's billing profile: the one item the API reads to answer "what does this user have".

use super::{BillingCycle, Catalog, Tier, UserId};
use crate::domain::time::UnixTime;
use serde::{Deserialize, Serialize};

/// Stripe's subscription statuses, plus `none` for a user who never subscribed or whose
/// subscription is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// No subscription: never subscribed, or it is gone.
    #[default]
    None,
    /// Created, first payment not yet made (Stripe's `incomplete`); grants nothing.
    Incomplete,
    /// The first payment never came within 23 hours; the subscription is void.
    IncompleteExpired,
    /// In a trial: access without a charge yet.
    Trialing,
    /// Paid and current.
    Active,
    /// A renewal failed; Stripe is retrying it.
    PastDue,
    /// Retries ran out and Stripe keeps the subscription open without charging.
    Unpaid,
    /// Ended; it will not bill again.
    Canceled,
    /// A trial ended without a payment method and the subscription waits for one.
    Paused,
}

impl SubscriptionStatus {
    /// Stripe's status string; unknown future statuses are treated as `incomplete`, which
    /// grants nothing, rather than failing the event.
    pub fn from_stripe(raw: &str) -> Self {
        match raw {
            "trialing" => Self::Trialing,
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            "unpaid" => Self::Unpaid,
            "canceled" => Self::Canceled,
            "paused" => Self::Paused,
            "incomplete_expired" => Self::IncompleteExpired,
            _ => Self::Incomplete,
        }
    }

    /// Stripe's spelling (`past_due`), and `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Unpaid => "unpaid",
            Self::Canceled => "canceled",
            Self::Paused => "paused",
        }
    }

    /// A subscription that still exists in Stripe and will bill again: the user must change it
    /// rather than start a second one.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Self::Trialing | Self::Active | Self::PastDue | Self::Unpaid | Self::Paused
        )
    }
}

/// A change scheduled for later (a downgrade or cancellation at period end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    /// The tier the user will have once it takes effect (free for a cancellation).
    pub target_tier: Tier,
    /// The cycle of the target tier's price; none for a cancellation.
    pub billing_cycle: Option<BillingCycle>,
    /// When it takes effect: the end of the current period.
    pub effective_at: UnixTime,
    /// The Stripe subscription schedule carrying it, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    /// The scheduled item in the change history that carries it (settled when applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// When Tierflow scheduled it: a Stripe event from before then cannot know the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<UnixTime>,
}

/// Why paid access was withdrawn before its time (a dispute, a full refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// What withdrew access (`dispute`, `full_refund`), for support and the API.
    pub reason: String,
    /// When access was withdrawn.
    pub at: UnixTime,
    /// What the revocation asked Stripe to do with the subscription, when it asked anything
    /// (a dispute won after a cancellation at period end resumes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_action: Option<RevocationAction>,
}

/// What a revocation does to the Stripe subscription (`ON_DISPUTE`, `ON_FULL_REFUND`): access
/// goes at once in every case; the choice is whether Stripe keeps billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationAction {
    /// Cancel the subscription now: no further invoice.
    CancelNow,
    /// Let the paid period run out, then end: no renewal.
    CancelAtPeriodEnd,
    /// Withdraw access only; Stripe keeps billing (a team that settles disputes by hand).
    RevokeOnly,
}

impl RevocationAction {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationAction::CancelNow => "cancel_now",
            RevocationAction::CancelAtPeriodEnd => "cancel_at_period_end",
            RevocationAction::RevokeOnly => "revoke_only",
        }
    }
}

impl std::str::FromStr for RevocationAction {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim() {
            "cancel_now" => Ok(RevocationAction::CancelNow),
            "cancel_at_period_end" => Ok(RevocationAction::CancelAtPeriodEnd),
            "revoke_only" => Ok(RevocationAction::RevokeOnly),
            other => Err(format!(
                "{other:?} is not one of cancel_now, cancel_at_period_end, revoke_only"
            )),
        }
    }
}

/// What each kind of revocation does in Stripe; both default to [`RevocationAction::CancelNow`]
/// (a customer without access is never billed again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationPolicy {
    /// `ON_DISPUTE`: what a dispute opened on a subscription payment does.
    pub on_dispute: RevocationAction,
    /// `ON_FULL_REFUND`: what refunding a subscription payment in full does.
    pub on_full_refund: RevocationAction,
}

impl Default for RevocationPolicy {
    fn default() -> Self {
        Self {
            on_dispute: RevocationAction::CancelNow,
            on_full_refund: RevocationAction::CancelNow,
        }
    }
}

/// The Stripe price the subscriber actually pays, which a price change in the catalog does not
/// move (grandfathered subscribers keep theirs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidPrice {
    /// Stripe's price id (`price_…`).
    pub price_id: String,
    /// Minor units of `currency`.
    pub amount: i64,
    /// Lowercase ISO code, as Stripe writes it.
    pub currency: String,
    /// Stripe's `recurring.interval`: `month` or `year`.
    pub interval: String,
    /// Not the catalog's current price for the plan.
    pub legacy: bool,
}

/// The latest Stripe state applied for one object, used to refuse older events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedVersion {
    /// The Stripe object (`sub_…`) this version is of.
    pub object_id: String,
    /// The applied event's `created` (seconds).
    pub created: UnixTime,
    /// The applied event (`evt_…`), or a marker for a copy fetched from Stripe.
    pub event_id: String,
    /// The status the applied event left the object in, for same-second tie-breaks.
    pub status: String,
    /// The status before the applied event (its `previous_attributes.status`), if it changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
}

/// Everything Tierflow knows about one user's billing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingProfile {
    /// The identity provider's user id (Keycloak's `sub`): the profile's key.
    pub user_id: UserId,
    /// The user's email as the identity provider or Stripe last gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's Stripe customer (`cus_…`), once one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The user's current Stripe subscription (`sub_…`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The subscription's (single) item, as last applied: a price change names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_item_id: Option<String>,
    /// The subscription's own default payment method, as last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_payment_method: Option<String>,
    /// The tier the user has access to now.
    pub tier: Tier,
    /// The subscription's Stripe status as last applied.
    #[serde(default)]
    pub status: SubscriptionStatus,
    /// The cycle of the paid price; none on the free tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_cycle: Option<BillingCycle>,
    /// The price the subscriber pays; none on the free tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<PaidPrice>,
    /// Start of the paid period, from the subscription item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_start: Option<UnixTime>,
    /// End of the paid period: when it renews, or ends if cancelling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<UnixTime>,
    /// The subscription ends at `current_period_end` instead of renewing.
    #[serde(default)]
    pub cancel_at_period_end: bool,
    /// While a renewal is past due, access is kept until this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_until: Option<UnixTime>,
    /// Set while paid access is withdrawn early (a dispute, a full refund).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
    /// A downgrade or cancellation scheduled for period end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_change: Option<PendingChange>,
    /// The latest subscription state applied, which the version guard compares against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_version: Option<AppliedVersion>,
    /// The discount the subscription carries (a redeemed promotion code), as last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<super::discount::ActiveDiscount>,
    /// When the account's one trial started: no second trial is offered after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_used_at: Option<UnixTime>,
    /// When the subscription's trial ends, while it is trialing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_end: Option<UnixTime>,
    /// The customer's default payment method (`invoice_settings.default_payment_method`), as
    /// last seen: with the subscription's own, whether a trial can convert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_payment_method: Option<String>,
    /// The latest `customer.updated` applied (its "status" is the default payment method):
    /// an older delivery never overwrites a newer one's card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_version: Option<AppliedVersion>,
    /// When the identity provider deleted the account: the user is no longer there to sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<UnixTime>,
    /// Optimistic-concurrency counter: every write is conditional on the version it read.
    #[serde(default)]
    pub version: u64,
    /// When the profile was last written (our clock).
    #[serde(default)]
    pub updated_at: UnixTime,
}

impl BillingProfile {
    /// A user Tierflow has never seen: on the catalog's free tier, nothing in Stripe.
    pub fn new_free(user_id: UserId, catalog: &Catalog) -> Self {
        Self {
            user_id,
            email: None,
            customer_id: None,
            subscription_id: None,
            subscription_item_id: None,
            subscription_payment_method: None,
            tier: catalog.free_tier().clone(),
            status: SubscriptionStatus::None,
            billing_cycle: None,
            price: None,
            current_period_start: None,
            current_period_end: None,
            cancel_at_period_end: false,
            grace_until: None,
            revocation: None,
            pending_change: None,
            subscription_version: None,
            discount: None,
            trial_used_at: None,
            trial_end: None,
            customer_payment_method: None,
            customer_version: None,
            deleted_at: None,
            version: 0,
            updated_at: 0,
        }
    }

    /// Back to the free tier with the subscription gone (deleted subscription, deleted customer).
    pub fn clear_subscription(&mut self, catalog: &Catalog) {
        self.subscription_id = None;
        self.subscription_item_id = None;
        self.subscription_payment_method = None;
        self.tier = catalog.free_tier().clone();
        self.status = SubscriptionStatus::None;
        self.billing_cycle = None;
        self.price = None;
        self.current_period_start = None;
        self.current_period_end = None;
        self.cancel_at_period_end = false;
        self.grace_until = None;
        self.pending_change = None;
        self.trial_end = None;
        self.discount = None;
    }

    /// Whether a card is on file for the subscription: its own or the customer's default.
    pub fn has_payment_method(&self) -> bool {
        self.subscription_payment_method.is_some() || self.customer_payment_method.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tier::tier;

    #[test]
    fn stripe_statuses_round_trip_and_unknown_grants_nothing() {
        for raw in [
            "trialing",
            "active",
            "past_due",
            "unpaid",
            "canceled",
            "paused",
            "incomplete",
            "incomplete_expired",
        ] {
            assert_eq!(SubscriptionStatus::from_stripe(raw).as_str(), raw);
        }
        assert_eq!(
            SubscriptionStatus::from_stripe("something_new"),
            SubscriptionStatus::Incomplete
        );
    }

    #[test]
    fn live_statuses_block_a_second_subscription() {
        assert!(SubscriptionStatus::Active.is_live());
        assert!(SubscriptionStatus::PastDue.is_live());
        assert!(!SubscriptionStatus::Canceled.is_live());
        assert!(!SubscriptionStatus::None.is_live());
        assert!(!SubscriptionStatus::IncompleteExpired.is_live());
    }

    #[test]
    fn clearing_a_subscription_keeps_the_customer_link() {
        let mut p = BillingProfile::new_free(
            UserId::parse("u1").unwrap(),
            &crate::domain::Catalog::built_in(),
        );
        p.customer_id = Some("cus_1".into());
        p.subscription_id = Some("sub_1".into());
        p.tier = tier("professional");
        p.status = SubscriptionStatus::Active;
        p.clear_subscription(&crate::domain::Catalog::built_in());
        assert_eq!(p.tier, tier("free"));
        assert_eq!(p.subscription_id, None);
        assert_eq!(p.customer_id.as_deref(), Some("cus_1"));
    }
}

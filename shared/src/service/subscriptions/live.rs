//! The live subscription a price change starts from: Stripe's copy or the stored profile's.

use crate::domain::time::UnixTime;
use crate::domain::{BillingCycle, BillingProfile, Tier};
use crate::stripe::{ErrorKind, StripeError, Subscription};

/// Whether any of a customer's subscriptions still bills: the user must change it rather than
/// start another (the stored profile may lag the webhook).
pub(super) fn any_live(subscriptions: &[Subscription]) -> bool {
    subscriptions
        .iter()
        .any(|s| crate::domain::SubscriptionStatus::from_stripe(&s.status).is_live())
}

/// What a price change needs to know about the live subscription: Stripe's copy, or the
/// stored profile's where that is current (see [`LiveSubscription::from_profile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LiveSubscription {
    pub(super) id: String,
    pub(super) customer: String,
    pub(super) item_id: Option<String>,
    /// The item's price and quantity (the stored copy knows no quantity).
    pub(super) price_id: Option<String>,
    pub(super) quantity: Option<u64>,
    /// The plan it bills for, when the catalog knows its price.
    pub(super) plan: Option<(Tier, BillingCycle)>,
    pub(super) period: Option<(UnixTime, UnixTime)>,
    pub(super) schedule: Option<String>,
    /// The subscription names its own default payment method.
    pub(super) has_payment_method: bool,
    pub(super) live: bool,
    /// Read from the stored profile, not from Stripe.
    pub(super) from_profile: bool,
}

impl LiveSubscription {
    /// Stripe's copy; `plan` is what its price bills for.
    pub(super) fn from_stripe(
        sub: &crate::stripe::Subscription,
        plan: Option<(Tier, BillingCycle)>,
    ) -> Self {
        Self {
            id: sub.id.clone(),
            customer: sub.customer_id().to_owned(),
            item_id: sub.primary_item().map(|item| item.id.clone()),
            price_id: sub.price().map(|price| price.id.clone()),
            quantity: sub.primary_item().and_then(|item| item.quantity),
            plan,
            period: sub.current_period_start().zip(sub.current_period_end()),
            schedule: sub.schedule_id().map(str::to_owned),
            has_payment_method: sub.default_payment_method.is_some(),
            live: crate::domain::SubscriptionStatus::from_stripe(&sub.status).is_live(),
            from_profile: false,
        }
    }

    /// The stored profile's copy, when nothing says it lags Stripe: an active (or trialing)
    /// subscription inside its current period, with its item known, no scheduled change, no
    /// cancellation pending and no revocation. Anything else is asked of Stripe. What the
    /// profile cannot see (a change made in the Customer Portal a moment ago) Stripe still
    /// decides: an update naming a stale item or a scheduled subscription fails, and the
    /// caller retries once from Stripe's copy.
    pub(super) fn from_profile(profile: &BillingProfile, now: UnixTime) -> Option<Self> {
        use crate::domain::SubscriptionStatus::{Active, Trialing};
        let (start, end) = profile
            .current_period_start
            .zip(profile.current_period_end)?;
        let current = matches!(profile.status, Active | Trialing)
            && start <= now
            && now < end
            && profile.pending_change.is_none()
            && !profile.cancel_at_period_end
            && profile.revocation.is_none()
            && profile.deleted_at.is_none();
        if !current {
            return None;
        }
        Some(Self {
            id: profile.subscription_id.clone()?,
            customer: profile.customer_id.clone()?,
            item_id: Some(profile.subscription_item_id.clone()?),
            price_id: Some(profile.price.as_ref()?.price_id.clone()),
            quantity: None,
            plan: Some((profile.tier.clone(), profile.billing_cycle?)),
            period: Some((start, end)),
            schedule: None,
            has_payment_method: profile.subscription_payment_method.is_some(),
            live: true,
            from_profile: true,
        })
    }
}

/// Stripe refused a call made from the stored profile's copy of the subscription (an item or
/// state that is no longer so): ask Stripe for its copy and decide again.
pub(super) fn refused_as_stale(live: &LiveSubscription, e: &StripeError) -> bool {
    live.from_profile && e.kind == ErrorKind::InvalidRequest
}

/// Stripe refused a price the request named: unknown (`resource_missing`) or archived.
pub(super) fn is_price_error(e: &StripeError) -> bool {
    e.kind == ErrorKind::InvalidRequest
        && e.param
            .as_deref()
            .is_some_and(|p| p == "price" || p.ends_with("[price]"))
}

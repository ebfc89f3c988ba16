//! `GET /api/v1/subscriptions/current`: the caller's billing as stored, never a Stripe call.

use crate::auth::Caller;
use crate::domain::access::effective_tier;
use crate::domain::catalog::Entitlements;
use crate::domain::{access_for, Access, BillingCycle, BillingProfile, Catalog, Tier};
use crate::http::ApiError;
use crate::ports::BillingStore;
use crate::time::{rfc3339, UnixTime};
use serde::Serialize;

/// The caller's subscription as the app needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionView {
    /// The tier paid for.
    pub tier: Tier,
    /// The tier whose entitlements apply now (free once access is revoked).
    pub effective_tier: Tier,
    pub status: &'static str,
    pub access: Access,
    pub billing_cycle: Option<BillingCycle>,
    /// The price the subscriber actually pays (a grandfathered one included).
    pub price: Option<PriceView>,
    pub current_period_end: Option<String>,
    pub cancel_at_period_end: bool,
    pub grace_until: Option<String>,
    pub pending_change: Option<PendingChangeView>,
    pub entitlements: Entitlements,
}

/// The recurring price of the subscription, in the currency's minor unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceView {
    pub amount: i64,
    pub currency: String,
    pub interval: String,
    /// Not the catalog's current price for the plan: kept from before a price change.
    pub legacy: bool,
}

/// A scheduled change, as shown to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingChangeView {
    pub target_tier: Tier,
    pub billing_cycle: Option<BillingCycle>,
    pub effective_at: String,
}

/// Builds the view of a profile at `now`.
pub fn subscription_view(
    profile: &BillingProfile,
    catalog: &Catalog,
    now: UnixTime,
) -> SubscriptionView {
    let effective = effective_tier(profile, now);
    SubscriptionView {
        tier: profile.tier,
        effective_tier: effective,
        status: profile.status.as_str(),
        access: access_for(profile, now),
        billing_cycle: profile.billing_cycle,
        price: profile.price.as_ref().map(|p| PriceView {
            amount: p.amount,
            currency: p.currency.clone(),
            interval: p.interval.clone(),
            legacy: p.legacy,
        }),
        current_period_end: profile.current_period_end.map(rfc3339),
        cancel_at_period_end: profile.cancel_at_period_end,
        grace_until: profile.grace_until.map(rfc3339),
        pending_change: profile.pending_change.as_ref().map(|c| PendingChangeView {
            target_tier: c.target_tier,
            billing_cycle: c.billing_cycle,
            effective_at: rfc3339(c.effective_at),
        }),
        entitlements: catalog.tier(effective).entitlements.clone(),
    }
}

/// The caller's current subscription; a user Tierflow has never seen is on free.
pub async fn current_subscription(
    store: &dyn BillingStore,
    catalog: &Catalog,
    caller: &Caller,
    now: UnixTime,
) -> Result<SubscriptionView, ApiError> {
    let profile = store.profile(&caller.user_id).await.map_err(|e| {
        tracing::error!(error = %e, "profile read failed");
        ApiError::unavailable()
    })?;
    let profile = profile.unwrap_or_else(|| BillingProfile::new_free(caller.user_id.clone()));
    Ok(subscription_view(&profile, catalog, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::BUILT_IN_CATALOG;
    use crate::domain::{SubscriptionStatus, UserId};

    #[test]
    fn a_new_user_is_free_with_free_entitlements() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let p = BillingProfile::new_free(UserId::parse("u").unwrap());
        let v = subscription_view(&p, &catalog, 0);
        assert_eq!(v.tier, Tier::Free);
        assert_eq!(v.access, Access::Active);
        assert_eq!(v.status, "none");
        assert_eq!(v.entitlements["projects"], Some(1));
    }

    #[test]
    fn grace_keeps_entitlements_and_revocation_drops_them() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let mut p = BillingProfile::new_free(UserId::parse("u").unwrap());
        p.tier = Tier::Enterprise;
        p.status = SubscriptionStatus::PastDue;
        p.grace_until = Some(1000);
        let v = subscription_view(&p, &catalog, 999);
        assert_eq!(
            (v.access, v.effective_tier),
            (Access::Grace, Tier::Enterprise)
        );
        assert_eq!(v.entitlements["projects"], None, "enterprise is unlimited");
        assert_eq!(v.grace_until.as_deref(), Some("1970-01-01T00:16:40Z"));
        let v = subscription_view(&p, &catalog, 1000);
        assert_eq!((v.access, v.effective_tier), (Access::Revoked, Tier::Free));
        assert_eq!(v.entitlements["projects"], Some(1));
    }
}
